// A study's numbers as tables: the study's results per variant; every count
// beside the modelled time it carries; the modelled time per cost event with
// the total. Modelled time comes only from counts x costs; no wall-clock time
// is ever put in these tables.

import { COST_KEYS } from '../cost/events.js';
import { formatCount, formatMicros, formatValue } from './format.js';
import { resultFields, type StudyResult } from './study.js';
import type { Table } from './table.js';

export function resultsTable(s: StudyResult): Table | undefined {
  const names = Object.keys(s.variants);
  const fields = resultFields(s);
  if (!fields.length) return undefined;
  return {
    title: 'Results (from the modelled time)',
    head: ['result', ...names],
    rows: fields.map((f) => [f, ...names.map((n) => (typeof s.variants[n][f] === 'number' ? formatValue(s.variants[n][f] as number) : ''))]),
  };
}

/** Each count (rows where some variant counted something) with the modelled time it carries, variant by variant. */
export function countsTable(s: StudyResult): Table {
  const names = Object.keys(s.variants);
  const rowNames: string[] = [];
  for (const n of names) {
    for (const [k, v] of Object.entries(s.variants[n].counts)) if (v !== 0 && !rowNames.includes(k)) rowNames.push(k);
  }
  const rows = rowNames.map((k) => [
    k,
    ...names.flatMap((n) => {
      const v = s.variants[n];
      if (!(k in v.counts)) return ['', ''];
      const ns = v.modelled.by_count[k];
      return [formatCount(v.counts[k]), ns === undefined ? '' : formatMicros(ns)];
    }),
  ]);
  rows.push(['modelled total', ...names.flatMap((n) => ['', formatMicros(s.variants[n].modelled.total_ns)])]);
  return {
    title: 'Counts (exact) and the modelled time they carry (µs)',
    head: ['count', ...names.flatMap((n) => [n, `${n} µs`])],
    rows,
    note: 'Counts are exact emulator events; µs = count x the cost model (blank: a summary count the model prices through others). No wall-clock time.',
  };
}

/** Modelled time per cost event, variant by variant, with the total. */
export function costEventsTable(s: StudyResult): Table {
  const names = Object.keys(s.variants);
  const keys = COST_KEYS.filter((k) => names.some((n) => (s.variants[n].modelled.by_event[k] ?? 0) !== 0));
  return {
    title: 'Modelled time by cost event (µs)',
    head: ['cost event', ...names],
    rows: [
      ...keys.map((k) => [k, ...names.map((n) => formatMicros(s.variants[n].modelled.by_event[k] ?? 0))]),
      ['total', ...names.map((n) => formatMicros(s.variants[n].modelled.total_ns))],
    ],
  };
}

export function paramsLine(s: StudyResult): string {
  return Object.entries(s.params).map(([k, v]) => `${k}=${String(v)}`).join(', ');
}

export function verdictLine(s: StudyResult): string {
  return `${s.verdict.agrees ? 'Agrees' : 'Disagrees'} with thread ${s.thread} ("${s.verdict.claim}"): ${s.verdict.line}`;
}
