// The EPT-corpus runner fails on every field it compares and on fields the
// format does not allow: copies of a real case, each with one thing changed.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runEptCorpus } from '../../src/conformance/ept.js';
import type { ItemResult } from '../../src/conformance/result.js';

const CORPUS = fileURLToPath(new URL('../../../shared/conformance/ept-corpus.jsonl', import.meta.url));

/** A case as JSON: the tests change it freely. */
type Case = any;

describe('EPT-corpus runner', () => {
  let base: Case;
  let hit: number; // an access that translates and sets A/D bits
  let viol: number; // an access that violates
  const byId = new Map<string, ItemResult>();
  const mutants: Record<string, (c: Case) => void> = {
    hpa: (c) => { c.accesses[hit].result.hpa = '0x' + (BigInt(c.accesses[hit].result.hpa) + 0x1000n).toString(16); },
    size: (c) => { c.accesses[hit].result.page_size = c.accesses[hit].result.page_size === '4K' ? '2M' : '4K'; },
    ad: (c) => { c.accesses[hit].ad = []; },
    qual: (c) => { c.accesses[viol].result.violation.qualification = '0x' + (BigInt(c.accesses[viol].result.violation.qualification) ^ 1n).toString(16); },
    bits: (c) => { c.accesses[viol].result.violation.bits = [63]; },
    level: (c) => { c.accesses[viol].result.level = c.accesses[viol].result.level === 1 ? 2 : 1; },
    misconfig: (c) => { c.accesses[viol].result = { misconfig: true, level: c.accesses[viol].result.level }; },
    field: (c) => { c.accesses[viol].size = 8; },
    access: (c) => { c.accesses[viol].access = 'execute'; },
    mbec: (c) => { c.mbec = true; },
    high: (c) => { c.qwords.push(['0x4000000', '0x7']); },
  };

  beforeAll(async () => {
    const cases: Case[] = readFileSync(CORPUS, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    base = cases.find((c) => {
      hit = c.accesses.findIndex((a: Case) => 'hpa' in a.result && a.ad.length > 0);
      viol = c.accesses.findIndex((a: Case) => 'violation' in a.result);
      return hit >= 0 && viol >= 0;
    });
    const run: Case[] = [base];
    for (const [name, change] of Object.entries(mutants)) {
      const c = structuredClone(base);
      c.id = name;
      change(c);
      run.push(c);
    }
    for (const r of await runEptCorpus(run)) byId.set(r.id, r);
  });

  const item = (id: string): any => byId.get(id);
  const failed = (name: string) => [...byId.values()].filter((r) => r.id.startsWith(`${name}/`) && r.status === 'fail').map((r) => r.id);

  it('passes the unchanged case', () => {
    expect(failed(String(base.id))).toEqual([]);
    expect(base.accesses.length).toBeGreaterThan(1);
  });

  it('fails a wrong HPA, page size or A/D list of a translation', () => {
    const want = base.accesses[hit];
    expect(failed('hpa')).toEqual([`hpa/e${hit}`]);
    expect(item(`hpa/e${hit}`).actual.outcome).toEqual({ hpa: want.result.hpa, page_size: want.result.page_size });
    expect(item(`hpa/e${hit}`).expected.outcome.hpa).not.toBe(want.result.hpa);
    expect(item(`size/e${hit}`).status).toBe('fail');
    expect(item(`ad/e${hit}`)).toMatchObject({ status: 'fail', expected: { ad: [] } });
    expect(item(`ad/e${hit}`).actual.ad).toHaveLength(want.ad.length);
  });

  it('fails a wrong qualification, bit list, level or kind of a failed walk', () => {
    const want = base.accesses[viol].result;
    expect(failed('qual')).toEqual([`qual/e${viol}`]);
    expect(item(`qual/e${viol}`).actual.outcome.violation.qualification).toBe(want.violation.qualification);
    expect(item(`bits/e${viol}`)).toMatchObject({ status: 'fail', expected: { outcome: { violation: { bits: [63] } } } });
    expect(item(`bits/e${viol}`).actual.outcome.violation.bits).toEqual(want.violation.bits);
    expect(item(`level/e${viol}`)).toMatchObject({ status: 'fail', actual: { outcome: { level: want.level } } });
    expect(item(`misconfig/e${viol}`)).toMatchObject({ status: 'fail', expected: { outcome: { misconfig: true } } });
  });

  it('fails an access with an unknown field or value, with the reason', () => {
    expect(item(`field/e${viol}`)).toMatchObject({ status: 'fail', actual: "unknown field 'size'" });
    expect(item(`access/e${viol}`)).toMatchObject({ status: 'fail', expected: `accesses[${viol}].access: one of read, write, fetch` });
  });

  it('fails every access of a case it cannot run', () => {
    expect(failed('mbec')).toHaveLength(base.accesses.length);
    expect(item('mbec/e0').expected).toMatch(/mode-based execute control/);
    expect(failed('high')).toHaveLength(base.accesses.length);
    expect(item('high/e0').actual).toBe('0x4000000');
  });
});
