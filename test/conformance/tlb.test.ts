// The TLB-scenario runner fails on every field it compares, on an op it does
// not know, and on fields the format does not allow: small scenarios written
// here, and copies of a real one with one thing changed.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ItemResult } from '../../src/conformance/result.js';
import { runTlbScenarios } from '../../src/conformance/tlb.js';

const CASES = fileURLToPath(new URL('../../../shared/conformance/tlb-cases.json', import.meta.url));

/** A case as JSON: the tests change it freely. */
type Case = any;

// 4-level paging, CR3 = 0x1000: LA 0x400000 maps to 0x5000 (user, writable,
// A and D set); LA 0x401000 is not present.
const P_W_U_A = 0x27n;
const hex = (v: bigint) => '0x' + v.toString(16);
function scenario(id: string, steps: Case[]): Case {
  return {
    id, area: 'mine', maxphyaddr: 46,
    init: { cr0: '0x80010001', cr3: '0x1000', cr4: '0x20', efer: '0xd00', pkru: '0x0' },
    qwords: [
      ['0x1000', hex(0x2000n | P_W_U_A)],
      ['0x2000', hex(0x3000n | P_W_U_A)],
      ['0x3010', hex(0x4000n | P_W_U_A)],
      ['0x4000', hex(0x5000n | P_W_U_A | 0x40n)],
    ],
    steps,
  };
}
const read = (la: string, expect: Case) => ({ op: 'access', la, type: 'r', cpl: 3, ac: 0, expect });

async function runOne(c: Case): Promise<ItemResult[]> {
  return runTlbScenarios([c]);
}

describe('TLB-scenario runner', () => {
  it('passes right answers and judges every access and instruction step', async () => {
    const r = await runOne(scenario('ok', [
      read('0x400123', { pa: '0x5123' }),
      read('0x401000', { fault: { vector: 14, err: 4, cr2: '0x401000' } }),
      { op: 'write_pte', gpa: '0x4000', value: '0x0' },
      read('0x400000', { pa: '0x5000' }),
      { op: 'invlpg', la: '0x400000' },
      read('0x400000', { fault: { vector: 14, err: 4, cr2: '0x400000' } }),
      { op: 'mov_cr3', value: '0x8000000000001000', expect_gp: true },
    ]));
    expect(r.map((i) => [i.id, i.area, i.status])).toEqual([
      ['ok/s0', 'tlb.mine', 'pass'], ['ok/s1', 'tlb.mine', 'pass'], ['ok/s3', 'tlb.mine', 'pass'],
      ['ok/s4', 'tlb.mine', 'pass'], ['ok/s5', 'tlb.mine', 'pass'], ['ok/s6', 'tlb.mine', 'pass'],
    ]);
  });

  it('fails a wrong pa, error code, CR2 or #GP expectation with expected and actual', async () => {
    const r = await runOne(scenario('bad', [
      read('0x400123', { pa: '0x6123' }),
      read('0x401000', { fault: { vector: 14, err: 6, cr2: '0x401000' } }),
      read('0x401000', { fault: { vector: 14, err: 4, cr2: '0x401001' } }),
      { op: 'invlpg', la: '0x400000', expect_gp: true },
      { op: 'mov_cr3', value: '0x8000000000001000' },
      read('0x800000000000', { pa: '0x0' }),
    ]));
    expect(r.every((i) => i.status === 'fail')).toBe(true);
    expect(r.map((i) => [i.expected, i.actual])).toEqual([
      [{ pa: '0x6123' }, { pa: '0x5123' }],
      [{ fault: { vector: 14, err: 6, cr2: '0x401000' } }, { fault: { vector: 14, err: 4, cr2: '0x401000' } }],
      [{ fault: { vector: 14, err: 4, cr2: '0x401001' } }, { fault: { vector: 14, err: 4, cr2: '0x401000' } }],
      [{ gp: true }, { gp: false }],
      [{ gp: false }, { gp: true }],
      [{ pa: '0x0' }, { fault: { vector: 13, err: 0 } }],
    ]);
  });

  it('fails an unknown op, an unknown or missing field, and a bad value, each with the reason', async () => {
    const r = await runOne(scenario('format', [
      { op: 'invd' },
      { op: 'invlpg', la: '0x400000', flush: 'all' },
      { op: 'access', la: '0x400000', type: 'r', cpl: 3, ac: 0 },
      { op: 'access', la: '0x400000', type: 'read', cpl: 3, ac: 0, expect: { pa: '0x5000' } },
      read('0x400000', { pa: '0x5000', size: 1 }),
      { op: 'write_pte', gpa: '0x4000', value: '0x0', why: 'explained', extra: true },
      read('0x400000', { pa: '0x5000' }),
    ]));
    expect(r.map((i) => [i.id, i.status, i.expected, i.actual])).toEqual([
      ['format/s0', 'fail', 'steps[0].op: one of access, write_pte, invlpg, invpcid, mov_cr3, mov_cr4, wrpkru, wrmsr_pkrs', '"invd"'],
      ['format/s1', 'fail', expect.stringMatching(/^steps\[1\]: only the fields/), "unknown field 'flush'"],
      ['format/s2', 'fail', "steps[2]: field 'expect'", 'no such field'],
      ['format/s3', 'fail', 'steps[3].type: one of r, w, x', '"read"'],
      ['format/s4', 'fail', 'steps[4].expect: only the fields pa, fault', "unknown field 'size'"],
      ['format/s5', 'fail', expect.stringMatching(/^steps\[5\]: only the fields/), "unknown field 'extra'"],
      ['format/s6', 'pass', { pa: '0x5000' }, { pa: '0x5000' }],
    ]);
  });

  it('fails every judged step of a case it cannot load, and a case without steps under its id', async () => {
    const c = scenario('init', [read('0x400000', { pa: '0x5000' }), { op: 'write_pte', gpa: '0x4000', value: '0x0' }, { op: 'invlpg', la: '0x0' }]);
    c.init.cr8 = '0x0';
    const r = await runOne(c);
    expect(r.map((i) => [i.id, i.status, i.actual])).toEqual([['init/s0', 'fail', "unknown field 'cr8'"], ['init/s2', 'fail', "unknown field 'cr8'"]]);
    const none = scenario('none', []);
    delete none.steps;
    expect(await runOne(none)).toEqual([{ id: 'none', area: 'tlb', status: 'fail', expected: "case: field 'steps'", actual: 'no such field' }]);
  });

  it('fails the changed step of a real scenario and nothing before it', async () => {
    const cases: Case[] = JSON.parse(readFileSync(CASES, 'utf8'));
    const base = cases.find((c) => c.steps.some((s: Case) => s.expect && 'pa' in s.expect));
    const i = base.steps.findIndex((s: Case) => s.expect && 'pa' in s.expect);
    const c = structuredClone(base);
    c.steps[i].expect.pa = '0x' + (BigInt(c.steps[i].expect.pa) + 1n).toString(16);
    const r = await runOne(c);
    expect(r.filter((x) => x.status === 'fail').map((x) => x.id)).toEqual([`${base.id}/s${i}`]);
    expect(r.find((x) => x.id === `${base.id}/s${i}`)?.actual).toEqual({ pa: base.steps[i].expect.pa });
  });
});
