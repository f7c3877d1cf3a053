// Consistency checks over the whole machine, for the property tests: frame
// accounting, frame owners, guest_memfd page caches, and whether each VM's
// EPT and each vCPU's TLB still agree with the memory behind them. Each check
// scans the shared tables in one call and returns the first rule it finds
// broken (0 when none), with the frame that broke it in inspect_bad_pfn()
// (and the address in inspect_bad_gpa()). They take no locks: they are meant
// for a quiescent machine, between two calls.

import { ATTR_OWNER_BASE, KVM_MEMORY_ATTRIBUTE_PRIVATE, attr_get } from './attributes';
import { dmap_present } from './directmap';
import { ept_hpa, ept_make_eptp, ept_rights, ept_walk } from './ept';
import { GMEM_OWNER_BASE, gmem_lookup_pfn } from './gmem';
import {
  AccessKind, AccessStatus, Frame, FrameKind, GMEM_MAX_FILES, GmemInode, Hdr, TLB_ENTRY_BYTES, TLB_SETS, TLB_WAYS,
  TlbEntry, VM_MAX, Vcpu, VmMmuFlag, VmRec,
  free_stack_ptr, frame_meta_ptr, gmem_inode_ptr, header_ptr, ram_bytes, ram_frames, tlb_ptr, vcpu_ptr, vm_ptr,
} from './layout';
import { memslot_base_gfn, memslot_flags, memslot_gmem_file, memslot_gmem_pgoff, memslot_lookup_gfn, memslot_userspace_addr } from './memslot';
import { EPT_OWNER_BASE, kvm_mmu_ept_root } from './mmu';
import { KVM_MEMSLOT_GMEM_ONLY } from './mmu-invalidate';
import { PFN_NONE } from './phys';
import { KVM_REQUEST_MASK, KVM_REQ_TLB_FLUSH, KVM_REQ_TLB_FLUSH_CURRENT, KVM_REQ_TLB_FLUSH_GUEST } from './requests';
import { RADIX_INDEX_LIMIT, RADIX_NONE, radix_next } from './radix';
import { VMM_OWNER, mm_lookup_pfn } from './vma';

/** Which rule a check found broken. */
export enum InspectFault {
  None = 0,
  /** A free-stack entry is not a free frame (refcount 0, kind Free). */
  FreeListUsedFrame,
  /** The free stack and the frames with no reference are not the same set. */
  FreeListMismatch,
  /** A free frame is missing from the direct map (a NO_DIRECT_MAP page freed before it was restored). */
  FreeFrameNotInDirectMap,
  /** A frame in use names an owner that does not exist. */
  OrphanFrame,
  /** A page-cache entry's frame is free, or not a guest_memfd page of that file. */
  GmemPageNotOwned,
  /** A file's NrPages is not the number of pages its cache holds. */
  GmemPageCount,
  /** Frames of guest_memfd pages in use outnumber the pages the caches hold. */
  GmemStrayPage,
  /** A guest_memfd file outlives the VM it was created for. */
  GmemWithoutVm,
  /** An EPT entry that the walk finds misconfigured. */
  EptMisconfigured,
  /** An EPT leaf for a gfn no memslot covers. */
  EptLeafWithoutSlot,
  /** An EPT leaf pointing at a frame that is free. */
  EptLeafFreeFrame,
  /** An EPT leaf pointing at a frame that is not the gfn's backing now. */
  EptLeafStale,
  /** A writable EPT leaf in a read-only memslot. */
  EptLeafWritableReadonly,
  /** A TLB entry whose translation its VM's EPT no longer makes. */
  TlbEntryStale,
}

const KVM_MEM_READONLY: u32 = 1 << 1;
const EPT_WRITE: u32 = 1 << 1;

let g_bad_pfn: u32 = PFN_NONE;
let g_bad_gpa: u64 = 0;

/** The frame the last failed check names (PFN_NONE when it names none). */
export function inspect_bad_pfn(): u32 {
  return g_bad_pfn;
}

