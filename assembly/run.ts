// KVM_RUN in Wasm (arch/x86/kvm/x86.c: kvm_arch_vcpu_ioctl_run, vcpu_run,
// vcpu_enter_guest; vmx.c: handle_ept_violation): complete what the last
// exit left pending, then run the guest in instruction slices until an exit
// that needs userspace. The loop returns to JavaScript only then.
//
// Around every slice the vCPU is in guest mode (requests.ts): before entering
// it services its requests (a remote TLB flush among them), and between
// slices it polls for a kick, so an initiator waiting in
// kvm_flush_remote_tlbs is answered within one slice. An EPT violation goes
// to the MMU's fault path outside guest mode, as a VM exit does, and the
// instruction runs again once the fault is fixed.
//
// Returns 0 with Vcpu.Run's exit_reason and fields filled, or a negative
// errno: -EINTR (immediate_exit, or the instruction budget ran out, which
// stands for a signal: KVM_EXIT_INTR), -EFAULT or guest_memfd's errno with
// KVM_EXIT_MEMORY_FAULT, another errno from the fault path with no exit.

import { KvmRun, RunPending, Vcpu, vcpu_ptr } from './layout';
import { CpuExit, cpu_emulate_mmio, cpu_exec, cpu_executed } from './cpu';
import { complete_hypercall, kvm_emulate_hypercall } from './hypercall';
import { INSN_BYTES } from './isa';
import { PageFaultResult, handle_ept_violation, kvm_page_fault_errno } from './mmu';
import { vcpu_enter_guest_mode, vcpu_exit_requested, vcpu_leave_guest_mode, vcpu_service_requests } from './requests';
import { AccessStatus } from './layout';
import { Stat, stat_inc } from './stats';

// Exit reasons (include/uapi/linux/kvm.h).
export const KVM_EXIT_IO: u32 = 2;
export const KVM_EXIT_HYPERCALL: u32 = 3;
export const KVM_EXIT_HLT: u32 = 5;
export const KVM_EXIT_MMIO: u32 = 6;
export const KVM_EXIT_SHUTDOWN: u32 = 8;
export const KVM_EXIT_INTR: u32 = 10;
export const KVM_EXIT_INTERNAL_ERROR: u32 = 17;
export const KVM_EXIT_MEMORY_FAULT: u32 = 39;
/** kvm_run.internal.suberror: the emulator could not go on. */
export const KVM_INTERNAL_ERROR_EMULATION: u32 = 1;

const EINTR: i32 = -4;

/**
 * Instructions per slice: the longest a kick waits for the vCPU to notice
 * it, at a few nanoseconds each, and short enough that a remote flush is
 * answered in about a microsecond.
 */
export const RUN_SLICE: u64 = 256;

@inline function set_exit(v: usize, reason: u32): void {
  store<u32>(v + Vcpu.Run + KvmRun.ExitReason, reason);
}

@inline function gpr_ptr(v: usize, r: u32): usize {
  return v + Vcpu.Gpr + (<usize>r << 3);
}

/** `value`'s low `width` bytes, zero-extended. */
@inline function low_bytes(value: u64, width: u32): u64 {
  return width >= 8 ? value : value & ((<u64>1 << (<u64>width << 3)) - 1);
}

/**
 * complete_userspace_io: the data of an MMIO read or a port input reaches
 * its register; the instruction completes. An emulated MMIO access finishes
 * from the emulator's own context, whatever RIP userspace set meanwhile; a
 * port access completes only if RIP is still at it (complete_fast_pio_*).
 */
function complete_userspace_io(v: usize): void {
  const pending = load<u32>(v + Vcpu.Pending);
  if (pending == RunPending.None) return;
  store<u32>(v + Vcpu.Pending, RunPending.None);
  const run = v + Vcpu.Run;
  const at = load<u64>(v + Vcpu.PendingRip);
  const reg = load<u32>(v + Vcpu.PendingReg);
  const width = load<u32>(v + Vcpu.PendingSize);
  switch (pending) {
    case RunPending.MmioRead:
      store<u64>(gpr_ptr(v, reg), low_bytes(load<u64>(run + KvmRun.MmioData), width));
      store<u64>(v + Vcpu.Rip, at + INSN_BYTES);
      break;
    case RunPending.MmioWrite:
      store<u64>(v + Vcpu.Rip, at + INSN_BYTES);
      break;
    case RunPending.PioIn:
      if (load<u64>(v + Vcpu.Rip) != at) break;
      store<u64>(gpr_ptr(v, reg), low_bytes(load<u64>(v + Vcpu.PioData), width));
      store<u64>(v + Vcpu.Rip, at + INSN_BYTES);
      break;
    case RunPending.PioOut:
      if (load<u64>(v + Vcpu.Rip) == at) store<u64>(v + Vcpu.Rip, at + INSN_BYTES);
      break;
    case RunPending.Hypercall:
      complete_hypercall(v);
      break;
  }
}

