// The one place that knows where everything lives in gmemu's shared memory.
//
// Every thread (the main thread and each vCPU worker) instantiates the same
// module over the same WebAssembly.Memory. That memory is the host's physical
// RAM plus all state that more than one thread must see. Nothing in it is
// allocated by AssemblyScript: the runtime is `stub`, and every instance would
// start its heap at the same address, so the core never allocates.
//
//   0 ............ LAYOUT_BASE   AssemblyScript static data (identical in every
//                                instance; nothing else lives here)
//   LAYOUT_BASE    header        Hdr fields: geometry and region offsets
//   + 4 KiB        locks         Lock words, one cache line each
//   + 4 KiB        stats         (1 + max_vcpus) blocks of STAT_SLOTS u64
//                                counters: block 0 = host, block 1+i = vCPU i
//   ...            vcpus         max_vcpus x VCPU_STRIDE: Vcpu state fields,
//                                the walk trace, then the vCPU's TLB
//   ...            frame meta    ram_frames x FRAME_META_BYTES (Frame fields)
//   ...            free stack    ram_frames x u32 free pfns (top in Hdr)
//   ...            direct map    Dmap: per 1 GiB region and per 2 MiB region,
//                                the pfn of the table that split it
//   ...            gmem inodes   GMEM_MAX_FILES x GMEM_INODE_BYTES (GmemInode)
//   ...            vms           VM_MAX x VM_STRIDE: VmRec, then two memslot
//                                sets of MEMSLOTS_MAX x MEMSLOT_BYTES (Memslot)
//   ...            mm            the VMM process: MmRec, then VMA_MAX x
//                                VMA_BYTES (VmaRec), then its I/O buffer
//   RAM (64 KiB aligned)         ram_frames x 4 KiB host frames; HPA = pfn << 12
//
// TypeScript reads all of these through the exports below; it never retypes
// a number.

export const LAYOUT_MAGIC: u32 = 0x6d656d67; // "gmem"
export const LAYOUT_VERSION: u32 = 1;

export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 4096;

/** Where gmemu's shared state starts; AssemblyScript's own data stays below. */
export const LAYOUT_BASE: u32 = 0x100000;
export const HEADER_BYTES: u32 = 4096;
export const LOCKS_BYTES: u32 = 4096;
/** Lock words are spaced one cache line apart so they do not false-share. */
export const LOCK_STRIDE: u32 = 64;
/** Counter slots per stats block; stats.ts checks Stat.Count fits. */
export const STAT_SLOTS: u32 = 256;
export const FRAME_META_BYTES: u32 = 16;

/** Header fields (byte offsets from LAYOUT_BASE). */
export enum Hdr {
  Magic = 0,
  Version = 4,
  RamFrames = 8,
  MaxVcpus = 12,
  HostCpus = 16,
  /** Total bytes of the memory that the layout uses (end of RAM). */
  TotalBytes = 20,
  OffLocks = 24,
  OffStats = 28,
  OffVcpus = 32,
  OffFrameMeta = 36,
  OffFreeStack = 40,
  OffDmap = 44,
  OffRam = 48,
  /** Number of pfns on the free stack. Guarded by Lock.Phys. */
  FreeTop = 64,
  /** Lazily freed vmap areas that vm_unmap_aliases() would purge. */
  DmapLazyVmap = 68,
  /** Number of 1 GiB and 2 MiB direct-map regions. */
  Dmap1gCount = 72,
  Dmap2mCount = 76,
  /** pfn of the PUD-level table page the direct map hangs from. */
  DmapPudPfn = 80,
  /** The table of guest_memfd inodes (gmem.ts). */
  OffGmem = 84,
  /** The table of VM records and their memslots (memslot.ts). */
  OffVms = 88,
  /** The VMM process's address space (vma.ts). */
  OffMm = 92,
  /**
   * Threads that run vCPUs or initiate remote requests, and the real cores
   * under them (requests.ts): an initiator spins for acknowledgements only
   * while every thread can have a core of its own.
   */
  Threads = 96,
  Cores = 100,
  /**
   * The hugetlb pool (hugetlb.ts): first pfn of its 2 MiB pages, how many it
   * has, how many are free, and how many of the free ones mmap reserved.
   */
  HugetlbBase = 104,
  HugetlbPages = 108,
  HugetlbFree = 112,
  HugetlbResv = 116,
}

