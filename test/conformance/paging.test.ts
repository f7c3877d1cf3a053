// The paging-corpus runner fails on every field it compares and on every
// field or shape the format does not allow: copies of a real case, each with
// one thing changed, must fail exactly there, with expected and actual.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPagingCorpus } from '../../src/conformance/paging.js';
import type { ItemResult } from '../../src/conformance/result.js';

const CORPUS = fileURLToPath(new URL('../../../shared/conformance/paging-corpus.jsonl', import.meta.url));

/** A case as JSON: the tests change it freely. */
type Case = any;

const hexInc = (h: string): string => '0x' + (BigInt(h) + 0x1000n).toString(16);

describe('paging-corpus runner', () => {
  // A case with every kind of item to change: a valid translate, a #PF, an
  // access that sets A/D bits, and a quirk item whose host result is not the SDM's.
  let base: Case;
  let t: number; // a valid non-quirk translate
  let pf: number; // a non-quirk #PF
  let ad: number; // a non-quirk access with A/D changes
  let quirk: number; // a quirk exec item with result != sdm
  const byId = new Map<string, ItemResult>();
  const mutants: Record<string, (c: Case) => void> = {};

  function mutant(name: string, change: (c: Case) => void): string {
    mutants[name] = change;
    return name;
  }
  const PA = mutant('pa', (c) => { c.translate[t].pa = hexInc(c.translate[t].pa); });
  const VALID = mutant('valid', (c) => { c.translate[t].valid = 0; });
  const ERR = mutant('err', (c) => { c.exec[pf].result.err ^= 2; });
  const CR2 = mutant('cr2', (c) => { c.exec[pf].result.cr2 = hexInc(c.exec[pf].result.cr2); });
  const AD = mutant('ad', (c) => { c.exec[ad].sdm_ad.pop(); });
  const MMIO = mutant('mmio', (c) => { c.exec[pf].mmio = ['r 0x8000000 len=1']; });
  const HOST = mutant('host', (c) => { c.exec[quirk].result = c.exec[quirk].sdm; });
  const SDM = mutant('sdm', (c) => { c.exec[quirk].sdm = { vector: 13, err: 0 }; });
  const ITEM_FIELD = mutant('item-field', (c) => { c.exec[ad].size = 1; });
  const NO_LA = mutant('no-la', (c) => { delete c.translate[t].la; });
  const CASE_FIELD = mutant('case-field', (c) => { c.pcid = 1; });
  const VENDOR = mutant('vendor', (c) => { c.vendor = 'via'; });
  const OUTSIDE = mutant('outside', (c) => { c.qwords.push(['0x4000000', '0x1']); });

  beforeAll(async () => {
    const cases: Case[] = readFileSync(CORPUS, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    base = cases.find((c) => {
      t = c.translate.findIndex((x: Case) => !x.quirk && x.valid);
      pf = c.exec.findIndex((x: Case) => !x.quirk && x.result.vector === 14);
      ad = c.exec.findIndex((x: Case) => !x.quirk && x.sdm_ad.length > 0);
      quirk = c.exec.findIndex((x: Case) => x.quirk && JSON.stringify(x.result) !== JSON.stringify(x.sdm));
      return t >= 0 && pf >= 0 && ad >= 0 && quirk >= 0;
    });
    const run: Case[] = [base];
    for (const [name, change] of Object.entries(mutants)) {
      const c = structuredClone(base);
      c.id = name;
      change(c);
      run.push(c);
    }
    for (const r of await runPagingCorpus(run)) byId.set(r.id, r);
  });

  const item = (id: string): ItemResult => {
    const r = byId.get(id);
    if (!r) throw new Error(`no item ${id}`);
    return r;
  };
  const failures = (name: string) => [...byId.values()].filter((r) => r.id.startsWith(`${name}/`) && r.status === 'fail');

  it('passes the unchanged case', () => {
    expect(failures(String(base.id))).toEqual([]);
    expect(item(`${base.id}/t0`).status).toBe('pass');
  });

  it('fails a wrong pa or validity of a translation, and only that item', () => {
    expect(failures(PA).map((r) => r.id)).toEqual([`${PA}/t${t}`]);
    expect(item(`${PA}/t${t}`)).toMatchObject({
      status: 'fail', quirk: false,
      expected: { valid: true, pa: hexInc(base.translate[t].pa) },
      actual: { valid: true, pa: '0x' + BigInt(base.translate[t].pa).toString(16) },
    });
    expect(item(`${VALID}/t${t}`)).toMatchObject({ status: 'fail', expected: { valid: false }, actual: { valid: true } });
  });

  it('fails a wrong error code, CR2, A/D list or MMIO list of an access', () => {
    const want = base.exec[pf].result;
    expect(failures(ERR).map((r) => r.id)).toEqual([`${ERR}/x${pf}`]);
    expect(item(`${ERR}/x${pf}`)).toMatchObject({ expected: { result: { err: want.err ^ 2 } }, actual: { result: { vector: 14, err: want.err } } });
    expect(item(`${CR2}/x${pf}`)).toMatchObject({ status: 'fail', expected: { result: { cr2: hexInc(want.cr2) } }, actual: { result: { cr2: want.cr2 } } });
    const r = item(`${AD}/x${ad}`) as Case;
    expect(r.status).toBe('fail');
    expect(r.actual.ad).toHaveLength(base.exec[ad].sdm_ad.length);
    expect(r.expected.ad).toHaveLength(base.exec[ad].sdm_ad.length - 1);
    expect(item(`${MMIO}/x${pf}`)).toMatchObject({ status: 'fail', expected: { mmio: ['r 0x8000000 len=1'] }, actual: { mmio: [] } });
  });

  it('judges a quirk item on its SDM answer, not on the host result', () => {
    expect(failures(HOST)).toEqual([]);
    expect(item(`${SDM}/x${quirk}`)).toMatchObject({ status: 'fail', quirk: true, expected: { result: { vector: 13, err: 0 } } });
  });

  it('fails an item with an unknown or missing field, with the reason', () => {
    // Accesses carry A/D state forward, so the items after one that could not run may fail too.
    expect(failures(ITEM_FIELD)[0].id).toBe(`${ITEM_FIELD}/x${ad}`);
    expect(item(`${ITEM_FIELD}/x${ad}`).actual).toBe("unknown field 'size'");
    expect(item(`${NO_LA}/t${t}`)).toMatchObject({ status: 'fail', expected: `translate[${t}]: field 'la'`, actual: 'no such field' });
  });

  it('fails every item of a case that cannot be loaded', () => {
    const items = base.translate.length + base.exec.length;
    for (const name of [CASE_FIELD, VENDOR, OUTSIDE]) expect(failures(name)).toHaveLength(items);
    expect(item(`${CASE_FIELD}/x0`).actual).toBe("unknown field 'pcid'");
    expect(item(`${VENDOR}/t0`)).toMatchObject({ expected: 'case.vendor: one of intel, amd', actual: '"via"' });
    expect(item(`${OUTSIDE}/t0`).expected).toMatch(/inside guest RAM/);
  });

  it('fails a case that is not an object, under its index', async () => {
    expect(await runPagingCorpus([42])).toEqual([{ id: '#0', area: 'paging', status: 'fail', expected: 'case: an object', actual: '42' }]);
  });
});
