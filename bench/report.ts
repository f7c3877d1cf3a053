// The benchmark's result, as `gmemu bench --json` prints it (schema 1, see
// DESIGN.md "Machine-readable outputs"), and the same result as a table.

export const BENCH_SCHEMA = 1;

/** What one metric measured, and how it compares with its baseline and target. */
export interface Metric {
  /** null only when the measurement could not be made (see note). */
  value: number | null;
  unit: string;
  /** The value of the baseline metric this one is judged against. */
  baseline?: number;
  /** value / baseline. */
  ratio?: number;
  /** The goal, as `value <= 8` or `ratio >= 0.9`. */
  target?: string;
  met?: boolean;
  /** Why a value is null, or how the number was obtained when that is not obvious. */
  note?: string;
}

export interface MachineInfo {
  node: string;
  cpu: string;
  cores: number;
  platform: string;
  arch: string;
  /** The C compiler of the native baseline (its --version line), or null when there is none. */
  compiler: string | null;
  /** Which Wasm build was measured. */
  wasm: 'release' | 'debug';
  quick: boolean;
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  machine: MachineInfo;
  metrics: Record<string, Metric>;
}

/** A goal on a metric's value, or on its ratio to the baseline. */
export interface Target {
  on: 'value' | 'ratio';
  op: '<=' | '>=';
  bound: number;
}

/** Fills in baseline, ratio, target and met for one measured value. */
export function judge(value: number | null, unit: string, target?: Target, baseline?: number | null, note?: string): Metric {
  const m: Metric = { value, unit };
  if (value !== null && baseline !== undefined && baseline !== null) {
    m.baseline = baseline;
    m.ratio = value / baseline;
  }
  if (target) {
    m.target = `${target.on} ${target.op} ${target.bound}`;
    const judged = target.on === 'value' ? value : m.ratio;
    if (judged !== null && judged !== undefined) m.met = target.op === '<=' ? judged <= target.bound : judged >= target.bound;
  }
  if (note !== undefined) m.note = note;
  return m;
}

function fmt(n: number | undefined | null): string {
  if (n === undefined) return '';
  if (n === null) return 'n/a';
  const a = Math.abs(n);
  if (a >= 1e6) return n.toExponential(3);
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/** The report as a plain-text table, with the machine above it and notes below. */
export function formatTable(report: BenchReport): string {
  const head = ['metric', 'value', 'unit', 'baseline', 'ratio', 'target', 'met'];
  const rows = Object.entries(report.metrics).map(([name, m]) => [
    name, fmt(m.value), m.unit, fmt(m.baseline), fmt(m.ratio), m.target ?? '',
    m.met === undefined ? '' : m.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 || i >= 5 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const mc = report.machine;
  const out = [
    `gmemu bench${mc.quick ? ' --quick' : ''}: node ${mc.node}, ${mc.cpu} x${mc.cores}, ${mc.platform}/${mc.arch}, ` +
      `C compiler: ${mc.compiler ?? 'none (native baselines not measured)'}`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  const notes = Object.entries(report.metrics).filter(([, m]) => m.note !== undefined);
  if (notes.length > 0) out.push('', ...notes.map(([name, m]) => `${name}: ${m.note}`));
  return out.join('\n');
}
