import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COST_KEYS } from '../../src/cost/events.js';
import { costTableMarkdown, TABLE_BEGIN, TABLE_END } from '../../src/cost/table-markdown.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe("the README's cost table", () => {
  it('is the table the code generates (regenerate it with costTableMarkdown() when a cost changes)', () => {
    const start = readme.indexOf(TABLE_BEGIN);
    const end = readme.indexOf(TABLE_END);
    expect(start, 'README has no cost table').toBeGreaterThanOrEqual(0);
    expect(readme.slice(start, end + TABLE_END.length)).toBe(costTableMarkdown());
  });

  it('has a row per cost event with its default, range, confidence and source', () => {
    const t = costTableMarkdown();
    for (const k of COST_KEYS) expect(t).toContain(`| \`${k}\` |`);
    expect(t).toContain('| `tlb.shootdown.per_cpu` | added to a shootdown per further target CPU | 100 | 50 - 250 | assumed | assumed: ~14 us for 128 targets |');
    expect(t).toContain('| `set_memory_np / set_memory_p` | vm_unmap_aliases + pte_update + tlb.shootdown(N) + invlpg | 28,550 |');
  });
});
