// guest_memfd: the inodes of KVM's guest-memory files and their page caches
// (virt/kvm/guest_memfd.c).
//
// A file is one GmemInode record in a fixed table in shared memory, so that a
// vCPU's fault path can reach it from Wasm without JavaScript. Its page cache
// maps a page offset to the host frame that holds the page, on a radix tree
// (radix.ts). A page comes into the cache zeroed, on first fault-in
// (kvm_gmem_get_pfn) or by fallocate (kvm_gmem_allocate), and leaves it on a
// punched hole or with the inode. Validation of sizes, flags and ranges in
// Linux's order is the uAPI layer's (src/kvm); the checks here only keep the
// core consistent.
//
// GUEST_MEMFD_FLAG_NO_DIRECT_MAP follows the latest posted series ("KVM:
// guest_memfd: Add flag to remove from direct map", v9-v12, not in 6.18): a
// page leaves the kernel's direct map right before it is first mapped, by the
// guest (kvm_gmem_get_pfn) or the VMM (the user-mapping fault, which comes
// through gmem_get_pfn too), with folio_zap_direct_map(): the _noflush change
// and then a kernel-range TLB flush. A page that fallocate brought in but
// nobody mapped stays in the direct map. Each page remembers that it was
// zapped (the series keeps that bit in folio->private), and a zapped page goes
// back into the direct map, without a flush, just before its frame is freed.
//
// Locking: Lock.Gmem serialises every change of an inode and of any page
// cache, and lookups take it too, so that a radix node freed by a punch is
// never read (radix.ts has no RCU). A file's page-cache nodes and pages
// belong to owner gmem_owner(id) in the frame metadata.

import {
  FrameKind, GMEM_MAX_FILES, GMEM_INODE_BYTES, GmemInode, Lock, PAGE_SHIFT, gmem_inode_ptr,
} from './layout';
import { PFN_NONE, frame_alloc, frame_put } from './phys';
import {
  RADIX_INDEX_LIMIT, RADIX_NONE,
  radix_create, radix_destroy, radix_erase, radix_lookup, radix_next, radix_store,
} from './radix';
import { flush_tlb_kernel_range, set_direct_map_default_noflush, set_direct_map_invalid_noflush } from './directmap';
import { Stat, stat_inc } from './stats';
import { spin_lock, spin_unlock } from './sync';

// include/uapi/linux/kvm.h; NO_DIRECT_MAP is the proposal's value.
export const GUEST_MEMFD_FLAG_MMAP: u64 = 1 << 0;
export const GUEST_MEMFD_FLAG_INIT_SHARED: u64 = 1 << 1;
export const GUEST_MEMFD_FLAG_NO_DIRECT_MAP: u64 = 1 << 2;

/** Frame owner of file `id`'s pages and page-cache nodes is GMEM_OWNER_BASE + id. */
export const GMEM_OWNER_BASE: u32 = 0x67000000;

const EBADF: i32 = -9;
const ENOMEM: i32 = -12;
const EINVAL: i32 = -22;
const ENFILE: i32 = -23;
const EFBIG: i32 = -27;

// A page-cache value: the page's HPA, bit 0 set so that pfn 0 is not "empty",
// bit 1 marking a page the gmem_allocate in progress added (never seen
// outside Lock.Gmem), bit 2 a page zapped from the direct map.
const CACHE_PRESENT: u64 = 1 << 0;
const CACHE_NEW: u64 = 1 << 1;
const CACHE_NO_DIRECT_MAP: u64 = 1 << 2;

/** The page gmem_get_pfn found last in this instance. */
let g_pfn: u32 = PFN_NONE;

@inline function cache_entry(pfn: u32): u64 {
  return (<u64>pfn << PAGE_SHIFT) | CACHE_PRESENT;
}

@inline function entry_pfn(entry: u64): u32 {
  return <u32>(entry >> PAGE_SHIFT);
}

@inline function file_exists(id: u32): bool {
  return id < GMEM_MAX_FILES && atomic.load<u32>(gmem_inode_ptr(id) + GmemInode.InUse) != 0;
}

