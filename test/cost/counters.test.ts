import { describe, expect, it } from 'vitest';
import { COUNTER_DOCS } from '../../src/core/stats.js';
import { COUNTER_COSTS, STUDY_COUNTS } from '../../src/cost/counters.js';
import { COST_KEYS, type CostKey } from '../../src/cost/events.js';

const charges = [...Object.values(COUNTER_COSTS), ...Object.values(STUDY_COUNTS).map((s) => s.charge)];

describe('the mapping from counted events to cost events', () => {
  it('charges every counter of the core or says why it is free', () => {
    const unmapped = Object.keys(COUNTER_DOCS).filter((n) => !(n in COUNTER_COSTS));
    expect(unmapped, 'add these counters to COUNTER_COSTS in src/cost/counters.ts: charge them or give the reason they are free').toEqual([]);
  });

  it('maps no counter the core does not have', () => {
    expect(Object.keys(COUNTER_COSTS).filter((n) => !(n in COUNTER_DOCS))).toEqual([]);
  });

  it('keeps study counts apart from counter names', () => {
    expect(Object.keys(STUDY_COUNTS).filter((n) => n in COUNTER_DOCS)).toEqual([]);
  });

  it('gives every free entry a reason and every charged entry at least one term', () => {
    for (const c of charges) {
      if ('free' in c) expect(c.free.length).toBeGreaterThan(10);
      else expect(c.terms.length).toBeGreaterThan(0);
    }
  });

  it('uses every cost event of the table (an unused one would be an override that does nothing)', () => {
    const used = new Set<CostKey>();
    for (const c of charges) if ('terms' in c) for (const t of c.terms) used.add(t.event);
    expect(COST_KEYS.filter((k) => !used.has(k))).toEqual([]);
  });
});
