// The reference EPT walk against the EPT corpus (SDM + KVM model, replayed
// through Bochs): every access in order, A/D carried over, compared with
// `result` and `ad` (never the `bochs` field).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Gpa } from '../../src/core/addr.js';
import { eptTranslate } from '../../src/reference/ept-walk.js';
import type { AccessKind, AdUpdate, EptControl, WalkRef } from '../../src/reference/types.js';
import { WordMemory } from './word-memory.js';

const CORPUS = new URL('../../../shared/conformance/ept-corpus.jsonl', import.meta.url);

interface Access {
  gpa: string; access: AccessKind; paging_structure: boolean; gla_valid?: boolean;
  result: { hpa?: string; page_size?: string; violation?: { qualification: string }; misconfig?: boolean };
  ad: [string, string, string][];
}
interface Case {
  id: number; eptp: string; maxphyaddr: number; exec_only_supported: boolean; ept_1g_supported: boolean;
  qwords: [string, string][]; accesses: Access[];
}

const hex = (v: bigint): string => '0x' + v.toString(16);
const SIZE: Record<number, string> = { 12: '4K', 21: '2M', 30: '1G' };

describe('reference EPT walk: EPT corpus', () => {
  const cases: Case[] = readFileSync(CORPUS, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

  it('agrees with every access', () => {
    const failures: string[] = [];
    let n = 0;
    for (const c of cases) {
      const mem = new WordMemory(1n << 52n);
      for (const [a, v] of c.qwords) mem.set(BigInt(a), BigInt(v));
      const ept: EptControl = {
        eptp: BigInt(c.eptp), maxPhyAddr: c.maxphyaddr, execOnly: c.exec_only_supported, page1g: c.ept_1g_supported,
      };
      c.accesses.forEach((a, i) => {
        n++;
        const refs: WalkRef[] = [];
        const ad: AdUpdate[] = [];
        const r = eptTranslate(mem, ept, BigInt(a.gpa) as Gpa, {
          kind: a.access, pagingStructure: a.paging_structure, glaValid: a.gla_valid ?? true,
        }, refs, ad);
        const want = a.result.hpa !== undefined ? { hpa: a.result.hpa, page_size: a.result.page_size }
          : a.result.violation ? { violation: a.result.violation.qualification } : { misconfig: true };
        const got = r.kind === 'ok' ? { hpa: hex(r.hpa), page_size: SIZE[r.pageShift] }
          : r.kind === 'ept-violation' ? { violation: hex(r.qualification) }
          : r.kind === 'ept-misconfig' ? { misconfig: true } : { noMemory: true };
        if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${c.id}/e${i}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
        const gotAd = ad.map((u) => [hex(u.addr), hex(u.old), hex(u.new)]);
        if (JSON.stringify(gotAd) !== JSON.stringify(a.ad)) failures.push(`${c.id}/e${i} ad: want ${JSON.stringify(a.ad)} got ${JSON.stringify(gotAd)}`);
      });
    }
    console.log(`EPT corpus: ${n} accesses, ${failures.length} disagreements`);
    expect(failures.slice(0, 10)).toEqual([]);
  });
});