@inline function cache_root(inode: usize): u32 {
  return load<u32>(inode + GmemInode.CacheRoot);
}

@inline function no_direct_map(inode: usize): bool {
  return (load<u64>(inode + GmemInode.Flags) & GUEST_MEMFD_FLAG_NO_DIRECT_MAP) != 0;
}

/** Pages in the file: offsets at or past this are beyond i_size. */
@inline function size_pages(inode: usize): u64 {
  return load<u64>(inode + GmemInode.Size) >> PAGE_SHIFT;
}

@inline function add_nr_pages(inode: usize, delta: i64): void {
  atomic.store<u64>(inode + GmemInode.NrPages, atomic.load<u64>(inode + GmemInode.NrPages) + <u64>delta);
}

export function gmem_owner(id: u32): u32 {
  return GMEM_OWNER_BASE + id;
}

/** A zeroed page for file `id`, or PFN_NONE when RAM runs out. */
function page_alloc(id: u32): u32 {
  const pfn = frame_alloc(FrameKind.GuestMemfd, gmem_owner(id));
  if (pfn != PFN_NONE) stat_inc(Stat.GmemPageAlloc);
  return pfn;
}

/**
 * Frees a page that has left the page cache.
 *
 * Ordering rule (as Firecracker and KVM do it): zap, then flush, then free.
 * Before a page leaves the cache the caller has zapped every EPT entry that
 * maps it and every VMM page-table entry, and has completed the remote TLB
 * flush that waits for each running vCPU; only then may the frame go back to
 * the allocator, which hands it to the next user at once. A frame freed
 * earlier would still be reachable through a stale TLB entry.
 */
function page_free(entry: u64): void {
  const pfn = entry_pfn(entry);
  // A zapped page goes back into the direct map first: a frame on the free
  // list must be mapped like any other (the series' free_folio hook). The
  // split happened at the zap, so this only rewrites the entry.
  if ((entry & CACHE_NO_DIRECT_MAP) != 0) set_direct_map_default_noflush(pfn);
  frame_put(pfn);
  stat_inc(Stat.GmemPageFree);
}

/**
 * folio_zap_direct_map: removes the page from the direct map and flushes the
 * kernel range on every host CPU, so that no stale translation keeps it
 * reachable. Returns 0, or -12 (ENOMEM) when the split finds no table page.
 */
function zap_direct_map(pfn: u32): i32 {
  const r = set_direct_map_invalid_noflush(pfn);
  if (r == 0) flush_tlb_kernel_range(pfn, 1);
  return r;
}

/** Drops every page at offsets [first, end) from the cache. Lock.Gmem held. Returns how many. */
function truncate_range(inode: usize, first: u64, end: u64): u64 {
  const root = cache_root(inode);
  let dropped: u64 = 0;
  for (let i = radix_next(root, first, end); i != RADIX_NONE; i = radix_next(root, i + 1, end)) {
    page_free(radix_erase(root, i));
    dropped++;
  }
  add_nr_pages(inode, -(<i64>dropped));
  return dropped;
}

/**
 * Creates a guest_memfd inode of `size` bytes with GUEST_MEMFD_FLAG_* `flags`
 * for VM `vm_id`, holding one reference (the new file's). Every page starts
 * absent. Returns the file id (>= 0), -23 (ENFILE) when the table is full, or
 * -12 (ENOMEM) when the page cache's root cannot be allocated.
 */
export function gmem_create(vm_id: u32, size: u64, flags: u64): i32 {
  spin_lock(Lock.Gmem);
  let id: u32 = 0;
  while (id < GMEM_MAX_FILES && load<u32>(gmem_inode_ptr(id) + GmemInode.InUse) != 0) id++;
  if (id == GMEM_MAX_FILES) {
    spin_unlock(Lock.Gmem);
    return ENFILE;
  }
  const root = radix_create(gmem_owner(id));
  if (root == PFN_NONE) {
    spin_unlock(Lock.Gmem);
    return ENOMEM;
  }
  const inode = gmem_inode_ptr(id);
  store<u32>(inode + GmemInode.Refcount, 1);
  store<u32>(inode + GmemInode.VmId, vm_id);
  store<u32>(inode + GmemInode.CacheRoot, root);
  store<u64>(inode + GmemInode.Size, size);
  store<u64>(inode + GmemInode.Flags, flags);
  store<u64>(inode + GmemInode.NrPages, 0);
  atomic.store<u32>(inode + GmemInode.InUse, 1);
  spin_unlock(Lock.Gmem);
  return <i32>id;
}

