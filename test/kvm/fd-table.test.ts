import { describe, expect, it } from 'vitest';
import { FIRST_FD, FdTable } from '../../src/kvm/fd-table.js';

describe('FdTable', () => {
  it('hands out the lowest free number from 3 up, reusing closed ones', () => {
    const t = new FdTable();
    expect(FIRST_FD).toBe(3);
    expect([t.install({ kind: 'system', object: 0 }), t.install({ kind: 'vm', object: 1 }), t.install({ kind: 'vcpu', object: 2 })]).toEqual([3, 4, 5]);
    t.remove(4, 'close');
    expect(t.install({ kind: 'guest_memfd', object: 3 })).toBe(4);
    expect(t.install({ kind: 'vm', object: 4 })).toBe(6);
    expect(t.size).toBe(4);
  });

  it('a closed, unknown or non-integer fd is EBADF', () => {
    const t = new FdTable();
    const fd = t.install({ kind: 'vm', object: null });
    expect(t.remove(fd, 'close')).toEqual({ kind: 'vm', object: null });
    for (const bad of [fd, 0, 2, -1, 99, 3.5, '3', undefined]) {
      expect(() => t.get(bad, 'ioctl')).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'ioctl' }));
    }
    expect(() => t.remove(fd, 'close')).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
    expect(t.lookup(fd)).toBeUndefined();
  });
});
