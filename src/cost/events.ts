// The cost events: nanoseconds per counted event, with the range the sources
// span, how far to trust the figure, and where it comes from.
//
// The figures are those of ../shared/spec/costs.md (section 1 and the
// mechanics in sections 2-7); each entry's comment restates its source in our
// own words. Where that file has no row for an event the emulator counts
// (walk references, EPT zaps), the entry says "assumed" and gives the
// reasoning, as costs.md does for its own assumptions. An event that is a sum
// of others (a shootdown to N CPUs, set_memory_np) is not a row: it is a
// function in derived.ts, so an override of a part moves the whole.
//
// costs.md's two MMIO rows (mmio.kernel, mmio.user) are not keys: gmemu has
// no ioeventfd and installs no MMIO SPTEs, so each MMIO access is a full trip
// through KVM's fault path (ept.fault.4k.present) and then to the VMM
// (exit.userspace.roundtrip): 3,500 ns at the defaults, inside the 1,500 -
// 6,000 ns that costs.md gives an MMIO exit completed in userspace.

/** How far to trust a figure (the scale of costs.md). */
export type Confidence = 'high' | 'medium' | 'low' | 'assumed';

export interface CostEvent {
  /** What one event is. */
  readonly what: string;
  /** Default nanoseconds per event. */
  readonly ns: number;
  /** Lowest and highest figure the sources (or our arithmetic on them) span. */
  readonly low: number;
  readonly high: number;
  readonly confidence: Confidence;
  /** Where the figure comes from, paraphrased; "assumed: ..." gives the reasoning. */
  readonly source: string;
}

