// Event counters: an enum-indexed array of u64 in shared memory.
//
// Counting is per thread of execution, like Linux's per-CPU counters: block 0
// belongs to the host (the thread acting as "the kernel" outside any vCPU),
// block 1 + i to vCPU i. A thread selects its block before it works, and then
// increments without atomics because no other thread writes that block. A
// total is the sum over blocks. The names live in TypeScript
// (src/core/stats.ts), which checks them against these exported values.

import { STAT_SLOTS, stats_block_ptr, max_vcpus } from './layout';

export enum Stat {
  // phys: the host frame allocator
  FrameAlloc = 0,
  FrameFree,
  FrameAllocFail,

  // directmap: the kernel linear map (set_memory.c)
  DmapInvalidNoflush,
  DmapDefaultNoflush,
  DmapSetMemoryNp,
  DmapSetMemoryP,
  /** Kernel PTEs (or large entries) actually rewritten. */
  DmapPteUpdate,
  DmapSplit2m,
  DmapSplit1g,
  /** Page-table pages allocated by splits. */
  DmapPtPage,
  /** vm_unmap_aliases() calls. */
  DmapVmapPurge,
  /** Host-wide TLB flushes, by reason. */
  DmapFlushSplit,
  DmapFlushPurge,
  DmapFlushCpa,
  DmapFlushKernelRange,
  /** Of those, how many were full flushes vs per-page INVLPG flushes. */
  DmapFlushFull,
  DmapFlushInvlpg,
  /** IPIs sent to other host CPUs for those flushes. */
  DmapIpi,
  /** INVLPGs executed, summed over host CPUs. */
  DmapCpuInvlpg,
  /** Full TLB flushes executed, summed over host CPUs. */
  DmapCpuFullFlush,
  /** Bytes written back by CLFLUSH (only for caching-mode changes). */
  DmapCacheFlushBytes,
  /** WBINVD on every CPU (cpa_flush_all). */
  DmapCacheFlushAll,
  /** Kernel accesses that found a page missing from the direct map. */
  DmapKernelFault,

  // ept: the host's second-level tables
  EptWalk,
  EptEntryRead,
  EptViolation,
  EptMisconfig,
  EptAdUpdate,
  EptMapPage,
  EptZapEntry,
  EptTableAlloc,
  EptTableFree,
  InveptSingle,
  InveptGlobal,

  // paging: the guest's own tables, walked through EPT
  GuestWalk,
  GuestEntryRead,
  GuestAdUpdate,
  GuestPageFault,
  GuestGeneralProtection,

  // tlb
  TlbHit,
  TlbMiss,
  TlbFill,
  TlbEvict,
  TlbFlushInvlpg,
  TlbFlushInvpcid,
  TlbFlushCr3,
  TlbFlushCr3Noflush,
  TlbFlushCr4,
  TlbFlushInvvpid,
  TlbFlushInvept,
  TlbFlushFault,
  /** Entries removed by any flush. */
  TlbEntryFlushed,

  // guest accesses through the MMU
  GuestRead,
  GuestWrite,
  GuestFetch,
  GuestCopyBytes,

  // gmem: guest_memfd page caches
  /** Pages added to a guest_memfd page cache (fault-in or fallocate). */
  GmemPageAlloc,
  /** Pages dropped from a guest_memfd page cache (punch hole or last close). */
  GmemPageFree,

  // vma: the VMM process's memory
  /** Pages faulted into the VMM's page table (first touch, or for GUP). */
  VmmPageFault,
  /** VMM accesses that raised SIGSEGV (no VMA, or against its rights). */
  VmmSigsegv,
  /** VMM accesses that raised SIGBUS (guest_memfd page not host-mappable, protected memory). */
  VmmSigbus,
  /** Pages get_user_pages returned. */
  GupPage,
  /** get_user_pages calls refused with EFAULT. */
  GupFault,

