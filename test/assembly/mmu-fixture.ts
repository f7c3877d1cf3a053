// A vCPU and its guest memory for the MMU tests: a core, the Vcpu record read
// through a DataView, and guest-physical memory written in place: GPA g is
// HPA g + `guestBase` (0 = identity, as without EPT).

import { createCore } from '../../src/core/wasm.js';
import type { Core } from '../../src/core/wasm.js';

export type Exports = Core['exports'];

export interface Fixture {
  x: Exports;
  core: Core;
  /** The vCPU's result fields. */
  res(): { status: number; err: number; cr2: bigint; gpa: bigint; hpa: bigint; shift: number; level: number; qual: bigint; eptGpa: bigint };
  read64(gpa: bigint): bigint;
  write64(gpa: bigint, value: bigint): void;
  /** Zeroes `len` bytes of RAM from `gpa`. */
  zero(gpa: bigint, len: number): void;
  stat(name: string): bigint;
  /** The trace of the last traced walk: [kind, level, addr, value, newValue]. */
  trace(): [number, number, bigint, bigint, bigint][];
}

/** Every CPUID feature the MMU knows, with MAXPHYADDR `m`. */
export function allFeatures(x: Exports, m: number): number {
  const f = x.CpuFeat;
  return m | f.Gbpages | f.Nx | f.Pcid | f.Invpcid | f.Smep | f.Smap | f.Pku | f.Pks | f.La57 | f.Pge;
}

export async function makeFixture(ramFrames: number, guestBase = 0): Promise<Fixture> {
  const core = await createCore({ ramFrames, maxVcpus: 1, hostCpus: 2 });
  const x = core.exports;
  const view = () => new DataView(core.memory.buffer);
  const v = x.vcpu_ptr(0);
  const ram = x.ram_base() + guestBase;
  const V = x.Vcpu;
  return {
    x,
    core,
    res() {
      const d = view();
      return {
        status: d.getUint32(v + V.ResStatus, true),
        err: d.getUint32(v + V.ResErr, true),
        cr2: d.getBigUint64(v + V.ResCr2, true),
        gpa: d.getBigUint64(v + V.ResGpa, true),
        hpa: d.getBigUint64(v + V.ResHpa, true),
        shift: d.getUint32(v + V.ResPageShift, true),
        level: d.getUint32(v + V.ResLevel, true),
        qual: d.getBigUint64(v + V.ResEptQual, true),
        eptGpa: d.getBigUint64(v + V.ResEptGpa, true),
      };
    },
    read64: (gpa) => view().getBigUint64(ram + Number(gpa), true),
    write64: (gpa, value) => view().setBigUint64(ram + Number(gpa), BigInt.asUintN(64, value), true),
    zero: (gpa, len) => new Uint8Array(core.memory.buffer, ram + Number(gpa), len).fill(0),
    stat: (name) => x.stats_total((x.Stat as unknown as Record<string, number>)[name]),
    trace() {
      const d = view();
      const n = Math.min(d.getUint32(v + V.TraceCount, true), x.TRACE_MAX.value);
      const out: [number, number, bigint, bigint, bigint][] = [];
      for (let i = 0; i < n; i++) {
        const r = v + V.Trace + i * x.TRACE_REF_BYTES.value;
        out.push([
          d.getUint32(r + x.TraceRef.Kind, true), d.getUint32(r + x.TraceRef.Level, true),
          d.getBigUint64(r + x.TraceRef.Addr, true), d.getBigUint64(r + x.TraceRef.Value, true),
          d.getBigUint64(r + x.TraceRef.NewValue, true),
        ]);
      }
      return out;
    },
  };
}
