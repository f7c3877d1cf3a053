// The KVM MMU's fault path (arch/x86/kvm/mmu/mmu.c, tdp_mmu.c): how an EPT
// violation becomes an EPT mapping "in the kernel", and KVM_PRE_FAULT_MEMORY,
// which runs the same path ahead of the guest.
//
// Every VM has one EPT, allocated with the VM, which every vCPU's EPTP points
// to (A/D enabled, as KVM enables them by default). The 'shadow' host profile
// uses the same table as an internal stage 2: shadow page tables are not
// modelled, and the profile only changes what the uAPI offers (no pre-fault,
// no private memory).
//
// A fault follows kvm_mmu_page_fault -> kvm_tdp_page_fault ->
// kvm_mmu_faultin_pfn -> kvm_tdp_mmu_map, in Linux's order:
//   1. SW_PROTECTED VMs: the access is private iff the gfn's attribute is
//      PRIVATE now (kvm_mmu_page_fault sets PFERR_PRIVATE_ACCESS);
//   2. the memslot of the gfn (kvm_vcpu_gfn_to_memslot);
//   3. snapshot mmu_invalidate_seq, then compare private with the attribute
//      again (a mismatch, which only a racing attribute change can cause on
//      SW_PROTECTED, is a memory-fault exit);
//   4. no memslot: a private access is a memory-fault exit, a shared one is
//      emulated (MMIO); an INVALID slot (being deleted or moved) retries;
//   5. the pfn: from guest_memfd for a private access or a guest_memfd-only
//      slot (kvm_mmu_faultin_pfn_gmem; a slot without guest_memfd, a closed
//      file or a failed lookup is a memory-fault exit), else by GUP of the
//      slot's userspace_addr (a write to a READONLY slot is emulated, a GUP
//      failure is EFAULT); writable when the slot is not READONLY and, for a
//      read, when the VMA is writable (hva_to_pfn's map_writable);
//   6. the largest level allowed (kvm_mmu_max_mapping_level): the host's
//      mapping of the page, the memslot's alignment and bounds
//      (lpage_info.disallow_lpage), uniform attributes over the huge range on
//      private-memory VMs, 4 KiB for guest_memfd (order 0 in 6.18) and for
//      dirty-logged slots;
//   7. under mmu_lock: retry if an invalidation touched the range since the
//      snapshot, or the memslots changed since step 2 (KVM waits out faults
//      with SRCU before it zaps a deleted slot; the generation check is the
//      same guarantee without SRCU); else map, and release the page
//      reference GUP took (kvm_release_faultin_page): the EPT entry holds
//      none, the mmu notifier protects it instead.
//
// MMIO SPTEs (the EPT misconfiguration KVM installs to speed up the next MMIO
// access) are not modelled: every access with no memslot is a fresh emulation.

import {
  EptCap, PAGE_SHIFT, Vcpu, VmMmuFlag, VmRec, vcpu_ptr, vm_ptr,
} from './layout';
import {
  ept_destroy, ept_free_deferred, ept_make_eptp, ept_map, ept_map_conflict_entry, ept_map_conflict_level,
  ept_root_alloc, ept_zap_deferred,
} from './ept';
import { vcpu_set_ept } from './cr';
import { PFN_NONE, frame_put } from './phys';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE, attr_get, attr_range_is } from './attributes';
import { gmem_get_pfn, gmem_pfn } from './gmem';
import { FOLL_KVM, VmaKind, gup_pfn, vma_find, vma_kind, vma_pfn, vma_prot } from './vma';
import { HPAGE_SHIFT } from './hugetlb';
import { memslot_base_gfn, memslot_flags, memslot_generation, memslot_gmem_file, memslot_gmem_pgoff,
  memslot_lookup_gfn, memslot_npages, memslot_userspace_addr } from './memslot';
import {
  EPT_GPA_LIMIT, KVM_MEMSLOT_GMEM_ONLY, KVM_MEMSLOT_INVALID, mmu_invalidate_retry, mmu_invalidate_seq, mmu_lock,
  mmu_unlock,
} from './mmu-invalidate';
import { kvm_flush_remote_tlbs, vcpu_vm } from './requests';
import { Stat, stat_inc } from './stats';