/** Lock indices; the word of lock i is at OffLocks + i * LOCK_STRIDE. */
export enum Lock {
  /** The frame allocator's free stack. */
  Phys = 0,
  /** set_memory.c's cpa_lock: serialises direct-map changes. */
  Cpa = 1,
  /**
   * Every guest_memfd inode and page cache (gmem.ts): the role of each
   * inode's invalidate_lock in the kernel, one lock for all files here.
   */
  Gmem = 2,
  /**
   * kvm->slots_lock of every VM, and the VM table itself (memslot.ts):
   * memslot changes are rare, one lock for all VMs costs nothing.
   */
  Slots = 3,
  /** The VMM process's mmap_lock (vma.ts): its VMAs and its page table. */
  Mm = 4,
  Count = 5,
}

/**
 * Frame metadata fields (byte offsets inside one FRAME_META_BYTES record).
 * The direct-map state of a frame is not duplicated here: it is the present
 * bit of the frame's entry in the direct map (directmap.ts).
 */
export enum Frame {
  /** Who holds the frame: an fd / VM id chosen by the host layer, 0 = none. */
  Owner = 0,
  /** References; 0 means free. */
  Refcount = 4,
  /** FrameKind, a u8. */
  Kind = 8,
  /**
   * Slots in use, a u16, while the frame is a radix-tree node (radix.ts): the
   * kernel's xa_node.count, which tells when a node has emptied and can go.
   */
  NodeCount = 10,
  /** Bumped on every free, so a stale reader can tell the frame was reused. */
  Generation = 12,
}

export enum FrameKind {
  Free = 0,
  Anon = 1,
  GuestMemfd = 2,
  /** EPT, guest page tables built by the host, direct-map split tables. */
  PageTable = 3,
  /** Kernel memory that is not a page table (e.g. KVM's own structures). */
  Kernel = 4,
  /** A 4 KiB piece of a 2 MiB page of the hugetlb pool (hugetlb.ts). */
  Hugetlb = 5,
}

/** Direct-map region tables: the u32 arrays after OffDmap. */
export const DMAP_NOT_SPLIT: u32 = 0xffffffff;

/**
 * Per-vCPU state (byte offsets inside one vCPU record). The architectural
 * state is what the walker and the TLB consult on every access; the results
 * of the last access are written by the core and read by the host.
 */
export enum Vcpu {
  Cr0 = 0,
  Cr3 = 8,
  Cr4 = 16,
  Efer = 24,
  Rflags = 32,
  Pkru = 40,
  /** IA32_PKRS (MSR 0x6e1), 32 significant bits. */
  Pkrs = 44,
  Cpl = 48,
  Vpid = 52,
  /** The EPT pointer; 0 means no EPT (guest-physical = host-physical). */
  Eptp = 56,
  /** EptCaps bits: MAXPHYADDR of the host and the EPT capabilities. */
  EptCaps = 64,
  /** CpuFeat bits: what the guest CPUID enumerates. */
  Features = 68,
  /** WalkFlags bits. */
  WalkFlags = 72,
  /** Small id of the EPT (the VM) that tags combined TLB entries. */
  EptTag = 76,
  /** KVM requests pending (u64): bit (KVM_REQ_* & KVM_REQUEST_MASK), vcpu->requests (requests.ts). */
  Requests = 80,
  /** VcpuMode (u32), with VCPU_MODE_WAITER set while an initiator sleeps on the word: vcpu->mode. */
  Mode = 88,
  /** 1 + the id of the VM whose vCPU this record is (u32); 0 while the record serves no vCPU. */
  VmId = 92,

  // Results of the last access or walk.
  /** AccessStatus of the last access. */
  ResStatus = 96,
  /** #PF error code, or the #GP error code. */
  ResErr = 100,
  /** CR2 written by a #PF. */
  ResCr2 = 104,
  ResGpa = 112,
  ResHpa = 120,
  /** EPT-violation exit qualification. */
  ResEptQual = 128,
  /** Guest-physical address of the EPT violation or misconfiguration. */
  ResEptGpa = 136,
  /** log2 of the page size of the translation (12, 21, 30). */
  ResPageShift = 144,
  /** Level at which a failed walk stopped (guest level, or EPT level). */
  ResLevel = 148,
  /** Number of TraceRef records written (trace on only). */
  TraceCount = 152,

  // KVM_EXIT_MEMORY_FAULT details of the last fault that ended in one
  // (kvm_prepare_memory_fault_exit, mmu.ts): u64 each.
  MemoryFaultFlags = 160,
  MemoryFaultGpa = 168,
  MemoryFaultSize = 176,

