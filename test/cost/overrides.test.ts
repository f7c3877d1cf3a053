import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COST_EVENTS, defaultCosts } from '../../src/cost/events.js';
import { applyCostOverrides, CostOverrideError, loadCosts } from '../../src/cost/overrides.js';

const dir = mkdtempSync(join(tmpdir(), 'gmemu-cost-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** The CostOverrideError `f` throws. */
function refusal(f: () => unknown): CostOverrideError {
  try {
    f();
  } catch (e) {
    if (e instanceof CostOverrideError) return e;
    throw e;
  }
  throw new Error('no error thrown');
}

describe('cost overrides', () => {
  it('without a file, the defaults of the table', () => {
    const c = loadCosts();
    expect(c['tlb.invlpg']).toBe(100);
    expect(c['tlb.shootdown.idle_wakeup']).toBe(20000);
    expect(Object.keys(c)).toEqual(Object.keys(COST_EVENTS));
  });

  it('a file overrides the keys it names and keeps the rest', () => {
    const c = loadCosts(file('good.json', JSON.stringify({ 'tlb.invlpg': 250, 'memcpy.byte.dram': 0.05, wbinvd: 0 })));
    expect(c['tlb.invlpg']).toBe(250);
    expect(c['memcpy.byte.dram']).toBe(0.05);
    expect(c.wbinvd).toBe(0);
    expect(c['tlb.shootdown.base']).toBe(COST_EVENTS['tlb.shootdown.base'].ns);
  });

  it('an empty object is the defaults', () => {
    expect(loadCosts(file('empty.json', '{}'))).toEqual(defaultCosts());
  });

  it('refuses an unknown key, naming it and the file, with the likely key', () => {
    const p = file('typo.json', '{"tlb.invlpq": 120}');
    const e = refusal(() => loadCosts(p));
    expect(e.file).toBe(p);
    expect(e.key).toBe('tlb.invlpq');
    expect(e.message).toBe(`${p}: unknown cost event "tlb.invlpq" (did you mean "tlb.invlpg"?)`);
    expect(refusal(() => applyCostOverrides({ bogus: 1 }, 'x.json')).message).toBe('x.json: unknown cost event "bogus"');
  });

  it.each([
    ['a string', '"100"'],
    ['null', 'null'],
    ['a boolean', 'true'],
    ['an array', '[100]'],
    ['an object', '{"ns": 100}'],
  ])('refuses %s as a value, naming the key', (_, value) => {
    const p = file('nan.json', `{"cpa.split_2m": ${value}}`);
    const e = refusal(() => loadCosts(p));
    expect(e.key).toBe('cpa.split_2m');
    expect(e.message).toBe(`${p}: "cpa.split_2m" must be a number of nanoseconds, not ${value.replace(/ /g, '')}`);
  });

  it('refuses a negative value, naming the key', () => {
    const e = refusal(() => loadCosts(file('neg.json', '{"tlb.invlpg": 100, "clear_page.4k": -1}')));
    expect(e.key).toBe('clear_page.4k');
    expect(e.message).toMatch(/: "clear_page.4k" must be >= 0 nanoseconds, not -1$/);
  });

  it('refuses a file that is not a JSON object, or not JSON, or not there', () => {
    expect(refusal(() => loadCosts(file('list.json', '[]'))).message).toMatch(/list\.json: must hold a JSON object of cost event -> nanoseconds$/);
    expect(refusal(() => loadCosts(file('num.json', '3'))).key).toBeUndefined();
    expect(refusal(() => loadCosts(file('bad.json', '{"tlb.invlpg": 1,}'))).message).toMatch(/bad\.json: not valid JSON \(/);
    expect(refusal(() => loadCosts(join(dir, 'missing.json'))).message).toMatch(/missing\.json: cannot read the cost file \(ENOENT\)$/);
  });

  it('a refused file changes nothing: the base is untouched and nothing is returned', () => {
    const base = defaultCosts();
    const before = { ...base };
    expect(() => applyCostOverrides({ 'tlb.invlpg': 1, 'tlb.invpcid': -5 }, 'f.json', base)).toThrow(CostOverrideError);
    expect(base).toEqual(before);
  });
});
