// The EPT corpus (conformance/EPT.md), run in full through the conformance
// runner: 1000 random EPT trees and 11045 accesses, each judged on its HPA
// and page size, violation qualification, or misconfiguration, and its A/D writes.

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runConformanceFiles } from '../../src/conformance/runner.js';

const CORPUS = fileURLToPath(new URL('../../../shared/conformance/ept-corpus.jsonl', import.meta.url));

describe('conformance: EPT corpus', () => {
  it('agrees with every reference answer', async () => {
    const run = await runConformanceFiles([CORPUS]);
    expect(run.files).toEqual([{ name: CORPUS, format: 'ept', items: 11045 }]);
    expect(run.items.filter((r) => r.status === 'fail').slice(0, 10)).toEqual([]);
    expect(run.summary).toEqual({ pass: 11045, fail: 0 });
    const count = (area: string) => run.items.filter((r) => r.area === area).length;
    expect([count('ept.translate'), count('ept.violation'), count('ept.misconfig')]).toEqual([3558, 4025, 3462]);
  });
});
