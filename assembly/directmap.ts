// The host kernel's direct map: the linear mapping of all host RAM, and the
// calls that change it (arch/x86/mm/pat/set_memory.c).
//
// The map is made of real x86-64 paging-structure pages in host frames: one
// PUD-level table (one entry per GiB of RAM), a PMD table for every GiB that
// is not a single 1 GiB leaf, and a PTE table for every 2 MiB region mapped
// with 4 KiB pages. Whether a frame is in the direct map is the present bit of
// the entry that maps it, and nothing else; the region arrays in layout.ts
// only remember which table page split which region, for fast reporting.
//
// What a change costs is the point of this module: splitting a large mapping
// allocates a table page and flushes the TLB of every host CPU; set_memory_np
// and set_memory_p also purge lazy vmap aliases and flush every CPU once more
// at the end; the _noflush forms flush only when they split. Nothing here
// models the contents of the host's TLBs: a flush is counted by reason, kind,
// IPIs sent and instructions executed per CPU.

import {
  DMAP_NOT_SPLIT, FrameKind, Hdr, Lock, PAGE_SHIFT,
  dmap_1g_ptr, dmap_2m_ptr, header_ptr, host_cpus, pfn_to_ptr, ram_frames,
} from './layout';
import { PFN_NONE, frame_alloc, frame_put } from './phys';
import { Stat, stat_add, stat_inc } from './stats';
import { spin_lock, spin_unlock } from './sync';

// Entry bits (Intel SDM vol. 3A, 4.5; Linux's _PAGE_* names).
const _PAGE_PRESENT: u64 = 1 << 0;
const _PAGE_RW: u64 = 1 << 1;
const _PAGE_ACCESSED: u64 = 1 << 5;
const _PAGE_DIRTY: u64 = 1 << 6;
/** PS in a PMD/PUD entry; the same bit is PAT in a 4 KiB PTE. */
const _PAGE_PSE: u64 = 1 << 7;
const _PAGE_PAT: u64 = 1 << 7;
const _PAGE_GLOBAL: u64 = 1 << 8;
/** PAT in a 2 MiB / 1 GiB leaf. */
const _PAGE_PAT_LARGE: u64 = 1 << 12;
const _PAGE_NX: u64 = 1 << 63;

/** Address bits 51:12, 51:21 and 51:30 (__PHYSICAL_MASK_SHIFT is 52). */
const PTE_PFN_MASK: u64 = 0x000ffffffffff000;
const PMD_PAGE_MASK: u64 = 0x000fffffffe00000;
const PUD_PAGE_MASK: u64 = 0x000fffffc0000000;

/** __PAGE_KERNEL: what every direct-map leaf starts with (no PTI, so global). */
const PAGE_KERNEL: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL | _PAGE_NX;
const PAGE_KERNEL_LARGE: u64 = PAGE_KERNEL | _PAGE_PSE;
/** _KERNPG_TABLE: the entry that points at a lower-level table. */
const KERNPG_TABLE: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY;

/** Linux's enum pg_level. */
const PG_LEVEL_4K: u32 = 1;
const PG_LEVEL_2M: u32 = 2;
const PG_LEVEL_1G: u32 = 3;

const PTRS_PER_TABLE: u32 = 512;
const PAGES_PER_2M: u32 = 512;
const PAGES_PER_1G: u32 = 512 * 512;

/**
 * arch/x86/mm/tlb.c: a ranged flush of more pages than this becomes a full
 * flush (the default of the debugfs knob).
 */
export const TLB_SINGLE_PAGE_FLUSH_CEILING: u32 = 33;

const ENOMEM: i32 = -12;
const EFAULT: i32 = -14;
const EINVAL: i32 = -22;

// Per-instance state of the operation in progress (one thread per instance).

/** The entry that lookup_address() found, and its level. */
let g_kpte: usize = 0;
let g_level: u32 = 0;
/** CPA_FLUSHTLB: some entry really changed during this call. */
let g_flushtlb: bool = false;
/**
 * Table pages reserved for the splits of this call, linked through their
 * first word. Reserving them before touching anything is what lets a call
 * that runs out of memory change nothing.
 */
