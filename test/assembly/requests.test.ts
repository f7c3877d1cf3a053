// KVM requests and remote TLB shootdowns (assembly/requests.ts): the request
// bits, the vCPU's entry and exit protocol, and stress tests in which vCPU
// workers keep reading guest pages through their TLBs while the main thread
// moves pages to new frames, flushes, and poisons the old frames.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { readCounters } from '../../src/core/stats.js';
import { type Core, createCore } from '../../src/core/wasm.js';

const P = 1n;
const W = 2n;
const A = 0x20n;
const D = 0x40n;
/** EPT leaf rights RWX, write-back memory type. */
const EPT_PROT = 7 | (6 << 3);
const OWNER = 9;
const MAXPHYADDR = 46;
/** Guest tables at GPA 0x1000..0x4fff, data pages from DATA_GPA, linear = physical. */
const PML4 = 0x1000n;
const DATA_GPA = 0x10000n;
const POISON = 0xdeadbeefdeadbeefn;
const WORKER_TIMEOUT_MS = 30_000;

interface Machine {
  core: Core;
  x: Core['exports'];
  vm: number;
  root: number;
  /** The frame behind each data page. */
  pfns: number[];
  words: BigUint64Array;
}

/** The value every word of data page `page` holds in generation `gen`. */
function pattern(page: number, gen: number): bigint {
  return (0x5afen << 48n) | (BigInt(page) << 32n) | BigInt(gen);
}

function fillFrame(m: Machine, pfn: number, value: bigint): void {
  const base = (m.x.ram_base() + pfn * 4096) / 8;
  m.words.fill(value, base, base + 512);
}

/**
 * A frame holding `value` in every word, then mapped by the VM's EPT at
 * `gpa`: in that order, or a vCPU could read the frame before it is filled.
 */
function mapNewFrame(m: Machine, gpa: bigint, value: bigint): number {
  const pfn = m.x.frame_alloc(m.x.FrameKind.Anon, OWNER);
  expect(pfn).not.toBe(m.x.PFN_NONE.value);
  fillFrame(m, pfn, value);
  expect(m.x.ept_map(m.root, gpa, BigInt(pfn) << 12n, 12, EPT_PROT, OWNER)).toBe(0);
  return pfn;
}

/**
 * One VM whose `vcpus` vCPUs run in long mode under the VM's EPT, with
 * `pages` data pages mapped 4 KiB by both the guest tables and the EPT.
 */
async function makeMachine(vcpus: number, pages: number): Promise<Machine> {
  const core = await createCore({ ramFrames: 4096, maxVcpus: vcpus + 1, hostCpus: 2 });
  const x = core.exports;
  const vm = x.vm_alloc();
  const root = x.ept_root_alloc(OWNER);
  const m: Machine = { core, x, vm, root, pfns: [], words: new BigUint64Array(core.memory.buffer) };
  const tables = [0, 1, 2, 3].map((i) => mapNewFrame(m, PML4 + BigInt(i) * 0x1000n, 0n));
  const entry = (table: number, index: number, value: bigint): void => {
    m.words[(x.ram_base() + tables[table] * 4096) / 8 + index] = value;
  };
  for (let t = 0; t < 3; t++) entry(t, 0, (PML4 + BigInt(t + 1) * 0x1000n) | P | W | A);
  for (let page = 0; page < pages; page++) {
    const gpa = DATA_GPA + BigInt(page) * 0x1000n;
    entry(3, Number(gpa >> 12n), gpa | P | W | A | D);
    m.pfns.push(mapNewFrame(m, gpa, pattern(page, 0)));
  }
  const eptp = x.ept_make_eptp(root, false);
  for (let v = 0; v < vcpus; v++) {
    x.vcpu_vm_attach(v, vm);
    x.vcpu_set_features(v, MAXPHYADDR | x.CpuFeat.Nx);
    x.vcpu_set_ept(v, eptp, MAXPHYADDR | x.EptCap.ExecOnly, 1);
    x.vcpu_set_vpid(v, v + 1);
    x.vcpu_set_state(v, 0x8001_0001n, PML4, 0x20n, 0xd00n);
  }
  return m;
}

/** Moves data page `page` to a new frame holding generation `gen`; returns the old frame. */
function movePage(m: Machine, page: number, gen: number): number {
  const gpa = DATA_GPA + BigInt(page) * 0x1000n;
  const old = m.pfns[page];
  expect(m.x.ept_zap(m.root, gpa, 4096n)).toBe(1n);
  m.pfns[page] = mapNewFrame(m, gpa, pattern(page, gen));
  return old;
}