/** Takes another reference on file `id`. Returns 0, or -9 (EBADF) when there is no such file. */
export function gmem_get(id: u32): i32 {
  if (!file_exists(id)) return EBADF;
  atomic.add<u32>(gmem_inode_ptr(id) + GmemInode.Refcount, 1);
  return 0;
}

/**
 * Drops a reference on file `id`. The last one frees every page of the cache
 * (the caller has zapped and flushed, see page_free), the cache's tree and the
 * inode record. Returns true when the inode went away.
 */
export function gmem_put(id: u32): bool {
  assert(file_exists(id), 'gmem_put on a file that does not exist');
  const inode = gmem_inode_ptr(id);
  if (atomic.sub<u32>(inode + GmemInode.Refcount, 1) != 1) return false;
  spin_lock(Lock.Gmem);
  truncate_range(inode, 0, RADIX_INDEX_LIMIT);
  radix_destroy(cache_root(inode));
  atomic.store<u32>(inode + GmemInode.InUse, 0);
  memory.fill(inode, 0, GMEM_INODE_BYTES);
  spin_unlock(Lock.Gmem);
  return true;
}

/** i_size of file `id` in bytes (0 when there is no such file). */
export function gmem_size(id: u32): u64 {
  return file_exists(id) ? load<u64>(gmem_inode_ptr(id) + GmemInode.Size) : 0;
}

/** GUEST_MEMFD_FLAG_* of file `id` (0 when there is no such file). */
export function gmem_flags(id: u32): u64 {
  return file_exists(id) ? load<u64>(gmem_inode_ptr(id) + GmemInode.Flags) : 0;
}

/** The VM file `id` was created for. */
export function gmem_vm_id(id: u32): u32 {
  return file_exists(id) ? load<u32>(gmem_inode_ptr(id) + GmemInode.VmId) : 0;
}

/** Pages present in the page cache of file `id`. */
export function gmem_nr_pages(id: u32): u64 {
  return file_exists(id) ? atomic.load<u64>(gmem_inode_ptr(id) + GmemInode.NrPages) : 0;
}

/** References held on file `id`. */
export function gmem_refcount(id: u32): u32 {
  return file_exists(id) ? atomic.load<u32>(gmem_inode_ptr(id) + GmemInode.Refcount) : 0;
}

/**
 * kvm_gmem_get_pfn: the page at offset `pgoff` of file `id`, allocated and
 * zeroed if it is absent, about to be mapped: with NO_DIRECT_MAP it leaves the
 * direct map now if it has not yet. Returns 0 with the pfn in gmem_pfn();
 * -22 (EINVAL) at or past i_size; -27 (EFBIG) past the 256 TiB the cache can
 * index; -12 (ENOMEM); -9 (EBADF) when there is no such file. A page whose
 * zap fails (ENOMEM for the direct-map split) stays in the cache, as the
 * folio stays in the kernel's page cache.
 */
export function gmem_get_pfn(id: u32, pgoff: u64): i32 {
  if (!file_exists(id)) return EBADF;
  const inode = gmem_inode_ptr(id);
  if (pgoff >= size_pages(inode)) return EINVAL;
  if (pgoff >= RADIX_INDEX_LIMIT) return EFBIG;
  spin_lock(Lock.Gmem);
  const root = cache_root(inode);
  const owner = gmem_owner(id);
  let entry = radix_lookup(root, pgoff);
  if (entry == 0) {
    const pfn = page_alloc(id);
    if (pfn == PFN_NONE) {
      spin_unlock(Lock.Gmem);
      return ENOMEM;
    }
    entry = cache_entry(pfn);
    if (radix_store(root, pgoff, entry, owner) != 0) {
      page_free(entry);
      spin_unlock(Lock.Gmem);
      return ENOMEM;
    }
    add_nr_pages(inode, 1);
  }
  if (no_direct_map(inode) && (entry & CACHE_NO_DIRECT_MAP) == 0) {
    const r = zap_direct_map(entry_pfn(entry));
    if (r != 0) {
      spin_unlock(Lock.Gmem);
      return r;
    }
    entry |= CACHE_NO_DIRECT_MAP;
    radix_store(root, pgoff, entry, owner);
  }
  spin_unlock(Lock.Gmem);
  g_pfn = entry_pfn(entry);
  return 0;
}