  /** Start of the walk trace: TRACE_MAX records of TRACE_REF_BYTES. */
  Trace = 256,

  // Guest program state (cpu.ts) after the trace (256 + TRACE_MAX * TRACE_REF_BYTES).
  /**
   * General-purpose registers, u64 each, in x86 encoding order (rax, rcx,
   * rdx, rbx, rsp, rbp, rsi, rdi, r8..r15), then slot 16 (REG_ZERO) that
   * always reads 0 and is never written.
   */
  Gpr = 2304,
  Rip = 2440,
  /** CR2: the linear address of the last #PF delivered to the guest. */
  Cr2 = 2448,
  /** IA32_LSTAR: where SYSCALL enters CPL 0. */
  Lstar = 2456,
  /** Guest handler addresses of #UD, #GP and #PF; 0 = none (that fault is a triple fault). */
  VecUd = 2464,
  VecGp = 2472,
  VecPf = 2480,
  /** The fault frame a delivery saves and IRET restores: RIP of the faulting instruction, RFLAGS, error code. */
  FaultRip = 2488,
  FaultRflags = 2496,
  FaultErr = 2504,
  /** CPL before the delivery (u32). */
  FaultCpl = 2512,
  /** Vector delivered (u32). */
  FaultVec = 2516,
  /** 1 from a delivery until IRET (u32): a fault in between is a triple fault. */
  FaultActive = 2520,
  /** CpuFlag bits (u32). */
  CpuFlags = 2524,
  /** RunPending (u32): what the next KVM_RUN completes before it runs the guest. */
  Pending = 2528,
  /** Register a pending MMIO read or port input lands in (u32), and its width in bytes (u32). */
  PendingReg = 2532,
  PendingSize = 2536,
  /** Instructions one KVM_RUN may execute before it exits with KVM_EXIT_INTR (u64; 0 = no limit). */
  RunBudget = 2544,
  /** Guest instructions executed over the vCPU's life, faulting ones included (u64). */
  InsnCount = 2552,
  /** RIP of the instruction whose exit is pending (u64): the PIO completion skips it only if RIP is still there. */
  PendingRip = 2560,
  /** struct kvm_run as Linux lays it out (KvmRun offsets), KVM_RUN_BYTES of it. */
  Run = 2576,
  /** The PIO data page of the vCPU mmap, as far as one port access needs it (8 bytes). */
  PioData = 3088,
  /**
   * The interpreter's load micro-TLB (cpu.ts): MICRO_TLB_ENTRIES of
   * MICRO_TLB_ENTRY_BYTES, each a linear page (u64; 1 = empty) and the host
   * pointer of its frame (u64), copies of translations the vCPU's TLB gave.
   */
  MicroTlb = 3104,
}

/** Entries of the load micro-TLB (a power of two), indexed by the low bits of the linear page number. */
export const MICRO_TLB_ENTRIES: u32 = 16;
export const MICRO_TLB_ENTRY_BYTES: u32 = 16;

/** Vcpu.CpuFlags bits: how the vCPU's mode looks to the interpreter and to KVM. */
export enum CpuFlag {
  /** 64-bit mode (EFER.LMA with CS.L), which is_64_bit_hypercall asks. */
  Long64 = 1 << 0,
  /**
   * The host runs real mode (CR0.PE=0) through KVM's instruction emulator,
   * as the probe host's PVM backend and VMX without unrestricted_guest do:
   * guest accesses go through the memslots' userspace mappings, and what
   * those cannot reach is MMIO.
   */
  EmulateRealMode = 1 << 1,
}

/** Vcpu.Pending: the exit the next KVM_RUN completes (complete_userspace_io). */
export enum RunPending {
  None = 0,
  /** An MMIO read: mmio.data goes to PendingReg and the emulator finishes the instruction. */
  MmioRead = 1,
  /** An MMIO write: the emulator finishes the instruction. */
  MmioWrite = 2,
  /** A port input: the PIO data goes to PendingReg and RIP moves on, if RIP is still at the IN. */
  PioIn = 3,
  /** A port output: RIP moves on, if it is still at the OUT. */
  PioOut = 4,
  /** A hypercall exit: hypercall.ret goes to rax and RIP moves past the VMCALL. */
  Hypercall = 5,
}

/** Bytes of the kvm_run image in a vCPU record: the header and the 256-byte exit union. */
export const KVM_RUN_BYTES: u32 = 512;

