// The KVM MMU's invalidations (virt/kvm/kvm_main.c, arch/x86/kvm/mmu): the
// mmu_lock, the mmu_invalidate_seq / in_progress / range protocol that lets a
// fault resolve a page without the lock and then notice that the page was
// taken away meanwhile, and every path that takes mappings away from a VM's
// EPT.
//
// Each zap follows Linux's order:
//   1. under mmu_lock: kvm_mmu_invalidate_begin (in_progress++) and the range;
//   2. zap the range's EPT leaves;
//   3. kvm_flush_remote_tlbs, still under mmu_lock: every vCPU of the VM
//      flushes before it runs guest code again, and the running ones have
//      left guest mode when it returns, so no walk that began before the zap
//      is still going and no TLB entry reaches the old frames;
//   4. only now free what the zap unlinked: EPT tables (the TDP MMU hands
//      them to RCU, which runs after the flush), and, in the caller, the data
//      pages (a punched guest_memfd's, a munmapped VMA's);
//   5. kvm_mmu_invalidate_end (seq++, in_progress--), so a fault that
//      resolved a page before the zap retries instead of mapping it.
//
// The callers: the VMM's munmap / mprotect / MAP_FIXED remap through the mmu
// notifier (kvm_mmu_notifier_invalidate_range_start/end: the hva range's
// gfns in every memslot that maps it), guest_memfd PUNCH_HOLE and close
// (kvm_gmem_invalidate_begin/end: the gfns of the slots bound to the file),
// KVM_SET_MEMORY_ATTRIBUTES (the changed gfns), memslot delete and move
// (kvm_arch_flush_shadow_memslot), and VM teardown.
//
// The unmap paths zap leaves only and keep the tables, as the TDP MMU's
// tdp_mmu_zap_leafs does. A memslot delete or move zaps the whole EPT, as
// KVM does by default (KVM_X86_QUIRK_SLOT_ZAP_ALL -> kvm_mmu_zap_all_fast,
// which makes every root obsolete); here the root page stays and everything
// under it goes, tables included, freed after the flush.
//
// mmu_lock is a spinlock held exclusively by faults and zaps alike; the TDP
// MMU lets faults share it and install SPTEs with compare-exchange, which
// ept_map does not do. Lock order: Lock.Slots, then mmu_lock, then Lock.Mm /
// Lock.Gmem (a zap takes none of those inside).

import {
  Memslot, MEMSLOT_BYTES, PAGE_SHIFT, VM_MAX, VmMmuFlag, VmRec, memslot_set_ptr, vm_ptr,
} from './layout';
import { ept_free_deferred, ept_zap_deferred, ept_zap_leafs } from './ept';
import { gmem_punch, gmem_refcount, gmem_vm_id } from './gmem';
import {
  vma_map, vma_map_check, vma_protect, vma_protect_check, vma_unmap, vma_unmap_check, vma_zap_file,
} from './vma';
import { attr_set_range } from './attributes';
import { memslot_count, memslot_generation } from './memslot';
import { kvm_flush_remote_tlbs } from './requests';
import { Stat, stat_inc } from './stats';

/** mmu_invalidate_range_start / _end while no range was added (INVALID_GPA). */
const INVALID_GFN: u64 = U64.MAX_VALUE;
/** GPAs the EPT can map (4-level: 48 bits). */
export const EPT_GPA_LIMIT: u64 = <u64>1 << 48;

/** kvm_memory_slot flags the core keeps beside the uAPI's (include/linux/kvm_host.h). */
export const KVM_MEMSLOT_INVALID: u32 = 1 << 16;
export const KVM_MEMSLOT_GMEM_ONLY: u32 = 1 << 17;

// ---------------------------------------------------------------------------
// mmu_lock and the invalidation state.

@inline export function vm_rec(vm: u32): usize {
  return vm_ptr(vm);
}

export function mmu_lock(vm: u32): void {
  const p = vm_ptr(vm) + VmRec.MmuLock;
  while (atomic.cmpxchg<u32>(p, 0, 1) != 0) {
    while (atomic.load<u32>(p) != 0) {}
  }
}