let g_spare_tables: u32 = PFN_NONE;

// ---------------------------------------------------------------------------
// Entry encoding, as arch/x86/include/asm/pgtable.h does it.

/**
 * The address bits of an entry at `level`: a leaf with PS set keeps the low
 * address bits for flags (the large-page PAT bit), anything else is 51:12.
 */
@inline function pfn_mask(e: u64, level: u32): u64 {
  if (level == PG_LEVEL_4K || (e & _PAGE_PSE) == 0) return PTE_PFN_MASK;
  return level == PG_LEVEL_2M ? PMD_PAGE_MASK : PUD_PAGE_MASK;
}

/**
 * The L1TF mitigation: a non-present entry that is not empty stores its
 * address inverted, so a speculative walk that ignores P points at memory
 * that does not exist.
 */
@inline function needs_invert(v: u64): bool {
  return v != 0 && (v & _PAGE_PRESENT) == 0;
}

@inline function entry_pfn(e: u64, level: u32): u32 {
  const v = needs_invert(e) ? ~e : e;
  return <u32>((v & pfn_mask(e, level)) >> PAGE_SHIFT);
}

@inline function entry_flags(e: u64, level: u32): u64 {
  return e & ~pfn_mask(e, level);
}

/** pfn_pte(): the address is inverted when the protections are not present. */
@inline function make_entry(pfn: u32, prot: u64): u64 {
  let addr = <u64>pfn << PAGE_SHIFT;
  if (needs_invert(prot)) addr = ~addr;
  return (addr & PTE_PFN_MASK) | prot;
}

/**
 * For a present entry G means global; for a non-present one the kernel reads
 * it as PROT_NONE, so a page leaving the map also loses G (and does not get
 * it back when it returns: neither set_memory_p nor the _noflush form sets it).
 */
@inline function clear_protnone_bits(prot: u64): u64 {
  return (prot & _PAGE_PRESENT) == 0 ? prot & ~_PAGE_GLOBAL : prot;
}

/** Large-leaf protections to 4 KiB format: PS goes, PAT moves from bit 12 to 7. */
@inline function pgprot_large_2_4k(prot: u64): u64 {
  return (prot & ~(_PAGE_PAT | _PAGE_PAT_LARGE)) | ((prot & _PAGE_PAT_LARGE) >> 5);
}

@inline function pgprot_4k_2_large(prot: u64): u64 {
  return (prot & ~(_PAGE_PAT | _PAGE_PAT_LARGE)) | ((prot & _PAGE_PAT) << 5);
}

/** The protections a large leaf would need after the change (__should_split_large_page). */
@inline function large_req_prot(old_prot: u64, set: u64, clr: u64): u64 {
  let req = (pgprot_large_2_4k(old_prot) & ~clr) | set;
  req = clear_protnone_bits(pgprot_4k_2_large(req));
  if ((req & _PAGE_PRESENT) != 0) req |= _PAGE_PSE;
  return req;
}

@inline function level_pages(level: u32): u32 {
  return level == PG_LEVEL_1G ? PAGES_PER_1G : level == PG_LEVEL_2M ? PAGES_PER_2M : 1;
}

@inline function table_entry_ptr(table_pfn: u32, index: u32): usize {
  return pfn_to_ptr(table_pfn) + (<usize>index << 3);
}

@inline function pud_table_pfn(): u32 {
  return load<u32>(header_ptr() + Hdr.DmapPudPfn);
}

/**
 * lookup_address(): the entry that maps `pfn` and its level into g_kpte and
 * g_level. A non-present entry above 4 KiB ends the walk like a leaf does,
 * because it maps (or rather unmaps) its whole range.
 */
