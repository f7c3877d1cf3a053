import { beforeAll, describe, expect, it } from 'vitest';
import { readCounters } from '../../src/core/stats.js';
import { createCore } from '../../src/core/wasm.js';
import { COST_EVENTS, defaultCosts } from '../../src/cost/events.js';
import { DEFAULT_HOST } from '../../src/cost/host.js';
import { addCounts, countsDelta, type Counts } from '../../src/cost/model.js';
import { sensitivity } from '../../src/cost/sensitivity.js';

const CPUS = [1, 2, 4, 16, 64, 128];
const IO = 50;
const BYTES = IO * 4096;

/** A direct-map-study-like workload per host CPU count: each I/O removes and restores one page with set_memory_np/p and copies it. */
async function workload(cpus: number): Promise<Counts> {
  const core = await createCore({ ramFrames: 16384, maxVcpus: 1, hostCpus: cpus });
  const x = core.exports;
  const before = readCounters(core);
  for (let i = 0; i < IO; i++) {
    x.set_memory_p(4000 + i, 1);
    x.set_memory_np(4000 + i, 1);
  }
  return addCounts(countsDelta(readCounters(core), before), { vmexit: IO * 2, exit_userspace: IO * 2, copy_bytes_dram: BYTES });
}

let counts: Map<number, Counts>;
beforeAll(async () => {
  counts = new Map();
  for (const n of CPUS) counts.set(n, await workload(n));
});

describe('sensitivity', () => {
  it('sweeps the assumed figures the result depends on, widest swing first', () => {
    const s = sensitivity({ counts, costs: defaultCosts(), host: DEFAULT_HOST });
    expect(s.cpus).toBe(64);
    expect(s.figures.length).toBeGreaterThan(3);
    for (const f of s.figures) {
      expect(COST_EVENTS[f.key].confidence).toBe('assumed');
      expect([f.low, f.default, f.high]).toEqual([COST_EVENTS[f.key].low, COST_EVENTS[f.key].ns, COST_EVENTS[f.key].high]);
    }
    const swings = s.figures.map((f) => f.at_high - f.at_low);
    expect(swings).toEqual([...swings].sort((a, b) => b - a));
    // The idle wake-up dominates on 64 CPUs; figures the workload never counts are left out.
    expect(s.figures[0].key).toBe('tlb.shootdown.idle_wakeup');
    expect(s.figures.map((f) => f.key)).not.toContain('prefault.4k');
    expect(s.figures.map((f) => f.key)).toContain('cpa.vm_unmap_aliases');
  });

  it('a time is monotonic: low <= default <= high for every figure, and it grows with the CPU count', () => {
    const s = sensitivity({ counts, costs: defaultCosts(), host: DEFAULT_HOST, confidences: ['assumed', 'low', 'medium'] });
    for (const f of s.figures) {
      expect(f.at_low).toBeLessThanOrEqual(s.baseline);
      expect(f.at_high).toBeGreaterThanOrEqual(s.baseline);
    }
    expect(s.by_cpus.map((p) => p.cpus)).toEqual(CPUS);
    for (let i = 1; i < s.by_cpus.length; i++) expect(s.by_cpus[i].value).toBeGreaterThan(s.by_cpus[i - 1].value);
    expect(s.by_cpus.find((p) => p.cpus === 64)!.value).toBe(s.baseline);
  });

  it('gives long-form curves for the top figures: every CPU count at each level, ordered by level', () => {
    const s = sensitivity({ counts, costs: defaultCosts(), host: DEFAULT_HOST, curves: 2 });
    const keys = [...new Set(s.curves.map((r) => r.key))];
    expect(keys).toEqual(s.figures.slice(0, 2).map((f) => f.key));
    expect(s.curves).toHaveLength(2 * 3 * CPUS.length);
    for (const key of keys) {
      for (const cpus of CPUS) {
        const at = (level: string) => s.curves.find((r) => r.key === key && r.cpus === cpus && r.level === level)!.value;
        expect(at('low')).toBeLessThanOrEqual(at('default'));
        expect(at('default')).toBeLessThanOrEqual(at('high'));
      }
    }
  });

  it('a throughput metric moves the other way', () => {
    const mbps = (m: { total_ns: number }) => (BYTES / m.total_ns) * 1000;
    const s = sensitivity({ counts, costs: defaultCosts(), host: DEFAULT_HOST, metric: mbps });
    for (const f of s.figures) {
      expect(f.at_low).toBeGreaterThanOrEqual(s.baseline);
      expect(f.at_high).toBeLessThanOrEqual(s.baseline);
    }
    for (let i = 1; i < s.by_cpus.length; i++) expect(s.by_cpus[i].value).toBeLessThan(s.by_cpus[i - 1].value);
  });

  it('widens a range to include an override outside it', () => {
    const s = sensitivity({ counts, costs: { ...defaultCosts(), 'tlb.shootdown.per_cpu': 1000 }, host: DEFAULT_HOST });
    const f = s.figures.find((g) => g.key === 'tlb.shootdown.per_cpu')!;
    expect([f.low, f.default, f.high]).toEqual([50, 1000, 1000]);
    expect(f.at_high).toBe(s.baseline);
  });

  it('needs the counts of the host it is asked about', () => {
    expect(() => sensitivity({ counts: new Map([[1, {}]]), costs: defaultCosts(), host: DEFAULT_HOST })).toThrow(/no counts for the study's host of 64 CPUs/);
  });
});
