// The guest walk, rule by rule, on hand-built tables: each expectation is
// computed from spec/x86-paging.md (sections and measured examples cited).

import { describe, expect, it } from 'vitest';
import { allFeatures, makeFixture } from './mmu-fixture.js';
import type { Fixture } from './mmu-fixture.js';
import { A, D, G, GuestTables, P, PS, U, W, XD } from './guest-tables.js';

const CR0 = 0x8001_0001n; // PG | WP | PE
const CR0_NO_WP = 0x8000_0001n;
const CR4_PAE = 0x20n;
const CR4_LA57 = 1n << 12n;
const CR4_SMEP = 1n << 20n;
const CR4_SMAP = 1n << 21n;
const CR4_PKE = 1n << 22n;
const CR4_PKS = 1n << 24n;
const EFER = 0xd00n; // LME | LMA | NXE
const EFER_NO_NX = 0x500n;
const TABLES = 0x10_0000n;
const R = 0;
const WR = 1;
const X = 2;

interface Setup { cr0?: bigint; cr4?: bigint; efer?: bigint; m?: number; levels?: number; amd?: boolean; gbpages?: boolean }

async function setup(s: Setup = {}): Promise<{ f: Fixture; t: GuestTables }> {
  const f = await makeFixture(4096);
  const x = f.x;
  const t = new GuestTables(f, TABLES, s.levels ?? 4);
  let feat = allFeatures(x, s.m ?? 46);
  if (s.gbpages === false) feat &= ~x.CpuFeat.Gbpages;
  if (s.amd) feat |= x.CpuFeat.VendorAmd;
  x.vcpu_set_features(0, feat);
  const cr4 = (s.cr4 ?? CR4_PAE) | (s.levels === 5 ? CR4_LA57 : 0n);
  x.vcpu_set_state(0, s.cr0 ?? CR0, t.root, cr4, s.efer ?? EFER);
  return { f, t };
}

/**
 * Walks and returns a short text: "ok <gpa>", "nomem <gpa>" (translated, but
 * no RAM there), "#PF <err> <cr2>", "#GP <err>", or another status.
 */
function walk(f: Fixture, la: bigint, kind: number, cpl = 0, ac = 0, implicit = false): string {
  const s = f.x.walk(0, la, kind, cpl, ac, implicit);
  const r = f.res();
  const S = f.x.AccessStatus;
  if (s === S.Ok) return `ok 0x${r.gpa.toString(16)}`;
  if (s === S.NoMemory && r.level === 0) return `nomem 0x${r.gpa.toString(16)}`;
  if (s === S.PageFault) return `#PF 0x${r.err.toString(16)} 0x${r.cr2.toString(16)}`;
  if (s === S.GeneralProtection) return `#GP ${r.err}`;
  return `status ${s}`;
}

const LA = 0x40_1234n;
const PAGE = 0x80_0000n;

describe('paging: page sizes', () => {
  it('translates 4 KiB, 2 MiB and 1 GiB pages', async () => {
    const { f, t } = await setup();
    t.map(0x40_0000n, 0x20_0000n, P | W);
    t.map(0x80_0000n, 0x40_0000n, P | W, 2);
    t.map(0x4000_0000n, 0x8000_0000n, P | W, 3);
    expect(walk(f, 0x40_0abcn, R)).toBe('ok 0x200abc');
    expect(f.res().pageShift).toBe(12);
    expect(walk(f, 0x81_2345n, R)).toBe('ok 0x412345');
    expect(f.res().pageShift).toBe(21);
    expect(walk(f, 0x4123_4567n, R)).toBe('nomem 0x81234567'); // 2 GiB lies beyond this RAM
    expect(f.res().pageShift).toBe(30);
  });
});