export function mmu_unlock(vm: u32): void {
  atomic.store<u32>(vm_ptr(vm) + VmRec.MmuLock, 0);
}

/** kvm->mmu_invalidate_seq, as a fault snapshots it before it resolves a page. */
export function mmu_invalidate_seq(vm: u32): u64 {
  return atomic.load<u64>(vm_ptr(vm) + VmRec.MmuInvalidateSeq);
}

/** kvm->mmu_invalidate_in_progress. */
export function mmu_invalidate_in_progress(vm: u32): u32 {
  return atomic.load<u32>(vm_ptr(vm) + VmRec.MmuInvalidateInProgress);
}

/** kvm_mmu_invalidate_begin. mmu_lock held. */
function invalidate_begin(vm: u32): void {
  const r = vm_ptr(vm);
  const n = atomic.load<u32>(r + VmRec.MmuInvalidateInProgress) + 1;
  if (n == 1) {
    atomic.store<u64>(r + VmRec.MmuInvalidateRangeStart, INVALID_GFN);
    atomic.store<u64>(r + VmRec.MmuInvalidateRangeEnd, INVALID_GFN);
  }
  atomic.store<u32>(r + VmRec.MmuInvalidateInProgress, n);
  stat_inc(Stat.MmuInvalidate);
}

/** kvm_mmu_invalidate_range_add: the union of the ranges in progress. mmu_lock held. */
function invalidate_range_add(vm: u32, start: u64, end: u64): void {
  const r = vm_ptr(vm);
  const s = atomic.load<u64>(r + VmRec.MmuInvalidateRangeStart);
  if (s == INVALID_GFN) {
    atomic.store<u64>(r + VmRec.MmuInvalidateRangeStart, start);
    atomic.store<u64>(r + VmRec.MmuInvalidateRangeEnd, end);
    return;
  }
  if (start < s) atomic.store<u64>(r + VmRec.MmuInvalidateRangeStart, start);
  if (end > atomic.load<u64>(r + VmRec.MmuInvalidateRangeEnd)) atomic.store<u64>(r + VmRec.MmuInvalidateRangeEnd, end);
}

/**
 * kvm_mmu_invalidate_end: the sequence moves before in_progress drops, so a
 * fault that sees in_progress at 0 also sees the new sequence. mmu_lock held.
 */
function invalidate_end(vm: u32): void {
  const r = vm_ptr(vm);
  atomic.store<u64>(r + VmRec.MmuInvalidateSeq, atomic.load<u64>(r + VmRec.MmuInvalidateSeq) + 1);
  atomic.store<u32>(r + VmRec.MmuInvalidateInProgress, atomic.load<u32>(r + VmRec.MmuInvalidateInProgress) - 1);
}

/**
 * mmu_invalidate_retry_gfn for the gfns [lo, hi) a fault is about to map: an
 * invalidation in progress over any of them, or one that ended since the
 * fault read `seq`. Without mmu_lock it is the early, "unsafe" check;
 * under it, the final one. Linux compares the fault's gfn only; a huge
 * mapping covers the whole range, so the whole range is compared here.
 */
export function mmu_invalidate_retry(vm: u32, seq: u64, lo: u64, hi: u64): bool {
  const r = vm_ptr(vm);
  if (atomic.load<u32>(r + VmRec.MmuInvalidateInProgress) != 0) {
    const s = atomic.load<u64>(r + VmRec.MmuInvalidateRangeStart);
    // In progress with no range yet: a KVM bug there, a retry here.
    if (s == INVALID_GFN) return true;
    if (lo < atomic.load<u64>(r + VmRec.MmuInvalidateRangeEnd) && s < hi) return true;
  }
  return atomic.load<u64>(r + VmRec.MmuInvalidateSeq) != seq;
}

// ---------------------------------------------------------------------------
// Zapping.

@inline function ept_root(vm: u32): u32 {
  return load<u32>(vm_ptr(vm) + VmRec.EptRoot);
}

/** kvm_unmap_gfn_range: the leaves of gfns [start, end). mmu_lock held. Returns how many went. */
function unmap_gfn_range(vm: u32, start: u64, end: u64): u64 {
  if (start >= end || start >= (EPT_GPA_LIMIT >> PAGE_SHIFT)) return 0;
  return ept_zap_leafs(ept_root(vm), start << PAGE_SHIFT, (end - start) << PAGE_SHIFT);
}