/** struct kvm_run fields (byte offsets from Vcpu.Run), Linux's layout (include/uapi/linux/kvm.h). */
export enum KvmRun {
  ImmediateExit = 1,
  ExitReason = 8,
  Flags = 14,
  // io
  IoDirection = 32,
  IoSize = 33,
  IoPort = 34,
  IoCount = 36,
  IoDataOffset = 40,
  // mmio
  MmioPhysAddr = 32,
  MmioData = 40,
  MmioLen = 48,
  MmioIsWrite = 52,
  // hypercall
  HcNr = 32,
  HcArgs = 40,
  HcRet = 88,
  HcFlags = 96,
  // internal
  InternalSuberror = 32,
  InternalNdata = 36,
  InternalData = 40,
  // memory_fault
  MfFlags = 32,
  MfGpa = 40,
  MfSize = 48,
}

/** vcpu->mode, with Linux's values (include/linux/kvm_host.h). */
export enum VcpuMode {
  OutsideGuest = 0,
  InGuest = 1,
  /** Kicked: the vCPU must leave guest mode at its next check. */
  ExitingGuest = 2,
  /** A lockless shadow-page-table walk, which a waiting initiator waits out too. */
  ReadingShadowPageTables = 3,
}
/** Vcpu.Mode bits 1:0 hold the VcpuMode. */
export const VCPU_MODE_MASK: u32 = 3;
/** Vcpu.Mode bit: some initiator sleeps in memory.atomic.wait32 on the word, so leaving must notify. */
export const VCPU_MODE_WAITER: u32 = 1 << 8;

/** Vcpu.Features bits (from the guest CPUID, KVM_SET_CPUID2). */
export enum CpuFeat {
  /** Bits 7:0 hold the guest MAXPHYADDR. */
  MaxPhyAddrMask = 0xff,
  VendorAmd = 1 << 8,
  Gbpages = 1 << 9,
  Nx = 1 << 10,
  Pcid = 1 << 11,
  Invpcid = 1 << 12,
  Smep = 1 << 13,
  Smap = 1 << 14,
  Pku = 1 << 15,
  Pks = 1 << 16,
  La57 = 1 << 17,
  Pge = 1 << 18,
}

/** Vcpu.EptCaps bits (IA32_VMX_EPT_VPID_CAP as the core needs it). */
export enum EptCap {
  /** Bits 7:0 hold the host MAXPHYADDR. */
  MaxPhyAddrMask = 0xff,
  ExecOnly = 1 << 8,
  Page1g = 1 << 9,
}

/** Vcpu.WalkFlags bits: model switches and the trace. */
export enum WalkFlag {
  /** Record every reference of a walk into the trace. */
  Trace = 1 << 0,
  /**
   * Set A bits on upper levels as soon as they are read (QEMU and permitted
   * hardware behaviour); default off = KVM's model, nothing set on a fault.
   */
  AdOnFault = 1 << 1,
}

/** The kind of one memory access: the trio every walker and check takes. */
export enum AccessKind {
  Read = 0,
  Write = 1,
  Fetch = 2,
}

/** Outcome of one access or walk, in Vcpu.ResStatus. */
export enum AccessStatus {
  Ok = 0,
  /** Guest #PF: ResErr, ResCr2. */
  PageFault = 1,
  /** Guest #GP (non-canonical address, bad control-register value). */
  GeneralProtection = 2,
  /** EPT violation: ResEptQual, ResEptGpa. */
  EptViolation = 3,
  /** EPT misconfiguration: ResEptGpa. */
  EptMisconfig = 4,
  /** No EPT, and a guest-physical address outside host RAM. */
  NoMemory = 5,
}

/** One reference of a walk, as recorded in the trace. */
export const TRACE_REF_BYTES: u32 = 32;
/** 5-level guest over 4-level EPT is 29 references, plus A/D updates. */
export const TRACE_MAX: u32 = 64;

export enum TraceRef {
  /** TraceKind */
  Kind = 0,
  /** Paging level of the entry (5..1 guest, 4..1 EPT). */
  Level = 4,
  /** Guest-physical address (guest entries) or host-physical (EPT). */
  Addr = 8,
  /** The entry value read, or the old value of an A/D update. */
  Value = 16,
  /** The new value of an A/D update. */
  NewValue = 24,
}

export enum TraceKind {
  GuestEntry = 1,
  EptEntry = 2,
  GuestAdUpdate = 3,
  EptAdUpdate = 4,
}

