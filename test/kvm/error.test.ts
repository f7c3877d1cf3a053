import { describe, expect, it } from 'vitest';
import { ERRNO, errnoName } from '../../src/kvm/errno.js';
import { KvmError } from '../../src/kvm/error.js';

describe('KvmError', () => {
  it('has the shape of a Node system error', () => {
    const e = new KvmError('EINVAL', 'ioctl', 'KVM_SET_USER_MEMORY_REGION: memory_size 4097 is not a multiple of 4096');
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ name: 'KvmError', code: 'EINVAL', errno: -22, syscall: 'ioctl' });
    expect(e.message).toBe('EINVAL: ioctl: KVM_SET_USER_MEMORY_REGION: memory_size 4097 is not a multiple of 4096');
  });

  it('carries a signal as its code, with no errno', () => {
    const e = new KvmError('SIGBUS', 'read', 'guest_memfd page 3 is not shared');
    expect(e.code).toBe('SIGBUS');
    expect(e.errno).toBeUndefined();
  });

  it('uses Linux errno numbers', () => {
    expect(ERRNO).toMatchObject({ EPERM: 1, ENOENT: 2, EBADF: 9, ENOMEM: 12, EFAULT: 14, EEXIST: 17, ENODEV: 19, EINVAL: 22, ENOTTY: 25, EFBIG: 27, ESPIPE: 29, EOPNOTSUPP: 95 });
    expect(errnoName(-95)).toBe('EOPNOTSUPP');
    expect(errnoName(22)).toBe('EINVAL');
    expect(errnoName(9999)).toBeUndefined();
  });
});
