// The measurements behind `gmemu bench`. Every per-access loop runs inside
// Wasm (assembly/bench.ts), so a JS->Wasm call is paid once per repetition,
// not once per access; TypeScript only times the kernels, best of several
// repetitions after a warm-up, and checks that the Wasm, native and
// TypeScript walkers translated the same addresses to the same pages.

import { cpus } from 'node:os';
import { createCore } from '../src/core/wasm.js';
import type { Core } from '../src/core/wasm.js';
import { gva } from '../src/core/addr.js';
import { referenceWalk } from '../src/reference/guest-walk.js';
import type { WalkState } from '../src/reference/guest-walk.js';
import { hostRam } from '../src/reference/host-ram.js';
import type { WalkOutcome } from '../src/reference/types.js';
import { NativeBuildError, findCompiler, runNative } from './native.js';
import type { NativeResult } from './native.js';
import { BENCH_SCHEMA, judge } from './report.js';
import { measureGuestLoadHitNs } from './guest-load.js';
import { measureShootdownRtt } from './shootdown.js';
import type { BenchReport, Metric } from './report.js';
import { buildBenchVm, xorshift32 } from './vm.js';
import type { BenchSizes, BenchVm } from './vm.js';

/** Loop counts: how much work one timed repetition does, and how many repetitions. */
export interface BenchIterations {
  reps: number;
  tlbHitLoads: number;
  walks: number;
  /** Walks of the TypeScript reference walker (it is slow). */
  referenceWalks: number;
  copyReps: number;
  directMapPairs: number;
  /** Remote TLB flushes timed with two vCPUs in guest mode. */
  shootdowns: number;
}

export interface BenchOptions {
  /** Fewer repetitions (CI, `npm start`). */
  quick?: boolean;
  sizes?: BenchSizes;
  iterations?: Partial<BenchIterations>;
  seed?: number;
  /** Measure the native baseline when a C compiler exists (default true). */
  native?: boolean;
}

/** The full run: a 16 GiB walk range (about 64 MiB of guest and EPT tables) and a 64 MiB copy. */
export const FULL_SIZES: BenchSizes = { walkPages: 4 << 20, walkDataPages: 4096, copyBytes: 64 << 20 };

const FULL_ITERATIONS: BenchIterations = {
  reps: 7, tlbHitLoads: 20_000_000, walks: 300_000, referenceWalks: 5_000, copyReps: 5, directMapPairs: 1_000_000,
  shootdowns: 5_000,
};
const QUICK_ITERATIONS: BenchIterations = {
  reps: 3, tlbHitLoads: 5_000_000, walks: 100_000, referenceWalks: 1_000, copyReps: 3, directMapPairs: 200_000,
  shootdowns: 500,
};

/** Pages the TLB-hit loop cycles over: few enough to stay in the TLB and in L1. */
const TLB_HIT_PAGES = 8;
/** Frames of one 2 MiB direct-map region, removed and restored in turn. */
const DIRECT_MAP_PAGES = 512;

const TARGETS = {
  tlb_hit_load_ns: { on: 'value', op: '<=', bound: 8 },
  guest_load_hit_ns: { on: 'value', op: '<=', bound: 8 },
  walk2d_ns: { on: 'ratio', op: '<=', bound: 1.2 },
  copy64_gbps: { on: 'ratio', op: '>=', bound: 0.9 },
  shootdown_rtt_us: { on: 'value', op: '<=', bound: 2 },
} as const;

/** Runs `once` once to warm up, then `reps` times; returns the fastest time in ns. */
function bestNs(reps: number, once: () => void): number {
  once();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    once();
    best = Math.min(best, Number(process.hrtime.bigint() - t0));
  }
  return best;
}

/** The checksum term of one walk, as the Wasm kernel and walk2d.c add it. */
const WALK_FAILED = 0xfa11000000000000n;
const OUTCOME_STATUS: Record<WalkOutcome['kind'], bigint> = {
  ok: 0n, 'page-fault': 1n, 'general-protection': 2n, 'ept-violation': 3n, 'ept-misconfig': 4n, 'no-memory': 5n,
};

