import { describe, expect, it } from 'vitest';
import { Kvm, KVM_VCPU_MMAP_SIZE } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';

const open = (host: 'tdp' | 'shadow' = 'tdp', more: Parameters<typeof Kvm.open>[0] = {}) => Kvm.open({ ramMiB: 16, host, ...more });
const fails = (code: string, re?: RegExp) => expect.objectContaining({ code, ...(re ? { message: expect.stringMatching(re) } : {}) });

async function vmOf(host: 'tdp' | 'shadow' = 'tdp', type = 0) {
  const kvm = await open(host);
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, type) as number;
  return { kvm, vm };
}

/** Every memslot of `vm` as the core holds them. */
function slots(kvm: Kvm, vm: number): unknown[] {
  const x = kvm.core.exports;
  const id = (kvm as unknown as { fds: { lookup(fd: number): { object: { id: number } } } }).fds.lookup(vm).object.id;
  return Array.from({ length: x.memslot_count(id) }, (_, i) => [
    x.memslot_id(id, i), x.memslot_flags(id, i), x.memslot_base_gfn(id, i), x.memslot_npages(id, i),
    x.memslot_userspace_addr(id, i), x.memslot_gmem_file(id, i), x.memslot_gmem_pgoff(id, i),
  ]);
}

describe('/dev/kvm', () => {
  it('is fd 3; KVM_GET_API_VERSION is 12 and KVM_GET_VCPU_MMAP_SIZE 12288, both EINVAL with an argument', async () => {
    const kvm = await open();
    expect(kvm.fd).toBe(3);
    expect(kvm.ioctl(kvm.fd, K.KVM_GET_API_VERSION)).toBe(12);
    expect(kvm.ioctl(kvm.fd, K.KVM_GET_VCPU_MMAP_SIZE, 0n)).toBe(KVM_VCPU_MMAP_SIZE);
    expect(() => kvm.ioctl(kvm.fd, K.KVM_GET_API_VERSION, 1)).toThrow(fails('EINVAL'));
    expect(() => kvm.ioctl(kvm.fd, K.KVM_GET_VCPU_MMAP_SIZE, 1)).toThrow(fails('EINVAL'));
  });

  it('unknown requests: EINVAL on /dev/kvm and vCPU fds (x86 defaults), ENOTTY on VM and guest_memfd fds', async () => {
    const { kvm, vm } = await vmOf();
    const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 4096 }) as number;
    expect(() => kvm.ioctl(kvm.fd, K.KVM_CREATE_GUEST_MEMFD, { size: 4096 })).toThrow(fails('EINVAL'));
    expect(() => kvm.ioctl(vm, K.KVM_PRE_FAULT_MEMORY, { gpa: 0, size: 4096 })).toThrow(fails('ENOTTY'));
    expect(() => kvm.ioctl(vcpu, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0, size: 4096, attributes: 0 })).toThrow(fails('EINVAL'));
    expect(() => kvm.ioctl(vcpu, K.KVM_CHECK_EXTENSION, 1)).toThrow(fails('EINVAL'));
    expect(() => kvm.ioctl(g, K.KVM_CHECK_EXTENSION, 1)).toThrow(fails('ENOTTY'));
    expect(() => kvm.ioctl(99, K.KVM_GET_API_VERSION)).toThrow(fails('EBADF'));
    expect(() => kvm.ioctl(kvm.fd, 'KVM_GET_API_VERSION' as unknown as number)).toThrow(fails('EINVAL', /request/));
    expect(() => kvm.ioctl(kvm.fd, -1)).toThrow(fails('EINVAL', /request/));
    expect(kvm.ioctl(kvm.fd, BigInt(K.KVM_GET_API_VERSION) as unknown as number)).toBe(12);
  });

  it('KVM_CHECK_EXTENSION, shadow profile: the measured host, on /dev/kvm and on a VM fd', async () => {
    const { kvm, vm } = await vmOf('shadow');
    const want: [number, number][] = [
      [K.KVM_CAP_NR_MEMSLOTS, 32764], [K.KVM_CAP_READONLY_MEM, 1], [K.KVM_CAP_MULTI_ADDRESS_SPACE, 0],
      [K.KVM_CAP_EXIT_HYPERCALL, 4096], [K.KVM_CAP_USER_MEMORY2, 1], [K.KVM_CAP_MEMORY_FAULT_INFO, 1],
      [K.KVM_CAP_MEMORY_ATTRIBUTES, 0], [K.KVM_CAP_GUEST_MEMFD, 1], [K.KVM_CAP_VM_TYPES, 1],
      [K.KVM_CAP_PRE_FAULT_MEMORY, 0], [K.KVM_CAP_GUEST_MEMFD_FLAGS, 3], [9999, 0],
    ];
    for (const [cap, v] of want) {
      expect(kvm.ioctl(kvm.fd, K.KVM_CHECK_EXTENSION, cap)).toBe(v);
      expect(kvm.ioctl(vm, K.KVM_CHECK_EXTENSION, BigInt(cap))).toBe(v);
    }
  });

  it('KVM_CHECK_EXTENSION, tdp profile: VM types, pre-fault, attributes and guest_memfd flags per VM type', async () => {
    const kvm = await open('tdp');
    const def = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, K.KVM_X86_DEFAULT_VM) as number;
    const sw = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, K.KVM_X86_SW_PROTECTED_VM) as number;
    const cap = (fd: number, c: number) => kvm.ioctl(fd, K.KVM_CHECK_EXTENSION, c);
    expect([cap(kvm.fd, K.KVM_CAP_VM_TYPES), cap(kvm.fd, K.KVM_CAP_PRE_FAULT_MEMORY)]).toEqual([3, 1]);
    expect([cap(kvm.fd, K.KVM_CAP_MEMORY_ATTRIBUTES), cap(def, K.KVM_CAP_MEMORY_ATTRIBUTES), cap(sw, K.KVM_CAP_MEMORY_ATTRIBUTES)]).toEqual([8, 0, 8]);
    expect([cap(kvm.fd, K.KVM_CAP_GUEST_MEMFD_FLAGS), cap(def, K.KVM_CAP_GUEST_MEMFD_FLAGS), cap(sw, K.KVM_CAP_GUEST_MEMFD_FLAGS)]).toEqual([3, 3, 1]);
    const nd = await open('tdp', { noDirectMapProposal: true });
    const ndSw = nd.ioctl(nd.fd, K.KVM_CREATE_VM, 1) as number;
    expect([nd.ioctl(nd.fd, K.KVM_CHECK_EXTENSION, K.KVM_CAP_GUEST_MEMFD_FLAGS), nd.ioctl(ndSw, K.KVM_CHECK_EXTENSION, K.KVM_CAP_GUEST_MEMFD_FLAGS)]).toEqual([7, 5]);
  });

  it('KVM_CREATE_VM: types per profile, EINVAL otherwise; fds count up from 4', async () => {
    const shadow = await open('shadow');
    expect(shadow.ioctl(shadow.fd, K.KVM_CREATE_VM, 0)).toBe(4);
    for (const t of [1, 2, 3, 4, 5, 6, 0x100]) expect(() => shadow.ioctl(shadow.fd, K.KVM_CREATE_VM, t)).toThrow(fails('EINVAL', /VM type/));
    const tdp = await open('tdp');
    expect(tdp.ioctl(tdp.fd, K.KVM_CREATE_VM, 1)).toBe(4);
    expect(() => tdp.ioctl(tdp.fd, K.KVM_CREATE_VM, 2)).toThrow(fails('EINVAL'));
    expect(() => tdp.ioctl(tdp.fd, K.KVM_CREATE_VM, -1)).toThrow(fails('EINVAL', /type/));
    expect(() => tdp.ioctl(tdp.fd, K.KVM_CREATE_VM, 0.5)).toThrow(fails('EINVAL', /type/));
  });

  it('KVM_GET_SUPPORTED_CPUID fills the caller\'s struct; too small an nent is E2BIG', async () => {
    const kvm = await open();
    const arg: Record<string, unknown> = { nent: 100 };
    expect(kvm.ioctl(kvm.fd, K.KVM_GET_SUPPORTED_CPUID, arg)).toBe(arg);
    const entries = arg.entries as { function: number; eax: number; edx: number }[];
    expect(arg.nent).toBe(entries.length);
    expect(entries.find((e) => e.function === 0x80000008)?.eax! & 0xff).toBe(46);
    expect((entries.find((e) => e.function === 0x80000001)!.edx >>> 20) & 1).toBe(1);
    expect(() => kvm.ioctl(kvm.fd, K.KVM_GET_SUPPORTED_CPUID, { nent: 2 })).toThrow(fails('E2BIG'));
    expect(() => kvm.ioctl(kvm.fd, K.KVM_GET_SUPPORTED_CPUID, { nent: 0 })).toThrow(fails('E2BIG'));
    expect(() => kvm.ioctl(kvm.fd, K.KVM_GET_SUPPORTED_CPUID)).toThrow(fails('EFAULT'));
  });

  it('Kvm.open seed: the same seed places pages in the same frames, another seed elsewhere', async () => {
    const firstFrame = async (seed: number) => {
      const kvm = await open('tdp', { seed });
      const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
      const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x1000 }) as number;
      kvm.fallocate(g, K.FALLOC_FL_KEEP_SIZE, 0, 0x1000);
      return kvm.core.exports.gmem_lookup_pfn(0, 0n);
    };
    const [a, b, c] = [await firstFrame(1), await firstFrame(1), await firstFrame(2)];
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('Kvm.open rejects bad options', async () => {
    await expect(Kvm.open({ ramMiB: 0 })).rejects.toThrow(/ramMiB/);
    await expect(Kvm.open({ host: 'ept' as 'tdp' })).rejects.toThrow(/host/);
  });
});