describe('paging: error codes measured on the oracle (spec section 8)', () => {
  it('gives 0x3, 0x7, 0x5, 0x11 (XD), 0x11 (SMEP), 0x0, 0x6 and 0x1 (SMAP)', async () => {
    const { f, t } = await setup({ cr4: CR4_PAE | CR4_SMEP | CR4_SMAP });
    t.map(LA, PAGE, P | U); // read-only user page
    t.map(0x60_0000n, PAGE, P); // read-only supervisor page
    t.map(0x70_0000n, PAGE, P | W | XD); // XD supervisor page
    expect(walk(f, LA, WR)).toBe(`#PF 0x3 0x${LA.toString(16)}`); // supervisor write, RO, WP=1
    expect(walk(f, LA, WR, 3)).toBe(`#PF 0x7 0x${LA.toString(16)}`);
    expect(walk(f, 0x60_0000n, R, 3)).toBe('#PF 0x5 0x600000');
    expect(walk(f, 0x70_0000n, X)).toBe('#PF 0x11 0x700000');
    expect(walk(f, LA, X)).toBe(`#PF 0x11 0x${LA.toString(16)}`); // SMEP
    expect(walk(f, 0x90_0000n, R)).toBe('#PF 0x0 0x900000');
    expect(walk(f, 0x90_0000n, WR, 3)).toBe('#PF 0x6 0x900000');
    expect(walk(f, LA, R)).toBe(`#PF 0x1 0x${LA.toString(16)}`); // SMAP, AC=0
  });

  it('reports I/D only with NXE or SMEP', async () => {
    const { f } = await setup({ efer: EFER_NO_NX });
    expect(walk(f, 0x90_0000n, X)).toBe('#PF 0x0 0x900000');
    const s = await setup();
    expect(walk(s.f, 0x90_0000n, X)).toBe('#PF 0x10 0x900000');
  });

  it('writes the full canonical address to CR2, and #GP(0) without CR2 for a non-canonical one', async () => {
    const { f } = await setup();
    expect(walk(f, 0xffff_8000_0000_1234n, R)).toBe('#PF 0x0 0xffff800000001234');
    expect(walk(f, 0x0000_8000_0000_0000n, R)).toBe('#GP 0');
    expect(f.res().cr2).toBe(0xffff_8000_0000_1234n);
  });
});

