// Hand-computed cases for the reference 2D walk: one small tree per rule.

import { describe, expect, it } from 'vitest';
import type { Gva } from '../../src/core/addr.js';
import { referenceWalk } from '../../src/reference/guest-walk.js';
import type { WalkState } from '../../src/reference/guest-walk.js';
import type { EptControl, GuestAccess, GuestControl } from '../../src/reference/types.js';
import {
  EFER_LMA, EFER_LME, EFER_NX, X86_CR0_PE, X86_CR0_PG, X86_CR0_WP, X86_CR4_LA57, X86_CR4_PAE, X86_CR4_PKE, X86_CR4_PKS,
  X86_CR4_SMAP, X86_CR4_SMEP,
} from '../../src/uapi.js';
import { WordMemory } from './word-memory.js';

const P = 1n, RW = 2n, US = 4n, A = 0x20n, D = 0x40n, PS = 0x80n, XD = 1n << 63n;
const USER = P | RW | US;

// Guest tables: PML5 0x6000 (LA57 only), PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000; data page 0x5000.
// The linear address uses index 1 (PML5), 1 (PML4), 2 (PDPT), 3 (PD), 4 (PT), offset 0x567.
const LA = (1n << 39n) | (2n << 30n) | (3n << 21n) | (4n << 12n) | 0x567n;
const LA57_LA = (1n << 48n) | LA;
const E = { pml5: 0x6000n + 8n, pml4: 0x1000n + 8n, pdpt: 0x2000n + 16n, pd: 0x3000n + 24n, pt: 0x4000n + 32n };

interface TreeOptions {
  /** Flags (low 12 bits and bit 63) of each level's entry; the address is filled in. */
  pml4?: bigint; pdpt?: bigint; pd?: bigint; pt?: bigint;
  guest?: Partial<GuestControl>;
  la57?: boolean;
}

function tree(o: TreeOptions = {}): { mem: WordMemory; guest: GuestControl } {
  const mem = new WordMemory(1n << 30n);
  mem.set(E.pml5, 0x1000n | USER);
  mem.set(E.pml4, 0x2000n | (o.pml4 ?? USER));
  mem.set(E.pdpt, 0x3000n | (o.pdpt ?? USER));
  mem.set(E.pd, 0x4000n | (o.pd ?? USER));
  mem.set(E.pt, 0x5000n | (o.pt ?? USER));
  const guest: GuestControl = {
    cr0: X86_CR0_PG | X86_CR0_PE | X86_CR0_WP,
    cr3: o.la57 ? 0x6000n : 0x1000n,
    cr4: X86_CR4_PAE | (o.la57 ? X86_CR4_LA57 : 0n),
    efer: EFER_LME | EFER_LMA | EFER_NX,
    pkru: 0, pkrs: 0, maxPhyAddr: 46, vendor: 'intel', gbpages: true,
    ...o.guest,
  };
  return { mem, guest };
}

function access(kind: GuestAccess['kind'], cpl: number, extra: Partial<GuestAccess> = {}): GuestAccess {
  return { la: LA as Gva, kind, cpl, ac: false, implicit: false, ...extra };
}

function run(o: TreeOptions, a: GuestAccess, ept: EptControl | null = null) {
  const { mem, guest } = tree(o);
  const state: WalkState = { guest, ept };
  return { ...referenceWalk(mem, state, a), mem };
}

function errorCode(o: TreeOptions, a: GuestAccess): number | string {
  const { outcome } = run(o, a);
  return outcome.kind === 'page-fault' ? outcome.errorCode : outcome.kind;
}

