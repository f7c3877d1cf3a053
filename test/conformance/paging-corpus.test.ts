// The measured paging corpus (conformance/README.md): 300 random 4-level
// trees from a real KVM, 4500 KVM_TRANSLATE items and 7828 real accesses.
// Each case runs on a guest whose RAM, GPA [0, 64 MiB), is 16384 host frames
// mapped by an EPT of 2 MiB pages (at a 2 MiB offset: the host keeps its own
// first frames), so every access is a real 2D walk;
// a GPA outside it is MMIO: the data access ends in an EPT violation on the
// final translation, which counts as `{"ok": true}` (the corpus's `mmio`).
// Items that touch one of the reference host's three departures from the SDM
// (`quirk`) are compared with the corpus's SDM answer.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allFeatures, makeFixture } from '../assembly/mmu-fixture.js';

const CORPUS = fileURLToPath(new URL('../../../shared/conformance/paging-corpus.jsonl', import.meta.url));

type Result = { ok: true } | { vector: number; err: number; cr2?: string };
interface Translate { la: string; valid: number; pa: string; quirk: boolean; sdm: { valid: number; pa?: string } }
interface Exec {
  type: 'r' | 'w' | 'x'; cpl: number; ac: number; la: string; mmio: string[];
  result: Result; sdm: Result; ad: [string, string, string][]; sdm_ad: [string, string, string][];
  quirk: boolean; quirk_before: boolean;
}
interface Case {
  id: number; vendor: string; maxphyaddr: number; gbpages: number;
  cr0: string; cr3: string; cr4: string; efer: string;
  fills: [string, string, string][]; qwords: [string, string][];
  translate: Translate[]; exec: Exec[];
}

const KIND = { r: 0, w: 1, x: 2 } as const;
const MiB = 1 << 20;
const GUEST_FRAMES = (64 * MiB) / 4096;
/** Guest RAM starts at host frame 512 (HPA 2 MiB), above the host's own early frames. */
const GUEST_BASE_FRAMES = 512;
const hex = (v: bigint): string => '0x' + v.toString(16);

