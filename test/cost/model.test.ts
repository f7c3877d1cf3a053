import { describe, expect, it } from 'vitest';
import { defaultCosts } from '../../src/cost/events.js';
import { DEFAULT_HOST } from '../../src/cost/host.js';
import { addCounts, countsDelta, modelledTime } from '../../src/cost/model.js';

const c = defaultCosts();

describe('modelledTime', () => {
  it('is counts x costs, per cost event and per count, with a total', () => {
    const m = modelledTime({ tlb_flush_invlpg: 3, dmap_pte_update: 2, guest_read: 1000, copy_bytes_dram: 4096 }, c, DEFAULT_HOST);
    expect(m.by_event).toEqual({ 'tlb.invlpg': 300, 'cpa.pte_update': 300, 'memcpy.byte.dram': 409.6 });
    expect(m.by_count).toEqual({ dmap_pte_update: 300, guest_read: 0, tlb_flush_invlpg: 300, copy_bytes_dram: 409.6 });
    expect(m.total_ns).toBeCloseTo(1009.6, 9);
  });

  it('splits kernel-wide flush work: the initiator waits for the IPIs and does its own share', () => {
    // One flush_tlb_kernel_range of one page on 64 CPUs, as the core counts it.
    const counts = { dmap_flush_kernel_range: 1, dmap_flush_invlpg: 1, dmap_ipi: 63, dmap_cpu_invlpg: 64 };
    const m = modelledTime(counts, c, DEFAULT_HOST);
    expect(m.by_event).toEqual({ 'tlb.invlpg': 100, 'tlb.shootdown.base': 1500, 'tlb.shootdown.per_cpu': 6300, 'tlb.shootdown.idle_wakeup': 20000 });
    const busy = modelledTime(counts, c, { ...DEFAULT_HOST, idleTargets: false });
    expect(m.total_ns - busy.total_ns).toBe(20000);
  });

  it('prices exits and system calls for the host', () => {
    const counts = { vmexit: 2, syscall: 10 };
    expect(modelledTime(counts, c, DEFAULT_HOST).total_ns).toBe(2 * 500 + 10 * 100);
    expect(modelledTime(counts, { ...c, 'vmexit.svm.roundtrip': 800 }, { ...DEFAULT_HOST, exits: 'svm', pti: true }).total_ns).toBe(2 * 800 + 10 * 250);
  });

  it('is zero for no events and for free ones', () => {
    expect(modelledTime({}, c, DEFAULT_HOST)).toEqual({ total_ns: 0, by_event: {}, by_count: {} });
    expect(modelledTime({ tlb_hit: 1e9, frame_free: 7 }, c, DEFAULT_HOST).total_ns).toBe(0);
  });

  it('refuses a name it does not know, a negative or non-finite count, and a bad host', () => {
    expect(() => modelledTime({ tlb_hitt: 1 }, c, DEFAULT_HOST)).toThrow(/unknown count "tlb_hitt"/);
    expect(() => modelledTime({ tlb_hit: -1 }, c, DEFAULT_HOST)).toThrow(/count "tlb_hit" must be a finite number >= 0, not -1/);
    expect(() => modelledTime({ syscall: NaN }, c, DEFAULT_HOST)).toThrow(/"syscall"/);
    expect(() => modelledTime({}, c, { ...DEFAULT_HOST, cpus: 0 })).toThrow(/host\.cpus/);
  });

  it('follows an override', () => {
    expect(modelledTime({ tlb_flush_invlpg: 1 }, { ...c, 'tlb.invlpg': 7 }, DEFAULT_HOST).total_ns).toBe(7);
  });
});

describe('counts arithmetic', () => {
  it('countsDelta subtracts two readings and refuses a counter that went down', () => {
    expect(countsDelta({ a: 5, b: 2 }, { a: 3 })).toEqual({ a: 2, b: 2 });
    expect(() => countsDelta({ a: 1 }, { a: 2 })).toThrow(/"a" went down/);
  });

  it('addCounts sums by name', () => {
    expect(addCounts({ a: 1 }, { a: 2, b: 3 }, {})).toEqual({ a: 3, b: 3 });
  });
});
