// Property tests with the reference walker (src/reference/) as the oracle:
// random page-table trees, EPT trees, control state and accesses are written
// into a Wasm core's host RAM, and the Wasm walkers must give the same
// outcome, fault details, addresses, references and memory afterwards.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpa, Hpa } from '../../src/core/addr.js';
import { createCore } from '../../src/core/wasm.js';
import type { Core } from '../../src/core/wasm.js';
import { eptTranslate } from '../../src/reference/ept-walk.js';
import type { EptAccess } from '../../src/reference/ept-walk.js';
import { referenceWalk } from '../../src/reference/guest-walk.js';
import type { AccessKind, AdUpdate, EptControl, WalkRef } from '../../src/reference/types.js';
import { WordMemory } from '../reference/word-memory.js';
import { RAM_BYTES, Rng, buildScenario, knobsArb } from './walker-scenarios.js';
import type { Scenario } from './walker-scenarios.js';

const NUM_RUNS = Number(process.env.GMEMU_PROPERTY_RUNS ?? 2000);
const SEED = Number(process.env.GMEMU_PROPERTY_SEED ?? Date.now() % 0x7fffffff);

/** fast-check parameters: the seed is printed so a failure can be replayed with GMEMU_PROPERTY_SEED. */
function params<Ts extends unknown[]>(numRuns: number): fc.Parameters<Ts> {
  return { numRuns, seed: SEED, endOnFailure: true };
}

function referenceMemory(s: Scenario): WordMemory {
  const mem = new WordMemory(RAM_BYTES);
  for (const [a, v] of s.words) mem.set(a, v);
  return mem;
}

describe(`reference walker invariants (seed ${SEED})`, () => {
  it('a successful walk leaves A set on every guest entry it used; a faulting one changes no guest entry; a repeat changes nothing', () => {
    fc.assert(fc.property(knobsArb, (k) => {
      const s = buildScenario(k);
      const mem = referenceMemory(s);
      const state = { guest: s.guest, ept: s.ept };
      for (const a of s.accesses) {
        const dry = referenceWalk({ size: mem.size, read64: mem.read64.bind(mem) }, state, a);
        const r = referenceWalk(mem, state, a);
        // Storing the A/D bits does not change what the walk decides or where it reads
        // (the values differ: a stored EPT A bit is seen by the next level's EPT walk).
        expect(r.outcome).toEqual(dry.outcome);
        const where = (refs: WalkRef[]) => refs.map((x) => `${x.table}${x.level}@${x.addr}`);
        expect(where(r.refs)).toEqual(where(dry.refs));
        const guestRefs = r.refs.filter((x) => x.table === 'guest');
        const guestAd = r.ad.filter((u) => u.table === 'guest');
        if (r.outcome.kind === 'ok') {
          const levels = (s.guest.cr4 & (1n << 12n)) !== 0n ? 5 : 4;
          expect(guestRefs).toHaveLength(levels - (r.outcome.pageShift - 12) / 9);
          // Every entry used now has A (read back through the same walk's view of memory).
          const again = referenceWalk(mem, state, a);
          expect(again.outcome).toEqual(r.outcome);
          expect(again.ad).toEqual([]);
          for (const x of again.refs) if (x.table === 'guest') expect(x.value & 0x20n).toBe(0x20n);
          if (s.ept !== null && (s.ept.eptp & 0x40n) !== 0n) {
            for (const x of again.refs) if (x.table === 'ept') expect(x.value & 0x100n).toBe(0x100n);
          }
        } else if (r.outcome.kind === 'page-fault' || r.outcome.kind === 'general-protection') {
          expect(guestAd).toEqual([]);
        }
        if (r.outcome.kind === 'general-protection') expect(r.refs).toEqual([]);
        if (s.ept === null) expect(r.refs.every((x) => x.table === 'guest')).toBe(true);
      }
    }), params(NUM_RUNS));
  });
});

// ---------------------------------------------------------------------------
// Against the Wasm core.

const MiB = 1 << 20;
let core: Core;
let ram: DataView;

beforeAll(async () => {
  core = await createCore({ ramFrames: Number(RAM_BYTES) / 4096, maxVcpus: 1, hostCpus: 2 });
  ram = new DataView(core.memory.buffer, core.exports.ram_base(), Number(RAM_BYTES));
});

afterAll(() => {
  expect(ram.byteLength).toBe(64 * MiB);
});

function load(s: Scenario): void {
  for (const [a, v] of s.words) ram.setBigUint64(Number(a), v, true);
}

/** Zeroes every word the scenario wrote (A/D updates only touch those). */
function unload(s: Scenario): void {
  for (const a of s.words.keys()) ram.setBigUint64(Number(a), 0n, true);
}

/** The scenario's words as they are in Wasm RAM now, and in the reference memory. */
function memoryDiff(s: Scenario, mem: WordMemory): string[] {
  const diff: string[] = [];
  for (const a of s.words.keys()) {
    const w = ram.getBigUint64(Number(a), true);
    const r = mem.read64(a as Hpa);
    if (w !== r) diff.push(`0x${a.toString(16)}: wasm 0x${w.toString(16)} reference 0x${r.toString(16)}`);
  }
  return diff;
}