/** Per-vCPU TLB geometry: set-associative, entries of TLB_ENTRY_BYTES. */
export const TLB_SETS: u32 = 512;
export const TLB_WAYS: u32 = 8;
export const TLB_ENTRY_BYTES: u32 = 32;
export const VCPU_STATE_BYTES: u32 = 4096;
export const VCPU_STRIDE: u32 = VCPU_STATE_BYTES + TLB_SETS * TLB_WAYS * TLB_ENTRY_BYTES;

/**
 * Fields of one TLB entry (byte offsets inside TLB_ENTRY_BYTES). An entry maps
 * one page of its own size (TlbSize): the guest page, or the piece of it that
 * one EPT page backs when EPT maps it with smaller pages (TlbAttr.Fragment).
 */
export enum TlbEntry {
  /**
   * 0 = empty. Otherwise TlbSize << TLB_TAG_SIZE_SHIFT | (LA[56:0] >> page
   * shift) << 12 | the PCID the entry was made under (0 while CR4.PCIDE=0).
   */
  Tag = 0,
  /** Host-physical base of the page. */
  Hpa = 8,
  /** Guest-physical base of the page. */
  Gpa = 16,
  /** TlbAttr bits (u32). */
  Attr = 24,
  /** Context the entry belongs to (u32): VPID | TlbCtx bits. */
  Ctx = 28,
}

/** TlbEntry.Tag bits 63:62: the size of the page an entry maps. */
export const TLB_TAG_SIZE_SHIFT: u32 = 62;
export enum TlbSize {
  Size4k = 1,
  Size2m = 2,
  Size1g = 3,
}

/**
 * TlbEntry.Attr bits: what a walk found, combined over the levels. The rights
 * are cached, the registers that judge them (CR0.WP, CR4.SMEP/SMAP/PKE/PKS,
 * EFLAGS.AC, PKRU, IA32_PKRS) are not: they are applied at each access.
 */
export enum TlbAttr {
  /** R/W AND-ed over the guest levels. */
  Write = 1 << 0,
  /** U/S AND-ed over the guest levels: a user-mode address. */
  User = 1 << 1,
  /** XD OR-ed over the guest levels (only with EFER.NXE=1). */
  Nx = 1 << 2,
  /** The leaf's D bit when the entry was made: a write through D=0 re-walks. */
  Dirty = 1 << 3,
  /** Leaf G=1 while CR4.PGE=1: survives MOV to CR3. */
  Global = 1 << 4,
  /** EPT rights of the final page (all three without EPT). */
  EptRead = 1 << 5,
  EptWrite = 1 << 6,
  EptExec = 1 << 7,
  /** The entry is a piece of a larger guest page (EPT mapped it with smaller pages). */
  Fragment = 1 << 8,
  /** Protection key: leaf bits 62:59. */
  PkeyShift = 9,
  PkeyMask = 0xf << 9,
  /** TlbSize of the guest page a Fragment belongs to. */
  GuestSizeShift = 13,
  GuestSizeMask = 3 << 13,
}

/** TlbEntry.Ctx bits above the VPID (bits 15:0). */
export enum TlbCtx {
  /** Bits 30:16: Vcpu.EptTag of a combined (guest-linear to host-physical) entry. */
  EptTagShift = 16,
  EptTagMask = 0x7fff << 16,
  /** Made with EPT on: a combined mapping, which INVEPT reaches. */
  Ept = 1 << 31,
}

/** guest_memfd inode records: a fixed table, indexed by file id (gmem.ts). */
export const GMEM_MAX_FILES: u32 = 1024;
export const GMEM_INODE_BYTES: u32 = 64;

/** Fields of one guest_memfd inode record (byte offsets inside GMEM_INODE_BYTES). */
export enum GmemInode {
  /** 1 while the file exists (u32). */
  InUse = 0,
  /** Holders of the inode: its fd, memslot bindings, mappings (u32). */
  Refcount = 4,
  /** The VM the file was created for (u32). */
  VmId = 8,
  /** pfn of the page cache's radix-tree root: page offset -> page (u32). */
  CacheRoot = 12,
  /** i_size in bytes (u64). */
  Size = 16,
  /** GUEST_MEMFD_FLAG_* the file was created with (u64). */
  Flags = 24,
  /** Pages present in the page cache (u64). */
  NrPages = 32,
}

/** VM records: a fixed table indexed by VM id (memslot.ts). */
export const VM_MAX: u32 = 64;
/** Memslots a VM may have at once (their ids go up to 32763, as in Linux). */
export const MEMSLOTS_MAX: u32 = 512;
export const MEMSLOT_BYTES: u32 = 48;
export const VM_HEADER_BYTES: u32 = 128;
/** A VM record: its header, then memslot set 0, then memslot set 1. */
export const VM_STRIDE: u32 = VM_HEADER_BYTES + 2 * MEMSLOTS_MAX * MEMSLOT_BYTES;