describe('VM fd', () => {
  it('KVM_CREATE_VCPU: EINVAL for id >= 4096, EEXIST for a duplicate, EINVAL when the machine has no vCPU record left', async () => {
    const kvm = await open('tdp', { maxVcpus: 2 });
    const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    expect(() => kvm.ioctl(vm, K.KVM_CREATE_VCPU, 4096)).toThrow(fails('EINVAL', /4096/));
    const v0 = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    expect(() => kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0)).toThrow(fails('EEXIST'));
    kvm.ioctl(vm, K.KVM_CREATE_VCPU, 4095);
    expect(() => kvm.ioctl(vm, K.KVM_CREATE_VCPU, 7)).toThrow(fails('EINVAL', /maxVcpus/));
    kvm.close(v0);
    expect(kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0)).toBe(v0);
  });

  it('KVM_ENABLE_CAP(EXIT_HYPERCALL): mask within 1<<12, flags 0, only that capability', async () => {
    const { kvm, vm } = await vmOf();
    expect(kvm.ioctl(vm, K.KVM_ENABLE_CAP, { cap: K.KVM_CAP_EXIT_HYPERCALL, args: [1 << 12] })).toBe(0);
    expect(kvm.ioctl(vm, K.KVM_ENABLE_CAP, { cap: K.KVM_CAP_EXIT_HYPERCALL, args: [0] })).toBe(0);
    expect(() => kvm.ioctl(vm, K.KVM_ENABLE_CAP, { cap: K.KVM_CAP_EXIT_HYPERCALL, args: [1 << 13] })).toThrow(fails('EINVAL', /args\[0\]/));
    expect(() => kvm.ioctl(vm, K.KVM_ENABLE_CAP, { cap: K.KVM_CAP_EXIT_HYPERCALL, flags: 1, args: [1 << 12] })).toThrow(fails('EINVAL', /flags/));
    expect(() => kvm.ioctl(vm, K.KVM_ENABLE_CAP, { cap: 9999 })).toThrow(fails('EINVAL'));
    expect(() => kvm.ioctl(vm, K.KVM_ENABLE_CAP, { args: [0] })).toThrow(fails('EINVAL', /cap is required/));
  });

  it('KVM_SET_USER_MEMORY_REGION: create, flags-only, move, delete reach the core; a failed call changes nothing', async () => {
    const { kvm, vm } = await vmOf();
    const mem = kvm.mmap(0, 1 << 20, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    const region = (o: object) => kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: 0, memory_size: 0x4000, userspace_addr: mem, ...o });
    expect(region({})).toBe(0);
    expect(slots(kvm, vm)).toEqual([[0, 0, 0n, 4n, mem, -1, 0n]]);
    region({ flags: K.KVM_MEM_LOG_DIRTY_PAGES });
    region({ flags: K.KVM_MEM_LOG_DIRTY_PAGES, guest_phys_addr: 0x100000 });
    expect(slots(kvm, vm)).toEqual([[0, 1, 0x100n, 4n, mem, -1, 0n]]);
    region({ slot: 1, guest_phys_addr: 0x200000 });
    const before = slots(kvm, vm);
    for (const bad of [{ slot: 1, guest_phys_addr: 0x102000 }, { memory_size: 0x8000 }, { slot: 2, memory_size: 0x1001 }, { flags: K.KVM_MEM_GUEST_MEMFD }, { slot: 40000 }]) {
      expect(() => region(bad)).toThrow(KvmErrorLike);
      expect(slots(kvm, vm)).toEqual(before);
    }
    expect(region({ slot: 1, memory_size: 0 })).toBe(0);
    expect(() => region({ slot: 1, memory_size: 0 })).toThrow(fails('EINVAL', /nothing to delete/));
    expect(() => region({ bogus: 1 })).toThrow(fails('EINVAL', /no field bogus/));
    expect(() => kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION)).toThrow(fails('EFAULT'));
    expect(() => region({ userspace_addr: -4096 })).toThrow(fails('EINVAL', /userspace_addr/));
  });

  it('KVM_SET_USER_MEMORY_REGION2 binds a guest_memfd; its close unbinds the slot, which stays and can be deleted', async () => {
    const { kvm, vm } = await vmOf();
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x10000, flags: 0 }) as number;
    const r2 = (o: object) => kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 0x4000, userspace_addr: 0, guest_memfd: g, guest_memfd_offset: 0x4000, ...o,
    });
    r2({});
    const file = (slots(kvm, vm)[0] as number[])[5];
    expect(file).toBeGreaterThanOrEqual(0);
    expect(slots(kvm, vm)).toEqual([[0, 4, 0n, 4n, 0n, file, 4n]]);
    expect(() => r2({ slot: 1, guest_phys_addr: 0x100000, guest_memfd_offset: 0x6000 })).toThrow(fails('EINVAL', /already bound/));
    r2({ slot: 1, guest_phys_addr: 0x100000, guest_memfd_offset: 0x8000 });
    expect(() => r2({ slot: 2, guest_phys_addr: 0x200000, guest_memfd: -1 })).toThrow(fails('EBADF'));
    expect(() => r2({ slot: 2, guest_phys_addr: 0x200000, guest_memfd: vm })).toThrow(fails('EINVAL', /not a guest_memfd/));
    expect(() => r2({})).toThrow(fails('EINVAL', /immutable/));
    const other = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    expect(() => kvm.ioctl(other, K.KVM_SET_USER_MEMORY_REGION2, { slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 0x1000, guest_memfd: g })).toThrow(fails('EINVAL', /another VM/));
    kvm.close(g);
    expect(slots(kvm, vm).map((s) => (s as unknown[])[5])).toEqual([-1, -1]);
    expect(kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION2, { slot: 0, guest_phys_addr: 0, memory_size: 0 })).toBe(0);
    expect(slots(kvm, vm)).toHaveLength(1);
  });

  it('KVM_CREATE_GUEST_MEMFD: flags per VM first, then size > 0 and page-aligned; reserved is not checked', async () => {
    const { kvm, vm } = await vmOf();
    expect(kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 1n << 40n, flags: 3, reserved: [1, 2] })).toBeGreaterThan(4);
    expect(kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 4096, flags: K.GUEST_MEMFD_FLAG_INIT_SHARED })).toBeGreaterThan(4);
    for (const size of [0, 4095, 2048, -4096, (1n << 64n) - 4096n]) {
      expect(() => kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size, flags: 0 })).toThrow(fails('EINVAL', /size/));
    }
    for (const flags of [4, 7, 1n << 63n]) expect(() => kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 4096, flags })).toThrow(fails('EINVAL', /flags/));
    expect(() => kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0, flags: 4 })).toThrow(fails('EINVAL', /flags/));
    const tdp = await open('tdp');
    const sw = tdp.ioctl(tdp.fd, K.KVM_CREATE_VM, 1) as number;
    expect(() => tdp.ioctl(sw, K.KVM_CREATE_GUEST_MEMFD, { size: 4096, flags: K.GUEST_MEMFD_FLAG_INIT_SHARED })).toThrow(fails('EINVAL'));
    expect(tdp.ioctl(sw, K.KVM_CREATE_GUEST_MEMFD, { size: 4096, flags: K.GUEST_MEMFD_FLAG_MMAP })).toBe(5);
  });

  it('KVM_SET_MEMORY_ATTRIBUTES: ENOTTY on shadow; on tdp flags, attributes, size/wrap, alignment in that order', async () => {
    const s = await vmOf('shadow');
    expect(() => s.kvm.ioctl(s.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0, size: 4096, attributes: 8 })).toThrow(fails('ENOTTY'));
    const { kvm } = await vmOf('tdp');
    const def = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    const sw = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 1) as number;
    const set = (vm: number, o: object) => kvm.ioctl(vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0x1000, size: 0x2000, attributes: 8, ...o });
    expect(() => set(def, {})).toThrow(fails('EINVAL', /attributes/));
    expect(set(def, { attributes: 0 })).toBe(0);
    expect(() => set(sw, { flags: 1, attributes: 1, size: 0 })).toThrow(fails('EINVAL', /flags/));
    expect(() => set(sw, { attributes: 1, size: 0 })).toThrow(fails('EINVAL', /attributes/));
    expect(() => set(sw, { size: 0, address: 1 })).toThrow(fails('EINVAL', /size is 0/));
    expect(() => set(sw, { address: (1n << 64n) - 4096n })).toThrow(fails('EINVAL', /wraps/));
    expect(() => set(sw, { address: 0x800 })).toThrow(fails('EINVAL', /aligned/));
    expect(set(sw, {})).toBe(0);
    const x = kvm.core.exports;
    const vmId = (kvm as unknown as { fds: { lookup(fd: number): { object: { id: number } } } }).fds.lookup(sw).object.id;
    expect([x.attr_get(vmId, 0n), x.attr_get(vmId, 1n), x.attr_get(vmId, 2n), x.attr_get(vmId, 3n)]).toEqual([0n, 8n, 8n, 0n]);
    expect(set(sw, { attributes: 0, size: 0x1000 })).toBe(0);
    expect(x.attr_get(vmId, 1n)).toBe(0n);
  });
});

