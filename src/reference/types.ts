// What the reference walker takes and what it answers.
//
// The reference walker is the oracle the Wasm walker is checked against, so
// its inputs are spelled out in architectural terms (control registers, the
// guest CPUID facts, the EPT pointer and capabilities) rather than as the
// packed vCPU record, and its answer lists every memory reference and every
// A/D update so that two walkers can be compared step by step.

import type { Gpa, Gva, Hpa } from '../core/addr.js';

/** Host physical memory as the walker sees it: 64-bit little-endian words. */
export interface HostMemory {
  /** Bytes of host RAM: a word at or beyond this address cannot be read. */
  readonly size: bigint;
  read64(hpa: Hpa): bigint;
  /** Absent: A/D updates are computed and reported but not stored. */
  write64?(hpa: Hpa, value: bigint): void;
}

export type AccessKind = 'read' | 'write' | 'fetch';

/** The guest's paging state, as the vCPU holds it at the access. */
export interface GuestControl {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  /** PKRU: two bits per key, AD = bit 2k, WD = bit 2k+1. */
  pkru: number;
  /** IA32_PKRS, same format as PKRU, for supervisor-mode addresses. */
  pkrs: number;
  /** Guest MAXPHYADDR (CPUID.80000008H:EAX[7:0]): bits 51:M of entries are reserved. */
  maxPhyAddr: number;
  /** AMD reserves bit 8 of non-leaf PML5Es/PML4Es; Intel ignores it. */
  vendor: 'intel' | 'amd';
  /** CPUID PDPE1GB: without it PS=1 in a PDPTE is a reserved bit. */
  gbpages: boolean;
}

/** EPT as the VMCS and IA32_VMX_EPT_VPID_CAP define it for this guest. */
export interface EptControl {
  eptp: bigint;
  /** Host MAXPHYADDR: bits 51:M of EPT entries are reserved. */
  maxPhyAddr: number;
  /** CAP bit 0: an entry with X=1, R=W=0 is allowed. */
  execOnly: boolean;
  /** CAP bit 17: a PDPTE may map a 1 GiB page. */
  page1g: boolean;
}

/** One access by the guest to a linear address. */
export interface GuestAccess {
  la: Gva;
  kind: AccessKind;
  cpl: number;
  /** EFLAGS.AC at the access. */
  ac: boolean;
  /** An implicit supervisor access (GDT, IDT, TSS, ...): supervisor even at CPL3, AC never lifts SMAP. */
  implicit: boolean;
}

/** A memory reference of a walk: a guest entry (by GPA) or an EPT entry (by HPA). */
export type WalkRef =
  | { table: 'guest'; level: number; addr: Gpa; value: bigint }
  | { table: 'ept'; level: number; addr: Hpa; value: bigint };

/** An accessed/dirty update: one locked write of one entry. */
export type AdUpdate =
  | { table: 'guest'; level: number; addr: Gpa; old: bigint; new: bigint }
  | { table: 'ept'; level: number; addr: Hpa; old: bigint; new: bigint };

/** log2 of a page size: 4 KiB, 2 MiB, 1 GiB. */
export type PageShift = 12 | 21 | 30;

export type WalkOutcome =
  | {
      kind: 'ok';
      gpa: Gpa;
      hpa: Hpa;
      /** Size of the guest page that maps the address. */
      pageShift: PageShift;
      /** Size of the EPT page that maps the data GPA (the guest's own size without EPT). */
      eptPageShift: PageShift;
    }
  | { kind: 'page-fault'; errorCode: number; cr2: Gva; level: number }
  | { kind: 'general-protection'; errorCode: number }
  /** `level`: the guest level whose entry was being reached, 0 for the data access. */
  | { kind: 'ept-violation'; qualification: bigint; gpa: Gpa; level: number }
  | { kind: 'ept-misconfig'; gpa: Gpa; level: number }
  /** A table entry, or the data, lies beyond host RAM. */
  | { kind: 'no-memory'; gpa: Gpa };

export interface WalkResult {
  outcome: WalkOutcome;
  refs: WalkRef[];
  ad: AdUpdate[];
}

/** #PF error-code bits (SDM Vol. 3A 4.7; KVM's PFERR_*_MASK). */
export const PFERR_PRESENT = 1 << 0;
export const PFERR_WRITE = 1 << 1;
export const PFERR_USER = 1 << 2;
export const PFERR_RSVD = 1 << 3;
export const PFERR_FETCH = 1 << 4;
export const PFERR_PK = 1 << 5;

/** A mask of bits hi..lo inclusive. */
export function bits(hi: number, lo: number): bigint {
  return ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

export function bit(value: bigint, n: number): boolean {
  return ((value >> BigInt(n)) & 1n) === 1n;
}
