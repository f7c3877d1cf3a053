// The hugetlb pool (mm/hugetlb.c) as MAP_HUGETLB mappings use it: 2 MiB pages
// set aside when the machine starts (the hugepages= boot parameter), each 512
// physically contiguous, 2 MiB-aligned frames.
//
// mmap(MAP_HUGETLB) reserves one pool page per 2 MiB of the mapping, and
// fails with ENOMEM when the pool cannot cover it (hugetlb_reserve_pages);
// the first touch of a 2 MiB range takes a reserved page, zeroed
// (clear_huge_page); unmapping returns the page to the pool and drops the
// reservations that were never used. The pool never gives frames back to the
// buddy allocator (phys.ts), and its frames keep one reference each, the
// pool's, for their whole life: references others take (GUP) come and go on
// top of it.
//
// A page's state is in its head frame's metadata: Owner is HUGETLB_OWNER
// while the page is free in the pool, the user's owner id while it is in use.
// Lock.Phys guards the pool's counters and states.

import {
  Frame, FrameKind, Hdr, Lock, PAGE_SIZE, frame_meta_ptr, free_stack_ptr, header_ptr, pfn_to_ptr, ram_frames,
} from './layout';
import { FRAME_POISON, PFN_NONE } from './phys';
import { spin_lock, spin_unlock } from './sync';

export const HPAGE_SHIFT: u32 = 21;
/** 4 KiB frames in one huge page. */
export const HPAGE_FRAMES: u32 = 512;
/** Frame owner of pool frames that no mapping uses. */
export const HUGETLB_OWNER: u32 = 0x68000000;

const ENOMEM: i32 = -12;
const EINVAL: i32 = -22;

@inline function hdr(f: Hdr): usize {
  return header_ptr() + f;
}

/**
 * Sets aside `count` huge pages at the top of RAM (below any tail that is
 * not a whole 2 MiB). Called once, right after machine_init, while those
 * frames are still free. Returns 0; -22 (EINVAL) if called twice; -12
 * (ENOMEM) when RAM cannot hold them or a frame there is in use.
 */
export function hugetlb_pool_init(count: u32): i32 {
  if (load<u32>(hdr(Hdr.HugetlbPages)) != 0) return EINVAL;
  if (count == 0) return 0;
  const top = ram_frames() & ~(HPAGE_FRAMES - 1);
  const need = <u64>count * HPAGE_FRAMES;
  // Keep at least a quarter of RAM for everything else.
  if (need > <u64>(ram_frames() - (ram_frames() >> 2)) || need > <u64>top) return ENOMEM;
  const base = top - <u32>need;
  spin_lock(Lock.Phys);
  const stack = free_stack_ptr();
  const n = load<u32>(hdr(Hdr.FreeTop));
  let found: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const pfn = load<u32>(stack + (<usize>i << 2));
    if (pfn >= base && pfn < top) found++;
  }
  if (found != <u32>need) {
    spin_unlock(Lock.Phys);
    return ENOMEM;
  }
  let out: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const pfn = load<u32>(stack + (<usize>i << 2));
    if (pfn >= base && pfn < top) continue;
    store<u32>(stack + (<usize>out << 2), pfn);
    out++;
  }
  store<u32>(hdr(Hdr.FreeTop), out);
  for (let pfn = base; pfn < top; pfn++) {
    const m = frame_meta_ptr(pfn);
    store<u32>(m + Frame.Owner, HUGETLB_OWNER);
    store<u32>(m + Frame.Refcount, 1);
    store<u8>(m + Frame.Kind, <u8>FrameKind.Hugetlb);
  }
  store<u32>(hdr(Hdr.HugetlbBase), base);
  store<u32>(hdr(Hdr.HugetlbFree), count);
  store<u32>(hdr(Hdr.HugetlbResv), 0);
  store<u32>(hdr(Hdr.HugetlbPages), count);
  spin_unlock(Lock.Phys);
  return 0;
}