function status(m: Machine, vcpu: number): number {
  return new DataView(m.core.memory.buffer, m.x.vcpu_ptr(vcpu)).getUint32(m.x.Vcpu.ResStatus, true);
}

describe('KVM requests', () => {
  it("has Linux's request numbers and flags", async () => {
    const { x } = await makeMachine(1, 1);
    expect(x.KVM_REQUEST_MASK.value).toBe(0xff);
    expect(x.KVM_REQUEST_NO_WAKEUP.value).toBe(0x100);
    expect(x.KVM_REQUEST_WAIT.value).toBe(0x200);
    expect(x.KVM_REQUEST_NO_ACTION.value).toBe(0x400);
    expect(x.KVM_REQ_TLB_FLUSH.value).toBe(0x300);
    expect(x.KVM_REQ_TLB_FLUSH_CURRENT.value).toBe(8 + 26);
    expect(x.KVM_REQ_TLB_FLUSH_GUEST.value).toBe(0x300 | (8 + 27));
    expect(x.VcpuMode.OutsideGuest).toBe(0);
    expect(x.VcpuMode.InGuest).toBe(1);
    expect(x.VcpuMode.ExitingGuest).toBe(2);
    expect(x.VcpuMode.ReadingShadowPageTables).toBe(3);
  });

  it('kvm_check_request tests and clears one bit; kvm_request_pending sees any', async () => {
    const { x } = await makeMachine(1, 1);
    expect(x.kvm_check_request(0, x.KVM_REQ_TLB_FLUSH.value)).toBe(true); // the attach's flush
    expect(x.kvm_request_pending(0)).toBe(false);
    x.kvm_make_request(0, x.KVM_REQ_TLB_FLUSH_GUEST.value);
    x.kvm_make_request(0, x.KVM_REQ_TLB_FLUSH_CURRENT.value);
    expect(x.kvm_request_pending(0)).toBe(true);
    expect(x.kvm_check_request(0, x.KVM_REQ_TLB_FLUSH.value)).toBe(false);
    expect(x.kvm_check_request(0, x.KVM_REQ_TLB_FLUSH_GUEST.value)).toBe(true);
    expect(x.kvm_check_request(0, x.KVM_REQ_TLB_FLUSH_GUEST.value)).toBe(false);
    expect(x.kvm_request_pending(0)).toBe(true);
    expect(x.kvm_check_request(0, x.KVM_REQ_TLB_FLUSH_CURRENT.value)).toBe(true);
    expect(x.kvm_request_pending(0)).toBe(false);
  });

  it('a record joins its VM with a TLB flush pending and leaves it with nothing', async () => {
    const { x, vm } = await makeMachine(2, 1);
    expect(x.vcpu_vm(0)).toBe(vm);
    expect(x.vcpu_vm(2)).toBe(-1);
    expect(x.vcpu_mode(0)).toBe(x.VcpuMode.OutsideGuest);
    expect(x.kvm_request_pending(1)).toBe(true);
    x.vcpu_vm_detach(1);
    expect(x.vcpu_vm(1)).toBe(-1);
    expect(x.kvm_request_pending(1)).toBe(false);
    // A detached record gets none of the VM's requests.
    x.kvm_flush_remote_tlbs(vm);
    expect(x.kvm_request_pending(1)).toBe(false);
    expect(x.kvm_check_request(0, x.KVM_REQ_TLB_FLUSH.value)).toBe(true);
  });

  it('an entry with a request pending is called off; after servicing it, the vCPU enters', async () => {
    const { core, x } = await makeMachine(1, 1);
    x.stats_reset();
    expect(x.vcpu_enter_guest_mode(0)).toBe(false);
    expect(x.vcpu_mode(0)).toBe(x.VcpuMode.OutsideGuest);
    x.vcpu_service_requests(0);
    expect(x.vcpu_enter_guest_mode(0)).toBe(true);
    expect(x.vcpu_mode(0)).toBe(x.VcpuMode.InGuest);
    expect(x.vcpu_exit_requested(0)).toBe(false);
    x.vcpu_leave_guest_mode(0);
    expect(x.vcpu_mode(0)).toBe(x.VcpuMode.OutsideGuest);
    expect(readCounters(core)).toMatchObject({ vcpu_entry_cancelled: 1, vcpu_tlb_flush: 1, tlb_flush_invept: 1 });
  });

  it('a vCPU outside guest mode keeps its stale TLB entry until its next entry services the flush', async () => {
    const m = await makeMachine(1, 1);
    const { x, vm } = m;
    x.vcpu_service_requests(0);
    expect(x.guest_read64(0, DATA_GPA)).toBe(pattern(0, 0));
    const old = movePage(m, 0, 1);
    // The TLB is not coherent: the old frame is still reached.
    expect(x.guest_read64(0, DATA_GPA)).toBe(pattern(0, 0));
    x.stats_reset();
    x.kvm_flush_remote_tlbs(vm);
    // Nobody was in guest mode: no kick, nothing waited for; the request waits for the entry.
    expect(readCounters(m.core)).toMatchObject({
      remote_tlb_flush_requests: 1, remote_tlb_flush: 0, vcpu_kick: 0, vcpu_ack_wait: 0,
    });
    expect(x.kvm_request_pending(0)).toBe(true);
    expect(x.vcpu_enter_guest_mode(0)).toBe(false);
    x.vcpu_service_requests(0);
    expect(x.vcpu_enter_guest_mode(0)).toBe(true);
    fillFrame(m, old, POISON);
    expect(x.guest_read64(0, DATA_GPA)).toBe(pattern(0, 1));
    expect(status(m, 0)).toBe(x.AccessStatus.Ok);
    expect(readCounters(m.core)).toMatchObject({ vcpu_tlb_flush: 1, tlb_flush_invept: 1 });
    x.vcpu_leave_guest_mode(0);
  });

  it('a vCPU in guest mode is kicked to EXITING_GUEST_MODE; a request without WAIT returns at once', async () => {
    const { core, x, vm } = await makeMachine(2, 1);
    x.vcpu_service_requests(0);
    x.vcpu_service_requests(1);
    expect(x.vcpu_enter_guest_mode(0)).toBe(true);
    x.stats_reset();
    expect(x.kvm_make_all_cpus_request(vm, x.KVM_REQ_TLB_FLUSH_CURRENT.value)).toBe(true);
    expect(x.vcpu_mode(0)).toBe(x.VcpuMode.ExitingGuest);
    expect(x.vcpu_exit_requested(0)).toBe(true);
    expect(x.vcpu_mode(1)).toBe(x.VcpuMode.OutsideGuest);
    expect(readCounters(core)).toMatchObject({ vcpu_kick: 1, vcpu_ack_wait: 0 });
    // Without a vCPU in guest mode, no IPI: Linux's `called` is false.
    x.vcpu_leave_guest_mode(0);
    expect(x.kvm_make_all_cpus_request(vm, x.KVM_REQ_TLB_FLUSH_CURRENT.value)).toBe(false);
    x.vcpu_service_requests(0);
    expect(x.kvm_request_pending(0)).toBe(false);
    expect(x.kvm_check_request(1, x.KVM_REQ_TLB_FLUSH_CURRENT.value)).toBe(true);
  });

  it("a request reaches only its own VM's vCPUs", async () => {
    const { x, vm } = await makeMachine(2, 1);
    const other = x.vm_alloc();
    x.vcpu_vm_attach(2, other);
    x.vcpu_service_requests(2);
    x.vcpu_service_requests(0);
    x.kvm_flush_remote_tlbs(vm);
    expect(x.kvm_request_pending(0)).toBe(true);
    expect(x.kvm_request_pending(2)).toBe(false);
  });
});

