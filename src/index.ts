// gmemu's library entry point.
//
// Today it exposes the Wasm core: create a machine (host RAM, vCPU records,
// direct map) over one shared memory, attach further threads to it, and read
// its counters. The KVM uAPI (Kvm.open, ioctl, ...) builds on this.

export { createCore, attachCore, compileCore } from './core/wasm.js';
export type { Core, CoreExports, MachineGeometry } from './core/wasm.js';
export { counterNames, readCounters, statsJson, COUNTER_DOCS, STATS_SCHEMA } from './core/stats.js';
export type { StatsScope } from './core/stats.js';
export { gva, gpa, hpa, hva, gpaToGfn, gfnToGpa, hpaToPfn, pfnToHpa } from './core/addr.js';
export type { Gva, Gpa, Hpa, Hva, Gfn, Pfn } from './core/addr.js';
