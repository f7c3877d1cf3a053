// Bad input at every entry point of the uAPI: each call must throw a KvmError
// with the errno Linux gives (or, where no C caller could pass the value at
// all, EINVAL / EBADF / EFAULT as the C ABI would turn it), and a message that
// names the argument.

import { beforeEach, describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import { KvmError } from '../../src/kvm/error.js';
import * as K from '../../src/uapi.js';

interface Env {
  kvm: Kvm;
  vm: number;
  vcpu: number;
  gmem: number;
  closed: number;
  mem: bigint;
}

async function env(): Promise<Env> {
  const kvm = await Kvm.open({ ramMiB: 16 });
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
  const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
  const gmem = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x10000, flags: K.GUEST_MEMFD_FLAG_MMAP }) as number;
  const closed = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x1000 }) as number;
  kvm.close(closed);
  const mem = kvm.mmap(0, 0x4000, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
  return { kvm, vm, vcpu, gmem, closed, mem };
}

/** The KvmError a call throws (the test fails if it returns or throws something else). */
function thrown(f: () => unknown): KvmError {
  let result: unknown;
  try {
    result = f();
  } catch (e) {
    if (e instanceof KvmError) return e;
    throw new Error(`not a KvmError: ${String(e)}`);
  }
  throw new Error(`no error; returned ${String(result)}`);
}

type Case = [what: string, call: (e: Env) => unknown, code: string, names: RegExp];

/** Values no C caller could pass as an integer argument. */
const NOT_INTEGERS: [string, unknown][] = [
  ['a fraction', 1.5], ['NaN', NaN], ['Infinity', Infinity], ['a string', '4096'], ['null', null],
  ['an object', {}], ['a boolean', true], ['an unsafe number', 2 ** 53 + 2],
];

/** A fresh machine per test (beforeEach below). */
let current: Env;

function check(cases: Case[]): void {
  it.each(cases)('%s', (_what, call, code, names) => {
    const e = thrown(() => call(current));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(names);
  });
}