interface WorkerResult {
  reads: number;
  faults: number;
  entries: number;
  bad: number;
  firstBad: unknown;
}

/**
 * vCPU workers read the data pages while the main thread moves them:
 * zap, map a new frame, `flush`, then poison the old frame and free it (the
 * next move may take it for another page). Returns what the workers saw.
 */
async function stress(m: Machine, vcpus: number, rounds: number, flush: () => void): Promise<WorkerResult[]> {
  const { x } = m;
  const control = new SharedArrayBuffer(8);
  const ctl = new Int32Array(control);
  const url = new URL('./requests.worker.mjs', import.meta.url);
  const results = Array.from({ length: vcpus }, (_, vcpu) => new Promise<WorkerResult>((resolve, reject) => {
    const w = new Worker(url, {
      workerData: {
        module: m.core.module, memory: m.core.memory, vcpu, control, pages: m.pfns.length,
        gpaBase: DATA_GPA, slice: 16, seed: 0x9e3779b9 * (vcpu + 1),
      },
    });
    const timer = setTimeout(() => { void w.terminate(); reject(new Error(`vCPU worker ${vcpu} timed out: deadlock?`)); }, WORKER_TIMEOUT_MS);
    w.once('message', (r: WorkerResult) => { clearTimeout(timer); resolve(r); void w.terminate(); });
    w.once('error', (e) => { clearTimeout(timer); reject(e); });
  }));
  const started = Date.now();
  while (Atomics.load(ctl, 0) < vcpus) {
    if (Date.now() - started > WORKER_TIMEOUT_MS) throw new Error('the vCPU workers did not start');
    await new Promise((r) => setTimeout(r, 1));
  }
  for (let round = 1; round <= rounds; round++) {
    const page = round % m.pfns.length;
    const old = movePage(m, page, round);
    flush();
    fillFrame(m, old, POISON);
    x.frame_put(old);
  }
  Atomics.store(ctl, 1, 1);
  return Promise.all(results);
}