function referenceState(vm: BenchVm): WalkState {
  const c = vm.control;
  return {
    guest: { cr0: c.cr0, cr3: c.cr3, cr4: c.cr4, efer: c.efer, pkru: 0, pkrs: 0, maxPhyAddr: c.maxPhyAddr, vendor: 'intel', gbpages: true },
    ept: { eptp: c.eptp, maxPhyAddr: c.maxPhyAddr, execOnly: true, page1g: true },
  };
}

/** The same address stream as the Wasm kernel, walked by the TypeScript reference walker. */
function referenceWalks(vm: BenchVm, ram: Uint8Array, iters: number, seed: number): bigint {
  const mem = hostRam(ram);
  const state = referenceState(vm);
  let x = seed;
  let sum = 0n;
  for (let i = 0; i < iters; i++) {
    x = xorshift32(x);
    const la = vm.walkBase + (BigInt(x % vm.walkPages) << 12n);
    const r = referenceWalk(mem, state, { la: gva(la), kind: 'read', cpl: 0, ac: false, implicit: false });
    sum += r.outcome.kind === 'ok' ? r.outcome.hpa : WALK_FAILED + OUTCOME_STATUS[r.outcome.kind];
  }
  return BigInt.asUintN(64, sum);
}

function ramView(vm: BenchVm): Uint8Array {
  const x = vm.core.exports;
  return new Uint8Array(vm.core.memory.buffer, x.ram_base(), Number(x.ram_bytes()));
}

/** The vCPU record's fields, read and written as the core lays them out. */
function vcpuRecord(vm: BenchVm): DataView {
  const x = vm.core.exports;
  return new DataView(vm.core.memory.buffer, x.vcpu_ptr(vm.vcpu), x.VCPU_STATE_BYTES.value);
}

/** Fills each source page with a word that names it, so the copy moves real data. */
function fillCopySource(vm: BenchVm): void {
  const x = vm.core.exports;
  const rec = vcpuRecord(vm);
  for (let off = 0; off < vm.copyBytes; off += 4096) {
    if (x.vcpu_access(vm.vcpu, vm.copySrc + BigInt(off), x.AccessKind.Read, 0, 0, false) !== x.AccessStatus.Ok) {
      throw new Error('bench: the copy source does not translate');
    }
    const hpa = Number(rec.getBigUint64(x.Vcpu.ResHpa, true));
    new Uint32Array(vm.core.memory.buffer, x.ram_base() + hpa, 1024).fill(off / 4096 + 1);
  }
}

/**
 * Loads the guest's control state into the vCPU: long mode with NX, the EPT
 * pointer, and what CPUID and the EPT capabilities enumerate.
 */
function setUpVcpu(vm: BenchVm): void {
  const x = vm.core.exports;
  const c = vm.control;
  x.vcpu_set_features(vm.vcpu, c.maxPhyAddr | x.CpuFeat.Nx | x.CpuFeat.Gbpages);
  x.vcpu_set_ept(vm.vcpu, c.eptp, c.maxPhyAddr | x.EptCap.ExecOnly | x.EptCap.Page1g, 1);
  x.vcpu_set_vpid(vm.vcpu, 1);
  x.vcpu_set_state(vm.vcpu, c.cr0, c.cr3, c.cr4, c.efer);
}

function machineInfo(quick: boolean, compiler: string | null, debug: boolean): BenchReport['machine'] {
  const cpu = cpus();
  return {
    node: process.versions.node,
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    platform: process.platform,
    arch: process.arch,
    compiler,
    wasm: debug ? 'debug' : 'release',
    quick,
  };
}

/**
 * A bare host (no guest) and the first of `frames` contiguous allocated
 * frames that start a 2 MiB direct-map region (an unshuffled allocator hands
 * frames out in ascending order). The frames left free are for the tables a
 * direct-map split allocates.
 */
