// The TLB scenarios (conformance/TLB.md), run in full through the
// conformance runner: 69 hand-computed cases, 317 judged steps (224 accesses
// and 93 instructions).

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runConformanceFiles } from '../../src/conformance/runner.js';

const CASES = fileURLToPath(new URL('../../../shared/conformance/tlb-cases.json', import.meta.url));

describe('conformance: TLB scenarios', () => {
  it('agrees with every expectation of every scenario', async () => {
    const run = await runConformanceFiles([CASES]);
    expect(run.files).toEqual([{ name: CASES, format: 'tlb', items: 317 }]);
    expect(run.items.filter((r) => r.status === 'fail').slice(0, 10)).toEqual([]);
    expect(run.summary).toEqual({ pass: 317, fail: 0 });
    const instructions = run.items.filter((r) => typeof r.expected === 'object' && r.expected !== null && 'gp' in r.expected);
    expect(instructions).toHaveLength(93);
    const areas = new Set(run.items.map((r) => r.area));
    expect([...areas].sort()).toEqual(['cr4', 'faults', 'global', 'invlpg', 'la57', 'pcid', 'pkeys', 'smap', 'stale'].map((a) => `tlb.${a}`));
  });
});
