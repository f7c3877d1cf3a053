// Benchmark kernels: each runs one hot path of the core many times inside
// Wasm, so the timing TypeScript takes around one call measures the path and
// not the JS->Wasm boundary. Each returns a checksum of what the path
// produced, so the optimiser cannot drop the work and the harness can check
// that two implementations computed the same thing. bench/metrics.ts times
// them; nothing else calls them.

import { hpa_to_ptr } from './layout';
import { set_direct_map_default_noflush, set_direct_map_invalid_noflush } from './directmap';

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
