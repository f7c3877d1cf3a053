// Random walker scenarios: guest page-table trees (4- or 5-level, aliased
// tables, large pages, random rights, keys, reserved bits, not-present
// entries full of junk), random EPT trees over them (identity-ish, random
// rights and memory types, some misconfigurations, A/D on or off), random
// control state and a few accesses. The shape comes from a seeded PRNG so a
// failure is reproduced from the knobs fast-check prints.
//
// Host RAM layout (64 MiB): guest page tables live at GPAs in [64 KiB, 16 MiB),
// EPT tables at HPAs in [48 MiB, 64 MiB). EPT remaps guest pages only inside
// [0, 48 MiB), so no guest table ever shares a word with an EPT table (a guest
// A/D write there would change an EPT entry mid-walk: legal, but a test of
// update ordering rather than of the rules).

import fc from 'fast-check';
import type { Gva } from '../../src/core/addr.js';
import type { AccessKind, EptControl, GuestAccess, GuestControl } from '../../src/reference/types.js';
import {
  EFER_LMA, EFER_LME, EFER_NX, X86_CR0_PE, X86_CR0_PG, X86_CR0_WP, X86_CR4_LA57, X86_CR4_PAE, X86_CR4_PKE, X86_CR4_PKS,
  X86_CR4_SMAP, X86_CR4_SMEP,
} from '../../src/uapi.js';

export const RAM_BYTES = 64n << 20n;
const MiB = 1n << 20n;
const GUEST_TABLES_END = 16n * MiB;
const REMAP_END = 48n * MiB;
const EPT_TABLES_START = 48n * MiB;

/** Small deterministic PRNG (mulberry32): the tree's shape from one seed. */
export class Rng {
  constructor(private state: number) {}
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  chance(p: number): boolean { return this.next() < p; }
  int(n: number): number { return Math.floor(this.next() * n); }
  big(n: bigint): bigint { return (BigInt(this.int(0x40000000)) * BigInt(this.int(0x40000000)) + BigInt(this.int(0x40000000))) % n; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  /** Random bits hi..lo, each set with probability p. */
  bits(hi: number, lo: number, p: number): bigint {
    let v = 0n;
    for (let b = lo; b <= hi; b++) if (this.chance(p)) v |= 1n << BigInt(b);
    return v;
  }
}

/** The control-state and access knobs fast-check generates (and shrinks). */
export interface Knobs {
  seed: number;
  la57: boolean;
  ept: boolean;
  eptAd: boolean;
  execOnly: boolean;
  page1g: boolean;
  hostMaxPhyAddr: number;
  guestMaxPhyAddr: number;
  vendor: 'intel' | 'amd';
  gbpages: boolean;
  wp: boolean;
  nxe: boolean;
  smep: boolean;
  smap: boolean;
  pke: boolean;
  pks: boolean;
  pkru: number;
  pkrs: number;
  accesses: { path: number; kind: AccessKind; cpl: number; ac: boolean; implicit: boolean; nonCanonical: boolean }[];
}

const keyRegister = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }));

export const knobsArb: fc.Arbitrary<Knobs> = fc.record({
  seed: fc.integer(),
  la57: fc.boolean(),
  ept: fc.boolean(),
  eptAd: fc.boolean(),
  execOnly: fc.boolean(),
  page1g: fc.oneof(fc.constant(true), fc.boolean()),
  hostMaxPhyAddr: fc.constantFrom(36, 39, 40, 46, 48, 52),
  guestMaxPhyAddr: fc.constantFrom(36, 39, 40, 46, 48, 52),
  vendor: fc.constantFrom('intel' as const, 'amd' as const),
  gbpages: fc.boolean(),
  wp: fc.boolean(),
  nxe: fc.boolean(),
  smep: fc.boolean(),
  smap: fc.boolean(),
  pke: fc.boolean(),
  pks: fc.boolean(),
  pkru: keyRegister,
  pkrs: keyRegister,
  accesses: fc.array(fc.record({
    path: fc.nat(3),
    kind: fc.constantFrom('read' as const, 'write' as const, 'fetch' as const),
    cpl: fc.constantFrom(0, 0, 3, 3, 1),
    ac: fc.boolean(),
    implicit: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    nonCanonical: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  }), { minLength: 1, maxLength: 4 }),
});

/** Everything one property run needs: host memory words, control state, accesses. */
export interface Scenario {
  /** HPA -> 64-bit word; every other word of RAM is 0. */
  words: Map<bigint, bigint>;
  guest: GuestControl;
  ept: EptControl | null;
  accesses: GuestAccess[];
}

const P = 1n, PS = 1n << 7n;