export const COST_EVENTS = {
  // Group 1: exits. No per-exit figure for Ice Lake, Sapphire Rapids or Zen 3/4
  // was found; the defaults sit between a Nehalem measurement and a 2020 EPYC
  // discussion, converted at about 3 GHz.

  // SplitX (Landau et al., WIOV 2011) measured about 2,000 cycles of direct
  // exit cost on a Nehalem X5570; Agesen et al. (USENIX ATC 2012) discuss the
  // same costs. Newer parts are faster, hence 500 ns.
  'vmexit.vmx.roundtrip': {
    what: 'VM exit and re-entry with a trivial in-kernel handler (VMX)',
    ns: 500, low: 250, high: 1500, confidence: 'low',
    source: 'SplitX, Landau et al., WIOV 2011; Agesen et al., USENIX ATC 2012 (Nehalem; no newer figure found)',
  },
  // An AMD SVM host-state patch discussion on LKML (Dec 2020) put the VMRUN to
  // #VMEXIT span near 1,350 cycles and ioctl entry to exit near 2,500 cycles:
  // 450-850 ns at 3 GHz.
  'vmexit.svm.roundtrip': {
    what: 'VMRUN to #VMEXIT and back with a trivial handler (SVM)',
    ns: 500, low: 450, high: 850, confidence: 'medium',
    source: 'LKML SVM VMLOAD/VMSAVE host-state discussion, Dec 2020 (AMD EPYC)',
  },
  // The same LKML thread's ioctl-level span, and gVisor PR #7370's 5.7 us
  // world switch to user on a Xeon W-2135 (a heavier path), bracket the cost
  // of returning KVM_RUN to the VMM and entering again.
  'exit.userspace.roundtrip': {
    what: 'KVM_RUN returns to the VMM, which dispatches and re-enters (on top of the exit)',
    ns: 1500, low: 850, high: 5700, confidence: 'low',
    source: 'LKML SVM host-state discussion, Dec 2020; gVisor PR #7370 (Xeon W-2135)',
  },
  // Group 2: stage-2 faults.

  // Matlack's eager page splitting commit (a3fe5dbda0a4) reports 270 CPU
  // seconds of write-protect faults for 96 GiB on 96 vCPUs, about 10 us per
  // fault under mmu_lock contention; an uncontended fault is well below that.
  'ept.fault.4k.present': {
    what: 'EPT violation on a page the host already has: exit, gfn to pfn, TDP MMU map',
    ns: 2000, low: 1000, high: 11000, confidence: 'low',
    source: 'derived from Matlack, commit a3fe5dbda0a4 (eager page splitting): ~10 us per contended fault',
  },
  // Assumed: no throughput figure for KVM_PRE_FAULT_MEMORY was published; the
  // TDP map without the exit. A 2 MiB mapping is one such operation.
  'prefault.4k': {
    what: 'one mapping installed by KVM_PRE_FAULT_MEMORY, no exit',
    ns: 800, low: 400, high: 2000, confidence: 'assumed',
    source: 'assumed: the TDP map cost without the exit',
  },
  // Assumed (not in costs.md): zapping is a cmpxchg of the SPTE under
  // mmu_lock and the TDP MMU's bookkeeping; its expensive part, the remote
  // flush that must follow, is counted on its own.
  'ept.zap.entry': {
    what: 'one EPT leaf entry zapped under mmu_lock (the flush after it is separate)',
    ns: 50, low: 20, high: 200, confidence: 'assumed',
    source: 'assumed: one atomic SPTE exchange plus TDP MMU bookkeeping',
  },

  // Group 3: TLB.

  // Dave Hansen's comment beside tlb_single_page_flush_ceiling (commit
  // a5102476a24b) prices INVLPG near 100 ns; Ingo Molnar measured about 260
  // cycles (linux-mm, June 2015, TLB flush multiple pages per IPI v5).
  'tlb.invlpg': {
    what: 'one INVLPG on the local CPU',
    ns: 100, low: 85, high: 130, confidence: 'medium',
    source: 'arch/x86/mm/tlb.c comment from commit a5102476a24b; Molnar, linux-mm, June 2015',
  },
  // Molnar's same mail: a CR3-driven full flush is about 96 cycles for the
  // instruction, the refill not included.
  'tlb.flush_all_local': {
    what: 'a full local TLB flush (MOV CR3 without PCID, CR4.PGE toggle, INVEPT), instruction only',
    ns: 40, low: 30, high: 100, confidence: 'medium',
    source: 'Molnar, linux-mm, June 2015 (~96 cycles; refill excluded)',
  },
  // Assumed: 50-200 misses at 10-30 ns each when the walks hit the caches.
  'tlb.refill_after_full_flush': {
    what: 'the working set re-walked after a full flush of a TLB the emulator does not model (host CPUs)',
    ns: 500, low: 100, high: 5000, confidence: 'assumed',
    source: 'assumed: ~50-200 misses of ~10-30 ns each',
  },
  // Assumed: the same order as INVLPG.
  'tlb.invpcid': {
    what: 'one INVPCID or INVVPID (single address or single context)',
    ns: 150, low: 100, high: 300, confidence: 'assumed',
    source: 'assumed: same order as INVLPG',
  },
  // Amit (USENIX ATC 2017) shows shootdowns taking microseconds; Rik van
  // Riel's AMD broadcast invalidation series (2025) found 40% of CPU in TLB
  // invalidation on a 36-core Milan running will-it-scale tlb_flush2.
  'tlb.shootdown.base': {
    what: 'initiator cost of an IPI flush to one remote CPU, waiting for its acknowledgement',
    ns: 1500, low: 1000, high: 3000, confidence: 'low',
    source: 'Amit, USENIX ATC 2017 (shootdowns take microseconds); van Riel, AMD broadcast TLB invalidation v7, 2025',
  },
  // Assumed: chosen so that 128 targets take about 14 us.
  'tlb.shootdown.per_cpu': {
    what: 'added to a shootdown per further target CPU',
    ns: 100, low: 50, high: 250, confidence: 'assumed',
    source: 'assumed: ~14 us for 128 targets',
  },
  // Assumed: server C6 exit latencies are tens of microseconds, and the
  // initiator waits for the slowest target.
  'tlb.shootdown.idle_wakeup': {
    what: 'added to a shootdown when a target sleeps in a deep C-state',
    ns: 20000, low: 2000, high: 100000, confidence: 'assumed',
    source: 'assumed: server deep C-state exit takes tens of microseconds',
  },
  // Assumed (not in costs.md): a reference of a page walk mostly hits the
  // paging-structure caches or L1/L2 (1-5 ns); a DRAM reference is ~100 ns.
  'walk.ref': {
    what: 'one paging-structure reference of a guest or EPT walk, or one A/D update',
    ns: 5, low: 1, high: 100, confidence: 'assumed',
    source: 'assumed: most references hit the paging-structure caches or L1/L2; DRAM is ~100 ns',
  },

  // Group 4: the direct map (arch/x86/mm/pat/set_memory.c, costs.md section 5).

  // Assumed: lookup_address, cpa_lock and one set_pte on a page already split.
  'cpa.pte_update': {
    what: 'one direct-map entry rewritten, no flush (what a _noflush call costs once the page is split)',
    ns: 150, low: 100, high: 300, confidence: 'assumed',
    source: 'assumed: lookup_address walk + cpa_lock + one set_pte',
  },
  // Assumed: split_large_page allocates one page and writes 512 entries; the
  // flush_tlb_all it then forces is counted on its own.
  'cpa.split_2m': {
    what: 'split of a 2 MiB direct-map mapping (one page allocated, 512 entries), flush excluded',
    ns: 1500, low: 1000, high: 3000, confidence: 'assumed',
    source: 'assumed: one page allocation + 512 entry writes',
  },
  // Assumed: the same mechanics one level up (512 PMDs); the 2 MiB piece
  // that a 4 KiB change needs next is a split of its own.
  'cpa.split_1g': {
    what: 'split of a 1 GiB direct-map mapping into 2 MiB ones, flush excluded',
    ns: 1500, low: 1000, high: 3000, confidence: 'assumed',
    source: 'assumed: the 2 MiB split one level up',
  },
  // Assumed: mm/vmalloc.c vm_unmap_aliases is cheap with no lazily freed
  // vmap areas pending, and costs a global flush when some are.
  'cpa.vm_unmap_aliases': {
    what: 'vm_unmap_aliases() at the start of every set_memory_* call',
    ns: 500, low: 200, high: 20000, confidence: 'assumed',
    source: 'assumed: mm/vmalloc.c vm_unmap_aliases, cheap unless lazy vmap areas are pending',
  },
  // Assumed: write-back bandwidth bound when pipelined; serialised CLFLUSH is
  // much slower.
  'clflushopt.line': {
    what: 'CLFLUSHOPT of one dirty 64-byte line, pipelined',
    ns: 10, low: 5, high: 100, confidence: 'assumed',
    source: 'assumed: write-back bandwidth bound',
  },
  // The SDM's WBINVD entry only says the latency grows with cache size; the
  // number is assumed for tens of MiB of L3.
  wbinvd: {
    what: 'WBINVD (every CPU runs one in parallel; the initiator waits for the slowest)',
    ns: 1_000_000, low: 100_000, high: 5_000_000, confidence: 'assumed',
    source: 'assumed; Intel SDM vol. 2 WBINVD gives no latency, only that it depends on cache size',
  },

  // Group 5: host primitives.

  // Assumed: 32-64 bytes per cycle when source and destination are in L1/L2.
  'memcpy.byte.cache': {
    what: 'one byte copied with source and destination in L1/L2',
    ns: 0.02, low: 0.01, high: 0.05, confidence: 'assumed',
    source: 'assumed: 32-64 B/cycle in L1/L2',
  },
  // Ankur Arora's clear_pages series measured 13.7 GB/s store-only clearing
  // in 4 KiB chunks on AMD Milan; a copy moves twice the bytes.
  'memcpy.byte.dram': {
    what: 'one byte copied DRAM to DRAM, one thread',
    ns: 0.1, low: 0.05, high: 0.2, confidence: 'medium',
    source: 'Arora, x86/mm multi-page clearing series (2025) and clear_pages() (2026), AMD Milan',
  },
  // Same series: ~300 ns per 4 KiB page when DRAM-bound, ~100 when cache-hot.
  'clear_page.4k': {
    what: 'zeroing one 4 KiB page (rep stos)',
    ns: 300, low: 100, high: 400, confidence: 'medium',
    source: 'Arora, x86/mm multi-page clearing series (2025), AMD Milan 13.7 GB/s at 4 KiB',
  },
  // Oracle Linux blog (Arora, Sept 2023): getpid 191-217 ns on Skylake-X with
  // 37 audit rules evaluated per call; a bare call without PTI is nearer 100.
  'syscall.roundtrip.nopti': {
    what: 'one system call entry and return without page-table isolation',
    ns: 100, low: 60, high: 200, confidence: 'low',
    source: 'Arora, "Syscall latency", Oracle Linux blog, Sept 2023 (Skylake-X)',
  },
  // PTI adds two CR3 writes per call (no flush with PCID); only Meltdown-
  // affected Intel parts run with it (Gregg 2018; Opsian 2018 benchmarks).
  'syscall.roundtrip.pti': {
    what: 'one system call entry and return with page-table isolation',
    ns: 250, low: 150, high: 500, confidence: 'low',
    source: 'Gregg, KPTI/KAISER Meltdown initial performance regressions (2018); Opsian Meltdown benchmarks (2018)',
  },
  // Assumed: two system calls plus inserting and removing a VMA.
  'mmap_munmap.1page': {
    what: 'mmap then munmap of one page, touching nothing',
    ns: 2000, low: 1000, high: 4000, confidence: 'assumed',
    source: 'assumed: two syscalls + VMA insert and remove',
  },
  // ACM TACO 2022 (doi 10.1145/3547142) puts a minor fault at a few thousand
  // cycles.
  'host.pf.anon': {
    what: 'first touch of an anonymous page in host userspace, zeroing included',
    ns: 1500, low: 700, high: 3000, confidence: 'low',
    source: 'Reducing minor page fault overheads through enhanced page walker, ACM TACO 2022',
  },
  // Molnar's ~96 cycles for MOV CR3 is the instruction alone.
  'cr3.switch.pcid': {
    what: 'MOV CR3 with the no-flush bit (an address-space switch that keeps the TLB)',
    ns: 50, low: 30, high: 100, confidence: 'low',
    source: 'Molnar, linux-mm, June 2015 (instruction cost)',
  },
  // No per-switch figure is public; Brendan Jackman's August 2025 ASI mail
  // (as Phoronix reported it) gives end-to-end costs only: fio random reads
  // 13% slower, kernel builds 6-7%. The per-switch number is assumed.
  'asi.transition': {
    what: 'entering or leaving the ASI restricted address space',
    ns: 150, low: 50, high: 1000, confidence: 'assumed',
    source: 'assumed per switch; Jackman, "ASI is fast again", Aug 2025, end-to-end only (via Phoronix)',
  },
} as const satisfies Record<string, CostEvent>;

export type CostKey = keyof typeof COST_EVENTS;

/** Every cost key, in table order. */
export const COST_KEYS = Object.keys(COST_EVENTS) as CostKey[];

/** Nanoseconds per event for every key: the defaults, or a user's overrides applied to them. */
export type Costs = Readonly<Record<CostKey, number>>;

export function defaultCosts(): Costs {
  return Object.fromEntries(COST_KEYS.map((k) => [k, COST_EVENTS[k].ns])) as Record<CostKey, number>;
}

export function isCostKey(key: string): key is CostKey {
  return Object.prototype.hasOwnProperty.call(COST_EVENTS, key);
}
