// KVM requests, vCPU modes and remote TLB shootdowns, as virt/kvm/kvm_main.c
// (kvm_make_all_cpus_request, kvm_flush_remote_tlbs), include/linux/kvm_host.h
// (vcpu->mode, kvm_make_request / kvm_check_request) and arch/x86/kvm/x86.c
// (vcpu_enter_guest, kvm_service_local_tlb_flush_requests) do them.
//
// A request is a bit in the vCPU record's Requests word. A vCPU is in guest
// mode (Vcpu.Mode = InGuest) while its run loop executes guest instructions,
// and it uses its TLB only then. The handshake, for an initiator that changed
// the EPT and must know no vCPU can still reach the old frames:
//
//   initiator                               vCPU run loop
//   set the request bit (seq-cst)           store Mode = InGuest (seq-cst)
//   cmpxchg Mode InGuest -> ExitingGuest    re-read Requests: any -> leave, service, retry
//   wait until Mode is no longer            ... poll vcpu_exit_requested() between slices
//     ExitingGuest                          leave: Mode = OutsideGuest, wake a sleeper
//                                           service requests (the TLB flush), re-enter
//
// Either the vCPU's re-read sees the bit, or the initiator's cmpxchg sees
// InGuest (all Wasm atomics are sequentially consistent), so no vCPU enters
// with a stale TLB. Once the initiator sees the vCPU out of guest mode, the
// vCPU will service the request before its next guest access.
//
// The run loop's contract: leave guest mode before handling an exit (an EPT
// violation, an MMIO access), as KVM handles them after VM-exit; an initiator
// that is itself a vCPU in guest mode would wait for itself.
//
// Waiting: Node's futex wait/notify round trip was 40 us where spinning saw
// the acknowledgement in 0.15 us, so an initiator spins first, for about the
// cost of one sleep, but only while every thread has a core of its own (a
// spinner on a shared core takes it from the vCPU it waits for). Then it
// sleeps in memory.atomic.wait32 on the vCPU's Mode word, after setting
// VCPU_MODE_WAITER in it so that the vCPU notifies only when someone sleeps.
// Every wait is bounded: a vCPU that never leaves guest mode is a bug in its
// run loop, counted (VcpuAckTimeout), not a hang.
//
// Who may initiate: memory.atomic.wait32 traps on a browser's main thread, so
// in the browser only workers initiate requests that wait (KVM_REQ_TLB_FLUSH);
// a thread that may not block calls requests_set_may_wait(false) and then only
// spins, within a bound. Node's main thread may wait.

import {
  Hdr, LAYOUT_BASE, VCPU_MODE_MASK, VCPU_MODE_WAITER, Vcpu, VcpuMode,
  max_vcpus, vcpu_ptr,
} from './layout';
import { Stat, stat_inc } from './stats';
import { tlb_flush_all, tlb_invept, tlb_invvpid } from './tlb';

// Request numbers and flags: include/linux/kvm_host.h and
// arch/x86/include/asm/kvm_host.h (Linux 6.18). Bits 7:0 are the request's
// bit in vcpu->requests; the flags above them say how it is delivered.
export const KVM_REQUEST_MASK: u32 = 0xff;
export const KVM_REQUEST_NO_WAKEUP: u32 = 1 << 8;
export const KVM_REQUEST_WAIT: u32 = 1 << 9;
export const KVM_REQUEST_NO_ACTION: u32 = 1 << 10;
export const KVM_REQUEST_ARCH_BASE: u32 = 8;
/** Generic request 0: flush every translation of the VM (kvm_flush_remote_tlbs). */
export const KVM_REQ_TLB_FLUSH: u32 = 0 | KVM_REQUEST_WAIT | KVM_REQUEST_NO_WAKEUP;
/** x86 request 26: flush the translations of the vCPU's current root. */
export const KVM_REQ_TLB_FLUSH_CURRENT: u32 = KVM_REQUEST_ARCH_BASE + 26;
/** x86 request 27: flush the guest's own (linear) translations. */
export const KVM_REQ_TLB_FLUSH_GUEST: u32 = (KVM_REQUEST_ARCH_BASE + 27) | KVM_REQUEST_WAIT | KVM_REQUEST_NO_WAKEUP;

