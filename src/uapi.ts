// Constants of the Linux user API, under Linux's own names and values, so a C
// VMM or a KVM selftest ports line by line: `import * as K from 'gmemu/uapi'`.
//
// Control-register and flag bits: arch/x86/include/uapi/asm/processor-flags.h.
// EFER bits: arch/x86/include/asm/msr-index.h (as KVM selftests use them).

export const X86_EFLAGS_AC = 1n << 18n;

export const X86_CR0_PE = 1n << 0n;
export const X86_CR0_MP = 1n << 1n;
export const X86_CR0_EM = 1n << 2n;
export const X86_CR0_TS = 1n << 3n;
export const X86_CR0_ET = 1n << 4n;
export const X86_CR0_NE = 1n << 5n;
export const X86_CR0_WP = 1n << 16n;
export const X86_CR0_AM = 1n << 18n;
export const X86_CR0_NW = 1n << 29n;
export const X86_CR0_CD = 1n << 30n;
export const X86_CR0_PG = 1n << 31n;

export const X86_CR3_PWT = 1n << 3n;
export const X86_CR3_PCD = 1n << 4n;
export const X86_CR3_PCID_MASK = 0xfffn;
export const X86_CR3_PCID_NOFLUSH = 1n << 63n;

export const X86_CR4_VME = 1n << 0n;
export const X86_CR4_PVI = 1n << 1n;
export const X86_CR4_TSD = 1n << 2n;
export const X86_CR4_DE = 1n << 3n;
export const X86_CR4_PSE = 1n << 4n;
export const X86_CR4_PAE = 1n << 5n;
export const X86_CR4_MCE = 1n << 6n;
export const X86_CR4_PGE = 1n << 7n;
export const X86_CR4_PCE = 1n << 8n;
export const X86_CR4_OSFXSR = 1n << 9n;
export const X86_CR4_OSXMMEXCPT = 1n << 10n;
export const X86_CR4_UMIP = 1n << 11n;
export const X86_CR4_LA57 = 1n << 12n;
export const X86_CR4_VMXE = 1n << 13n;
export const X86_CR4_SMXE = 1n << 14n;
export const X86_CR4_FSGSBASE = 1n << 16n;
export const X86_CR4_PCIDE = 1n << 17n;
export const X86_CR4_OSXSAVE = 1n << 18n;
export const X86_CR4_SMEP = 1n << 20n;
export const X86_CR4_SMAP = 1n << 21n;
export const X86_CR4_PKE = 1n << 22n;
export const X86_CR4_CET = 1n << 23n;
export const X86_CR4_PKS = 1n << 24n;

export const EFER_SCE = 1n << 0n;
export const EFER_LME = 1n << 8n;
export const EFER_LMA = 1n << 10n;
export const EFER_NX = 1n << 11n;
