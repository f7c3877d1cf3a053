// What a design study hands to the report: its parameters, each variant's
// exact counts and modelled time, its verdict against the thread's claim,
// and optionally extra tables, plots and a sensitivity sweep. The JSON form
// (studyJson) is the versioned one other tools read (DESIGN.md, issue 5).

import type { Modelled } from '../cost/model.js';
import type { Sensitivity } from '../cost/sensitivity.js';
import type { PlotSpec } from './plot.js';
import type { Table } from './table.js';

/** Version of a study's JSON shape; bump it when a name changes meaning or goes away. */
export const STUDY_SCHEMA = 1;

export interface VariantResult {
  /** Exact counts as the study reports them: core counters, study counts, or study summaries. */
  readonly counts: Readonly<Record<string, number>>;
  /** The modelled time of the counts that carry a cost (src/cost modelledTime). */
  readonly modelled: Modelled;
  /** Study-specific results (e.g. throughput_mbps, per_io), kept in the JSON as given. */
  readonly [field: string]: unknown;
}

export interface Verdict {
  /** The thread's claim, in a sentence. */
  readonly claim: string;
  readonly agrees: boolean;
  /** Why, with the numbers that decide it. */
  readonly line: string;
}

export interface StudyResult {
  /** The study's name, as `gmemu study NAME` takes it. */
  readonly study: string;
  readonly title: string;
  /** The seed thread it answers (e.g. "000"). */
  readonly thread: string;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** Variant name -> result, in the order to show them. */
  readonly variants: Readonly<Record<string, VariantResult>>;
  readonly verdict: Verdict;
  /** Study-specific top-level JSON fields (e.g. protected's matrix). */
  readonly data?: Readonly<Record<string, unknown>>;
  /** A sweep of the assumed figures, with what it measured and in which unit (e.g. "modelled throughput, MB/s"). */
  readonly sensitivity?: Sensitivity & { readonly metric: string };
  /** Further tables for the reports (e.g. the per-I/O listing). */
  readonly tables?: readonly Table[];
  readonly plots?: readonly PlotSpec[];
}

const RESERVED = new Set(['schema', 'study', 'title', 'thread', 'params', 'variants', 'verdict', 'sensitivity']);

/** The study's versioned JSON object. */
export function studyJson(s: StudyResult): Record<string, unknown> {
  for (const k of Object.keys(s.data ?? {})) {
    if (RESERVED.has(k)) throw new RangeError(`study ${s.study}: data field "${k}" would replace a field of the JSON schema`);
  }
  return {
    schema: STUDY_SCHEMA,
    study: s.study,
    title: s.title,
    thread: s.thread,
    params: s.params,
    variants: s.variants,
    verdict: s.verdict,
    ...s.data,
    ...(s.sensitivity ? { sensitivity: s.sensitivity } : {}),
  };
}

/** Numeric study-specific fields of the variants (e.g. throughput_mbps), in first-seen order. */
export function resultFields(s: StudyResult): string[] {
  const names: string[] = [];
  for (const v of Object.values(s.variants)) {
    for (const [k, val] of Object.entries(v)) {
      if (k !== 'counts' && k !== 'modelled' && typeof val === 'number' && !names.includes(k)) names.push(k);
    }
  }
  return names;
}