describe('reference walk: translation and A/D', () => {
  it('translates through four 4 KiB levels and sets A top-down, D only on a write', () => {
    const r = run({}, access('read', 0));
    expect(r.outcome).toEqual({ kind: 'ok', gpa: 0x5567n, hpa: 0x5567n, pageShift: 12, eptPageShift: 12 });
    expect(r.refs.map((x) => [x.level, x.addr])).toEqual([[4, E.pml4], [3, E.pdpt], [2, E.pd], [1, E.pt]]);
    expect(r.ad.map((u) => [u.addr, u.old, u.new])).toEqual([
      [E.pml4, 0x2007n, 0x2027n], [E.pdpt, 0x3007n, 0x3027n], [E.pd, 0x4007n, 0x4027n], [E.pt, 0x5007n, 0x5027n],
    ]);
    const w = run({ pml4: USER | A, pdpt: USER | A, pd: USER | A, pt: USER | A }, access('write', 0));
    expect(w.ad.map((u) => [u.addr, u.old, u.new])).toEqual([[E.pt, 0x5027n, 0x5067n]]);
  });

  it('maps 2 MiB and 1 GiB pages, PAT bit 12 not part of the frame', () => {
    const { mem, guest } = tree();
    mem.set(E.pd, 0x00a00000n | 0x1000n | USER | PS);
    const r2 = referenceWalk(mem, { guest, ept: null }, access('read', 0));
    expect(r2.outcome).toMatchObject({ kind: 'ok', gpa: 0xa00000n + (LA & 0x1fffffn), pageShift: 21 });
    expect(r2.refs).toHaveLength(3);
    mem.set(E.pdpt, 0x1000n | USER | PS);
    const r1 = referenceWalk(mem, { guest, ept: null }, access('read', 0));
    expect(r1.outcome).toMatchObject({ kind: 'ok', gpa: LA & 0x3fffffffn, pageShift: 30 });
    expect(r1.refs).toHaveLength(2);
  });

  it('a faulting walk reads up to the faulting entry and changes nothing', () => {
    const r = run({ pt: P }, access('write', 3));
    expect(r.outcome).toEqual({ kind: 'page-fault', errorCode: 0x7, cr2: LA, level: 1 });
    expect(r.refs).toHaveLength(4);
    expect(r.ad).toEqual([]);
    expect(r.mem.read64(E.pml4 as never)).toBe(0x2007n);
  });

  it('with a read-only memory view, reports the A/D updates without storing them', () => {
    const { mem, guest } = tree();
    const view = { size: mem.size, read64: mem.read64.bind(mem) };
    const r = referenceWalk(view, { guest, ept: null }, access('write', 0));
    expect(r.ad).toHaveLength(4);
    expect(mem.read64(E.pt as never)).toBe(0x5007n);
  });

  it('an aliased entry (PML4E used again as PDPTE) is updated once, on its current value', () => {
    const { mem, guest } = tree();
    // PML4 index 1 and index 2 both in table 0x1000: PML4E[1] points back to 0x1000, PDPTE = PML4E[2].
    mem.set(E.pml4, 0x1000n | USER);
    mem.set(0x1000n + 16n, 0x3000n | USER);
    const r = referenceWalk(mem, { guest, ept: null }, access('read', 0));
    expect(r.outcome).toMatchObject({ kind: 'ok', gpa: 0x5567n });
    expect(r.ad.map((u) => u.addr)).toEqual([E.pml4, 0x1010n, E.pd, E.pt]);
  });
});

describe('reference walk: #PF error codes (spec section 8, measured)', () => {
  it('supervisor write to a read-only page with WP=1: 0x3', () => {
    expect(errorCode({ pt: P | US }, access('write', 0))).toBe(0x3);
  });
  it('user write to a read-only user page: 0x7', () => {
    expect(errorCode({ pt: P | US }, access('write', 3))).toBe(0x7);
  });
  it('user read of a supervisor page: 0x5', () => {
    expect(errorCode({ pd: P | RW }, access('read', 3))).toBe(0x5);
  });
  it('supervisor fetch from an XD leaf: 0x11', () => {
    expect(errorCode({ pt: USER | XD }, access('fetch', 0))).toBe(0x11);
  });
  it('SMEP fetch of a user page: 0x11, even with NXE=0', () => {
    const guest = { cr4: X86_CR4_PAE | X86_CR4_SMEP, efer: EFER_LME | EFER_LMA };
    expect(errorCode({ guest }, access('fetch', 0))).toBe(0x11);
  });
  it('not present, supervisor read: 0x0', () => {
    expect(errorCode({ pdpt: 0xfffn & ~P }, access('read', 0))).toBe(0x0);
  });
  it('not present, user write: 0x6', () => {
    expect(errorCode({ pt: 0n }, access('write', 3))).toBe(0x6);
  });
  it('SMAP read of a user page at CPL0 with AC=0: 0x1', () => {
    expect(errorCode({ guest: { cr4: X86_CR4_PAE | X86_CR4_SMAP } }, access('read', 0))).toBe(0x1);
  });
  it('fetch faults report I/D only with NXE or SMEP', () => {
    const guest = { efer: EFER_LME | EFER_LMA };
    expect(errorCode({ guest, pd: 0n }, access('fetch', 0))).toBe(0x0);
    expect(errorCode({ pd: 0n }, access('fetch', 0))).toBe(0x10);
  });
});

