// The result of a conformance run: one judged item per expectation, and the
// versioned JSON form other tools read (../shared/DESIGN.md).

import { CaseError } from './fields.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The case formats the runner knows. */
export type CaseFormat = 'paging' | 'ept' | 'tlb' | 'uapi';

/** One judged item: a paging translate/exec item, an EPT access, a TLB step. */
export interface ItemResult {
  /** `<case id>/t3`, `<case id>/x0`, `<case id>/e2`, `<case id>/s5`, or a case or file name. */
  id: string;
  /** The table row it counts in: `paging.exec`, `ept.violation`, `tlb.pcid`, ... */
  area: string;
  status: 'pass' | 'fail';
  expected: Json;
  actual: Json;
  /** Paging-corpus items: the item touches a departure of the reference host from the SDM. */
  quirk?: boolean;
}

export interface FileRun {
  name: string;
  /** The format detected from the content, or null when none matched. */
  format: CaseFormat | null;
  items: number;
}

export interface ConformanceRun {
  summary: { pass: number; fail: number };
  files: FileRun[];
  items: ItemResult[];
}

/** Deep equality of two JSON values (object keys in any order). */
export function sameJson(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  }
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameJson(a[k], b[k]));
}

/** An item judged by comparing every field of the expected and actual answers. */
export function judged(id: string, area: string, expected: Json, actual: Json, quirk?: boolean): ItemResult {
  const r: ItemResult = { id, area, status: sameJson(expected, actual) ? 'pass' : 'fail', expected, actual };
  if (quirk !== undefined) r.quirk = quirk;
  return r;
}

/** An item that could not be run: its case breaks the format (or needs what is not built). */
export function failed(id: string, area: string, expected: Json, actual: Json): ItemResult {
  return { id, area, status: 'fail', expected, actual };
}

/** A failure from a CaseError, or a rethrow of anything else (a bug, not a bad case). */
export function caseFailure(id: string, area: string, err: unknown): ItemResult {
  if (!(err instanceof CaseError)) throw err;
  return failed(id, area, err.expected, err.actual);
}

export function summarise(items: readonly ItemResult[]): { pass: number; fail: number } {
  let pass = 0;
  for (const r of items) if (r.status === 'pass') pass++;
  return { pass, fail: items.length - pass };
}

/** Version of the JSON shape below. */
export const CONFORMANCE_SCHEMA = 1;

export interface ConformanceJson {
  schema: number;
  summary: { pass: number; fail: number };
  cases: { id: string; status: 'pass' | 'fail'; expected: Json; actual: Json; quirk?: boolean }[];
}

/** The run in the versioned JSON shape of `gmemu conformance --json`. */
export function conformanceJson(run: ConformanceRun): ConformanceJson {
  return {
    schema: CONFORMANCE_SCHEMA,
    summary: run.summary,
    cases: run.items.map(({ id, status, expected, actual, quirk }) =>
      quirk === undefined ? { id, status, expected, actual } : { id, status, expected, actual, quirk }),
  };
}