/**
 * Spins before the first sleep: about one futex round trip (40 us) of mode
 * reads, the classic two-phase rule (spin for what blocking would cost).
 */
const SPIN_LIMIT: u32 = 1 << 16;
/** One sleep's timeout, and how many sleeps make the bound (about 5 s). */
const SLEEP_NS: i64 = 1_000_000;
const SLEEP_ROUNDS: u32 = 5000;
/** The bound of a thread that may not sleep: mode reads, then give up. */
const SPIN_ONLY_LIMIT: u32 = 1 << 30;

/** Whether this thread may block in memory.atomic.wait32 (per instance: per thread). */
let g_may_wait: bool = true;

@inline function req_bit(req: u32): u64 {
  return <u64>1 << <u64>(req & KVM_REQUEST_MASK);
}

/** kvm_make_request: the bit is set atomically; the seq-cst RMW orders every earlier store before it. */
export function kvm_make_request(vcpu: u32, req: u32): void {
  atomic.or<u64>(vcpu_ptr(vcpu) + Vcpu.Requests, req_bit(req));
}

/** kvm_check_request: test and clear; true when the request was pending. */
export function kvm_check_request(vcpu: u32, req: u32): bool {
  const p = vcpu_ptr(vcpu) + Vcpu.Requests;
  const bit = req_bit(req);
  // The plain test first, as kvm_test_request: a request is rare, the RMW is not free.
  if ((atomic.load<u64>(p) & bit) == 0) return false;
  atomic.and<u64>(p, ~bit);
  return true;
}

/** kvm_request_pending: any request at all. */
export function kvm_request_pending(vcpu: u32): bool {
  return atomic.load<u64>(vcpu_ptr(vcpu) + Vcpu.Requests) != 0;
}

/** The vCPU's mode (VcpuMode), without the waiter bit. */
export function vcpu_mode(vcpu: u32): u32 {
  return atomic.load<u32>(vcpu_ptr(vcpu) + Vcpu.Mode) & VCPU_MODE_MASK;
}

/**
 * Binds a record to a new vCPU of VM `vm` (KVM_CREATE_VCPU). The record may
 * have served a closed vCPU, so its TLB may hold stale entries: the first
 * entry flushes it, as vmx_vcpu_load_vmcs requests KVM_REQ_TLB_FLUSH when a
 * vCPU first lands on a CPU.
 */
export function vcpu_vm_attach(vcpu: u32, vm: u32): void {
  const v = vcpu_ptr(vcpu);
  atomic.store<u32>(v + Vcpu.Mode, VcpuMode.OutsideGuest);
  atomic.store<u64>(v + Vcpu.Requests, req_bit(KVM_REQ_TLB_FLUSH));
  // Last: an initiator that sees the VM id sees a vCPU in a defined state.
  atomic.store<u32>(v + Vcpu.VmId, vm + 1);
}

/** Unbinds the record (the vCPU's fd was closed); an initiator asleep on it is released. */
export function vcpu_vm_detach(vcpu: u32): void {
  const v = vcpu_ptr(vcpu);
  atomic.store<u32>(v + Vcpu.VmId, 0);
  leave(v);
  atomic.store<u64>(v + Vcpu.Requests, 0);
}

/** The VM the record serves, or -1. */
export function vcpu_vm(vcpu: u32): i32 {
  return <i32>atomic.load<u32>(vcpu_ptr(vcpu) + Vcpu.VmId) - 1;
}

/**
 * Records how many threads run vCPUs or initiate requests, and how many real
 * cores the machine has (os.availableParallelism, navigator.hardwareConcurrency):
 * initiators spin only while threads <= cores. Until it is called, 0 <= 0: spin.
 */
export function requests_set_threads(threads: u32, cores: u32): void {
  atomic.store<u32>(LAYOUT_BASE + Hdr.Threads, threads);
  atomic.store<u32>(LAYOUT_BASE + Hdr.Cores, cores);
}

/** Whether this thread may sleep in memory.atomic.wait32 (false on a browser's main thread). */
export function requests_set_may_wait(may: bool): void {
  g_may_wait = may;
}

@inline function leave(v: usize): void {
  const old = atomic.xchg<u32>(v + Vcpu.Mode, VcpuMode.OutsideGuest);
  if ((old & VCPU_MODE_WAITER) != 0) atomic.notify(v + Vcpu.Mode, i32.MAX_VALUE);
}