describe('bad input', () => {
  beforeEach(async () => {
    current = await env();
  });

  describe('fds: not open, closed, or not an fd number at all - EBADF naming the fd', () => {
    const calls: [string, (e: Env, fd: unknown) => unknown][] = [
      ['ioctl', (e, fd) => e.kvm.ioctl(fd as number, K.KVM_GET_API_VERSION, 0)],
      ['close', (e, fd) => e.kvm.close(fd as number)],
      ['fallocate', (e, fd) => e.kvm.fallocate(fd as number, K.FALLOC_FL_KEEP_SIZE, 0, 4096)],
      ['read', (e, fd) => e.kvm.fdRead(fd as number, 8)],
      ['write', (e, fd) => e.kvm.fdWrite(fd as number, new Uint8Array(8))],
      ['pread64', (e, fd) => e.kvm.pread(fd as number, 8, 0)],
      ['pwrite64', (e, fd) => e.kvm.pwrite(fd as number, new Uint8Array(8), 0)],
      ['lseek', (e, fd) => e.kvm.lseek(fd as number, 0, K.SEEK_SET)],
      ['ftruncate', (e, fd) => e.kvm.ftruncate(fd as number, 0)],
      ['fstat', (e, fd) => e.kvm.fstat(fd as number)],
      ['fcntl', (e, fd) => e.kvm.fcntl(fd as number, 'F_GETFD')],
      ['mmap', (e, fd) => e.kvm.mmap(0, 4096, K.PROT_READ, K.MAP_SHARED, fd as number, 0)],
      ['stats', (e, fd) => e.kvm.stats(fd as number)],
      ['translate', (e, fd) => e.kvm.translate(fd as number, 0)],
    ];
    const fds: [string, (e: Env) => unknown][] = [
      ['never opened', () => 99], ['closed', (e) => e.closed], ['negative', () => -1], ['stdin', () => 0],
      ['a fraction', () => 3.5], ['a string', () => '3'], ['null', () => null], ['huge', () => 2 ** 31],
    ];
    const cases: Case[] = [];
    for (const [syscall, call] of calls) {
      for (const [what, fd] of fds) cases.push([`${syscall} on an fd that is ${what}`, (e) => call(e, fd(e)), 'EBADF', new RegExp(`${syscall}: fd .* is not open`)]);
    }
    check(cases);

    it('takes a bigint fd as the same fd', () => {
      const e = current;
      expect(e.kvm.ioctl(BigInt(e.kvm.fd) as unknown as number, K.KVM_GET_API_VERSION, 0)).toBe(12);
      expect(e.kvm.fstat(BigInt(e.gmem) as unknown as number).st_size).toBe(0x10000);
      expect(e.kvm.fcntl(BigInt(e.vm) as unknown as number, 'F_GETFD')).toBe(K.FD_CLOEXEC);
      e.kvm.fcntl(BigInt(e.vm) as unknown as number, 'F_SETFD', 0n);
      expect(e.kvm.fcntl(e.vm, 'F_GETFD')).toBe(0);
      e.kvm.close(BigInt(e.vcpu) as unknown as number);
      expect(thrown(() => e.kvm.fstat(e.vcpu)).code).toBe('EBADF');
      expect(thrown(() => e.kvm.fstat(-1n as unknown as number)).code).toBe('EBADF');
    });
  });

  describe('fds of the wrong kind', () => {
    check([
      ['stats of a guest_memfd', (e) => e.kvm.stats(e.gmem), 'ENOTTY', /guest_memfd/],
      ['translate on a VM fd', (e) => e.kvm.translate(e.vm, 0), 'EINVAL', /fd \d+ is a vm fd, not a vCPU fd/],
      ['translate on /dev/kvm', (e) => e.kvm.translate(e.kvm.fd, 0), 'EINVAL', /fd 3 is a system fd, not a vCPU fd/],
      ['fallocate of a VM fd', (e) => e.kvm.fallocate(e.vm, K.FALLOC_FL_KEEP_SIZE, 0, 4096), 'ENODEV', /vm fd is not a regular file/],
      ['mmap of a VM fd', (e) => e.kvm.mmap(0, 4096, K.PROT_READ, K.MAP_SHARED, e.vm, 0), 'ENODEV', /vm fd cannot be mapped/],
      ['a guest_memfd as a memslot\'s guest_memfd from /dev/kvm\'s fd number', (e) => e.kvm.ioctl(e.vm, K.KVM_SET_USER_MEMORY_REGION2, {
        slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 0x1000, userspace_addr: e.mem, guest_memfd: e.kvm.fd,
      }), 'EINVAL', /guest_memfd/],
      ['runState of a VM fd', (e) => e.kvm.runState(e.vm), 'EINVAL', /vm fd, not a vCPU fd/],
      ['runState of a closed fd', (e) => e.kvm.runState(e.closed), 'EBADF', /fd \d+ is not open/],
      ['KVM_RUN on a VM fd', (e) => e.kvm.ioctl(e.vm, K.KVM_RUN, 0), 'ENOTTY', /not an ioctl of a vm fd/],
      ['KVM_RUN with an argument', (e) => e.kvm.ioctl(e.vcpu, K.KVM_RUN, 1), 'EINVAL', /KVM_RUN takes no argument/],
      ['KVM_RUN with an argument that is no integer', (e) => e.kvm.ioctl(e.vcpu, K.KVM_RUN, 'go'), 'EINVAL', /\barg\b.*integer/],
      ['a closed fd as a memslot\'s guest_memfd', (e) => e.kvm.ioctl(e.vm, K.KVM_SET_USER_MEMORY_REGION2, {
        slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 0x1000, userspace_addr: e.mem, guest_memfd: e.closed,
      }), 'EBADF', /guest_memfd/],
    ]);
  });

  describe('integer arguments', () => {
    const cases: Case[] = [];
    const intCalls: [string, string, (e: Env, v: unknown) => unknown][] = [
      ['ioctl request', 'request', (e, v) => e.kvm.ioctl(e.kvm.fd, v as number, 0)],
      ['KVM_CREATE_VM type', 'type', (e, v) => e.kvm.ioctl(e.kvm.fd, K.KVM_CREATE_VM, v)],
      ['KVM_CHECK_EXTENSION cap', 'cap', (e, v) => e.kvm.ioctl(e.kvm.fd, K.KVM_CHECK_EXTENSION, v)],
      ['KVM_CREATE_VCPU id', 'id', (e, v) => e.kvm.ioctl(e.vm, K.KVM_CREATE_VCPU, v)],
      ['fallocate mode', 'mode', (e, v) => e.kvm.fallocate(e.gmem, v, 0, 4096)],
      ['fallocate offset', 'offset', (e, v) => e.kvm.fallocate(e.gmem, K.FALLOC_FL_KEEP_SIZE, v, 4096)],
      ['fallocate len', 'len', (e, v) => e.kvm.fallocate(e.gmem, K.FALLOC_FL_KEEP_SIZE, 0, v)],
      ['mmap addr', 'addr', (e, v) => e.kvm.mmap(v, 4096, K.PROT_READ, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0)],
      ['mmap length', 'length', (e, v) => e.kvm.mmap(0, v, K.PROT_READ, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0)],
      ['mmap prot', 'prot', (e, v) => e.kvm.mmap(0, 4096, v, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0)],
      ['mmap flags', 'flags', (e, v) => e.kvm.mmap(0, 4096, K.PROT_READ, v, -1, 0)],
      ['mmap offset', 'offset', (e, v) => e.kvm.mmap(0, 4096, K.PROT_READ, K.MAP_SHARED, e.gmem, v)],
      ['munmap addr', 'addr', (e, v) => e.kvm.munmap(v, 4096)],
      ['munmap length', 'length', (e, v) => e.kvm.munmap(e.mem, v)],
      ['mprotect addr', 'addr', (e, v) => e.kvm.mprotect(v, 4096, K.PROT_READ)],
      ['mprotect length', 'length', (e, v) => e.kvm.mprotect(e.mem, v, K.PROT_READ)],
      ['mprotect prot', 'prot', (e, v) => e.kvm.mprotect(e.mem, 4096, v)],
      ['read hva', 'hva', (e, v) => e.kvm.read(v, 8)],
      ['read len', 'len', (e, v) => e.kvm.read(e.mem, v)],
      ['write hva', 'hva', (e, v) => e.kvm.write(v, new Uint8Array(8))],
      ['pread len', 'len', (e, v) => e.kvm.pread(e.gmem, v, 0)],
      ['pread offset', 'offset', (e, v) => e.kvm.pread(e.gmem, 8, v)],
      ['pwrite offset', 'offset', (e, v) => e.kvm.pwrite(e.gmem, new Uint8Array(8), v)],
      ['lseek offset', 'offset', (e, v) => e.kvm.lseek(e.gmem, v, K.SEEK_SET)],
      ['lseek whence', 'whence', (e, v) => e.kvm.lseek(e.gmem, 0, v)],
      ['ftruncate length', 'length', (e, v) => e.kvm.ftruncate(e.gmem, v)],
      ['fcntl F_SETFD arg', 'arg', (e, v) => e.kvm.fcntl(e.vm, 'F_SETFD', v)],
      ['translate gva', 'gva', (e, v) => e.kvm.translate(e.vcpu, v)],
    ];
    for (const [what, name, call] of intCalls) {
      for (const [kind, v] of NOT_INTEGERS) cases.push([`${what} that is ${kind}`, (e) => call(e, v), 'EINVAL', new RegExp(`\\b${name}\\b.*integer`)]);
      cases.push([`${what} past 64 bits`, (e) => call(e, 1n << 64n), 'EINVAL', new RegExp(`\\b${name}\\b.*does not fit`)]);
    }
    check(cases);

    it('takes number and bigint alike', () => {
      const e = current;
      expect(e.kvm.ioctl(e.kvm.fd, BigInt(K.KVM_CHECK_EXTENSION) as unknown as number, BigInt(K.KVM_CAP_NR_MEMSLOTS)))
        .toBe(e.kvm.ioctl(e.kvm.fd, K.KVM_CHECK_EXTENSION, K.KVM_CAP_NR_MEMSLOTS));
      expect(e.kvm.fallocate(e.gmem, BigInt(K.FALLOC_FL_KEEP_SIZE), 0n, 4096n)).toBe(0);
      e.kvm.write(e.mem + 8n, Uint8Array.of(7));
      expect(e.kvm.read(Number(e.mem) + 8, 1n)[0]).toBe(7);
    });
  });

  describe('negative, huge and unaligned numbers', () => {
    check([
      ['a negative VM type', (e) => e.kvm.ioctl(e.kvm.fd, K.KVM_CREATE_VM, -1), 'EINVAL', /type = -1 does not fit/],
      ['a negative vCPU id', (e) => e.kvm.ioctl(e.vm, K.KVM_CREATE_VCPU, -1), 'EINVAL', /id = -1 does not fit/],
      ['a vCPU id past KVM_MAX_VCPU_IDS', (e) => e.kvm.ioctl(e.vm, K.KVM_CREATE_VCPU, 4096), 'EINVAL', /vcpu id 4096/],
      ['a request past 32 bits', (e) => e.kvm.ioctl(e.kvm.fd, 2 ** 32, 0), 'EINVAL', /request = 4294967296 does not fit in u32/],
      ['a negative fallocate offset', (e) => e.kvm.fallocate(e.gmem, K.FALLOC_FL_KEEP_SIZE, -4096, 4096), 'EINVAL', /offset -4096 is negative/],
      ['a zero fallocate len', (e) => e.kvm.fallocate(e.gmem, K.FALLOC_FL_KEEP_SIZE, 0, 0), 'EINVAL', /len 0 is not positive/],
      ['an unaligned fallocate offset', (e) => e.kvm.fallocate(e.gmem, K.FALLOC_FL_KEEP_SIZE, 1, 4096), 'EINVAL', /offset 0x1 is not page-aligned/],
      ['an unaligned fallocate len', (e) => e.kvm.fallocate(e.gmem, K.FALLOC_FL_KEEP_SIZE, 0, 100), 'EINVAL', /len 0x64 is not page-aligned/],
      ['a fallocate range past the largest file', (e) => e.kvm.fallocate(e.gmem, K.FALLOC_FL_KEEP_SIZE, 2n ** 62n, 2n ** 62n), 'EFBIG', /offset \+ len/],
      ['a zero mmap length', (e) => e.kvm.mmap(0, 0, K.PROT_READ, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0), 'EINVAL', /length is 0/],
      ['a negative mmap length', (e) => e.kvm.mmap(0, -4096, K.PROT_READ, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0), 'EINVAL', /length = -4096 does not fit/],
      ['an mmap length past user space', (e) => e.kvm.mmap(0, 2n ** 60n, K.PROT_READ, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0), 'ENOMEM', /length 0x1000000000000000/],
      ['an unaligned mmap offset', (e) => e.kvm.mmap(0, 4096, K.PROT_READ, K.MAP_SHARED, e.gmem, 100), 'EINVAL', /offset 0x64 is not page-aligned/],
      ['unknown mmap prot bits', (e) => e.kvm.mmap(0, 4096, 0x100, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0), 'EINVAL', /prot 0x100 has unknown bits/],
      ['an unaligned MAP_FIXED addr', (e) => e.kvm.mmap(0x10001, 4096, K.PROT_READ, K.MAP_PRIVATE | K.MAP_ANONYMOUS | K.MAP_FIXED, -1, 0), 'EINVAL', /MAP_FIXED addr 0x10001/],
      ['an unaligned munmap addr', (e) => e.kvm.munmap(e.mem + 1n, 4096), 'EINVAL', /addr 0x[0-9a-f]+ is not page-aligned/],
      ['a zero munmap length', (e) => e.kvm.munmap(e.mem, 0), 'EINVAL', /is empty or leaves user space/],
      ['an unaligned mprotect addr', (e) => e.kvm.mprotect(e.mem + 1n, 4096, K.PROT_READ), 'EINVAL', /addr 0x[0-9a-f]+ is not page-aligned/],
      ['a negative pread offset', (e) => e.kvm.pread(e.gmem, 8, -1), 'EINVAL', /offset -1 is negative/],
      ['a negative ftruncate length', (e) => e.kvm.ftruncate(e.gmem, -1), 'EINVAL', /length -1 is negative/],
      ['an lseek whence past SEEK_HOLE', (e) => e.kvm.lseek(e.gmem, 0, 5), 'EINVAL', /whence 5/],
      ['a negative read len', (e) => e.kvm.read(e.mem, -1), 'EINVAL', /len = -1 does not fit/],
      ['a read that wraps past 2^64', (e) => e.kvm.read((1n << 64n) - 4n, 8), 'EINVAL', /hva \+ length wraps/],
      ['an unknown fcntl command', (e) => e.kvm.fcntl(e.vm, 1234), 'EINVAL', /fcntl command 1234/],
      ['a guest_memfd size that is not page-aligned', (e) => e.kvm.ioctl(e.vm, K.KVM_CREATE_GUEST_MEMFD, { size: 100 }), 'EINVAL', /size 0x64/],
      ['a negative guest_memfd size', (e) => e.kvm.ioctl(e.vm, K.KVM_CREATE_GUEST_MEMFD, { size: -4096 }), 'EINVAL', /kvm_create_guest_memfd\.size = -4096 does not fit/],
      ['a memslot of unaligned size', (e) => e.kvm.ioctl(e.vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: 100, userspace_addr: e.mem }), 'EINVAL', /memory_size/],
      ['a memslot at an unaligned gpa', (e) => e.kvm.ioctl(e.vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 1, memory_size: 4096, userspace_addr: e.mem }), 'EINVAL', /guest_phys_addr/],
      ['a memslot at an unaligned userspace_addr', (e) => e.kvm.ioctl(e.vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: 4096, userspace_addr: e.mem + 1n }), 'EINVAL', /userspace_addr/],
      ['a memslot id past 32 bits', (e) => e.kvm.ioctl(e.vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 2 ** 32, guest_phys_addr: 0, memory_size: 4096, userspace_addr: e.mem }), 'EINVAL', /kvm_userspace_memory_region\.slot = 4294967296 does not fit in u32/],
      ['attributes at an unaligned address', (e) => e.kvm.ioctl(e.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 1, size: 4096, attributes: 0 }), 'EINVAL', /address and size must be page-aligned/],
      ['a pre-fault of size 0', (e) => e.kvm.ioctl(e.vcpu, K.KVM_PRE_FAULT_MEMORY, { gpa: 0, size: 0 }), 'EINVAL', /size non-zero/],
      ['a translate cpl of 4', (e) => e.kvm.translate(e.vcpu, 0, { cpl: 4 }), 'EINVAL', /options\.cpl/],
    ]);
  });

  describe('structs: not an object, missing, extra or mistyped fields', () => {
    const structs: [string, number, 'vm' | 'vcpu', Record<string, unknown>, string][] = [
      ['kvm_userspace_memory_region', K.KVM_SET_USER_MEMORY_REGION, 'vm', { slot: 0, guest_phys_addr: 0, memory_size: 0 }, 'memory_size'],
      ['kvm_userspace_memory_region2', K.KVM_SET_USER_MEMORY_REGION2, 'vm', { slot: 0, guest_phys_addr: 0, memory_size: 0 }, 'guest_phys_addr'],
      ['kvm_create_guest_memfd', K.KVM_CREATE_GUEST_MEMFD, 'vm', { size: 4096 }, 'size'],
      ['kvm_memory_attributes', K.KVM_SET_MEMORY_ATTRIBUTES, 'vm', { address: 0, size: 4096, attributes: 0 }, 'attributes'],
      ['kvm_enable_cap', K.KVM_ENABLE_CAP, 'vm', { cap: K.KVM_CAP_EXIT_HYPERCALL }, 'cap'],
      ['kvm_pre_fault_memory', K.KVM_PRE_FAULT_MEMORY, 'vcpu', { gpa: 0, size: 4096 }, 'gpa'],
      ['kvm_translation', K.KVM_TRANSLATE, 'vcpu', { linear_address: 0 }, 'linear_address'],
      ['kvm_regs', K.KVM_SET_REGS, 'vcpu', {}, 'rip'],
      ['kvm_sregs', K.KVM_SET_SREGS, 'vcpu', {}, 'cr0'],
    ];
    const cases: Case[] = [];
    for (const [name, request, on, valid, key] of structs) {
      const fd = (e: Env) => (on === 'vm' ? e.vm : e.vcpu);
      for (const [what, arg] of [['null', null], ['a number', 0x1000], ['a string', 'x'], ['an array', [1, 2]], ['missing', undefined]] as [string, unknown][]) {
        cases.push([`${name} that is ${what}`, (e) => e.kvm.ioctl(fd(e), request, arg), 'EFAULT', new RegExp(`struct ${name}`)]);
      }
      cases.push([`${name} with an extra field`, (e) => e.kvm.ioctl(fd(e), request, { ...valid, bogus: 1 }), 'EINVAL', new RegExp(`struct ${name} has no field bogus`)]);
      cases.push([`${name} with a string ${key}`, (e) => e.kvm.ioctl(fd(e), request, { ...valid, [key]: '0' }), 'EINVAL', new RegExp(`${name}\\.${key} must be an integer`)]);
      cases.push([`${name} with a fractional ${key}`, (e) => e.kvm.ioctl(fd(e), request, { ...valid, [key]: 0.5 }), 'EINVAL', new RegExp(`${name}\\.${key} must be an integer`)]);
      cases.push([`${name} with a negative ${key}`, (e) => e.kvm.ioctl(fd(e), request, { ...valid, [key]: -1 }), 'EINVAL', new RegExp(`${name}\\.${key} = -1 does not fit`)]);
      const required = Object.keys(valid)[0];
      if (required && name !== 'kvm_regs' && name !== 'kvm_sregs') {
        const { [required]: _gone, ...rest } = valid;
        cases.push([`${name} without ${required}`, (e) => e.kvm.ioctl(fd(e), request, rest), 'EINVAL', new RegExp(`${name}\\.${required} is required`)]);
      }
    }
    cases.push(
      ['kvm_userspace_memory_region2 with pad2 longer than 14', (e) => e.kvm.ioctl(e.vm, K.KVM_SET_USER_MEMORY_REGION2, { slot: 0, guest_phys_addr: 0, memory_size: 0, pad2: new Array(15).fill(0) }), 'EINVAL', /pad2 must be an array of at most 14/],
      ['kvm_userspace_memory_region2 with pad2 that is not an array', (e) => e.kvm.ioctl(e.vm, K.KVM_SET_USER_MEMORY_REGION2, { slot: 0, guest_phys_addr: 0, memory_size: 0, pad2: 5 }), 'EINVAL', /pad2 must be an array/],
      ['kvm_sregs with a segment that is not an object', (e) => e.kvm.ioctl(e.vcpu, K.KVM_SET_SREGS, { cs: 5 }), 'EFAULT', /kvm_sregs\.cs/],
      ['kvm_sregs with a mistyped segment field', (e) => e.kvm.ioctl(e.vcpu, K.KVM_SET_SREGS, { cs: { l: 'yes' } }), 'EINVAL', /kvm_sregs\.cs\.l must be an integer/],
      ['kvm_sregs with a segment field that does not fit', (e) => e.kvm.ioctl(e.vcpu, K.KVM_SET_SREGS, { cs: { selector: 0x10000 } }), 'EINVAL', /kvm_sregs\.cs\.selector = 65536 does not fit in u16/],
      ['kvm_cpuid2 with an extra field', (e) => e.kvm.ioctl(e.vcpu, K.KVM_SET_CPUID2, { nent: 0, entries: [], bogus: 1 }), 'EINVAL', /kvm_cpuid2 has no field bogus/],
      ['kvm_cpuid2 that is null', (e) => e.kvm.ioctl(e.vcpu, K.KVM_SET_CPUID2, null), 'EFAULT', /struct kvm_cpuid2/],
      ['kvm_cpuid2 with a fractional nent', (e) => e.kvm.ioctl(e.vcpu, K.KVM_SET_CPUID2, { nent: 0.5, entries: [] }), 'EINVAL', /kvm_cpuid2\.nent must be an integer/],
      ['kvm_cpuid2 with fewer entries than nent', (e) => e.kvm.ioctl(e.vcpu, K.KVM_SET_CPUID2, { nent: 2, entries: [{ function: 0 }] }), 'EFAULT', /entries holds 1 of nent 2/],
      ['kvm_cpuid2 entry with a mistyped field', (e) => e.kvm.ioctl(e.vcpu, K.KVM_SET_CPUID2, { nent: 1, entries: [{ function: 'x' }] }), 'EINVAL', /kvm_cpuid2\.entries\[0\]\.function must be an integer/],
      ['kvm_cpuid2 entry that is not an object', (e) => e.kvm.ioctl(e.vcpu, K.KVM_SET_CPUID2, { nent: 1, entries: [7] }), 'EFAULT', /kvm_cpuid2\.entries\[0\]/],
    );
    check(cases);
  });

  describe('data buffers', () => {
    check([
      ['write data that is an array', (e) => e.kvm.write(e.mem, [1, 2] as unknown as Uint8Array), 'EINVAL', /data must be a Uint8Array/],
      ['fd write data that is a string', (e) => e.kvm.fdWrite(e.gmem, 'abc' as unknown as Uint8Array), 'EINVAL', /data must be a Uint8Array/],
      ['pwrite data that is null', (e) => e.kvm.pwrite(e.gmem, null as unknown as Uint8Array, 0), 'EINVAL', /data must be a Uint8Array/],
    ]);
  });
});