describe('reference walk: rights rules', () => {
  it('CR0.WP=0 lets a supervisor write a read-only page', () => {
    const guest = { cr0: X86_CR0_PG | X86_CR0_PE };
    expect(run({ guest, pt: P | US }, access('write', 0)).outcome.kind).toBe('ok');
  });
  it('SMAP: AC=1 lifts it for explicit accesses only; with WP=0 even a read-only user page is writable', () => {
    const guest = { cr0: X86_CR0_PG | X86_CR0_PE, cr4: X86_CR4_PAE | X86_CR4_SMAP };
    expect(run({ guest, pt: P | US }, access('write', 0, { ac: true })).outcome.kind).toBe('ok');
    expect(errorCode({ guest, pt: P | US }, access('write', 0, { ac: true, implicit: true }))).toBe(0x3);
    // An implicit access at CPL3 is a supervisor access: U/S=0 in the error code.
    expect(errorCode({ guest }, access('read', 3, { ac: true, implicit: true }))).toBe(0x1);
    // SMAP does not apply to fetches.
    expect(run({ guest }, access('fetch', 0)).outcome.kind).toBe('ok');
  });
  it('U/S and R/W are AND-ed, XD is OR-ed across levels', () => {
    expect(errorCode({ pml4: P | RW }, access('read', 3))).toBe(0x5);
    expect(errorCode({ pdpt: P | US }, access('write', 3))).toBe(0x7);
    expect(errorCode({ pml4: USER | XD }, access('fetch', 3))).toBe(0x15);
    const guest = { efer: EFER_LME | EFER_LMA };
    expect(errorCode({ guest, pml4: USER | XD }, access('fetch', 3))).toBe(0xd);
  });
});

describe('reference walk: reserved bits', () => {
  it('bits 51:M of any present entry, per guest MAXPHYADDR', () => {
    expect(errorCode({ guest: { maxPhyAddr: 36 }, pd: USER | (1n << 40n) }, access('read', 0))).toBe(0x9);
    expect(run({ guest: { maxPhyAddr: 46 }, pd: USER | (1n << 40n) }, access('read', 0)).outcome.kind).not.toBe('page-fault');
    expect(errorCode({ guest: { maxPhyAddr: 46 }, pd: USER | (1n << 51n) }, access('write', 3))).toBe(0xf);
  });
  it('PS in the PML4E; bit 63 with NXE=0; a reserved bit in a not-present entry is ignored', () => {
    expect(errorCode({ pml4: USER | PS }, access('read', 0))).toBe(0x9);
    expect(errorCode({ guest: { efer: EFER_LME | EFER_LMA }, pt: USER | XD }, access('read', 0))).toBe(0x9);
    expect(errorCode({ pt: XD | PS | (1n << 51n) }, access('read', 0))).toBe(0x0);
  });
  it('large-page low bits, and a 1 GiB page without PDPE1GB', () => {
    expect(errorCode({ pd: USER | PS | 0x2000n }, access('read', 0))).toBe(0x9);
    expect(errorCode({ pdpt: USER | PS | 0x10000n }, access('read', 0))).toBe(0x9);
    const { mem, guest } = tree({ guest: { gbpages: false } });
    mem.set(E.pdpt, 0x40000000n | USER | PS);
    const r = referenceWalk(mem, { guest, ept: null }, access('read', 0));
    expect(r.outcome).toMatchObject({ kind: 'page-fault', errorCode: 0x9, level: 3 });
  });
  it('AMD reserves bit 8 in the PML4E, not in the PDPTE; Intel in neither', () => {
    const G = 0x100n;
    expect(errorCode({ guest: { vendor: 'amd' }, pml4: USER | G }, access('read', 0))).toBe(0x9);
    expect(run({ guest: { vendor: 'intel' }, pml4: USER | G }, access('read', 0)).outcome.kind).toBe('ok');
    expect(run({ guest: { vendor: 'amd' }, pdpt: USER | G }, access('read', 0)).outcome.kind).toBe('ok');
  });
});

describe('reference walk: canonical addresses and LA57', () => {
  it('a non-canonical address is #GP(0) with nothing read', () => {
    const r = run({}, access('read', 0, { la: 0x0000800000000000n as Gva }));
    expect(r.outcome).toEqual({ kind: 'general-protection', errorCode: 0 });
    expect(r.refs).toEqual([]);
    expect(run({}, access('read', 0, { la: 0xffff800000000000n as Gva })).outcome.kind).toBe('page-fault');
  });
  it('5-level paging walks the PML5 and accepts 57-bit canonical addresses', () => {
    const r = run({ la57: true }, access('read', 0, { la: LA57_LA as Gva }));
    expect(r.outcome).toMatchObject({ kind: 'ok', gpa: 0x5567n });
    expect(r.refs.map((x) => x.level)).toEqual([5, 4, 3, 2, 1]);
    expect(run({ la57: true }, access('read', 0, { la: (1n << 56n) as Gva })).outcome.kind).toBe('general-protection');
  });
});