describe('each ioctl on the wrong kind of fd', () => {
  it('gets the x86 default of that fd kind: EINVAL on /dev/kvm and vCPU fds, ENOTTY on VM and guest_memfd fds', async () => {
    const { kvm, vm } = await vmOf();
    const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 4096 }) as number;
    const own: Record<string, number[]> = {
      system: [K.KVM_GET_API_VERSION, K.KVM_CREATE_VM, K.KVM_GET_VCPU_MMAP_SIZE, K.KVM_GET_SUPPORTED_CPUID],
      vm: [K.KVM_CREATE_VCPU, K.KVM_SET_USER_MEMORY_REGION, K.KVM_SET_USER_MEMORY_REGION2, K.KVM_ENABLE_CAP, K.KVM_CREATE_GUEST_MEMFD, K.KVM_SET_MEMORY_ATTRIBUTES],
      vcpu: [K.KVM_GET_REGS, K.KVM_SET_REGS, K.KVM_GET_SREGS, K.KVM_SET_SREGS, K.KVM_SET_CPUID2, K.KVM_TRANSLATE, K.KVM_PRE_FAULT_MEMORY],
    };
    const fds: [number, string, string][] = [[kvm.fd, 'system', 'EINVAL'], [vm, 'vm', 'ENOTTY'], [vcpu, 'vcpu', 'EINVAL'], [g, 'guest_memfd', 'ENOTTY']];
    for (const [fd, kind, errno] of fds) {
      for (const [owner, requests] of Object.entries(own)) {
        if (owner === kind) continue;
        for (const r of requests) {
          expect(() => kvm.ioctl(fd, r, {}), `${kind} fd, request ${r.toString(16)}`).toThrow(fails(errno, new RegExp(`not an ioctl of a ${kind} fd`)));
        }
      }
    }
  });

  it('a memslot table full at the emulator\'s limit is ENOMEM and changes nothing', async () => {
    const { kvm, vm } = await vmOf();
    const max = kvm.core.exports.MEMSLOTS_MAX.value;
    for (let i = 0; i < max; i++) kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: i, guest_phys_addr: i * 4096, memory_size: 4096 });
    expect(() => kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: max, guest_phys_addr: max * 4096, memory_size: 4096 })).toThrow(fails('ENOMEM', /limit/));
    expect(slots(kvm, vm)).toHaveLength(max);
    expect(kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0x10000000, memory_size: 4096 })).toBe(0);
  });
});