function lookup_address(pfn: u32): void {
  let p = table_entry_ptr(pud_table_pfn(), pfn >> 18);
  let e = atomic.load<u64>(p);
  if ((e & _PAGE_PRESENT) == 0 || (e & _PAGE_PSE) != 0) {
    g_kpte = p;
    g_level = PG_LEVEL_1G;
    return;
  }
  p = table_entry_ptr(entry_pfn(e, PG_LEVEL_1G), (pfn >> 9) & (PTRS_PER_TABLE - 1));
  e = atomic.load<u64>(p);
  if ((e & _PAGE_PRESENT) == 0 || (e & _PAGE_PSE) != 0) {
    g_kpte = p;
    g_level = PG_LEVEL_2M;
    return;
  }
  g_kpte = table_entry_ptr(entry_pfn(e, PG_LEVEL_2M), pfn & (PTRS_PER_TABLE - 1));
  g_level = PG_LEVEL_4K;
}

// ---------------------------------------------------------------------------
// Host TLB flushes. Every kernel-address flush runs on every host CPU: the
// caller flushes locally and interrupts all the others, then waits for them.

function flush_tlb_all(reason: Stat): void {
  const cpus = host_cpus();
  stat_inc(reason);
  stat_inc(Stat.DmapFlushFull);
  stat_add(Stat.DmapIpi, cpus - 1);
  stat_add(Stat.DmapCpuFullFlush, cpus);
}

function flush_tlb_pages(reason: Stat, npages: u32): void {
  const cpus = host_cpus();
  stat_inc(reason);
  stat_inc(Stat.DmapFlushInvlpg);
  stat_add(Stat.DmapIpi, cpus - 1);
  stat_add(Stat.DmapCpuInvlpg, <u64>npages * cpus);
}

/**
 * flush_tlb_kernel_range() over npages pages: one INVLPG per page on every
 * CPU up to the ceiling, a full flush above it. gmemu keeps no host TLB
 * contents, so only the size of the range matters, not where it starts.
 */
export function flush_tlb_kernel_range(pfn: u32, npages: u32): void {
  if (npages > TLB_SINGLE_PAGE_FLUSH_CEILING) flush_tlb_all(Stat.DmapFlushKernelRange);
  else flush_tlb_pages(Stat.DmapFlushKernelRange, npages);
}

/** Records vmap areas freed lazily, which the next vm_unmap_aliases() must purge. */
export function dmap_vmap_lazy_free(areas: u32): void {
  atomic.add<u32>(header_ptr() + Hdr.DmapLazyVmap, areas);
}

/**
 * vm_unmap_aliases(): purges the lazily freed vmap areas, so that no stale
 * alias of a page survives its change. The purge flushes the span from the
 * lowest to the highest purged area; gmemu places no vmalloc addresses, and
 * scattered areas span far more than the ceiling, so it counts a full flush.
 */
function vm_unmap_aliases(): void {
  stat_inc(Stat.DmapVmapPurge);
  if (atomic.xchg<u32>(header_ptr() + Hdr.DmapLazyVmap, 0) != 0) flush_tlb_all(Stat.DmapFlushPurge);
}

// ---------------------------------------------------------------------------
// Splitting large mappings.

/**
 * How many table pages changing [pfn, pfn + npages) will split off: the same
 * decisions as the change itself (keep a large leaf whose protections stay
 * the same, rewrite one the range covers whole, split it otherwise), made
 * without writing anything. Only the partly covered 1 GiB and 2 MiB leaves at
 * the two ends of the range can need a split, so the answer is at most 4.
 */
function split_tables_needed(pfn: u32, npages: u32, set: u64, clr: u64): u32 {
  let need: u32 = 0;
  let pos = pfn;
  const end = pfn + npages;
  while (pos < end) {
    lookup_address(pos);
    const level = g_level;
    if (level == PG_LEVEL_4K) {
      // The rest of this PTE table needs no new table either.
      pos = min(end, (pos | (PAGES_PER_2M - 1)) + 1);
      continue;
    }
    const size = level_pages(level);
    const base = pos & ~(size - 1);
    const run = min(end - pos, base + size - pos);
    const old_prot = entry_flags(atomic.load<u64>(g_kpte), level);
    if (large_req_prot(old_prot, set, clr) != old_prot && run != size) {
      need++;
      if (level == PG_LEVEL_1G) {
        // The 2 MiB leaves the split leaves behind carry the same protections,
        // so each one the run covers only in part is split in turn.
        let p = pos;
        const stop = pos + run;
        while (p < stop) {
          const r = min(stop - p, (p & ~(PAGES_PER_2M - 1)) + PAGES_PER_2M - p);
          if (r != PAGES_PER_2M) need++;
          p += r;
        }
      }
    }
    pos += run;
  }
  return need;
}

