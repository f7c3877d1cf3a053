// Judging compares every field; the JSON form has exactly DESIGN.md's shape.

import { describe, expect, it } from 'vitest';
import { CaseError } from '../../src/conformance/fields.js';
import { caseFailure, conformanceJson, judged, sameJson, summarise } from '../../src/conformance/result.js';

describe('conformance results', () => {
  it('compares JSON values deeply, with object keys in any order', () => {
    expect(sameJson({ a: [1, { b: '0x1' }], c: null }, { c: null, a: [1, { b: '0x1' }] })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 1, b: undefined as unknown as null })).toBe(false);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson({ a: 1 }, [1])).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(judged('i', 'a', { x: 1, y: 2 }, { x: 1, y: 3 }).status).toBe('fail');
    expect(judged('i', 'a', { x: 1 }, { x: 1 }, true)).toEqual({ id: 'i', area: 'a', status: 'pass', expected: { x: 1 }, actual: { x: 1 }, quirk: true });
  });

  it('turns a CaseError into a failure and lets anything else through', () => {
    expect(caseFailure('i', 'a', new CaseError('want', 'got'))).toEqual({ id: 'i', area: 'a', status: 'fail', expected: 'want', actual: 'got' });
    expect(() => caseFailure('i', 'a', new TypeError('bug'))).toThrow('bug');
  });

  it('writes schema 1 with id, status, expected, actual, and quirk where it applies', () => {
    const items = [judged('p/t0', 'paging.translate', 1, 1, false), judged('e/e0', 'ept.translate', 1, 2)];
    const json = conformanceJson({ summary: summarise(items), files: [], items });
    expect(json).toEqual({
      schema: 1,
      summary: { pass: 1, fail: 1 },
      cases: [
        { id: 'p/t0', status: 'pass', expected: 1, actual: 1, quirk: false },
        { id: 'e/e0', status: 'fail', expected: 1, actual: 2 },
      ],
    });
  });
});
