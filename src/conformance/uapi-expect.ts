// Judging a uAPI step: what the step did (an Observation) against what the
// case expects of it (conformance/README.md "Expectations"), with the rules
// of the reference judge (oracle/kvm/replay.py): integers compare modulo
// 2^64, a boolean compares with its truth, ">=0" accepts any success value,
// a sub-object compares only the fields it names, and an expectation with
// neither `ret` nor `errno` also fails on any errno, as any expectation does
// on a signal it does not name.

import { CaseError } from './fields.js';
import type { Fields } from './fields.js';
import type { Json } from './result.js';
import { TRANSLATION_OUTPUTS } from './uapi-ioctls.js';
import { exitReasonName, kvmConstant } from './uapi-names.js';
import { structField } from './uapi-values.js';

/** What one step did. */
export interface Observation {
  /** The call's return (an fd, an address, a value; -1 with errno); absent for a signal. */
  ret?: bigint;
  errno?: string;
  signal?: 'SIGBUS' | 'SIGSEGV';
  /** The uAPI threw something that is not a KvmError: a bug, never a pass. */
  exception?: string;
  /** The byte mem_read_u8 read. */
  value?: number;
  /** fstat's answer. */
  stat?: { st_size: bigint; st_blocks: bigint; S_ISREG: boolean };
  /** A struct ioctl's struct after the call. */
  struct?: Record<string, unknown>;
  /** What a KVM_RUN step showed. */
  run?: RunObservation;
}

/** A KVM_RUN step: the exit, its kvm_run fields, what the guest saw. */
export interface RunObservation {
  exit_reason: number;
  /** kvm_run fields by their path in the case format: 'mmio.phys_addr', 'mmio.data[0]', 'hypercall.args[1]'. */
  fields: Record<string, bigint>;
  /** The access completed inside the guest. */
  no_exit: boolean;
  /** The byte a read_u8 read. */
  guest_value?: number;
  /** rax after the run. */
  guest_rax?: bigint;
}

/** One expectation the step did not meet. */
export interface Mismatch {
  key: string;
  expected: Json;
  actual: Json;
}

/** The byte the VMM reads at `$name + offset` after the step: its value, or the signal. */
export type HostByte = (name: string, offset: number) => Json;

const HOST_BYTE = /^host_([A-Za-z_0-9]+)\[(\d+)\]$/;
const STAT_KEYS = ['st_size', 'st_blocks', 'S_ISREG'];
const RUN_KEYS = ['exit_reason', 'mmio', 'memory_fault', 'hypercall', 'io', 'guest_value', 'guest_rax', 'no_exit'];
/** The KVM_RUN expectations that name kvm_run fields of one exit. */
const RUN_FIELD_GROUPS = ['mmio', 'memory_fault', 'hypercall', 'io'];
const ANY_OP_KEYS = ['ret', 'errno', 'signal', 'note'];

/** Checks that every key of `expect` is one this op can be judged on. */
export function checkExpectKeys(expect: Fields, op: string, structOp: boolean, where: string): void {
  for (const key of Object.keys(expect)) {
    const known =
      ANY_OP_KEYS.includes(key) || HOST_BYTE.test(key) ||
      (key === 'value' && op === 'mem_read_u8') ||
      (STAT_KEYS.includes(key) && op === 'fstat') ||
      (key === 'struct_after' && structOp) ||
      ((TRANSLATION_OUTPUTS as readonly string[]).includes(key) && op === 'KVM_TRANSLATE') ||
      (RUN_KEYS.includes(key) && op === 'KVM_RUN');
    if (!known) throw new CaseError(`${where}: an expectation key that ${op} can be judged on`, `unknown key '${key}'`);
  }
}

