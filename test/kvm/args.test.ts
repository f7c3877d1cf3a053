import { describe, expect, it } from 'vitest';
import { fdValue, fillStruct, intArg, structArg } from '../../src/kvm/args.js';
import type { StructSpec } from '../../src/kvm/args.js';

const SPEC: StructSpec = {
  name: 'demo',
  fields: { a: 'u32', b: 'u64', pad: { array: 'u8', length: 2 }, inner: { struct: { name: 'in', fields: { x: 'u8' }, required: [] } } },
  required: ['a'],
};

describe('intArg', () => {
  it('takes numbers and bigints alike, and returns a bigint', () => {
    expect(intArg(5, 'u32', 'x', 'ioctl')).toBe(5n);
    expect(intArg(5n, 'u32', 'x', 'ioctl')).toBe(5n);
    expect(intArg((1n << 64n) - 1n, 'u64', 'x', 'ioctl')).toBe((1n << 64n) - 1n);
    expect(intArg(-1, 's64', 'x', 'ioctl')).toBe(-1n);
  });

  it.each([
    [1.5, 'u64'], [-1, 'u64'], [1n << 64n, 'u64'], [2 ** 53, 'u64'], [256, 'u8'], ['1', 'u32'], [null, 'u32'], [undefined, 'u32'],
    [1n << 63n, 's64'], [1n << 32n, 'u32'], [-(2 ** 31) - 1, 'fd'],
  ] as const)('%s as %s is EINVAL naming the argument', (v, t) => {
    expect(() => intArg(v, t, 'the_arg', 'ioctl')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('the_arg') }));
  });

  it('reads an fd field as the C int of its 32 bits', () => {
    expect(fdValue(intArg(-1, 'fd', 'fd', 'ioctl'))).toBe(-1);
    expect(fdValue(intArg(0xffff_ffff, 'fd', 'fd', 'ioctl'))).toBe(-1);
    expect(fdValue(intArg(7, 'fd', 'fd', 'ioctl'))).toBe(7);
  });
});

describe('structArg', () => {
  it('fills fields left out with 0, as a zeroed C struct', () => {
    expect(structArg({ a: 1 }, SPEC, 'ioctl')).toEqual({ a: 1n, b: 0n, pad: [0n, 0n], inner: { x: 0n } });
    expect(structArg({ a: 1, pad: [3], inner: { x: 2 } }, SPEC, 'ioctl')).toEqual({ a: 1n, b: 0n, pad: [3n, 0n], inner: { x: 2n } });
  });

  it('a missing struct is EFAULT, as a bad pointer', () => {
    for (const bad of [undefined, null, 3, 'x', [1]]) {
      expect(() => structArg(bad, SPEC, 'ioctl')).toThrow(expect.objectContaining({ code: 'EFAULT' }));
    }
  });

  it('a missing required field, an unknown field or a bad value is EINVAL naming it', () => {
    expect(() => structArg({}, SPEC, 'ioctl')).toThrow(/demo\.a is required/);
    expect(() => structArg({ a: 1, c: 2 }, SPEC, 'ioctl')).toThrow(/has no field c/);
    expect(() => structArg({ a: 1, b: -1 }, SPEC, 'ioctl')).toThrow(/demo\.b/);
    expect(() => structArg({ a: 1, pad: [1, 2, 3] }, SPEC, 'ioctl')).toThrow(/demo\.pad must be an array of at most 2/);
    expect(() => structArg({ a: 1, pad: [300] }, SPEC, 'ioctl')).toThrow(/demo\.pad\[0\]/);
    expect(() => structArg({ a: 1, inner: { x: 256 } }, SPEC, 'ioctl')).toThrow(/demo\.inner\.x/);
    expect(() => structArg({ a: 1, inner: 5 }, SPEC, 'ioctl')).toThrow(expect.objectContaining({ code: 'EFAULT' }));
  });
});

describe('fillStruct', () => {
  it('writes numbers where they are safe, bigints where not, into nested objects in place', () => {
    const inner = { x: 9 };
    const target: Record<string, unknown> = { inner };
    fillStruct(target, { a: 1n, b: 1n << 60n, pad: [1n, 2n], inner: { x: 3n } });
    expect(target).toEqual({ a: 1, b: 1n << 60n, pad: [1, 2], inner: { x: 3 } });
    expect(target.inner).toBe(inner);
  });
});
