// The TLB as the access path sees it: a translation stays in use after its
// PTE changes until something invalidates it, and each invalidation removes
// exactly what spec/x86-paging.md section 7 (and conformance/TLB.md) require.

import { describe, expect, it } from 'vitest';
import { allFeatures, makeFixture } from './mmu-fixture.js';
import type { Fixture } from './mmu-fixture.js';
import { A, D, G, GuestTables, P, W } from './guest-tables.js';

const CR0 = 0x8001_0001n;
const CR4_PAE = 0x20n;
const CR4_PGE = 0x80n;
const CR4_PCIDE = 1n << 17n;
const CR4_SMEP = 1n << 20n;
const EFER = 0xd00n;
const NOFLUSH = 1n << 63n;
const X = 0x40_0000n;
const Y = 0x40_1000n;
const OLD = 0x20_0000n;
const NEW = 0x30_0000n;
const R = 0;
const WR = 1;

async function setup(cr4 = CR4_PAE | CR4_PGE, ramFrames = 4096) {
  const f = await makeFixture(ramFrames);
  const t = new GuestTables(f, 0x10_0000n);
  f.x.vcpu_set_features(0, allFeatures(f.x, 46));
  f.x.vcpu_set_state(0, CR0, t.root, cr4, EFER);
  return { f, t, x: f.x };
}

