// Values in uAPI cases: integers, `$name` (an fd or address bound by an
// earlier step's `as`), `{"ref": "$name", "plus": N}`, and the C structs
// built from them.
//
// JSON numbers past 2^53 (2^64 - 4096, 2^63, ...) arrive as doubles; the
// corpora only hold values a double carries exactly, so they are taken as
// the integer the double is. What goes to the uAPI is a `number` when it is a
// safe integer and a `bigint` otherwise, as DESIGN.md says the uAPI accepts.

import { CaseError } from './fields.js';
import type { Fields } from './fields.js';
import type { CType, StructLayout } from './uapi-ioctls.js';

export type ApiInt = number | bigint;

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** `v` cut to the width of `type`, as a C store does. */
export function cut(v: bigint, type: CType): bigint {
  switch (type) {
    case 'u8': return BigInt.asUintN(8, v);
    case 'u32': return BigInt.asUintN(32, v);
    case 'u64': return BigInt.asUintN(64, v);
    case 's64': return BigInt.asIntN(64, v);
  }
}

/** A bigint as the uAPI takes it: a number when it is a safe integer. */
export function apiInt(v: bigint): ApiInt {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** An integer the uAPI returned or filled in (number or bigint), or undefined. */
export function asBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'boolean') return v ? 1n : 0n;
  return undefined;
}

/** The names a case's steps bound with `as`, and `$kvm`. */
export class Bindings {
  private readonly names = new Map<string, bigint>();

  constructor(kvmFd: number) {
    this.names.set('kvm', BigInt(kvmFd));
  }

  bind(name: string, value: bigint): void {
    this.names.set(name, value);
  }

  /** The integer a case value stands for: a JSON integer, a boolean, `$name` or `{ref, plus}`. */
  int(v: unknown, where: string): bigint {
    if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
    if (typeof v === 'boolean') return v ? 1n : 0n;
    if (typeof v === 'string' && v.startsWith('$')) {
      const bound = this.names.get(v.slice(1));
      if (bound === undefined) throw new CaseError(`${where}: a name bound by an earlier step that succeeded`, `${v} is not bound`);
      return bound;
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && 'ref' in v) {
      const o = v as Fields;
      for (const k of Object.keys(o)) if (k !== 'ref' && k !== 'plus') throw new CaseError(`${where}: {"ref", "plus"}`, `unknown field '${k}'`);
      if (typeof o.ref !== 'string' || !o.ref.startsWith('$')) throw new CaseError(`${where}.ref: a $name`, show(o.ref));
      return this.int(o.ref, where) + ('plus' in o ? this.int(o.plus, `${where}.plus`) : 0n);
    }
    throw new CaseError(`${where}: an integer, a $name or {"ref", "plus"}`, show(v));
  }
}

/** A struct as the uAPI takes it: Linux field names, arrays as lists. */
export type StructArg = Record<string, ApiInt | ApiInt[]>;

const ELEMENT = /^([a-z_0-9]+)\[(\d+)\]$/;

/**
 * The struct `layout` with the fields `args` names (all but `fd`), every
 * other field 0. `name[i]` sets one array element; a list sets an array from
 * index 0.
 */
export function buildStruct(args: Fields, layout: StructLayout, names: Bindings, where: string): StructArg {
  const words: Record<string, bigint | bigint[]> = {};
  for (const [f, t] of Object.entries(layout.fields)) words[f] = typeof t === 'string' ? 0n : new Array<bigint>(t[1]).fill(0n);
  for (const [key, value] of Object.entries(args)) {
    if (key === 'fd') continue;
    const element = ELEMENT.exec(key);
    const f = element ? element[1] : key;
    const type = layout.fields[f];
    if (type === undefined) throw new CaseError(`${where}: a field of struct ${layout.name}`, `unknown field '${key}'`);
    const at = `${where}.${key}`;
    if (typeof type === 'string') {
      if (element) throw new CaseError(`${at}: ${f} is not an array`, key);
      words[f] = cut(names.int(value, at), type);
      continue;
    }
    const [elementType, length] = type;
    const array = words[f] as bigint[];
    if (element) {
      const i = Number(element[2]);
      if (i >= length) throw new CaseError(`${at}: an index below ${length}`, key);
      array[i] = cut(names.int(value, at), elementType);
    } else {
      if (!Array.isArray(value) || value.length > length) throw new CaseError(`${at}: a list of at most ${length} values`, show(value));
      value.forEach((v, i) => (array[i] = cut(names.int(v, `${at}[${i}]`), elementType)));
    }
  }
  const out: StructArg = {};
  for (const [f, w] of Object.entries(words)) out[f] = Array.isArray(w) ? w.map(apiInt) : apiInt(w);
  return out;
}

/** A struct field as the uAPI left it (`name` or `name[i]`), as a bigint, or undefined. */
export function structField(struct: Record<string, unknown>, key: string): bigint | undefined {
  const element = ELEMENT.exec(key);
  if (!element) return asBigInt(struct[key]);
  const array = struct[element[1]];
  return Array.isArray(array) ? asBigInt(array[Number(element[2])]) : undefined;
}
