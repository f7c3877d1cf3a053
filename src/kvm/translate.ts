// KVM_TRANSLATE (kvm_arch_vcpu_ioctl_translate): KVM's software walker with
// access 0 - a supervisor read, EFLAGS.AC taken as 0 - over the guest's page
// tables. KVM reads those tables, and sets their A bits, through the
// memslots' userspace addresses (kvm_vcpu_gfn_to_hva_prot, __get_user,
// __try_cmpxchg_user), not through EPT, so a table no memslot backs, or whose
// page the VMM cannot read, ends the walk as "not valid", and an EPT that maps
// nothing yet does not matter. The walk is the Wasm core's (paging.ts
// walk_via_memslots), from the registers in the vCPU's record. `writeable`
// and `usermode` are constants in Linux: 1 and 0.

import { VcpuRecord } from '../core/vcpu-record.js';
import type { Core } from '../core/wasm.js';
import { X86_CR0_PG, X86_CR4_LA57 } from '../uapi.js';

/** What KVM_TRANSLATE reports for an address that does not translate (INVALID_GPA). */
export const INVALID_GPA = (1n << 64n) - 1n;

/** Sign-extends `la` from the top implemented bit: KVM's walker indexes the tables with bits 47:0 (56:0) only. */
function canonical(la: bigint, width: number): bigint {
  return BigInt.asUintN(64, BigInt.asIntN(width, la));
}

/** Translates `la` for the vCPU on `record`, in the VM whose core id is `vm`. */
export function translateLinear(core: Core, vm: number, record: number, la: bigint): { physical_address: bigint; valid: bigint } {
  const x = core.exports;
  const regs = new DataView(core.memory.buffer);
  const v = x.vcpu_ptr(record);
  if ((regs.getBigUint64(v + x.Vcpu.Cr0, true) & X86_CR0_PG) === 0n) return { physical_address: la, valid: 1n };
  const width = (regs.getBigUint64(v + x.Vcpu.Cr4, true) & X86_CR4_LA57) !== 0n ? 57 : 48;
  if (x.walk_via_memslots(record, vm, canonical(la, width)) !== x.AccessStatus.Ok) return { physical_address: INVALID_GPA, valid: 0n };
  return { physical_address: new VcpuRecord(core, record).result().gpa, valid: 1n };
}