/** Fields of a VM record's header (byte offsets from the record). */
export enum VmRec {
  /** 1 while the VM exists (u32). */
  InUse = 0,
  /**
   * Memslot generation (u32), bumped by every publication; its low bit
   * selects the active memslot set.
   */
  Generation = 4,
  /** Slots in set 0 (u32); set 1's count follows at Count + 4. */
  Count = 8,
  /** 1 once the memory-attribute tree exists (u32). */
  HasAttrs = 16,
  /** pfn of the memory-attribute radix tree's root: gfn -> attributes (u32). */
  AttrRoot = 20,

  // The VM's MMU (mmu.ts).
  /** kvm->mmu_lock: a spinlock word (u32). */
  MmuLock = 24,
  /** pfn of the EPT's PML4 table, the root every vCPU's EPTP points to (u32). */
  EptRoot = 28,
  /** kvm->mmu_invalidate_seq (u64): bumped when an invalidation ends. */
  MmuInvalidateSeq = 32,
  /** kvm->mmu_invalidate_in_progress (u32): invalidations begun and not ended. */
  MmuInvalidateInProgress = 40,
  /** VmMmuFlag bits (u32). */
  MmuFlags = 44,
  /** [start, end) gfns of the invalidations in progress (u64 each; their union). */
  MmuInvalidateRangeStart = 48,
  MmuInvalidateRangeEnd = 56,
}

/** VmRec.MmuFlags bits. */
export enum VmMmuFlag {
  /** kvm_arch_has_private_mem: faults take private vs shared from the gfn's attribute. */
  HasPrivateMem = 1 << 0,
  /** An mmu-notifier invalidation began on this VM and has not ended (mmu-invalidate.ts). */
  NotifierActive = 1 << 1,
}

/** Fields of one memslot (byte offsets inside MEMSLOT_BYTES). */
export enum Memslot {
  /** as_id << 16 | slot id (u32), as in the uAPI's slot field. */
  Id = 0,
  /** KVM_MEM_* flags (u32). */
  Flags = 4,
  BaseGfn = 8,
  Npages = 16,
  UserspaceAddr = 24,
  /** guest_memfd file id (i32), -1 when the slot has none. */
  GmemFile = 32,
  /** First page of the guest_memfd range bound to the slot (u64). */
  GmemPgoff = 40,
}

/** VMAs the VMM process may have at once: its max_map_count. */
export const VMA_MAX: u32 = 4096;
export const VMA_BYTES: u32 = 40;
export const MM_HEADER_BYTES: u32 = 64;
/**
 * The host thread's staging buffer for the VMM's own reads and writes: the
 * bytes cross between JavaScript and the process's scattered frames here, so
 * that Wasm, not JavaScript, loops over the pages (vmm_copy).
 */
export const VMM_IO_BYTES: u32 = 65536;
export const MM_BYTES: u32 = MM_HEADER_BYTES + VMA_MAX * VMA_BYTES + VMM_IO_BYTES;

/** Fields of the VMM process's header (byte offsets from the mm region). */
export enum MmRec {
  /** VMAs in use (u32); the sorted VmaRec array follows the header. */
  VmaCount = 0,
  /** 1 once the page table's root exists (u32). */
  HasPageTable = 4,
  /** pfn of the page table's radix-tree root: hva page -> pte (u32). */
  PageTableRoot = 8,
  /** Pages mapped by the page table (u64): the process's RSS. */
  Rss = 16,
}

/** Fields of one VMA (byte offsets inside VMA_BYTES). */
export enum VmaRec {
  Start = 0,
  /** One past the last byte. */
  End = 8,
  /** File page offset of Start (guest_memfd mappings). */
  Pgoff = 16,
  /** PROT_* bits (u32). */
  Prot = 24,
  /** VmaKind (u32). */
  Kind = 28,
  /** guest_memfd file id (i32), -1 for anonymous memory. */
  File = 32,
}

// ---------------------------------------------------------------------------
// Geometry, computed once by layout_init and cached per instance by attach.

let g_ram_frames: u32 = 0;
let g_max_vcpus: u32 = 0;
let g_off_locks: usize = 0;
let g_off_stats: usize = 0;
let g_off_vcpus: usize = 0;
let g_off_frame_meta: usize = 0;
let g_off_free_stack: usize = 0;
let g_off_dmap: usize = 0;
let g_off_gmem: usize = 0;
let g_off_vms: usize = 0;
let g_off_mm: usize = 0;
let g_off_ram: usize = 0;

