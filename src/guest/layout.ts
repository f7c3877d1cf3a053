// Laying a guest out in its memory the way a VMM does: through the VMM's own
// mapping of each memslot (kvm.write at userspace_addr + offset), never by
// reaching into host RAM. GuestMemory turns guest-physical addresses into
// those writes; GuestPageTables builds x86-64 4-level tables (4 KiB, 2 MiB
// and 1 GiB leaves) from a bump allocator of table pages; bootState returns
// the sregs and regs that start a vCPU there (long mode, or flat real mode).

import type { Program } from './program.js';

/** The VMM's writes to its own memory (Kvm.write / Kvm.read fit). */
export interface VmmAccess {
  write(hva: bigint | number, data: Uint8Array): void;
  read(hva: bigint | number, len: number): Uint8Array;
}

/** One memslot as the VMM set it up. */
export interface GuestRegion {
  gpa: bigint;
  size: bigint;
  /** The slot's userspace_addr. */
  hva: bigint;
}

export class GuestMemory {
  constructor(private readonly vmm: VmmAccess, private readonly regions: readonly GuestRegion[]) {}

  /** The userspace address of [gpa, gpa + len), which must lie in one region. */
  hva(gpa: bigint, len: number): bigint {
    const r = this.regions.find((x) => gpa >= x.gpa && gpa + BigInt(len) <= x.gpa + x.size);
    if (!r) throw new RangeError(`gmemu guest layout: [0x${gpa.toString(16)}, +${len}) is not inside one memslot region`);
    return r.hva + (gpa - r.gpa);
  }

  write(gpa: bigint, data: Uint8Array): void {
    this.vmm.write(this.hva(gpa, data.length), data);
  }

  read(gpa: bigint, len: number): Uint8Array {
    return this.vmm.read(this.hva(gpa, len), len);
  }

  write64(gpa: bigint, value: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
    this.write(gpa, b);
  }

  read64(gpa: bigint): bigint {
    return new DataView(this.read(gpa, 8).buffer).getBigUint64(0, true);
  }

  /** Writes `program`, laid out for virtual address `va`, at guest-physical `gpa`. */
  load(program: Program, va: bigint, gpa: bigint): void {
    this.write(gpa, program.bytes(va));
  }
}

/** Paging-structure entry bits (Intel SDM Vol. 3A 4.5). */
export const PTE = {
  P: 1n, W: 2n, U: 4n, PWT: 8n, PCD: 0x10n, A: 0x20n, D: 0x40n, PS: 0x80n, G: 0x100n, XD: 1n << 63n,
} as const;

export const PAGE_4K = 0x1000n;
export const PAGE_2M = 0x20_0000n;
export const PAGE_1G = 0x4000_0000n;
const ADDR_MASK = 0x000f_ffff_ffff_f000n;

export interface MapFlags {
  write?: boolean;
  user?: boolean;
  nx?: boolean;
  global?: boolean;
  /** Protection key (leaf bits 62:59). */
  pkey?: number;
}

/** 4-level x86-64 page tables in guest memory, tables taken from [tableBase, tableEnd). */
export class GuestPageTables {
  readonly root: bigint;
  private next: bigint;

  constructor(private readonly mem: GuestMemory, tableBase: bigint, private readonly tableEnd: bigint) {
    if (tableBase % PAGE_4K !== 0n) throw new RangeError(`gmemu guest layout: table base 0x${tableBase.toString(16)} is not page-aligned`);
    this.next = tableBase;
    this.root = this.alloc();
  }

  private alloc(): bigint {
    if (this.next + PAGE_4K > this.tableEnd) throw new RangeError('gmemu guest layout: out of page-table pages');
    const a = this.next;
    this.next += PAGE_4K;
    this.mem.write(a, new Uint8Array(4096));
    return a;
  }

  /** Table pages used so far. */
  get tablesEnd(): bigint {
    return this.next;
  }