const jsonInt = (v: bigint): Json => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${BigInt.asUintN(64, v).toString(16)}`);

/** Equality of an expected value and an actual one, as the reference judge has it. */
function same(expected: unknown, actual: Json): boolean {
  if (actual === null) return false;
  if (typeof expected === 'boolean' || typeof actual === 'boolean') return Boolean(expected) === Boolean(actual);
  if (typeof expected === 'number' && typeof actual === 'number') return BigInt.asUintN(64, BigInt(expected) - BigInt(actual)) === 0n;
  if (typeof expected === 'number' && typeof actual === 'string' && actual.startsWith('0x')) {
    return BigInt.asUintN(64, BigInt(expected)) === BigInt(actual);
  }
  return expected === actual;
}

/** The step's `ret`: an fd, address or value, -1 after an errno, null after a signal. */
function retOf(obs: Observation): Json {
  return obs.ret === undefined ? null : jsonInt(obs.ret);
}

/** The fields a sub-object expectation names, as the struct the step left holds them. */
function subset(expected: unknown, key: string, struct: Record<string, unknown> | undefined): Json {
  if (typeof expected !== 'object' || expected === null || Array.isArray(expected)) {
    throw new CaseError(`expect.${key}: an object of field values`, JSON.stringify(expected));
  }
  const actual: Record<string, Json> = {};
  for (const f of Object.keys(expected)) {
    const got = struct === undefined ? undefined : structField(struct, f);
    actual[f] = got === undefined ? null : jsonInt(got);
  }
  return actual;
}

/** The fields a kvm_run expectation (`mmio`, `hypercall`, ...) names, as the run left them. */
function runSubset(expected: unknown, key: string, run: RunObservation | undefined): Json {
  if (typeof expected !== 'object' || expected === null || Array.isArray(expected)) {
    throw new CaseError(`expect.${key}: an object of kvm_run field values`, JSON.stringify(expected));
  }
  const actual: Record<string, Json> = {};
  for (const f of Object.keys(expected)) {
    const got = run?.fields[`${key}.${f}`];
    actual[f] = got === undefined ? null : jsonInt(got);
  }
  return actual;
}

/** An expected kvm_run field value: a number, or the name of a KVM_* constant of gmemu/uapi. */
function runValue(v: unknown, where: string): unknown {
  return typeof v === 'string' ? kvmConstant(v, where) : v;
}

/** What the step shows for the expectation `key` (null when it shows nothing). */
function actualOf(key: string, want: unknown, obs: Observation, hostByte: HostByte): Json {
  const host = HOST_BYTE.exec(key);
  if (host) return hostByte(host[1], Number(host[2]));
  switch (key) {
    case 'ret': return retOf(obs);
    case 'errno': return obs.errno ?? null;
    case 'signal': return obs.signal ?? null;
    case 'value': return obs.value ?? null;
    case 'S_ISREG': return obs.stat?.S_ISREG ?? null;
    case 'st_size': return obs.stat ? jsonInt(obs.stat.st_size) : null;
    case 'st_blocks': return obs.stat ? jsonInt(obs.stat.st_blocks) : null;
    case 'struct_after': return subset(want, key, obs.struct);
    case 'exit_reason': return obs.run ? exitReasonName(obs.run.exit_reason) : null;
    case 'guest_value': return obs.run?.guest_value ?? null;
    case 'guest_rax': return obs.run?.guest_rax === undefined ? null : jsonInt(BigInt.asIntN(64, obs.run.guest_rax));
    case 'no_exit': return obs.run ? obs.run.no_exit : null;
  }
  if (RUN_FIELD_GROUPS.includes(key)) return runSubset(want, key, obs.run);
  if ((TRANSLATION_OUTPUTS as readonly string[]).includes(key)) {
    const v = obs.struct === undefined ? undefined : structField(obs.struct, key);
    return v === undefined ? null : jsonInt(v);
  }
  throw new CaseError('expect: a key the executor judges', `'${key}'`);
}

/** Whether `actual` meets the expectation `key: want`. */
function meets(key: string, want: unknown, actual: Json, obs: Observation): boolean {
  if (key === 'ret') {
    if (want === '>=0') return obs.errno === undefined && obs.ret !== undefined && obs.ret >= 0n;
    if (typeof want !== 'number') throw new CaseError('expect.ret: a number or ">=0"', JSON.stringify(want));
    return same(want, actual);
  }
  if (key === 'errno' || key === 'signal') {
    if (typeof want !== 'string') throw new CaseError(`expect.${key}: a name`, JSON.stringify(want));
    return want === actual;
  }
  if (key === 'struct_after') {
    const got = actual as Record<string, Json>;
    return Object.entries(want as Fields).every(([f, v]) => same(v, got[f]));
  }
  if (RUN_FIELD_GROUPS.includes(key)) {
    const got = actual as Record<string, Json>;
    return Object.entries(want as Fields).every(([f, v]) => same(runValue(v, `expect.${key}.${f}`), got[f]));
  }
  if (key === 'exit_reason' && typeof want !== 'string') throw new CaseError('expect.exit_reason: a KVM_EXIT_* name', JSON.stringify(want));
  return same(want, actual);
}

/** Every expectation of `expect` the step did not meet; [] when it met them all. */
export function judgeStep(expect: Fields, obs: Observation, hostByte: HostByte): Mismatch[] {
  const out: Mismatch[] = [];
  if (obs.exception !== undefined) out.push({ key: 'exception', expected: null, actual: obs.exception });
  for (const [key, want] of Object.entries(expect)) {
    if (key === 'note') continue;
    const actual = actualOf(key, want, obs, hostByte);
    if (!meets(key, want, actual, obs)) out.push({ key, expected: want as Json, actual });
  }
  if (obs.errno !== undefined && !('errno' in expect) && !('ret' in expect)) out.push({ key: 'errno', expected: null, actual: obs.errno });
  if (obs.signal !== undefined && !('signal' in expect)) out.push({ key: 'signal', expected: null, actual: obs.signal });
  return out;
}

/** What the step shows for each key of `expect`: the actual side of a met expectation. */
export function observed(expect: Fields, obs: Observation, hostByte: HostByte): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [key, want] of Object.entries(expect)) if (key !== 'note') out[key] = actualOf(key, want, obs, hostByte);
  return out;
}

/** Why a set-up step (one without `expect`) did not succeed, or null when it did. */
export function setupFailure(obs: Observation): Mismatch | null {
  if (obs.exception !== undefined) return { key: 'exception', expected: null, actual: obs.exception };
  if (obs.errno !== undefined) return { key: 'errno', expected: null, actual: obs.errno };
  if (obs.signal !== undefined) return { key: 'signal', expected: null, actual: obs.signal };
  if (obs.ret !== undefined && obs.ret < 0n) return { key: 'ret', expected: '>=0', actual: retOf(obs) };
  return null;
}
