// Plots as data (PlotSpec) rendered to SVG text in Node, without a browser:
// Observable Plot draws into a linkedom document. Series are labelled at the
// end of their lines inside the SVG, since Plot's own legend is HTML and a
// standalone .svg file could not hold it. The same spec always gives the
// same bytes.

import * as Plot from '@observablehq/plot';
import { parseHTML } from 'linkedom';
import { escapeHtml } from './html-escape.js';

export type Row = Readonly<Record<string, number | string>>;

interface PlotBase {
  /** File-name-safe id, unique within its study. */
  readonly id: string;
  readonly title: string;
  /** One sentence under the plot: what to read from it. */
  readonly caption?: string;
  readonly data: readonly Row[];
  readonly xLabel?: string;
  readonly yLabel?: string;
}

/** Lines over a numeric x, one per series; an optional dash field draws each of its values in its own dash pattern. */
export interface LinePlot extends PlotBase {
  readonly kind: 'line';
  readonly x: string;
  readonly y: string;
  readonly series?: string;
  readonly dash?: string;
  /** The field whose value labels a line's end (default: its series and dash values). */
  readonly label?: string;
  readonly xLog?: boolean;
  readonly yLog?: boolean;
  /** Tick positions on x (default: Plot's choice). */
  readonly xTicks?: readonly number[];
}

/** One bar per category. */
export interface BarPlot extends PlotBase {
  readonly kind: 'bar';
  readonly x: string;
  readonly y: string;
}

/** A horizontal span per category from x1 to x2, with a rule at `at` (a tornado chart of a sensitivity sweep). */
export interface RangePlot extends PlotBase {
  readonly kind: 'range';
  readonly y: string;
  readonly x1: string;
  readonly x2: string;
  readonly at: number;
  readonly xLog?: boolean;
}

export type PlotSpec = LinePlot | BarPlot | RangePlot;

const WIDTH = 720;
const HEIGHT = 360;
const DASHES = ['none', '6,3', '2,3', '8,3,2,3'];

function marks(spec: PlotSpec): Plot.Markish[] {
  switch (spec.kind) {
    case 'line': {
      const z = spec.series;
      const dashValues = spec.dash ? [...new Set(spec.data.map((r) => String(r[spec.dash!])))] : [undefined];
      const out: Plot.Markish[] = [];
      dashValues.forEach((value, i) => {
        const rows = value === undefined ? spec.data : spec.data.filter((r) => String(r[spec.dash!]) === value);
        out.push(
          Plot.lineY(rows, { x: spec.x, y: spec.y, z: (r: Row) => lineLabel(spec, r), stroke: z ?? 'currentColor', strokeDasharray: DASHES[i % DASHES.length], strokeWidth: 1.5 }),
          Plot.dot(rows, { x: spec.x, y: spec.y, fill: z ?? 'currentColor', r: 2 }),
          Plot.text(rows, Plot.selectLast({ x: spec.x, y: spec.y, z: (r: Row) => lineLabel(spec, r), text: (r: Row) => lineLabel(spec, r), textAnchor: 'start', dx: 4, fill: z ?? 'currentColor' })),
        );
      });
      return out;
    }
    case 'bar':
      return [
        Plot.barY(spec.data, { x: spec.x, y: spec.y, fill: 'steelblue' }),
        Plot.text(spec.data, { x: spec.x, y: spec.y, text: (r: Row) => formatShort(Number(r[spec.y])), dy: -6 }),
        Plot.ruleY([0]),
      ];
    case 'range':
      return [
        Plot.barX(spec.data, { y: spec.y, x1: spec.x1, x2: spec.x2, fill: 'steelblue', fillOpacity: 0.7 }),
        Plot.ruleX([spec.at], { stroke: 'firebrick' }),
      ];
  }
}

/** The words at the end of a line. */
function lineLabel(spec: LinePlot, r: Row): string {
  if (spec.label) return String(r[spec.label]);
  return [spec.series, spec.dash].filter((f): f is string => f !== undefined).map((f) => String(r[f])).join(' ');
}

/** Room for the longest of some labels, at the plots' font size. */
const labelRoom = (labels: readonly string[]): number => 12 + 6.5 * Math.max(0, ...labels.map((l) => l.length));

/** The SVG document of a plot, with its title, as text. */
export function renderPlotSvg(spec: PlotSpec): string {
  const { document } = parseHTML('<!DOCTYPE html><html><body></body></html>');
  const horizontal = spec.kind === 'range';
  const svg = Plot.plot({
    document,
    width: WIDTH,
    height: horizontal ? Math.max(HEIGHT / 2, 40 + 26 * spec.data.length) : HEIGHT,
    marginLeft: horizontal ? labelRoom(spec.data.map((r) => String(r[spec.y]))) : 70,
    marginRight: spec.kind === 'line' && (spec.series || spec.label) ? labelRoom(spec.data.map((r) => lineLabel(spec, r))) : 30,
    marginTop: 30,
    marginBottom: 45,
    style: { background: 'white', fontSize: '11px' },
    x: {
      label: spec.xLabel ?? (spec.kind === 'range' ? null : spec.x),
      type: spec.kind === 'line' ? (spec.xLog ? 'log' : 'linear') : spec.kind === 'range' ? (spec.xLog ? 'log' : 'linear') : 'band',
      grid: spec.kind !== 'bar',
      // Categories keep the order the study gave them (Plot would sort them).
      ...(spec.kind === 'bar' ? { domain: spec.data.map((r) => r[spec.x]) } : {}),
      ...(spec.kind === 'line' && spec.xTicks ? { ticks: [...spec.xTicks], tickFormat: (v: number) => String(v) } : {}),
    },
    y: {
      label: spec.yLabel ?? (spec.kind === 'range' ? null : spec.y),
      type: spec.kind === 'line' && spec.yLog ? 'log' : undefined,
      grid: spec.kind !== 'range',
      ...(spec.kind === 'range' ? { domain: spec.data.map((r) => r[spec.y]) } : {}),
    },
    color: { type: 'categorical', scheme: 'tableau10' },
    marks: marks(spec),
  }) as unknown as { outerHTML: string };
  let text = svg.outerHTML;
  // A standalone .svg file needs its namespace; linkedom leaves it to the HTML parser's implicit one.
  if (!/^<svg[^>]*\sxmlns=/.test(text)) text = text.replace(/^<svg/, '<svg xmlns="http://www.w3.org/2000/svg"');
  // The title, for screen readers and for a viewer's tab.
  return text.replace(/^(<svg[^>]*>)/, `$1<title>${escapeHtml(spec.title)}</title>`);
}

/** A number in a few characters (3 significant digits, thousands separated). */
export function formatShort(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 }).format(v);
}
