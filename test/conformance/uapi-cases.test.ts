// The shared uAPI corpora (kvm-cases.json, kvm-random.json) through the
// conformance runner: every case passes, those that run the guest (a KVM_RUN
// or set_run_field step, counted below) included; and every case fails once
// its final expectation is changed.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runConformance, runConformanceFiles } from '../../src/conformance/runner.js';

const file = (f: string) => fileURLToPath(new URL(`../../../shared/conformance/${f}`, import.meta.url));

interface CorpusCase {
  id: string;
  steps: { op: string }[];
  expect: Record<string, unknown>;
}

/** A kvm_run field group (`mmio`, `hypercall`, ...) with its first field changed: a number by one, a constant name to 0. */
function fieldMutated(fields: Record<string, unknown>): Record<string, unknown> {
  const [f, v] = Object.entries(fields)[0];
  return { ...fields, [f]: typeof v === 'string' ? 0 : (v as number) + 1 };
}

/** The case's expectation with its first judged value changed: an errno or signal to another, a number by one, a truth to its opposite. */
function mutated(expect: Record<string, unknown>): Record<string, unknown> {
  const [key, v] = Object.entries(expect).find(([k]) => k !== 'note' && k !== 'struct_after') ?? ['ret', 0];
  const other =
    key === 'errno' ? (v === 'EINVAL' ? 'EEXIST' : 'EINVAL') :
    key === 'signal' ? (v === 'SIGBUS' ? 'SIGSEGV' : 'SIGBUS') :
    key === 'exit_reason' ? (v === 'KVM_EXIT_MMIO' ? 'KVM_EXIT_HLT' : 'KVM_EXIT_MMIO') :
    v === '>=0' ? -2 :
    typeof v === 'boolean' ? !v :
    typeof v === 'object' && v !== null ? fieldMutated(v as Record<string, unknown>) :
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
  it(`passes every case, the ${running} that run the guest included`, async () => {
    const run = await runConformanceFiles([file(name)]);
    expect(run.items).toHaveLength(total);
    expect(runningCases(name).size).toBe(running);
    const failures = run.items.filter((r) => r.status !== 'pass').map((r) => ({ id: r.id, expected: r.expected, actual: r.actual }));
    expect(failures).toEqual([]);
  }, 120_000);
});

describe('the corpora with each final expectation changed', () => {
  it.each(['kvm-cases.json', 'kvm-random.json'])('%s: every case fails', async (name) => {
    const cases = (JSON.parse(readFileSync(file(name), 'utf8')) as CorpusCase[]).map((c) => ({ ...c, expect: mutated(c.expect) }));
    const run = await runConformance([{ name, text: JSON.stringify(cases) }]);
    expect(run.items).toHaveLength(cases.length);
    expect(run.items.filter((r) => r.status === 'pass').map((r) => r.id)).toEqual([]);
  }, 120_000);
});