describe('remote TLB shootdowns under load', () => {
  const cores = availableParallelism();

  // More vCPU threads than cores make every flush wait for the scheduler: fewer rounds.
  for (const [vcpus, rounds] of [[2, 1500], [4, 400]]) {
    it(`${vcpus} vCPU workers never read a frame after kvm_flush_remote_tlbs moved their page away`, async () => {
      const m = await makeMachine(vcpus, 4);
      const { x } = m;
      x.requests_set_threads(vcpus + 1, cores);
      const free = x.phys_free_frames();
      x.stats_reset();
      const results = await stress(m, vcpus, rounds, () => x.kvm_flush_remote_tlbs(m.vm));
      for (const r of results) {
        expect(r.bad, `first bad read: ${JSON.stringify(r.firstBad)}`).toBe(0);
        expect(r.reads).toBeGreaterThan(0);
      }
      const c = readCounters(m.core);
      expect(c.vcpu_ack_timeout).toBe(0);
      expect(c.remote_tlb_flush_requests).toBe(rounds);
      // Some flushes found vCPUs in guest mode, kicked them and waited.
      expect(c.remote_tlb_flush).toBeGreaterThan(0);
      expect(c.vcpu_kick).toBeGreaterThanOrEqual(c.remote_tlb_flush);
      expect(c.vcpu_ack_wait).toBeGreaterThan(0);
      expect(c.vcpu_ack_spin + c.vcpu_ack_sleep).toBeGreaterThan(0);
      expect(c.vcpu_tlb_flush).toBeGreaterThan(0);
      // Every moved page's old frame went back: the frame count is where it started.
      expect(x.phys_free_frames()).toBe(free);
      for (let v = 0; v < vcpus; v++) expect(x.vcpu_mode(v)).toBe(x.VcpuMode.OutsideGuest);
    }, 60_000);
  }

  it('a spinning initiator (threads <= cores) gets its acknowledgements too', async () => {
    // One vCPU thread and the initiator, declared to have a core each: the
    // spin path, whatever this machine's cores.
    const m = await makeMachine(1, 4);
    const { x } = m;
    x.requests_set_threads(2, 2);
    x.stats_reset();
    const results = await stress(m, 1, 1000, () => x.kvm_flush_remote_tlbs(m.vm));
    expect(results[0].bad, `first bad read: ${JSON.stringify(results[0].firstBad)}`).toBe(0);
    const c = readCounters(m.core);
    expect(c.vcpu_ack_timeout).toBe(0);
    expect(c.vcpu_ack_spin, JSON.stringify(c)).toBeGreaterThan(0);
  }, 60_000);

  it('the test can fail: a flush that kicks but does not wait lets vCPUs read freed frames', async () => {
    const m = await makeMachine(2, 4);
    const { x } = m;
    x.requests_set_threads(3, cores);
    const noWait = x.KVM_REQ_TLB_FLUSH.value & ~x.KVM_REQUEST_WAIT.value;
    const results = await stress(m, 2, 1500, () => x.kvm_make_all_cpus_request(m.vm, noWait));
    expect(results.reduce((n, r) => n + r.bad, 0)).toBeGreaterThan(0);
  }, 60_000);
});
