// shootdown_rtt_us: how long kvm_flush_remote_tlbs takes when it must
// interrupt running vCPUs: two vCPU workers sit in guest mode polling for a
// kick, and the main thread, as "KVM" after a zap, times each flush from the
// request to the last acknowledgement. The flush waits only until the vCPUs
// have left guest mode; each then flushes its TLB on its own time, as on
// hardware, so that cost is not in the round trip.

import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createCore, packageRoot } from '../src/core/wasm.js';

const VCPUS = 2;
/** Longest a vCPU may take to be back in guest mode, or to stop, before the bench gives up. */
const STALL_MS = 10_000;

export interface ShootdownResult {
  /** Median microseconds of one kvm_flush_remote_tlbs that kicked both vCPUs. */
  medianUs: number;
  /** Threads (the two vCPUs and the initiator) and the cores under them: spinning needs threads <= cores. */
  threads: number;
  cores: number;
}

function runningWorker(data: Record<string, unknown>): { worker: Worker; stopped: Promise<void> } {
  const worker = new Worker(join(packageRoot(), 'bench', 'shootdown.worker.mjs'), { workerData: data });
  const stopped = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return { worker, stopped };
}

/** Times `flushes` remote TLB flushes, each with both vCPUs in guest mode when it starts. */
export async function measureShootdownRtt(flushes: number, debug = false): Promise<ShootdownResult> {
  const core = await createCore({ ramFrames: 1024, maxVcpus: VCPUS, hostCpus: 2 }, debug);
  const x = core.exports;
  const vm = x.vm_alloc();
  const root = x.ept_root_alloc(1);
  const eptp = x.ept_make_eptp(root, false);
  for (let v = 0; v < VCPUS; v++) {
    x.vcpu_vm_attach(v, vm);
    x.vcpu_set_ept(v, eptp, 46, 1);
    x.vcpu_set_vpid(v, v + 1);
  }
  const cores = availableParallelism();
  x.requests_set_threads(VCPUS + 1, cores);

  const control = new SharedArrayBuffer(8);
  const ctl = new Int32Array(control);
  const bindings = join(packageRoot(), 'build', debug ? 'gmemu.debug.js' : 'gmemu.js');
  const workers = Array.from({ length: VCPUS }, (_, vcpu) => runningWorker({ module: core.module, memory: core.memory, vcpu, control, bindings }));
  try {
    const inGuest = (): boolean => {
      for (let v = 0; v < VCPUS; v++) if (x.vcpu_mode(v) !== x.VcpuMode.InGuest) return false;
      return true;
    };
    const samples: number[] = [];
    const warmUp = Math.min(100, flushes);
    for (let i = 0; i < warmUp + flushes; i++) {
      const since = Date.now();
      while (!inGuest()) {
        if (Date.now() - since > STALL_MS) throw new Error('bench: the vCPU workers are not in guest mode');
      }
      const kicks = x.stats_total(x.Stat.VcpuKick);
      const t0 = process.hrtime.bigint();
      x.kvm_flush_remote_tlbs(vm);
      const ns = Number(process.hrtime.bigint() - t0);
      if (x.stats_total(x.Stat.VcpuKick) - kicks !== BigInt(VCPUS)) throw new Error('bench: a flush did not kick both vCPUs');
      if (i >= warmUp) samples.push(ns);
    }
    if (x.stats_total(x.Stat.VcpuAckTimeout) !== 0n) throw new Error('bench: a vCPU never acknowledged a flush');
    samples.sort((a, b) => a - b);
    return { medianUs: samples[samples.length >> 1] / 1000, threads: VCPUS + 1, cores };
  } finally {
    Atomics.store(ctl, 1, 1);
    await Promise.race([
      Promise.all(workers.map((w) => w.stopped)),
      new Promise((r) => setTimeout(r, STALL_MS)),
    ]);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}