// The page-fault error code (arch/x86/include/asm/kvm_host.h).
export const PFERR_PRESENT_MASK: u64 = 1 << 0;
export const PFERR_WRITE_MASK: u64 = 1 << 1;
export const PFERR_USER_MASK: u64 = 1 << 2;
export const PFERR_FETCH_MASK: u64 = 1 << 4;
export const PFERR_GUEST_FINAL_MASK: u64 = <u64>1 << 32;
export const PFERR_GUEST_PAGE_MASK: u64 = <u64>1 << 33;
/** KVM's synthetic bit: the access is private (SW_PROTECTED: the gfn's attribute says so). */
export const PFERR_PRIVATE_ACCESS: u64 = <u64>1 << 49;

/** What a fault ends in: Linux's RET_PF_* values, and the memory-fault exit. */
export enum PageFaultResult {
  /** Nothing mapped: an invalidation raced; the access runs again. */
  Retry = 1,
  /** No memslot (MMIO), or a write to a READONLY slot: the access is emulated. */
  Emulate = 2,
  /** A mapping was installed. */
  Fixed = 5,
  /** The mapping was there already. */
  Spurious = 6,
  /**
   * KVM_RUN fails with kvm_page_fault_errno() (EFAULT, or guest_memfd's
   * errno) and exit KVM_EXIT_MEMORY_FAULT, whose flags / gpa / size are in
   * the vCPU record (Vcpu.MemoryFault*).
   */
  MemoryFault = 7,
}

/** KVM_MEMORY_EXIT_FLAG_PRIVATE (include/uapi/linux/kvm.h). */
export const KVM_MEMORY_EXIT_FLAG_PRIVATE: u64 = 1 << 3;

/** Frame owner of VM `vm`'s EPT tables is EPT_OWNER_BASE + vm. */
export const EPT_OWNER_BASE: u32 = 0x65000000;

// KVM_MEM_* (include/uapi/linux/kvm.h).
const KVM_MEM_LOG_DIRTY_PAGES: u32 = 1 << 0;
const KVM_MEM_READONLY: u32 = 1 << 1;
const KVM_MEM_GUEST_MEMFD: u32 = 1 << 2;

// A leaf as make_spte builds it for TDP (arch/x86/kvm/mmu/spte.c), in EPT
// format: readable and executable always (ACC_ALL), writable when the page
// may be written; write-back memory with IPAT (kvm_mmu_get_memtype for RAM
// without non-coherent DMA); A set unless prefetched (a pre-fault leaf is
// marked for access tracking), D preset on writable leaves.
const SPTE_R: u32 = 1 << 0;
const SPTE_W: u32 = 1 << 1;
const SPTE_X: u32 = 1 << 2;
const SPTE_MT_WB: u32 = 6 << 3;
const SPTE_IPAT: u32 = 1 << 6;
const SPTE_A: u32 = 1 << 8;
const SPTE_D: u32 = 1 << 9;
/** Bits 51:12 of an EPT entry. */
const SPTE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

const ENOENT: i32 = -2;
const EIO: i32 = -5;
const EBADF: i32 = -9;
const EAGAIN: i32 = -11;
const ENOMEM: i32 = -12;
const EFAULT: i32 = -14;
const EINVAL: i32 = -22;

/** The host's EPT capabilities every vCPU gets: 1 GiB leaves, execute-only entries. */
const HOST_EPT_CAPS: u32 = EptCap.Page1g | EptCap.ExecOnly;

// ---------------------------------------------------------------------------
// Per-VM and per-vCPU set-up.

/**
 * The VM's MMU at KVM_CREATE_VM: its EPT root and invalidation state.
 * `has_private_mem` for VM types whose faults take private vs shared from the
 * attributes (KVM_X86_SW_PROTECTED_VM). Returns 0, or -12 (ENOMEM).
 */