function alignUp(x: usize, a: usize): usize {
  return (x + a - 1) & ~(a - 1);
}

/** Bytes of memory a layout with these parameters needs (end of RAM). */
export function layout_bytes_needed(ram_frames: u32, max_vcpus: u32): f64 {
  const n2m = (ram_frames + 511) >> 9;
  const n1g = (ram_frames + 262143) >> 18;
  let off: f64 = <f64>LAYOUT_BASE + HEADER_BYTES + LOCKS_BYTES;
  off += <f64>(1 + max_vcpus) * STAT_SLOTS * 8;
  off = Math.ceil(off / 4096) * 4096;
  off += <f64>max_vcpus * VCPU_STRIDE;
  off += <f64>ram_frames * FRAME_META_BYTES;
  off += <f64>ram_frames * 4;
  off += <f64>(n1g + n2m) * 4;
  off = Math.ceil(off / 64) * 64;
  off += <f64>GMEM_MAX_FILES * GMEM_INODE_BYTES;
  off += <f64>VM_MAX * VM_STRIDE;
  off += <f64>MM_BYTES;
  off = Math.ceil(off / 65536) * 65536;
  off += <f64>ram_frames * PAGE_SIZE;
  return off;
}

/**
 * Lays out a fresh memory: writes the header and zeroes the regions. Called
 * once, by the thread that creates the machine, before any attach().
 * Returns 0, or -22 (EINVAL) when the geometry does not fit in the memory.
 */
export function layout_init(ram_frames: u32, max_vcpus: u32, host_cpus: u32): i32 {
  if (ram_frames == 0 || max_vcpus == 0 || host_cpus == 0) return -22;
  const need = layout_bytes_needed(ram_frames, max_vcpus);
  if (need > <f64>memory.size() * 65536) return -22;
  const n2m = (ram_frames + 511) >> 9;
  const n1g = (ram_frames + 262143) >> 18;
  let off: usize = LAYOUT_BASE + HEADER_BYTES;
  const locks = off;
  off += LOCKS_BYTES;
  const stats = off;
  off += <usize>(1 + max_vcpus) * STAT_SLOTS * 8;
  off = alignUp(off, 4096);
  const vcpus = off;
  off += <usize>max_vcpus * VCPU_STRIDE;
  const meta = off;
  off += <usize>ram_frames * FRAME_META_BYTES;
  const free = off;
  off += <usize>ram_frames * 4;
  const dmap = off;
  off += <usize>(n1g + n2m) * 4;
  off = alignUp(off, 64);
  const gmem = off;
  off += <usize>GMEM_MAX_FILES * GMEM_INODE_BYTES;
  const vms = off;
  off += <usize>VM_MAX * VM_STRIDE;
  const mm = off;
  off += MM_BYTES;
  off = alignUp(off, 65536);
  const ram = off;
  memory.fill(LAYOUT_BASE, 0, ram - LAYOUT_BASE);
  const h = LAYOUT_BASE;
  store<u32>(h + Hdr.Version, LAYOUT_VERSION);
  store<u32>(h + Hdr.RamFrames, ram_frames);
  store<u32>(h + Hdr.MaxVcpus, max_vcpus);
  store<u32>(h + Hdr.HostCpus, host_cpus);
  store<u32>(h + Hdr.TotalBytes, <u32>(ram + <usize>ram_frames * PAGE_SIZE));
  store<u32>(h + Hdr.OffLocks, <u32>locks);
  store<u32>(h + Hdr.OffStats, <u32>stats);
  store<u32>(h + Hdr.OffVcpus, <u32>vcpus);
  store<u32>(h + Hdr.OffFrameMeta, <u32>meta);
  store<u32>(h + Hdr.OffFreeStack, <u32>free);
  store<u32>(h + Hdr.OffDmap, <u32>dmap);
  store<u32>(h + Hdr.OffGmem, <u32>gmem);
  store<u32>(h + Hdr.OffVms, <u32>vms);
  store<u32>(h + Hdr.OffMm, <u32>mm);
  store<u32>(h + Hdr.OffRam, <u32>ram);
  store<u32>(h + Hdr.Dmap1gCount, n1g);
  store<u32>(h + Hdr.Dmap2mCount, n2m);
  // The magic goes last: a reader that sees it sees a complete header.
  atomic.store<u32>(h + Hdr.Magic, LAYOUT_MAGIC);
  return 0;
}