/**
 * Steps 1-3 over one VM: begins an invalidation of gfns [start, end), zaps
 * them and flushes. mmu_lock held by the caller, who ends the invalidation
 * once the pages are gone.
 */
function begin_and_zap(vm: u32, start: u64, end: u64): void {
  invalidate_begin(vm);
  invalidate_range_add(vm, start, end);
  if (unmap_gfn_range(vm, start, end) != 0) kvm_flush_remote_tlbs(vm);
}

/**
 * An invalidation of gfns [start, end) of VM `vm` as one step: begin, zap,
 * flush, end. For changes that free nothing (the data stays where it is).
 */
export function kvm_mmu_invalidate_gfn_range(vm: u32, start: u64, end: u64): void {
  mmu_lock(vm);
  begin_and_zap(vm, start, end);
  invalidate_end(vm);
  mmu_unlock(vm);
}

/**
 * kvm_mmu_zap_all_fast, as a memslot delete or move triggers it
 * (kvm_arch_flush_shadow_memslot with KVM_X86_QUIRK_SLOT_ZAP_ALL): every
 * mapping of the VM goes, tables too, freed after the flush. The caller has
 * already published the slot as KVM_MEMSLOT_INVALID, which makes faults on it
 * retry; a fault that resolved a page from the old slot sees the memslot
 * generation move and retries too (the role of KVM's SRCU wait here).
 */
export function kvm_arch_flush_shadow_memslot(vm: u32): void {
  mmu_lock(vm);
  ept_zap_deferred(ept_root(vm), 0, EPT_GPA_LIMIT);
  kvm_flush_remote_tlbs(vm);
  ept_free_deferred();
  stat_inc(Stat.MmuZapAll);
  mmu_unlock(vm);
}

// ---------------------------------------------------------------------------
// The mmu notifier: the VMM's address space changes under the memslots.

@inline function vm_in_use(vm: u32): bool {
  return atomic.load<u32>(vm_ptr(vm) + VmRec.InUse) != 0;
}

/**
 * The gfns of [hva_start, hva_end) that slot `p` maps, as [g_lo, g_hi);
 * false when it maps none.
 */
let g_lo: u64 = 0;
let g_hi: u64 = 0;
function slot_hva_gfns(p: usize, hva_start: u64, hva_end: u64): bool {
  const ua = load<u64>(p + Memslot.UserspaceAddr);
  const npages = load<u64>(p + Memslot.Npages);
  const ua_end = ua + (npages << PAGE_SHIFT);
  if (hva_end <= ua || ua_end <= hva_start) return false;
  const s = hva_start > ua ? hva_start : ua;
  const e = hva_end < ua_end ? hva_end : ua_end;
  const base = load<u64>(p + Memslot.BaseGfn);
  g_lo = base + ((s - ua) >> PAGE_SHIFT);
  g_hi = base + ((e - ua + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT);
  return true;
}

/** The active memslot set's records of `vm`, read under Lock.Slots or in the writing thread. */
@inline function slot_at(vm: u32, i: u32): usize {
  return memslot_set_ptr(vm, memslot_generation(vm) & 1) + <usize>i * MEMSLOT_BYTES;
}

/**
 * kvm_mmu_notifier_invalidate_range_start for VM `vm`: in every memslot whose
 * userspace range meets [hva_start, hva_end), the gfns it maps are zapped,
 * with one invalidation begun for all of them and one flush. Sets the VM's
 * notifier bit when it began one, so that range_end ends exactly what began.
 */
function notifier_start(vm: u32, hva_start: u64, hva_end: u64): void {
  const n = memslot_count(vm);
  let locked = false;
  let zapped: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const p = slot_at(vm, i);
    if (!slot_hva_gfns(p, hva_start, hva_end)) continue;
    if (!locked) {
      mmu_lock(vm);
      invalidate_begin(vm);
      locked = true;
    }
    invalidate_range_add(vm, g_lo, g_hi);
    zapped += unmap_gfn_range(vm, g_lo, g_hi);
  }
  if (!locked) return;
  if (zapped != 0) kvm_flush_remote_tlbs(vm);
  const r = vm_ptr(vm) + VmRec.MmuFlags;
  atomic.store<u32>(r, atomic.load<u32>(r) | VmMmuFlag.NotifierActive);
  mmu_unlock(vm);
}

