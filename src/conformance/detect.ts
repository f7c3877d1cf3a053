// Which case format a file holds, from its content (never its name).
//
// JSON Lines whose records have `eptp` and `accesses`: the EPT corpus.
// JSON Lines whose records have `translate` or `exec`: the paging corpus.
// A JSON array of cases with `steps`: uAPI cases when any step's op is a
// KVM ioctl (KVM_*), TLB scenarios when the cases have `init`.

import type { CaseFormat } from './result.js';

export type Detection =
  | { format: CaseFormat; records: unknown[]; badLines: { line: number; message: string }[] }
  | { format: null; reason: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stepOps(c: unknown): unknown[] {
  return isObject(c) && Array.isArray(c.steps) ? c.steps.map((s) => (isObject(s) ? s.op : undefined)) : [];
}

function detectArray(cases: unknown[]): Detection {
  if (cases.length === 0) return { format: null, reason: 'an empty array: no cases' };
  if (cases.some((c) => stepOps(c).some((op) => typeof op === 'string' && op.startsWith('KVM_')))) {
    return { format: 'uapi', records: cases, badLines: [] };
  }
  if (isObject(cases[0]) && 'init' in cases[0] && 'steps' in cases[0]) return { format: 'tlb', records: cases, badLines: [] };
  return { format: null, reason: 'a JSON array, but neither TLB scenarios (init, steps) nor uAPI cases (steps with KVM_* ops)' };
}

function detectLines(text: string): Detection {
  const records: unknown[] = [];
  const badLines: { line: number; message: string }[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line));
    } catch (err) {
      badLines.push({ line: i + 1, message: err instanceof Error ? err.message : String(err) });
    }
  });
  const first = records[0];
  if (!isObject(first)) {
    return { format: null, reason: records.length ? 'JSON lines that are not objects' : 'no JSON value on any line' };
  }
  if ('eptp' in first && 'accesses' in first) return { format: 'ept', records, badLines };
  if ('translate' in first || 'exec' in first) return { format: 'paging', records, badLines };
  return { format: null, reason: 'JSON lines, but neither an EPT corpus (eptp, accesses) nor a paging corpus (translate, exec)' };
}

/** The format of a case file's text, with its records (cases). */
export function detectFormat(text: string): Detection {
  if (text.trim() === '') return { format: null, reason: 'an empty file' };
  if (text.trimStart().startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { format: null, reason: `not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
    }
    return Array.isArray(value) ? detectArray(value) : { format: null, reason: 'not a JSON array' };
  }
  return detectLines(text);
}
