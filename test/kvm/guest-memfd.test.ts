import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';

const fails = (code: string, re?: RegExp) => expect.objectContaining({ code, ...(re ? { message: expect.stringMatching(re) } : {}) });
const KEEP = K.FALLOC_FL_KEEP_SIZE;
const PUNCH = K.FALLOC_FL_PUNCH_HOLE | K.FALLOC_FL_KEEP_SIZE;

async function gmem(flags = 3, size = 0x10000) {
  const kvm = await Kvm.open({ ramMiB: 16, host: 'shadow' });
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
  const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size, flags }) as number;
  const file = (kvm as unknown as { fds: { lookup(fd: number): { object: { file: number } } } }).fds.lookup(g).object.file;
  return { kvm, vm, g, pages: () => kvm.core.exports.gmem_nr_pages(file) };
}

describe('fallocate on a guest_memfd', () => {
  it('KEEP_SIZE allocates inside the file and keeps what is there; the size never changes', async () => {
    const { kvm, g, pages } = await gmem();
    expect(kvm.fallocate(g, KEEP, 0, 0x2000)).toBe(0);
    expect(pages()).toBe(2n);
    const m = kvm.mmap(0, 0x10000, K.PROT_READ | K.PROT_WRITE, K.MAP_SHARED, g, 0);
    kvm.writeU8(m + 0x1000n, 0x5a);
    expect(kvm.fallocate(g, KEEP, 0, 0x10000)).toBe(0);
    expect(pages()).toBe(16n);
    expect(kvm.readU8(m + 0x1000n)).toBe(0x5a);
    expect(kvm.fstat(g)).toEqual({ st_mode: 0o100600, st_size: 0x10000, st_blocks: 0 });
  });

  it('KEEP_SIZE past the size is EINVAL; PUNCH_HOLE anywhere is fine and reads zero after', async () => {
    const { kvm, g, pages } = await gmem();
    expect(() => kvm.fallocate(g, KEEP, 0xf000, 0x2000)).toThrow(fails('EINVAL', /file size/));
    expect(() => kvm.fallocate(g, KEEP, 0x10000, 0x1000)).toThrow(fails('EINVAL'));
    const m = kvm.mmap(0, 0x10000, K.PROT_READ | K.PROT_WRITE, K.MAP_SHARED, g, 0);
    kvm.writeU8(m, 0xab);
    kvm.writeU8(m + 0x1000n, 0xcd);
    expect(kvm.fallocate(g, PUNCH, 0, 0x1000)).toBe(0);
    expect(kvm.readU8(m)).toBe(0);
    expect(kvm.readU8(m + 0x1000n)).toBe(0xcd);
    expect(kvm.fallocate(g, PUNCH, 0, 0x1000)).toBe(0);
    expect(kvm.fallocate(g, PUNCH, 0x100000, 0x1000000)).toBe(0);
    expect(kvm.fallocate(g, PUNCH, 0, 0x10000)).toBe(0);
    expect(pages()).toBe(0n);
  });

  it('checks in order: EINVAL offset/len, EOPNOTSUPP of the VFS, EFBIG, EOPNOTSUPP of guest_memfd, EINVAL alignment', async () => {
    const { kvm, g, pages } = await gmem();
    const max = (1n << 63n) - 1n;
    const cases: [number, number | bigint, number | bigint, string][] = [
      [KEEP, 0, 0, 'EINVAL'], [PUNCH, 0, 0, 'EINVAL'], [KEEP, -4096, 4096, 'EINVAL'], [0x1000, -1, 0, 'EINVAL'],
      [K.FALLOC_FL_PUNCH_HOLE, 1, 1, 'EOPNOTSUPP'], [K.FALLOC_FL_COLLAPSE_RANGE | KEEP, 1, 1, 'EOPNOTSUPP'],
      [K.FALLOC_FL_PUNCH_HOLE | K.FALLOC_FL_ZERO_RANGE | KEEP, 1, 1, 'EOPNOTSUPP'], [0x1000, 1, 1, 'EOPNOTSUPP'],
      [KEEP, max, 4096, 'EFBIG'], [0, max, 4096, 'EFBIG'], [K.FALLOC_FL_ZERO_RANGE, max, 1, 'EFBIG'],
      [0, 0, 4096, 'EOPNOTSUPP'], [K.FALLOC_FL_ZERO_RANGE | KEEP, 1, 1, 'EOPNOTSUPP'], [K.FALLOC_FL_UNSHARE_RANGE | KEEP, 0, 4096, 'EOPNOTSUPP'],
      [K.FALLOC_FL_COLLAPSE_RANGE, 0, 4096, 'EOPNOTSUPP'], [K.FALLOC_FL_INSERT_RANGE, 0, 4096, 'EOPNOTSUPP'],
      [KEEP, 1, 4096, 'EINVAL'], [KEEP, 0, 1, 'EINVAL'], [PUNCH, 4096, 2048, 'EINVAL'], [KEEP, 0x100000, 1, 'EINVAL'],
    ];
    for (const [mode, offset, len, code] of cases) {
      expect(() => kvm.fallocate(g, mode, offset, len), `mode ${mode} offset ${offset} len ${len}`).toThrow(fails(code));
    }
    expect(pages()).toBe(0n);
  });

  it('bad argument types are EINVAL naming the argument; a closed fd EBADF; other KVM fds ENODEV', async () => {
    const { kvm, vm, g } = await gmem();
    expect(() => kvm.fallocate(g, 1.5, 0, 4096)).toThrow(fails('EINVAL', /mode/));
    expect(() => kvm.fallocate(g, KEEP, 1n << 64n, 4096)).toThrow(fails('EINVAL', /offset/));
    expect(() => kvm.fallocate(g, KEEP, 0, '4096')).toThrow(fails('EINVAL', /len/));
    expect(() => kvm.fallocate(vm, KEEP, 0, 4096)).toThrow(fails('ENODEV'));
    expect(() => kvm.fallocate(kvm.fd, KEEP, 0, 0)).toThrow(fails('EINVAL'));
    kvm.close(g);
    expect(() => kvm.fallocate(g, KEEP, 0, 4096)).toThrow(fails('EBADF'));
  });
});

