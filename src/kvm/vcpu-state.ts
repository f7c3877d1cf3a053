// A vCPU's architectural state as KVM_GET/SET_REGS and KVM_GET/SET_SREGS
// carry it (struct kvm_regs, struct kvm_sregs in arch/x86/include/uapi/asm/kvm.h),
// and KVM_SET_SREGS's validity rules (kvm_is_valid_sregs in arch/x86/kvm/x86.c).
// The general registers, RIP and RFLAGS live only in the vCPU's record in
// shared memory, where the guest interpreter changes them; so do the
// registers the MMU reads (CR0, CR2, CR3, CR4, EFER, CPL), which KVM_GET_SREGS
// reads back after the guest ran.

import type { CoreExports } from '../core/wasm.js';
import {
  EFER_LMA, EFER_LME, X86_CR0_CD, X86_CR0_NW, X86_CR0_PE, X86_CR0_PG, X86_CR4_PAE,
} from '../uapi.js';
import { field, nested } from './args.js';
import type { StructSpec, StructValue } from './args.js';
import { GuestCpuid } from './cpuid.js';

/** struct kvm_regs's field order. */
const REG_FIELDS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags'] as const;

/** The general registers in x86 encoding order, as the vCPU record holds them (Vcpu.Gpr). */
const GPR_ORDER = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

export const KVM_REGS: StructSpec = {
  name: 'kvm_regs',
  fields: Object.fromEntries(REG_FIELDS.map((r) => [r, 'u64' as const])),
  required: [],
};

const KVM_SEGMENT: StructSpec = {
  name: 'kvm_segment',
  fields: {
    base: 'u64', limit: 'u32', selector: 'u16', type: 'u8', present: 'u8', dpl: 'u8', db: 'u8', s: 'u8', l: 'u8',
    g: 'u8', avl: 'u8', unusable: 'u8', padding: 'u8',
  },
  required: [],
};

const KVM_DTABLE: StructSpec = {
  name: 'kvm_dtable',
  fields: { base: 'u64', limit: 'u16', padding: { array: 'u16', length: 3 } },
  required: [],
};

export const KVM_SREGS: StructSpec = {
  name: 'kvm_sregs',
  fields: {
    cs: { struct: KVM_SEGMENT }, ds: { struct: KVM_SEGMENT }, es: { struct: KVM_SEGMENT }, fs: { struct: KVM_SEGMENT },
    gs: { struct: KVM_SEGMENT }, ss: { struct: KVM_SEGMENT }, tr: { struct: KVM_SEGMENT }, ldt: { struct: KVM_SEGMENT },
    gdt: { struct: KVM_DTABLE }, idt: { struct: KVM_DTABLE },
    cr0: 'u64', cr2: 'u64', cr3: 'u64', cr4: 'u64', cr8: 'u64', efer: 'u64', apic_base: 'u64',
    interrupt_bitmap: { array: 'u64', length: 4 },
  },
  required: [],
};

/** RFLAGS bit 1 is reserved and always 1. */
const RFLAGS_FIXED = 1n << 1n;
/** The default local APIC base: 0xfee00000, enabled, bootstrap processor. */
const APIC_DEFAULT_BASE = 0xfee00000n | (1n << 11n) | (1n << 8n);

/** CR0 after reset: ET, CD and NW (0x60000010). */
const X86_CR0_ET_CD_NW = 0x60000010n;

