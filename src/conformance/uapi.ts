// Runner of the uAPI case format (kvm-cases.json, kvm-random.json): ioctl and
// file-op sequences judged against what a real KVM returned, run on a fresh
// gmemu KVM per case. `tag: verified` cases were observed on a host with
// shadow paging, so they run with `host: 'shadow'`; `tag: source` cases were
// read from upstream source for a TDP host, so they run with `host: 'tdp'`.
//
// Each case is one item. A case passes when every step meets its `expect`
// (the case's own `expect` applies to the last step as well), and every step
// without one succeeds; otherwise the item shows the first step that did
// not, with every expectation it missed. An op, a field or an expectation
// key the executor does not know fails the case before it runs.

import { caseId, CaseError, fields, oneOf } from './fields.js';
import type { Fields } from './fields.js';
import { caseFailure, failed } from './result.js';
import type { ItemResult, Json } from './result.js';
import { checkExpectKeys, judgeStep, observed, setupFailure } from './uapi-expect.js';
import type { Mismatch, Observation } from './uapi-expect.js';
import { checkOp, UapiSession } from './uapi-steps.js';
import type { UapiKvm, UapiStep } from './uapi-steps.js';

/** The host configuration a case runs on. */
export type UapiHost = 'shadow' | 'tdp';

/** Opens a fresh KVM (like open("/dev/kvm") on a new machine) for one case. */
export type OpenKvm = (host: UapiHost) => Promise<UapiKvm>;

const CASE_FIELDS = ['id', 'area', 'tag', 'desc', 'steps', 'expect'];
const STEP_FIELDS = ['op', 'args', 'as', 'expect'];

interface UapiCase {
  area: string;
  host: UapiHost;
  steps: UapiStep[];
  expect: Fields;
}

function object(v: unknown, where: string): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CaseError(`${where}: an object`, JSON.stringify(v) ?? String(v));
  return v as Fields;
}

/** The case with every step's op, args and expectation keys checked. */
function parseCase(raw: unknown): UapiCase {
  const c = fields(raw, 'case', CASE_FIELDS, ['id', 'tag', 'steps']);
  const tag = oneOf(c, 'tag', 'case', ['verified', 'source']);
  const rawSteps = c.steps;
  if (!Array.isArray(rawSteps) || rawSteps.length === 0) throw new CaseError('case.steps: a non-empty array', JSON.stringify(rawSteps));
  const expect = 'expect' in c ? object(c.expect, 'case.expect') : {};
  const steps = rawSteps.map((rawStep: unknown, i): UapiStep => {
    const where = `steps[${i}]`;
    const s = fields(rawStep, where, STEP_FIELDS, ['op']);
    if (typeof s.op !== 'string') throw new CaseError(`${where}.op: a name`, JSON.stringify(s.op));
    const args = 'args' in s ? object(s.args, `${where}.args`) : {};
    const structOp = checkOp(s.op, args, where);
    const step: UapiStep = { op: s.op, args };
    if ('as' in s) {
      if (typeof s.as !== 'string' || !/^[A-Za-z_0-9]+$/.test(s.as)) throw new CaseError(`${where}.as: a name`, JSON.stringify(s.as));
      step.as = s.as;
    }
    if ('expect' in s) {
      step.expect = object(s.expect, `${where}.expect`);
      checkExpectKeys(step.expect, s.op, structOp, `${where}.expect`);
    }
    if (i === rawSteps.length - 1) checkExpectKeys(expect, s.op, structOp, 'case.expect');
    return step;
  });
  return { area: typeof c.area === 'string' ? c.area : 'case', host: tag === 'verified' ? 'shadow' : 'tdp', steps, expect };
}

/** The observation as the actual side of an item. */
function observationJson(obs: Observation): Record<string, Json> {
  const out: Record<string, Json> = {};
  if (obs.ret !== undefined) out.ret = Number.isSafeInteger(Number(obs.ret)) ? Number(obs.ret) : `0x${BigInt.asUintN(64, obs.ret).toString(16)}`;
  if (obs.errno !== undefined) out.errno = obs.errno;
  if (obs.signal !== undefined) out.signal = obs.signal;
  if (obs.exception !== undefined) out.exception = obs.exception;
  if (obs.value !== undefined) out.value = obs.value;
  return out;
}

function disagreement(id: string, area: string, at: { step: number; op: string }, misses: Mismatch[], obs: Observation): ItemResult {
  const expected: Record<string, Json> = { ...at };
  const actual: Record<string, Json> = { ...at, ...observationJson(obs) };
  for (const m of misses) {
    expected[m.key] = m.expected;
    actual[m.key] = m.actual;
  }
  return failed(id, area, expected, actual);
}

async function runCase(raw: unknown, index: number, open: OpenKvm): Promise<ItemResult> {
  const id = caseId(raw, index);
  const rawArea = typeof raw === 'object' && raw !== null ? (raw as Fields).area : undefined;
  let area = typeof rawArea === 'string' ? `uapi.${rawArea}` : 'uapi';
  try {
    const c = parseCase(raw);
    area = `uapi.${c.area}`;
    const session = new UapiSession(await open(c.host));
    const hostByte = (name: string, offset: number) => session.hostByte(name, offset);
    let last: Observation = {};
    for (const [i, step] of c.steps.entries()) {
      const at = { step: i, op: step.op };
      last = session.step(step, `steps[${i}]`);
      const expects = [step.expect, i === c.steps.length - 1 ? c.expect : undefined].filter((e): e is Fields => e !== undefined);
      if (expects.length === 0) {
        const why = setupFailure(last);
        if (why) return disagreement(id, area, at, [{ key: 'succeeds', expected: true, actual: false }, why], last);
        continue;
      }
      for (const e of expects) {
        const misses = judgeStep(e, last, hostByte);
        if (misses.length > 0) return disagreement(id, area, at, misses, last);
      }
    }
    const expected = Object.fromEntries(Object.entries(c.expect).filter(([k]) => k !== 'note')) as Record<string, Json>;
    return { id, area, status: 'pass', expected, actual: observed(c.expect, last, hostByte) };
  } catch (err) {
    return caseFailure(id, area, err);
  }
}

/** Runs every case on a fresh KVM from `open`, in order. */
export async function runUapiCases(cases: readonly unknown[], open: OpenKvm): Promise<ItemResult[]> {
  const items: ItemResult[] = [];
  for (const [i, raw] of cases.entries()) items.push(await runCase(raw, i, open));
  return items;
}
