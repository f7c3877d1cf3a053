// Arguments of the uAPI as JavaScript values: integers arrive as `number` or
// `bigint` and leave as bigint, structs are plain objects with Linux's field
// names. A value the C ABI could not carry (a fraction, a negative number in
// an unsigned field, more than 64 bits, an unknown field) is EINVAL naming the
// argument; a struct that is not an object is EFAULT, as a bad pointer is.

import { KvmError } from './error.js';

const U64_MAX = (1n << 64n) - 1n;

/** The width and signedness of an integer field of a C struct or argument. */
export type IntType = 'u8' | 'u16' | 'u32' | 'u64' | 's64' | 'fd';

const RANGE: Record<IntType, readonly [bigint, bigint]> = {
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffff_ffffn],
  u64: [0n, U64_MAX],
  s64: [-(1n << 63n), (1n << 63n) - 1n],
  // A __u32 field that the kernel reads as an int fd: -1 and 0xffffffff are
  // the same bits, so both spellings are accepted (see fdValue).
  fd: [-(1n << 31n), 0xffff_ffffn],
};

/** A 'fd' field as the C int the kernel reads from its 32 bits. */
export function fdValue(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

/** `value` as a bigint of C type `type`, or KvmError EINVAL naming `name`. */
export function intArg(value: unknown, type: IntType, name: string, syscall: string): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else throw new KvmError('EINVAL', syscall, `${name} must be an integer (number or bigint), got ${describe(value)}`);
  const [lo, hi] = RANGE[type];
  if (v < lo || v > hi) throw new KvmError('EINVAL', syscall, `${name} = ${v} does not fit in ${type}`);
  return v;
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return value === null ? 'null' : typeof value;
}

/** A field of a C struct: an integer, a fixed array of integers (padding, reserved words), or a nested struct. */
export type FieldType = IntType | { readonly array: IntType; readonly length: number } | { readonly struct: StructSpec };

/** A C struct as the uAPI sees it: its name and fields in declaration order. */
export interface StructSpec {
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldType>>;
  /** Fields the caller must give; the others default to 0, as in a zeroed C struct. */
  readonly required: readonly string[];
}

/** The integer fields of a struct as bigints, its array fields as bigint arrays, nested structs as StructValues. */
export interface StructValue {
  [field: string]: bigint | bigint[] | StructValue;
}

/**
 * Reads `arg` as `spec`: EFAULT when it is not an object, EINVAL for a
 * missing required field, an unknown field or a value its type cannot hold.
 */
export function structArg(arg: unknown, spec: StructSpec, syscall: string, path: string = spec.name): StructValue {
  if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) {
    throw new KvmError('EFAULT', syscall, `struct ${spec.name} argument ${path} is not an object (${describe(arg)})`);
  }
  const given = arg as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(key in spec.fields)) throw new KvmError('EINVAL', syscall, `${path}: struct ${spec.name} has no field ${key}`);
  }
  for (const key of spec.required) {
    if (given[key] === undefined) throw new KvmError('EINVAL', syscall, `${path}.${key} is required`);
  }
  const out: StructValue = {};
  for (const [key, type] of Object.entries(spec.fields)) {
    const value = given[key];
    const name = `${path}.${key}`;
    if (typeof type === 'string') {
      out[key] = value === undefined ? 0n : intArg(value, type, name, syscall);
      continue;
    }
    if ('struct' in type) {
      out[key] = structArg(value === undefined ? {} : value, type.struct, syscall, name);
      continue;
    }
    const words: bigint[] = new Array<bigint>(type.length).fill(0n);
    if (value !== undefined) {
      if (!Array.isArray(value) || value.length > type.length) {
        throw new KvmError('EINVAL', syscall, `${name} must be an array of at most ${type.length} integers`);
      }
      value.forEach((w, i) => (words[i] = intArg(w, type.array, `${name}[${i}]`, syscall)));
    }
    out[key] = words;
  }
  return out;
}

/** A scalar field of a struct read by structArg. */
export function field(s: StructValue, key: string): bigint {
  const v = s[key];
  if (typeof v !== 'bigint') throw new Error(`gmemu: ${key} is not a scalar field`);
  return v;
}

/** A nested struct field of a struct read by structArg. */
export function nested(s: StructValue, key: string): StructValue {
  const v = s[key];
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`gmemu: ${key} is not a struct field`);
  return v;
}

/**
 * Writes `values` into the caller's struct object, as the kernel copies a
 * struct back to user memory: integers that fit a safe integer as numbers,
 * wider ones as bigint, nested structs into the caller's nested objects.
 */
export function fillStruct(target: Record<string, unknown>, values: StructValue): void {
  for (const [key, v] of Object.entries(values)) {
    if (typeof v === 'bigint') target[key] = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    else if (Array.isArray(v)) target[key] = v.map((w) => (w <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(w) : w));
    else {
      const inner = typeof target[key] === 'object' && target[key] !== null ? (target[key] as Record<string, unknown>) : {};
      fillStruct(inner, v);
      target[key] = inner;
    }
  }
}
