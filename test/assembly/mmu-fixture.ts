// A vCPU and its guest memory for the MMU tests: a core, the vCPU record, and
// guest-physical memory written in place: GPA g is HPA g + `guestBase`
// (0 = identity, as without EPT).

import { RamView } from '../../src/core/ram-view.js';
import { VcpuRecord } from '../../src/core/vcpu-record.js';
import type { VcpuResult, WalkRef } from '../../src/core/vcpu-record.js';
import { createCore } from '../../src/core/wasm.js';
import type { Core } from '../../src/core/wasm.js';

export type Exports = Core['exports'];

export interface Fixture {
  x: Exports;
  core: Core;
  /** The vCPU's result fields. */
  res(): VcpuResult;
  read64(gpa: bigint): bigint;
  write64(gpa: bigint, value: bigint): void;
  /** Zeroes `len` bytes of RAM from `gpa`. */
  zero(gpa: bigint, len: number): void;
  stat(name: string): bigint;
  /** The trace of the last traced walk. */
  trace(): WalkRef[];
}

/** Every CPUID feature the MMU knows, with MAXPHYADDR `m`. */
export function allFeatures(x: Exports, m: number): number {
  const f = x.CpuFeat;
  return m | f.Gbpages | f.Nx | f.Pcid | f.Invpcid | f.Smep | f.Smap | f.Pku | f.Pks | f.La57 | f.Pge;
}

export async function makeFixture(ramFrames: number, guestBase = 0): Promise<Fixture> {
  const core = await createCore({ ramFrames, maxVcpus: 1, hostCpus: 2 });
  const x = core.exports;
  const vcpu = new VcpuRecord(core, 0);
  const ram = new RamView(core, guestBase);
  return {
    x,
    core,
    res: () => vcpu.result(),
    read64: (gpa) => ram.read64(gpa),
    write64: (gpa, value) => ram.write64(gpa, value),
    zero: (gpa, len) => ram.fill(gpa, len, 0),
    stat: (name) => x.stats_total((x.Stat as unknown as Record<string, number>)[name]),
    trace: () => vcpu.trace(),
  };
}