/**
 * vcpu_enter_guest's entry: Mode = InGuest, then a last look for requests and
 * kicks (kvm_vcpu_exit_request). False: the entry is called off, the vCPU is
 * outside guest mode again, and the caller services requests and retries.
 */
export function vcpu_enter_guest_mode(vcpu: u32): bool {
  const v = vcpu_ptr(vcpu);
  atomic.store<u32>(v + Vcpu.Mode, VcpuMode.InGuest);
  if (atomic.load<u64>(v + Vcpu.Requests) == 0 && atomic.load<u32>(v + Vcpu.Mode) == VcpuMode.InGuest) return true;
  leave(v);
  stat_inc(Stat.VcpuEntryCancelled);
  return false;
}

/** Polled by the run loop between instruction slices: a kick asks the vCPU to leave guest mode. */
export function vcpu_exit_requested(vcpu: u32): bool {
  return atomic.load<u32>(vcpu_ptr(vcpu) + Vcpu.Mode) != VcpuMode.InGuest;
}

/** After a VM exit: Mode = OutsideGuest, and an initiator asleep on the vCPU is woken. */
export function vcpu_leave_guest_mode(vcpu: u32): void {
  leave(vcpu_ptr(vcpu));
}

/**
 * Runs the vCPU's pending requests before it re-enters, as vcpu_enter_guest
 * does (kvm_service_local_tlb_flush_requests for the TLB requests).
 */
export function vcpu_service_requests(vcpu: u32): void {
  if (atomic.load<u64>(vcpu_ptr(vcpu) + Vcpu.Requests) == 0) return;
  if (kvm_check_request(vcpu, KVM_REQ_TLB_FLUSH)) {
    flush_tlb_all(vcpu);
    // Flushing every context flushes the current one (kvm_vcpu_flush_tlb_all).
    kvm_check_request(vcpu, KVM_REQ_TLB_FLUSH_CURRENT);
  }
  if (kvm_check_request(vcpu, KVM_REQ_TLB_FLUSH_CURRENT)) flush_tlb_current(vcpu);
  if (kvm_check_request(vcpu, KVM_REQ_TLB_FLUSH_GUEST)) flush_tlb_guest(vcpu);
}

/**
 * vmx_flush_tlb_all: with EPT, INVEPT all-context (ept_sync_global): the
 * combined mappings of every EPT the logical processor cached. Without EPT,
 * INVVPID all-context; a vCPU without a VPID (VPID 0) keeps nothing across a
 * VM exit on hardware, which flushes VPID 0 at every entry and exit.
 */
function flush_tlb_all(vcpu: u32): void {
  const v = vcpu_ptr(vcpu);
  stat_inc(Stat.VcpuTlbFlush);
  if (load<u64>(v + Vcpu.Eptp) != 0) tlb_invept(vcpu, 2, 0);
  else if ((load<u32>(v + Vcpu.Vpid) & 0xffff) != 0) tlb_invvpid(vcpu, 2, 0, 0);
  else tlb_flush_all(vcpu);
}

/** vmx_flush_tlb_current: INVEPT single-context of the vCPU's EPT, or INVVPID of its VPID. */
function flush_tlb_current(vcpu: u32): void {
  const v = vcpu_ptr(vcpu);
  stat_inc(Stat.VcpuTlbFlush);
  const vpid = load<u32>(v + Vcpu.Vpid) & 0xffff;
  if (load<u64>(v + Vcpu.Eptp) != 0) tlb_invept(vcpu, 1, load<u32>(v + Vcpu.EptTag));
  else if (vpid != 0) tlb_invvpid(vcpu, 1, vpid, 0);
  else tlb_flush_all(vcpu);
}

/** vmx_flush_tlb_guest: INVVPID single-context of the vCPU's VPID (linear and combined mappings). */
function flush_tlb_guest(vcpu: u32): void {
  const v = vcpu_ptr(vcpu);
  stat_inc(Stat.VcpuTlbFlush);
  const vpid = load<u32>(v + Vcpu.Vpid) & 0xffff;
  if (vpid != 0) tlb_invvpid(vcpu, 1, vpid, 0);
  else tlb_flush_all(vcpu);
}

