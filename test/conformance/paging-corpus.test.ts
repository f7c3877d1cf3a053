// The measured paging corpus (conformance/README.md), run in full through the
// conformance runner: 300 random 4-level trees from a real KVM, 4500
// KVM_TRANSLATE items and 7828 real accesses, every one judged.

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runConformanceFiles } from '../../src/conformance/runner.js';

const CORPUS = fileURLToPath(new URL('../../../shared/conformance/paging-corpus.jsonl', import.meta.url));

describe('conformance: measured paging corpus', () => {
  it('agrees with every translate and exec item', async () => {
    const run = await runConformanceFiles([CORPUS]);
    expect(run.files).toEqual([{ name: CORPUS, format: 'paging', items: 4500 + 7828 }]);
    expect(run.items.filter((r) => r.status === 'fail').slice(0, 10)).toEqual([]);
    expect(run.summary).toEqual({ pass: 4500 + 7828, fail: 0 });
    expect(run.items.filter((r) => r.area === 'paging.translate')).toHaveLength(4500);
    expect(run.items.filter((r) => r.area === 'paging.exec')).toHaveLength(7828);
    // Every item says whether it was judged on the SDM answer; some were.
    expect(run.items.every((r) => typeof r.quirk === 'boolean')).toBe(true);
    expect(run.items.some((r) => r.quirk)).toBe(true);
  });
});
