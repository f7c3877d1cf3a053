// Bringing a machine up: the one-time initialisation of a fresh memory, and
// the per-instance attach that every thread does before it calls anything.

import { layout_init, layout_attach } from './layout';
import { phys_init } from './phys';
import { dmap_init } from './directmap';
import { stats_select } from './stats';

/**
 * Lays out a fresh memory and brings up the host: frames, direct map.
 * Returns 0 or a negative errno.
 */
export function machine_init(ram_frames: u32, max_vcpus: u32, host_cpus: u32): i32 {
  const r = layout_init(ram_frames, max_vcpus, host_cpus);
  if (r != 0) return r;
  machine_attach();
  phys_init();
  return dmap_init();
}

/** Binds this instance to a memory that machine_init has laid out. */
export function machine_attach(): i32 {
  const r = layout_attach();
  if (r != 0) return r;
  stats_select(0);
  return 0;
}