describe('paging: reserved bits (spec section 4)', () => {
  for (const m of [36, 46, 52]) {
    it(`reserves bits 51:${m} with MAXPHYADDR ${m}`, async () => {
      const { f, t } = await setup({ m });
      t.map(LA, PAGE, P | W);
      expect(walk(f, LA, R)).toBe(`ok 0x${(PAGE | 0x234n).toString(16)}`);
      t.or(LA, 1, 1n << BigInt(m - 1)); // the top address bit: not reserved
      expect(walk(f, LA, R)).toBe(`nomem 0x${(PAGE | (1n << BigInt(m - 1)) | 0x234n).toString(16)}`);
      if (m < 52) {
        t.or(LA, 1, 1n << BigInt(m));
        expect(walk(f, LA, R)).toBe(`#PF 0x9 0x${LA.toString(16)}`);
        expect(walk(f, LA, WR, 3)).toBe(`#PF 0xf 0x${LA.toString(16)}`);
      } else {
        t.or(LA, 1, 1n << 51n);
        expect(walk(f, LA, R)).toMatch(/^nomem /);
      }
    });
  }

  it('reserves PS in the PML4E, the low bits of large leaves, and PS in a PDPTE without 1 GiB pages', async () => {
    const { f, t } = await setup({ gbpages: false });
    t.map(LA, PAGE, P | W);
    t.or(LA, 4, PS);
    expect(walk(f, LA, R)).toBe(`#PF 0x9 0x${LA.toString(16)}`);
    t.clear(LA, 4, PS);
    t.map(0x80_0000n, 0x40_0000n, P | W, 2);
    t.or(0x80_0000n, 2, 1n << 13n);
    expect(walk(f, 0x80_0000n, R)).toBe('#PF 0x9 0x800000');
    t.clear(0x80_0000n, 2, 1n << 13n);
    t.or(0x80_0000n, 2, 1n << 12n); // PAT of a 2 MiB leaf: not reserved
    expect(walk(f, 0x80_0000n, R)).toBe('ok 0x400000');
    t.map(0x4000_0000n, 0x4000_0000n, P | W, 3);
    expect(walk(f, 0x4000_0000n, R)).toBe('#PF 0x9 0x40000000');
  });

  it('reserves bit 63 without NXE; with NXE it is XD (OR-ed over the levels)', async () => {
    const { f, t } = await setup({ efer: EFER_NO_NX });
    t.map(LA, PAGE, P | W);
    t.or(LA, 3, XD);
    expect(walk(f, LA, R)).toBe(`#PF 0x9 0x${LA.toString(16)}`);
    const s = await setup();
    s.t.map(LA, PAGE, P | W);
    s.t.or(LA, 3, XD);
    expect(walk(s.f, LA, R)).toMatch(/^ok /);
    expect(walk(s.f, LA, X)).toBe(`#PF 0x11 0x${LA.toString(16)}`);
  });

  it('ignores bit 63 and reserved bits of a not-present entry', async () => {
    const { f, t } = await setup({ efer: EFER_NO_NX });
    t.map(LA, PAGE, W | XD | (1n << 50n));
    expect(walk(f, LA, R)).toBe(`#PF 0x0 0x${LA.toString(16)}`);
  });

  it('Intel ignores bit 8 of a PML4E; AMD reserves it, but not in a PDPTE (KVM nonleaf_bit8_rsvd)', async () => {
    const intel = await setup();
    intel.t.map(LA, PAGE, P | W);
    intel.t.or(LA, 4, G);
    intel.t.or(LA, 3, G);
    expect(walk(intel.f, LA, R)).toMatch(/^ok /);
    const amd = await setup({ amd: true });
    amd.t.map(LA, PAGE, P | W);
    amd.t.or(LA, 3, G);
    expect(walk(amd.f, LA, R)).toMatch(/^ok /);
    amd.t.or(LA, 4, G);
    expect(walk(amd.f, LA, R)).toBe(`#PF 0x9 0x${LA.toString(16)}`);
  });
});