async function hostFrames(frames: number): Promise<{ exports: Core['exports']; firstPfn: number }> {
  const core = await createCore({ ramFrames: frames + 2 * DIRECT_MAP_PAGES, maxVcpus: 1, hostCpus: 2 });
  const h = core.exports;
  const first = h.frame_alloc(h.FrameKind.Anon, 1);
  const firstPfn = Math.ceil(first / DIRECT_MAP_PAGES) * DIRECT_MAP_PAGES;
  for (let pfn = first + 1; pfn < firstPfn + frames; pfn++) {
    if (h.frame_alloc(h.FrameKind.Anon, 1) !== pfn) throw new Error('bench: the bare host cannot give contiguous frames');
  }
  return { exports: h, firstPfn };
}

/** Runs every measurement and returns the report `gmemu bench --json` prints. */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const quick = options.quick ?? false;
  const sizes = options.sizes ?? FULL_SIZES;
  const it: BenchIterations = { ...(quick ? QUICK_ITERATIONS : FULL_ITERATIONS), ...options.iterations };
  const seed = options.seed ?? 0x1234_5678;
  const compiler = options.native === false ? null : findCompiler();

  const vm = await buildBenchVm(sizes, seed);
  const x = vm.core.exports;
  setUpVcpu(vm);
  fillCopySource(vm);

  // tlb_hit_load_ns: an 8-byte load through a TLB that holds the page.
  const tlbNs = bestNs(it.reps, () => {
    x.bench_tlb_hit_load(vm.vcpu, vm.copySrc, TLB_HIT_PAGES, it.tlbHitLoads);
  }) / it.tlbHitLoads;

  // guest_load_hit_ns: the same loads, as a guest program through the interpreter.
  const guestLoadNs = measureGuestLoadHitNs(vm, it.tlbHitLoads, it.reps, TLB_HIT_PAGES);

  // walk2d_ns: the full 2D walk of random addresses of the walk range.
  const walkSeed = seed ^ 0x6a09e667;
  const walkChecksum = x.bench_walk2d(vm.vcpu, vm.walkBase, vm.walkPages, it.walks, walkSeed);
  const walkNs = bestNs(it.reps, () => {
    if (x.bench_walk2d(vm.vcpu, vm.walkBase, vm.walkPages, it.walks, walkSeed) !== walkChecksum) {
      throw new Error('bench: the Wasm walk checksum changed between passes');
    }
  }) / it.walks;

  // walk2d_ts_ns: the reference walker on the same tables and addresses.
  const ram = ramView(vm);
  const tsChecksum = x.bench_walk2d(vm.vcpu, vm.walkBase, vm.walkPages, it.referenceWalks, walkSeed);
  const tsNs = bestNs(Math.min(it.reps, 3), () => {
    if (referenceWalks(vm, ram, it.referenceWalks, walkSeed) !== tsChecksum) {
      throw new Error('bench: the reference walker and the Wasm walker translated differently');
    }
  }) / it.referenceWalks;

  // copy64_gbps: guest-virtual to guest-virtual copy through the MMU.
  const copyNs = bestNs(it.copyReps, () => {
    x.bench_guest_copy(vm.vcpu, vm.copyDst, vm.copySrc, BigInt(vm.copyBytes), 1);
  });

  let native: NativeResult | null = null;
  let nativeFailure: string | null = null;
  if (compiler) {
    try {
      native = runNative(compiler, ram, {
        cr0: vm.control.cr0, cr3: vm.control.cr3, cr4: vm.control.cr4, efer: vm.control.efer, pkru: 0n, pkrs: 0n,
        guestMaxPhyAddr: BigInt(vm.control.maxPhyAddr), gbpages: 1n,
        eptp: vm.control.eptp, hostMaxPhyAddr: BigInt(vm.control.maxPhyAddr), eptExecOnly: 1n, eptPage1g: 1n,
        walkBase: vm.walkBase, walkPages: BigInt(vm.walkPages), walkIters: BigInt(it.walks), walkSeed: BigInt(walkSeed),
        walkReps: BigInt(it.reps),
        copyDst: vm.copyDst, copySrc: vm.copySrc, copyLen: BigInt(vm.copyBytes), copyReps: BigInt(it.copyReps),
      });
    } catch (err) {
      if (!(err instanceof NativeBuildError)) throw err;
      nativeFailure = err.message;
    }
    if (native && native.walkChecksum !== walkChecksum) throw new Error('bench: the native and Wasm walkers translated differently');
    if (native && !native.copyOk) throw new Error('bench: the native copy did not reproduce its source');
  }

  // directmap_pairs_per_s and memcopy64_gbps run on a bare host with no
  // guest: one 2 MiB direct-map region to split, and two raw RAM ranges to copy.
  const host = await hostFrames(DIRECT_MAP_PAGES + (2 * sizes.copyBytes) / 4096);
  const h = host.exports;
  // The warm-up pass of bestNs makes the one split; the timed passes find the region split.
  const dmapNs = bestNs(it.reps, () => {
    if (h.bench_directmap_pairs(host.firstPfn, DIRECT_MAP_PAGES, it.directMapPairs) !== 0n) {
      throw new Error('bench: a set_direct_map_*_noflush call failed');
    }
  });
  const memSrc = BigInt((host.firstPfn + DIRECT_MAP_PAGES) * 4096);
  const memcopyNs = bestNs(it.copyReps, () => {
    h.bench_memcopy(memSrc + BigInt(sizes.copyBytes), memSrc, BigInt(sizes.copyBytes), 1);
  });

  // shootdown_rtt_us: kvm_flush_remote_tlbs with two vCPU workers in guest mode.
  const shootdown = await measureShootdownRtt(it.shootdowns, vm.core.debug);

  const noNative = nativeFailure !== null
    ? `not measured: ${nativeFailure}`
    : options.native === false
      ? 'not measured: the native baseline was turned off'
      : 'no C compiler found (set CC or install cc): the native baseline was not measured';
  const metrics: Record<string, Metric> = {
    tlb_hit_load_ns: judge(tlbNs, 'ns', TARGETS.tlb_hit_load_ns),
    guest_load_hit_ns: judge(guestLoadNs, 'ns', TARGETS.guest_load_hit_ns, undefined,
      'an 8-byte load by the guest interpreter (fetch, decode, TLB hit); loops of 8 loads and a LOOP'),
    walk2d_ns: judge(walkNs, 'ns', TARGETS.walk2d_ns, native?.walk2dNs ?? null),
    walk2d_native_ns: native ? judge(native.walk2dNs, 'ns') : judge(null, 'ns', undefined, undefined, noNative),
    walk2d_ts_ns: judge(tsNs, 'ns', undefined, native?.walk2dNs ?? null),
    copy64_gbps: judge(sizes.copyBytes / copyNs, 'GB/s', TARGETS.copy64_gbps, native?.copyGbps ?? null),
    copy64_native_gbps: native ? judge(native.copyGbps, 'GB/s') : judge(null, 'GB/s', undefined, undefined, noNative),
    memcopy64_gbps: judge(sizes.copyBytes / memcopyNs, 'GB/s'),
    directmap_pairs_per_s: judge(it.directMapPairs / (dmapNs / 1e9), 'pairs/s'),
    shootdown_rtt_us: judge(shootdown.medianUs, 'us', TARGETS.shootdown_rtt_us, undefined,
      `median of ${it.shootdowns} flushes; ${shootdown.threads} threads on ${shootdown.cores} cores: ` +
      (shootdown.threads <= shootdown.cores ? 'the initiator spins for acknowledgements' : 'more threads than cores, so the initiator sleeps (futex) instead of spinning')),
  };
  return { schema: BENCH_SCHEMA, machine: machineInfo(quick, compiler?.version ?? null, vm.core.debug), metrics };
}