describe('lifetimes', () => {
  it('a guest_memfd keeps its VM: fallocate works after the VM fd is closed; the last close frees the VM', async () => {
    const { kvm, vm } = await vmOf();
    const x = kvm.core.exports;
    const free0 = x.phys_free_frames();
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000 }) as number;
    const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    kvm.close(vm);
    expect(() => kvm.ioctl(vm, K.KVM_CHECK_EXTENSION, 0)).toThrow(fails('EBADF'));
    expect(kvm.fallocate(g, K.FALLOC_FL_KEEP_SIZE, 0, 0x4000)).toBe(0);
    kvm.close(g);
    kvm.close(vcpu);
    expect(() => kvm.close(g)).toThrow(fails('EBADF'));
    // The VM's EPT root, allocated with the VM before free0, went with it.
    expect(x.phys_free_frames()).toBe(free0 + 1);
    expect(x.vm_alloc()).toBe(0);
  });

  it('a mapping keeps the guest_memfd inode and its pages after the fd is closed; munmap frees them', async () => {
    const { kvm, vm } = await vmOf();
    const x = kvm.core.exports;
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000, flags: 3 }) as number;
    const m = kvm.mmap(0, 0x4000, K.PROT_READ | K.PROT_WRITE, K.MAP_SHARED, g, 0);
    const free0 = x.phys_free_frames();
    kvm.writeU8(m + 0x1000n, 0x77);
    kvm.close(g);
    kvm.close(vm);
    expect(kvm.readU8(m + 0x1000n)).toBe(0x77);
    kvm.munmap(m, 0x4000);
    expect(x.phys_free_frames()).toBeGreaterThanOrEqual(free0);
    expect(x.gmem_refcount(0)).toBe(0);
  });
});

const KvmErrorLike = expect.objectContaining({ name: 'KvmError' });
