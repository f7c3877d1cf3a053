// Consistency checks over the whole machine, for the property tests: frame
// accounting, frame owners, and guest_memfd page caches. Each check scans
// the shared tables in one call and returns the first rule it finds broken
// (0 when none), with the frame that broke it in inspect_bad_pfn(). They take
// no locks: they are meant for a quiescent machine, between two calls.

import { ATTR_OWNER_BASE } from './attributes';
import { GMEM_OWNER_BASE, gmem_lookup_pfn } from './gmem';
import {
  Frame, FrameKind, GMEM_MAX_FILES, GmemInode, Hdr, VM_MAX, VmRec,
  free_stack_ptr, frame_meta_ptr, gmem_inode_ptr, header_ptr, ram_frames, vm_ptr,
} from './layout';
import { PFN_NONE } from './phys';
import { RADIX_INDEX_LIMIT, RADIX_NONE, radix_next } from './radix';
import { VMM_OWNER } from './vma';

/** Which rule a check found broken. */
export enum InspectFault {
  None = 0,
  /** A free-stack entry is not a free frame (refcount 0, kind Free). */
  FreeListUsedFrame,
  /** The free stack and the frames with no reference are not the same set. */
  FreeListMismatch,
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
}

let g_bad_pfn: u32 = PFN_NONE;

/** The frame the last failed check names (PFN_NONE when it names none). */
export function inspect_bad_pfn(): u32 {
  return g_bad_pfn;
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

/**
 * The free stack holds exactly the frames with no reference: each entry is
 * free, and the two sets have the same size, pfn sum and sum of squares (so
 * an entry listed twice cannot stand in for a free frame that is missing).
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
 * still in use, or a VM still in use (its attribute tree). EPT tables are
 * not covered until the VM's EPT has an owner of its own.
 */
export function inspect_orphan_frames(): InspectFault {
  for (let pfn: u32 = 0; pfn < ram_frames(); pfn++) {
    if (refcount(pfn) == 0) continue;
    const owner = load<u32>(frame_meta_ptr(pfn) + Frame.Owner);
    let exists = owner == 0 || owner == VMM_OWNER;
    if (owner >= GMEM_OWNER_BASE && owner - GMEM_OWNER_BASE < GMEM_MAX_FILES) exists = gmem_in_use(owner - GMEM_OWNER_BASE);
    else if (owner >= ATTR_OWNER_BASE && owner - ATTR_OWNER_BASE < VM_MAX) exists = vm_in_use(owner - ATTR_OWNER_BASE);
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