describe('paging: rights (spec section 5)', () => {
  it('ANDs R/W and U/S over the levels and honours CR0.WP', async () => {
    const { f, t } = await setup();
    t.map(LA, PAGE, P | W | U, 1, P | U | A); // upper levels read-only
    expect(walk(f, LA, WR, 3)).toBe(`#PF 0x7 0x${LA.toString(16)}`);
    expect(walk(f, LA, WR, 0)).toBe(`#PF 0x3 0x${LA.toString(16)}`);
    const s = await setup({ cr0: CR0_NO_WP });
    s.t.map(LA, PAGE, P | W | U, 1, P | U | A);
    expect(walk(s.f, LA, WR, 0)).toMatch(/^ok /);
    s.t.clear(LA, 2, U); // one supervisor level makes a supervisor page
    expect(walk(s.f, LA, R, 3)).toBe(`#PF 0x5 0x${LA.toString(16)}`);
  });

  it('SMAP: AC lifts it for explicit accesses only; implicit accesses report U/S=0; fetches ignore it', async () => {
    const { f, t } = await setup({ cr0: CR0_NO_WP, cr4: CR4_PAE | CR4_SMAP });
    t.map(LA, PAGE, P | U); // read-only user page
    const cr2 = `0x${LA.toString(16)}`;
    expect(walk(f, LA, R, 0, 0)).toBe(`#PF 0x1 ${cr2}`);
    expect(walk(f, LA, R, 0, 1)).toMatch(/^ok /);
    expect(walk(f, LA, WR, 0, 1)).toMatch(/^ok /); // WP=0 with AC=1 writes a read-only user page
    expect(walk(f, LA, R, 3, 1, true)).toBe(`#PF 0x1 ${cr2}`);
    expect(walk(f, LA, WR, 0, 1, true)).toBe(`#PF 0x3 ${cr2}`);
    expect(walk(f, LA, X, 0, 0)).toMatch(/^ok /);
  });

  it('protection keys: PKRU for user pages, PKRS for supervisor pages, PK set even with a rights failure', async () => {
    const { f, t } = await setup({ cr4: CR4_PAE | CR4_PKE | CR4_PKS });
    t.map(LA, PAGE, P | U | (1n << 59n)); // key 1, read-only user page
    t.map(0x60_0000n, PAGE, P | W | (2n << 59n)); // key 2, supervisor page
    const cr2 = `0x${LA.toString(16)}`;
    f.x.vcpu_set_pkeys(0, 0b0100, 0); // key 1: AD
    expect(walk(f, LA, R, 3)).toBe(`#PF 0x25 ${cr2}`);
    expect(walk(f, LA, R, 0, 1)).toBe(`#PF 0x21 ${cr2}`);
    expect(walk(f, LA, X, 3)).toMatch(/^ok /); // keys never stop fetches
    f.x.vcpu_set_pkeys(0, 0b1000, 0); // key 1: WD
    expect(walk(f, LA, R, 3)).toMatch(/^ok /);
    expect(walk(f, LA, WR, 3)).toBe(`#PF 0x27 ${cr2}`); // rights deny too: PK still set
    expect(walk(f, 0x60_0000n, WR)).toMatch(/^ok /); // PKRU does not reach supervisor pages
    f.x.vcpu_set_pkeys(0, 0, 0b10_0000); // PKRS key 2: WD
    expect(walk(f, 0x60_0000n, R)).toMatch(/^ok /);
    expect(walk(f, 0x60_0000n, WR)).toBe('#PF 0x23 0x600000'); // WP=1
    f.x.vcpu_set_pkeys(0, 0, 0b01_0000); // PKRS key 2: AD
    expect(walk(f, 0x60_0000n, R)).toBe('#PF 0x21 0x600000');
  });
});

