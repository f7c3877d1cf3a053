import { describe, expect, it } from 'vitest';
import { gfnToGpa, gpa, gpaToGfn, hpa, hpaToPfn, pfnToHpa } from '../../src/core/addr.js';

describe('address kinds', () => {
  it('converts between addresses and frame numbers', () => {
    expect(gpaToGfn(gpa(0x12345678))).toBe(0x12345);
    expect(gfnToGpa(gpaToGfn(gpa(0x12345678)))).toBe(0x12345000n);
    expect(pfnToHpa(hpaToPfn(hpa(0xffff_ffff_ffffn)))).toBe(0xffff_ffff_f000n);
  });

  it('refuses values that are not 64-bit unsigned integers', () => {
    expect(() => gpa(-1)).toThrow(RangeError);
    expect(() => gpa(1n << 64n)).toThrow(RangeError);
    expect(() => gpa(0.5)).toThrow(RangeError);
    expect(() => gpa(2 ** 60)).toThrow(/safe integer/);
    expect(gpa((1n << 64n) - 1n)).toBe(0xffff_ffff_ffff_ffffn);
  });
});
