// Values of uAPI cases: `$name`, `{ref, plus}`, integers past 2^53, and C
// structs built by field name with every other field 0.

import { describe, expect, it } from 'vitest';
import { CaseError } from '../../src/conformance/fields.js';
import { IOCTL_ARGS } from '../../src/conformance/uapi-ioctls.js';
import type { StructLayout } from '../../src/conformance/uapi-ioctls.js';
import { apiInt, Bindings, buildStruct, cut, structField } from '../../src/conformance/uapi-values.js';

const layout = (op: string): StructLayout => {
  const a = IOCTL_ARGS[op];
  if (a.kind !== 'struct') throw new Error(`${op} takes no struct`);
  return a.layout;
};

describe('Bindings', () => {
  it('resolves $kvm, bound names, {ref, plus}, booleans and integers past 2^53', () => {
    const b = new Bindings(3);
    b.bind('m', 0x7f0000000000n);
    expect(b.int('$kvm', 'x')).toBe(3n);
    expect(b.int({ ref: '$m', plus: 4097 }, 'x')).toBe(0x7f0000001001n);
    expect(b.int({ ref: '$m' }, 'x')).toBe(0x7f0000000000n);
    expect(b.int(true, 'x')).toBe(1n);
    expect(b.int(18446744073709547520, 'x')).toBe(0xfffffffffffff000n);
    expect(b.int(-4096, 'x')).toBe(-4096n);
  });

  it('refuses an unbound name, a fraction, a string and a ref with other fields', () => {
    const b = new Bindings(3);
    expect(() => b.int('$g', 'steps[2].args.fd')).toThrow(new CaseError('steps[2].args.fd: a name bound by an earlier step that succeeded', '$g is not bound'));
    expect(() => b.int(1.5, 'x')).toThrow(CaseError);
    expect(() => b.int('12', 'x')).toThrow(CaseError);
    expect(() => b.int({ ref: '$kvm', plus: 1, minus: 2 }, 'x')).toThrow(/unknown field 'minus'/);
  });
});

describe('buildStruct', () => {
  const b = new Bindings(3);

  it('fills every field, unnamed ones 0, arrays full length, ignoring fd', () => {
    const s = buildStruct({ fd: '$kvm', slot: 2, memory_size: 8192, 'pad2[3]': 9, pad1: 7 }, layout('KVM_SET_USER_MEMORY_REGION2'), b, 'a');
    expect(s).toEqual({
      slot: 2, flags: 0, guest_phys_addr: 0, memory_size: 8192, userspace_addr: 0,
      guest_memfd_offset: 0, guest_memfd: 0, pad1: 7, pad2: [0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    });
  });

  it('cuts values to the field width, as a C store does, and passes values past 2^53 as bigint', () => {
    const s = buildStruct({ slot: -1, guest_memfd: 0x1_0000_0005, userspace_addr: 18446612682070032384 }, layout('KVM_SET_USER_MEMORY_REGION2'), b, 'a');
    expect(s.slot).toBe(0xffffffff);
    expect(s.guest_memfd).toBe(5);
    expect(s.userspace_addr).toBe(0xffff888000000000n);
  });

  it('sets an array from a list, from index 0', () => {
    expect(buildStruct({ cap: 201, args: [4096] }, layout('KVM_ENABLE_CAP'), b, 'a').args).toEqual([4096, 0, 0, 0]);
  });

  it('refuses an unknown field, an element of a scalar, an index past the array and a list too long', () => {
    const l = layout('KVM_ENABLE_CAP');
    expect(() => buildStruct({ caps: 1 }, l, b, 'a')).toThrow(/unknown field 'caps'/);
    expect(() => buildStruct({ 'cap[0]': 1 }, l, b, 'a')).toThrow(/cap is not an array/);
    expect(() => buildStruct({ 'args[4]': 1 }, l, b, 'a')).toThrow(/an index below 4/);
    expect(() => buildStruct({ args: [1, 2, 3, 4, 5] }, l, b, 'a')).toThrow(/a list of at most 4 values/);
    expect(() => buildStruct({ args: 1 }, l, b, 'a')).toThrow(/a list of at most 4 values/);
  });

  it('reads fields back by name or element', () => {
    expect(structField({ gpa: 73728, padding: [0, 5n] }, 'gpa')).toBe(73728n);
    expect(structField({ gpa: 73728, padding: [0, 5n] }, 'padding[1]')).toBe(5n);
    expect(structField({ gpa: 73728 }, 'size')).toBeUndefined();
  });
});

describe('integers', () => {
  it('cut to C types and leave as numbers when safe', () => {
    expect(cut(-1n, 'u8')).toBe(255n);
    expect(cut(-1n, 'u64')).toBe(0xffffffffffffffffn);
    expect(cut(0xffffffffffffffffn, 's64')).toBe(-1n);
    expect(apiInt(12n)).toBe(12);
    expect(apiInt(1n << 60n)).toBe(1n << 60n);
  });
});
