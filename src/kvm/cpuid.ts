// Guest CPUID (struct kvm_cpuid2 / kvm_cpuid_entry2): what KVM_SET_CPUID2
// tells the MMU (vendor, MAXPHYADDR, NX, 1 GiB pages, PCID, PGE, SMEP, SMAP,
// PKU, PKS, LA57, as CpuFeat bits in the vCPU record) and which CR4 bits it
// reserves (__cr4_reserved_bits in arch/x86/kvm/x86.h), and the list
// KVM_GET_SUPPORTED_CPUID offers: the features the core models.

import { KvmError } from './error.js';
import { structArg, field, intArg } from './args.js';
import type { StructSpec, StructValue } from './args.js';
import { HOST_MAXPHYADDR } from './profile.js';
import {
  X86_CR4_CET, X86_CR4_DE, X86_CR4_FSGSBASE, X86_CR4_LA57, X86_CR4_MCE, X86_CR4_OSFXSR, X86_CR4_OSXMMEXCPT,
  X86_CR4_OSXSAVE, X86_CR4_PAE, X86_CR4_PCE, X86_CR4_PCIDE, X86_CR4_PGE, X86_CR4_PKE, X86_CR4_PKS, X86_CR4_PSE,
  X86_CR4_PVI, X86_CR4_SMAP, X86_CR4_SMEP, X86_CR4_SMXE, X86_CR4_TSD, X86_CR4_UMIP, X86_CR4_VME, X86_CR4_VMXE,
} from '../uapi.js';

/** Entries KVM accepts in one kvm_cpuid2 (KVM_MAX_CPUID_ENTRIES). */
export const KVM_MAX_CPUID_ENTRIES = 256;
/** kvm_cpuid_entry2.flags: the entry depends on ECX (index). */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;

export const KVM_CPUID_ENTRY2: StructSpec = {
  name: 'kvm_cpuid_entry2',
  fields: {
    function: 'u32', index: 'u32', flags: 'u32', eax: 'u32', ebx: 'u32', ecx: 'u32', edx: 'u32',
    padding: { array: 'u32', length: 3 },
  },
  required: ['function'],
};

// CpuFeat bits of assembly/layout.ts (bits 7:0 hold MAXPHYADDR).
const FEAT = {
  VendorAmd: 1 << 8, Gbpages: 1 << 9, Nx: 1 << 10, Pcid: 1 << 11, Invpcid: 1 << 12, Smep: 1 << 13,
  Smap: 1 << 14, Pku: 1 << 15, Pks: 1 << 16, La57: 1 << 17, Pge: 1 << 18,
} as const;

/** CR4 bits KVM knows at all; every other bit is reserved (CR4_RESERVED_BITS). */
const CR4_KNOWN_BITS = X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE | X86_CR4_PSE | X86_CR4_PAE | X86_CR4_MCE
  | X86_CR4_PGE | X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT | X86_CR4_UMIP | X86_CR4_LA57 | X86_CR4_VMXE
  | X86_CR4_SMXE | X86_CR4_FSGSBASE | X86_CR4_PCIDE | X86_CR4_OSXSAVE | X86_CR4_SMEP | X86_CR4_SMAP | X86_CR4_PKE
  | X86_CR4_CET | X86_CR4_PKS;

/** A CPUID bit: leaf, subleaf, register, bit. */
type CpuidBit = readonly [number, number, 'eax' | 'ebx' | 'ecx' | 'edx', number];

const BIT = {
  vmx: [1, 0, 'ecx', 5], pcid: [1, 0, 'ecx', 17], osxsave: [1, 0, 'ecx', 27], xsave: [1, 0, 'ecx', 26],
  pge: [1, 0, 'edx', 13],
  fsgsbase: [7, 0, 'ebx', 0], smep: [7, 0, 'ebx', 7], invpcid: [7, 0, 'ebx', 10], smap: [7, 0, 'ebx', 20],
  umip: [7, 0, 'ecx', 2], pku: [7, 0, 'ecx', 3], shstk: [7, 0, 'ecx', 7], la57: [7, 0, 'ecx', 16], pks: [7, 0, 'ecx', 31],
  ibt: [7, 0, 'edx', 20],
  nx: [0x80000001, 0, 'edx', 20], gbpages: [0x80000001, 0, 'edx', 26],
} satisfies Record<string, CpuidBit>;

/** CR4 bits that exist only when the guest CPUID enumerates a feature. */
const CR4_FEATURE_BITS: readonly [bigint, readonly CpuidBit[]][] = [
  [X86_CR4_OSXSAVE, [BIT.xsave]], [X86_CR4_SMEP, [BIT.smep]], [X86_CR4_SMAP, [BIT.smap]],
  [X86_CR4_FSGSBASE, [BIT.fsgsbase]], [X86_CR4_PKE, [BIT.pku]], [X86_CR4_LA57, [BIT.la57]],
  [X86_CR4_UMIP, [BIT.umip]], [X86_CR4_PCIDE, [BIT.pcid]], [X86_CR4_CET, [BIT.shstk, BIT.ibt]],
  [X86_CR4_PKS, [BIT.pks]], [X86_CR4_VMXE, [BIT.vmx]],
];

/** MAXPHYADDR when the guest CPUID has no leaf 0x80000008 (cpuid_query_maxphyaddr). */
const DEFAULT_MAXPHYADDR = 36;

/** A guest CPUID table, as KVM_SET_CPUID2 installs it. */
export class GuestCpuid {
  constructor(private readonly entries: readonly StructValue[] = []) {}