/** The guest-physical address the last failed EPT or TLB check names. */
export function inspect_bad_gpa(): u64 {
  return g_bad_gpa;
}

@inline function fail(fault: InspectFault, pfn: u32): InspectFault {
  g_bad_pfn = pfn;
  return fault;
}

@inline function refcount(pfn: u32): u32 {
  return load<u32>(frame_meta_ptr(pfn) + Frame.Refcount);
}

@inline function gmem_in_use(id: u32): bool {
  return load<u32>(gmem_inode_ptr(id) + GmemInode.InUse) != 0;
}

@inline function vm_in_use(vm: u32): bool {
  return load<u32>(vm_ptr(vm) + VmRec.InUse) != 0;
}

/** Frames that hold a reference. */
export function inspect_used_frames(): u32 {
  const n = ram_frames();
  let used: u32 = 0;
  for (let pfn: u32 = 0; pfn < n; pfn++) if (refcount(pfn) != 0) used++;
  return used;
}

/** Frames in use of kind `kind` held by `owner` (owner 0 PageTable frames: the direct map's split tables). */
export function inspect_used_frames_of(kind: FrameKind, owner: u32): u32 {
  const n = ram_frames();
  let count: u32 = 0;
  for (let pfn: u32 = 0; pfn < n; pfn++) {
    const m = frame_meta_ptr(pfn);
    if (load<u32>(m + Frame.Refcount) != 0 && load<u8>(m + Frame.Kind) == kind && load<u32>(m + Frame.Owner) == owner) count++;
  }
  return count;
}

/**
 * The free stack holds exactly the frames with no reference: each entry is
 * free and mapped in the direct map (the page allocator's next user expects
 * it there), and the two sets have the same size, pfn sum and sum of squares
 * (so an entry listed twice cannot stand in for a free frame that is missing).
 */
export function inspect_free_list(): InspectFault {
  const top = load<u32>(header_ptr() + Hdr.FreeTop);
  const stack = free_stack_ptr();
  let sum: u64 = 0;
  let squares: u64 = 0;
  for (let i: u32 = 0; i < top; i++) {
    const pfn = load<u32>(stack + (<usize>i << 2));
    const m = frame_meta_ptr(pfn);
    if (pfn >= ram_frames() || load<u32>(m + Frame.Refcount) != 0 || load<u8>(m + Frame.Kind) != FrameKind.Free) {
      return fail(InspectFault.FreeListUsedFrame, pfn);
    }
    if (!dmap_present(pfn)) return fail(InspectFault.FreeFrameNotInDirectMap, pfn);
    sum += pfn;
    squares += <u64>pfn * pfn;
  }
  let count: u32 = 0;
  for (let pfn: u32 = 0; pfn < ram_frames(); pfn++) {
    if (refcount(pfn) != 0) continue;
    count++;
    sum -= pfn;
    squares -= <u64>pfn * pfn;
  }
  return count == top && sum == 0 && squares == 0 ? InspectFault.None : fail(InspectFault.FreeListMismatch, PFN_NONE);
}

/**
 * Every frame in use has an owner that exists: the kernel (owner 0: the
 * direct map's split tables), the VMM process, a guest_memfd file that is
 * still in use, or a VM still in use (its attribute tree, its EPT tables).
 */
export function inspect_orphan_frames(): InspectFault {
  for (let pfn: u32 = 0; pfn < ram_frames(); pfn++) {
    if (refcount(pfn) == 0) continue;
    const owner = load<u32>(frame_meta_ptr(pfn) + Frame.Owner);
    let exists = owner == 0 || owner == VMM_OWNER;
    if (owner >= GMEM_OWNER_BASE && owner - GMEM_OWNER_BASE < GMEM_MAX_FILES) exists = gmem_in_use(owner - GMEM_OWNER_BASE);
    else if (owner >= ATTR_OWNER_BASE && owner - ATTR_OWNER_BASE < VM_MAX) exists = vm_in_use(owner - ATTR_OWNER_BASE);
    else if (owner >= EPT_OWNER_BASE && owner - EPT_OWNER_BASE < VM_MAX) exists = vm_in_use(owner - EPT_OWNER_BASE);
    if (!exists) return fail(InspectFault.OrphanFrame, pfn);
  }
  return InspectFault.None;
}

