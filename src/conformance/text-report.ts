// The terminal form of a conformance run: which format each file held, a
// table of pass/fail counts per area, and every failure (up to a limit) with
// its expected and actual answers.

import type { CaseFormat, ConformanceRun, Json } from './result.js';

const FORMAT_TITLES: Record<CaseFormat, string> = {
  paging: 'paging corpus',
  ept: 'EPT corpus',
  tlb: 'TLB scenarios',
  uapi: 'uAPI cases',
};

/** Failures printed before the rest are only counted. */
export const FAILURES_SHOWN = 50;

const text = (v: Json): string => (typeof v === 'string' ? v : JSON.stringify(v));

export function formatConformance(run: ConformanceRun, failuresShown = FAILURES_SHOWN): string {
  const lines: string[] = [];
  for (const f of run.files) {
    lines.push(`${f.name}: ${f.format ? FORMAT_TITLES[f.format] : 'unknown format'}, ${f.items} item${f.items === 1 ? '' : 's'}`);
  }
  const areas = new Map<string, { pass: number; fail: number }>();
  for (const r of run.items) {
    let a = areas.get(r.area);
    if (!a) areas.set(r.area, (a = { pass: 0, fail: 0 }));
    a[r.status]++;
  }
  const rows: [string, string, string][] = [['area', 'pass', 'fail']];
  for (const [area, a] of areas) rows.push([area, String(a.pass), String(a.fail)]);
  rows.push(['total', String(run.summary.pass), String(run.summary.fail)]);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  lines.push('');
  for (const [area, pass, fail] of rows) lines.push(`${area.padEnd(w[0])}  ${pass.padStart(w[1])}  ${fail.padStart(w[2])}`);

  const failures = run.items.filter((r) => r.status === 'fail');
  if (failures.length) {
    lines.push('', `${failures.length} failure${failures.length === 1 ? '' : 's'}:`);
    for (const r of failures.slice(0, failuresShown)) {
      lines.push(`FAIL ${r.id}${r.quirk ? ' (quirk)' : ''}`, `  expected ${text(r.expected)}`, `  actual   ${text(r.actual)}`);
    }
    if (failures.length > failuresShown) {
      lines.push(`... and ${failures.length - failuresShown} more failures (--json lists every item)`);
    }
  }
  return lines.join('\n');
}
