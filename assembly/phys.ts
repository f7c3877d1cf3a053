// Host physical memory: 4 KiB frames and their allocator.
//
// Free frames sit on a stack of pfns (LIFO, so a freed frame is the next one
// handed out, which is what makes use-after-free visible in tests). The stack
// can be shuffled with a seed for reproducible but scattered layouts. A frame
// is zeroed when it is allocated; in debug builds a freed frame is filled with
// FRAME_POISON so a read of a freed frame stands out.

import {
  Frame, FrameKind, Hdr, Lock, PAGE_SIZE,
  frame_meta_ptr, free_stack_ptr, header_ptr, pfn_to_ptr, ram_frames,
} from './layout';
import { Stat, stat_inc } from './stats';
import { spin_lock, spin_unlock } from './sync';

export const FRAME_POISON: u8 = 0x6b; // the kernel's POISON_FREE byte
export const PFN_NONE: u32 = 0xffffffff;

/** Puts every frame on the free stack, lowest pfn on top. Called by machine_init. */
export function phys_init(): void {
  const n = ram_frames();
  const stack = free_stack_ptr();
  for (let i: u32 = 0; i < n; i++) store<u32>(stack + (<usize>i << 2), n - 1 - i);
  store<u32>(header_ptr() + Hdr.FreeTop, n);
}

/**
 * Shuffles the free stack with a seeded xorshift (Fisher-Yates), so frames are
 * handed out in a scattered but reproducible order.
 */
export function phys_shuffle(seed: u32): void {
  spin_lock(Lock.Phys);
  const top = load<u32>(header_ptr() + Hdr.FreeTop);
  const stack = free_stack_ptr();
  let x: u32 = seed != 0 ? seed : 0x9e3779b9;
  for (let i: u32 = top - 1; i > 0; i--) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    const j = x % (i + 1);
    const a = stack + (<usize>i << 2);
    const b = stack + (<usize>j << 2);
    const t = load<u32>(a);
    store<u32>(a, load<u32>(b));
    store<u32>(b, t);
  }
  spin_unlock(Lock.Phys);
}

/** Allocates one zeroed frame. Returns its pfn, or PFN_NONE when RAM is exhausted. */
export function frame_alloc(kind: FrameKind, owner: u32): u32 {
  spin_lock(Lock.Phys);
  const topPtr = header_ptr() + Hdr.FreeTop;
  const top = load<u32>(topPtr);
  if (top == 0) {
    spin_unlock(Lock.Phys);
    stat_inc(Stat.FrameAllocFail);
    return PFN_NONE;
  }
  const pfn = load<u32>(free_stack_ptr() + (<usize>(top - 1) << 2));
  store<u32>(topPtr, top - 1);
  const m = frame_meta_ptr(pfn);
  store<u32>(m + Frame.Owner, owner);
  store<u32>(m + Frame.Refcount, 1);
  store<u8>(m + Frame.Kind, <u8>kind);
  spin_unlock(Lock.Phys);
  memory.fill(pfn_to_ptr(pfn), 0, PAGE_SIZE);
  stat_inc(Stat.FrameAlloc);
  return pfn;
}

/** Takes another reference on an allocated frame. */
export function frame_get(pfn: u32): void {
  atomic.add<u32>(frame_meta_ptr(pfn) + Frame.Refcount, 1);
}

/** Drops a reference; the last one frees the frame. Returns true when it was freed. */
export function frame_put(pfn: u32): bool {
  const m = frame_meta_ptr(pfn);
  const old = atomic.sub<u32>(m + Frame.Refcount, 1);
  assert(old != 0, 'frame_put on a free frame');
  if (old != 1) return false;
  if (ASC_NO_ASSERT == false) memory.fill(pfn_to_ptr(pfn), FRAME_POISON, PAGE_SIZE);
  spin_lock(Lock.Phys);
  store<u32>(m + Frame.Owner, 0);
  store<u8>(m + Frame.Kind, <u8>FrameKind.Free);
  store<u32>(m + Frame.Generation, load<u32>(m + Frame.Generation) + 1);
  const topPtr = header_ptr() + Hdr.FreeTop;
  const top = load<u32>(topPtr);
  store<u32>(free_stack_ptr() + (<usize>top << 2), pfn);
  store<u32>(topPtr, top + 1);
  spin_unlock(Lock.Phys);
  stat_inc(Stat.FrameFree);
  return true;
}

export function phys_free_frames(): u32 {
  return atomic.load<u32>(header_ptr() + Hdr.FreeTop);
}

export function frame_kind(pfn: u32): u32 {
  return load<u8>(frame_meta_ptr(pfn) + Frame.Kind);
}

export function frame_owner(pfn: u32): u32 {
  return load<u32>(frame_meta_ptr(pfn) + Frame.Owner);
}

export function frame_refcount(pfn: u32): u32 {
  return atomic.load<u32>(frame_meta_ptr(pfn) + Frame.Refcount);
}

export function frame_generation(pfn: u32): u32 {
  return load<u32>(frame_meta_ptr(pfn) + Frame.Generation);
}
