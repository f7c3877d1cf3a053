// Which cost events each counted event is charged, in one place.
//
// Two kinds of names are counted: the core's counters (src/core/stats.ts,
// COUNTER_DOCS) and study-level counts, events that happen outside the Wasm
// core and that a study counts itself as it drives the emulator (KVM_RUN
// returning to the VMM, the VMM's system calls and copies). Every counter is
// either charged or listed as free with the reason; a test fails when a
// counter appears that is neither, so a new event cannot silently cost
// nothing.
//
// Modelled time is the time on the critical path of the thread that caused
// the events. Kernel-wide TLB flushes are the case that needs care: the core
// counts work summed over host CPUs (IPIs sent, INVLPGs executed on every
// CPU); the initiator waits for the IPIs (tlb.shootdown.*) and does its own
// share of the flush work, while the targets do theirs in parallel.

import type { CostKey } from './events.js';
import type { HostModel } from './host.js';

/** How many cost events one counted event is, for a host. */
export type Scale = (host: HostModel) => number;

export interface Term {
  readonly event: CostKey;
  readonly per: Scale;
}

export type Charge = { readonly terms: readonly Term[] } | { readonly free: string };

/** One cost event per counted event. */
const EACH: Scale = () => 1;
/** The initiator's share of work the core summed over all host CPUs. */
const OWN_SHARE: Scale = (h) => 1 / h.cpus;
/** Once per kernel-wide flush that had another CPU to interrupt. */
const IF_REMOTE: Scale = (h) => (h.cpus > 1 ? 1 : 0);
/** Once per kernel-wide flush that had to wait for an idle CPU to wake. */
const IF_IDLE_REMOTE: Scale = (h) => (h.cpus > 1 && h.idleTargets ? 1 : 0);
/** One cache line per 64 bytes. */
const PER_LINE: Scale = () => 1 / 64;
const ON_VMX: Scale = (h) => (h.exits === 'vmx' ? 1 : 0);
const ON_SVM: Scale = (h) => (h.exits === 'svm' ? 1 : 0);
const WITH_PTI: Scale = (h) => (h.pti ? 1 : 0);
const WITHOUT_PTI: Scale = (h) => (h.pti ? 0 : 1);

const charge = (...terms: [CostKey, Scale][]): Charge => ({ terms: terms.map(([event, per]) => ({ event, per })) });
const free = (why: string): Charge => ({ free: why });

/** A kernel-wide flush by any reason: what its initiator waits for besides the per-IPI part (dmap_ipi). */
const KERNEL_WIDE_FLUSH = charge(['tlb.shootdown.base', IF_REMOTE], ['tlb.shootdown.idle_wakeup', IF_IDLE_REMOTE]);
/** A full flush of a TLB: the instruction (the emulator's vCPU TLBs count their refill walks themselves). */
const GUEST_FULL_FLUSH = charge(['tlb.flush_all_local', EACH]);