/** The memory-fault exit the MMU prepared, into kvm_run. */
function memory_fault_exit(v: usize): void {
  const run = v + Vcpu.Run;
  set_exit(v, KVM_EXIT_MEMORY_FAULT);
  store<u64>(run + KvmRun.MfFlags, load<u64>(v + Vcpu.MemoryFaultFlags));
  store<u64>(run + KvmRun.MfGpa, load<u64>(v + Vcpu.MemoryFaultGpa));
  store<u64>(run + KvmRun.MfSize, load<u64>(v + Vcpu.MemoryFaultSize));
}

function internal_error_exit(v: usize): void {
  const run = v + Vcpu.Run;
  set_exit(v, KVM_EXIT_INTERNAL_ERROR);
  store<u32>(run + KvmRun.InternalSuberror, KVM_INTERNAL_ERROR_EMULATION);
  store<u32>(run + KvmRun.InternalNdata, 0);
}

/**
 * KVM_RUN on vCPU `vcpu` (its record in the calling thread). `exit_mask` is
 * the VM's KVM_CAP_EXIT_HYPERCALL mask. See the file comment for the result.
 */
export function vcpu_run(vcpu: u32, exit_mask: u64): i32 {
  const v = vcpu_ptr(vcpu);
  const run = v + Vcpu.Run;
  store<u16>(run + KvmRun.Flags, 0);
  complete_userspace_io(v);
  if (load<u8>(run + KvmRun.ImmediateExit) != 0) return EINTR;
  const budget = load<u64>(v + Vcpu.RunBudget);
  let left: u64 = budget == 0 ? U64.MAX_VALUE : budget;
  for (;;) {
    vcpu_service_requests(vcpu);
    if (!vcpu_enter_guest_mode(vcpu)) continue;
    let exit: i32 = CpuExit.Budget;
    do {
      exit = cpu_exec(vcpu, left < RUN_SLICE ? left : RUN_SLICE);
      left -= cpu_executed();
    } while (exit == CpuExit.Budget && left != 0 && !vcpu_exit_requested(vcpu));
    vcpu_leave_guest_mode(vcpu);
    switch (exit) {
      case CpuExit.Budget:
        if (left != 0) continue;
        set_exit(v, KVM_EXIT_INTR);
        stat_inc(Stat.SignalExits);
        return EINTR;
      case CpuExit.Hlt:
        set_exit(v, KVM_EXIT_HLT);
        stat_inc(Stat.HaltExits);
        return 0;
      case CpuExit.Io:
        set_exit(v, KVM_EXIT_IO);
        return 0;
      case CpuExit.Mmio:
        set_exit(v, KVM_EXIT_MMIO);
        return 0;
      case CpuExit.Shutdown:
        set_exit(v, KVM_EXIT_SHUTDOWN);
        return 0;
      case CpuExit.Internal:
        internal_error_exit(v);
        return 0;
      case CpuExit.Hypercall:
        if (kvm_emulate_hypercall(vcpu, exit_mask)) {
          set_exit(v, KVM_EXIT_HYPERCALL);
          return 0;
        }
        continue;
      case CpuExit.EptFault: {
        const gpa = load<u64>(v + Vcpu.ResEptGpa);
        // A misconfiguration is what KVM's MMIO SPTEs produce: emulated directly.
        const r = load<u32>(v + Vcpu.ResStatus) == AccessStatus.EptMisconfig ? PageFaultResult.Emulate : handle_ept_violation(vcpu);
        if (r == PageFaultResult.Fixed || r == PageFaultResult.Spurious || r == PageFaultResult.Retry) continue;
        if (r == PageFaultResult.Emulate) {
          const e = cpu_emulate_mmio(vcpu, gpa);
          if (e == CpuExit.Mmio) set_exit(v, KVM_EXIT_MMIO);
          else internal_error_exit(v);
          return 0;
        }
        if (r == PageFaultResult.MemoryFault) {
          memory_fault_exit(v);
          return kvm_page_fault_errno();
        }
        return r;
      }
    }
    return 0;
  }
}
