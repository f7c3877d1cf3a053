// Terminal line charts (asciichart): series over the same x points, drawn in
// text, coloured only when the caller's colours are on.

import asciichart from 'asciichart';
import type { Colors } from './colors.js';
import { formatValue } from './format.js';

export interface ChartSeries {
  readonly label: string;
  readonly values: readonly number[];
}

const PALETTE = [asciichart.blue, asciichart.red, asciichart.green, asciichart.magenta, asciichart.cyan, asciichart.yellow];
const NAMES = ['blue', 'red', 'green', 'magenta', 'cyan', 'yellow'] as const;

/** A chart of `series` (all the same length) with its x labels under it and a legend. */
export function terminalChart(title: string, xLabels: readonly string[], series: readonly ChartSeries[], colors: Colors, height = 10): string {
  if (!series.length || series.some((s) => s.values.length !== xLabels.length)) {
    throw new RangeError(`terminalChart: every series needs one value per x label (${xLabels.length})`);
  }
  const chart = asciichart.plot(
    series.map((s) => [...s.values]),
    {
      height,
      format: (v: number) => formatValue(v).padStart(10),
      ...(colors.isColorSupported ? { colors: series.map((_, i) => PALETTE[i % PALETTE.length]) } : {}),
    },
  );
  const legend = series.map((s, i) => (colors.isColorSupported ? `${colors[NAMES[i % NAMES.length]]('──')} ${s.label}` : `[${i + 1}] ${s.label}`));
  return [colors.bold(title), chart, `x: ${xLabels.join(', ')}`, ...legend].join('\n');
}
