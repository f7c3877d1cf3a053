// Benchmark kernels: each runs one hot path of the core many times inside
// Wasm, so the timing TypeScript takes around one call measures the path and
// not the JS->Wasm boundary. Each returns a checksum of what the path
// produced, so the optimiser cannot drop the work and the harness can check
// that two implementations computed the same thing. bench/metrics.ts times
// them; nothing else calls them.

import { AccessKind, AccessStatus, PAGE_SHIFT, hpa_to_ptr } from './layout';
import { guest_copy, guest_read64 } from './access';
import { set_direct_map_default_noflush, set_direct_map_invalid_noflush } from './directmap';
import { walk, walk_hpa } from './paging';

/**
 * What a failed walk adds to a walk checksum, plus its AccessStatus: the
 * native and TypeScript walkers add the same, so a walker that fails where
 * another succeeds changes the sum.
 */
const WALK_FAILED: u64 = 0xfa11_0000_0000_0000;

/**
 * `iters` 8-byte guest loads cycling over `pages` pages (a power of two) from
 * `la`: once the pages are in the TLB, every load is a hit. Returns the sum of
 * the values read.
 */
export function bench_tlb_hit_load(vcpu: u32, la: u64, pages: u32, iters: u32): u64 {
  const mask = pages - 1;
  let sum: u64 = 0;
  for (let i: u32 = 0; i < iters; i++) {
    sum += guest_read64(vcpu, la + (<u64>(i & mask) << PAGE_SHIFT));
  }
  return sum;
}

/**
 * `iters` full 2D walks (no TLB) of supervisor reads, each of a page of the
 * `pages`-page range at `base` picked by xorshift32 from `seed`: the address
 * stream bench/native/walk2d.c and the TypeScript harness reproduce. Returns
 * the sum of the host-physical addresses (mod 2^64).
 */
export function bench_walk2d(vcpu: u32, base: u64, pages: u32, iters: u32, seed: u32): u64 {
  let x = seed;
  let sum: u64 = 0;
  for (let i: u32 = 0; i < iters; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const la = base + (<u64>(x % pages) << PAGE_SHIFT);
    const r = walk(vcpu, la, AccessKind.Read, 0, 0, false);
    sum += r == AccessStatus.Ok ? walk_hpa() : WALK_FAILED + <u64>r;
  }
  return sum;
}

/**
 * `reps` guest_copy calls of `len` bytes from `src_la` to `dst_la`. Returns
 * the sum of their AccessStatus (0 when every copy completed).
 */
export function bench_guest_copy(vcpu: u32, dst_la: u64, src_la: u64, len: u64, reps: u32): u64 {
  let sum: u64 = 0;
  for (let i: u32 = 0; i < reps; i++) sum += <u64>guest_copy(vcpu, dst_la, src_la, len);
  return sum;
}

/**
 * `reps` raw memory.copy calls of `len` bytes from host-physical `src` to
 * `dst`: the ceiling of any copy in the core. Returns the first word copied.
 */
export function bench_memcopy(dst: u64, src: u64, len: u64, reps: u32): u64 {
  const d = hpa_to_ptr(dst);
  const s = hpa_to_ptr(src);
  for (let i: u32 = 0; i < reps; i++) memory.copy(d, s, <usize>len);
  return load<u64>(d);
}

/**
 * `pairs` set_direct_map_invalid_noflush + set_direct_map_default_noflush
 * pairs, on the frames `first_pfn` .. `first_pfn + npages - 1` in turn.
 * Returns the sum of the return codes (0 when every call succeeded).
 */
export function bench_directmap_pairs(first_pfn: u32, npages: u32, pairs: u32): u64 {
  let sum: u64 = 0;
  for (let i: u32 = 0; i < pairs; i++) {
    const pfn = first_pfn + i % npages;
    sum += <u64><u32>set_direct_map_invalid_noflush(pfn);
    sum += <u64><u32>set_direct_map_default_noflush(pfn);
  }
  return sum;
}
