import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';

const fails = (code: string, re?: RegExp) => expect.objectContaining({ code, ...(re ? { message: expect.stringMatching(re) } : {}) });

async function vcpuOf(host: 'tdp' | 'shadow' = 'tdp') {
  const kvm = await Kvm.open({ ramMiB: 16, host });
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
  const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
  const x = kvm.core.exports;
  const rec = (kvm as unknown as { fds: { lookup(fd: number): { object: { record: number } } } }).fds.lookup(vcpu).object.record;
  const word = (field: number, bytes = 8) => {
    const p = x.vcpu_ptr(rec) + field;
    const v = new DataView(kvm.core.memory.buffer);
    return bytes === 8 ? v.getBigUint64(p, true) : BigInt(v.getUint32(p, true));
  };
  return { kvm, vm, vcpu, word, Vcpu: x.Vcpu };
}

const longMode = {
  cr0: K.X86_CR0_PE | K.X86_CR0_PG | K.X86_CR0_WP, cr3: 0x1000n, cr4: K.X86_CR4_PAE, efer: K.EFER_LME | K.EFER_LMA | K.EFER_NX,
  cs: { l: 1, dpl: 0, present: 1, s: 1, type: 11 }, ss: { dpl: 0, present: 1, s: 1, type: 3 },
};

describe('KVM_GET/SET_REGS', () => {
  it('starts at the reset vector; SET then GET round-trips, RFLAGS bit 1 stays set', async () => {
    const { kvm, vcpu } = await vcpuOf();
    const regs = kvm.ioctl(vcpu, K.KVM_GET_REGS, {}) as Record<string, number>;
    expect([regs.rip, regs.rflags, regs.rax]).toEqual([0xfff0, 2, 0]);
    kvm.ioctl(vcpu, K.KVM_SET_REGS, { rip: 0x1000n, rax: (1n << 64n) - 1n, rflags: 0x40000 });
    const out: Record<string, unknown> = {};
    expect(kvm.ioctl(vcpu, K.KVM_GET_REGS, out)).toBe(out);
    expect(out).toMatchObject({ rip: 0x1000, rax: (1n << 64n) - 1n, rflags: 0x40002, rbx: 0 });
    expect(() => kvm.ioctl(vcpu, K.KVM_SET_REGS, { rpi: 1 })).toThrow(fails('EINVAL', /rpi/));
    expect(() => kvm.ioctl(vcpu, K.KVM_GET_REGS)).toThrow(fails('EFAULT'));
  });
});

describe('KVM_GET/SET_SREGS', () => {
  it('starts in real mode; long-mode state reaches the vCPU record (CR0, CR3, CR4, EFER, CPL)', async () => {
    const { kvm, vcpu, word, Vcpu } = await vcpuOf();
    const s = kvm.ioctl(vcpu, K.KVM_GET_SREGS, {}) as Record<string, Record<string, number> & number>;
    expect([s.cr0, s.cs.selector, s.cs.base]).toEqual([0x60000010, 0xf000, 0xffff0000]);
    expect(word(Vcpu.Cr0)).toBe(0x60000010n);
    kvm.ioctl(vcpu, K.KVM_SET_SREGS, { ...longMode, ss: { ...longMode.ss, dpl: 3 } });
    expect([word(Vcpu.Cr0), word(Vcpu.Cr3), word(Vcpu.Cr4), word(Vcpu.Efer)]).toEqual([longMode.cr0, 0x1000n, longMode.cr4, longMode.efer]);
    expect(word(Vcpu.Cpl, 4)).toBe(3n);
    expect((kvm.ioctl(vcpu, K.KVM_GET_SREGS, {}) as { cs: { l: number } }).cs.l).toBe(1);
  });

  it('kvm_is_valid_sregs: each rule is EINVAL and changes nothing', async () => {
    const { kvm, vcpu, word, Vcpu } = await vcpuOf();
    const bad: [object, RegExp][] = [
      [{ ...longMode, cr4: 0n }, /PAE/],
      [{ ...longMode, efer: K.EFER_LME }, /LMA/],
      [{ ...longMode, cr3: 1n << 40n }, /MAXPHYADDR/],
      [{ efer: K.EFER_LMA }, /LMA/],
      [{ cs: { l: 1 } }, /cs\.l/],
      [{ cr4: K.X86_CR4_SMEP }, /reserved/],
      [{ cr4: 1n << 30n }, /reserved/],
      [{ cr0: 1n << 32n }, /above 31/],
      [{ cr0: K.X86_CR0_NW }, /NW/],
      [{ cr0: K.X86_CR0_PG }, /PE/],
      [{ cr0: 0x60000010n, apic_base: 0xfee00000n | (1n << 11n) | (1n << 10n) }, /apic_base/],
      [{ cr0: 0x60000010n, apic_base: 0xfee00001n }, /apic_base/],
      [{ cr0: 0x60000010n, apic_base: 1n << 36n }, /apic_base/],
    ];
    const reset = kvm.ioctl(vcpu, K.KVM_GET_SREGS, {}) as { apic_base: number };
    expect(reset.apic_base).toBe(0xfee00900);
    expect(kvm.ioctl(vcpu, K.KVM_SET_SREGS, { cr0: 0x60000010n, apic_base: 0xfee00900n })).toBe(0);
    expect(kvm.ioctl(vcpu, K.KVM_SET_SREGS, { cr0: 0x60000010n, apic_base: 0xfef00800n })).toBe(0);
    for (const [sregs, re] of bad) {
      expect(() => kvm.ioctl(vcpu, K.KVM_SET_SREGS, sregs)).toThrow(fails('EINVAL', re));
      expect(word(Vcpu.Cr0)).toBe(0x60000010n);
    }
  });
});

