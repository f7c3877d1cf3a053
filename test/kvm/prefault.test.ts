// KVM_PRE_FAULT_MEMORY on the tdp host: the mapping loop of
// kvm_vcpu_pre_fault_memory over the core's fault path.

import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import { readCounters } from '../../src/core/stats.js';
import * as K from '../../src/uapi.js';

const PAGE = 0x1000;
const RW = K.PROT_READ | K.PROT_WRITE;
const ANON = K.MAP_PRIVATE | K.MAP_ANONYMOUS;
const fails = (code: string, re?: RegExp) => expect.objectContaining({ code, ...(re ? { message: expect.stringMatching(re) } : {}) });

async function setup(type = 0) {
  const kvm = await Kvm.open({ ramMiB: 16 });
  const x = kvm.core.exports;
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, type) as number;
  const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
  const internals = kvm as unknown as { fds: { lookup(fd: number): { object: { record: number } } } };
  const rec = internals.fds.lookup(vcpu).object.record;
  const eptEntry = (gpa: number): bigint | null => {
    const d = new DataView(kvm.core.memory.buffer, x.vcpu_ptr(rec));
    const r = x.ept_walk(d.getBigUint64(x.Vcpu.Eptp, true), BigInt(gpa), x.AccessKind.Read, false, true, d.getUint32(x.Vcpu.EptCaps, true));
    return r === x.AccessStatus.Ok ? x.ept_hpa() : null;
  };
  const prefault = (gpa: number | bigint, size: number) => {
    const arg = { gpa, size };
    const ret = kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, arg);
    return { ret, arg };
  };
  const slot = (id: number, gpa: number, pages: number) => {
    const mem = kvm.mmap(0, pages * PAGE, RW, ANON, -1, 0);
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: id, guest_phys_addr: gpa, memory_size: pages * PAGE, userspace_addr: mem });
    return mem;
  };
  return { kvm, x, vm, vcpu, rec, eptEntry, prefault, slot, counters: () => readCounters(kvm.core) as Record<string, number> };
}