/** The pfn found by this instance's last successful gmem_get_pfn. */
export function gmem_pfn(): u32 {
  return g_pfn;
}

/** The page at offset `pgoff` of file `id`, or PFN_NONE if absent; never allocates. */
export function gmem_lookup_pfn(id: u32, pgoff: u64): u32 {
  if (!file_exists(id)) return PFN_NONE;
  spin_lock(Lock.Gmem);
  const entry = radix_lookup(cache_root(gmem_inode_ptr(id)), pgoff);
  spin_unlock(Lock.Gmem);
  return entry != 0 ? entry_pfn(entry) : PFN_NONE;
}

/**
 * fallocate(KEEP_SIZE) of pages [pgoff, pgoff + npages) of file `id`: every
 * absent page is allocated zeroed, present pages keep their contents. Nothing
 * is mapped, so nothing leaves the direct map (see the file comment). All or
 * nothing: on ENOMEM the pages this call added are dropped again. Returns 0;
 * -22 (EINVAL) when the range goes past i_size; -27 (EFBIG) past what the
 * cache can index; -12 (ENOMEM); -9 (EBADF).
 */
export function gmem_allocate(id: u32, pgoff: u64, npages: u64): i32 {
  if (!file_exists(id)) return EBADF;
  const inode = gmem_inode_ptr(id);
  const pages = size_pages(inode);
  if (pgoff > pages || npages > pages - pgoff) return EINVAL;
  const end = pgoff + npages;
  if (end > RADIX_INDEX_LIMIT) return EFBIG;
  const owner = gmem_owner(id);
  spin_lock(Lock.Gmem);
  const root = cache_root(inode);
  let err: i32 = 0;
  let added: u64 = 0;
  let i = pgoff;
  for (; i < end; i++) {
    if (radix_lookup(root, i) != 0) continue;
    const pfn = page_alloc(id);
    if (pfn == PFN_NONE) {
      err = ENOMEM;
      break;
    }
    if (radix_store(root, i, cache_entry(pfn) | CACHE_NEW, owner) != 0) {
      page_free(cache_entry(pfn));
      err = ENOMEM;
      break;
    }
    added++;
  }
  // Settle what this call added: keep it, or drop it all on failure.
  for (let j = radix_next(root, pgoff, i); j != RADIX_NONE; j = radix_next(root, j + 1, i)) {
    const entry = radix_lookup(root, j);
    if ((entry & CACHE_NEW) == 0) continue;
    if (err == 0) radix_store(root, j, entry & ~CACHE_NEW, owner);
    else page_free(radix_erase(root, j));
  }
  if (err == 0) add_nr_pages(inode, <i64>added);
  spin_unlock(Lock.Gmem);
  return err;
}

/**
 * fallocate(PUNCH_HOLE | KEEP_SIZE) of pages [pgoff, pgoff + npages) of file
 * `id`: frees the pages present there, which read as zero when next faulted
 * in. The range may go past i_size. The caller has already zapped the EPT
 * and VMM mappings of the range and flushed (see page_free). Returns the
 * number of pages freed.
 */
export function gmem_punch(id: u32, pgoff: u64, npages: u64): u64 {
  if (!file_exists(id) || pgoff >= RADIX_INDEX_LIMIT) return 0;
  const end = npages > RADIX_INDEX_LIMIT - pgoff ? RADIX_INDEX_LIMIT : pgoff + npages;
  spin_lock(Lock.Gmem);
  const dropped = truncate_range(gmem_inode_ptr(id), pgoff, end);
  spin_unlock(Lock.Gmem);
  return dropped;
}