describe('reference walk: protection keys', () => {
  const key1 = 1n << 59n;
  it('PKRU AD stops data accesses to user pages, not fetches', () => {
    const guest = { cr4: X86_CR4_PAE | X86_CR4_PKE, pkru: 0b0100 };
    expect(errorCode({ guest, pt: USER | key1 }, access('read', 3))).toBe(0x25);
    expect(errorCode({ guest, pt: USER | key1 }, access('read', 0))).toBe(0x21);
    expect(run({ guest, pt: USER | key1 }, access('fetch', 3)).outcome.kind).toBe('ok');
    expect(run({ guest, pt: USER }, access('read', 3)).outcome.kind).toBe('ok');
  });
  it('PKRU WD stops user writes, and supervisor writes only with WP=1; PK is set even when the rights also fail', () => {
    const guest = { cr4: X86_CR4_PAE | X86_CR4_PKE, pkru: 0b1000 };
    expect(errorCode({ guest, pt: USER | key1 }, access('write', 3))).toBe(0x27);
    expect(errorCode({ guest, pt: USER | key1 }, access('write', 0))).toBe(0x23);
    expect(run({ guest: { ...guest, cr0: X86_CR0_PG | X86_CR0_PE }, pt: USER | key1 }, access('write', 0)).outcome.kind).toBe('ok');
    expect(errorCode({ guest, pt: P | US | key1 }, access('write', 3))).toBe(0x27);
  });
  it('PKRS governs supervisor pages under CR4.PKS', () => {
    const guest = { cr4: X86_CR4_PAE | X86_CR4_PKS, pkrs: 0b0100 };
    expect(errorCode({ guest, pt: P | RW | key1 }, access('read', 0))).toBe(0x21);
    expect(run({ guest, pt: USER | key1 }, access('read', 3)).outcome.kind).toBe('ok');
    expect(run({ guest: { ...guest, cr4: X86_CR4_PAE }, pt: P | RW | key1 }, access('read', 0)).outcome.kind).toBe('ok');
  });
});

// EPT for the 2D cases: GPA [0, 2 MiB) mapped 4 KiB by 4 KiB to the same HPA,
// tables at HPA 0x100000 (PML4), 0x101000 (PDPT), 0x102000 (PD), 0x103000 (PT).
const EPT_PT = 0x103000n;
const WB = 6n << 3n;

function withIdentityEpt(mem: WordMemory, ad: boolean, rights = 7n): EptControl {
  mem.set(0x100000n, 0x101000n | 7n);
  mem.set(0x101000n, 0x102000n | 7n);
  mem.set(0x102000n, 0x103000n | 7n);
  for (let i = 0n; i < 512n; i++) mem.set(EPT_PT + i * 8n, (i << 12n) | WB | rights);
  return { eptp: 0x100000n | (3n << 3n) | 6n | (ad ? 1n << 6n : 0n), maxPhyAddr: 46, execOnly: true, page1g: true };
}

function eptLeaf(gpa: bigint): bigint {
  return EPT_PT + (gpa >> 12n) * 8n;
}