describe('paging: accessed and dirty flags (spec section 6)', () => {
  it('sets A on every level for a read, D on the leaf for a write, nothing on a fault', async () => {
    const { f, t } = await setup();
    t.map(LA, PAGE, P | U, 1, P | W | U);
    const levels = [4, 3, 2, 1];
    const words = () => levels.map((l) => f.read64(t.entry(LA, l)));
    const before = words();
    expect(walk(f, LA, WR, 3)).toMatch(/^#PF 0x7/);
    expect(words()).toEqual(before);
    expect(walk(f, LA, R, 3)).toMatch(/^ok /);
    expect(words()).toEqual(before.map((v) => v | A));
    t.or(LA, 1, W);
    expect(walk(f, LA, WR, 3)).toMatch(/^ok /);
    expect(f.read64(t.entry(LA, 1)) & (A | D)).toBe(A | D);
    expect(f.read64(t.entry(LA, 2)) & D).toBe(0n);
  });

  it('with WalkFlag.AdOnFault sets upper-level A before a rights fault, as QEMU does', async () => {
    const { f, t } = await setup();
    t.map(LA, PAGE, P | U, 1, P | W | U);
    f.x.vcpu_set_walk_flags(0, f.x.WalkFlag.AdOnFault);
    expect(walk(f, LA, WR, 3)).toMatch(/^#PF 0x7/);
    expect([4, 3, 2].map((l) => f.read64(t.entry(LA, l)) & A)).toEqual([A, A, A]);
    expect(f.read64(t.entry(LA, 1)) & A).toBe(0n);
  });
});

describe('paging: 5-level paging (LA57)', () => {
  it('walks five levels and applies the 57-bit canonical rule', async () => {
    const { f, t } = await setup({ levels: 5 });
    const la = 0x00ff_8000_0000_0123n; // bits 55:47 set, bit 56 clear
    t.map(la, PAGE, P | W);
    expect(walk(f, la, R)).toBe(`ok 0x${(PAGE | 0x123n).toString(16)}`);
    expect(walk(f, 0x0100_0000_0000_0000n, R)).toBe('#GP 0');
    t.or(la, 5, PS);
    expect(walk(f, la, R)).toBe(`#PF 0x9 0x${la.toString(16)}`);
    const four = await setup();
    expect(walk(four.f, la, R)).toBe('#GP 0');
  });
});

describe('paging: the 2D walk through EPT (spec section 13)', () => {
  /** Guest RAM [0, 4 MiB) mapped 1:1 by EPT in 4 KiB pages, except `holes`. */
  async function withEpt(levels: number, holes: bigint[] = []) {
    const s = await setup({ levels });
    const x = s.f.x;
    const root = x.ept_root_alloc(1);
    for (let gpa = 0n; gpa < 0x40_0000n; gpa += 0x1000n) {
      if (!holes.includes(gpa)) expect(x.ept_map(root, gpa, gpa, 12, 7 | (6 << 3), 1)).toBe(0);
    }
    x.vcpu_set_ept(0, x.ept_make_eptp(root, false), 46 | x.EptCap.ExecOnly | x.EptCap.Page1g, 1);
    return s;
  }

  for (const [levels, refs] of [[4, 24], [5, 29]]) {
    it(`makes ${refs} references for ${levels} guest levels over 4 EPT levels, in order`, async () => {
      const { f, t } = await withEpt(levels);
      t.map(LA, 0x30_0000n, P | W | A | D);
      // Every reference of a 2D walk is a guest entry read or an EPT entry read.
      const refCount = () => f.stat('GuestEntryRead') + f.stat('EptEntryRead');
      const before = refCount();
      f.x.trace_begin(0);
      expect(walk(f, LA, R)).toBe('ok 0x300234');
      f.x.trace_end();
      expect(refCount() - before).toBe(BigInt(refs));
      const E = f.x.TraceKind.EptEntry;
      const Gk = f.x.TraceKind.GuestEntry;
      const want: [number, number][] = [];
      for (let l = levels; l >= 1; l--) want.push([E, 4], [E, 3], [E, 2], [E, 1], [Gk, l]);
      want.push([E, 4], [E, 3], [E, 2], [E, 1]);
      expect(f.trace().map((r) => [r.kind, r.level])).toEqual(want);
    });
  }

  it('an EPT violation on a guest table has qualification bit 8 = 0, on the data page bit 8 = 1', async () => {
    const pt = await withEpt(4);
    pt.t.map(LA, 0x30_0000n, P | W | A | D);
    const ptPage = pt.t.entry(LA, 1) & ~0xfffn;
    const s = await withEpt(4, [ptPage, 0x30_0000n]);
    s.t.map(LA, 0x30_0000n, P | W | A | D);
    expect(walk(s.f, LA, R)).toBe('status 3');
    let r = s.f.res();
    expect(r.level).toBe(1);
    expect(r.eptGpa).toBe(s.t.entry(LA, 1));
    expect(r.eptQual & 0x180n).toBe(0x80n);
    s.f.x.vcpu_set_ept(0, 0n, 0, 0);
    expect(walk(s.f, LA, R)).toBe('ok 0x300234'); // the same tables without EPT
  });

  it('reports the data page violation with bit 8 = 1 after the guest walk, and a guest #PF beats it', async () => {
    const { f, t } = await withEpt(4, [0x30_0000n]);
    t.map(LA, 0x30_0000n, P | A | D); // read-only supervisor page
    expect(walk(f, LA, R)).toBe('status 3');
    const r = f.res();
    expect(r.level).toBe(0);
    expect(r.gpa).toBe(0x30_0234n);
    expect(r.eptQual & 0x187n).toBe(0x181n); // read, GVA valid, translated
    expect(walk(f, LA, WR)).toBe(`#PF 0x3 0x${LA.toString(16)}`);
  });
});