  private entry(fn: number, index: number): StructValue | undefined {
    return this.entries.find((e) => field(e, 'function') === BigInt(fn)
      && ((field(e, 'flags') & BigInt(KVM_CPUID_FLAG_SIGNIFCANT_INDEX)) === 0n || field(e, 'index') === BigInt(index)));
  }

  has([fn, index, reg, bit]: CpuidBit): boolean {
    const e = this.entry(fn, index);
    return e !== undefined && ((field(e, reg) >> BigInt(bit)) & 1n) === 1n;
  }

  get maxPhyAddr(): number {
    const ext = this.entry(0x80000000, 0);
    const leaf = this.entry(0x80000008, 0);
    if (!ext || field(ext, 'eax') < 0x80000008n || !leaf) return DEFAULT_MAXPHYADDR;
    return Number(field(leaf, 'eax') & 0xffn);
  }

  /** AuthenticAMD or HygonGenuine in leaf 0 (is_guest_vendor_amd / _hygon). */
  get vendorAmd(): boolean {
    const e = this.entry(0, 0);
    if (!e) return false;
    const sig = [field(e, 'ebx'), field(e, 'edx'), field(e, 'ecx')]
      .map((w) => String.fromCharCode(...[0, 8, 16, 24].map((s) => Number((w >> BigInt(s)) & 0xffn)))).join('');
    return sig === 'AuthenticAMD' || sig === 'HygonGenuine';
  }

  /** CpuFeat bits for the vCPU record, MAXPHYADDR in bits 7:0. */
  get features(): number {
    const bits: [CpuidBit, number][] = [
      [BIT.gbpages, FEAT.Gbpages], [BIT.nx, FEAT.Nx], [BIT.pcid, FEAT.Pcid], [BIT.invpcid, FEAT.Invpcid],
      [BIT.smep, FEAT.Smep], [BIT.smap, FEAT.Smap], [BIT.pku, FEAT.Pku], [BIT.pks, FEAT.Pks], [BIT.la57, FEAT.La57],
      [BIT.pge, FEAT.Pge],
    ];
    let f = this.maxPhyAddr & 0xff;
    if (this.vendorAmd) f |= FEAT.VendorAmd;
    for (const [bit, feat] of bits) if (this.has(bit)) f |= feat;
    return f;
  }

  /** CR4 bits reserved for this guest: unknown ones and those of features it lacks. */
  get cr4ReservedBits(): bigint {
    let reserved = ~CR4_KNOWN_BITS & ((1n << 64n) - 1n);
    for (const [cr4, needs] of CR4_FEATURE_BITS) if (!needs.some((b) => this.has(b))) reserved |= cr4;
    return reserved;
  }
}

/** Reads struct kvm_cpuid2 { nent, entries[] }: E2BIG past KVM_MAX_CPUID_ENTRIES, EFAULT when entries holds fewer than nent. */
export function cpuid2Arg(arg: unknown, syscall: string): { nent: number; entries: StructValue[] } {
  if (typeof arg !== 'object' || arg === null) throw new KvmError('EFAULT', syscall, 'struct kvm_cpuid2 argument is not an object');
  const a = arg as Record<string, unknown>;
  for (const key of Object.keys(a)) {
    if (key !== 'nent' && key !== 'padding' && key !== 'entries') throw new KvmError('EINVAL', syscall, `kvm_cpuid2: struct kvm_cpuid2 has no field ${key}`);
  }
  const nent = Number(intArg(a.nent, 'u32', 'kvm_cpuid2.nent', syscall));
  if (a.padding !== undefined) intArg(a.padding, 'u32', 'kvm_cpuid2.padding', syscall);
  return { nent, entries: Array.isArray(a.entries) ? a.entries.slice(0, nent).map((e, i) => structArg(e, KVM_CPUID_ENTRY2, syscall, `kvm_cpuid2.entries[${i}]`)) : [] };
}

/** What KVM_GET_SUPPORTED_CPUID lists: an Intel CPU with the features the core models. */
export function supportedCpuid(): StructValue[] {
  const e = (fn: number, regs: { eax?: number; ebx?: number; ecx?: number; edx?: number }, flags = 0): StructValue => ({
    function: BigInt(fn), index: 0n, flags: BigInt(flags),
    eax: BigInt((regs.eax ?? 0) >>> 0), ebx: BigInt((regs.ebx ?? 0) >>> 0),
    ecx: BigInt((regs.ecx ?? 0) >>> 0), edx: BigInt((regs.edx ?? 0) >>> 0), padding: [0n, 0n, 0n],
  });
  const bits = (...b: number[]) => b.reduce((m, n) => m | (1 << n), 0) >>> 0;
  return [
    // "GenuineIntel" in ebx, edx, ecx.
    e(0, { eax: 7, ebx: 0x756e6547, edx: 0x49656e69, ecx: 0x6c65746e }),
    // FPU PSE TSC MSR PAE CX8 APIC SEP MTRR PGE CMOV PAT PSE36 FXSR SSE SSE2; SSE3 PCID.
    e(1, { edx: bits(0, 3, 4, 5, 6, 8, 9, 11, 12, 13, 15, 16, 17, 24, 25, 26), ecx: bits(0, 17) }),
    // FSGSBASE SMEP INVPCID SMAP; UMIP PKU LA57 PKS.
    e(7, { ebx: bits(0, 7, 10, 20), ecx: bits(2, 3, 16, 31) }, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
    e(0x80000000, { eax: 0x80000008 }),
    // LAHF; NX PDPE1GB RDTSCP LM.
    e(0x80000001, { ecx: bits(0), edx: bits(20, 26, 27, 29) }),
    // Physical and linear address bits (57: LA57 is offered).
    e(0x80000008, { eax: HOST_MAXPHYADDR | (57 << 8) }),
  ];
}
