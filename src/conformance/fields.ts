// Reading a case's fields strictly.
//
// Users bring their own case files, so every field is checked before it is
// used: a field the format does not define, a missing one, or a value of the
// wrong shape is a CaseError, which the runner reports as a failure (never a
// skip, never a crash) with what the format expects and what the case holds.

/** A case (or one of its items) that does not follow its format. */
export class CaseError extends Error {
  constructor(readonly expected: string, readonly actual: string) {
    super(`expected ${expected}, found ${actual}`);
  }
}

export type Fields = Record<string, unknown>;

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + '...' : s;
}

/**
 * `v` as an object holding only `known` fields and every `required` one;
 * `where` names it in messages ("case", "exec[3]", ...).
 */
export function fields(v: unknown, where: string, known: readonly string[], required: readonly string[] = known): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CaseError(`${where}: an object`, show(v));
  const o = v as Fields;
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new CaseError(`${where}: only the fields ${known.join(', ')}`, `unknown field '${k}'`);
  }
  for (const k of required) {
    if (!(k in o)) throw new CaseError(`${where}: field '${k}'`, 'no such field');
  }
  return o;
}

/** A 64-bit value written as a hex string ("0x1f"). */
export function hex64(o: Fields, key: string, where: string): bigint {
  const v = o[key];
  if (typeof v !== 'string' || !/^0x[0-9a-f]{1,16}$/i.test(v)) throw new CaseError(`${where}.${key}: a 64-bit hex string`, show(v));
  return BigInt(v);
}

/** A 64-bit value written as a hex string or as a non-negative JSON integer. */
export function u64(o: Fields, key: string, where: string): bigint {
  const v = o[key];
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string') return hex64(o, key, where);
  throw new CaseError(`${where}.${key}: a 64-bit hex string or a non-negative integer`, show(v));
}

/** An integer in [min, max]. */
export function int(o: Fields, key: string, where: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new CaseError(`${where}.${key}: an integer in [${min}, ${max}]`, show(v));
  }
  return v;
}

/** A flag written as true/false or 1/0. */
export function flag(o: Fields, key: string, where: string): boolean {
  const v = o[key];
  if (v === true || v === 1) return true;
  if (v === false || v === 0) return false;
  throw new CaseError(`${where}.${key}: true, false, 1 or 0`, show(v));
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(o: Fields, key: string, where: string, values: readonly T[]): T {
  const v = o[key];
  if (typeof v !== 'string' || !values.includes(v as T)) throw new CaseError(`${where}.${key}: one of ${values.join(', ')}`, show(v));
  return v as T;
}

export function array(o: Fields, key: string, where: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new CaseError(`${where}.${key}: an array`, show(v));
  return v;
}

/** A list of tuples of hex strings, each `width` long: qwords, fills, A/D lists. */
export function hexTuples(o: Fields, key: string, where: string, width: number): bigint[][] {
  return array(o, key, where).map((t, i) => {
    if (!Array.isArray(t) || t.length !== width) throw new CaseError(`${where}.${key}[${i}]: ${width} hex strings`, show(t));
    return t.map((s, j) => hex64({ [j]: s }, String(j), `${where}.${key}[${i}]`));
  });
}

/** The id a case's items are named after: a string or a number. */
export function caseId(v: unknown, index: number): string {
  const id = typeof v === 'object' && v !== null ? (v as Fields).id : undefined;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : `#${index}`;
}

/** Lowercase hex with 0x, the form every expected and actual value is written in. */
export const hex = (v: bigint): string => '0x' + v.toString(16);
