// Counter names, owned by TypeScript.
//
// The core counts into an enum-indexed u64 array (assembly/stats.ts); the
// enum's values reach TypeScript through the module's exports, so no index is
// retyped here. A counter's JSON name is its enum key in snake_case, and every
// counter must be described below: a test fails when the two drift apart, and
// another guards the versioned schema (test/schema/stats.v1.json).

import type { Core } from './wasm.js';

/** Version of the counters' JSON shape; bump it when a name changes meaning or goes away. */
export const STATS_SCHEMA = 1;

/** What each counter counts, by JSON name. */
export const COUNTER_DOCS: Readonly<Record<string, string>> = {
  frame_alloc: 'host frames allocated (zeroed on allocation)',
  frame_free: 'host frames freed (last reference dropped)',
  frame_alloc_fail: 'frame allocations that found host RAM exhausted',

  dmap_invalid_noflush: 'set_direct_map_invalid_noflush() calls',
  dmap_default_noflush: 'set_direct_map_default_noflush() calls',
  dmap_set_memory_np: 'set_memory_np() calls',
  dmap_set_memory_p: 'set_memory_p() calls',
  dmap_pte_update: 'direct-map entries actually rewritten',
  dmap_split2m: '2 MiB direct-map mappings split into 4 KiB pages',
  dmap_split1g: '1 GiB direct-map mappings split into 2 MiB pages',
  dmap_pt_page: 'page-table pages allocated by direct-map splits',
  dmap_vmap_purge: 'vm_unmap_aliases() calls made by set_memory_*',
  dmap_flush_split: 'host-wide TLB flushes forced by a direct-map split',
  dmap_flush_purge: 'host-wide TLB flushes made by vm_unmap_aliases()',
  dmap_flush_cpa: 'host-wide TLB flushes made at the end of set_memory_*',
  dmap_flush_kernel_range: 'flush_tlb_kernel_range() calls',
  dmap_flush_full: 'host-wide flushes done as a full TLB flush',
  dmap_flush_invlpg: 'host-wide flushes done as per-page INVLPG',
  dmap_ipi: 'IPIs sent to other host CPUs for direct-map flushes',
  dmap_cpu_invlpg: 'INVLPGs executed for direct-map flushes, summed over host CPUs',
  dmap_cpu_full_flush: 'full TLB flushes executed for direct-map changes, summed over host CPUs',
  dmap_cache_flush_bytes: 'bytes written back by CLFLUSH for caching-mode changes',
  dmap_cache_flush_all: 'WBINVD on every host CPU (cpa_flush_all)',
  dmap_kernel_fault: 'kernel accesses that found a page missing from the direct map',

  ept_walk: 'EPT walks (GPA to HPA)',
  ept_entry_read: 'EPT entries read by walks',
  ept_violation: 'EPT violations',
  ept_misconfig: 'EPT misconfigurations',
  ept_ad_update: 'EPT entries whose accessed/dirty bits a walk set',
  ept_map_page: 'EPT leaf entries installed',
  ept_zap_entry: 'EPT leaf entries zapped',
  ept_table_alloc: 'EPT table pages allocated',
  ept_table_free: 'EPT table pages freed',
  invept_single: 'INVEPT single-context',
  invept_global: 'INVEPT all-context',

  guest_walk: 'guest page walks (TLB misses and explicit translations)',
  guest_entry_read: 'guest paging-structure entries read',
  guest_ad_update: 'guest paging-structure entries whose A/D bits a walk set',
  guest_page_fault: 'guest #PF raised by translation',
  guest_general_protection: 'guest #GP raised by translation or a control-register instruction',

  tlb_hit: 'TLB hits',
  tlb_miss: 'TLB misses',
  tlb_fill: 'TLB entries filled',
  tlb_evict: 'valid TLB entries evicted to make room',
  tlb_flush_invlpg: 'INVLPG executed',
  tlb_flush_invpcid: 'INVPCID executed',
  tlb_flush_cr3: 'MOV to CR3 that invalidated',
  tlb_flush_cr3_noflush: 'MOV to CR3 with the no-flush bit',
  tlb_flush_cr4: 'MOV to CR4 that invalidated',
  tlb_flush_invvpid: 'INVVPID executed',
  tlb_flush_invept: 'INVEPT applied to a vCPU TLB',
  tlb_flush_fault: 'TLB entries dropped because an access faulted',
  tlb_entry_flushed: 'TLB entries removed by any flush',

  guest_read: 'guest data reads through the MMU',
  guest_write: 'guest data writes through the MMU',
  guest_fetch: 'guest instruction fetches translated through the MMU (the interpreter translates once for each code page it enters)',
  guest_copy_bytes: 'bytes moved by translated guest copies and fills',

  gmem_page_alloc: 'pages added to a guest_memfd page cache (fault-in or fallocate)',
  gmem_page_free: 'pages dropped from a guest_memfd page cache (punch hole or last close)',

  vmm_page_fault: "pages faulted into the VMM's page table (first touch, or for GUP)",
  vmm_sigsegv: 'VMM accesses that raised SIGSEGV (no VMA, or against its rights)',
  vmm_sigbus: 'VMM accesses that raised SIGBUS (guest_memfd page not host-mappable, protected memory)',
  gup_page: 'pages get_user_pages returned',
  gup_fault: 'get_user_pages calls refused with EFAULT',

  remote_tlb_flush_requests: 'kvm_flush_remote_tlbs() calls (remote_tlb_flush_requests)',
  remote_tlb_flush: 'remote TLB flushes that had to interrupt a vCPU (remote_tlb_flush)',
  vcpu_kick: 'vCPUs interrupted by a request: the IPIs of kvm_make_all_cpus_request',
  vcpu_ack_wait: 'vCPUs an initiator waited for until they left guest mode',
  vcpu_ack_spin: 'acknowledgements that came while the initiator spun',
  vcpu_ack_sleep: 'memory.atomic.wait32 sleeps of initiators waiting for an acknowledgement',
  vcpu_ack_timeout: 'waits for an acknowledgement abandoned at the bound (a vCPU that never left guest mode)',
  vcpu_entry_cancelled: 'guest entries called off because a request was pending',
  vcpu_tlb_flush: 'TLB flushes made by a vCPU to service a request (tlb_flush)',

  mmu_pf_taken: 'EPT violations handled by the TDP fault path (pf_taken; pre-fault pages are not counted)',
  mmu_pf_fixed4k: 'faults (and pre-fault pages) that installed a 4 KiB EPT mapping (pf_fixed)',
  mmu_pf_fixed2m: 'faults (and pre-fault pages) that installed a 2 MiB EPT mapping (pf_fixed)',
  mmu_pf_fixed1g: 'faults (and pre-fault pages) that installed a 1 GiB EPT mapping (pf_fixed)',
  mmu_pf_spurious: 'faults that found the mapping already there (pf_spurious)',
  mmu_pf_retry: 'faults retried because an invalidation or a memslot change raced with them',
  mmu_pf_emulate: 'faults left to emulation: no memslot (MMIO) or a write to a read-only memslot (pf_emulate)',
  mmu_pf_memory_fault: 'faults that prepared a KVM_EXIT_MEMORY_FAULT',
  mmu_pf_failed: 'faults that failed with an errno and no exit (EFAULT from get_user_pages)',
  mmu_prefault: 'KVM_PRE_FAULT_MEMORY steps (kvm_arch_vcpu_pre_fault_memory calls)',
  mmu_invalidate: 'invalidations begun (kvm_mmu_invalidate_begin): notifier, guest_memfd and attribute changes',
  mmu_zap_all: 'zaps of a whole EPT: memslot deletes and moves (kvm_mmu_zap_all_fast) and VM teardown',

  guest_insn: 'guest instructions executed by the interpreter, faulting ones included',
  guest_exception_delivered: 'exceptions (#UD, #GP, #PF) delivered to a guest handler',
  guest_triple_fault: 'triple faults: a fault with no handler or inside a handler (KVM_EXIT_SHUTDOWN)',
  io_exits: 'port I/O exits to userspace (io_exits)',
  mmio_exits: 'MMIO exits to userspace (mmio_exits)',
  halt_exits: 'HLT exits (halt_exits)',
  signal_exits: 'KVM_RUN calls ended by a signal or the instruction budget (signal_exits)',
  hypercalls: 'VMCALLs emulated by KVM (hypercalls)',
};