/** A guest-physical page -> host-physical page map, as the EPT builder laid it out. */
type GpaToHpa = (gpaPage: bigint) => bigint | null;

interface EptTree { words: Map<bigint, bigint>; eptp: bigint; toHpa: GpaToHpa }

/** Flags of a present EPT entry: mostly RWX, sometimes fewer (or W without R). */
function eptRights(r: Rng, k: Knobs, pFull: number): bigint {
  if (r.chance(pFull)) return 7n;
  const xwr = BigInt(r.int(8));
  // Execute-only entries are a misconfiguration only without the capability: make both cases common.
  return xwr === 0n && r.chance(0.5) ? (k.execOnly ? 4n : 5n) : xwr;
}

/** Ignored and A/D bits of an EPT entry: never a misconfiguration. */
function eptNoise(r: Rng): bigint {
  return r.bits(9, 8, 0.3) | r.bits(11, 11, 0.2) | (r.chance(0.2) ? r.bits(63, 52, 0.3) : 0n);
}

/** Reserved bits to inject with a small probability: 51:M, or `extra` (level-specific). */
function eptReserved(r: Rng, k: Knobs, extra: bigint): bigint {
  if (!r.chance(0.04)) return 0n;
  if (k.hostMaxPhyAddr < 52 && r.chance(0.5)) return 1n << BigInt(k.hostMaxPhyAddr + r.int(52 - k.hostMaxPhyAddr));
  return extra;
}

function buildEpt(r: Rng, k: Knobs): EptTree {
  const words = new Map<bigint, bigint>();
  let next = EPT_TABLES_START;
  const alloc = (): bigint => { const p = next; next += 0x1000n; return p; };
  const leafBits = (): bigint => {
    const memtype = r.chance(0.9) ? 6n : BigInt(r.int(8));
    return eptRights(r, k, 0.85) | (memtype << 3n) | (r.chance(0.3) ? 1n << 6n : 0n) | eptNoise(r);
  };
  // Pages that may hold guest tables (below 16 MiB) are mostly sound, or few walks would reach data.
  const soundLeaf = (): bigint => 7n | (6n << 3n) | eptNoise(r);
  const nonLeafBits = (level: number): bigint =>
    eptRights(r, k, 0.95) | eptNoise(r) | eptReserved(r, k, level === 4 ? 1n << BigInt(3 + r.int(5)) : 1n << BigInt(3 + r.int(4)));

  const pml4 = alloc();
  const pdpt = alloc();
  const pd = alloc();
  // Every walk below 1 GiB goes through these two: keep them sound most of the time.
  words.set(pml4, pdpt | (r.chance(0.9) ? 7n | eptNoise(r) : nonLeafBits(4)));
  words.set(pdpt, pd | (r.chance(0.9) ? 7n | eptNoise(r) : nonLeafBits(3)));
  // GPAs 1-4 GiB: 1 GiB leaves to the same HPA (beyond RAM: data only), or nothing.
  for (let i = 1n; i < 4n; i++) {
    if (r.chance(0.7)) words.set(pdpt + i * 8n, (i << 30n) | PS | leafBits() | eptReserved(r, k, 1n << BigInt(12 + r.int(18))));
  }
  // A junk PML4E further up: not present with noise, or a present entry into the same PDPT.
  if (r.chance(0.3)) words.set(pml4 + BigInt(1 + r.int(511)) * 8n, r.chance(0.5) ? eptNoise(r) & ~7n : pdpt | nonLeafBits(4));

  // GPAs [0, 64 MiB), 2 MiB at a time: a large leaf, a table of 4 KiB leaves, or nothing.
  const regions: ({ kind: 'large'; hpa: bigint } | { kind: 'table'; pages: (bigint | null)[] } | null)[] = [];
  const tableOf: (bigint | null)[] = [];
  for (let i = 0n; i < 32n; i++) {
    const tableArea = i < GUEST_TABLES_END >> 21n;
    const u = tableArea ? r.next() * 0.96 : r.next();
    const pde = pd + i * 8n;
    if (u < 0.5) {
      const hpa = r.chance(0.8) && i < 24n ? i << 21n : BigInt(r.int(24)) << 21n;
      words.set(pde, hpa | PS | (tableArea && r.chance(0.98) ? soundLeaf() : leafBits() | eptReserved(r, k, 1n << BigInt(12 + r.int(9)))));
      regions.push({ kind: 'large', hpa });
      tableOf.push(null);
    } else if (u < 0.95) {
      const pt = alloc();
      words.set(pde, pt | (tableArea && r.chance(0.97) ? 7n | eptNoise(r) : nonLeafBits(2)));
      const pages: (bigint | null)[] = [];
      for (let j = 0n; j < 512n; j++) {
        if (r.chance(tableArea ? 0.01 : 0.05)) {
          if (r.chance(0.5)) words.set(pt + j * 8n, r.bits(63, 3, 0.3));
          pages.push(null);
          continue;
        }
        const gpaPage = (i << 21n) | (j << 12n);
        const hpa = r.chance(0.9) && gpaPage < REMAP_END ? gpaPage : r.big(REMAP_END >> 12n) << 12n;
        words.set(pt + j * 8n, hpa | (tableArea && r.chance(0.98) ? soundLeaf() : leafBits() | eptReserved(r, k, 0n)));
        pages.push(hpa);
      }
      regions.push({ kind: 'table', pages });
      tableOf.push(pt);
    } else {
      if (r.chance(0.5)) words.set(pde, r.bits(63, 3, 0.3));
      regions.push(null);
      tableOf.push(null);
    }
  }
  // Aliasing: occasionally one 2 MiB region reuses another's table.
  const withTable = tableOf.flatMap((t, i) => (t === null ? [] : [i]));
  if (withTable.length > 0 && r.chance(0.2)) {
    const i = r.int(32);
    const j = r.pick(withTable);
    words.set(pd + BigInt(i) * 8n, tableOf[j]! | 7n);
    regions[i] = regions[j];
  }

  const toHpa: GpaToHpa = (gpaPage) => {
    if (gpaPage >= 32n << 21n) return null;
    const region = regions[Number(gpaPage >> 21n)];
    if (region === null) return null;
    if (region.kind === 'large') return region.hpa | (gpaPage & 0x1ff000n);
    return region.pages[Number((gpaPage >> 12n) & 511n)];
  };
  const eptp = pml4 | 6n | (3n << 3n) | (k.eptAd ? 1n << 6n : 0n);
  return { words, eptp, toHpa };
}

