// The judging rules of uAPI expectations, as the reference judge
// (oracle/kvm/replay.py) has them.

import { describe, expect, it } from 'vitest';
import { checkExpectKeys, judgeStep, observed, setupFailure } from '../../src/conformance/uapi-expect.js';
import type { Observation } from '../../src/conformance/uapi-expect.js';

const noHost = () => null;

describe('judgeStep', () => {
  it('compares ret modulo 2^64 and accepts any success for ">=0"', () => {
    expect(judgeStep({ ret: -1 }, { ret: 0xffffffffffffffffn }, noHost)).toEqual([]);
    expect(judgeStep({ ret: '>=0' }, { ret: 5n }, noHost)).toEqual([]);
    expect(judgeStep({ ret: '>=0' }, { ret: -1n, errno: 'EINVAL' }, noHost)).toEqual([{ key: 'ret', expected: '>=0', actual: -1 }]);
    expect(judgeStep({ ret: 1 }, { ret: 2n }, noHost)).toEqual([{ key: 'ret', expected: 1, actual: 2 }]);
  });

  it('compares errno and signal by name', () => {
    expect(judgeStep({ errno: 'EINVAL' }, { ret: -1n, errno: 'EINVAL' }, noHost)).toEqual([]);
    expect(judgeStep({ errno: 'EINVAL' }, { ret: -1n, errno: 'EEXIST' }, noHost)).toEqual([{ key: 'errno', expected: 'EINVAL', actual: 'EEXIST' }]);
    expect(judgeStep({ signal: 'SIGBUS' }, { signal: 'SIGSEGV' }, noHost)).toEqual([{ key: 'signal', expected: 'SIGBUS', actual: 'SIGSEGV' }]);
  });

  it('fails on an errno when neither ret nor errno is expected, and on any signal not expected', () => {
    expect(judgeStep({ value: 0 }, { ret: -1n, errno: 'EFAULT' }, noHost)).toContainEqual({ key: 'errno', expected: null, actual: 'EFAULT' });
    expect(judgeStep({ ret: -1 }, { ret: -1n, errno: 'EFAULT' }, noHost)).toEqual([]);
    expect(judgeStep({ ret: 0 }, { signal: 'SIGBUS' }, noHost)).toContainEqual({ key: 'signal', expected: null, actual: 'SIGBUS' });
  });

  it('compares booleans by truth, stat and translation outputs, and only the named struct fields', () => {
    const stat: Observation = { ret: 0n, stat: { st_size: 8192n, st_blocks: 0n, S_ISREG: true } };
    expect(judgeStep({ S_ISREG: 1, st_size: 8192, st_blocks: 0 }, stat, noHost)).toEqual([]);
    expect(judgeStep({ S_ISREG: false }, stat, noHost)).toEqual([{ key: 'S_ISREG', expected: false, actual: true }]);
    const tr: Observation = { ret: 0n, struct: { physical_address: 74565, valid: 1, writeable: 1, usermode: 0 } };
    expect(judgeStep({ physical_address: 74565, valid: 1, usermode: 0 }, tr, noHost)).toEqual([]);
    const pf: Observation = { ret: 0n, struct: { gpa: 73728, size: 8192, flags: 0, padding: [0, 0, 0, 0, 0] } };
    expect(judgeStep({ struct_after: { gpa: 73728, size: 8192 } }, pf, noHost)).toEqual([]);
    expect(judgeStep({ struct_after: { gpa: 65536 } }, pf, noHost)).toEqual([{ key: 'struct_after', expected: { gpa: 65536 }, actual: { gpa: 73728 } }]);
  });

  it('reads host bytes after the step, ignores notes, and never passes an exception', () => {
    const host = (name: string, off: number) => (name === 'ro' && off === 1 ? 0 : 'SIGSEGV');
    expect(judgeStep({ ret: 0, 'host_ro[1]': 0, note: 'why' }, { ret: 0n }, host)).toEqual([]);
    expect(judgeStep({ 'host_ro[2]': 0 }, { ret: 0n }, host)).toEqual([{ key: 'host_ro[2]', expected: 0, actual: 'SIGSEGV' }]);
    expect(judgeStep({ ret: 0 }, { exception: 'TypeError: x' }, noHost)).toContainEqual({ key: 'exception', expected: null, actual: 'TypeError: x' });
  });

  it('shows what the step did for each expected key', () => {
    expect(observed({ ret: '>=0', note: 'n' }, { ret: 7n }, noHost)).toEqual({ ret: 7 });
    expect(observed({ ret: 0, physical_address: 1 }, { ret: 0n, struct: { physical_address: 2n ** 60n } }, noHost))
      .toEqual({ ret: 0, physical_address: '0x1000000000000000' });
  });
});

describe('setupFailure', () => {
  it('is null for a success and names the errno, signal or exception otherwise', () => {
    expect(setupFailure({ ret: 3n })).toBeNull();
    expect(setupFailure({ value: 0 })).toBeNull();
    expect(setupFailure({ ret: -1n, errno: 'EINVAL' })).toEqual({ key: 'errno', expected: null, actual: 'EINVAL' });
    expect(setupFailure({ signal: 'SIGBUS' })).toEqual({ key: 'signal', expected: null, actual: 'SIGBUS' });
  });
});

describe('checkExpectKeys', () => {
  it('accepts the keys an op can be judged on and refuses the others', () => {
    expect(() => checkExpectKeys({ ret: 0, errno: 'E', signal: 'S', note: '', 'host_m[3]': 0 }, 'close', false, 'e')).not.toThrow();
    expect(() => checkExpectKeys({ value: 1 }, 'mem_read_u8', false, 'e')).not.toThrow();
    expect(() => checkExpectKeys({ value: 1 }, 'mem_write_u8', false, 'e')).toThrow(/unknown key 'value'/);
    expect(() => checkExpectKeys({ struct_after: {} }, 'KVM_PRE_FAULT_MEMORY', true, 'e')).not.toThrow();
    expect(() => checkExpectKeys({ struct_after: {} }, 'KVM_CREATE_VM', false, 'e')).toThrow(/unknown key 'struct_after'/);
    expect(() => checkExpectKeys({ valid: 1 }, 'KVM_TRANSLATE', true, 'e')).not.toThrow();
    expect(() => checkExpectKeys({ exit_reason: 'KVM_EXIT_MMIO' }, 'KVM_RUN', false, 'e')).not.toThrow();
    expect(() => checkExpectKeys({ exit_reason: 'KVM_EXIT_MMIO' }, 'mmap', false, 'e')).toThrow(/unknown key 'exit_reason'/);
    expect(() => checkExpectKeys({ st_size: 0 }, 'fstat', false, 'e')).not.toThrow();
    expect(() => checkExpectKeys({ retval: 0 }, 'fstat', false, 'e')).toThrow(/unknown key 'retval'/);
  });
});
