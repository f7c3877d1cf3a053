// A builder of guest page tables for the MMU tests: tables come from a bump
// allocator of guest-physical pages; map() links one page of 4 KiB, 2 MiB or
// 1 GiB at any level count (4, or 5 with LA57).

import type { Fixture } from './mmu-fixture.js';

export const P = 1n;
export const W = 2n;
export const U = 4n;
export const A = 0x20n;
export const D = 0x40n;
export const PS = 0x80n;
export const G = 0x100n;
export const XD = 1n << 63n;

export class GuestTables {
  readonly root: bigint;
  private next: bigint;

  /** Tables from `firstTable` upward; the root is the first. */
  constructor(private readonly f: Fixture, firstTable: bigint, readonly levels = 4) {
    this.next = firstTable;
    this.root = this.alloc();
  }

  alloc(): bigint {
    const a = this.next;
    this.next += 0x1000n;
    this.f.zero(a, 4096);
    return a;
  }

  /** GPA of the entry for `la` at `level` (5..1), following the present upper entries. */
  entry(la: bigint, level: number): bigint {
    let table = this.root;
    for (let l = this.levels; ; l--) {
      const e = table + ((la >> BigInt(12 + 9 * (l - 1))) & 511n) * 8n;
      if (l === level) return e;
      table = this.f.read64(e) & 0x000f_ffff_ffff_f000n;
    }
  }

  /**
   * Maps `la` to the page at `pa` with a leaf at `leafLevel` (1 = 4 KiB,
   * 2 = 2 MiB, 3 = 1 GiB) carrying `leaf` flags (PS added for large pages);
   * missing upper tables are linked with `upper` flags.
   */
  map(la: bigint, pa: bigint, leaf: bigint, leafLevel = 1, upper = P | W | U | A): void {
    let table = this.root;
    for (let l = this.levels; l > leafLevel; l--) {
      const e = table + ((la >> BigInt(12 + 9 * (l - 1))) & 511n) * 8n;
      let v = this.f.read64(e);
      if ((v & P) === 0n) {
        v = this.alloc() | upper;
        this.f.write64(e, v);
      }
      table = v & 0x000f_ffff_ffff_f000n;
    }
    const e = table + ((la >> BigInt(12 + 9 * (leafLevel - 1))) & 511n) * 8n;
    this.f.write64(e, pa | leaf | (leafLevel > 1 ? PS : 0n));
  }

  /** Sets bits in the entry for `la` at `level`. */
  or(la: bigint, level: number, bits: bigint): void {
    const e = this.entry(la, level);
    this.f.write64(e, this.f.read64(e) | bits);
  }

  /** Clears bits in the entry for `la` at `level`. */
  clear(la: bigint, level: number, bits: bigint): void {
    const e = this.entry(la, level);
    this.f.write64(e, this.f.read64(e) & ~bits);
  }
}