/** Mode values an initiator stops waiting at: out of guest mode, or back in after servicing. */
@inline function acknowledged(mode: u32): bool {
  const m = mode & VCPU_MODE_MASK;
  return m == VcpuMode.OutsideGuest || m == VcpuMode.InGuest;
}

/** smp_call_function_many's wait, for one vCPU: until it has left guest mode, within the bound. */
function wait_for_ack(v: usize): void {
  const p = v + Vcpu.Mode;
  stat_inc(Stat.VcpuAckWait);
  const threads = atomic.load<u32>(LAYOUT_BASE + Hdr.Threads);
  const cores = atomic.load<u32>(LAYOUT_BASE + Hdr.Cores);
  if (!g_may_wait) {
    for (let i: u32 = 0; i < SPIN_ONLY_LIMIT; i++) {
      if (acknowledged(atomic.load<u32>(p))) {
        stat_inc(Stat.VcpuAckSpin);
        return;
      }
    }
    stat_inc(Stat.VcpuAckTimeout);
    return;
  }
  if (threads <= cores) {
    for (let i: u32 = 0; i < SPIN_LIMIT; i++) {
      if (acknowledged(atomic.load<u32>(p))) {
        stat_inc(Stat.VcpuAckSpin);
        return;
      }
    }
  }
  for (let round: u32 = 0; round < SLEEP_ROUNDS; round++) {
    let m = atomic.load<u32>(p);
    if (acknowledged(m)) return;
    if ((m & VCPU_MODE_WAITER) == 0) {
      // Announce the sleeper; a failed exchange means the mode moved: look again.
      if (atomic.cmpxchg<u32>(p, m, m | VCPU_MODE_WAITER) != m) continue;
      m |= VCPU_MODE_WAITER;
    }
    stat_inc(Stat.VcpuAckSleep);
    memory.atomic.wait32(p, <i32>m, SLEEP_NS);
  }
  if (!acknowledged(atomic.load<u32>(p))) stat_inc(Stat.VcpuAckTimeout);
}

/**
 * kvm_make_all_cpus_request: sets `req` on every vCPU of VM `vm` and kicks
 * the ones that need it (kvm_request_needs_ipi: in guest mode, or, for a
 * KVM_REQUEST_WAIT request, anywhere but outside it); a WAIT request returns
 * only once every kicked vCPU has left guest mode. Returns whether any vCPU
 * was kicked (Linux's `called`).
 */
export function kvm_make_all_cpus_request(vm: u32, req: u32): bool {
  const n = max_vcpus();
  const id = vm + 1;
  const wait = (req & KVM_REQUEST_WAIT) != 0;
  let called = false;
  for (let i: u32 = 0; i < n; i++) {
    const v = vcpu_ptr(i);
    if (atomic.load<u32>(v + Vcpu.VmId) != id) continue;
    if ((req & KVM_REQUEST_NO_ACTION) == 0) atomic.or<u64>(v + Vcpu.Requests, req_bit(req));
    // kvm_vcpu_exiting_guest_mode: the kick itself, which the vCPU sees at its next poll.
    const mode = atomic.cmpxchg<u32>(v + Vcpu.Mode, VcpuMode.InGuest, VcpuMode.ExitingGuest) & VCPU_MODE_MASK;
    if (wait ? mode == VcpuMode.OutsideGuest : mode != VcpuMode.InGuest) continue;
    stat_inc(Stat.VcpuKick);
    called = true;
  }
  if (!called || !wait) return called;
  for (let i: u32 = 0; i < n; i++) {
    const v = vcpu_ptr(i);
    if (atomic.load<u32>(v + Vcpu.VmId) != id) continue;
    if (!acknowledged(atomic.load<u32>(v + Vcpu.Mode))) wait_for_ack(v);
  }
  return called;
}

/**
 * kvm_flush_remote_tlbs: after a zap, every vCPU of the VM flushes its TLB
 * before it next runs guest code, and the vCPUs running now have left guest
 * mode when this returns, so none can reach a zapped frame any more.
 */
export function kvm_flush_remote_tlbs(vm: u32): void {
  stat_inc(Stat.RemoteTlbFlushRequests);
  if (kvm_make_all_cpus_request(vm, KVM_REQ_TLB_FLUSH)) stat_inc(Stat.RemoteTlbFlush);
}