/** Drops the reserved table pages this call did not use (after a failure). */
function release_spare_tables(): void {
  while (g_spare_tables != PFN_NONE) {
    const pfn = g_spare_tables;
    g_spare_tables = load<u32>(pfn_to_ptr(pfn));
    frame_put(pfn);
  }
}

/**
 * Reserves every table page the change will need. Returns false, holding
 * nothing, when RAM runs out: the split's alloc_pages() failing with ENOMEM.
 */
function reserve_split_tables(pfn: u32, npages: u32, set: u64, clr: u64): bool {
  const need = split_tables_needed(pfn, npages, set, clr);
  for (let i: u32 = 0; i < need; i++) {
    const t = frame_alloc(FrameKind.PageTable, 0);
    if (t == PFN_NONE) {
      release_spare_tables();
      return false;
    }
    store<u32>(pfn_to_ptr(t), g_spare_tables);
    g_spare_tables = t;
  }
  return true;
}

function take_spare_table(): u32 {
  const pfn = g_spare_tables;
  assert(pfn != PFN_NONE, 'directmap: split without a reserved table page');
  g_spare_tables = load<u32>(pfn_to_ptr(pfn));
  store<u32>(pfn_to_ptr(pfn), 0);
  return pfn;
}

/**
 * __split_large_page(): replaces the large leaf at g_kpte (level g_level,
 * mapping `pfn`) by a table of 512 smaller leaves with the same protections,
 * then flushes every CPU's TLB, because the SDM leaves it undefined which
 * translation a CPU uses while large and small ones with different
 * attributes coexist.
 */
function split_large_page(pfn: u32): void {
  const kpte = g_kpte;
  const level = g_level;
  const old = atomic.load<u64>(kpte);
  const table = take_spare_table();
  let prot = entry_flags(old, level);
  let step: u32;
  if (level == PG_LEVEL_2M) {
    prot = pgprot_large_2_4k(prot);
    step = 1;
    store<u32>(dmap_2m_ptr() + (<usize>(pfn >> 9) << 2), table);
    stat_inc(Stat.DmapSplit2m);
  } else {
    // A non-present PMD must not carry PS, or it would read as a large leaf.
    if ((prot & _PAGE_PRESENT) == 0) prot &= ~_PAGE_PSE;
    step = PAGES_PER_2M;
    store<u32>(dmap_1g_ptr() + (<usize>(pfn >> 18) << 2), table);
    stat_inc(Stat.DmapSplit1g);
  }
  prot = clear_protnone_bits(prot);
  const first = entry_pfn(old, level);
  for (let i: u32 = 0; i < PTRS_PER_TABLE; i++) {
    store<u64>(table_entry_ptr(table, i), make_entry(first + i * step, prot));
  }
  atomic.store<u64>(kpte, make_entry(table, KERNPG_TABLE));
  stat_inc(Stat.DmapPtPage);
  flush_tlb_all(Stat.DmapFlushSplit);
}

// ---------------------------------------------------------------------------
// Changing protections (__change_page_attr_set_clr). Caller holds cpa_lock
// and has reserved the split tables.

@inline function set_entry(kpte: usize, e: u64): void {
  atomic.store<u64>(kpte, e);
  g_flushtlb = true;
  stat_inc(Stat.DmapPteUpdate);
}

/**
 * __change_page_attr(): changes the mapping of `pfn`, or of the run of
 * `remaining` pages from it that one large leaf maps. Returns how many pages
 * it dealt with, or 0 after splitting a large leaf, when the caller must look
 * the page up again one level down.
 */