describe('reference walk: 2D walks over EPT', () => {
  it('4 over 4 makes 24 references, 5 over 4 makes 29, in guest-entry-after-its-EPT-walk order', () => {
    const four = tree();
    const r4 = referenceWalk(four.mem, { guest: four.guest, ept: withIdentityEpt(four.mem, false) }, access('read', 0));
    expect(r4.outcome.kind).toBe('ok');
    expect(r4.refs).toHaveLength(24);
    expect(r4.refs.slice(0, 5).map((x) => x.table)).toEqual(['ept', 'ept', 'ept', 'ept', 'guest']);
    expect(r4.refs[3].addr).toBe(eptLeaf(E.pml4));
    const five = tree({ la57: true });
    const r5 = referenceWalk(five.mem, { guest: five.guest, ept: withIdentityEpt(five.mem, false) },
      access('read', 0, { la: LA57_LA as Gva }));
    expect(r5.outcome.kind).toBe('ok');
    expect(r5.refs).toHaveLength(29);
  });

  it('an EPT violation on a guest-table read exits before the entry is read (bit 8 = 0)', () => {
    const { mem, guest } = tree({ pd: 0n });
    const ept = withIdentityEpt(mem, false);
    mem.set(eptLeaf(E.pd), (E.pd & ~0xfffn) | WB); // page of the PD: no rights
    const r = referenceWalk(mem, { guest, ept }, access('read', 0));
    // Read (bit 0), rights 000, GLA valid (bit 7), not the final translation.
    expect(r.outcome).toEqual({ kind: 'ept-violation', qualification: 0x81n, gpa: E.pd, level: 2 });
    expect(r.refs.filter((x) => x.table === 'guest')).toHaveLength(2);
  });

  it('an EPT misconfiguration on a guest-table page', () => {
    const { mem, guest } = tree();
    const ept = withIdentityEpt(mem, false);
    mem.set(eptLeaf(E.pt), (E.pt & ~0xfffn) | (2n << 3n) | 7n); // memory type 2 is reserved
    expect(referenceWalk(mem, { guest, ept }, access('read', 0)).outcome).toEqual({ kind: 'ept-misconfig', gpa: E.pt, level: 1 });
    expect(referenceWalk(mem, { guest, ept }, access('read', 0)).refs.filter((x) => x.table === 'guest')).toHaveLength(3);
  });

  it('a guest #PF beats an EPT violation on the data page; otherwise the data violation has bit 8, after guest A/D', () => {
    const { mem, guest } = tree({ pt: P | US });
    const ept = withIdentityEpt(mem, false);
    mem.set(eptLeaf(0x5000n), 0x5000n | WB | 1n); // data page read-only in EPT
    expect(referenceWalk(mem, { guest, ept }, access('write', 3)).outcome).toMatchObject({ kind: 'page-fault', errorCode: 0x7 });
    mem.set(E.pt, 0x5000n | USER);
    const r = referenceWalk(mem, { guest, ept }, access('write', 3));
    // Write (bit 1), rights R (bit 3), GLA valid and translated (bits 7, 8).
    expect(r.outcome).toEqual({ kind: 'ept-violation', qualification: 0x18an, gpa: 0x5567n, level: 0 });
    // The linear translation completed: its A/D bits are set before the data access fails.
    expect(r.ad.filter((u) => u.table === 'guest').map((u) => u.addr)).toEqual([E.pml4, E.pdpt, E.pd, E.pt]);
  });

  it('EPT A/D on: table reads are writes (bits 0 and 1), set EPT A and D on table pages', () => {
    const { mem, guest } = tree();
    const ept = withIdentityEpt(mem, true);
    const ok = referenceWalk(mem, { guest, ept }, access('read', 0));
    expect(ok.outcome.kind).toBe('ok');
    const eptAd = ok.ad.filter((u) => u.table === 'ept');
    // Each table page's EPT leaf gets A|D (0x300); the data page's only A (a read).
    expect(eptAd.find((u) => u.addr === eptLeaf(E.pt))?.new).toBe((E.pt & ~0xfffn) | WB | 7n | 0x300n);
    expect(eptAd.find((u) => u.addr === eptLeaf(0x5000n))?.new).toBe(0x5000n | WB | 7n | 0x100n);
    // A guest-table page without EPT W: violation with bits 0, 1, rights R|X, bit 7.
    const t = tree();
    const ept2 = withIdentityEpt(t.mem, true);
    t.mem.set(eptLeaf(E.pdpt), (E.pdpt & ~0xfffn) | WB | 5n);
    expect(referenceWalk(t.mem, { guest: t.guest, ept: ept2 }, access('read', 0)).outcome)
      .toEqual({ kind: 'ept-violation', qualification: 0xabn, gpa: E.pdpt, level: 3 });
  });

  it('EPT A/D off: reading a read-only table page is fine, but setting its guest A bit needs EPT W', () => {
    const { mem, guest } = tree();
    const ept = withIdentityEpt(mem, false);
    mem.set(eptLeaf(E.pd), (E.pd & ~0xfffn) | WB | 1n);
    const r = referenceWalk(mem, { guest, ept }, access('read', 0));
    // Write (bit 1), rights R (bit 3), GLA valid (bit 7), bit 8 = 0.
    expect(r.outcome).toEqual({ kind: 'ept-violation', qualification: 0x8an, gpa: E.pd, level: 2 });
    // The updates above the refused one were made; the refused write was translated again (4 more EPT reads).
    expect(r.ad.map((u) => u.addr)).toEqual([E.pml4, E.pdpt]);
    expect(r.refs).toHaveLength(20 + 4);
    // Once A is already set, no write is needed and the walk succeeds.
    mem.set(E.pd, mem.read64(E.pd as never) | A);
    expect(referenceWalk(mem, { guest, ept }, access('read', 0)).outcome.kind).toBe('ok');
  });
});
