// How a study's modelled result moves with the figures nobody measured.
//
// Each swept figure goes to the low and high ends of its range (the others
// stay at their value) at the study's host CPU count; the result is also
// evaluated over every CPU count the study ran with, and the most
// influential figures get a low/default/high curve across CPU counts. The
// counts for each CPU count come from running the study on a host with that
// many CPUs, so IPIs and flush work are counted, never scaled by a formula.

import { COST_EVENTS, COST_KEYS, type Confidence, type CostKey, type Costs } from './events.js';
import type { HostModel } from './host.js';
import { modelledTime, type Counts, type Modelled } from './model.js';

export type Level = 'low' | 'default' | 'high';

export interface SensitivityInput {
  /** The study's counts, by host CPU count; must hold host.cpus. */
  readonly counts: ReadonlyMap<number, Counts>;
  readonly costs: Costs;
  readonly host: HostModel;
  /** The number reported from a modelled result (default: its total in ns). */
  readonly metric?: (m: Modelled, cpus: number) => number;
  /** Which figures to sweep (default: the assumed ones). */
  readonly confidences?: readonly Confidence[];
  /** How many of the most influential figures get a curve over CPU counts (default 3). */
  readonly curves?: number;
}

export interface FigureSwing {
  readonly key: CostKey;
  readonly confidence: Confidence;
  /** The figure's range (widened to include an override outside it) and its value in this evaluation. */
  readonly low: number;
  readonly default: number;
  readonly high: number;
  /** The metric with the figure at its low and high end. */
  readonly at_low: number;
  readonly at_high: number;
}

export interface Sensitivity {
  readonly cpus: number;
  /** The metric at the given costs and host.cpus. */
  readonly baseline: number;
  /** Figures the result depends on, the widest swing first. */
  readonly figures: readonly FigureSwing[];
  /** The metric at the given costs for each CPU count, ascending. */
  readonly by_cpus: readonly { cpus: number; value: number }[];
  /** Long-form rows for a plot: the top figures at each level across CPU counts. */
  readonly curves: readonly { key: CostKey; level: Level; cpus: number; value: number }[];
}

export function sensitivity(input: SensitivityInput): Sensitivity {
  const { costs, host } = input;
  const metric = input.metric ?? ((m: Modelled) => m.total_ns);
  const confidences = input.confidences ?? ['assumed'];
  const cpuCounts = [...input.counts.keys()].sort((a, b) => a - b);
  const countsAt = (cpus: number): Counts => {
    const c = input.counts.get(cpus);
    if (!c) throw new RangeError(`sensitivity: no counts for the study's host of ${cpus} CPUs`);
    return c;
  };
  const evaluate = (c: Costs, cpus: number): number => metric(modelledTime(countsAt(cpus), c, { ...host, cpus }), cpus);
  const withFigure = (key: CostKey, ns: number): Costs => ({ ...costs, [key]: ns });
  const range = (key: CostKey): Record<Level, number> => ({
    low: Math.min(COST_EVENTS[key].low, costs[key]),
    default: costs[key],
    high: Math.max(COST_EVENTS[key].high, costs[key]),
  });

  const baseline = evaluate(costs, host.cpus);
  const figures: FigureSwing[] = [];
  for (const key of COST_KEYS) {
    const { confidence } = COST_EVENTS[key];
    if (!confidences.includes(confidence)) continue;
    const r = range(key);
    const atLow = evaluate(withFigure(key, r.low), host.cpus);
    const atHigh = evaluate(withFigure(key, r.high), host.cpus);
    if (atLow === baseline && atHigh === baseline) continue;
    figures.push({ key, confidence, ...r, at_low: atLow, at_high: atHigh });
  }
  // A stable sort keeps table order among equal swings.
  figures.sort((a, b) => Math.abs(b.at_high - b.at_low) - Math.abs(a.at_high - a.at_low));

  const curves: { key: CostKey; level: Level; cpus: number; value: number }[] = [];
  for (const f of figures.slice(0, input.curves ?? 3)) {
    const r = range(f.key);
    for (const level of ['low', 'default', 'high'] as const) {
      for (const cpus of cpuCounts) curves.push({ key: f.key, level, cpus, value: evaluate(withFigure(f.key, r[level]), cpus) });
    }
  }
  return {
    cpus: host.cpus,
    baseline,
    figures,
    by_cpus: cpuCounts.map((cpus) => ({ cpus, value: evaluate(costs, cpus) })),
    curves,
  };
}