function change_page_attr(pfn: u32, remaining: u32, set: u64, clr: u64): u32 {
  lookup_address(pfn);
  const old = atomic.load<u64>(g_kpte);
  if (g_level == PG_LEVEL_4K) {
    const prot = clear_protnone_bits((entry_flags(old, PG_LEVEL_4K) & ~clr) | set);
    const e = make_entry(entry_pfn(old, PG_LEVEL_4K), prot);
    if (e != old) set_entry(g_kpte, e);
    return 1;
  }
  const size = level_pages(g_level);
  const base = pfn & ~(size - 1);
  const run = min(remaining, base + size - pfn);
  const old_prot = entry_flags(old, g_level);
  const req = large_req_prot(old_prot, set, clr);
  // The large leaf already has the protections asked for: keep it.
  if (req == old_prot) return run;
  // The change covers the whole leaf: rewrite it in place.
  if (pfn == base && run == size) {
    set_entry(g_kpte, make_entry(entry_pfn(old, g_level), req));
    return run;
  }
  split_large_page(pfn);
  return 0;
}

function change_range(pfn: u32, npages: u32, set: u64, clr: u64): void {
  let pos = pfn;
  let remaining = npages;
  while (remaining != 0) {
    const done = change_page_attr(pos, remaining, set, clr);
    pos += done;
    remaining -= done;
  }
  assert(g_spare_tables == PFN_NONE, 'directmap: a reserved table page was not used');
}

@inline function range_valid(pfn: u32, npages: u32): bool {
  return pfn < ram_frames() && <u64>pfn + npages <= <u64>ram_frames();
}

/**
 * change_page_attr_set_clr(): the set_memory_*() path. It purges vmap
 * aliases, changes the range, and if anything changed flushes every CPU once:
 * INVLPG for each page of the request up to the ceiling, a full flush above.
 * np/p carry no caching-mode bits, so the CLFLUSH pass never runs.
 */
function change_page_attr_set_clr(pfn: u32, npages: u32, set: u64, clr: u64, call: Stat): i32 {
  if (!range_valid(pfn, npages)) return EINVAL;
  spin_lock(Lock.Cpa);
  if (!reserve_split_tables(pfn, npages, set, clr)) {
    spin_unlock(Lock.Cpa);
    return ENOMEM;
  }
  stat_inc(call);
  vm_unmap_aliases();
  g_flushtlb = false;
  change_range(pfn, npages, set, clr);
  spin_unlock(Lock.Cpa);
  if (g_flushtlb) {
    if (npages > TLB_SINGLE_PAGE_FLUSH_CEILING) flush_tlb_all(Stat.DmapFlushCpa);
    else flush_tlb_pages(Stat.DmapFlushCpa, npages);
  }
  return 0;
}

/**
 * __set_pages_np() / __set_pages_p() on one page: no alias purge, no alias
 * processing, no flush. The caller flushes if it needs to.
 */
function set_pages_noflush(pfn: u32, set: u64, clr: u64, call: Stat): i32 {
  if (!range_valid(pfn, 1)) return EINVAL;
  spin_lock(Lock.Cpa);
  if (!reserve_split_tables(pfn, 1, set, clr)) {
    spin_unlock(Lock.Cpa);
    return ENOMEM;
  }
  stat_inc(call);
  change_range(pfn, 1, set, clr);
  spin_unlock(Lock.Cpa);
  return 0;
}

/** Removes the page from the direct map (clears P, RW and D); flushes nothing. */
export function set_direct_map_invalid_noflush(pfn: u32): i32 {
  return set_pages_noflush(pfn, 0, _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY, Stat.DmapInvalidNoflush);
}

/** Puts the page back (sets P and RW); flushes nothing. */
export function set_direct_map_default_noflush(pfn: u32): i32 {
  return set_pages_noflush(pfn, _PAGE_PRESENT | _PAGE_RW, 0, Stat.DmapDefaultNoflush);
}

export function set_memory_np(pfn: u32, npages: u32): i32 {
  return change_page_attr_set_clr(pfn, npages, 0, _PAGE_PRESENT, Stat.DmapSetMemoryNp);
}

