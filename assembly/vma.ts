// The VMM process's address space (mm/mmap.c, mm/memory.c, mm/gup.c as KVM
// meets them): its VMAs and its page table, in shared memory so that a
// vCPU's fault path can reach user memory from Wasm, the way KVM's hva path
// does. There is one process per machine.
//
// VMAs are a sorted array of non-overlapping [start, end) records. Mapping
// over existing VMAs replaces what it covers (MAP_FIXED), unmapping and
// mprotect split the VMAs at the edges of their range, and neighbours that
// agree on everything (rights, kind, file and a contiguous page offset) are
// merged back, as vma_merge does. The uAPI layer (src/host) validates
// arguments in Linux's order; the checks here keep the table consistent, and
// every call checks all it needs before it changes anything.
//
// The page table is a radix tree keyed by hva page number (radix.ts); an
// entry is filled on first touch, from a fresh zeroed anonymous frame or from
// the guest_memfd's page cache, and every entry holds one reference on its
// frame: the last reference of an anonymous page, an extra one on a
// guest_memfd page, which the file keeps. A guest_memfd VMA holds a reference
// on its file (gmem_get), as a VMA pins its struct file.
//
// Two ways reach user memory, with Linux's outcomes:
// - vmm_touch, the process's own loads and stores (vmm_fault_in and vmm_copy
//   over a range in one call): SIGSEGV outside any VMA or against its
//   rights; SIGBUS where the fault handler refuses a page (a guest_memfd page
//   that is past EOF or not shared, i.e. the file lacks INIT_SHARED) and on
//   every access to a VM_KVM_PROTECTED range (seed 004's PROT_NONE
//   protection, made at map time or by vma_kvm_protect).
// - gup_pfn, get_user_pages for KVM's hva path: -14 (EFAULT) with no VMA,
//   without the VMA's read or write right, where the fault handler says
//   SIGBUS, for a guest_memfd whose pages left the direct map (the
//   NO_DIRECT_MAP series refuses GUP), and for VM_KVM_PROTECTED memory unless
//   the caller passes FOLL_KVM.
//
// Locking: Lock.Mm (mmap_lock) serialises everything here, the lookups of the
// fault path included, because a radix node freed by an unmap must never be
// read (radix.ts has no RCU). Lock order: Lock.Mm, then Lock.Gmem.

import {
  FrameKind, Lock, MmRec, PAGE_SHIFT, PAGE_SIZE, VMA_BYTES, VMA_MAX, VMM_IO_BYTES, VmaRec,
  mm_ptr, pfn_to_ptr, vma_ptr, vmm_io_ptr,
} from './layout';
import { PFN_NONE, frame_alloc, frame_get, frame_put } from './phys';
import { RADIX_NONE, radix_create, radix_erase, radix_lookup, radix_next, radix_store } from './radix';
import {
  GUEST_MEMFD_FLAG_INIT_SHARED, GUEST_MEMFD_FLAG_NO_DIRECT_MAP,
  gmem_flags, gmem_get, gmem_get_pfn, gmem_pfn, gmem_put, gmem_size,
} from './gmem';
import {
  HPAGE_FRAMES, HPAGE_SHIFT, hugetlb_alloc, hugetlb_free_pages, hugetlb_is_head, hugetlb_put, hugetlb_reserve, hugetlb_resv_pages,
  hugetlb_unreserve,
} from './hugetlb';
import { Stat, stat_inc } from './stats';
import { spin_lock, spin_unlock } from './sync';

/** What backs a VMA. */
export enum VmaKind {
  /** Private anonymous memory: zeroed pages on first touch. */
  Anon = 0,
  /** A MAP_SHARED mapping of a guest_memfd: pages from its page cache. */
  GuestMemfd = 1,
  /**
   * Anonymous memory marked VM_KVM_PROTECTED (seed 004): the process's own
   * accesses raise SIGBUS, GUP fails unless FOLL_KVM is passed; the VMA's
   * rights are what FOLL_KVM may use.
   */
  KvmProtected = 2,
  /**
   * Anonymous memory from the hugetlb pool (MAP_HUGETLB): 2 MiB pages,
   * reserved at mmap, taken whole on first touch (hugetlb.ts). Its start,
   * end and every split are 2 MiB-aligned.
   */
  Hugetlb = 3,
}

// PROT_* as in the uAPI.
const PROT_READ: u32 = 0x1;
const PROT_WRITE: u32 = 0x2;
const PROT_EXEC: u32 = 0x4;