describe('the other file operations', () => {
  it('read/write EINVAL, pread/pwrite/lseek ESPIPE, ftruncate EINVAL, ioctl ENOTTY, even for MMAP|INIT_SHARED', async () => {
    const { kvm, g } = await gmem(3);
    expect(() => kvm.fdRead(g, 1)).toThrow(fails('EINVAL'));
    expect(() => kvm.fdWrite(g, new Uint8Array(1))).toThrow(fails('EINVAL'));
    expect(() => kvm.pread(g, 1, 0)).toThrow(fails('ESPIPE'));
    expect(() => kvm.pwrite(g, new Uint8Array(1), 0)).toThrow(fails('ESPIPE'));
    expect(() => kvm.lseek(g, 0, K.SEEK_SET)).toThrow(fails('ESPIPE'));
    expect(() => kvm.lseek(g, 0, K.SEEK_HOLE)).toThrow(fails('ESPIPE'));
    expect(() => kvm.lseek(g, 0, K.SEEK_HOLE + 1)).toThrow(fails('EINVAL', /whence/));
    for (const len of [0, 0x10000, 0x20000]) expect(() => kvm.ftruncate(g, len)).toThrow(fails('EINVAL', /resized/));
    expect(() => kvm.ftruncate(g, -1)).toThrow(fails('EINVAL', /negative/));
    expect(() => kvm.ioctl(g, K.KVM_GET_API_VERSION)).toThrow(fails('ENOTTY'));
    expect(kvm.fstat(g).st_size).toBe(0x10000);
  });

  it('fcntl: guest_memfd is not close-on-exec, VM and vCPU fds are; F_GETFL is O_RDWR (| O_LARGEFILE for guest_memfd)', async () => {
    const { kvm, vm, g } = await gmem();
    const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    expect([kvm.fcntl(g, 'F_GETFD'), kvm.fcntl(vm, K.F_GETFD), kvm.fcntl(vcpu, 'F_GETFD'), kvm.fcntl(kvm.fd, 'F_GETFD')]).toEqual([0, 1, 1, 0]);
    expect([kvm.fcntl(g, 'F_GETFL'), kvm.fcntl(vm, 'F_GETFL')]).toEqual([K.O_RDWR | K.O_LARGEFILE, K.O_RDWR]);
    kvm.fcntl(g, 'F_SETFD', K.FD_CLOEXEC);
    expect(kvm.fcntl(g, 'F_GETFD')).toBe(1);
    expect(() => kvm.fcntl(g, 99)).toThrow(fails('EINVAL'));
    expect(() => kvm.fcntl(1234, 'F_GETFD')).toThrow(fails('EBADF'));
  });

  it('fstat and file ops of the other fds', async () => {
    const { kvm, vm } = await gmem();
    expect(kvm.fstat(kvm.fd).st_mode).toBe(0o20666);
    expect(kvm.fstat(vm)).toEqual({ st_mode: 0o600, st_size: 0, st_blocks: 0 });
    expect(kvm.lseek(kvm.fd, 0, 0)).toBe(0);
    expect(() => kvm.pread(kvm.fd, 1, 0)).toThrow(fails('EINVAL'));
    expect(() => kvm.pread(vm, 1, 0)).toThrow(fails('ESPIPE'));
  });
});
