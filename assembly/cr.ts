// The instructions that change a vCPU's translation state, as the guest
// executes them (MOV to CR3/CR4, INVLPG, INVPCID, WRPKRU, WRMSR IA32_PKRS),
// and the host's loading of that state (KVM_SET_SREGS and friends).
//
// Each instruction returns AccessStatus.Ok or GeneralProtection with the #GP(0)
// conditions of spec/x86-paging.md sections 1, 2 and 7 and conformance/TLB.md.
// A faulting instruction changes nothing: every check comes before any write.
// The TLB effects are the minimal invalidations of TLB.md.
//
// Not modelled: #UD (WRPKRU with CR4.PKE=0, INVPCID without the CPUID bit),
// which the callers of this core do not produce.

import { AccessStatus, CpuFeat, Vcpu, vcpu_ptr } from './layout';
import { is_canonical_at, raise_general_protection } from './paging';
import {
  tlb_flush_all, tlb_flush_cr3, tlb_flush_cr4, tlb_invlpg, tlb_invpcid, tlb_note_cr3_noflush,
} from './tlb';
import {
  EFER_LMA, X86_CR3_PCID_MASK, X86_CR3_PCID_NOFLUSH, X86_CR4_LA57, X86_CR4_PAE, X86_CR4_PCIDE, X86_CR4_PGE,
  X86_CR4_PKE, X86_CR4_PKS, X86_CR4_SMAP, X86_CR4_SMEP,
} from './x86';

/**
 * CR4 bits a guest may set (KVM's CR4_RESERVED_BITS complement): VME..LA57
 * (0-12), VMXE, FSGSBASE, PCIDE, OSXSAVE, SMEP, SMAP, PKE, CET, PKS, LAM_SUP.
 */
const CR4_DEFINED: u64 = 0x1fff | (1 << 13) | (1 << 16) | (1 << 17) | (1 << 18) |
  (1 << 20) | (1 << 21) | (1 << 22) | (1 << 23) | (1 << 24) | (1 << 28);

/** Bits M-1:12 of CR3 (and 11:0) are the only ones a MOV may set. */
@inline function cr3_reserved(v: usize, value: u64): bool {
  const m = <u64>(load<u32>(v + Vcpu.Features) & CpuFeat.MaxPhyAddrMask);
  return m < 64 && (value >> m) != 0;
}

/** CR4 bits that need a CPUID feature the guest does not have. */
@inline function cr4_unsupported(feat: u32): u64 {
  let bits: u64 = ~CR4_DEFINED;
  if ((feat & CpuFeat.La57) == 0) bits |= X86_CR4_LA57;
  if ((feat & CpuFeat.Pcid) == 0) bits |= X86_CR4_PCIDE;
  if ((feat & CpuFeat.Smep) == 0) bits |= X86_CR4_SMEP;
  if ((feat & CpuFeat.Smap) == 0) bits |= X86_CR4_SMAP;
  if ((feat & CpuFeat.Pku) == 0) bits |= X86_CR4_PKE;
  if ((feat & CpuFeat.Pks) == 0) bits |= X86_CR4_PKS;
  if ((feat & CpuFeat.Pge) == 0) bits |= X86_CR4_PGE;
  return bits;
}

@inline function privileged(v: usize): bool {
  return load<u32>(v + Vcpu.Cpl) == 0;
}

/**
 * MOV to CR3. With CR4.PCIDE=1 bit 63 is the no-flush bit (not stored);
 * without it bit 63 is reserved like the other bits 63:M. Invalidates the
 * non-global entries of the PCID loaded (PCID 0 without PCIDE), even for an
 * unchanged value, unless the no-flush bit is set.
 */
export function mov_cr3(vcpu: u32, value: u64): i32 {
  const v = vcpu_ptr(vcpu);
  if (!privileged(v)) return raise_general_protection(v);
  const pcide = (load<u64>(v + Vcpu.Cr4) & X86_CR4_PCIDE) != 0;
  const noflush = pcide && (value & X86_CR3_PCID_NOFLUSH) != 0;
  if (pcide) value &= ~X86_CR3_PCID_NOFLUSH;
  if (cr3_reserved(v, value)) return raise_general_protection(v);
  store<u64>(v + Vcpu.Cr3, value);
  if (noflush) tlb_note_cr3_noflush();
  else tlb_flush_cr3(vcpu, pcide ? <u32>(value & X86_CR3_PCID_MASK) : 0);
  store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
  return AccessStatus.Ok;
}

/**
 * MOV to CR4. #GP(0) for a reserved or unsupported bit, for clearing PAE or
 * toggling LA57 in long mode, and for setting PCIDE outside long mode or with
 * CR3[11:0] != 0 (KVM kvm_set_cr4). TLB effects (kvm_post_set_cr4): a PGE
 * toggle or PCIDE 1 to 0 flushes everything, a PAE toggle or SMEP 0 to 1 the
 * non-global entries of the current PCID, anything else nothing.
 */
export function mov_cr4(vcpu: u32, value: u64): i32 {
  const v = vcpu_ptr(vcpu);
  if (!privileged(v)) return raise_general_protection(v);
  const old = load<u64>(v + Vcpu.Cr4);
  const lma = (load<u64>(v + Vcpu.Efer) & EFER_LMA) != 0;
  if ((value & cr4_unsupported(load<u32>(v + Vcpu.Features))) != 0) return raise_general_protection(v);
  if (lma && ((value & X86_CR4_PAE) == 0 || ((value ^ old) & X86_CR4_LA57) != 0)) return raise_general_protection(v);
  const changed = value ^ old;
  if ((changed & value & X86_CR4_PCIDE) != 0 &&
      (!lma || (load<u64>(v + Vcpu.Cr3) & X86_CR3_PCID_MASK) != 0)) {
    return raise_general_protection(v);
  }
  store<u64>(v + Vcpu.Cr4, value);
  if ((changed & X86_CR4_PGE) != 0 || (changed & old & X86_CR4_PCIDE) != 0) {
    tlb_flush_cr4(vcpu, true);
  } else if ((changed & X86_CR4_PAE) != 0 || (changed & value & X86_CR4_SMEP) != 0) {
    tlb_flush_cr4(vcpu, false);
  }
  store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
  return AccessStatus.Ok;
}

