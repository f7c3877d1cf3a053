// The terminal report: files, a row per area with a total, and failures with
// expected and actual, cut after a limit with a count of the rest.

import { describe, expect, it } from 'vitest';
import { judged, summarise } from '../../src/conformance/result.js';
import type { ConformanceRun } from '../../src/conformance/result.js';
import { FAILURES_SHOWN, formatConformance } from '../../src/conformance/text-report.js';

function run(fails: number): ConformanceRun {
  const items = [judged('a/s0', 'tlb.pcid', { pa: '0x1' }, { pa: '0x1' })];
  for (let i = 0; i < fails; i++) items.push(judged(`b/x${i}`, 'paging.exec', { result: { ok: true } }, { result: { vector: 13, err: 0 } }, i === 0));
  return { summary: summarise(items), files: [{ name: 'f.json', format: 'tlb', items: 1 }, { name: 'g', format: null, items: fails }], items };
}

describe('formatConformance', () => {
  it('prints a table per area and every failure with expected and actual', () => {
    const text = formatConformance(run(2));
    expect(text).toContain('f.json: TLB scenarios, 1 item\ng: unknown format, 2 items');
    expect(text).toMatch(/^area +pass +fail$/m);
    expect(text).toMatch(/^tlb\.pcid +1 +0$/m);
    expect(text).toMatch(/^paging\.exec +0 +2$/m);
    expect(text).toMatch(/^total +1 +2$/m);
    expect(text).toContain('2 failures:\nFAIL b/x0 (quirk)\n  expected {"result":{"ok":true}}\n  actual   {"result":{"vector":13,"err":0}}\nFAIL b/x1\n');
  });

  it('stops listing failures after the limit and counts the rest', () => {
    const text = formatConformance(run(FAILURES_SHOWN + 7));
    expect(text.match(/^FAIL /gm)).toHaveLength(FAILURES_SHOWN);
    expect(text).toContain('... and 7 more failures');
    expect(formatConformance(run(0))).not.toContain('FAIL');
  });
});