export function kvm_mmu_init_vm(vm: u32, has_private_mem: bool): i32 {
  const root = ept_root_alloc(EPT_OWNER_BASE + vm);
  if (root == PFN_NONE) return ENOMEM;
  const r = vm_ptr(vm);
  store<u32>(r + VmRec.MmuLock, 0);
  store<u64>(r + VmRec.MmuInvalidateSeq, 0);
  store<u32>(r + VmRec.MmuInvalidateInProgress, 0);
  store<u64>(r + VmRec.MmuInvalidateRangeStart, U64.MAX_VALUE);
  store<u64>(r + VmRec.MmuInvalidateRangeEnd, U64.MAX_VALUE);
  store<u32>(r + VmRec.MmuFlags, has_private_mem ? VmMmuFlag.HasPrivateMem : 0);
  atomic.store<u32>(r + VmRec.EptRoot, root);
  return 0;
}

/**
 * The VM's MMU at teardown, after its last vCPU: every EPT table goes, the
 * root included. No vCPU can walk it any more, so nothing waits for a flush.
 */
export function kvm_mmu_destroy_vm(vm: u32): void {
  const r = vm_ptr(vm);
  ept_destroy(load<u32>(r + VmRec.EptRoot));
  store<u32>(r + VmRec.EptRoot, 0);
  stat_inc(Stat.MmuZapAll);
}

/** pfn of the VM's EPT root. */
export function kvm_mmu_ept_root(vm: u32): u32 {
  return atomic.load<u32>(vm_ptr(vm) + VmRec.EptRoot);
}

/**
 * The vCPU's EPTP at KVM_CREATE_VCPU: the VM's EPT, 4-level, write-back, A/D
 * enabled; the host's MAXPHYADDR and EPT capabilities; the VM's EPT tag.
 */
export function kvm_mmu_vcpu_init(vcpu: u32, vm: u32, host_maxphyaddr: u32): void {
  vcpu_set_ept(vcpu, ept_make_eptp(kvm_mmu_ept_root(vm), true), (host_maxphyaddr & EptCap.MaxPhyAddrMask) | HOST_EPT_CAPS, vm + 1);
}

@inline function has_private_mem(vm: u32): bool {
  return (atomic.load<u32>(vm_ptr(vm) + VmRec.MmuFlags) & VmMmuFlag.HasPrivateMem) != 0;
}

/** kvm_mem_is_private. */
@inline function gfn_is_private(vm: u32, gfn: u64): bool {
  return has_private_mem(vm) && (attr_get(vm, gfn) & KVM_MEMORY_ATTRIBUTE_PRIVATE) != 0;
}

// ---------------------------------------------------------------------------
// The fault (per instance: one fault at a time per thread).

// The memslot the fault resolved, read whole under the seqcount rule.
let g_gen: u32 = 0;
let g_flags: u32 = 0;
let g_base: u64 = 0;
let g_npages: u64 = 0;
let g_uaddr: u64 = 0;
let g_gmem: i32 = -1;
let g_pgoff: u64 = 0;

/** log2 of the size of the mapping the last fault installed or found (fault->goal_level). */
let g_goal_shift: u32 = PAGE_SHIFT;
/** The errno of the last MemoryFault result. */
let g_errno: i32 = 0;

/** Reads the memslot of `gfn` into the g_* fields. False when there is none. */
function slot_snapshot(vm: u32, gfn: u64): bool {
  let gen: u32;
  let i: i32;
  do {
    gen = memslot_generation(vm);
    i = memslot_lookup_gfn(vm, gfn);
    if (i >= 0) {
      g_flags = memslot_flags(vm, i);
      g_base = memslot_base_gfn(vm, i);
      g_npages = memslot_npages(vm, i);
      g_uaddr = memslot_userspace_addr(vm, i);
      g_gmem = memslot_gmem_file(vm, i);
      g_pgoff = memslot_gmem_pgoff(vm, i);
    }
  } while (memslot_generation(vm) != gen);
  g_gen = gen;
  return i >= 0;
}

/** kvm_prepare_memory_fault_exit: flags carry PRIVATE only; gpa is the page's, size one page. */
function memory_fault(vcpu: u32, gfn: u64, is_private: bool, err: i32): i32 {
  const v = vcpu_ptr(vcpu);
  store<u64>(v + Vcpu.MemoryFaultFlags, is_private ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0);
  store<u64>(v + Vcpu.MemoryFaultGpa, gfn << PAGE_SHIFT);
  store<u64>(v + Vcpu.MemoryFaultSize, 1 << PAGE_SHIFT);
  g_errno = err;
  stat_inc(Stat.MmuPfMemoryFault);
  return PageFaultResult.MemoryFault;
}