  /**
   * Maps one page of `size` (4 KiB, 2 MiB or 1 GiB) at `va` to `gpa`. Upper
   * levels are writable and user so that the leaf alone decides; A and D are
   * preset on the leaf, as a VMM would to spare the guest the updates.
   */
  map(va: bigint, gpa: bigint, size: bigint, flags: MapFlags = {}): void {
    const leafLevel = size === PAGE_4K ? 1 : size === PAGE_2M ? 2 : size === PAGE_1G ? 3 : 0;
    if (leafLevel === 0) throw new RangeError(`gmemu guest layout: page size 0x${size.toString(16)} is not 4 KiB, 2 MiB or 1 GiB`);
    if (va % size !== 0n || gpa % size !== 0n) throw new RangeError(`gmemu guest layout: 0x${va.toString(16)} -> 0x${gpa.toString(16)} is not aligned to the page size`);
    let table = this.root;
    for (let level = 4; level > leafLevel; level--) {
      const e = table + ((va >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n;
      let v = this.mem.read64(e);
      if ((v & PTE.P) === 0n) {
        v = this.alloc() | PTE.P | PTE.W | PTE.U | PTE.A;
        this.mem.write64(e, v);
      } else if ((v & PTE.PS) !== 0n) {
        throw new RangeError(`gmemu guest layout: 0x${va.toString(16)} is already inside a large page`);
      }
      table = v & ADDR_MASK;
    }
    let leaf = gpa | PTE.P | PTE.A | PTE.D;
    if (flags.write ?? true) leaf |= PTE.W;
    if (flags.user) leaf |= PTE.U;
    if (flags.nx) leaf |= PTE.XD;
    if (flags.global) leaf |= PTE.G;
    if (flags.pkey !== undefined) leaf |= BigInt(flags.pkey & 15) << 59n;
    if (leafLevel > 1) leaf |= PTE.PS;
    this.mem.write64(table + ((va >> BigInt(12 + 9 * (leafLevel - 1))) & 511n) * 8n, leaf);
  }

  /** Maps [va, va + len) to [gpa, ...) with pages of `size`. */
  mapRange(va: bigint, gpa: bigint, len: bigint, size: bigint = PAGE_4K, flags: MapFlags = {}): void {
    for (let off = 0n; off < len; off += size) this.map(va + off, gpa + off, size, flags);
  }
}

/** CR0.PE | CR0.ET | CR0.WP | CR0.PG; CR4.PAE; EFER.LME | LMA | NXE. */
const LONG_CR0 = 0x8001_0011n;
const LONG_CR4 = 0x20n;
const LONG_EFER = 0xd00n;

/**
 * The sregs and regs that start a vCPU at `rip`: 64-bit mode over `tables`
 * (CPL 0, flat segments), or flat real mode (CR0.PG = 0, GVA = GPA) without.
 */
export function bootState(rip: bigint, tables?: Pick<GuestPageTables, 'root'>, cr4Extra = 0n): { sregs: Record<string, unknown>; regs: Record<string, bigint> } {
  const seg = (type: number, l: number) => ({
    base: 0n, limit: 0xffff_ffffn, selector: 0n, type: BigInt(type), present: 1n, dpl: 0n,
    db: l ? 0n : 1n, s: 1n, l: BigInt(l), g: 1n, avl: 0n, unusable: 0n, padding: 0n,
  });
  const regs: Record<string, bigint> = Object.fromEntries(
    ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'].map((r) => [r, 0n]),
  );
  regs.rip = rip;
  regs.rflags = 2n;
  if (!tables) {
    const real = (type: number) => ({ ...seg(type, 0), limit: 0xffffn, db: 0n, g: 0n });
    return {
      sregs: { cs: real(11), ds: real(3), es: real(3), fs: real(3), gs: real(3), ss: real(3), cr0: 0x10n, cr3: 0n, cr4: 0n, efer: 0n },
      regs,
    };
  }
  return {
    sregs: {
      cs: seg(11, 1), ds: seg(3, 0), es: seg(3, 0), fs: seg(3, 0), gs: seg(3, 0), ss: seg(3, 0),
      tr: { ...seg(11, 0), s: 0n }, cr0: LONG_CR0, cr3: tables.root, cr4: LONG_CR4 | cr4Extra, efer: LONG_EFER,
    },
    regs,
  };
}