/** A random linear address, canonical for the paging mode. */
function randomLa(r: Rng, la57: boolean): bigint {
  const width = la57 ? 57 : 48;
  let la = 0n;
  for (let level = la57 ? 5 : 4; level >= 1; level--) {
    // Low indices most of the time, so different paths share tables.
    const idx = BigInt(r.chance(0.6) ? r.int(4) : r.int(512));
    la |= idx << BigInt(12 + 9 * (level - 1));
  }
  la |= BigInt(r.int(4096));
  if (la >> BigInt(width - 1) === 1n) la |= ((1n << 64n) - 1n) ^ ((1n << BigInt(width)) - 1n);
  return la;
}

/** Reserved bits a guest entry at `level` may carry (some only under certain control state). */
function guestReserved(r: Rng, k: Knobs, level: number, large: boolean): bigint {
  const choices: bigint[] = [1n << 63n];
  if (k.guestMaxPhyAddr < 52) choices.push(1n << BigInt(k.guestMaxPhyAddr + r.int(52 - k.guestMaxPhyAddr)));
  if (level >= 4) choices.push(PS, 1n << 8n);
  if (large) choices.push(1n << BigInt(13 + r.int(level === 3 ? 17 : 8)));
  if (level === 3 && !large) choices.push(1n << 8n);
  return r.pick(choices);
}