/** gup_pfn flag: KVM may reach VM_KVM_PROTECTED memory (seed 004). */
export const FOLL_KVM: u32 = 1 << 0;

/** vmm_touch outcomes beyond 0 and -errno: the signal the access raises. */
export const FAULT_SIGBUS: i32 = -1000;
export const FAULT_SIGSEGV: i32 = -1001;

/** Frame owner of the process's anonymous pages and page-table nodes ("mm"). */
export const VMM_OWNER: u32 = 0x6d6d0000;

/** End of x86-64 user space with 4-level paging (TASK_SIZE_MAX). */
export const TASK_SIZE: u64 = (<u64>1 << 47) - PAGE_SIZE;

const EBADF: i32 = -9;
const ENOMEM: i32 = -12;
const EACCES: i32 = -13;
const EFAULT: i32 = -14;
const EINVAL: i32 = -22;

/** A page-table entry: the page's HPA with bit 0 set, so pfn 0 is not "empty". */
const PTE_PRESENT: u64 = 1;
/**
 * Bit 1: a 4 KiB piece of a hugetlb page. Such entries hold no frame
 * reference: the page is the pool's, and goes back to it with its first piece.
 */
const PTE_HUGETLB: u64 = 2;
const HPAGE_MASK: u64 = (<u64>1 << HPAGE_SHIFT) - 1;

/** The frame the last successful vmm_touch or gup_pfn of this instance reached. */
let g_pfn: u32 = PFN_NONE;
/** The first byte a failed vmm_fault_in or vmm_copy of this instance could not reach. */
let g_fault_hva: u64 = 0;

@inline function count(): u32 {
  return load<u32>(mm_ptr() + MmRec.VmaCount);
}

@inline function set_count(n: u32): void {
  store<u32>(mm_ptr() + MmRec.VmaCount, n);
}

@inline function v_start(i: u32): u64 { return load<u64>(vma_ptr(i) + VmaRec.Start); }
@inline function v_end(i: u32): u64 { return load<u64>(vma_ptr(i) + VmaRec.End); }
@inline function v_pgoff(i: u32): u64 { return load<u64>(vma_ptr(i) + VmaRec.Pgoff); }
@inline function v_prot(i: u32): u32 { return load<u32>(vma_ptr(i) + VmaRec.Prot); }
@inline function v_kind(i: u32): u32 { return load<u32>(vma_ptr(i) + VmaRec.Kind); }
@inline function v_file(i: u32): i32 { return load<i32>(vma_ptr(i) + VmaRec.File); }