/**
 * host_pfn_mapping_level, as a page shift: the size of the VMM's page-table
 * mapping in VMA `i`: 2 MiB in a hugetlb VMA, else 4 KiB (no THP is modelled).
 */
function host_mapping_shift(i: u32): u32 {
  return vma_kind(i) == VmaKind.Hugetlb ? HPAGE_SHIFT : PAGE_SHIFT;
}

/** lpage_info's disallow_lpage for the 2^shift-byte page around `gfn`, and KVM_LPAGE_MIXED_FLAG. */
function lpage_disallowed(vm: u32, gfn: u64, shift: u32): bool {
  const n: u64 = <u64>1 << (shift - PAGE_SHIFT);
  const lo = gfn & ~(n - 1);
  if (lo < g_base || lo + n > g_base + g_npages) return true;
  if (((g_base ^ (g_uaddr >> PAGE_SHIFT)) & (n - 1)) != 0) return true;
  return has_private_mem(vm) && !attr_range_is(vm, lo, lo + n, attr_get(vm, gfn));
}

/** kvm_mmu_max_mapping_level with kvm_mmu_hugepage_adjust's dirty-logging rule, as a page shift. */
function max_mapping_shift(vm: u32, gfn: u64, from_gmem: bool, host_shift: u32): u32 {
  if (from_gmem || host_shift == PAGE_SHIFT || (g_flags & KVM_MEM_LOG_DIRTY_PAGES) != 0) return PAGE_SHIFT;
  let shift = host_shift;
  while (shift > PAGE_SHIFT && lpage_disallowed(vm, gfn, shift)) shift -= 9;
  return shift;
}

@inline function count_fixed(shift: u32): void {
  stat_inc(shift == PAGE_SHIFT ? Stat.MmuPfFixed4k : shift == 21 ? Stat.MmuPfFixed2m : Stat.MmuPfFixed1g);
}

/**
 * kvm_tdp_mmu_map at the goal level, mmu_lock held: installs the leaf, or
 * finds it there (Spurious), or replaces what is in the way (a table of
 * smaller pages under a huge goal, a huge leaf over a small one, a leaf to
 * another page): the old entries are zapped, the new leaf installed, the
 * remote TLBs flushed, and only then the unlinked tables freed.
 */
function map(vm: u32, gfn: u64, pfn: u32, shift: u32, writable: bool, prefetch: bool): i32 {
  const root = kvm_mmu_ept_root(vm);
  const gpa = gfn << PAGE_SHIFT;
  const hpa = <u64>pfn << PAGE_SHIFT;
  const prot = SPTE_R | SPTE_X | SPTE_MT_WB | SPTE_IPAT | (writable ? SPTE_W | SPTE_D : 0) | (prefetch ? 0 : SPTE_A);
  const owner = EPT_OWNER_BASE + vm;
  let r = ept_map(root, gpa, hpa, shift, prot, owner);
  if (r == 0) {
    count_fixed(shift);
    return PageFaultResult.Fixed;
  }
  if (r != -17) return r;
  const level: u32 = (shift - PAGE_SHIFT) / 9 + 1;
  const e = ept_map_conflict_entry();
  if (ept_map_conflict_level() == level && (level == 1 || (e & (1 << 7)) != 0)
    && (e & SPTE_ADDR_MASK) == hpa && (!writable || (e & SPTE_W) != 0)) {
    return PageFaultResult.Spurious;
  }
  ept_zap_deferred(root, gpa, <u64>1 << shift);
  r = ept_map(root, gpa, hpa, shift, prot, owner);
  kvm_flush_remote_tlbs(vm);
  ept_free_deferred();
  if (r != 0) return r;
  count_fixed(shift);
  return PageFaultResult.Fixed;
}

/**
 * One fault on `gpa` with `error_code` (the private bit already decided), as
 * kvm_mmu_do_page_fault runs it; `prefetch` for pre-fault. Sets g_goal_shift.
 */