/**
 * Every guest_memfd page belongs to one file: each cache entry's frame is in
 * use, a GuestMemfd frame owned by that file (a frame has one owner, so no
 * frame sits in two caches); each file's NrPages counts its entries; no
 * other GuestMemfd frame is in use; and each file's VM still exists.
 */
export function inspect_gmem(): InspectFault {
  let cached: u64 = 0;
  for (let id: u32 = 0; id < GMEM_MAX_FILES; id++) {
    if (!gmem_in_use(id)) continue;
    const inode = gmem_inode_ptr(id);
    if (!vm_in_use(load<u32>(inode + GmemInode.VmId))) return fail(InspectFault.GmemWithoutVm, PFN_NONE);
    const root = load<u32>(inode + GmemInode.CacheRoot);
    let pages: u64 = 0;
    for (let i = radix_next(root, 0, RADIX_INDEX_LIMIT); i != RADIX_NONE; i = radix_next(root, i + 1, RADIX_INDEX_LIMIT)) {
      const pfn = gmem_lookup_pfn(id, i);
      const m = frame_meta_ptr(pfn);
      if (load<u32>(m + Frame.Refcount) == 0 || load<u8>(m + Frame.Kind) != FrameKind.GuestMemfd ||
          load<u32>(m + Frame.Owner) != GMEM_OWNER_BASE + id) {
        return fail(InspectFault.GmemPageNotOwned, pfn);
      }
      pages++;
    }
    if (pages != load<u64>(inode + GmemInode.NrPages)) return fail(InspectFault.GmemPageCount, PFN_NONE);
    cached += pages;
  }
  let frames: u64 = 0;
  for (let pfn: u32 = 0; pfn < ram_frames(); pfn++) {
    if (refcount(pfn) != 0 && load<u8>(frame_meta_ptr(pfn) + Frame.Kind) == FrameKind.GuestMemfd) frames++;
  }
  return frames == cached ? InspectFault.None : fail(InspectFault.GmemStrayPage, PFN_NONE);
}

/** The first page offset at or past `from` that file `id`'s cache holds, or RADIX_NONE. */
export function inspect_gmem_next(id: u32, from: u64): u64 {
  if (id >= GMEM_MAX_FILES || !gmem_in_use(id)) return RADIX_NONE;
  return radix_next(load<u32>(gmem_inode_ptr(id) + GmemInode.CacheRoot), from, RADIX_INDEX_LIMIT);
}

/**
 * Every EPT leaf of VM `vm` below gfn `gfn_end` maps what the gfn is backed
 * by now: a memslot covers the gfn; the frame is in use; it is the
 * guest_memfd page at the slot's offset when the gfn is private or the slot
 * is guest_memfd-only, else the VMM's page at the slot's userspace address;
 * and it is not writable in a read-only slot. A leaf that fails this is what
 * a missing zap leaves behind (after a punch, a conversion, a munmap, a
 * memslot change). `caps` are the vCPUs' EptCaps, for the walk's
 * misconfiguration checks. The walk runs without EPT A/D, so it changes
 * nothing. A VM that does not exist has nothing to check.
 */
