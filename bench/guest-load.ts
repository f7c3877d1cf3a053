// guest_load_hit_ns: an 8-byte guest load on a TLB hit, executed by the
// interpreter as a guest program (fetch through the kept code page, decode,
// the load through the vCPU's TLB). The program is eight loads from eight
// pages the TLB holds, then LOOP, repeated; the whole run is one cpu_exec
// call, so JavaScript is entered once per repetition. The time is per load,
// and so includes one ninth of the loop's own cost per load.

import { Program } from '../src/guest/program.js';
import type { BenchVm } from './vm.js';

/** Loads per iteration of the guest loop. */
const UNROLL = 8;

/** Writes the load loop as guest code at the start of the copy destination; returns its address. */
function loadProgram(vm: BenchVm, pages: number): bigint {
  const x = vm.core.exports;
  const view = new DataView(vm.core.memory.buffer);
  const rec = x.vcpu_ptr(vm.vcpu);
  if (x.vcpu_access(vm.vcpu, vm.copyDst, x.AccessKind.Write, 0, 0, false) !== x.AccessStatus.Ok) {
    throw new Error('bench: the guest code page does not translate');
  }
  const hpa = Number(view.getBigUint64(rec + x.Vcpu.ResHpa, true));
  const p = new Program(x).label('top');
  for (let i = 0; i < UNROLL; i++) p.ld(8, 'rax', { reg: 'rsi', disp: BigInt((i % pages) * 4096 + 8 * i) });
  p.loop('rcx', 'top').hlt();
  new Uint8Array(vm.core.memory.buffer).set(p.bytes(vm.copyDst), x.ram_base() + hpa);
  return vm.copyDst;
}

/** The fastest of `reps` runs of `loads` loads (after a warm-up), in ns per load. */
export function measureGuestLoadHitNs(vm: BenchVm, loads: number, reps: number, pages: number): number {
  const x = vm.core.exports;
  const view = new DataView(vm.core.memory.buffer);
  const rec = x.vcpu_ptr(vm.vcpu);
  const entry = loadProgram(vm, pages);
  const iterations = Math.max(1, Math.floor(loads / UNROLL));
  const once = (): void => {
    view.setBigUint64(rec + x.Vcpu.Rip, entry, true);
    view.setBigUint64(rec + x.Vcpu.Gpr + 8 * 1, BigInt(iterations), true);
    view.setBigUint64(rec + x.Vcpu.Gpr + 8 * 6, vm.copySrc, true);
    const exit = x.cpu_exec(vm.vcpu, BigInt(iterations * (UNROLL + 1) + 1));
    if (exit !== x.CpuExit.Hlt) throw new Error(`bench: the guest load loop ended with CpuExit ${exit}, not HLT`);
  };
  once();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    once();
    best = Math.min(best, Number(process.hrtime.bigint() - t0));
  }
  return best / (iterations * UNROLL);
}