/** INVLPG: a non-canonical address invalidates nothing and does not fault. */
export function invlpg(vcpu: u32, la: u64): i32 {
  const v = vcpu_ptr(vcpu);
  if (!privileged(v)) return raise_general_protection(v);
  if (is_canonical_at(v, la)) tlb_invlpg(vcpu, la);
  store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
  return AccessStatus.Ok;
}

/**
 * INVPCID with the register operand `type` and the descriptor (`pcid`, `la`).
 * #GP(0), CPL first: CPL > 0, type > 3, descriptor bits 63:12 set, type 0
 * with a non-canonical address, type 0/1 naming a PCID other than 0 while
 * CR4.PCIDE=0 (KVM kvm_handle_invpcid).
 */
export function invpcid(vcpu: u32, type: u64, pcid: u64, la: u64): i32 {
  const v = vcpu_ptr(vcpu);
  if (!privileged(v)) return raise_general_protection(v);
  if (type > 3 || pcid > X86_CR3_PCID_MASK) return raise_general_protection(v);
  if (type == 0 && !is_canonical_at(v, la)) return raise_general_protection(v);
  if (type <= 1 && pcid != 0 && (load<u64>(v + Vcpu.Cr4) & X86_CR4_PCIDE) == 0) return raise_general_protection(v);
  tlb_invpcid(vcpu, <u32>type, <u32>pcid, la);
  store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
  return AccessStatus.Ok;
}

/** WRPKRU: PKRU is read at each access, so nothing is invalidated. */
export function wrpkru(vcpu: u32, value: u32): i32 {
  const v = vcpu_ptr(vcpu);
  store<u32>(v + Vcpu.Pkru, value);
  store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
  return AccessStatus.Ok;
}

/** WRMSR to IA32_PKRS (6E1H): #GP(0) at CPL > 0 or with bits 63:32 set; nothing is invalidated. */
export function wrmsr_pkrs(vcpu: u32, value: u64): i32 {
  const v = vcpu_ptr(vcpu);
  if (!privileged(v) || (value >> 32) != 0) return raise_general_protection(v);
  store<u32>(v + Vcpu.Pkrs, <u32>value);
  store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
  return AccessStatus.Ok;
}

/**
 * Loads the control registers without an instruction's checks and empties
 * the vCPU's TLB, as KVM_SET_SREGS resets the MMU context. CR3 is stored as
 * given (no no-flush bit here).
 */
export function vcpu_set_state(vcpu: u32, cr0: u64, cr3: u64, cr4: u64, efer: u64): void {
  const v = vcpu_ptr(vcpu);
  store<u64>(v + Vcpu.Cr0, cr0);
  store<u64>(v + Vcpu.Cr3, cr3);
  store<u64>(v + Vcpu.Cr4, cr4);
  store<u64>(v + Vcpu.Efer, efer);
  tlb_flush_all(vcpu);
}

/** The guest CPUID as the MMU needs it: CpuFeat bits, MAXPHYADDR in bits 7:0 (KVM_SET_CPUID2). */
export function vcpu_set_features(vcpu: u32, features: u32): void {
  store<u32>(vcpu_ptr(vcpu) + Vcpu.Features, features);
}

/**
 * The EPT the vCPU runs under: `eptp` (0 = none, guest-physical is
 * host-physical), the EptCap bits with the host MAXPHYADDR, and the tag that
 * marks combined TLB entries made under it. Entries of an old tag are not
 * touched: they stay until an INVEPT, as on hardware.
 */
export function vcpu_set_ept(vcpu: u32, eptp: u64, caps: u32, ept_tag: u32): void {
  const v = vcpu_ptr(vcpu);
  store<u64>(v + Vcpu.Eptp, eptp);
  store<u32>(v + Vcpu.EptCaps, caps);
  store<u32>(v + Vcpu.EptTag, ept_tag);
}

/** The VPID that tags the vCPU's TLB entries (0 = none, the host's). */
export function vcpu_set_vpid(vcpu: u32, vpid: u32): void {
  store<u32>(vcpu_ptr(vcpu) + Vcpu.Vpid, vpid);
}

/** The current privilege level, used by the instructions above and the data accessors. */
export function vcpu_set_cpl(vcpu: u32, cpl: u32): void {
  store<u32>(vcpu_ptr(vcpu) + Vcpu.Cpl, cpl);
}

/** RFLAGS (the data accessors take EFLAGS.AC from it). */
export function vcpu_set_rflags(vcpu: u32, rflags: u64): void {
  store<u64>(vcpu_ptr(vcpu) + Vcpu.Rflags, rflags);
}

/** PKRU and IA32_PKRS as the host restores them (XSAVE state, KVM_SET_MSRS): no checks. */
export function vcpu_set_pkeys(vcpu: u32, pkru: u32, pkrs: u32): void {
  const v = vcpu_ptr(vcpu);
  store<u32>(v + Vcpu.Pkru, pkru);
  store<u32>(v + Vcpu.Pkrs, pkrs);
}

/** WalkFlag bits: the trace switch and the A/D model. */
export function vcpu_set_walk_flags(vcpu: u32, flags: u32): void {
  store<u32>(vcpu_ptr(vcpu) + Vcpu.WalkFlags, flags);
}