describe('vCPU records', () => {
  it('a record reused after a vCPU is closed starts from the reset state, with nothing of the old vCPU', async () => {
    const { kvm, vm, vcpu, word, Vcpu } = await vcpuOf();
    const x = kvm.core.exports;
    const rec = (kvm as unknown as { fds: { lookup(fd: number): { object: { record: number } } } }).fds.lookup(vcpu).object.record;
    kvm.ioctl(vcpu, K.KVM_SET_SREGS, longMode);
    x.vcpu_set_pkeys(rec, 0xc, 0x3);
    x.vcpu_set_walk_flags(rec, 1);
    x.vcpu_set_ept(rec, 0x5000n, 46, 9);
    kvm.close(vcpu);
    const again = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 1) as number;
    expect((kvm as unknown as { fds: { lookup(fd: number): { object: { record: number } } } }).fds.lookup(again).object.record).toBe(rec);
    // The EPT pointer is the VM's (kvm_mmu_vcpu_init), not the one set by hand.
    const vmId = (kvm as unknown as { fds: { lookup(fd: number): { object: { id: number } } } }).fds.lookup(vm).object.id;
    expect([word(Vcpu.Cr0), word(Vcpu.Efer), word(Vcpu.Eptp), word(Vcpu.Pkru, 4), word(Vcpu.Pkrs, 4), word(Vcpu.WalkFlags, 4)])
      .toEqual([0x60000010n, 0n, x.ept_make_eptp(x.kvm_mmu_ept_root(vmId), true), 0n, 0n, 0n]);
  });
});

describe('KVM_SET_CPUID2', () => {
  it('stores vendor, MAXPHYADDR and feature bits in the record; CR4 bits follow the CPUID', async () => {
    const { kvm, vcpu, word, Vcpu } = await vcpuOf();
    const supported = { nent: 64 } as { nent: number; entries: object[] };
    kvm.ioctl(kvm.fd, K.KVM_GET_SUPPORTED_CPUID, supported);
    expect(kvm.ioctl(vcpu, K.KVM_SET_CPUID2, supported)).toBe(0);
    const f = Number(word(Vcpu.Features, 4));
    const x = kvm.core.exports.CpuFeat;
    expect(f & x.MaxPhyAddrMask).toBe(46);
    for (const bit of [x.Nx, x.Gbpages, x.Pcid, x.Smep, x.Smap, x.Pku, x.La57, x.Pge, x.Invpcid, x.Pks]) expect(f & bit).toBe(bit);
    expect(f & x.VendorAmd).toBe(0);
    kvm.ioctl(vcpu, K.KVM_SET_SREGS, { ...longMode, cr4: K.X86_CR4_PAE | K.X86_CR4_SMEP | K.X86_CR4_LA57 });
    kvm.ioctl(vcpu, K.KVM_SET_CPUID2, { nent: 2, entries: [
      { function: 0, ebx: 0x68747541, edx: 0x69746e65, ecx: 0x444d4163 },
      { function: 0x80000001, edx: 1 << 20 },
    ] });
    const g = Number(word(Vcpu.Features, 4));
    expect([g & x.MaxPhyAddrMask, g & x.VendorAmd, g & x.Nx, g & x.Smep]).toEqual([36, x.VendorAmd, x.Nx, 0]);
    expect(() => kvm.ioctl(vcpu, K.KVM_SET_SREGS, { ...longMode, cr4: K.X86_CR4_PAE | K.X86_CR4_SMEP })).toThrow(fails('EINVAL', /reserved/));
  });

  it('E2BIG past 256 entries, EFAULT when entries holds fewer than nent, EINVAL for a bad entry', async () => {
    const { kvm, vcpu } = await vcpuOf();
    expect(() => kvm.ioctl(vcpu, K.KVM_SET_CPUID2, { nent: 257, entries: [] })).toThrow(fails('E2BIG'));
    expect(() => kvm.ioctl(vcpu, K.KVM_SET_CPUID2, { nent: 2, entries: [{ function: 0 }] })).toThrow(fails('EFAULT'));
    expect(() => kvm.ioctl(vcpu, K.KVM_SET_CPUID2, { nent: 1, entries: [{ function: 0, eax: -1 }] })).toThrow(fails('EINVAL', /entries\[0\]\.eax/));
    expect(() => kvm.ioctl(vcpu, K.KVM_SET_CPUID2)).toThrow(fails('EFAULT'));
  });
});