describe('KVM_PRE_FAULT_MEMORY', () => {
  it('maps the whole range page by page: the struct ends at gpa + size with size 0', async () => {
    const t = await setup();
    const mem = t.slot(0, 0x10000, 8);
    const { arg } = t.prefault(0x10000, 8 * PAGE);
    expect(arg).toMatchObject({ gpa: 0x18000, size: 0 });
    for (let p = 0; p < 8; p++) expect(t.eptEntry(0x10000 + p * PAGE)).toBe(BigInt(t.x.mm_lookup_pfn(mem + BigInt(p * PAGE))) << 12n);
    const c = t.counters();
    // Pre-fault is not a guest fault (no pf_taken), but every page it maps is pf_fixed.
    expect([c.mmu_prefault, c.mmu_pf_fixed4k, c.mmu_pf_taken]).toEqual([8, 8, 0]);
    // The guest's own faults find the pages there.
    expect(t.x.kvm_tdp_page_fault(t.rec, 0x13000n, 2n)).toBe(t.x.PageFaultResult.Spurious);
  });

  it('partial progress returns 0 and leaves the unmapped rest in the struct', async () => {
    const t = await setup();
    t.slot(0, 0x10000, 2);
    const { ret, arg } = t.prefault(0x10000, 4 * PAGE);
    expect(ret).toBe(arg);
    expect(arg).toMatchObject({ gpa: 0x12000, size: 0x2000 });
    expect(t.eptEntry(0x11000)).not.toBeNull();
    // Calling again with what is left fails on its first page: no progress, the errno.
    const rest = { gpa: arg.gpa, size: arg.size };
    expect(() => t.kvm.ioctl(t.vcpu, K.KVM_PRE_FAULT_MEMORY, rest)).toThrow(fails('ENOENT', /no memslot/));
    expect(rest).toMatchObject({ gpa: 0x12000, size: 0x2000 });
  });

  it('a range already mapped is progress too', async () => {
    const t = await setup();
    t.slot(0, 0, 2);
    t.prefault(0, 2 * PAGE);
    expect(t.prefault(0, 2 * PAGE).arg).toMatchObject({ gpa: 0x2000, size: 0 });
    expect(t.counters().mmu_pf_fixed4k).toBe(2);
  });

  it('first-page failures: ENOENT without a memslot, EFAULT for an unmapped userspace_addr or a private gfn without guest_memfd', async () => {
    const t = await setup(K.KVM_X86_SW_PROTECTED_VM);
    const { kvm, vm, vcpu } = t;
    t.slot(0, 0, 2);
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 1, guest_phys_addr: 0x10000, memory_size: PAGE, userspace_addr: 0x7000_0000_0000n });
    kvm.ioctl(vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: PAGE, size: PAGE, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    const pf = (gpa: number) => () => kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, { gpa, size: PAGE });
    expect(pf(0x40000)).toThrow(fails('ENOENT'));
    expect(pf(0x10000)).toThrow(fails('EFAULT', /unmapped userspace_addr/));
    expect(pf(PAGE)).toThrow(fails('EFAULT', /private gfn without guest_memfd/));
    // A private gfn's memory-fault exit is prepared even for pre-fault.
    const d = new DataView(kvm.core.memory.buffer, t.x.vcpu_ptr(t.rec));
    expect(d.getBigUint64(t.x.Vcpu.MemoryFaultGpa, true)).toBe(0x1000n);
    // Page 0 maps, then page 1 fails: progress, so 0, and the struct stops at page 1.
    expect(t.prefault(0, 2 * PAGE).arg).toMatchObject({ gpa: PAGE, size: PAGE });
  });

  it('a private gfn with guest_memfd gets its page allocated, zeroed and mapped; attributes stay as they were', async () => {
    const t = await setup(K.KVM_X86_SW_PROTECTED_VM);
    const { kvm, vm, x } = t;
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 4 * PAGE }) as number;
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION2, { slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 4 * PAGE, guest_memfd: g });
    kvm.ioctl(vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0, size: 4 * PAGE, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    const file = (kvm as unknown as { fds: { lookup(fd: number): { object: { file: number } } } }).fds.lookup(g).object.file;
    expect(x.gmem_nr_pages(file)).toBe(0n);
    expect(t.prefault(0, 4 * PAGE).arg).toMatchObject({ gpa: 4 * PAGE, size: 0 });
    expect(x.gmem_nr_pages(file)).toBe(4n);
    expect(t.eptEntry(0x3000)).toBe(BigInt(x.gmem_lookup_pfn(file, 3n)) << 12n);
    expect(x.attr_get(t.kvm.core.exports.vcpu_vm(t.rec), 2n)).toBe(BigInt(K.KVM_MEMORY_ATTRIBUTE_PRIVATE));
  });

  it('pre-faulted leaves are left for access tracking: A clear, D preset on writable pages', async () => {
    const t = await setup();
    t.slot(0, 0, 1);
    t.prefault(0, PAGE);
    const { x, kvm, rec } = t;
    const d = new DataView(kvm.core.memory.buffer, x.vcpu_ptr(rec));
    x.trace_begin(rec);
    x.ept_walk(d.getBigUint64(x.Vcpu.Eptp, true), 0n, x.AccessKind.Read, false, true, d.getUint32(x.Vcpu.EptCaps, true));
    x.trace_end();
    // The walk read the leaf with A clear, then set it: the A/D update is the trace's last reference.
    const n = d.getUint32(x.Vcpu.TraceCount, true);
    const last = x.Vcpu.Trace + (n - 1) * x.TRACE_REF_BYTES.value;
    expect(d.getUint32(last + x.TraceRef.Kind, true)).toBe(x.TraceKind.EptAdUpdate);
    const leaf = d.getBigUint64(last + x.TraceRef.Value, true);
    expect([leaf & 0x100n, leaf & 0x200n, leaf & 7n]).toEqual([0n, 0x200n, 7n]);
  });
});

describe('KVM_PRE_FAULT_MEMORY with 2 MiB mappings', () => {
  const HPAGE = 0x20_0000;
  it('a huge mapping larger than the range is clamped to it; a 2 MiB-aligned range takes one step per huge page', async () => {
    const kvm = await Kvm.open({ ramMiB: 32, hugePages: 4 });
    const x = kvm.core.exports;
    const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    const mem = kvm.mmap(0, 2 * HPAGE, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS | K.MAP_HUGETLB, -1, 0);
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: HPAGE, memory_size: 2 * HPAGE, userspace_addr: mem });
    const arg = { gpa: HPAGE + 0x1000, size: 0x1000 };
    kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, arg);
    expect(arg).toMatchObject({ gpa: HPAGE + 0x2000, size: 0 });
    const c = () => readCounters(kvm.core) as Record<string, number>;
    expect([c().mmu_prefault, c().mmu_pf_fixed2m]).toEqual([1, 1]);
    const whole = { gpa: HPAGE, size: 2 * HPAGE };
    kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, whole);
    expect(whole).toMatchObject({ gpa: 3 * HPAGE, size: 0 });
    expect([c().mmu_prefault, c().mmu_pf_fixed2m]).toEqual([3, 2]);
    expect(x.mm_lookup_pfn(mem + BigInt(HPAGE))).toBe(x.mm_lookup_pfn(mem) + 512);
  });
});