/** The state at vCPU creation (kvm_vcpu_reset): real mode at the reset vector. */
function resetState(): { regs: StructValue; sregs: StructValue } {
  const regs: StructValue = Object.fromEntries(Object.keys(KVM_REGS.fields).map((k) => [k, 0n]));
  regs.rip = 0xfff0n;
  regs.rflags = RFLAGS_FIXED;
  const seg = (type: bigint, selector = 0n, base = 0n): StructValue => ({
    base, limit: 0xffffn, selector, type, present: 1n, dpl: 0n, db: 0n, s: 1n, l: 0n, g: 0n, avl: 0n, unusable: 0n, padding: 0n,
  });
  const sys = (type: bigint): StructValue => ({ ...seg(type), s: 0n });
  const dt = (): StructValue => ({ base: 0n, limit: 0xffffn, padding: [0n, 0n, 0n] });
  const sregs: StructValue = {
    cs: seg(11n, 0xf000n, 0xffff0000n), ds: seg(3n), es: seg(3n), fs: seg(3n), gs: seg(3n), ss: seg(3n),
    tr: sys(11n), ldt: sys(2n), gdt: dt(), idt: dt(),
    cr0: X86_CR0_ET_CD_NW, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apic_base: APIC_DEFAULT_BASE,
    interrupt_bitmap: [0n, 0n, 0n, 0n],
  };
  return { regs, sregs };
}

export class VcpuState {
  private sregs: StructValue;

  /** The guest CPUID (empty until KVM_SET_CPUID2). */
  private cpuid = new GuestCpuid();
  /** The vCPU record, as bytes. */
  private readonly view: DataView;
  private readonly base: number;

  constructor(
    private readonly core: CoreExports,
    /** The vCPU's record in shared memory. */
    readonly record: number,
    memory: WebAssembly.Memory,
    /** The host runs real mode through KVM's emulator (the 'shadow' profile's probe host). */
    private readonly emulateRealMode = false,
  ) {
    this.view = new DataView(memory.buffer);
    this.base = core.vcpu_ptr(record);
    const reset = resetState();
    this.sregs = reset.sregs;
    // The record may have served a closed vCPU: nothing of it may leak into this one.
    new Uint8Array(memory.buffer, this.base + core.Vcpu.Gpr, core.Vcpu.PioData + 8 - core.Vcpu.Gpr).fill(0);
    core.vcpu_set_ept(record, 0n, 0, 0);
    core.vcpu_set_pkeys(record, 0, 0);
    core.vcpu_set_walk_flags(record, 0);
    this.setRegs(reset.regs);
    this.storeToRecord();
  }

  private u64(offset: number): bigint {
    return this.view.getBigUint64(this.base + offset, true);
  }

  private setU64(offset: number, value: bigint): void {
    this.view.setBigUint64(this.base + offset, BigInt.asUintN(64, value), true);
  }

  /** KVM_SET_CPUID2: the features the MMU sees change with it. */
  setCpuid(cpuid: GuestCpuid): void {
    this.cpuid = cpuid;
    this.core.vcpu_set_features(this.record, cpuid.features);
  }

  getRegs(): StructValue {
    const V = this.core.Vcpu;
    const regs: StructValue = {};
    for (const r of REG_FIELDS) {
      regs[r] = r === 'rip' ? this.u64(V.Rip) : r === 'rflags' ? this.u64(V.Rflags) : this.u64(V.Gpr + 8 * GPR_ORDER.indexOf(r));
    }
    return regs;
  }

  setRegs(regs: StructValue): void {
    const V = this.core.Vcpu;
    for (const r of GPR_ORDER) this.setU64(V.Gpr + 8 * GPR_ORDER.indexOf(r), field(regs, r));
    this.setU64(V.Rip, field(regs, 'rip'));
    this.core.vcpu_set_rflags(this.record, field(regs, 'rflags') | RFLAGS_FIXED);
  }

  /** The sregs, with what the guest may have changed since (CR2, CR3, CR4, and CPL as SS/CS.DPL) read back from the record. */
  getSregs(): StructValue {
    const V = this.core.Vcpu;
    const s = structuredClone(this.sregs);
    s.cr2 = this.u64(V.Cr2);
    s.cr3 = this.u64(V.Cr3);
    s.cr4 = this.u64(V.Cr4);
    if ((field(s, 'cr0') & X86_CR0_PE) !== 0n) {
      const cpl = BigInt(this.view.getUint32(this.base + V.Cpl, true));
      (s.cs as StructValue).dpl = cpl;
      (s.ss as StructValue).dpl = cpl;
    }
    return s;
  }

