// The benchmark's guest: one machine whose host RAM holds a 4-level guest
// page-table tree and its 4-level EPT, built so that a random walk really
// misses the caches, plus two ranges for the translated copy.
//
//   walk range   `walkPages` 4 KiB pages of contiguous GVAs at WALK_BASE. Its
//                guest PTEs point into a pool of `walkDataPages` data pages,
//                so the guest page tables are large (8 bytes per page) while
//                the data stays small.
//   table GPAs   every guest table page and every data page of the pool sits
//                at a random guest-physical page of a sparse window, so EPT
//                needs about one page-table page per guest table: the guest
//                and EPT tables together take about 64 MiB for the full run.
//   copy ranges  COPY_SRC and COPY_DST, `copyBytes` each, contiguous GVAs and
//                GPAs, each page on its own host frame.
//
// The frame allocator is shuffled first, so every table and every data page
// lands on a scattered host frame. All guest entries are built with A (and
// leaves with D) set and every EPT leaf with A/D preset, so no walk writes a
// single entry: the Wasm, native and TypeScript walkers then do exactly the
// same reads on the same image, whatever order they run in.

import { createCore } from '../src/core/wasm.js';
import type { Core } from '../src/core/wasm.js';
import { EFER_LMA, EFER_LME, EFER_NX, X86_CR0_PE, X86_CR0_PG, X86_CR0_WP, X86_CR4_PAE } from '../src/uapi.js';

export interface BenchSizes {
  /** 4 KiB pages of the walk range (its last-level guest tables take 8 bytes per page). */
  walkPages: number;
  /** Distinct data pages the walk range's PTEs point to. */
  walkDataPages: number;
  /** Bytes of each copy range. */
  copyBytes: number;
}

/** The guest's control state, as the walkers need it. */
export interface BenchControl {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  eptp: bigint;
  /** Guest and host MAXPHYADDR. */
  maxPhyAddr: number;
}

export interface BenchVm {
  core: Core;
  vcpu: number;
  control: BenchControl;
  walkBase: bigint;
  walkPages: number;
  copySrc: bigint;
  copyDst: bigint;
  copyBytes: number;
}

/** Canonical, 16 GiB-aligned GVAs well apart from each other. */
export const WALK_BASE = 0x0000_1000_0000_0000n;
export const COPY_SRC = 0x0000_2000_0000_0000n;
/** Guest-physical base of the copy ranges (contiguous), below the table window. */
const COPY_GPA = 0x1_0000_0000n;
/** Guest-physical base of the sparse window holding the table and pool pages. */
const TABLE_GPA = 0x100_0000_0000n;
const MAX_PHY_ADDR = 46;
const OWNER = 1;

const PAGE = 4096;
const GUEST_TABLE = 0x23n; // P | RW | A
const GUEST_LEAF = 0x63; // P | RW | A | D
/** EPT prot for ept_map: RWX, write-back memory type, A and D preset. */
const EPT_PROT = 0x7 | (6 << 3) | (1 << 8) | (1 << 9);

/** xorshift32: the benchmark's one source of "random", reproducible by seed. */
export function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** Guest page-table pages needed to map `pages` contiguous 4 KiB pages (one PDPT each). */
function guestTablesFor(pages: number): number {
  return ceilDiv(pages, 512) + ceilDiv(pages, 512 * 512) + 1;
}

/** An upper bound of the host frames the guest needs, so RAM is sized to fit. */
function framesNeeded(s: BenchSizes): number {
  const copyPages = (2 * s.copyBytes) / PAGE;
  const windowPages = guestTablesFor(s.walkPages) + guestTablesFor(copyPages) + 1 + s.walkDataPages;
  const windowGiB = ceilDiv(windowPages * 512 * PAGE, 1 << 30);
  const eptTables = 2 + windowPages + Math.min(windowPages, windowGiB + 1) + guestTablesFor(copyPages);
  return windowPages + copyPages + eptTables + 256;
}

/** Hands out distinct random guest-physical pages of the sparse table window. */
class WindowGpas {
  private readonly used = new Set<number>();
  private x: number;
  /** One 2 MiB region per page on average, so most pages get their own EPT page table. */
  constructor(private readonly pages: number, seed: number) {
    this.x = seed;
  }
  next(): bigint {
    const span = this.pages * 512;
    for (;;) {
      this.x = xorshift32(this.x);
      const hi = xorshift32(this.x ^ 0x5bd1e995);
      const page = (this.x + hi * 4096) % span;
      if (this.used.has(page)) continue;
      this.used.add(page);
      return TABLE_GPA + BigInt(page) * BigInt(PAGE);
    }
  }
}