/**
 * Caches the geometry in this instance's globals. Every instance calls it
 * once after layout_init has run (in any thread). Returns 0, or -22 when the
 * memory holds no gmemu layout.
 */
export function layout_attach(): i32 {
  const h = LAYOUT_BASE;
  if (atomic.load<u32>(h + Hdr.Magic) != LAYOUT_MAGIC) return -22;
  if (load<u32>(h + Hdr.Version) != LAYOUT_VERSION) return -22;
  g_ram_frames = load<u32>(h + Hdr.RamFrames);
  g_max_vcpus = load<u32>(h + Hdr.MaxVcpus);
  g_off_locks = load<u32>(h + Hdr.OffLocks);
  g_off_stats = load<u32>(h + Hdr.OffStats);
  g_off_vcpus = load<u32>(h + Hdr.OffVcpus);
  g_off_frame_meta = load<u32>(h + Hdr.OffFrameMeta);
  g_off_free_stack = load<u32>(h + Hdr.OffFreeStack);
  g_off_dmap = load<u32>(h + Hdr.OffDmap);
  g_off_gmem = load<u32>(h + Hdr.OffGmem);
  g_off_vms = load<u32>(h + Hdr.OffVms);
  g_off_mm = load<u32>(h + Hdr.OffMm);
  g_off_ram = load<u32>(h + Hdr.OffRam);
  return 0;
}

// Accessors used by every other module (inlined: they are on the hot path).

@inline export function ram_frames(): u32 { return g_ram_frames; }
@inline export function max_vcpus(): u32 { return g_max_vcpus; }
@inline export function host_cpus(): u32 { return load<u32>(LAYOUT_BASE + Hdr.HostCpus); }
/** Byte address of RAM in the Wasm memory: HPA 0 is here. */
@inline export function ram_base(): usize { return g_off_ram; }
/** Size of host RAM in bytes, as a host-physical address limit. */
@inline export function ram_bytes(): u64 { return <u64>g_ram_frames << PAGE_SHIFT; }
@inline export function hpa_to_ptr(hpa: u64): usize { return g_off_ram + <usize>hpa; }
@inline export function pfn_to_ptr(pfn: u32): usize { return g_off_ram + (<usize>pfn << PAGE_SHIFT); }
@inline export function lock_ptr(lock: u32): usize { return g_off_locks + <usize>lock * LOCK_STRIDE; }
@inline export function stats_block_ptr(block: u32): usize { return g_off_stats + <usize>block * STAT_SLOTS * 8; }
@inline export function vcpu_ptr(vcpu: u32): usize { return g_off_vcpus + <usize>vcpu * VCPU_STRIDE; }
@inline export function tlb_ptr(vcpu: u32): usize { return g_off_vcpus + <usize>vcpu * VCPU_STRIDE + VCPU_STATE_BYTES; }
@inline export function frame_meta_ptr(pfn: u32): usize { return g_off_frame_meta + <usize>pfn * FRAME_META_BYTES; }
@inline export function free_stack_ptr(): usize { return g_off_free_stack; }
/** The u32 table of 1 GiB regions, followed by the table of 2 MiB regions. */
@inline export function dmap_1g_ptr(): usize { return g_off_dmap; }
@inline export function dmap_2m_ptr(): usize {
  return g_off_dmap + <usize>load<u32>(LAYOUT_BASE + Hdr.Dmap1gCount) * 4;
}
@inline export function header_ptr(): usize { return LAYOUT_BASE; }
@inline export function gmem_inode_ptr(id: u32): usize { return g_off_gmem + <usize>id * GMEM_INODE_BYTES; }
@inline export function vm_ptr(vm: u32): usize { return g_off_vms + <usize>vm * VM_STRIDE; }
/** Memslot set `set` (0 or 1) of VM `vm`. */
@inline export function memslot_set_ptr(vm: u32, set: u32): usize {
  return g_off_vms + <usize>vm * VM_STRIDE + VM_HEADER_BYTES + <usize>set * MEMSLOTS_MAX * MEMSLOT_BYTES;
}
@inline export function mm_ptr(): usize { return g_off_mm; }
@inline export function vma_ptr(i: u32): usize { return g_off_mm + MM_HEADER_BYTES + <usize>i * VMA_BYTES; }
@inline export function vmm_io_ptr(): usize { return g_off_mm + MM_HEADER_BYTES + <usize>VMA_MAX * VMA_BYTES; }