/** Index of the first VMA that ends after `addr` (count() if none). */
function first_ending_after(addr: u64): u32 {
  let lo: u32 = 0;
  let hi = count();
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v_end(mid) <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

@inline function find(hva: u64): i32 {
  const i = first_ending_after(hva);
  return i < count() && v_start(i) <= hva ? <i32>i : -1;
}

/** Opens a gap of one record at `i`. */
function open_gap(i: u32): void {
  const n = count();
  memory.copy(vma_ptr(i + 1), vma_ptr(i), <usize>(n - i) * VMA_BYTES);
  set_count(n + 1);
}

/** Removes records [i, j). */
function close_gap(i: u32, j: u32): void {
  const n = count();
  memory.copy(vma_ptr(i), vma_ptr(j), <usize>(n - j) * VMA_BYTES);
  set_count(n - (j - i));
}

/** Drops the file reference a guest_memfd VMA holds. */
@inline function vma_release(i: u32): void {
  if (v_kind(i) == VmaKind.GuestMemfd) gmem_put(<u32>v_file(i));
}

/** Writes VMA `i`, in a gap opened for it. */
function vma_write(i: u32, start: u64, end: u64, prot: u32, kind: u32, file: i32, pgoff: u64): void {
  const p = vma_ptr(i);
  store<u64>(p + VmaRec.Start, start);
  store<u64>(p + VmaRec.End, end);
  store<u64>(p + VmaRec.Pgoff, pgoff);
  store<u32>(p + VmaRec.Prot, prot);
  store<u32>(p + VmaRec.Kind, kind);
  store<i32>(p + VmaRec.File, file);
}

/** Moves the start of VMA `i` up to `addr`, keeping each page's file offset. */
function trim_front(i: u32, addr: u64): void {
  const p = vma_ptr(i);
  store<u64>(p + VmaRec.Pgoff, v_pgoff(i) + ((addr - v_start(i)) >> PAGE_SHIFT));
  store<u64>(p + VmaRec.Start, addr);
}

/** Splits VMA `i` at `addr` (strictly inside it); the new VMA takes a file reference of its own. */
function split(i: u32, addr: u64): void {
  open_gap(i + 1);
  memory.copy(vma_ptr(i + 1), vma_ptr(i), VMA_BYTES);
  trim_front(i + 1, addr);
  store<u64>(vma_ptr(i) + VmaRec.End, addr);
  if (v_kind(i) == VmaKind.GuestMemfd) gmem_get(<u32>v_file(i));
}

/** True when `addr` falls strictly inside a VMA, so that a change starting or ending there splits it. */
@inline function splits_at(addr: u64): bool {
  const i = find(addr);
  return i >= 0 && v_start(<u32>i) < addr;
}

/** How many records clearing [start, end) adds (+1) or removes (-k). */
function clear_growth(start: u64, end: u64): i32 {
  const i = first_ending_after(start);
  if (i < count() && v_start(i) < start && v_end(i) > end) return 1;
  let covered: i32 = 0;
  for (let j = i; j < count() && v_start(j) < end; j++) {
    if (v_start(j) >= start && v_end(j) <= end) covered++;
  }
  return -covered;
}

/** VMAs `i - 1` and `i` touch and agree on everything, file offsets included. */
function mergeable(i: u32): bool {
  const a = i - 1;
  return v_end(a) == v_start(i) && v_prot(a) == v_prot(i) && v_kind(a) == v_kind(i) && v_file(a) == v_file(i)
    && v_pgoff(a) + ((v_end(a) - v_start(a)) >> PAGE_SHIFT) == v_pgoff(i);
}

/** Merges every mergeable pair among VMAs [lo, hi] (clamped to the table). */
function merge_range(lo: u32, hi: u32): void {
  let k = hi < count() ? hi : count() - 1;
  for (; k > lo && k > 0; k--) {
    if (!mergeable(k)) continue;
    store<u64>(vma_ptr(k - 1) + VmaRec.End, v_end(k));
    vma_release(k);
    close_gap(k, k + 1);
  }
}

// The page table.

@inline function pt_root(): u32 {
  return load<u32>(mm_ptr() + MmRec.PageTableRoot);
}

@inline function has_page_table(): bool {
  return load<u32>(mm_ptr() + MmRec.HasPageTable) != 0;
}

@inline function add_rss(delta: i64): void {
  const p = mm_ptr() + MmRec.Rss;
  store<u64>(p, load<u64>(p) + delta);
}

/** Drops the page-table entries of [start, end) and their frame references. Returns how many. */
function zap_range(start: u64, end: u64): u64 {
  if (!has_page_table()) return 0;
  const root = pt_root();
  const last = end >> PAGE_SHIFT;
  let dropped: u64 = 0;
  for (let pg = radix_next(root, start >> PAGE_SHIFT, last); pg != RADIX_NONE; pg = radix_next(root, pg + 1, last)) {
    const pte = radix_erase(root, pg);
    const pfn = <u32>(pte >> PAGE_SHIFT);
    if ((pte & PTE_HUGETLB) == 0) frame_put(pfn);
    else if (hugetlb_is_head(pfn)) hugetlb_put(pfn);
    dropped++;
  }
  add_rss(-(<i64>dropped));
  return dropped;
}

/** Reservations of the hugetlb VMAs' 2 MiB pages in [start, end) that were never faulted in. */
function unused_hugetlb_reservations(start: u64, end: u64): u64 {
  let n: u64 = 0;
  for (let i = first_ending_after(start); i < count() && v_start(i) < end; i++) {
    if (v_kind(i) != VmaKind.Hugetlb) continue;
    const lo = v_start(i) > start ? v_start(i) : start;
    const hi = v_end(i) < end ? v_end(i) : end;
    for (let a = lo; a < hi; a += HPAGE_MASK + 1) {
      if (!has_page_table() || radix_lookup(pt_root(), a >> PAGE_SHIFT) == 0) n++;
    }
  }
  return n;
}

/** Removes every VMA in [start, end), splitting or trimming those that cross its edges. */
function clear_range(start: u64, end: u64): void {
  hugetlb_unreserve(unused_hugetlb_reservations(start, end));
  zap_range(start, end);
  let i = first_ending_after(start);
  if (i < count() && v_start(i) < start) {
    if (v_end(i) > end) {
      split(i, end);
      store<u64>(vma_ptr(i) + VmaRec.End, start);
      return;
    }
    store<u64>(vma_ptr(i) + VmaRec.End, start);
    i++;
  }
  let j = i;
  while (j < count() && v_end(j) <= end) vma_release(j++);
  close_gap(i, j);
  if (i < count() && v_start(i) < end) trim_front(i, end);
}

/**
 * Fills the page-table entry of `hva` in VMA `i` if it is empty (the page
 * fault handler). Returns 0 with the frame in g_pfn, FAULT_SIGBUS, or -12.
 */
function fault_in(i: u32, hva: u64): i32 {
  const page = hva >> PAGE_SHIFT;
  if (has_page_table()) {
    const pte = radix_lookup(pt_root(), page);
    if (pte != 0) {
      g_pfn = <u32>(pte >> PAGE_SHIFT);
      return 0;
    }
  } else {
    const root = radix_create(VMM_OWNER);
    if (root == PFN_NONE) return ENOMEM;
    store<u32>(mm_ptr() + MmRec.PageTableRoot, root);
    store<u32>(mm_ptr() + MmRec.HasPageTable, 1);
  }
  if (v_kind(i) == VmaKind.Hugetlb) return fault_in_huge(hva);
  let pfn: u32;
  if (v_kind(i) == VmaKind.GuestMemfd) {
    // kvm_gmem_fault_user_mapping: only shared pages inside i_size.
    const file = <u32>v_file(i);
    const pgoff = v_pgoff(i) + ((hva - v_start(i)) >> PAGE_SHIFT);
    if (pgoff >= gmem_size(file) >> PAGE_SHIFT || (gmem_flags(file) & GUEST_MEMFD_FLAG_INIT_SHARED) == 0) {
      return FAULT_SIGBUS;
    }
    const r = gmem_get_pfn(file, pgoff);
    if (r != 0) return r == ENOMEM ? ENOMEM : FAULT_SIGBUS;
    pfn = gmem_pfn();
    frame_get(pfn);
  } else {
    pfn = frame_alloc(FrameKind.Anon, VMM_OWNER);
    if (pfn == PFN_NONE) return ENOMEM;
  }
  if (radix_store(pt_root(), page, (<u64>pfn << PAGE_SHIFT) | PTE_PRESENT, VMM_OWNER) != 0) {
    frame_put(pfn);
    return ENOMEM;
  }
  add_rss(1);
  stat_inc(Stat.VmmPageFault);
  g_pfn = pfn;
  return 0;
}

/**
 * hugetlb_fault: the 2 MiB page around `hva`, from the mapping's reservation,
 * entered as its 512 pieces. Returns 0 with the piece of `hva` in g_pfn,
 * FAULT_SIGBUS when no reserved page is left, or -12 (ENOMEM).
 */
function fault_in_huge(hva: u64): i32 {
  const head = hugetlb_alloc(VMM_OWNER);
  if (head == PFN_NONE) return FAULT_SIGBUS;
  const first = (hva & ~HPAGE_MASK) >> PAGE_SHIFT;
  const root = pt_root();
  for (let k: u32 = 0; k < HPAGE_FRAMES; k++) {
    const pte = (<u64>(head + k) << PAGE_SHIFT) | PTE_PRESENT | PTE_HUGETLB;
    if (radix_store(root, first + k, pte, VMM_OWNER) != 0) {
      for (let j: u32 = 0; j < k; j++) radix_erase(root, first + j);
      hugetlb_put(head);
      hugetlb_reserve(1);
      return ENOMEM;
    }
  }
  add_rss(HPAGE_FRAMES);
  stat_inc(Stat.VmmPageFault);
  g_pfn = head + <u32>((hva & HPAGE_MASK) >> PAGE_SHIFT);
  return 0;
}

/**
 * False when [start, end) would split a hugetlb VMA at an address that is not
 * 2 MiB-aligned (hugetlb_split's EINVAL). Called with or without Lock.Mm by
 * the one thread that changes the VMAs.
 */
function huge_splits_ok(start: u64, end: u64): bool {
  const a = find(start);
  if (a >= 0 && v_kind(<u32>a) == VmaKind.Hugetlb && (start & HPAGE_MASK) != 0) return false;
  const b = find(end);
  return !(b >= 0 && v_kind(<u32>b) == VmaKind.Hugetlb && v_start(<u32>b) < end && (end & HPAGE_MASK) != 0);
}

/** Page-aligned, non-empty, inside user space. */
@inline function range_ok(start: u64, len: u64): bool {
  return ((start | len) & (PAGE_SIZE - 1)) == 0 && len != 0 && start < TASK_SIZE && len <= TASK_SIZE - start;
}

/**
 * mmap(MAP_FIXED): maps [start, start + len) with PROT_* `prot`, replacing
 * (and unmapping the pages of) whatever was there. `file` and `pgoff` (in
 * pages) matter for VmaKind.GuestMemfd only; the VMA takes a reference on the
 * file. Returns 0; -22 (EINVAL) for a range that is unaligned, empty or
 * outside user space, or an unknown kind, a hugetlb range not 2 MiB-aligned,
 * or one that would split a hugetlb VMA off its 2 MiB boundaries; -9 (EBADF)
 * when the file does not exist; -12 (ENOMEM) when the VMA table would
 * overflow or the hugetlb pool cannot reserve the mapping's pages.
 */
export function vma_map(start: u64, len: u64, prot: u32, kind: u32, file: i32, pgoff: u64): i32 {
  if (!range_ok(start, len) || kind > <u32>VmaKind.Hugetlb) return EINVAL;
  const huge = kind == VmaKind.Hugetlb;
  if (huge && ((start | len) & HPAGE_MASK) != 0) return EINVAL;
  if (!huge_splits_ok(start, start + len)) return EINVAL;
  if (kind == VmaKind.GuestMemfd) {
    if (file < 0 || gmem_get(<u32>file) != 0) return EBADF;
  } else {
    // Anonymous VMAs number their pages by address, as Linux does, so that
    // neighbours merge on the same rule as file mappings.
    file = -1;
    pgoff = start >> PAGE_SHIFT;
  }
  // hugetlb_reserve_pages, before the old mappings go (hugetlb_file_setup).
  if (huge && !hugetlb_reserve(len >> HPAGE_SHIFT)) return ENOMEM;
  const end = start + len;
  spin_lock(Lock.Mm);
  if (<i32>count() + clear_growth(start, end) + 1 > <i32>VMA_MAX) {
    spin_unlock(Lock.Mm);
    if (kind == VmaKind.GuestMemfd) gmem_put(<u32>file);
    if (huge) hugetlb_unreserve(len >> HPAGE_SHIFT);
    return ENOMEM;
  }
  clear_range(start, end);
  const i = first_ending_after(start);
  open_gap(i);
  vma_write(i, start, end, prot, kind, file, pgoff);
  merge_range(i > 0 ? i - 1 : 0, i + 1);
  spin_unlock(Lock.Mm);
  return 0;
}

/**
 * vma_map's checks that come before any mapping goes, as vma_unmap_check:
 * the range, the kind, hugetlb alignment and splits, the pool's room for the
 * reservation, the VMA table's room. (A missing file is EBADF at the map.)
 */
export function vma_map_check(start: u64, len: u64, kind: u32): i32 {
  if (!range_ok(start, len) || kind > <u32>VmaKind.Hugetlb) return EINVAL;
  const huge = kind == VmaKind.Hugetlb;
  if (huge && ((start | len) & HPAGE_MASK) != 0) return EINVAL;
  if (!huge_splits_ok(start, start + len)) return EINVAL;
  if (huge && <u64>(hugetlb_free_pages() - hugetlb_resv_pages()) < len >> HPAGE_SHIFT) return ENOMEM;
  spin_lock(Lock.Mm);
  const r = <i32>count() + clear_growth(start, start + len) + 1 > <i32>VMA_MAX ? ENOMEM : 0;
  spin_unlock(Lock.Mm);
  return r;
}

/**
 * munmap: removes [start, start + len) from the address space and frees its
 * anonymous pages. A range with no VMA in it is fine. Returns 0; -22 (EINVAL)
 * for an unaligned, empty or out-of-range request, or one that would split a
 * hugetlb VMA off its 2 MiB boundaries; -12 (ENOMEM) when splitting a VMA in
 * two would overflow the table.
 */
export function vma_unmap(start: u64, len: u64): i32 {
  const r = vma_unmap_check(start, len);
  if (r != 0) return r;
  spin_lock(Lock.Mm);
  clear_range(start, start + len);
  spin_unlock(Lock.Mm);
  return 0;
}

/**
 * vma_unmap's checks without the change: its errno, or 0 when it would
 * succeed. The caller that changes the VMAs next (the mmu notifier's, which
 * must not invalidate for a failing munmap) is the only thread that changes them.
 */
export function vma_unmap_check(start: u64, len: u64): i32 {
  if (!range_ok(start, len) || !huge_splits_ok(start, start + len)) return EINVAL;
  spin_lock(Lock.Mm);
  const r = <i32>count() + clear_growth(start, start + len) > <i32>VMA_MAX ? ENOMEM : 0;
  spin_unlock(Lock.Mm);
  return r;
}

/**
 * 0 when every page of [start, end) is mapped and splitting the VMAs at both
 * edges fits in the table; -12 (ENOMEM) otherwise, as mprotect answers.
 */
function check_mapped(start: u64, end: u64): i32 {
  let at = start;
  for (let i = first_ending_after(start); at < end; i++) {
    if (i >= count() || v_start(i) > at) return ENOMEM;
    at = v_end(i);
  }
  const splits: u32 = (splits_at(start) ? 1 : 0) + (splits_at(end) ? 1 : 0);
  return count() + splits > VMA_MAX ? ENOMEM : 0;
}

/** Index of the last VMA that isolate() left inside its range. */
let g_isolated_last: u32 = 0;

/**
 * Splits the VMAs at both edges of the mapped range [start, end), so that
 * whole VMAs cover it. Returns the first one's index (the last one's is in
 * g_isolated_last). check_mapped has passed.
 */
function isolate(start: u64, end: u64): u32 {
  let first = first_ending_after(start);
  if (v_start(first) < start) split(first++, start);
  const last = first_ending_after(end - 1);
  if (v_end(last) > end) split(last, end);
  g_isolated_last = last;
  return first;
}

/**
 * mprotect: sets PROT_* `prot` on [start, start + len). Returns 0; -22
 * (EINVAL) for an unaligned or out-of-range request, or one that would split
 * a hugetlb VMA off its 2 MiB boundaries; -12 (ENOMEM) when part
 * of the range is not mapped or the splits would overflow the table; -13
 * (EACCES) for PROT_EXEC on a guest_memfd mapping (its file system is
 * noexec). Nothing changes on an error.
 */
export function vma_protect(start: u64, len: u64, prot: u32): i32 {
  const err = vma_protect_check(start, len, prot);
  if (err != 0) return err;
  const end = start + len;
  spin_lock(Lock.Mm);
  const first = isolate(start, end);
  const last = g_isolated_last;
  for (let k = first; k <= last; k++) store<u32>(vma_ptr(k) + VmaRec.Prot, prot);
  merge_range(first > 0 ? first - 1 : 0, last + 1);
  spin_unlock(Lock.Mm);
  return 0;
}

/** vma_protect's checks without the change, as vma_unmap_check. */
export function vma_protect_check(start: u64, len: u64, prot: u32): i32 {
  if (!range_ok(start, len) || !huge_splits_ok(start, start + len)) return EINVAL;
  const end = start + len;
  spin_lock(Lock.Mm);
  let err = check_mapped(start, end);
  if (err == 0 && (prot & PROT_EXEC) != 0) {
    for (let i = first_ending_after(start); i < count() && v_start(i) < end; i++) {
      if (v_kind(i) == VmaKind.GuestMemfd) err = EACCES;
    }
  }
  spin_unlock(Lock.Mm);
  return err;
}

/**
 * Seed 004's conversion: KVM marks the anonymous memory behind a memslot
 * VM_KVM_PROTECTED when the guest asks for protected memory. The pages stay
 * where they are; from then on the process's own accesses raise SIGBUS and
 * GUP needs FOLL_KVM. Returns 0; -22 (EINVAL) for a bad range or one that
 * holds a guest_memfd or hugetlb mapping; -12 (ENOMEM) as vma_protect.
 * Nothing changes on an error.
 */
export function vma_kvm_protect(start: u64, len: u64): i32 {
  if (!range_ok(start, len)) return EINVAL;
  const end = start + len;
  spin_lock(Lock.Mm);
  let err = check_mapped(start, end);
  for (let i = first_ending_after(start); err == 0 && i < count() && v_start(i) < end; i++) {
    if (v_kind(i) == VmaKind.GuestMemfd || v_kind(i) == VmaKind.Hugetlb) err = EINVAL;
  }
  if (err != 0) {
    spin_unlock(Lock.Mm);
    return err;
  }
  const first = isolate(start, end);
  const last = g_isolated_last;
  for (let k = first; k <= last; k++) store<u32>(vma_ptr(k) + VmaRec.Kind, VmaKind.KvmProtected);
  merge_range(first > 0 ? first - 1 : 0, last + 1);
  spin_unlock(Lock.Mm);
  return 0;
}

/**
 * Drops the VMM's page-table entries for pages [pgoff, pgoff + npages) of
 * guest_memfd `file` in every mapping of it (unmap_mapping_range), before a
 * punched hole frees the pages. Returns the number of entries dropped.
 */
export function vma_zap_file(file: i32, pgoff: u64, npages: u64): u64 {
  spin_lock(Lock.Mm);
  let dropped: u64 = 0;
  const last = pgoff + npages;
  for (let i: u32 = 0; i < count(); i++) {
    if (v_kind(i) != VmaKind.GuestMemfd || v_file(i) != file) continue;
    const first = v_pgoff(i);
    const end = first + ((v_end(i) - v_start(i)) >> PAGE_SHIFT);
    const lo = pgoff > first ? pgoff : first;
    const hi = last < end ? last : end;
    if (lo < hi) dropped += zap_range(v_start(i) + ((lo - first) << PAGE_SHIFT), v_start(i) + ((hi - first) << PAGE_SHIFT));
  }
  spin_unlock(Lock.Mm);
  return dropped;
}

/** The process's own access to `hva` (see vmm_touch). Lock.Mm held. */
function touch_locked(hva: u64, write: bool): i32 {
  const i = find(hva);
  if (i < 0) return FAULT_SIGSEGV;
  if (v_kind(<u32>i) == VmaKind.KvmProtected) return FAULT_SIGBUS;
  if ((v_prot(<u32>i) & (write ? PROT_WRITE : PROT_READ | PROT_WRITE | PROT_EXEC)) == 0) return FAULT_SIGSEGV;
  return fault_in(<u32>i, hva);
}

@inline function count_signal(r: i32): void {
  if (r == FAULT_SIGSEGV) stat_inc(Stat.VmmSigsegv);
  else if (r == FAULT_SIGBUS) stat_inc(Stat.VmmSigbus);
}

/**
 * Touches every page of [hva, hva + len) in address order, stopping at the
 * first that faults, whose first byte goes to g_fault_hva. Lock.Mm held.
 */
function touch_range_locked(hva: u64, len: u64, write: bool): i32 {
  if (len == 0) return 0;
  let last = hva + (len - 1);
  // A range that wraps runs into the end of user space first.
  if (last < hva) last = U64.MAX_VALUE;
  let page = hva & ~(<u64>PAGE_SIZE - 1);
  for (;;) {
    const r = page < TASK_SIZE ? touch_locked(page, write) : FAULT_SIGSEGV;
    if (r != 0) {
      g_fault_hva = page > hva ? page : hva;
      return r;
    }
    if (last - page < PAGE_SIZE) break;
    page += PAGE_SIZE;
  }
  return 0;
}

/**
 * The VMM's own load (write = false) or store at `hva`: faults the page in on
 * first touch. Returns 0 with the frame in vma_pfn(); FAULT_SIGSEGV with no
 * VMA or without the right (on x86 every mapping that is not PROT_NONE can be
 * read); FAULT_SIGBUS for a VM_KVM_PROTECTED range or a guest_memfd page that
 * the file does not let the host map; -12 (ENOMEM) when RAM runs out.
 */
export function vmm_touch(hva: u64, write: bool): i32 {
  spin_lock(Lock.Mm);
  const r = touch_locked(hva, write);
  spin_unlock(Lock.Mm);
  count_signal(r);
  return r;
}

/**
 * Touches every page of [hva, hva + len) as vmm_touch does, in one call.
 * Returns 0, or the first page's outcome that is not 0, with the first byte
 * that faulted in vmm_fault_hva(); the pages before it stay faulted in, as in
 * Linux. A VMM copy checks its whole range with this before it moves a byte.
 */
export function vmm_fault_in(hva: u64, len: u64, write: bool): i32 {
  spin_lock(Lock.Mm);
  const r = touch_range_locked(hva, len, write);
  spin_unlock(Lock.Mm);
  count_signal(r);
  return r;
}

/**
 * The VMM's own copy between [hva, hva + len) and the start of the I/O
 * buffer (vmm_io_buffer()): a store of the buffer's bytes when `write`, a
 * load into it otherwise. Every page is touched before a byte moves, so a
 * copy that faults moves nothing. Returns 0; the outcomes of vmm_fault_in;
 * -22 (EINVAL) when len exceeds VMM_IO_BYTES.
 */
export function vmm_copy(hva: u64, len: u32, write: bool): i32 {
  if (len > VMM_IO_BYTES) return EINVAL;
  spin_lock(Lock.Mm);
  const r = touch_range_locked(hva, len, write);
  if (r == 0) {
    const root = pt_root();
    let done: u32 = 0;
    while (done < len) {
      const at = hva + done;
      const off = <u32>(at & (PAGE_SIZE - 1));
      const n = min(PAGE_SIZE - off, len - done);
      const frame = pfn_to_ptr(<u32>(radix_lookup(root, at >> PAGE_SHIFT) >> PAGE_SHIFT)) + off;
      const buf = vmm_io_ptr() + done;
      if (write) memory.copy(frame, buf, n);
      else memory.copy(buf, frame, n);
      done += n;
    }
  }
  spin_unlock(Lock.Mm);
  count_signal(r);
  return r;
}

/** Where the host thread stages the bytes of vmm_copy (VMM_IO_BYTES of them). */
export function vmm_io_buffer(): usize {
  return vmm_io_ptr();
}

/** The first byte that this instance's last failed vmm_fault_in or vmm_copy could not reach. */
export function vmm_fault_hva(): u64 {
  return g_fault_hva;
}

/**
 * get_user_pages of the page at `hva`, as KVM's hva path calls it (FOLL_WRITE
 * when `write`; FOLL_KVM in `foll_flags`): faults the page in and takes a
 * reference on its frame for the caller, who drops it with frame_put once
 * done, as KVM releases the page after mapping it. Returns 0 with the frame
 * in vma_pfn(); -14 (EFAULT) where GUP refuses (see the file comment); -12
 * (ENOMEM) when RAM runs out.
 */
export function gup_pfn(hva: u64, write: bool, foll_flags: u32): i32 {
  spin_lock(Lock.Mm);
  const i = find(hva);
  let r: i32 = EFAULT;
  if (i >= 0) {
    const kind = v_kind(<u32>i);
    const prot = v_prot(<u32>i);
    // check_vma_flags: the VMA's own rights, with no FOLL_FORCE to widen them.
    const allowed = (prot & (write ? PROT_WRITE : PROT_READ)) != 0
      && (kind != VmaKind.KvmProtected || (foll_flags & FOLL_KVM) != 0)
      && (kind != VmaKind.GuestMemfd || (gmem_flags(<u32>v_file(<u32>i)) & GUEST_MEMFD_FLAG_NO_DIRECT_MAP) == 0);
    if (allowed) {
      r = fault_in(<u32>i, hva);
      // A fault handler's SIGBUS is EFAULT to GUP (vm_fault_to_errno).
      if (r == FAULT_SIGBUS) r = EFAULT;
      if (r == 0) frame_get(g_pfn);
    }
  }
  spin_unlock(Lock.Mm);
  if (r == 0) stat_inc(Stat.GupPage);
  else if (r == EFAULT) stat_inc(Stat.GupFault);
  return r;
}

/** The frame reached by this instance's last successful vmm_touch or gup_pfn. */
export function vma_pfn(): u32 {
  return g_pfn;
}

/** Index of the VMA that holds `hva`, or -1. */
export function vma_find(hva: u64): i32 {
  spin_lock(Lock.Mm);
  const i = find(hva);
  spin_unlock(Lock.Mm);
  return i;
}

/** VMAs in the process. */
export function vma_count(): u32 {
  return count();
}

// Fields of VMA `i` (in address order).

export function vma_start(i: u32): u64 { return v_start(i % VMA_MAX); }
export function vma_end(i: u32): u64 { return v_end(i % VMA_MAX); }
export function vma_prot(i: u32): u32 { return v_prot(i % VMA_MAX); }
export function vma_kind(i: u32): u32 { return v_kind(i % VMA_MAX); }
/** The guest_memfd file mapped by VMA `i`, or -1. */
export function vma_file(i: u32): i32 { return v_file(i % VMA_MAX); }
/** File page offset of VMA `i`'s start (its address in pages for anonymous memory). */
export function vma_pgoff(i: u32): u64 { return v_pgoff(i % VMA_MAX); }

/** Pages the process's page table maps (its RSS). */
export function mm_rss(): u64 {
  return load<u64>(mm_ptr() + MmRec.Rss);
}

/** The frame that `hva` maps in the process's page table, or PFN_NONE; never faults. */
export function mm_lookup_pfn(hva: u64): u32 {
  spin_lock(Lock.Mm);
  let pfn = PFN_NONE;
  if (has_page_table() && hva < TASK_SIZE) {
    const pte = radix_lookup(pt_root(), hva >> PAGE_SHIFT);
    if (pte != 0) pfn = <u32>(pte >> PAGE_SHIFT);
  }
  spin_unlock(Lock.Mm);
  return pfn;
}