/** kvm_mmu_notifier_invalidate_range_end for VM `vm`. */
function notifier_end(vm: u32): void {
  const r = vm_ptr(vm) + VmRec.MmuFlags;
  if ((atomic.load<u32>(r) & VmMmuFlag.NotifierActive) == 0) return;
  mmu_lock(vm);
  atomic.store<u32>(r, atomic.load<u32>(r) & ~VmMmuFlag.NotifierActive);
  invalidate_end(vm);
  mmu_unlock(vm);
}

function notifiers_start(hva_start: u64, hva_end: u64): void {
  for (let vm: u32 = 0; vm < VM_MAX; vm++) if (vm_in_use(vm)) notifier_start(vm, hva_start, hva_end);
}

function notifiers_end(): void {
  for (let vm: u32 = 0; vm < VM_MAX; vm++) if (vm_in_use(vm)) notifier_end(vm);
}

/**
 * munmap with the mmu notifier around it (unmap_region calls
 * mmu_notifier_invalidate_range_start/end): every VM's mappings of the range
 * go and are flushed before vma_unmap frees the pages. A munmap that fails
 * its checks (the VMA splits come first in Linux) invalidates nothing.
 * Returns vma_unmap's result.
 */
export function vmm_munmap(start: u64, len: u64): i32 {
  const err = vma_unmap_check(start, len);
  if (err != 0) return err;
  notifiers_start(start, start + len);
  const r = vma_unmap(start, len);
  notifiers_end();
  return r;
}

/**
 * mprotect with the mmu notifier (change_protection's
 * MMU_NOTIFY_PROTECTION_VMA): KVM zaps the range on any protection change,
 * and the next fault maps it with the new rights. Returns vma_protect's result.
 */
export function vmm_mprotect(start: u64, len: u64, prot: u32): i32 {
  const err = vma_protect_check(start, len, prot);
  if (err != 0) return err;
  notifiers_start(start, start + len);
  const r = vma_protect(start, len, prot);
  notifiers_end();
  return r;
}

/**
 * mmap(MAP_FIXED) over existing mappings unmaps them first, with the
 * notifier. Returns vma_map's result.
 */
export function vmm_mmap_fixed(start: u64, len: u64, prot: u32, kind: u32, file: i32, pgoff: u64): i32 {
  const err = vma_map_check(start, len, kind);
  if (err != 0) return err;
  notifiers_start(start, start + len);
  const r = vma_map(start, len, prot, kind, file, pgoff);
  notifiers_end();
  return r;
}

// ---------------------------------------------------------------------------
// guest_memfd.

/**
 * The pages [pgoff, pgoff + npages) of a file, as [pgoff, end) without wrapping.
 */
@inline function pgoff_end(pgoff: u64, npages: u64): u64 {
  return npages > U64.MAX_VALUE - pgoff ? U64.MAX_VALUE : pgoff + npages;
}

/** The VM guest_memfd `file` belongs to, or VM_MAX when it is gone. */
@inline function gmem_vm(file: i32): u32 {
  if (file < 0 || gmem_refcount(<u32>file) == 0) return VM_MAX;
  const vm = gmem_vm_id(<u32>file);
  return vm < VM_MAX && vm_in_use(vm) ? vm : VM_MAX;
}

/**
 * kvm_gmem_invalidate_begin for file `file` of VM `vm`, pages [pgoff, end):
 * the gfns of every slot bound to that part of the file are zapped and
 * flushed under one invalidation. Returns whether one began.
 */
