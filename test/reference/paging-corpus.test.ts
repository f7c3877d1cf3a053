// The reference walker against the measured paging corpus (real KVM, no EPT):
// every translate and exec item, in order, with A/D carried over.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Gva } from '../../src/core/addr.js';
import { referenceWalk } from '../../src/reference/guest-walk.js';
import type { AccessKind, GuestControl } from '../../src/reference/types.js';
import { WordMemory } from './word-memory.js';

const CORPUS = new URL('../../../shared/conformance/paging-corpus.jsonl', import.meta.url);

interface Fault { vector: number; err?: number; cr2?: string }
type ExecResult = { ok: true } | Fault;
interface Case {
  id: number; vendor: 'intel' | 'amd'; maxphyaddr: number; gbpages: number;
  cr0: string; cr3: string; cr4: string; efer: string;
  fills: [string, string, string][]; qwords: [string, string][];
  translate: { la: string; valid: number; pa: string; quirk: boolean; sdm: { valid: number; pa?: string } }[];
  exec: {
    type: 'r' | 'w' | 'x'; cpl: number; ac: number; la: string; result: ExecResult; ad: [string, string, string][];
    quirk: boolean; quirk_before: boolean; sdm?: ExecResult; sdm_ad?: [string, string, string][];
  }[];
}

const KIND: Record<string, AccessKind> = { r: 'read', w: 'write', x: 'fetch' };
const hex = (v: bigint): string => '0x' + v.toString(16);
const byAddr = (a: string, b: string): number => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

describe('reference walker: measured paging corpus', () => {
  const cases: Case[] = readFileSync(CORPUS, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

  it('agrees with every translate and exec item (SDM answer where the host has a quirk)', () => {
    const failures: string[] = [];
    let items = 0;
    for (const c of cases) {
      // Guest RAM is the corpus's 64 MiB; beyond it the tables read as zero and data is MMIO.
      const mem = new WordMemory(1n << 52n);
      for (const [start, len, byte] of c.fills) mem.fill(BigInt(start), BigInt(len), Number(byte));
      for (const [a, v] of c.qwords) mem.set(BigInt(a), BigInt(v));
      const guest: GuestControl = {
        cr0: BigInt(c.cr0), cr3: BigInt(c.cr3), cr4: BigInt(c.cr4), efer: BigInt(c.efer),
        pkru: 0, pkrs: 0, maxPhyAddr: c.maxphyaddr, vendor: c.vendor, gbpages: c.gbpages === 1,
      };
      const state = { guest, ept: null };
      const readOnly = { size: mem.size, read64: mem.read64.bind(mem) };
      c.translate.forEach((t, i) => {
        items++;
        const want = t.quirk ? t.sdm : t;
        // KVM_TRANSLATE walks without storing A/D: a read-only view of the same memory.
        const r = referenceWalk(readOnly, state, { la: BigInt(t.la) as Gva, kind: 'read', cpl: 0, ac: false, implicit: false });
        const got = r.outcome.kind === 'ok' ? { valid: 1, pa: hex(r.outcome.gpa) } : { valid: 0 };
        if (got.valid !== want.valid || (want.valid === 1 && want.pa !== undefined && got.pa !== want.pa)) {
          failures.push(`${c.id}/t${i}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
        }
      });
      c.exec.forEach((x, i) => {
        items++;
        const want = x.quirk ? x.sdm! : x.result;
        const wantAd = x.quirk ? x.sdm_ad! : x.ad;
        const r = referenceWalk(mem, state, {
          la: BigInt(x.la) as Gva, kind: KIND[x.type], cpl: x.cpl, ac: x.ac === 1, implicit: false,
        });
        const o = r.outcome;
        const got: ExecResult =
          o.kind === 'ok' ? { ok: true }
          : o.kind === 'page-fault' ? { vector: 14, err: o.errorCode, cr2: hex(o.cr2) }
          : o.kind === 'general-protection' ? { vector: 13, err: o.errorCode }
          : { vector: -1 };
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          failures.push(`${c.id}/x${i}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
        }
        if (!x.quirk_before) {
          // The corpus lists changed words by address (a before/after diff), not in walk order.
          const gotAd = r.ad.map((u) => [hex(u.addr), hex(u.old), hex(u.new)]).sort((a, b) => byAddr(a[0], b[0]));
          wantAd.sort((a, b) => byAddr(a[0], b[0]));
          if (JSON.stringify(gotAd) !== JSON.stringify(wantAd)) {
            failures.push(`${c.id}/x${i} ad: want ${JSON.stringify(wantAd)} got ${JSON.stringify(gotAd)}`);
          }
        }
      });
    }
    console.log(`paging corpus: ${items} items, ${failures.length} disagreements`);
    expect(failures.slice(0, 10)).toEqual([]);
  });
});