function eptCaps(ept: EptControl): number {
  const x = core.exports;
  return ept.maxPhyAddr | (ept.execOnly ? x.EptCap.ExecOnly : 0) | (ept.page1g ? x.EptCap.Page1g : 0);
}

const KIND_OF: Record<AccessKind, number> = { read: 0, write: 1, fetch: 2 };

interface TraceRecord { kind: number; level: number; addr: bigint; value: bigint; newValue: bigint }

function readTrace(): TraceRecord[] | null {
  const x = core.exports;
  const v = new DataView(core.memory.buffer, x.vcpu_ptr(0));
  const n = v.getUint32(x.Vcpu.TraceCount, true);
  if (n > x.TRACE_MAX.value) return null;
  const out: TraceRecord[] = [];
  for (let i = 0; i < n; i++) {
    const o = x.Vcpu.Trace + i * x.TRACE_REF_BYTES.value;
    out.push({
      kind: v.getUint32(o + x.TraceRef.Kind, true),
      level: v.getUint32(o + x.TraceRef.Level, true),
      addr: v.getBigUint64(o + x.TraceRef.Addr, true),
      value: v.getBigUint64(o + x.TraceRef.Value, true),
      newValue: v.getBigUint64(o + x.TraceRef.NewValue, true),
    });
  }
  return out;
}

function refsOf(trace: TraceRecord[]): WalkRef[] {
  const x = core.exports;
  return trace.flatMap((t): WalkRef[] =>
    t.kind === x.TraceKind.GuestEntry ? [{ table: 'guest', level: t.level, addr: t.addr as Gpa, value: t.value }]
    : t.kind === x.TraceKind.EptEntry ? [{ table: 'ept', level: t.level, addr: t.addr as Hpa, value: t.value }]
    : []);
}

function adOf(trace: TraceRecord[]): AdUpdate[] {
  const x = core.exports;
  return trace.flatMap((t): AdUpdate[] =>
    t.kind === x.TraceKind.GuestAdUpdate ? [{ table: 'guest', level: t.level, addr: t.addr as Gpa, old: t.value, new: t.newValue }]
    : t.kind === x.TraceKind.EptAdUpdate ? [{ table: 'ept', level: t.level, addr: t.addr as Hpa, old: t.value, new: t.newValue }]
    : []);
}

/** A walk that read some entry twice may re-read on a lost compare-exchange: references are then not comparable. */
function readsAnEntryTwice(refs: WalkRef[]): boolean {
  const seen = new Set<string>();
  for (const r of refs) {
    const key = `${r.table}:${r.addr}`;
    if (seen.has(key)) return true;
    seen.add(key);
  }
  return false;
}

describe(`Wasm ept_walk against the reference EPT walk (seed ${SEED})`, () => {
  it('agrees on outcome, HPA, page size, qualification, references and A/D for random EPT trees', () => {
    const x = core.exports;
    fc.assert(fc.property(knobsArb, fc.integer(), (k, accessSeed) => {
      const s = buildScenario({ ...k, ept: true });
      const ept = s.ept!;
      const mem = referenceMemory(s);
      load(s);
      try {
        const r = new Rng(accessSeed);
        // GPAs of guest tables (paging-structure accesses) and random data GPAs.
        const tableGpas = [...s.words.keys()].filter((a) => a < 16n * BigInt(MiB));
        for (let i = 0; i < 6; i++) {
          const pagingStructure = r.chance(0.4) && tableGpas.length > 0;
          const gpa = pagingStructure ? r.pick(tableGpas) : r.chance(0.8) ? r.big(RAM_BYTES) : r.big(4n << 30n);
          const access: EptAccess = {
            kind: pagingStructure ? r.pick(['read', 'write'] as const) : r.pick(['read', 'write', 'fetch'] as const),
            pagingStructure,
            glaValid: !pagingStructure || r.chance(0.9),
          };
          const refs: WalkRef[] = [];
          const ad: AdUpdate[] = [];
          const want = eptTranslate(mem, ept, gpa as Gpa, access, refs, ad);
          x.trace_begin(0);
          const status = x.ept_walk(ept.eptp, gpa, KIND_OF[access.kind], access.pagingStructure, access.glaValid, eptCaps(ept));
          const trace = readTrace();
          x.trace_end();
          const ctx = { gpa: gpa.toString(16), access, want };
          switch (want.kind) {
            case 'ok':
              expect({ status, hpa: x.ept_hpa(), shift: x.ept_page_shift() }, JSON.stringify(ctx, bigintJson))
                .toEqual({ status: x.AccessStatus.Ok, hpa: want.hpa, shift: want.pageShift });
              break;
            case 'ept-violation':
              expect({ status, qual: x.ept_qualification() }, JSON.stringify(ctx, bigintJson))
                .toEqual({ status: x.AccessStatus.EptViolation, qual: want.qualification });
              break;
            case 'ept-misconfig':
              expect(status, JSON.stringify(ctx, bigintJson)).toBe(x.AccessStatus.EptMisconfig);
              break;
            case 'no-memory':
              expect(status, JSON.stringify(ctx, bigintJson)).toBe(x.AccessStatus.NoMemory);
              break;
          }
          if (trace !== null && !readsAnEntryTwice(refs)) {
            expect(refsOf(trace)).toEqual(refs);
            expect(adOf(trace)).toEqual(ad);
          }
          expect(memoryDiff(s, mem)).toEqual([]);
        }
      } finally {
        unload(s);
      }
    }), params(Math.max(1, Math.floor(NUM_RUNS / 2))));
  });
});

