// Costs that are sums of table rows, as costs.md composes them. They are
// functions rather than rows so that overriding a part moves every sum that
// contains it. The counter mapping (counters.ts) charges the same parts per
// counted event, so an emulated operation costs what its formula here says
// (a test runs set_memory_np on the core and compares).

import type { Costs } from './events.js';
import type { HostModel } from './host.js';

/**
 * What the initiator of a kernel-wide TLB flush waits for (flush_tlb_all,
 * flush_tlb_kernel_range, cpa_flush's on_each_cpu): an IPI to every other
 * online CPU and their acknowledgements, base + per_cpu x (N - 1), plus the
 * wake-up of an idle target when the host has some. One CPU sends no IPI.
 * The targets' own INVLPGs run in parallel while the initiator waits.
 */
export function shootdown(c: Costs, host: HostModel, cpus = host.cpus): number {
  if (cpus <= 1) return 0;
  return c['tlb.shootdown.base'] + c['tlb.shootdown.per_cpu'] * (cpus - 1) + (host.idleTargets ? c['tlb.shootdown.idle_wakeup'] : 0);
}

/**
 * set_memory_np() or set_memory_p() of one page whose 2 MiB mapping is already
 * split (costs.md section 5): vm_unmap_aliases, one PTE store, then cpa_flush
 * interrupts every CPU; the initiator does its own INVLPG too.
 */
export function setMemoryPresence(c: Costs, host: HostModel): number {
  return c['cpa.vm_unmap_aliases'] + c['cpa.pte_update'] + shootdown(c, host) + c['tlb.invlpg'];
}

/** set_direct_map_{invalid,default}_noflush() of one page already split: one PTE store, nothing flushed. */
export function setDirectMapNoflush(c: Costs): number {
  return c['cpa.pte_update'];
}

/** An EPT violation whose host page must first be allocated and zeroed (costs.md: present + host.pf.anon). */
export function eptFaultAlloc(c: Costs): number {
  return c['ept.fault.4k.present'] + c['host.pf.anon'];
}

/** MOV CR3 without PCID: the full flush and the refill that follows it. */
export function cr3SwitchNoPcid(c: Costs): number {
  return c['tlb.flush_all_local'] + c['tlb.refill_after_full_flush'];
}

/** One exit handled in the kernel, for the host's virtualisation extension. */
export function vmexit(c: Costs, host: HostModel): number {
  return host.exits === 'svm' ? c['vmexit.svm.roundtrip'] : c['vmexit.vmx.roundtrip'];
}

/** One system call, with or without page-table isolation. */
export function syscall(c: Costs, host: HostModel): number {
  return host.pti ? c['syscall.roundtrip.pti'] : c['syscall.roundtrip.nopti'];
}