/** The core's counters, by JSON name. */
export const COUNTER_COSTS: Readonly<Record<string, Charge>> = {
  frame_alloc: free('zeroing is charged by the path that needed the frame: host.pf.anon (vmm_page_fault), clear_page.4k (gmem_page_alloc, ept_table_alloc), cpa.split_* (dmap_pt_page); radix nodes stand for slab objects'),
  frame_free: free('returning a page to the allocator is off the critical path'),
  frame_alloc_fail: free('an outcome (ENOMEM), not work'),

  dmap_invalid_noflush: free('the call; its work is counted as dmap_pte_update and any split'),
  dmap_default_noflush: free('the call; its work is counted as dmap_pte_update and any split'),
  dmap_set_memory_np: free('the call; its work is counted as dmap_vmap_purge, dmap_pte_update, splits and dmap_flush_cpa'),
  dmap_set_memory_p: free('the call; its work is counted as dmap_vmap_purge, dmap_pte_update, splits and dmap_flush_cpa'),
  dmap_pte_update: charge(['cpa.pte_update', EACH]),
  dmap_split2m: charge(['cpa.split_2m', EACH]),
  dmap_split1g: charge(['cpa.split_1g', EACH]),
  dmap_pt_page: free('the page a split allocates is part of cpa.split_*'),
  dmap_vmap_purge: charge(['cpa.vm_unmap_aliases', EACH]),
  dmap_flush_split: KERNEL_WIDE_FLUSH,
  dmap_flush_purge: KERNEL_WIDE_FLUSH,
  dmap_flush_cpa: KERNEL_WIDE_FLUSH,
  dmap_flush_kernel_range: KERNEL_WIDE_FLUSH,
  dmap_flush_full: free('the kind of a flush already charged by its reason (dmap_flush_*)'),
  dmap_flush_invlpg: free('the kind of a flush already charged by its reason (dmap_flush_*)'),
  dmap_ipi: charge(['tlb.shootdown.per_cpu', EACH]),
  dmap_cpu_invlpg: charge(['tlb.invlpg', OWN_SHARE]),
  dmap_cpu_full_flush: charge(['tlb.flush_all_local', OWN_SHARE], ['tlb.refill_after_full_flush', OWN_SHARE]),
  dmap_cache_flush_bytes: charge(['clflushopt.line', PER_LINE]),
  dmap_cache_flush_all: charge(['wbinvd', EACH]),
  dmap_kernel_fault: free('an outcome; the restore it leads to is counted by the direct-map counters'),

  ept_walk: free('a walk costs its references (ept_entry_read)'),
  ept_entry_read: charge(['walk.ref', EACH]),
  ept_violation: free('the hardware event; what KVM does with it is priced as mmu_pf_taken'),
  ept_misconfig: free('gmemu installs no MMIO SPTEs, so a misconfiguration is a broken EPT entry, not a priced fast path'),
  ept_ad_update: charge(['walk.ref', EACH]),
  ept_map_page: free('priced by what asked for it: the fault (mmu_pf_taken) or the pre-fault step (mmu_prefault)'),
  ept_zap_entry: charge(['ept.zap.entry', EACH]),
  ept_table_alloc: charge(['clear_page.4k', EACH]),
  ept_table_free: free('the TDP MMU frees table pages after an RCU grace period, off the critical path'),
  invept_single: free('the INVEPT reaches each vCPU TLB as tlb_flush_invept, charged there'),
  invept_global: free('the INVEPT reaches each vCPU TLB as tlb_flush_invept, charged there'),

  guest_walk: free('a walk costs its references (guest_entry_read)'),
  guest_entry_read: charge(['walk.ref', EACH]),
  guest_ad_update: charge(['walk.ref', EACH]),
  guest_page_fault: free("delivered to the guest's handler, whose instructions the model does not price"),
  guest_general_protection: free("delivered to the guest's handler, whose instructions the model does not price"),

  tlb_hit: free('a hit adds nothing to the access'),
  tlb_miss: free('a miss costs its walk references'),
  tlb_fill: free('part of the walk'),
  tlb_evict: free('part of the fill'),
  tlb_flush_invlpg: charge(['tlb.invlpg', EACH]),
  tlb_flush_invpcid: charge(['tlb.invpcid', EACH]),
  tlb_flush_cr3: GUEST_FULL_FLUSH,
  tlb_flush_cr3_noflush: charge(['cr3.switch.pcid', EACH]),
  tlb_flush_cr4: GUEST_FULL_FLUSH,
  tlb_flush_invvpid: charge(['tlb.invpcid', EACH]),
  tlb_flush_invept: GUEST_FULL_FLUSH,
  tlb_flush_fault: free('the entry is dropped as part of delivering the #PF'),
  tlb_entry_flushed: free('entries removed by a flush already charged; their refill is counted as walks'),

  guest_read: free('the instruction itself: the model prices what an access costs beyond it (walks, faults, exits)'),
  guest_write: free('the instruction itself: the model prices what an access costs beyond it (walks, faults, exits)'),
  guest_fetch: free('the instruction itself: the model prices what an access costs beyond it (walks, faults, exits)'),
  guest_copy_bytes: charge(['memcpy.byte.dram', EACH]),

  gmem_page_alloc: charge(['clear_page.4k', EACH]),
  gmem_page_free: free('returning a folio to the allocator is off the critical path'),

  vmm_page_fault: charge(['host.pf.anon', EACH]),
  vmm_sigsegv: free('an outcome the study reports, not work'),
  vmm_sigbus: free('an outcome the study reports, not work'),
  gup_page: free('part of the KVM fault that asked for the page (mmu_pf_taken)'),
  gup_fault: free('an outcome (EFAULT), not work'),

  // kvm_flush_remote_tlbs is a shootdown to the vCPUs in guest mode: the
  // initiator waits (base), each kick is an IPI (per_cpu, as dmap_ipi) and
  // forces an exit on the kicked vCPU. A vCPU in guest mode is running, so no
  // idle wake-up is added.
  remote_tlb_flush_requests: free('the call; when it had vCPUs to interrupt it is counted as remote_tlb_flush'),
  remote_tlb_flush: charge(['tlb.shootdown.base', EACH]),
  vcpu_kick: charge(['tlb.shootdown.per_cpu', EACH], ['vmexit.vmx.roundtrip', ON_VMX], ['vmexit.svm.roundtrip', ON_SVM]),
  vcpu_ack_wait: free('the wait is what tlb.shootdown.base prices (remote_tlb_flush)'),
  vcpu_ack_spin: free("how the emulator's threads waited, not an event of the modelled host"),
  vcpu_ack_sleep: free("how the emulator's threads waited, not an event of the modelled host"),
  vcpu_ack_timeout: free("how the emulator's threads waited, not an event of the modelled host"),
  vcpu_entry_cancelled: free('no entry happened; the request serviced instead is counted by what it did'),
  vcpu_tlb_flush: free('the flush is counted by the instruction it issued (tlb_flush_invept, tlb_flush_invvpid)'),

  // KVM's fault path. Every fault it takes is priced whole (exit, lookup,
  // map) as costs.md's ept.fault.4k.present; gmemu installs no MMIO SPTEs, so
  // an MMIO access takes this path too, and its trip to the VMM is added by
  // the exit counter. A pre-fault step maps one page without an exit.
  mmu_pf_taken: charge(['ept.fault.4k.present', EACH]),
  mmu_pf_fixed4k: free('the mapping is part of the fault (mmu_pf_taken) or of the pre-fault step (mmu_prefault)'),
  mmu_pf_fixed2m: free('the mapping is part of the fault (mmu_pf_taken) or of the pre-fault step (mmu_prefault)'),
  mmu_pf_fixed1g: free('the mapping is part of the fault (mmu_pf_taken) or of the pre-fault step (mmu_prefault)'),
  mmu_pf_spurious: free('an outcome of a fault already priced as mmu_pf_taken'),
  mmu_pf_retry: free('the guest faults again, counted again as mmu_pf_taken'),
  mmu_pf_emulate: free('an outcome of a fault already priced as mmu_pf_taken; the exit it leads to is counted by its exit counter'),
  mmu_pf_memory_fault: charge(['exit.userspace.roundtrip', EACH]),
  mmu_pf_failed: free('an outcome (an errno from KVM_RUN), not work'),
  mmu_prefault: charge(['prefault.4k', EACH]),
  mmu_invalidate: free('bookkeeping; the zaps and flushes it brackets are counted on their own'),
  mmu_zap_all: free('its entries are counted as ept_zap_entry and its flush as remote_tlb_flush'),

  guest_insn: free('the instruction itself: the model prices what an access costs beyond it (walks, faults, exits)'),
  guest_exception_delivered: free("delivered to the guest's handler, whose instructions the model does not price"),
  guest_triple_fault: free('an outcome (KVM_EXIT_SHUTDOWN), not work'),
  io_exits: charge(['vmexit.vmx.roundtrip', ON_VMX], ['vmexit.svm.roundtrip', ON_SVM], ['exit.userspace.roundtrip', EACH]),
  mmio_exits: charge(['exit.userspace.roundtrip', EACH]),
  halt_exits: charge(['vmexit.vmx.roundtrip', ON_VMX], ['vmexit.svm.roundtrip', ON_SVM], ['exit.userspace.roundtrip', EACH]),
  signal_exits: free("the emulator's own slicing of a run, not an event of the modelled host"),
  hypercalls: charge(['vmexit.vmx.roundtrip', ON_VMX], ['vmexit.svm.roundtrip', ON_SVM]),
};