describe('KVM_TRANSLATE and KVM_PRE_FAULT_MEMORY', () => {
  it('translate with paging off: physical = linear, valid 1, writeable 1, usermode 0, in the caller\'s struct', async () => {
    const { kvm, vcpu } = await vcpuOf('shadow');
    const tr: Record<string, unknown> = { linear_address: 0x12345 };
    expect(kvm.ioctl(vcpu, K.KVM_TRANSLATE, tr)).toBe(tr);
    expect(tr).toMatchObject({ linear_address: 0x12345, physical_address: 0x12345, valid: 1, writeable: 1, usermode: 0 });
    expect(() => kvm.ioctl(vcpu, K.KVM_TRANSLATE, {})).toThrow(fails('EINVAL', /linear_address/));
  });

  it('pre-fault checks in order: flags, alignment and size, then EOPNOTSUPP on shadow paging', async () => {
    const { kvm, vcpu } = await vcpuOf('shadow');
    const pf = (o: object) => () => kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, { gpa: 0, size: 0x1000, ...o });
    expect(pf({ flags: 1, gpa: 1, size: 0 })).toThrow(fails('EINVAL', /flags/));
    expect(pf({ gpa: 0x800 })).toThrow(fails('EINVAL', /aligned/));
    expect(pf({ size: 0 })).toThrow(fails('EINVAL'));
    expect(pf({ gpa: (1n << 64n) - 0x1000n, size: 0x2000 })).toThrow(fails('EINVAL'));
    expect(pf({ padding: [1, 2, 3, 4, 5] })).toThrow(fails('EOPNOTSUPP'));
    const bad = { gpa: 0x800, size: 0x1000, flags: 0 };
    expect(() => kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, bad)).toThrow(fails('EINVAL'));
    expect(bad).toMatchObject({ gpa: 0x800, size: 0x1000 });
  });

  it('pre-fault on tdp: the first page\'s failure is the errno, and the struct keeps gpa and size', async () => {
    const kvm = await Kvm.open({ ramMiB: 16, host: 'tdp' });
    const sw = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, K.KVM_X86_SW_PROTECTED_VM) as number;
    const vcpu = kvm.ioctl(sw, K.KVM_CREATE_VCPU, 0) as number;
    const pf = (gpa: number) => () => kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, { gpa, size: 0x2000 });
    const mem = kvm.mmap(0, 0x4000, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    const g = kvm.ioctl(sw, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000, flags: K.GUEST_MEMFD_FLAG_MMAP }) as number;
    kvm.ioctl(sw, K.KVM_SET_USER_MEMORY_REGION2, { slot: 0, guest_phys_addr: 0, memory_size: 0x4000, userspace_addr: mem });
    kvm.ioctl(sw, K.KVM_SET_USER_MEMORY_REGION2, { slot: 1, guest_phys_addr: 0x10000, memory_size: 0x4000, userspace_addr: 0x7000_0000_0000n });
    kvm.ioctl(sw, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 2, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0x20000, memory_size: 0x4000, guest_memfd: g,
    });
    kvm.ioctl(sw, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0x100000, size: 0x1000, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    kvm.ioctl(sw, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0x2000, size: 0x1000, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    const arg = { gpa: 0x200000n, size: 0x2000 };
    expect(() => kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, arg)).toThrow(fails('ENOENT', /no memslot/));
    expect(arg).toEqual({ gpa: 0x200000, size: 0x2000, flags: 0, padding: [0, 0, 0, 0, 0] });
    expect(pf(0x100000)).toThrow(fails('EFAULT', /private gfn without guest_memfd/));
    expect(pf(0x2000)).toThrow(fails('EFAULT', /private gfn without guest_memfd/));
    expect(pf(0x10000)).toThrow(fails('EFAULT', /unmapped userspace_addr/));
    expect(kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, { gpa: 0, size: 0x2000 })).toMatchObject({ gpa: 0x2000, size: 0 });
    expect(kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, { gpa: 0x20000, size: 0x1000 })).toMatchObject({ gpa: 0x21000, size: 0 });
    kvm.close(g);
    expect(pf(0x22000)).toThrow(fails('EFAULT', /closed guest_memfd/));
  });
});