  // requests: vCPU requests and remote TLB shootdowns (requests.ts)
  /** kvm_flush_remote_tlbs() calls: kvm->stat.generic.remote_tlb_flush_requests. */
  RemoteTlbFlushRequests,
  /** Of those, the ones that had to interrupt a vCPU: kvm->stat.generic.remote_tlb_flush. */
  RemoteTlbFlush,
  /** vCPUs interrupted by a request (the IPIs kvm_make_all_cpus_request sends). */
  VcpuKick,
  /** vCPUs an initiator waited for until they left guest mode. */
  VcpuAckWait,
  /** Of those, acknowledgements that came while the initiator spun. */
  VcpuAckSpin,
  /** memory.atomic.wait32 sleeps of initiators waiting for an acknowledgement. */
  VcpuAckSleep,
  /** Waits abandoned at the bound: a vCPU that never left guest mode (a bug in its run loop). */
  VcpuAckTimeout,
  /** Guest entries called off because a request was pending. */
  VcpuEntryCancelled,
  /** TLB flushes a vCPU made to service a request: vcpu->stat.tlb_flush. */
  VcpuTlbFlush,

  // mmu: the KVM MMU's fault path and zaps (mmu.ts)
  /** EPT violations handled by the TDP fault path (pf_taken); pre-fault pages are not. */
  MmuPfTaken,
  /** Faults, pre-fault included, that installed a mapping (pf_fixed), by its size. */
  MmuPfFixed4k,
  MmuPfFixed2m,
  MmuPfFixed1g,
  /** Faults that found the mapping in place already (pf_spurious). */
  MmuPfSpurious,
  /** Faults retried: an invalidation or a memslot change raced with them. */
  MmuPfRetry,
  /** Faults left to emulation (pf_emulate): no memslot (MMIO), a write to a READONLY slot. */
  MmuPfEmulate,
  /** Faults that prepared a KVM_EXIT_MEMORY_FAULT. */
  MmuPfMemoryFault,
  /** Faults that failed with an errno and no exit (EFAULT when GUP fails). */
  MmuPfFailed,
  /** KVM_PRE_FAULT_MEMORY steps: kvm_arch_vcpu_pre_fault_memory calls. */
  MmuPrefault,
  /** Invalidations begun (kvm_mmu_invalidate_begin). */
  MmuInvalidate,
  /** Zaps of a whole EPT (memslot delete or move, VM teardown). */
  MmuZapAll,

  // cpu: the guest interpreter and KVM_RUN (cpu.ts, run.ts)
  /** Guest instructions executed, faulting ones included. */
  GuestInsn,
  /** Exceptions delivered to a guest handler (#UD, #GP, #PF). */
  GuestExceptionDelivered,
  /** Triple faults: a fault with no handler, or one raised inside a handler (KVM_EXIT_SHUTDOWN). */
  GuestTripleFault,
  /** Port I/O exits to userspace: vcpu->stat.io_exits. */
  IoExits,
  /** MMIO exits to userspace: vcpu->stat.mmio_exits. */
  MmioExits,
  /** HLT exits: vcpu->stat.halt_exits. */
  HaltExits,
  /** KVM_RUN ended by a signal (here the instruction budget): vcpu->stat.signal_exits. */
  SignalExits,
  /** VMCALLs emulated: vcpu->stat.hypercalls. */
  Hypercalls,

  Count,
}

// A compile-time check would be nicer; this fails the build's first attach.
const STATS_FIT: bool = <u32>Stat.Count <= STAT_SLOTS;

let g_block: usize = 0;

/** Makes `block` (0 = host, 1 + i = vCPU i) the one this thread counts into. */
export function stats_select(block: u32): void {
  assert(STATS_FIT);
  g_block = stats_block_ptr(block);
}

@inline export function stat_inc(s: Stat): void {
  const p = g_block + (<usize>s << 3);
  store<u64>(p, load<u64>(p) + 1);
}

@inline export function stat_add(s: Stat, n: u64): void {
  const p = g_block + (<usize>s << 3);
  store<u64>(p, load<u64>(p) + n);
}

/** One counter of one block. */
export function stats_read(block: u32, s: u32): u64 {
  return load<u64>(stats_block_ptr(block) + (<usize>s << 3));
}

/** One counter summed over every block. */
export function stats_total(s: u32): u64 {
  let sum: u64 = 0;
  const n = max_vcpus() + 1;
  for (let b: u32 = 0; b < n; b++) sum += load<u64>(stats_block_ptr(b) + (<usize>s << 3));
  return sum;
}

export function stats_reset(): void {
  memory.fill(stats_block_ptr(0), 0, <usize>(max_vcpus() + 1) * STAT_SLOTS * 8);
}

export function stats_count(): u32 {
  return <u32>Stat.Count;
}