/** snake_case JSON name of a core enum key: `TlbHit` -> `tlb_hit`. */
export function counterName(enumKey: string): string {
  return enumKey.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/** Counter names in index order, as the core numbers them. */
export function counterNames(core: Core): string[] {
  const stat = core.exports.Stat as unknown as Record<string, number | string>;
  const names: string[] = [];
  for (let i = 0; i < core.exports.stats_count(); i++) names.push(counterName(String(stat[i])));
  return names;
}

/** Which counters to read: the host block, one vCPU's block, or the sum of all. */
export type StatsScope = { kind: 'host' } | { kind: 'vcpu'; vcpu: number } | { kind: 'total' };

/** The counters of one scope, by name. */
export function readCounters(core: Core, scope: StatsScope = { kind: 'total' }): Record<string, number> {
  const x = core.exports;
  const out: Record<string, number> = {};
  counterNames(core).forEach((name, i) => {
    const v = scope.kind === 'total' ? x.stats_total(i) : x.stats_read(scope.kind === 'host' ? 0 : 1 + scope.vcpu, i);
    out[name] = Number(v);
  });
  return out;
}

/** The versioned JSON form of a scope's counters. */
export function statsJson(core: Core, scope: StatsScope = { kind: 'total' }): { schema: number; counters: Record<string, number> } {
  return { schema: STATS_SCHEMA, counters: readCounters(core, scope) };
}
