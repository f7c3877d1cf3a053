// KVM's hypercall emulation (arch/x86/kvm/x86.c: kvm_emulate_hypercall,
// ____kvm_emulate_hypercall, complete_hypercall_exit) for a guest VMCALL:
// rax = number, rbx, rcx, rdx, rsi = arguments; outside 64-bit mode all are
// cut to 32 bits first, and so is the result. At CPL > 0 the result is
// -KVM_EPERM. KVM_HC_MAP_GPA_RANGE exits to userspace when the VM enabled it
// (KVM_CAP_EXIT_HYPERCALL) and its range is sane; every other outcome is
// written to kvm_run.hypercall.ret and to rax at once, and the VMCALL is
// skipped. No PV feature is in the guest CPUID, so the hypercalls that need
// one (kick, send IPI, yield, clock pairing) are -KVM_ENOSYS, as Linux has it.

import { CpuFlag, KvmRun, PAGE_SHIFT, RunPending, Vcpu, vcpu_ptr } from './layout';
import { INSN_BYTES } from './isa';
import { Stat, stat_inc } from './stats';

export const KVM_HC_VAPIC_POLL_IRQ: u64 = 1;
export const KVM_HC_MAP_GPA_RANGE: u64 = 12;
/** include/uapi/linux/kvm_para.h */
const KVM_ENOSYS: u64 = 1000;
const KVM_EINVAL: u64 = 22;
const KVM_EPERM: u64 = 1;
/** kvm_run.hypercall.flags: the guest was in 64-bit mode. */
const KVM_EXIT_HYPERCALL_LONG_MODE: u64 = 1;

@inline function gpr(v: usize, r: u32): u64 {
  return load<u64>(v + Vcpu.Gpr + (<usize>r << 3));
}

/**
 * Emulates the VMCALL at the vCPU's RIP. Returns true when it exits to
 * userspace (kvm_run.hypercall filled, the completion pending); false when
 * the result is in rax and RIP is past the VMCALL. `exit_mask` is the VM's
 * KVM_CAP_EXIT_HYPERCALL mask (bit n: hypercall n exits).
 */
export function kvm_emulate_hypercall(vcpu: u32, exit_mask: u64): bool {
  const v = vcpu_ptr(vcpu);
  const run = v + Vcpu.Run;
  stat_inc(Stat.Hypercalls);
  const long = (load<u32>(v + Vcpu.CpuFlags) & CpuFlag.Long64) != 0;
  const mask: u64 = long ? U64.MAX_VALUE : 0xffff_ffff;
  const nr = gpr(v, 0) & mask;
  const a0 = gpr(v, 3) & mask;
  const a1 = gpr(v, 1) & mask;
  const a2 = gpr(v, 2) & mask;
  let ret: u64 = 0 - KVM_ENOSYS;
  if (load<u32>(v + Vcpu.Cpl) != 0) {
    ret = 0 - KVM_EPERM;
  } else if (nr == KVM_HC_VAPIC_POLL_IRQ) {
    ret = 0;
  } else if (nr == KVM_HC_MAP_GPA_RANGE && (exit_mask & (<u64>1 << KVM_HC_MAP_GPA_RANGE)) != 0) {
    const gfn = a0 >> PAGE_SHIFT;
    if ((a0 & ((<u64>1 << PAGE_SHIFT) - 1)) != 0 || a1 == 0 || gfn + a1 <= gfn) {
      ret = 0 - KVM_EINVAL;
    } else {
      store<u64>(run + KvmRun.HcNr, KVM_HC_MAP_GPA_RANGE);
      store<u64>(run + KvmRun.HcArgs, a0);
      store<u64>(run + KvmRun.HcArgs + 8, a1);
      store<u64>(run + KvmRun.HcArgs + 16, a2);
      store<u64>(run + KvmRun.HcFlags, long ? KVM_EXIT_HYPERCALL_LONG_MODE : 0);
      store<u32>(v + Vcpu.Pending, RunPending.Hypercall);
      store<u64>(v + Vcpu.PendingRip, load<u64>(v + Vcpu.Rip));
      return true;
    }
  }
  store<u64>(run + KvmRun.HcRet, ret);
  complete_hypercall(v);
  return false;
}

/** complete_hypercall_exit: hypercall.ret to rax (32 bits outside 64-bit mode), RIP past the VMCALL. */
export function complete_hypercall(v: usize): void {
  const long = (load<u32>(v + Vcpu.CpuFlags) & CpuFlag.Long64) != 0;
  const ret = load<u64>(v + Vcpu.Run + KvmRun.HcRet);
  store<u64>(v + Vcpu.Gpr, long ? ret : ret & 0xffff_ffff);
  store<u64>(v + Vcpu.Rip, load<u64>(v + Vcpu.Rip) + INSN_BYTES);
}
