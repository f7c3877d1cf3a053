import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import { MMAP_BASE } from '../../src/host/address-space.js';
import * as K from '../../src/uapi.js';

const fails = (code: string, re?: RegExp) => expect.objectContaining({ code, ...(re ? { message: expect.stringMatching(re) } : {}) });
const RW = K.PROT_READ | K.PROT_WRITE;
const ANON = K.MAP_PRIVATE | K.MAP_ANONYMOUS;

async function setup(gmemFlags = 3) {
  const kvm = await Kvm.open({ ramMiB: 16, host: 'shadow' });
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
  const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000, flags: gmemFlags }) as number;
  return { kvm, vm, g };
}

describe('mmap', () => {
  it('places mappings top-down below MMAP_BASE, page-aligned, without overlap; a free hint is used', async () => {
    const { kvm } = await setup();
    const a = kvm.mmap(0, 0x3000, RW, ANON, -1, 0);
    const b = kvm.mmap(0, 0x1001, RW, ANON, -1, 0);
    expect(a).toBe(MMAP_BASE - 0x3000n);
    expect(b).toBe(a - 0x2000n);
    expect(kvm.mmap(0x10_0000_0000, 0x1000, RW, ANON, -1, 0)).toBe(0x10_0000_0000n);
    expect(kvm.mmap(a, 0x1000, RW, ANON, -1, 0)).toBe(b - 0x1000n);
    kvm.munmap(a, 0x3000);
    expect(kvm.mmap(0, 0x3000, RW, ANON, -1, 0)).toBe(a);
  });

  it('MAP_FIXED replaces what was there; unaligned is EINVAL', async () => {
    const { kvm } = await setup();
    const a = kvm.mmap(0, 0x2000, RW, ANON, -1, 0);
    kvm.writeU8(a, 7);
    expect(kvm.mmap(a, 0x1000, RW, ANON | K.MAP_FIXED, -1, 0)).toBe(a);
    expect(kvm.readU8(a)).toBe(0);
    expect(() => kvm.mmap(a + 1n, 0x1000, RW, ANON | K.MAP_FIXED, -1, 0)).toThrow(fails('EINVAL', /MAP_FIXED/));
  });

  it('guest_memfd rules: ENODEV without MMAP, EINVAL for MAP_PRIVATE, EPERM for PROT_EXEC, EINVAL for an unaligned offset', async () => {
    const { kvm, vm, g } = await setup(3);
    const plain = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000, flags: 0 }) as number;
    expect(() => kvm.mmap(0, 0x1000, RW, K.MAP_SHARED, plain, 0)).toThrow(fails('ENODEV'));
    expect(() => kvm.mmap(0, 0x1000, RW, K.MAP_PRIVATE, g, 0)).toThrow(fails('EINVAL', /MAP_SHARED/));
    expect(() => kvm.mmap(0, 0x1000, K.PROT_READ, K.MAP_PRIVATE, g, 0)).toThrow(fails('EINVAL'));
    expect(() => kvm.mmap(0, 0x1000, RW | K.PROT_EXEC, K.MAP_SHARED, g, 0)).toThrow(fails('EPERM'));
    expect(() => kvm.mmap(0, 0x1000, RW | K.PROT_EXEC, K.MAP_PRIVATE, g, 0)).toThrow(fails('EPERM'));
    expect(() => kvm.mmap(0, 0x1000, RW, K.MAP_SHARED, g, 0x800)).toThrow(fails('EINVAL', /offset/));
    expect(kvm.mmap(0, 0x1000, RW, K.MAP_SHARED_VALIDATE, g, 0x1000)).toBeGreaterThan(0n);
  });

  it('argument order: offset before the fd, the fd before length, type after both', async () => {
    const { kvm, vm } = await setup();
    expect(() => kvm.mmap(0, 0, RW, K.MAP_SHARED, 77, 0x800)).toThrow(fails('EINVAL', /offset/));
    expect(() => kvm.mmap(0, 0, RW, K.MAP_SHARED, 77, 0)).toThrow(fails('EBADF'));
    expect(() => kvm.mmap(0, 0, RW, K.MAP_SHARED, vm, 0)).toThrow(fails('EINVAL', /length is 0/));
    expect(() => kvm.mmap(0, 0x1000, RW, 0, vm, 0)).toThrow(fails('EINVAL', /mapping type/));
    expect(() => kvm.mmap(0, 0x1000, RW, K.MAP_SHARED, vm, 0)).toThrow(fails('ENODEV'));
    expect(() => kvm.mmap(0, 0x1000, RW, K.MAP_SHARED, kvm.fd, 0)).toThrow(fails('ENODEV'));
    expect(() => kvm.mmap(0, 0x1000, 0x100, ANON, -1, 0)).toThrow(fails('EINVAL', /prot/));
    expect(() => kvm.mmap(0, -1, RW, ANON, -1, 0)).toThrow(fails('EINVAL', /length/));
    expect(() => kvm.mmap(0, 1n << 48n, RW, ANON, -1, 0)).toThrow(fails('ENOMEM'));
  });
});

describe('munmap and mprotect', () => {
  it('munmap: unaligned or empty is EINVAL; unmapped ranges are fine; accesses after it are SIGSEGV', async () => {
    const { kvm } = await setup();
    const a = kvm.mmap(0, 0x2000, RW, ANON, -1, 0);
    expect(() => kvm.munmap(a + 1n, 0x1000)).toThrow(fails('EINVAL'));
    expect(() => kvm.munmap(a, 0)).toThrow(fails('EINVAL'));
    expect(kvm.munmap(a, 0x1000)).toBe(0);
    expect(kvm.munmap(a, 0x1000)).toBe(0);
    expect(() => kvm.readU8(a)).toThrow(fails('SIGSEGV'));
    expect(kvm.readU8(a + 0x1000n)).toBe(0);
  });

  it('mprotect: read-only refuses stores; unmapped is ENOMEM; PROT_EXEC on guest_memfd is EACCES; length 0 is a no-op', async () => {
    const { kvm, g } = await setup();
    const a = kvm.mmap(0, 0x2000, RW, ANON, -1, 0);
    expect(kvm.mprotect(a, 0x1000, K.PROT_READ)).toBe(0);
    expect(() => kvm.writeU8(a, 1)).toThrow(fails('SIGSEGV'));
    kvm.writeU8(a + 0x1000n, 1);
    expect(() => kvm.mprotect(a + 1n, 0x1000, K.PROT_READ)).toThrow(fails('EINVAL'));
    expect(kvm.mprotect(a + 0x5000n, 0, K.PROT_READ)).toBe(0);
    expect(() => kvm.mprotect(a, 0x3000, K.PROT_READ)).toThrow(fails('ENOMEM'));
    const m = kvm.mmap(0, 0x1000, RW, K.MAP_SHARED, g, 0);
    expect(() => kvm.mprotect(m, 0x1000, K.PROT_READ | K.PROT_EXEC)).toThrow(fails('EACCES'));
  });
});
