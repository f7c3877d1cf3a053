import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';

const fails = (code: string) => expect.objectContaining({ code });
const RW = K.PROT_READ | K.PROT_WRITE;

async function setup() {
  const kvm = await Kvm.open({ ramMiB: 16, host: 'shadow' });
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
  return { kvm, vm };
}

describe('the VMM reading and writing its own memory', () => {
  it('reads back what it wrote, across pages; fresh anonymous memory reads zero', async () => {
    const { kvm } = await setup();
    const a = kvm.mmap(0, 0x3000, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    const data = Uint8Array.from({ length: 0x1800 }, (_, i) => i & 0xff);
    kvm.write(a + 0x800n, data);
    expect(kvm.read(a + 0x800n, 0x1800)).toEqual(data);
    expect(kvm.readU8(a)).toBe(0);
    expect(kvm.read(Number(a) + 0x2000, 16)).toEqual(new Uint8Array(16));
  });

  it('moves more than one I/O buffer (64 KiB) in one call; a zero-length access touches nothing', async () => {
    const { kvm } = await setup();
    const len = 0x30000;
    const a = kvm.mmap(0, len, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    const data = Uint8Array.from({ length: len - 0x20 }, (_, i) => (i * 7) & 0xff);
    kvm.write(a + 0x10n, data);
    expect(kvm.read(a + 0x10n, data.length)).toEqual(data);
    expect(kvm.read(0x1000, 0)).toEqual(new Uint8Array(0));
  });

  it('guest_memfd pages are shared between mappings and persist across munmap', async () => {
    const { kvm, vm } = await setup();
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000, flags: 3 }) as number;
    const m1 = kvm.mmap(0, 0x4000, RW, K.MAP_SHARED, g, 0);
    const m2 = kvm.mmap(0, 0x2000, RW, K.MAP_SHARED, g, 0x2000);
    kvm.writeU8(m1 + 0x2010n, 0x42);
    expect(kvm.readU8(m2 + 0x10n)).toBe(0x42);
    kvm.munmap(m1, 0x4000);
    kvm.munmap(m2, 0x2000);
    const m3 = kvm.mmap(0, 0x4000, RW, K.MAP_SHARED, g, 0);
    expect(kvm.readU8(m3 + 0x2010n)).toBe(0x42);
  });

  it('SIGBUS past EOF and on a file without INIT_SHARED; SIGSEGV outside any mapping', async () => {
    const { kvm, vm } = await setup();
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000, flags: 3 }) as number;
    const priv = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000, flags: K.GUEST_MEMFD_FLAG_MMAP }) as number;
    const m = kvm.mmap(0, 0x8000, RW, K.MAP_SHARED, g, 0);
    expect(() => kvm.read(m + 0x3ff0n, 0x20)).toThrow(expect.objectContaining({ code: 'SIGBUS', message: expect.stringContaining(`0x${(m + 0x4000n).toString(16)}`) }));
    const p = kvm.mmap(0, 0x1000, RW, K.MAP_SHARED, priv, 0);
    expect(() => kvm.readU8(p)).toThrow(fails('SIGBUS'));
    expect(() => kvm.writeU8(p, 1)).toThrow(fails('SIGBUS'));
    expect(() => kvm.readU8(0x1000)).toThrow(fails('SIGSEGV'));
  });

  it('a write that would fault stores nothing', async () => {
    const { kvm } = await setup();
    const a = kvm.mmap(0, 0x2000, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    kvm.mprotect(a + 0x1000n, 0x1000, K.PROT_READ);
    expect(() => kvm.write(a + 0xff0n, new Uint8Array(32).fill(9))).toThrow(fails('SIGSEGV'));
    expect(kvm.read(a + 0xff0n, 32)).toEqual(new Uint8Array(32));
  });

  it('bad arguments are EINVAL naming them', async () => {
    const { kvm } = await setup();
    expect(() => kvm.read(-1, 1)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/hva/) }));
    expect(() => kvm.read(0x1000, 1.5)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/len/) }));
    expect(() => kvm.write(0x1000, [1] as unknown as Uint8Array)).toThrow(fails('EINVAL'));
    expect(() => kvm.writeU8(0x1000, 256)).toThrow(fails('EINVAL'));
    expect(() => kvm.read((1n << 64n) - 1n, 2)).toThrow(fails('EINVAL'));
  });
});