/** The physical address an access reaches, or the fault it takes. */
function access(f: Fixture, la: bigint, kind = R, cpl = 0): string {
  const s = f.x.vcpu_access(0, la, kind, cpl, 0, false);
  const r = f.res();
  if (s === f.x.AccessStatus.Ok) return `0x${r.gpa.toString(16)}`;
  if (s === f.x.AccessStatus.PageFault) return `#PF 0x${r.err.toString(16)}`;
  return `status ${s}`;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

describe('tlb: staleness and invalidation', () => {
  it('keeps using a changed PTE until INVLPG, and counts hits, misses and fills', async () => {
    const { f, t, x } = await setup();
    t.map(X, OLD, P | W | A | D);
    const miss = f.stat('TlbMiss');
    expect(access(f, X)).toBe(hex(OLD));
    expect(access(f, X + 8n)).toBe(hex(OLD + 8n));
    expect(f.stat('TlbMiss') - miss).toBe(1n);
    expect(f.stat('TlbHit')).toBe(1n);
    t.map(X, NEW, P | W | A | D);
    expect(access(f, X)).toBe(hex(OLD));
    expect(x.invlpg(0, X + 0x800n)).toBe(x.AccessStatus.Ok);
    expect(access(f, X)).toBe(hex(NEW));
  });

  it('drops the entry on a #PF, so the retry sees the fixed PTE; a not-present PTE made present needs no flush', async () => {
    const { f, t } = await setup();
    t.map(X, OLD, P | A | D); // read-only
    expect(access(f, X)).toBe(hex(OLD));
    t.map(X, OLD, P | W | A | D);
    expect(access(f, X, WR)).toBe('#PF 0x3'); // the cached entry still says read-only
    expect(access(f, X, WR)).toBe(hex(OLD));
    expect(access(f, Y)).toBe('#PF 0x0');
    t.map(Y, NEW, P | A | D);
    expect(access(f, Y)).toBe(hex(NEW));
  });

  it('walks again for a write through an entry cached with D=0, to set D', async () => {
    const { f, t } = await setup();
    t.map(X, OLD, P | W);
    expect(access(f, X)).toBe(hex(OLD));
    expect(f.read64(t.entry(X, 1)) & (A | D)).toBe(A);
    expect(access(f, X, WR)).toBe(hex(OLD));
    expect(f.read64(t.entry(X, 1)) & (A | D)).toBe(A | D);
  });

  it('MOV CR3 drops non-global entries, even for the same value; globals survive until a PGE toggle', async () => {
    const { f, t, x } = await setup();
    t.map(X, OLD, P | W | A | D | G);
    t.map(Y, OLD, P | W | A | D);
    access(f, X);
    access(f, Y);
    t.map(X, NEW, P | W | A | D | G);
    t.map(Y, NEW, P | W | A | D);
    expect(x.mov_cr3(0, t.root)).toBe(x.AccessStatus.Ok);
    expect(access(f, X)).toBe(hex(OLD));
    expect(access(f, Y)).toBe(hex(NEW));
    expect(x.mov_cr4(0, CR4_PAE)).toBe(x.AccessStatus.Ok); // PGE 1 -> 0: everything goes
    expect(access(f, X)).toBe(hex(NEW));
  });

  it('SMEP 0 -> 1 flushes the current PCID, 1 -> 0 does not', async () => {
    const { f, t, x } = await setup(CR4_PAE);
    t.map(X, OLD, P | W | A | D);
    access(f, X);
    t.map(X, NEW, P | W | A | D);
    x.mov_cr4(0, CR4_PAE | CR4_SMEP);
    expect(access(f, X)).toBe(hex(NEW));
    t.map(X, OLD, P | W | A | D);
    x.mov_cr4(0, CR4_PAE);
    expect(access(f, X)).toBe(hex(NEW));
  });

  it('INVLPG on any address inside a 2 MiB page drops the whole page', async () => {
    const { f, t, x } = await setup();
    t.map(0x80_0000n, 0x40_0000n, P | W | A | D, 2);
    expect(access(f, 0x80_1234n)).toBe('0x401234');
    t.map(0x80_0000n, 0x60_0000n, P | W | A | D, 2);
    x.invlpg(0, 0x9f_f000n);
    expect(access(f, 0x80_1234n)).toBe('0x601234');
  });

  it('INVLPG of a non-canonical address does nothing and does not fault', async () => {
    const { f, t, x } = await setup();
    t.map(X, OLD, P | W | A | D);
    access(f, X);
    t.map(X, NEW, P | W | A | D);
    expect(x.invlpg(0, 0x8000_0000_0000n | X)).toBe(x.AccessStatus.Ok);
    expect(access(f, X)).toBe(hex(OLD));
  });
});

describe('tlb: PCIDs', () => {
  async function twoSpaces() {
    const s = await setup(CR4_PAE | CR4_PGE | CR4_PCIDE);
    const t2 = new GuestTables(s.f, 0x18_0000n);
    s.t.map(X, OLD, P | W | A | D);
    t2.map(X, NEW, P | W | A | D);
    return { ...s, t2 };
  }

  it('isolates PCIDs, and the no-flush bit keeps the returning PCID entries', async () => {
    const { f, t, t2, x } = await twoSpaces();
    expect(x.mov_cr3(0, t.root | 1n)).toBe(x.AccessStatus.Ok);
    expect(access(f, X)).toBe(hex(OLD));
    x.mov_cr3(0, t2.root | 2n);
    expect(access(f, X)).toBe(hex(NEW));
    t.map(X, NEW + 0x1000n, P | W | A | D);
    x.mov_cr3(0, t.root | 1n | NOFLUSH);
    expect(access(f, X)).toBe(hex(OLD)); // the PCID 1 entry survived
    expect(f.stat('TlbFlushCr3Noflush')).toBe(1n);
    x.mov_cr3(0, t.root | 1n);
    expect(access(f, X)).toBe(hex(NEW + 0x1000n));
  });

  it('INVPCID type 0 and 1 reach only the PCID named; type 2 reaches everything', async () => {
    const { f, t, t2, x } = await twoSpaces();
    x.mov_cr3(0, t.root | 1n);
    access(f, X);
    x.mov_cr3(0, t2.root | 2n);
    access(f, X);
    t.map(X, OLD + 0x1000n, P | W | A | D);
    t2.map(X, NEW + 0x1000n, P | W | A | D);
    expect(x.invpcid(0, 0n, 1n, X)).toBe(x.AccessStatus.Ok);
    expect(access(f, X)).toBe(hex(NEW)); // PCID 2 untouched
    x.mov_cr3(0, t.root | 1n | NOFLUSH);
    expect(access(f, X)).toBe(hex(OLD + 0x1000n));
    x.invpcid(0, 2n, 0n, 0n);
    x.mov_cr3(0, t2.root | 2n | NOFLUSH);
    expect(access(f, X)).toBe(hex(NEW + 0x1000n));
  });

  it('#GP: INVPCID type > 3, descriptor bits 63:12, non-canonical type 0; MOV CR3 with bits 63:M; PCIDE with CR3[11:0] != 0', async () => {
    const { x, t } = await setup();
    const GP = x.AccessStatus.GeneralProtection;
    expect(x.invpcid(0, 4n, 0n, 0n)).toBe(GP);
    expect(x.invpcid(0, 1n, 0x1000n, 0n)).toBe(GP);
    expect(x.invpcid(0, 0n, 0n, 0x8000_0000_0000n)).toBe(GP);
    expect(x.invpcid(0, 1n, 1n, 0n)).toBe(GP); // PCID 1 while PCIDE=0
    expect(x.mov_cr3(0, t.root | NOFLUSH)).toBe(GP); // bit 63 is reserved without PCIDE
    expect(x.mov_cr3(0, t.root | (1n << 46n))).toBe(GP);
    expect(x.mov_cr3(0, t.root | 5n)).toBe(x.AccessStatus.Ok);
    expect(x.mov_cr4(0, CR4_PAE | CR4_PCIDE)).toBe(GP);
    x.vcpu_set_cpl(0, 3);
    expect(x.invlpg(0, X)).toBe(GP);
  });
});

describe('tlb: VPID and EPT tags', () => {
  async function withEpt() {
    const s = await setup();
    const x = s.x;
    const root = x.ept_root_alloc(1);
    for (let gpa = 0n; gpa < 0x80_0000n; gpa += 0x20_0000n) expect(x.ept_map(root, gpa, gpa, 21, 7 | (6 << 3), 1)).toBe(0);
    x.vcpu_set_ept(0, x.ept_make_eptp(root, false), 46 | x.EptCap.ExecOnly | x.EptCap.Page1g, 5);
    x.vcpu_set_vpid(0, 3);
    s.t.map(X, OLD, P | W | A | D | G);
    access(s.f, X);
    s.t.map(X, NEW, P | W | A | D | G);
    return s;
  }

  it('INVEPT single-context drops the combined entries of its EPT tag only; global drops them all', async () => {
    const { f, x } = await withEpt();
    expect(x.tlb_invept(0, 1n, 4)).toBe(0);
    expect(access(f, X)).toBe(hex(OLD));
    expect(x.tlb_invept(0, 1n, 5)).toBe(0);
    expect(access(f, X)).toBe(hex(NEW));
    expect(x.tlb_invept(0, 3n, 5)).toBe(1);
  });

  it('INVVPID: VPID 0 and non-canonical type 0 fail; type 3 keeps globals, type 0 and 1 do not', async () => {
    const { f, t, x } = await withEpt();
    expect(x.tlb_invvpid(0, 1n, 0, 0n)).toBe(1);
    expect(x.tlb_invvpid(0, 0n, 3, 0x8000_0000_0000_0000n)).toBe(1);
    expect(x.tlb_invvpid(0, 3n, 3, 0n)).toBe(0);
    expect(access(f, X)).toBe(hex(OLD)); // global
    expect(x.tlb_invvpid(0, 0n, 2, X)).toBe(0);
    expect(access(f, X)).toBe(hex(OLD)); // another VPID
    expect(x.tlb_invvpid(0, 0n, 3, X)).toBe(0);
    expect(access(f, X)).toBe(hex(NEW));
    t.map(X, OLD, P | W | A | D | G);
    expect(x.tlb_invvpid(0, 2n, 0, 0n)).toBe(0);
    expect(access(f, X)).toBe(hex(OLD));
  });

  it('caches a 2 MiB guest page that EPT maps with 4 KiB pages piece by piece, and INVLPG drops every piece', async () => {
    const s = await setup();
    const x = s.x;
    const root = x.ept_root_alloc(1);
    for (let gpa = 0n; gpa < 0x80_0000n; gpa += 0x1000n) expect(x.ept_map(root, gpa, gpa, 12, 7 | (6 << 3), 1)).toBe(0);
    x.vcpu_set_ept(0, x.ept_make_eptp(root, false), 46 | x.EptCap.ExecOnly | x.EptCap.Page1g, 1);
    s.t.map(0x80_0000n, 0x40_0000n, P | W | A | D, 2);
    expect(access(s.f, 0x80_0010n)).toBe('0x400010');
    expect(access(s.f, 0x9f_f010n)).toBe('0x5ff010');
    expect(x.tlb_count(0)).toBe(2);
    expect(s.f.res().pageShift).toBe(21);
    x.invlpg(0, 0x90_0000n);
    expect(x.tlb_count(0)).toBe(0);
  });
});

describe('tlb: eviction', () => {
  it('stays correct when more pages are touched than a set holds', async () => {
    const { f, t, x } = await setup();
    // 4 KiB pages 2 MiB apart share a set: 3 x TLB_WAYS of them.
    const n = 3 * x.TLB_WAYS.value;
    for (let i = 0n; i < BigInt(n); i++) t.map(0x4000_0000n + i * 0x20_0000n, 0x20_0000n + i * 0x1000n, P | W | A | D);
    for (let round = 0; round < 2; round++) {
      for (let i = 0n; i < BigInt(n); i++) {
        expect(access(f, 0x4000_0000n + i * 0x20_0000n + 0x10n)).toBe(hex(0x20_0000n + i * 0x1000n + 0x10n));
      }
    }
    expect(f.stat('TlbEvict')).toBeGreaterThan(0n);
    expect(x.tlb_count(0)).toBe(x.TLB_WAYS.value);
  });
});
