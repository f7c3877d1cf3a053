// The benchmark's output shape, on tiny sizes: names, units, numbers, and the
// arithmetic of ratio and met. Speed is never asserted here.

import { describe, expect, it } from 'vitest';
import { runBench } from '../../bench/metrics.js';
import type { BenchOptions } from '../../bench/metrics.js';
import { formatTable } from '../../bench/report.js';
import type { BenchReport, Metric } from '../../bench/report.js';

const TINY: BenchOptions = {
  quick: true,
  sizes: { walkPages: 1024, walkDataPages: 16, copyBytes: 2 << 20 },
  iterations: { reps: 1, tlbHitLoads: 1000, walks: 500, referenceWalks: 20, copyReps: 1, directMapPairs: 1000, shootdowns: 50 },
};

const UNITS: Record<string, string> = {
  tlb_hit_load_ns: 'ns',
  guest_load_hit_ns: 'ns',
  walk2d_ns: 'ns',
  walk2d_native_ns: 'ns',
  walk2d_ts_ns: 'ns',
  copy64_gbps: 'GB/s',
  copy64_native_gbps: 'GB/s',
  memcopy64_gbps: 'GB/s',
  directmap_pairs_per_s: 'pairs/s',
  shootdown_rtt_us: 'us',
};
const NATIVE = ['walk2d_native_ns', 'copy64_native_gbps'];
const METRIC_KEYS = new Set(['value', 'unit', 'baseline', 'ratio', 'target', 'met', 'note']);

/** The rules every metric obeys, whatever was measured. */
function checkMetric(name: string, m: Metric): void {
  for (const k of Object.keys(m)) expect(METRIC_KEYS.has(k), `${name}.${k}`).toBe(true);
  expect(m.unit, name).toBe(UNITS[name]);
  if (m.value === null) {
    expect(typeof m.note, `${name} is null without a note`).toBe('string');
  } else {
    expect(Number.isFinite(m.value) && m.value > 0, `${name} = ${m.value}`).toBe(true);
  }
  if (m.baseline !== undefined) {
    expect(m.value).not.toBeNull();
    expect(m.ratio).toBeCloseTo((m.value as number) / m.baseline, 12);
  } else {
    expect(m.ratio).toBeUndefined();
  }
  if (m.met !== undefined) {
    const [on, op, bound] = (m.target as string).split(' ');
    const judged = on === 'value' ? (m.value as number) : (m.ratio as number);
    expect(m.met).toBe(op === '<=' ? judged <= Number(bound) : judged >= Number(bound));
  }
}

function checkReport(report: BenchReport, quick: boolean): void {
  expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  expect(report.schema).toBe(1);
  const mc = report.machine;
  expect(typeof mc.node).toBe('string');
  expect(typeof mc.cpu).toBe('string');
  expect(Number.isInteger(mc.cores) && mc.cores > 0).toBe(true);
  expect(mc.compiler === null || typeof mc.compiler === 'string').toBe(true);
  expect(mc.quick).toBe(quick);
  expect(Object.keys(report.metrics).sort()).toEqual(Object.keys(UNITS).sort());
  for (const [name, m] of Object.entries(report.metrics)) checkMetric(name, m);
  expect(report.metrics.tlb_hit_load_ns.target).toBe('value <= 8');
  expect(report.metrics.walk2d_ns.target).toBe('ratio <= 1.2');
  expect(report.metrics.copy64_gbps.target).toBe('ratio >= 0.9');
  expect(report.metrics.shootdown_rtt_us.target).toBe('value <= 2');
}

describe('gmemu bench', () => {
  it('reports every metric with its unit, and baselines from the same run', async () => {
    const report = await runBench(TINY);
    checkReport(report, true);
    const m = report.metrics;
    if (report.machine.compiler !== null) {
      for (const n of NATIVE) expect(m[n].value, n).not.toBeNull();
      expect(m.walk2d_ns.baseline).toBe(m.walk2d_native_ns.value);
      expect(m.copy64_gbps.baseline).toBe(m.copy64_native_gbps.value);
      expect(typeof m.walk2d_ns.met).toBe('boolean');
    }
    const table = formatTable(report);
    for (const name of Object.keys(UNITS)) expect(table).toContain(name);
  });

  it('says so, with null values and a note, when there is no native baseline', async () => {
    const report = await runBench({ ...TINY, native: false });
    checkReport(report, true);
    expect(report.machine.compiler).toBeNull();
    const m = report.metrics;
    for (const n of NATIVE) {
      expect(m[n].value).toBeNull();
      expect(m[n].note).toMatch(/native baseline was turned off/);
    }
    expect(m.walk2d_ns.baseline).toBeUndefined();
    expect(m.walk2d_ns.met).toBeUndefined();
    expect(formatTable(report)).toMatch(/walk2d_native_ns: not measured/);
  });
});