function buildGuest(r: Rng, k: Knobs, las: bigint[]): { words: Map<bigint, bigint>; cr3: bigint } {
  const words = new Map<bigint, bigint>();
  const levels = k.la57 ? 5 : 4;
  const pool: bigint[] = [];
  const tables = 3 + r.int(10);
  for (let i = 0; i < tables; i++) pool.push((0x10n + r.big((GUEST_TABLES_END >> 12n) - 0x10n)) << 12n);
  const addrMask = (1n << BigInt(k.guestMaxPhyAddr)) - 1n;
  const dataAddress = (shift: bigint): bigint => {
    const u = r.next();
    const raw = u < 0.8 ? r.big(RAM_BYTES) : u < 0.9 ? r.big(4n << 30n) : r.big(1n << 52n);
    return raw & addrMask & ~((1n << shift) - 1n);
  };

  for (const la of las) {
    let table = pool[0];
    for (let level = levels; level >= 1; level--) {
      // A shared path may lead through a leaf read as a table: leave what lies outside the table area alone.
      if (table >= GUEST_TABLES_END) break;
      const shift = BigInt(12 + 9 * (level - 1));
      const slot = table + ((la >> shift) & 511n) * 8n;
      const existing = words.get(slot);
      if (existing !== undefined && r.chance(0.7)) {
        // Share the path written for an earlier address.
        if ((existing & P) === 0n || level === 1 || (level <= 3 && (existing & PS) !== 0n)) break;
        table = existing & addrMask & ~0xfffn;
        continue;
      }
      if (r.chance(0.05)) {
        words.set(slot, r.bits(63, 1, 0.4));
        break;
      }
      let entry = P | r.bits(4, 3, 0.2) | (r.chance(0.85) ? 2n : 0n) | (r.chance(0.8) ? 4n : 0n) |
        r.bits(6, 5, 0.35) | r.bits(11, 8, 0.15) | (r.chance(0.2) ? r.bits(58, 52, 0.3) : 0n) |
        (r.chance(0.4) ? BigInt(r.int(16)) << 59n : 0n);
      entry &= ~PS;
      const large = (level === 3 && r.chance(0.15)) || (level === 2 && r.chance(0.25));
      const leaf = level === 1 || large;
      // XD (reserved when EFER.NXE=0) mostly on leaves, so that most walks get to the bottom.
      if (r.chance(leaf ? 0.2 : 0.05)) entry |= 1n << 63n;
      if (level >= 4) entry &= ~(1n << 8n);
      if (large) entry |= PS | dataAddress(shift) | (r.chance(0.3) ? 1n << 12n : 0n);
      else if (leaf) entry |= dataAddress(12n);
      else entry |= r.pick(pool);
      if (r.chance(0.04)) entry |= guestReserved(r, k, level, large);
      words.set(slot, entry);
      if (leaf) break;
      table = entry & addrMask & ~0xfffn;
    }
  }
  // Junk in the other slots of the tables: not-present words and stray entries.
  for (let i = 0; i < 20; i++) {
    const slot = r.pick(pool) + BigInt(r.int(512)) * 8n;
    if (!words.has(slot)) words.set(slot, r.chance(0.5) ? r.bits(63, 1, 0.4) : r.pick(pool) | 7n);
  }
  return { words, cr3: pool[0] | (r.chance(0.3) ? 0x18n : 0n) };
}

export function buildScenario(k: Knobs): Scenario {
  const r = new Rng(k.seed);
  const paths = [randomLa(r, k.la57), randomLa(r, k.la57), randomLa(r, k.la57), randomLa(r, k.la57)];
  // Some paths share all but the last index with the first.
  if (r.chance(0.5)) paths[1] = (paths[0] & ~0x1ff000n) | (BigInt(r.int(512)) << 12n);
  // With 4-level EPT the guest-physical width is 48 bits.
  const guestMaxPhyAddr = k.ept ? Math.min(k.guestMaxPhyAddr, 48) : k.guestMaxPhyAddr;
  const kk = { ...k, guestMaxPhyAddr };
  const g = buildGuest(r, kk, paths);
  const words = new Map<bigint, bigint>();
  let ept: EptControl | null = null;
  if (k.ept) {
    const e = buildEpt(r, kk);
    for (const [a, v] of e.words) words.set(a, v);
    for (const [gpa, v] of g.words) {
      const hpaPage = e.toHpa(gpa & ~0xfffn);
      if (hpaPage !== null) words.set(hpaPage | (gpa & 0xfffn), v);
    }
    ept = { eptp: e.eptp, maxPhyAddr: k.hostMaxPhyAddr, execOnly: k.execOnly, page1g: k.page1g };
  } else {
    for (const [gpa, v] of g.words) words.set(gpa, v);
  }
  const guest: GuestControl = {
    cr0: X86_CR0_PG | X86_CR0_PE | (k.wp ? X86_CR0_WP : 0n),
    cr3: g.cr3,
    cr4: X86_CR4_PAE | (k.la57 ? X86_CR4_LA57 : 0n) | (k.smep ? X86_CR4_SMEP : 0n) | (k.smap ? X86_CR4_SMAP : 0n) |
      (k.pke ? X86_CR4_PKE : 0n) | (k.pks ? X86_CR4_PKS : 0n),
    efer: EFER_LME | EFER_LMA | (k.nxe ? EFER_NX : 0n),
    pkru: k.pkru, pkrs: k.pkrs, maxPhyAddr: guestMaxPhyAddr, vendor: k.vendor, gbpages: k.gbpages,
  };
  const accesses = k.accesses.map((a): GuestAccess => {
    const la = a.nonCanonical ? paths[a.path] ^ (1n << BigInt(k.la57 ? 60 : 50)) : paths[a.path];
    return { la: la as Gva, kind: a.kind, cpl: a.cpl, ac: a.ac, implicit: a.implicit };
  });
  return { words, guest, ept, accesses };
}