function tdp_page_fault(vcpu: u32, vm: u32, gpa: u64, error_code: u64, prefetch: bool): i32 {
  const gfn = gpa >> PAGE_SHIFT;
  const is_private = (error_code & PFERR_PRIVATE_ACCESS) != 0;
  const write = (error_code & PFERR_WRITE_MASK) != 0;
  g_goal_shift = PAGE_SHIFT;
  // The EPT reaches 48 bits of GPA; no memslot lies above the host's MAXPHYADDR.
  const has_slot = gpa < EPT_GPA_LIMIT && slot_snapshot(vm, gfn);

  // kvm_mmu_faultin_pfn.
  const seq = mmu_invalidate_seq(vm);
  if (is_private != gfn_is_private(vm, gfn)) return memory_fault(vcpu, gfn, is_private, EFAULT);
  if (!has_slot) {
    // kvm_handle_noslot_fault.
    if (is_private) return memory_fault(vcpu, gfn, true, EFAULT);
    if (!prefetch) stat_inc(Stat.MmuPfEmulate);
    return PageFaultResult.Emulate;
  }
  if ((g_flags & KVM_MEMSLOT_INVALID) != 0) {
    // The slot is being deleted or moved; pre-fault gives no forward-progress guarantee.
    if (prefetch) return EAGAIN;
    stat_inc(Stat.MmuPfRetry);
    return PageFaultResult.Retry;
  }
  if (mmu_invalidate_retry(vm, seq, gfn, gfn + 1)) {
    stat_inc(Stat.MmuPfRetry);
    return PageFaultResult.Retry;
  }

  // __kvm_mmu_faultin_pfn.
  let pfn: u32;
  let writable: bool;
  let refcounted = false;
  let host_shift = PAGE_SHIFT;
  const from_gmem = is_private || (g_flags & KVM_MEMSLOT_GMEM_ONLY) != 0;
  if (from_gmem) {
    // kvm_mmu_faultin_pfn_gmem: the slot has no guest_memfd, or its file was closed.
    if ((g_flags & KVM_MEM_GUEST_MEMFD) == 0 || g_gmem < 0) return memory_fault(vcpu, gfn, is_private, EFAULT);
    const r = gmem_get_pfn(<u32>g_gmem, g_pgoff + (gfn - g_base));
    if (r != 0) return memory_fault(vcpu, gfn, is_private, r == EBADF ? EFAULT : r);
    pfn = gmem_pfn();
    writable = (g_flags & KVM_MEM_READONLY) == 0;
  } else {
    // KVM_PFN_ERR_RO_FAULT: the write is emulated (and exits as MMIO).
    if (write && (g_flags & KVM_MEM_READONLY) != 0) {
      if (!prefetch) stat_inc(Stat.MmuPfEmulate);
      return PageFaultResult.Emulate;
    }
    const hva = g_uaddr + ((gfn - g_base) << PAGE_SHIFT);
    if (gup_pfn(hva, write, FOLL_KVM) != 0) {
      stat_inc(Stat.MmuPfFailed);
      return EFAULT;
    }
    pfn = vma_pfn();
    refcounted = true;
    // hva_to_pfn's map_writable: a read maps writable when the host's
    // mapping is; and host_pfn_mapping_level. Both read the VMA without
    // mmap_lock: a racing munmap or mprotect ends an invalidation, caught below.
    const i = vma_find(hva);
    writable = (g_flags & KVM_MEM_READONLY) == 0 && (write || (i >= 0 && (vma_prot(<u32>i) & 2) != 0));
    host_shift = i >= 0 ? host_mapping_shift(<u32>i) : PAGE_SHIFT;
  }
  if (mmu_invalidate_retry(vm, seq, gfn, gfn + 1)) {
    if (refcounted) frame_put(pfn);
    stat_inc(Stat.MmuPfRetry);
    return PageFaultResult.Retry;
  }

  // The level is decided before mmu_lock because the attribute check takes
  // Lock.Slots, which orders before mmu_lock; the final retry check below
  // covers the whole huge range, so a racing attribute change is caught.
  const shift = max_mapping_shift(vm, gfn, from_gmem, host_shift);
  const n: u64 = <u64>1 << (shift - PAGE_SHIFT);
  const lo = gfn & ~(n - 1);
  mmu_lock(vm);
  let ret: i32;
  if (mmu_invalidate_retry(vm, seq, lo, lo + n) || memslot_generation(vm) != g_gen) {
    stat_inc(Stat.MmuPfRetry);
    ret = PageFaultResult.Retry;
  } else {
    ret = map(vm, lo, pfn & ~(<u32>n - 1), shift, writable, prefetch);
    g_goal_shift = shift;
  }
  mmu_unlock(vm);
  // kvm_release_faultin_page.
  if (refcounted) frame_put(pfn);
  if (ret == PageFaultResult.Spurious && !prefetch) stat_inc(Stat.MmuPfSpurious);
  return ret;
}