export function inspect_ept(vm: u32, gfn_end: u64, caps: u32): InspectFault {
  if (vm >= VM_MAX || !vm_in_use(vm)) return InspectFault.None;
  const eptp = ept_make_eptp(kvm_mmu_ept_root(vm), false);
  const has_private = (load<u32>(vm_ptr(vm) + VmRec.MmuFlags) & VmMmuFlag.HasPrivateMem) != 0;
  for (let gfn: u64 = 0; gfn < gfn_end; gfn++) {
    const gpa = gfn << 12;
    const r = ept_walk(eptp, gpa, AccessKind.Read, false, false, caps);
    if (r == AccessStatus.EptViolation) continue;
    g_bad_gpa = gpa;
    if (r != AccessStatus.Ok) return fail(InspectFault.EptMisconfigured, PFN_NONE);
    const pfn = <u32>(ept_hpa() >> 12);
    const i = memslot_lookup_gfn(vm, gfn);
    if (i < 0) return fail(InspectFault.EptLeafWithoutSlot, pfn);
    if (pfn >= ram_frames() || refcount(pfn) == 0) return fail(InspectFault.EptLeafFreeFrame, pfn);
    const flags = memslot_flags(vm, i);
    const offset = gfn - memslot_base_gfn(vm, i);
    const is_private = has_private && (attr_get(vm, gfn) & KVM_MEMORY_ATTRIBUTE_PRIVATE) != 0;
    const backing = is_private || (flags & KVM_MEMSLOT_GMEM_ONLY) != 0
      ? gmem_lookup_pfn(<u32>memslot_gmem_file(vm, i), memslot_gmem_pgoff(vm, i) + offset)
      : mm_lookup_pfn(memslot_userspace_addr(vm, i) + (offset << 12));
    if (backing != pfn) return fail(InspectFault.EptLeafStale, pfn);
    if ((flags & KVM_MEM_READONLY) != 0 && (ept_rights() & EPT_WRITE) != 0) return fail(InspectFault.EptLeafWritableReadonly, pfn);
  }
  return InspectFault.None;
}

/** The request bits that make a vCPU flush its TLB before it enters the guest again. */
@inline function tlb_flush_requests(): u64 {
  return (<u64>1 << <u64>(KVM_REQ_TLB_FLUSH & KVM_REQUEST_MASK)) |
    (<u64>1 << <u64>(KVM_REQ_TLB_FLUSH_CURRENT & KVM_REQUEST_MASK)) |
    (<u64>1 << <u64>(KVM_REQ_TLB_FLUSH_GUEST & KVM_REQUEST_MASK));
}

/**
 * Every TLB entry of vCPU `vcpu` (for RAM) still holds a translation its
 * EPT makes: the entry's guest-physical page maps to the entry's frame.
 * After a zap and the remote flush that must follow it, no entry the vCPU
 * can use points at the frame the zap took away. A vCPU outside guest mode
 * with a flush request pending cannot use its entries before it services
 * the request (kvm_flush_remote_tlbs relies on that), so it passes.
 */
export function inspect_tlb(vcpu: u32): InspectFault {
  const v = vcpu_ptr(vcpu);
  if ((atomic.load<u64>(v + Vcpu.Requests) & tlb_flush_requests()) != 0) return InspectFault.None;
  // With EPT A/D this walk may set an A bit, one the walk that filled the entry already set.
  const eptp = load<u64>(v + Vcpu.Eptp);
  const caps = load<u32>(v + Vcpu.EptCaps);
  const t = tlb_ptr(vcpu);
  const end = t + <usize>TLB_SETS * TLB_WAYS * TLB_ENTRY_BYTES;
  for (let p = t; p < end; p += TLB_ENTRY_BYTES) {
    if (load<u64>(p + TlbEntry.Tag) == 0) continue;
    const hpa = load<u64>(p + TlbEntry.Hpa);
    if (hpa >= ram_bytes() || eptp == 0) continue;
    const gpa = load<u64>(p + TlbEntry.Gpa);
    g_bad_gpa = gpa;
    const r = ept_walk(eptp, gpa, AccessKind.Read, false, false, caps);
    if (r != AccessStatus.Ok || ept_hpa() != hpa) return fail(InspectFault.TlbEntryStale, <u32>(hpa >> 12));
  }
  return InspectFault.None;
}