/** Huge pages in the pool (HugePages_Total). */
export function hugetlb_pages(): u32 {
  return atomic.load<u32>(hdr(Hdr.HugetlbPages));
}

/** Free huge pages, reserved ones included (HugePages_Free). */
export function hugetlb_free_pages(): u32 {
  return atomic.load<u32>(hdr(Hdr.HugetlbFree));
}

/** Free huge pages that mappings have reserved (HugePages_Rsvd). */
export function hugetlb_resv_pages(): u32 {
  return atomic.load<u32>(hdr(Hdr.HugetlbResv));
}

/** True when `pfn` is the first frame of a pool page. */
export function hugetlb_is_head(pfn: u32): bool {
  const base = load<u32>(hdr(Hdr.HugetlbBase));
  const pages = load<u32>(hdr(Hdr.HugetlbPages));
  return pfn >= base && pfn < base + pages * HPAGE_FRAMES && ((pfn - base) & (HPAGE_FRAMES - 1)) == 0;
}

/** hugetlb_reserve_pages: reserves `n` free pages for a new mapping. False when the pool cannot. */
export function hugetlb_reserve(n: u64): bool {
  spin_lock(Lock.Phys);
  const free = load<u32>(hdr(Hdr.HugetlbFree));
  const resv = load<u32>(hdr(Hdr.HugetlbResv));
  const ok = n <= <u64>(free - resv);
  if (ok) store<u32>(hdr(Hdr.HugetlbResv), resv + <u32>n);
  spin_unlock(Lock.Phys);
  return ok;
}

/** Gives back `n` reservations a mapping never used. */
export function hugetlb_unreserve(n: u64): void {
  spin_lock(Lock.Phys);
  store<u32>(hdr(Hdr.HugetlbResv), load<u32>(hdr(Hdr.HugetlbResv)) - <u32>n);
  spin_unlock(Lock.Phys);
}

/**
 * Takes a reserved page for `owner`, zeroed (clear_huge_page). Returns its
 * head pfn, or PFN_NONE when no reservation is left.
 */
export function hugetlb_alloc(owner: u32): u32 {
  spin_lock(Lock.Phys);
  const resv = load<u32>(hdr(Hdr.HugetlbResv));
  if (resv == 0) {
    spin_unlock(Lock.Phys);
    return PFN_NONE;
  }
  const base = load<u32>(hdr(Hdr.HugetlbBase));
  const pages = load<u32>(hdr(Hdr.HugetlbPages));
  let head = PFN_NONE;
  for (let i: u32 = 0; i < pages; i++) {
    const pfn = base + i * HPAGE_FRAMES;
    if (load<u32>(frame_meta_ptr(pfn) + Frame.Owner) == HUGETLB_OWNER) {
      head = pfn;
      break;
    }
  }
  for (let i: u32 = 0; i < HPAGE_FRAMES; i++) store<u32>(frame_meta_ptr(head + i) + Frame.Owner, owner);
  store<u32>(hdr(Hdr.HugetlbResv), resv - 1);
  store<u32>(hdr(Hdr.HugetlbFree), load<u32>(hdr(Hdr.HugetlbFree)) - 1);
  spin_unlock(Lock.Phys);
  memory.fill(pfn_to_ptr(head), 0, <usize>HPAGE_FRAMES * PAGE_SIZE);
  return head;
}

/** Returns the page at `head` to the pool (free_huge_folio); its next user gets it zeroed. */
export function hugetlb_put(head: u32): void {
  if (ASC_NO_ASSERT == false) memory.fill(pfn_to_ptr(head), FRAME_POISON, <usize>HPAGE_FRAMES * PAGE_SIZE);
  spin_lock(Lock.Phys);
  for (let i: u32 = 0; i < HPAGE_FRAMES; i++) store<u32>(frame_meta_ptr(head + i) + Frame.Owner, HUGETLB_OWNER);
  store<u32>(hdr(Hdr.HugetlbFree), load<u32>(hdr(Hdr.HugetlbFree)) + 1);
  spin_unlock(Lock.Phys);
}
