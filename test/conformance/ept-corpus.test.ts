// The EPT corpus (conformance/EPT.md): ~1000 random EPT trees, each with a
// sequence of accesses and the reference answer for each: an HPA and page
// size, a violation qualification, or a misconfiguration, plus the EPT A/D
// writes the access made. Every access must agree; the `bochs` field is
// Bochs' answer where it departs from the SDM and is never compared.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/wasm.js';

const CORPUS = fileURLToPath(new URL('../../../shared/conformance/ept-corpus.jsonl', import.meta.url));
const MiB = 1 << 20;
/** Every EPT table of the corpus lies below this HPA. */
const TABLES_LIMIT = 64 * MiB;

interface Access {
  gpa: string;
  access: 'read' | 'write' | 'fetch';
  paging_structure: boolean;
  gla_valid?: boolean;
  result:
    | { hpa: string; page_size: '4K' | '2M' | '1G' }
    | { violation: { qualification: string; bits: number[] }; level: number }
    | { misconfig: true; level: number };
  ad: [string, string, string][];
}

interface Case {
  id: number;
  eptp: string;
  maxphyaddr: number;
  exec_only_supported: boolean;
  ept_1g_supported: boolean;
  mbec: boolean;
  qwords: [string, string][];
  accesses: Access[];
}

const PAGE_SHIFT = { '4K': 12, '2M': 21, '1G': 30 } as const;

describe('EPT corpus', () => {
  it('agrees with every reference answer', async () => {
    const cases: Case[] = readFileSync(CORPUS, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(cases.length).toBeGreaterThanOrEqual(1000);

    const { exports: x, memory } = await createCore({ ramFrames: TABLES_LIMIT / 4096 + 16, maxVcpus: 1, hostCpus: 1 });
    const words = new BigUint64Array(memory.buffer);
    const ram = x.ram_base() / 8;
    const view = new DataView(memory.buffer);
    const trace = x.vcpu_ptr(0);
    const kinds = { read: x.AccessKind.Read, write: x.AccessKind.Write, fetch: x.AccessKind.Fetch };

    // The machine is fresh, so the low 64 MiB start at zero; after each case
    // only that case's qwords can be non-zero (A/D writes land on entries the
    // walk read, and an entry that is not in `qwords` reads 0, not present),
    // so zeroing them puts the low 64 MiB back to all zeros.
    words.fill(0n, ram, ram + TABLES_LIMIT / 8);

    const failures: string[] = [];
    let accesses = 0;
    const tally = { hpa: 0, violation: 0, misconfig: 0, adWrites: 0 };
    for (const c of cases) {
      expect(c.mbec).toBe(false);
      for (const [hpa, value] of c.qwords) words[ram + Number(BigInt(hpa) / 8n)] = BigInt(value);
      const caps = c.maxphyaddr | (c.exec_only_supported ? x.EptCap.ExecOnly : 0) | (c.ept_1g_supported ? x.EptCap.Page1g : 0);
      const eptp = BigInt(c.eptp);

      c.accesses.forEach((a, i) => {
        accesses++;
        const id = `${c.id}/e${i}`;
        x.trace_begin(0);
        const status = x.ept_walk(eptp, BigInt(a.gpa), kinds[a.access], a.paging_structure, a.gla_valid ?? true, caps);
        x.trace_end();

        const ad: [string, string, string][] = [];
        const n = view.getUint32(trace + x.Vcpu.TraceCount, true);
        for (let k = 0; k < Math.min(n, x.TRACE_MAX.value); k++) {
          const r = trace + x.Vcpu.Trace + k * x.TRACE_REF_BYTES.value;
          if (view.getUint32(r + x.TraceRef.Kind, true) !== x.TraceKind.EptAdUpdate) continue;
          const hex = (off: number) => '0x' + view.getBigUint64(r + off, true).toString(16);
          ad.push([hex(x.TraceRef.Addr), hex(x.TraceRef.Value), hex(x.TraceRef.NewValue)]);
        }

        const r = a.result;
        let actual: string;
        let expected: string;
        if ('hpa' in r) {
          tally.hpa++;
          expected = `hpa ${BigInt(r.hpa).toString(16)} shift ${PAGE_SHIFT[r.page_size]}`;
          actual = status === x.AccessStatus.Ok
            ? `hpa ${x.ept_hpa().toString(16)} shift ${x.ept_page_shift()}`
            : `status ${status}`;
        } else if ('violation' in r) {
          tally.violation++;
          expected = `violation qual ${BigInt(r.violation.qualification).toString(16)} level ${r.level}`;
          actual = status === x.AccessStatus.EptViolation
            ? `violation qual ${x.ept_qualification().toString(16)} level ${x.ept_level()}`
            : `status ${status}`;
        } else {
          tally.misconfig++;
          expected = `misconfig level ${r.level}`;
          actual = status === x.AccessStatus.EptMisconfig ? `misconfig level ${x.ept_level()}` : `status ${status}`;
        }
        const norm = (l: [string, string, string][]) => l.map((t) => t.map((s) => BigInt(s).toString(16)).join(':')).join(' ');
        tally.adWrites += a.ad.length;
        if (actual !== expected) failures.push(`${id}: expected ${expected}, got ${actual}`);
        else if (norm(ad) !== norm(a.ad)) failures.push(`${id}: expected A/D [${norm(a.ad)}], got [${norm(ad)}]`);
      });

      for (const [hpa] of c.qwords) words[ram + Number(BigInt(hpa) / 8n)] = 0n;
    }

    console.log(
      `EPT corpus: ${cases.length} cases, ${accesses} accesses (${tally.hpa} translated, ${tally.violation} violations, ` +
        `${tally.misconfig} misconfigurations, ${tally.adWrites} A/D writes): ${accesses - failures.length} pass, ${failures.length} fail`,
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect(failures.length).toBe(0);
  });
});