function bigintJson(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? '0x' + v.toString(16) : v;
}

/** Writes the scenario's control state into vCPU 0's record, where the Wasm walker reads it. */
function setVcpuState(s: Scenario): void {
  const x = core.exports;
  const v = new DataView(core.memory.buffer, x.vcpu_ptr(0));
  const g = s.guest;
  v.setBigUint64(x.Vcpu.Cr0, g.cr0, true);
  v.setBigUint64(x.Vcpu.Cr3, g.cr3, true);
  v.setBigUint64(x.Vcpu.Cr4, g.cr4, true);
  v.setBigUint64(x.Vcpu.Efer, g.efer, true);
  v.setUint32(x.Vcpu.Pkru, g.pkru, true);
  v.setUint32(x.Vcpu.Pkrs, g.pkrs, true);
  const F = x.CpuFeat;
  v.setUint32(x.Vcpu.Features, g.maxPhyAddr | (g.vendor === 'amd' ? F.VendorAmd : 0) | (g.gbpages ? F.Gbpages : 0) |
    F.Nx | F.Smep | F.Smap | F.Pku | F.Pks | F.La57 | F.Pge, true);
  v.setBigUint64(x.Vcpu.Eptp, s.ept?.eptp ?? 0n, true);
  v.setUint32(x.Vcpu.EptCaps, s.ept ? eptCaps(s.ept) : 0, true);
  v.setUint32(x.Vcpu.WalkFlags, 0, true);
}

/** The Wasm walk's answer in the reference's terms, from the Vcpu.Res* fields. */
function wasmOutcome(status: number): object {
  const x = core.exports;
  const v = new DataView(core.memory.buffer, x.vcpu_ptr(0));
  const S = x.AccessStatus;
  switch (status) {
    case S.Ok:
      return { kind: 'ok', gpa: v.getBigUint64(x.Vcpu.ResGpa, true), hpa: v.getBigUint64(x.Vcpu.ResHpa, true),
        pageShift: v.getUint32(x.Vcpu.ResPageShift, true) };
    case S.PageFault:
      return { kind: 'page-fault', errorCode: v.getUint32(x.Vcpu.ResErr, true), cr2: v.getBigUint64(x.Vcpu.ResCr2, true),
        level: v.getUint32(x.Vcpu.ResLevel, true) };
    case S.GeneralProtection:
      return { kind: 'general-protection', errorCode: v.getUint32(x.Vcpu.ResErr, true) };
    case S.EptViolation:
      return { kind: 'ept-violation', qualification: v.getBigUint64(x.Vcpu.ResEptQual, true),
        gpa: v.getBigUint64(x.Vcpu.ResEptGpa, true), level: v.getUint32(x.Vcpu.ResLevel, true) };
    case S.EptMisconfig:
      return { kind: 'ept-misconfig', gpa: v.getBigUint64(x.Vcpu.ResEptGpa, true), level: v.getUint32(x.Vcpu.ResLevel, true) };
    case S.NoMemory:
      return { kind: 'no-memory', gpa: v.getBigUint64(x.Vcpu.ResGpa, true) };
    default:
      return { kind: `status ${status}` };
  }
}

describe(`Wasm walk against the reference walker (seed ${SEED})`, () => {
  it('agrees on outcome, error code, CR2, GPA/HPA, EPT qualification, references and memory after A/D', () => {
    const x = core.exports;
    fc.assert(fc.property(knobsArb, (k) => {
      const s = buildScenario(k);
      const mem = referenceMemory(s);
      load(s);
      setVcpuState(s);
      try {
        s.accesses.forEach((a, i) => {
          const want = referenceWalk(mem, { guest: s.guest, ept: s.ept }, a);
          x.trace_begin(0);
          const status = x.walk(0, a.la, KIND_OF[a.kind], a.cpl, a.ac ? 1 : 0, a.implicit);
          const trace = readTrace();
          x.trace_end();
          const { eptPageShift: _ignored, ...wantOutcome } = { eptPageShift: 0, ...want.outcome };
          const ctx = `access ${i} ${JSON.stringify(a, bigintJson)}`;
          expect(wasmOutcome(status), ctx).toEqual(wantOutcome);
          if (trace !== null && !readsAnEntryTwice(want.refs)) {
            expect(refsOf(trace), ctx).toEqual(want.refs);
            expect(adOf(trace), ctx).toEqual(want.ad);
          }
          expect(memoryDiff(s, mem), ctx).toEqual([]);
        });
      } finally {
        unload(s);
      }
    }), params(NUM_RUNS));
  });
});