export async function buildBenchVm(sizes: BenchSizes, seed: number): Promise<BenchVm> {
  if (sizes.walkPages % 512 !== 0 || sizes.copyBytes % (2 << 20) !== 0) {
    throw new RangeError('bench sizes: walkPages must be a multiple of 512, copyBytes of 2 MiB');
  }
  const core = await createCore({ ramFrames: framesNeeded(sizes), maxVcpus: 1, hostCpus: 2 });
  const x = core.exports;
  x.phys_shuffle(seed);
  const ram = new Uint32Array(core.memory.buffer, x.ram_base(), (x.phys_free_frames() * PAGE) / 4);
  const root = x.ept_root_alloc(OWNER);
  if (root === x.PFN_NONE.value) throw new Error('bench: out of host frames for the EPT root');

  /** A new zeroed guest page at `gpa`, mapped by EPT; returns its host-physical address. */
  const guestPage = (gpa: bigint): number => {
    const pfn = x.frame_alloc(x.FrameKind.GuestMemfd, OWNER);
    if (pfn === x.PFN_NONE.value) throw new Error('bench: out of host frames');
    const r = x.ept_map(root, gpa, BigInt(pfn) * 4096n, 12, EPT_PROT, OWNER);
    if (r !== 0) throw new Error(`bench: ept_map(${gpa.toString(16)}) failed: ${r}`);
    return pfn * PAGE;
  };
  /** Stores one little-endian 64-bit entry into a table at `hpa`. */
  const setEntry = (tableHpa: number, index: number, value: bigint): void => {
    const w = (tableHpa >>> 2) + index * 2;
    ram[w] = Number(value & 0xffff_ffffn);
    ram[w + 1] = Number(value >> 32n);
  };

  const windowPages = guestTablesFor(sizes.walkPages) + guestTablesFor((2 * sizes.copyBytes) / PAGE) + 1 + sizes.walkDataPages;
  const gpas = new WindowGpas(windowPages, seed ^ 0x2545f491);
  /** A new page of the sparse window (a guest table or a pool page). */
  const windowPage = (): { gpa: bigint; hpa: number } => {
    const gpa = gpas.next();
    return { gpa, hpa: guestPage(gpa) };
  };
  const pml4 = windowPage();

  /** Builds the guest tables of `pages` contiguous pages at `base`; `leaf(i)` is page i's GPA. */
  const mapRange = (base: bigint, pages: number, leaf: (i: number) => number): void => {
    const pdpt = windowPage();
    setEntry(pml4.hpa, Number((base >> 39n) & 511n), pdpt.gpa | GUEST_TABLE);
    let pd = pdpt;
    let pt = pdpt;
    for (let i = 0; i < pages; i++) {
      const la = base + BigInt(i) * 4096n;
      if (i % (512 * 512) === 0) {
        pd = windowPage();
        setEntry(pdpt.hpa, Number((la >> 30n) & 511n), pd.gpa | GUEST_TABLE);
      }
      if (i % 512 === 0) {
        pt = windowPage();
        setEntry(pd.hpa, Number((la >> 21n) & 511n), pt.gpa | GUEST_TABLE);
      }
      // The hot loop of the set-up: plain numbers, no bigint per entry.
      const gpa = leaf(i);
      const w = (pt.hpa >>> 2) + (i % 512) * 2;
      ram[w] = ((gpa % 0x1_0000_0000) | GUEST_LEAF) >>> 0;
      ram[w + 1] = Math.floor(gpa / 0x1_0000_0000);
    }
  };

  const pool: number[] = [];
  for (let i = 0; i < sizes.walkDataPages; i++) pool.push(Number(windowPage().gpa));
  // Scatter the pool over the range with a multiplicative hash of the page index.
  mapRange(WALK_BASE, sizes.walkPages, (i) => pool[(Math.imul(i, 0x9e3779b1) >>> 0) % pool.length]);

  const copyPages = sizes.copyBytes / PAGE;
  const copyDst = COPY_SRC + BigInt(sizes.copyBytes);
  for (let i = 0; i < 2 * copyPages; i++) guestPage(COPY_GPA + BigInt(i) * 4096n);
  mapRange(COPY_SRC, 2 * copyPages, (i) => Number(COPY_GPA) + i * PAGE);

  const control: BenchControl = {
    cr0: X86_CR0_PE | X86_CR0_WP | X86_CR0_PG,
    cr3: pml4.gpa,
    cr4: X86_CR4_PAE,
    efer: EFER_LME | EFER_LMA | EFER_NX,
    eptp: x.ept_make_eptp(root, true),
    maxPhyAddr: MAX_PHY_ADDR,
  };
  return { core, vcpu: 0, control, walkBase: WALK_BASE, walkPages: sizes.walkPages, copySrc: COPY_SRC, copyDst, copyBytes: sizes.copyBytes };
}
