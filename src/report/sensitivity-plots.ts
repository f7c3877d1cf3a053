// A sensitivity sweep (src/cost/sensitivity.ts) as plots and a table: a
// tornado chart of each assumed figure's swing at the study's host, and the
// most influential figures at their low, default and high values across host
// CPU counts.

import type { Sensitivity } from '../cost/sensitivity.js';
import { formatCount, formatValue } from './format.js';
import type { PlotSpec } from './plot.js';
import type { Table } from './table.js';

/** `metric` names what the sweep measured, with its unit (e.g. "modelled throughput, MB/s"). */
export function sensitivityPlots(s: Sensitivity, metric: string): PlotSpec[] {
  const plots: PlotSpec[] = [];
  if (s.figures.length) {
    plots.push({
      id: 'sensitivity-figures',
      kind: 'range',
      title: `${metric}: each assumed figure from the low to the high end of its range (${s.cpus} host CPUs)`,
      caption: `The line is the result at the figures in force (${formatValue(s.baseline)}); the longest bar is the figure the result depends on most.`,
      data: s.figures.map((f) => ({
        figure: `${f.key} ${formatCount(f.low)}-${formatCount(f.high)} ns`,
        from: Math.min(f.at_low, f.at_high),
        to: Math.max(f.at_low, f.at_high),
      })),
      y: 'figure',
      x1: 'from',
      x2: 'to',
      at: s.baseline,
      xLabel: metric,
    });
  }
  if (s.by_cpus.length > 1) {
    // The result at the figures in force once, then each top figure at both ends of its range.
    const rows = [
      ...s.by_cpus.map((p) => ({ figure: 'figures in force', level: 'in force', label: 'figures in force', cpus: p.cpus, value: p.value })),
      ...(['low', 'high'] as const).flatMap((level) =>
        s.curves.filter((r) => r.level === level).map((r) => ({ figure: r.key, level, label: `${r.key} ${level}`, cpus: r.cpus, value: r.value })),
      ),
    ];
    plots.push({
      id: 'sensitivity-cpus',
      kind: 'line',
      title: `${metric} against host CPU count`,
      caption: s.curves.length
        ? 'Solid: every figure at its value; dashed: the named figure at the low end of its range; dotted: at the high end.'
        : 'Every figure at its value.',
      data: rows,
      x: 'cpus',
      y: 'value',
      series: 'figure',
      dash: 'level',
      label: 'label',
      xLog: true,
      xTicks: s.by_cpus.map((p) => p.cpus),
      // Results that span more than a decade read better on a log scale.
      yLog: spread(rows.map((r) => r.value)) > 10,
      xLabel: 'host CPUs',
      yLabel: metric,
    });
  }
  return plots;
}

function spread(values: readonly number[]): number {
  const lo = Math.min(...values);
  return lo > 0 ? Math.max(...values) / lo : 0;
}

export function sensitivityTable(s: Sensitivity, metric: string): Table {
  return {
    title: `Sensitivity of ${metric} (${s.cpus} host CPUs; at the figures in force: ${formatValue(s.baseline)})`,
    head: ['figure', 'confidence', 'low ns', 'in force ns', 'high ns', 'result at low', 'result at high'],
    rows: s.figures.map((f) => [f.key, f.confidence, formatCount(f.low), formatCount(f.default), formatCount(f.high), formatValue(f.at_low), formatValue(f.at_high)]),
    align: ['left', 'left', 'right', 'right', 'right', 'right', 'right'],
  };
}