/**
 * kvm_mmu_page_fault for a TDP fault of vCPU `vcpu` on `gpa` with
 * `error_code` (PFERR_* bits): on SW_PROTECTED VMs the access is private iff
 * the gfn is PRIVATE now. Returns a PageFaultResult or a negative errno
 * (-14 EFAULT when GUP of the slot's userspace_addr fails, -12 ENOMEM).
 * Runs outside guest mode (after the VM exit): it may flush remote TLBs.
 */
export function kvm_tdp_page_fault(vcpu: u32, gpa: u64, error_code: u64): i32 {
  const vm = vcpu_vm(vcpu);
  if (vm < 0) return EINVAL;
  stat_inc(Stat.MmuPfTaken);
  let err = error_code & ~PFERR_PRIVATE_ACCESS;
  if (gfn_is_private(<u32>vm, gpa >> PAGE_SHIFT)) err |= PFERR_PRIVATE_ACCESS;
  return tdp_page_fault(vcpu, <u32>vm, gpa, err, false);
}

// EPT-violation exit qualification (arch/x86/include/asm/vmx.h).
const EPT_VIOLATION_ACC_READ: u64 = 1 << 0;
const EPT_VIOLATION_ACC_WRITE: u64 = 1 << 1;
const EPT_VIOLATION_ACC_INSTR: u64 = 1 << 2;
const EPT_VIOLATION_PROT_MASK: u64 = 7 << 3;
const EPT_VIOLATION_GVA_IS_VALID: u64 = 1 << 7;
const EPT_VIOLATION_GVA_TRANSLATED: u64 = 1 << 8;

/** The error code handle_ept_violation derives from an exit qualification. */
export function ept_violation_error_code(qual: u64): u64 {
  let e: u64 = (qual & EPT_VIOLATION_ACC_READ) != 0 ? PFERR_USER_MASK : 0;
  if ((qual & EPT_VIOLATION_ACC_WRITE) != 0) e |= PFERR_WRITE_MASK;
  if ((qual & EPT_VIOLATION_ACC_INSTR) != 0) e |= PFERR_FETCH_MASK;
  if ((qual & EPT_VIOLATION_PROT_MASK) != 0) e |= PFERR_PRESENT_MASK;
  if ((qual & EPT_VIOLATION_GVA_IS_VALID) != 0) {
    e |= (qual & EPT_VIOLATION_GVA_TRANSLATED) != 0 ? PFERR_GUEST_FINAL_MASK : PFERR_GUEST_PAGE_MASK;
  }
  return e;
}

/**
 * handle_ept_violation for the vCPU's last access (AccessStatus.EptViolation:
 * Vcpu.ResEptGpa and ResEptQual): the fault, as kvm_tdp_page_fault.
 */
export function handle_ept_violation(vcpu: u32): i32 {
  const v = vcpu_ptr(vcpu);
  return kvm_tdp_page_fault(vcpu, load<u64>(v + Vcpu.ResEptGpa), ept_violation_error_code(load<u64>(v + Vcpu.ResEptQual)));
}

/** log2 of the size of the mapping that this instance's last fault installed or found. */
export function kvm_page_fault_shift(): u32 {
  return g_goal_shift;
}

