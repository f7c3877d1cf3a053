// The shared uAPI corpora (kvm-cases.json, kvm-random.json) through the
// conformance runner: every case that does not run the guest passes; every
// case that does fails, for now, because KVM_RUN is not built yet (the next
// issue), and the count below notices when it lands.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runConformance, runConformanceFiles } from '../../src/conformance/runner.js';
import { KVM_RUN_NOT_BUILT } from '../../src/conformance/uapi-steps.js';

const file = (f: string) => fileURLToPath(new URL(`../../../shared/conformance/${f}`, import.meta.url));

interface CorpusCase {
  id: string;
  steps: { op: string }[];
  expect: Record<string, unknown>;
}

/** The case's expectation with its first judged value changed: an errno or signal to another, a number by one, a truth to its opposite. */
function mutated(expect: Record<string, unknown>): Record<string, unknown> {
  const [key, v] = Object.entries(expect).find(([k]) => k !== 'note' && k !== 'struct_after') ?? ['ret', 0];
  const other =
    key === 'errno' ? (v === 'EINVAL' ? 'EEXIST' : 'EINVAL') :
    key === 'signal' ? (v === 'SIGBUS' ? 'SIGSEGV' : 'SIGBUS') :
    v === '>=0' ? -2 :
    typeof v === 'boolean' ? !v :
    (v as number) + 1;
  return { ...expect, [key]: other };
}

/** The ids of the cases that run the guest (a KVM_RUN or set_run_field step). */
function runningCases(name: string): Set<string> {
  const cases = JSON.parse(readFileSync(file(name), 'utf8')) as CorpusCase[];
  return new Set(cases.filter((c) => c.steps.some((s) => s.op === 'KVM_RUN' || s.op === 'set_run_field')).map((c) => c.id));
}

describe.each([
  ['kvm-cases.json', 84, 13],
  ['kvm-random.json', 150, 69],
])('%s', (name, total, running) => {
  it(`passes every case without KVM_RUN; the ${running} with it fail because KVM_RUN is not built`, async () => {
    const run = await runConformanceFiles([file(name)]);
    const withRun = runningCases(name);
    expect(run.items).toHaveLength(total);
    expect(withRun.size).toBe(running);
    const failures = run.items
      .filter((r) => !withRun.has(r.id) && r.status !== 'pass')
      .map((r) => ({ id: r.id, expected: r.expected, actual: r.actual }));
    expect(failures).toEqual([]);
    const notBuilt = run.items.filter((r) => r.status === 'fail' && r.actual === KVM_RUN_NOT_BUILT).map((r) => r.id);
    expect(new Set(notBuilt)).toEqual(withRun);
  }, 120_000);
});

describe('the corpora with each final expectation changed', () => {
  it.each(['kvm-cases.json', 'kvm-random.json'])('%s: every case without KVM_RUN fails', async (name) => {
    const cases = (JSON.parse(readFileSync(file(name), 'utf8')) as CorpusCase[])
      .filter((c) => !c.steps.some((s) => s.op === 'KVM_RUN' || s.op === 'set_run_field'))
      .map((c) => ({ ...c, expect: mutated(c.expect) }));
    const run = await runConformance([{ name, text: JSON.stringify(cases) }]);
    expect(run.items).toHaveLength(cases.length);
    expect(run.items.filter((r) => r.status === 'pass').map((r) => r.id)).toEqual([]);
  }, 120_000);
});