  /** Why `sregs` is not a state KVM_SET_SREGS accepts, or null (kvm_is_valid_sregs). */
  invalidSregs(sregs: StructValue): string | null {
    const cr0 = field(sregs, 'cr0');
    const cr4 = field(sregs, 'cr4');
    const efer = field(sregs, 'efer');
    if ((efer & EFER_LME) !== 0n && (cr0 & X86_CR0_PG) !== 0n) {
      if ((cr4 & X86_CR4_PAE) === 0n) return 'long mode (EFER.LME with CR0.PG) needs CR4.PAE';
      if ((efer & EFER_LMA) === 0n) return 'long mode (EFER.LME with CR0.PG) needs EFER.LMA';
      const cr3 = field(sregs, 'cr3');
      if (cr3 >> BigInt(this.cpuid.maxPhyAddr) !== 0n) return `cr3 0x${cr3.toString(16)} is above the guest MAXPHYADDR`;
    } else {
      if ((efer & EFER_LMA) !== 0n) return 'EFER.LMA is set outside long mode';
      if (field(nested(sregs, 'cs'), 'l') !== 0n) return 'cs.l is set outside long mode';
    }
    const cr4Reserved = cr4 & this.cpuid.cr4ReservedBits;
    if (cr4Reserved !== 0n) return `cr4 bits 0x${cr4Reserved.toString(16)} are reserved for this guest CPUID`;
    if (cr0 >> 32n !== 0n) return `cr0 0x${cr0.toString(16)} sets bits above 31`;
    if ((cr0 & X86_CR0_NW) !== 0n && (cr0 & X86_CR0_CD) === 0n) return 'cr0.NW without cr0.CD';
    if ((cr0 & X86_CR0_PG) !== 0n && (cr0 & X86_CR0_PE) === 0n) return 'cr0.PG without cr0.PE';
    // kvm_apic_set_base, as __set_sregs_common calls it: an unchanged value is
    // taken as is; otherwise no address bit above MAXPHYADDR, none of bits
    // 9:0 but BSP (bit 8), and no x2APIC enable (bit 10: not in the guest CPUID).
    const apicBase = field(sregs, 'apic_base');
    const aboveMaxPhyAddr = ((1n << 64n) - 1n) >> BigInt(this.cpuid.maxPhyAddr) << BigInt(this.cpuid.maxPhyAddr);
    const apicReserved = 0x2ffn | (1n << 10n) | aboveMaxPhyAddr;
    if (apicBase !== field(this.sregs, 'apic_base') && (apicBase & apicReserved) !== 0n) {
      return `apic_base 0x${apicBase.toString(16)} sets reserved bits 0x${(apicBase & apicReserved).toString(16)}`;
    }
    return null;
  }

  /** Installs a valid `sregs` (checked with invalidSregs first). */
  setSregs(sregs: StructValue): void {
    this.sregs = structuredClone(sregs);
    this.storeToRecord();
  }

  /** CPL: 0 in real mode, else the DPL of SS (what VMX reads for CPL). */
  get cpl(): number {
    if ((field(this.sregs, 'cr0') & X86_CR0_PE) === 0n) return 0;
    return Number(field(nested(this.sregs, 'ss'), 'dpl') & 3n);
  }

  /** Copies the registers the MMU reads into the vCPU record, emptying its TLB as a new MMU context does. */
  storeToRecord(): void {
    const c = this.core;
    const s = this.sregs;
    c.vcpu_set_state(this.record, field(s, 'cr0'), field(s, 'cr3'), field(s, 'cr4'), field(s, 'efer'));
    this.setU64(c.Vcpu.Cr2, field(s, 'cr2'));
    c.vcpu_set_cpl(this.record, this.cpl);
    c.vcpu_set_features(this.record, this.cpuid.features);
    // 64-bit mode is EFER.LMA with CS.L (is_64_bit_mode).
    const long = (field(s, 'efer') & EFER_LMA) !== 0n && field(nested(s, 'cs'), 'l') !== 0n;
    c.cpu_set_flags(this.record, (long ? c.CpuFlag.Long64 : 0) | (this.emulateRealMode ? c.CpuFlag.EmulateRealMode : 0));
  }
}