export function set_memory_p(pfn: u32, npages: u32): i32 {
  return change_page_attr_set_clr(pfn, npages, _PAGE_PRESENT, 0, Stat.DmapSetMemoryP);
}

// ---------------------------------------------------------------------------
// Reading the map.

export function dmap_present(pfn: u32): bool {
  if (pfn >= ram_frames()) return false;
  lookup_address(pfn);
  return (atomic.load<u64>(g_kpte) & _PAGE_PRESENT) != 0;
}

/** log2 of the size of the mapping that covers the frame (30, 21, 12), 0 outside RAM. */
export function dmap_mapping_shift(pfn: u32): u32 {
  if (pfn >= ram_frames()) return 0;
  lookup_address(pfn);
  return PAGE_SHIFT + 9 * (g_level - 1);
}

/**
 * A kernel access to the frame through its direct-map address: 0, or -14
 * (EFAULT) when the page is not mapped. Whether that becomes an error or a
 * temporary restore is the caller's policy.
 */
export function dmap_kernel_access(pfn: u32): i32 {
  if (pfn >= ram_frames()) return EINVAL;
  lookup_address(pfn);
  if ((atomic.load<u64>(g_kpte) & _PAGE_PRESENT) != 0) return 0;
  stat_inc(Stat.DmapKernelFault);
  return EFAULT;
}

// ---------------------------------------------------------------------------
// Boot: kernel_physical_mapping_init().

/**
 * Builds the map: a 1 GiB leaf for every whole GiB of RAM, 2 MiB leaves for
 * every whole 2 MiB region of the rest, and 4 KiB entries for a last partial
 * 2 MiB region. The tables it allocates are boot tables, not splits. Returns
 * 0, or -12 when RAM cannot hold the tables.
 */
export function dmap_init(): i32 {
  const frames = ram_frames();
  const n1g = load<u32>(header_ptr() + Hdr.Dmap1gCount);
  const n2m = load<u32>(header_ptr() + Hdr.Dmap2mCount);
  for (let i: u32 = 0; i < n1g; i++) store<u32>(dmap_1g_ptr() + (<usize>i << 2), DMAP_NOT_SPLIT);
  for (let i: u32 = 0; i < n2m; i++) store<u32>(dmap_2m_ptr() + (<usize>i << 2), DMAP_NOT_SPLIT);
  const pud = frame_alloc(FrameKind.PageTable, 0);
  if (pud == PFN_NONE) return ENOMEM;
  store<u32>(header_ptr() + Hdr.DmapPudPfn, pud);
  for (let g: u32 = 0; g < n1g; g++) {
    const gbase = g * PAGES_PER_1G;
    if (frames - gbase >= PAGES_PER_1G) {
      store<u64>(table_entry_ptr(pud, g), make_entry(gbase, PAGE_KERNEL_LARGE));
      continue;
    }
    const pmd = frame_alloc(FrameKind.PageTable, 0);
    if (pmd == PFN_NONE) return ENOMEM;
    store<u32>(dmap_1g_ptr() + (<usize>g << 2), pmd);
    for (let m: u32 = 0; gbase + m * PAGES_PER_2M < frames; m++) {
      const mbase = gbase + m * PAGES_PER_2M;
      if (frames - mbase >= PAGES_PER_2M) {
        store<u64>(table_entry_ptr(pmd, m), make_entry(mbase, PAGE_KERNEL_LARGE));
        continue;
      }
      const pte = frame_alloc(FrameKind.PageTable, 0);
      if (pte == PFN_NONE) return ENOMEM;
      store<u32>(dmap_2m_ptr() + (<usize>(mbase >> 9) << 2), pte);
      for (let i: u32 = 0; mbase + i < frames; i++) {
        store<u64>(table_entry_ptr(pte, i), make_entry(mbase + i, PAGE_KERNEL));
      }
      store<u64>(table_entry_ptr(pmd, m), make_entry(pte, KERNPG_TABLE));
    }
    store<u64>(table_entry_ptr(pud, g), make_entry(pmd, KERNPG_TABLE));
  }
  return 0;
}