function gmem_invalidate_begin(vm: u32, file: i32, pgoff: u64, end: u64): bool {
  const n = memslot_count(vm);
  let locked = false;
  let zapped: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const p = slot_at(vm, i);
    if (load<i32>(p + Memslot.GmemFile) != file) continue;
    const off = load<u64>(p + Memslot.GmemPgoff);
    const off_end = off + load<u64>(p + Memslot.Npages);
    if (end <= off || off_end <= pgoff) continue;
    const base = load<u64>(p + Memslot.BaseGfn);
    const lo = base + (pgoff > off ? pgoff : off) - off;
    const hi = base + (end < off_end ? end : off_end) - off;
    if (!locked) {
      mmu_lock(vm);
      invalidate_begin(vm);
      locked = true;
    }
    invalidate_range_add(vm, lo, hi);
    zapped += unmap_gfn_range(vm, lo, hi);
  }
  if (!locked) return false;
  if (zapped != 0) kvm_flush_remote_tlbs(vm);
  mmu_unlock(vm);
  return true;
}

/**
 * fallocate(PUNCH_HOLE | KEEP_SIZE) of pages [pgoff, pgoff + npages) of
 * guest_memfd `file` (kvm_gmem_punch_hole): the guest's mappings are zapped
 * and flushed, the VMM's mappings of the pages dropped, and only then are the
 * pages freed (zeroed when next allocated); the invalidation ends last.
 * Returns the number of pages freed.
 */
export function kvm_gmem_punch_hole(file: i32, pgoff: u64, npages: u64): u64 {
  const begun = kvm_gmem_invalidate_begin(file, pgoff, npages);
  vma_zap_file(file, pgoff, npages);
  const freed = gmem_punch(<u32>file, pgoff, npages);
  kvm_gmem_invalidate_end(file, begun);
  return freed;
}

/**
 * kvm_gmem_invalidate_begin over pages [pgoff, pgoff + npages) of `file`, for
 * a caller that changes the file's bindings or pages in between (the close
 * path, kvm_gmem_release: the slots lose the file, then the invalidation
 * ends, so no fault maps the file again). Returns whether an invalidation
 * began, for kvm_gmem_invalidate_end.
 */
export function kvm_gmem_invalidate_begin(file: i32, pgoff: u64, npages: u64): bool {
  const vm = gmem_vm(file);
  return vm != VM_MAX && gmem_invalidate_begin(vm, file, pgoff, pgoff_end(pgoff, npages));
}

/** kvm_gmem_invalidate_end: ends what kvm_gmem_invalidate_begin began (`begun`). */
export function kvm_gmem_invalidate_end(file: i32, begun: bool): void {
  if (!begun) return;
  const vm = gmem_vm(file);
  if (vm == VM_MAX) return;
  mmu_lock(vm);
  invalidate_end(vm);
  mmu_unlock(vm);
}

// ---------------------------------------------------------------------------
// Memory attributes.

/**
 * kvm_vm_set_mem_attributes after its checks (the caller found that some gfn
 * of [start, end) changes): if any memslot maps part of the range, an
 * invalidation begins over those parts, their mappings are zapped and
 * flushed (kvm_pre_set_memory_attributes), the attributes are stored, and the
 * invalidation ends (kvm_arch_post_set_memory_attributes' lock). Returns
 * attr_set_range's result: 0, or -12 (ENOMEM) with no attribute changed.
 */
export function kvm_vm_set_mem_attributes(vm: u32, start: u64, end: u64, attrs: u64): i32 {
  const n = memslot_count(vm);
  let locked = false;
  let zapped: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const p = slot_at(vm, i);
    if ((load<u32>(p + Memslot.Id) >>> 16) != 0) continue;
    const base = load<u64>(p + Memslot.BaseGfn);
    const slot_end = base + load<u64>(p + Memslot.Npages);
    if (end <= base || slot_end <= start) continue;
    const lo = start > base ? start : base;
    const hi = end < slot_end ? end : slot_end;
    if (!locked) {
      mmu_lock(vm);
      invalidate_begin(vm);
      locked = true;
    }
    invalidate_range_add(vm, lo, hi);
    zapped += unmap_gfn_range(vm, lo, hi);
  }
  if (locked) {
    if (zapped != 0) kvm_flush_remote_tlbs(vm);
    mmu_unlock(vm);
  }
  const r = attr_set_range(vm, start, end, attrs);
  if (locked) {
    mmu_lock(vm);
    invalidate_end(vm);
    mmu_unlock(vm);
  }
  return r;
}
