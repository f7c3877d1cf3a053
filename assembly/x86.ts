// Architectural bit names of x86-64 that translation depends on: control
// registers, EFER, RFLAGS, paging-structure entries and the #PF error code.
// Names follow the kernel's (arch/x86/include/asm/processor-flags.h,
// pgtable_types.h, kvm_host.h); values are the Intel SDM's (Vol. 3A ch. 2, 4).

export const X86_CR0_PE: u64 = 1 << 0;
export const X86_CR0_WP: u64 = 1 << 16;
export const X86_CR0_PG: u64 = 1 << 31;

export const X86_CR3_PCID_MASK: u64 = 0xfff;
/** MOV to CR3 with CR4.PCIDE=1: do not invalidate the new PCID's entries. */
export const X86_CR3_PCID_NOFLUSH: u64 = <u64>1 << 63;

export const X86_CR4_PAE: u64 = 1 << 5;
export const X86_CR4_PGE: u64 = 1 << 7;
export const X86_CR4_LA57: u64 = 1 << 12;
export const X86_CR4_PCIDE: u64 = 1 << 17;
export const X86_CR4_SMEP: u64 = 1 << 20;
export const X86_CR4_SMAP: u64 = 1 << 21;
export const X86_CR4_PKE: u64 = 1 << 22;
export const X86_CR4_PKS: u64 = 1 << 24;

export const EFER_LME: u64 = 1 << 8;
export const EFER_LMA: u64 = 1 << 10;
export const EFER_NX: u64 = 1 << 11;

export const X86_EFLAGS_AC: u64 = 1 << 18;

/** Paging-structure entry bits. */
export const PT_PRESENT: u64 = 1 << 0;
export const PT_WRITABLE: u64 = 1 << 1;
export const PT_USER: u64 = 1 << 2;
export const PT_ACCESSED: u64 = 1 << 5;
export const PT_DIRTY: u64 = 1 << 6;
export const PT_PAGE_SIZE: u64 = 1 << 7;
export const PT_GLOBAL: u64 = 1 << 8;
export const PT_PKEY_SHIFT: u64 = 59;
export const PT_XD: u64 = <u64>1 << 63;

/** #PF error code bits (KVM's PFERR_*). */
export const PFERR_PRESENT: u32 = 1 << 0;
export const PFERR_WRITE: u32 = 1 << 1;
export const PFERR_USER: u32 = 1 << 2;
export const PFERR_RSVD: u32 = 1 << 3;
export const PFERR_FETCH: u32 = 1 << 4;
export const PFERR_PK: u32 = 1 << 5;