export interface StudyCount {
  /** What one count is; for exits, whether it is the whole exit. */
  readonly doc: string;
  readonly charge: Charge;
}

/** Events a study counts itself because they happen outside the core. */
export const STUDY_COUNTS: Readonly<Record<string, StudyCount>> = {
  vmexit: {
    doc: 'exits completed inside KVM that the core does not count (the core counts hypercalls, kicks and faults)',
    charge: charge(['vmexit.vmx.roundtrip', ON_VMX], ['vmexit.svm.roundtrip', ON_SVM]),
  },
  exit_userspace: {
    doc: 'returns of KVM_RUN to the VMM that the core does not count (it counts I/O, MMIO, HLT and memory-fault exits): e.g. KVM_EXIT_HYPERCALL',
    charge: charge(['exit.userspace.roundtrip', EACH]),
  },
  syscall: {
    doc: 'system calls the VMM makes besides KVM_RUN (pread, pwrite, ioctl, fallocate)',
    charge: charge(['syscall.roundtrip.pti', WITH_PTI], ['syscall.roundtrip.nopti', WITHOUT_PTI]),
  },
  mmap_munmap: {
    doc: 'one-page mmap and munmap pairs the VMM makes',
    charge: charge(['mmap_munmap.1page', EACH]),
  },
  copy_bytes_dram: {
    doc: 'bytes the VMM or the kernel copies between buffers larger than the caches',
    charge: charge(['memcpy.byte.dram', EACH]),
  },
  copy_bytes_cache: {
    doc: 'bytes the VMM or the kernel copies between cache-resident buffers',
    charge: charge(['memcpy.byte.cache', EACH]),
  },
  asi_transition: {
    doc: 'switches into or out of the ASI restricted address space',
    charge: charge(['asi.transition', EACH]),
  },
};

/** The charge of a counter or study count, or undefined for a name neither knows. */
export function chargeOf(name: string): Charge | undefined {
  if (Object.prototype.hasOwnProperty.call(COUNTER_COSTS, name)) return COUNTER_COSTS[name];
  if (Object.prototype.hasOwnProperty.call(STUDY_COUNTS, name)) return STUDY_COUNTS[name].charge;
  return undefined;
}