describe('conformance: measured paging corpus', () => {
  const cases: Case[] = readFileSync(CORPUS, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

  it('agrees with every translate and exec item', async () => {
    const f = await makeFixture(GUEST_BASE_FRAMES + GUEST_FRAMES + 64, GUEST_BASE_FRAMES * 4096);
    const { x } = f;
    const S = x.AccessStatus;
    // The allocator hands out pfns upward: take every frame up to the end of
    // guest RAM, then the EPT tables come from above it.
    let pfn = 0;
    while (pfn < GUEST_BASE_FRAMES + GUEST_FRAMES - 1) pfn = x.frame_alloc(x.FrameKind.GuestMemfd, 1);
    const root = x.ept_root_alloc(1);
    const RWX_WB = 7 | (6 << 3);
    const base = BigInt(GUEST_BASE_FRAMES * 4096);
    for (let gpa = 0n; gpa < BigInt(64 * MiB); gpa += 2n * BigInt(MiB)) {
      expect(x.ept_map(root, gpa, gpa + base, 21, RWX_WB, 1)).toBe(0);
    }
    const eptp = x.ept_make_eptp(root, true);
    const caps = 46 | x.EptCap.ExecOnly | x.EptCap.Page1g;

    const failures: string[] = [];
    let translates = 0;
    let execs = 0;
    let mmio = 0;
    let quirks = 0;
    for (const c of cases) {
      const apply = () => { for (const [a, v] of c.qwords) f.write64(BigInt(a), BigInt(v)); };
      for (const [a, len, byte] of c.fills) {
        new Uint8Array(f.core.memory.buffer, x.ram_base() + GUEST_BASE_FRAMES * 4096 + Number(a), Number(len)).fill(Number(byte));
      }
      apply();
      let features = allFeatures(x, c.maxphyaddr) & ~x.CpuFeat.Gbpages;
      if (c.gbpages) features |= x.CpuFeat.Gbpages;
      if (c.vendor === 'amd') features |= x.CpuFeat.VendorAmd;
      x.vcpu_set_features(0, features);
      x.vcpu_set_ept(0, eptp, caps, 1);
      x.vcpu_set_cpl(0, 0);
      x.vcpu_set_state(0, BigInt(c.cr0), BigInt(c.cr3), BigInt(c.cr4), BigInt(c.efer));

      // KVM_TRANSLATE: a supervisor read walk, valid when it reaches a GPA.
      c.translate.forEach((t, i) => {
        translates++;
        const want = t.quirk ? t.sdm : { valid: t.valid, pa: t.pa };
        const status = x.walk(0, BigInt(t.la), KIND.r, 0, 0, false);
        const r = f.res();
        const reached = status === S.Ok || (status === S.EptViolation && r.level === 0);
        const got = reached ? `valid pa=${hex(r.gpa)}` : 'invalid';
        const wantText = want.valid ? `valid pa=${hex(BigInt(want.pa!))}` : 'invalid';
        if (got !== wantText) failures.push(`${c.id}/t${i} la=${t.la}: want ${wantText} got ${got} (status ${status})`);
      });
      // The translates ran on a copy of the tables as far as A/D go: the
      // corpus's accesses start from the words as written.
      apply();

      c.exec.forEach((e, i) => {
        execs++;
        if (e.quirk) quirks++;
        if (e.mmio.length) mmio++;
        const before = c.qwords.map(([a]) => f.read64(BigInt(a)));
        x.tlb_flush_all(0);
        const status = x.vcpu_access(0, BigInt(e.la), KIND[e.type], e.cpl, e.ac, false);
        const r = f.res();
        let got: string;
        if (status === S.Ok || (status === S.EptViolation && r.level === 0 && (r.eptQual & 0x100n) !== 0n)) got = 'ok';
        else if (status === S.PageFault) got = `#PF err=${r.err} cr2=${hex(r.cr2)}`;
        else if (status === S.GeneralProtection) got = `#GP err=${r.err}`;
        else got = `status ${status} level ${r.level}`;
        const w = e.quirk ? e.sdm : e.result;
        const want = 'ok' in w ? 'ok' : w.vector === 14 ? `#PF err=${w.err} cr2=${hex(BigInt(w.cr2!))}` : `#GP err=${w.err}`;
        if (got !== want) failures.push(`${c.id}/x${i} ${e.type} cpl${e.cpl} ac${e.ac} la=${e.la}: want ${want} got ${got}`);

        const changed: string[] = [];
        c.qwords.forEach(([a], k) => {
          const now = f.read64(BigInt(a));
          if (now !== before[k]) changed.push(`${hex(BigInt(a))}:${hex(before[k])}->${hex(now)}`);
        });
        // The model follows the SDM throughout, so its A/D state is the
        // corpus's SDM model state: compare with sdm_ad on every item.
        const wantAd = e.sdm_ad.map(([a, o, n]) => `${hex(BigInt(a))}:${hex(BigInt(o))}->${hex(BigInt(n))}`);
        const sort = (l: string[]) => [...l].sort();
        if (JSON.stringify(sort(changed)) !== JSON.stringify(sort(wantAd))) {
          failures.push(`${c.id}/x${i} A/D: want ${JSON.stringify(sort(wantAd))} got ${JSON.stringify(sort(changed))}`);
        }
      });

      for (const [a, len] of c.fills) f.zero(BigInt(a), Number(len));
      for (const [a] of c.qwords) f.write64(BigInt(a), 0n);
    }
    console.log(`paging corpus: ${cases.length} cases, ${translates} translate + ${execs} exec items ` +
      `(${mmio} MMIO, ${quirks} quirk items compared with the SDM answer), ${failures.length} disagreements`);
    expect(failures.slice(0, 20)).toEqual([]);
    expect(translates).toBe(4500);
    expect(execs).toBe(7828);
  });
});
