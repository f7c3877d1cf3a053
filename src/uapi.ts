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

// ---------------------------------------------------------------------------
// KVM (include/uapi/linux/kvm.h, x86-64). Request numbers are built the way
// the kernel's _IOC macros build them (include/uapi/asm-generic/ioctl.h).

const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;
const ioc = (dir: number, type: number, nr: number, size: number): number =>
  ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
const io = (type: number, nr: number) => ioc(IOC_NONE, type, nr, 0);
const ior = (type: number, nr: number, size: number) => ioc(IOC_READ, type, nr, size);
const iow = (type: number, nr: number, size: number) => ioc(IOC_WRITE, type, nr, size);
const iowr = (type: number, nr: number, size: number) => ioc(IOC_READ | IOC_WRITE, type, nr, size);

export const KVMIO = 0xae;
export const KVM_API_VERSION = 12;

// System ioctls (/dev/kvm).
export const KVM_GET_API_VERSION = io(KVMIO, 0x00);
export const KVM_CREATE_VM = io(KVMIO, 0x01);
export const KVM_CHECK_EXTENSION = io(KVMIO, 0x03);
export const KVM_GET_VCPU_MMAP_SIZE = io(KVMIO, 0x04);
/** struct kvm_cpuid2 is 8 bytes before its flexible array. */
export const KVM_GET_SUPPORTED_CPUID = iowr(KVMIO, 0x05, 8);

// VM ioctls.
export const KVM_CREATE_VCPU = io(KVMIO, 0x41);
export const KVM_SET_USER_MEMORY_REGION = iow(KVMIO, 0x46, 32);
export const KVM_SET_USER_MEMORY_REGION2 = iow(KVMIO, 0x49, 160);
export const KVM_ENABLE_CAP = iow(KVMIO, 0xa3, 104);
export const KVM_SET_MEMORY_ATTRIBUTES = iow(KVMIO, 0xd2, 32);
export const KVM_CREATE_GUEST_MEMFD = iowr(KVMIO, 0xd4, 64);

// vCPU ioctls.
export const KVM_RUN = io(KVMIO, 0x80);
export const KVM_GET_REGS = ior(KVMIO, 0x81, 144);
export const KVM_SET_REGS = iow(KVMIO, 0x82, 144);
export const KVM_GET_SREGS = ior(KVMIO, 0x83, 312);
export const KVM_SET_SREGS = iow(KVMIO, 0x84, 312);
export const KVM_TRANSLATE = iowr(KVMIO, 0x85, 24);
export const KVM_SET_CPUID2 = iow(KVMIO, 0x90, 8);
export const KVM_PRE_FAULT_MEMORY = iowr(KVMIO, 0xd5, 64);

// Capabilities (KVM_CHECK_EXTENSION).
export const KVM_CAP_NR_MEMSLOTS = 10;
export const KVM_CAP_READONLY_MEM = 81;
export const KVM_CAP_MULTI_ADDRESS_SPACE = 118;
export const KVM_CAP_EXIT_HYPERCALL = 201;
export const KVM_CAP_USER_MEMORY2 = 231;
export const KVM_CAP_MEMORY_FAULT_INFO = 232;
export const KVM_CAP_MEMORY_ATTRIBUTES = 233;
export const KVM_CAP_GUEST_MEMFD = 234;
export const KVM_CAP_VM_TYPES = 235;
export const KVM_CAP_PRE_FAULT_MEMORY = 236;
export const KVM_CAP_GUEST_MEMFD_FLAGS = 244;

// VM types.
export const KVM_X86_DEFAULT_VM = 0;
export const KVM_X86_SW_PROTECTED_VM = 1;
export const KVM_X86_SEV_VM = 2;
export const KVM_X86_SEV_ES_VM = 3;
export const KVM_X86_SNP_VM = 4;
export const KVM_X86_TDX_VM = 5;

// Memslot flags.
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;
export const KVM_MEM_GUEST_MEMFD = 1 << 2;

// guest_memfd creation flags (KVM_CAP_GUEST_MEMFD_FLAGS).
export const GUEST_MEMFD_FLAG_MMAP = 1 << 0;
export const GUEST_MEMFD_FLAG_INIT_SHARED = 1 << 1;
/**
 * A proposal, not in Linux 6.18: guest_memfd pages leave the kernel direct
 * map (the series by Patrick Roy, continued by Nikita Kalyazin).
 */
export const GUEST_MEMFD_FLAG_NO_DIRECT_MAP = 1 << 2;

export const KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3;

// KVM_RUN exit reasons.
export const KVM_EXIT_IO = 2;
export const KVM_EXIT_HYPERCALL = 3;
export const KVM_EXIT_HLT = 5;
export const KVM_EXIT_MMIO = 6;
export const KVM_EXIT_INTR = 10;
export const KVM_EXIT_SHUTDOWN = 8;
export const KVM_EXIT_INTERNAL_ERROR = 17;
export const KVM_EXIT_MEMORY_FAULT = 39;
export const KVM_MEMORY_EXIT_FLAG_PRIVATE = 1 << 3;
export const KVM_EXIT_HYPERCALL_LONG_MODE = 1 << 0;

// Hypercalls (include/uapi/linux/kvm_para.h).
export const KVM_HC_MAP_GPA_RANGE = 12;
export const KVM_MAP_GPA_RANGE_ENCRYPTED = 1 << 4;
export const KVM_MAP_GPA_RANGE_DECRYPTED = 0;
export const KVM_MAP_GPA_RANGE_PAGE_SZ_4K = 0;
export const KVM_MAP_GPA_RANGE_PAGE_SZ_2M = 1;
export const KVM_MAP_GPA_RANGE_PAGE_SZ_1G = 2;
export const KVM_ENOSYS = 1000;
export const KVM_EINVAL = 22;
export const KVM_EPERM = 1;

// fallocate(2) modes (include/uapi/linux/falloc.h).
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_COLLAPSE_RANGE = 0x08;
export const FALLOC_FL_ZERO_RANGE = 0x10;
export const FALLOC_FL_INSERT_RANGE = 0x20;
export const FALLOC_FL_UNSHARE_RANGE = 0x40;

// mmap(2) (include/uapi/asm-generic/mman-common.h, mman.h).
export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
/** Anonymous memory from the hugetlb pool, in 2 MiB pages (Kvm.open hugePages). */
export const MAP_HUGETLB = 0x40000;
/** mmap type: MAP_SHARED that fails (EOPNOTSUPP) on flags it does not know. */
export const MAP_SHARED_VALIDATE = 0x03;

// fcntl(2) (include/uapi/asm-generic/fcntl.h).
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const FD_CLOEXEC = 1;
export const O_RDWR = 0o2;
/** Set in f_flags of files opened on 64-bit kernels, and of every guest_memfd. */
export const O_LARGEFILE = 0o100000;

// lseek(2) whence (include/uapi/linux/fs.h).
export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;