/** The errno (negative) KVM_RUN returns with this instance's last MemoryFault result. */
export function kvm_page_fault_errno(): i32 {
  return g_errno;
}

// ---------------------------------------------------------------------------
// KVM_PRE_FAULT_MEMORY.

let g_prefault_gpa: u64 = 0;
let g_prefault_size: u64 = 0;

/**
 * kvm_tdp_map_page: a read fault with PFERR_GUEST_FINAL_MASK, retried until
 * it stops retrying; 0 when mapped, -2 (ENOENT) when it would be emulated,
 * the memory-fault errno, or another negative errno.
 */
function tdp_map_page(vcpu: u32, vm: u32, gpa: u64, error_code: u64): i32 {
  let r: i32;
  do {
    r = tdp_page_fault(vcpu, vm, gpa, error_code, true);
  } while (r == PageFaultResult.Retry);
  if (r < 0) return r;
  if (r == PageFaultResult.Fixed || r == PageFaultResult.Spurious) return 0;
  if (r == PageFaultResult.Emulate) return ENOENT;
  if (r == PageFaultResult.MemoryFault) return g_errno;
  return EIO;
}

/**
 * kvm_arch_vcpu_pre_fault_memory: maps the page (or huge page) holding `gpa`
 * and returns the bytes from `gpa` to its end, at most `size`; or a negative errno.
 */
function arch_pre_fault(vcpu: u32, vm: u32, gpa: u64, size: u64): i64 {
  stat_inc(Stat.MmuPrefault);
  let error_code = PFERR_GUEST_FINAL_MASK;
  if (gfn_is_private(vm, gpa >> PAGE_SHIFT)) error_code |= PFERR_PRIVATE_ACCESS;
  const r = tdp_map_page(vcpu, vm, gpa, error_code);
  if (r < 0) return r;
  const span: u64 = <u64>1 << g_goal_shift;
  const end = (gpa & ~(span - 1)) + span;
  return end - gpa < size ? <i64>(end - gpa) : <i64>size;
}

/**
 * kvm_vcpu_pre_fault_memory after its argument checks (page-aligned gpa and
 * size, size > 0, no wrap; the host's TDP): maps [gpa, gpa + size) page by
 * page (huge pages where allowed) until done or a page fails. The range left
 * is in kvm_pre_fault_gpa() / kvm_pre_fault_size(). Returns 0 when any part
 * was mapped, else the first page's negative errno: -2 (ENOENT) without a
 * memslot, -14 (EFAULT) for a memory fault or a failed GUP, -11 (EAGAIN)
 * while the slot is being deleted, guest_memfd's errno.
 */
export function kvm_vcpu_pre_fault_memory(vcpu: u32, gpa: u64, size: u64): i32 {
  g_prefault_gpa = gpa;
  g_prefault_size = size;
  const vm = vcpu_vm(vcpu);
  if (vm < 0) return EINVAL;
  let r: i64 = 0;
  do {
    r = arch_pre_fault(vcpu, <u32>vm, g_prefault_gpa, g_prefault_size);
    if (r < 0) break;
    g_prefault_size -= <u64>r;
    g_prefault_gpa += <u64>r;
  } while (g_prefault_size != 0);
  return g_prefault_size == size ? <i32>r : 0;
}

/** The gpa where this instance's last kvm_vcpu_pre_fault_memory stopped. */
export function kvm_pre_fault_gpa(): u64 {
  return g_prefault_gpa;
}

/** The bytes that call left unmapped. */
export function kvm_pre_fault_size(): u64 {
  return g_prefault_size;
}

/**
 * Bench hook: `npages` faults of vCPU `vcpu` on consecutive pages from `gpa`,
 * each with `error_code`, as EPT violations reach kvm_tdp_page_fault.
 * Returns how many installed a mapping.
 */
export function bench_fault_pages(vcpu: u32, gpa: u64, npages: u32, error_code: u64): u32 {
  let fixed: u32 = 0;
  for (let i: u32 = 0; i < npages; i++) {
    if (kvm_tdp_page_fault(vcpu, gpa + (<u64>i << PAGE_SHIFT), error_code) == PageFaultResult.Fixed) fixed++;
  }
  return fixed;
}
