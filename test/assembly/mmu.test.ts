// The TDP fault path and the zaps (assembly/mmu.ts, assembly/mmu-invalidate.ts),
// driven through the core with VMs, memslots and VMAs set up by the uAPI.

import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import { readCounters } from '../../src/core/stats.js';
import * as K from '../../src/uapi.js';

const PAGE = 0x1000;
const RW = K.PROT_READ | K.PROT_WRITE;
const ANON = K.MAP_PRIVATE | K.MAP_ANONYMOUS;

type Exports = Kvm['core']['exports'];

interface Vm {
  kvm: Kvm;
  x: Exports;
  vm: number;
  /** The VM's record in the core. */
  id: number;
  vcpu: number;
  /** The vCPU's record. */
  rec: number;
  read(gpa: number): number;
  write(gpa: number): number;
  /** The host-physical page EPT maps `gpa` to, or null; `write` checks the write right. */
  hpa(gpa: number, write?: boolean): bigint | null;
  counters(): Record<string, number>;
}

async function vmOf(type = 0, options: Parameters<typeof Kvm.open>[0] = {}): Promise<Vm> {
  const kvm = await Kvm.open({ ramMiB: 16, debug: true, ...options });
  const x = kvm.core.exports;
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, type) as number;
  const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
  const internals = kvm as unknown as { fds: { lookup(fd: number): { object: { id: number; record: number } } } };
  const id = internals.fds.lookup(vm).object.id;
  const rec = internals.fds.lookup(vcpu).object.record;
  const view = () => new DataView(kvm.core.memory.buffer, x.vcpu_ptr(rec));
  const fault = (gpa: number, err: bigint) => x.kvm_tdp_page_fault(rec, BigInt(gpa), err);
  return {
    kvm, x, vm, id, vcpu, rec,
    read: (gpa) => fault(gpa, x.PFERR_USER_MASK.value),
    write: (gpa) => fault(gpa, x.PFERR_WRITE_MASK.value | x.PFERR_USER_MASK.value),
    hpa: (gpa, write = false) => {
      const eptp = view().getBigUint64(x.Vcpu.Eptp, true);
      const caps = view().getUint32(x.Vcpu.EptCaps, true);
      const r = x.ept_walk(eptp, BigInt(gpa), write ? x.AccessKind.Write : x.AccessKind.Read, false, true, caps);
      return r === x.AccessStatus.Ok ? x.ept_hpa() : null;
    },
    counters: () => readCounters(kvm.core) as Record<string, number>,
  };
}

/** An anonymous memslot of `pages` pages at `gpa`, and its mapping. */
function anonSlot(v: Vm, slot: number, gpa: number, pages: number, prot = RW, flags = 0): bigint {
  const mem = v.kvm.mmap(0, pages * PAGE, prot, ANON, -1, 0);
  v.kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION, { slot, flags, guest_phys_addr: gpa, memory_size: pages * PAGE, userspace_addr: mem });
  return mem;
}

function memoryFault(v: Vm) {
  const d = new DataView(v.kvm.core.memory.buffer, v.x.vcpu_ptr(v.rec));
  const x = v.x;
  return {
    flags: d.getBigUint64(x.Vcpu.MemoryFaultFlags, true),
    gpa: d.getBigUint64(x.Vcpu.MemoryFaultGpa, true),
    size: d.getBigUint64(x.Vcpu.MemoryFaultSize, true),
    errno: x.kvm_page_fault_errno(),
  };
}

const R = (x: Exports) => x.PageFaultResult;
const PRIVATE = BigInt(K.KVM_MEMORY_EXIT_FLAG_PRIVATE);

describe('per-VM MMU state', () => {
  it('each VM gets an EPT root, every vCPU an EPTP to it with A/D on; the root goes with the VM', async () => {
    const v = await vmOf();
    const { x, kvm } = v;
    const root = x.kvm_mmu_ept_root(v.id);
    expect(x.frame_kind(root)).toBe(x.FrameKind.PageTable);
    expect(x.frame_owner(root)).toBe(x.EPT_OWNER_BASE.value + v.id);
    const eptp = new DataView(kvm.core.memory.buffer, x.vcpu_ptr(v.rec)).getBigUint64(x.Vcpu.Eptp, true);
    expect(eptp).toBe(x.ept_make_eptp(root, true));
    expect(eptp & (1n << 6n)).not.toBe(0n);
    kvm.close(v.vcpu);
    kvm.close(v.vm);
    expect(x.frame_kind(root)).toBe(x.FrameKind.Free);
  });
});

describe('kvm_tdp_page_fault', () => {
  it('maps an anonymous slot\'s page to the VMM\'s frame, writable as the VMA, and drops GUP\'s reference', async () => {
    const v = await vmOf();
    const { x } = v;
    const mem = anonSlot(v, 0, 0x10000, 4);
    expect(v.read(0x11000)).toBe(R(x).Fixed);
    const pfn = x.mm_lookup_pfn(mem + 0x1000n);
    expect(v.hpa(0x11000)).toBe(BigInt(pfn) << 12n);
    // A read of a page in a writable VMA maps it writable (hva_to_pfn's map_writable).
    expect(v.hpa(0x11000, true)).toBe(BigInt(pfn) << 12n);
    expect(x.frame_refcount(pfn)).toBe(1);
    expect(v.hpa(0x10000)).toBeNull();
    expect(v.read(0x11000)).toBe(R(x).Spurious);
    const c = v.counters();
    expect([c.mmu_pf_taken, c.mmu_pf_fixed4k, c.mmu_pf_spurious]).toEqual([2, 1, 1]);
  });

  it('a read-only VMA maps read-only; a write there is EFAULT from GUP, with no exit', async () => {
    const v = await vmOf();
    const { x } = v;
    anonSlot(v, 0, 0, 2, K.PROT_READ);
    expect(v.read(0)).toBe(R(x).Fixed);
    expect(v.hpa(0)).not.toBeNull();
    expect(v.hpa(0, true)).toBeNull();
    expect(v.write(0x1000)).toBe(-14);
    expect(v.counters().mmu_pf_failed).toBe(1);
  });

  it('a READONLY slot: writes are emulated, reads map without the write right', async () => {
    const v = await vmOf();
    const { x } = v;
    anonSlot(v, 0, 0, 2, RW, K.KVM_MEM_READONLY);
    expect(v.write(0)).toBe(R(x).Emulate);
    expect(v.hpa(0)).toBeNull();
    expect(v.read(0)).toBe(R(x).Fixed);
    expect(v.hpa(0, true)).toBeNull();
    expect(v.counters().mmu_pf_emulate).toBe(1);
  });

  it('no memslot is emulated (MMIO), as is a gpa beyond the EPT\'s 48 bits; an unmapped userspace_addr is EFAULT', async () => {
    const v = await vmOf();
    const { x, kvm } = v;
    expect(v.read(0x5000)).toBe(R(x).Emulate);
    expect(x.kvm_tdp_page_fault(v.rec, 1n << 50n, 0n)).toBe(R(x).Emulate);
    kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: PAGE, userspace_addr: 0x7000_0000_0000n });
    expect(v.read(0)).toBe(-14);
  });

  it('SW_PROTECTED: private gfns come from guest_memfd; without it, or without a memslot, a PRIVATE memory-fault exit', async () => {
    const v = await vmOf(K.KVM_X86_SW_PROTECTED_VM);
    const { x, kvm } = v;
    const g = kvm.ioctl(v.vm, K.KVM_CREATE_GUEST_MEMFD, { size: 4 * PAGE }) as number;
    const mem = kvm.mmap(0, 4 * PAGE, RW, ANON, -1, 0);
    kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 4 * PAGE, userspace_addr: mem, guest_memfd: g,
    });
    anonSlot(v, 1, 0x10000, 1);
    kvm.ioctl(v.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0, size: 0x20000, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    const file = (kvm as unknown as { fds: { lookup(fd: number): { object: { file: number } } } }).fds.lookup(g).object.file;

    expect(v.read(0x2000)).toBe(R(x).Fixed);
    expect(v.hpa(0x2000)).toBe(BigInt(x.gmem_lookup_pfn(file, 2n)) << 12n);
    expect(x.mm_lookup_pfn(mem + 0x2000n)).toBe(x.PFN_NONE.value);

    expect(v.read(0x10000)).toBe(R(x).MemoryFault);
    expect(memoryFault(v)).toEqual({ flags: PRIVATE, gpa: 0x10000n, size: 4096n, errno: -14 });
    expect(v.write(0x18000)).toBe(R(x).MemoryFault);
    expect(memoryFault(v)).toEqual({ flags: PRIVATE, gpa: 0x18000n, size: 4096n, errno: -14 });

    // A shared gfn of the guest_memfd slot is mapped from userspace_addr.
    kvm.ioctl(v.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0x3000, size: PAGE, attributes: 0 });
    expect(v.write(0x3000)).toBe(R(x).Fixed);
    expect(v.hpa(0x3000)).toBe(BigInt(x.mm_lookup_pfn(mem + 0x3000n)) << 12n);

    // Closing the guest_memfd unbinds the slot and zaps: the private page faults to an exit.
    kvm.close(g);
    expect(v.hpa(0x2000)).toBeNull();
    expect(v.read(0x2000)).toBe(R(x).MemoryFault);
    expect(memoryFault(v)).toMatchObject({ flags: PRIVATE, gpa: 0x2000n });
    expect(v.counters().mmu_pf_memory_fault).toBe(3);
  });

  it('a guest_memfd-only (MMAP) slot maps shared gfns from the file, as the VMM\'s mapping sees them', async () => {
    const v = await vmOf();
    const { x, kvm } = v;
    const g = kvm.ioctl(v.vm, K.KVM_CREATE_GUEST_MEMFD, { size: 2 * PAGE, flags: K.GUEST_MEMFD_FLAG_MMAP | K.GUEST_MEMFD_FLAG_INIT_SHARED }) as number;
    const mem = kvm.mmap(0, 2 * PAGE, RW, K.MAP_SHARED, g, 0);
    kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 2 * PAGE, userspace_addr: mem, guest_memfd: g,
    });
    kvm.writeU8(mem + 0x1000n, 0x42);
    expect(v.read(0x1000)).toBe(R(x).Fixed);
    expect(v.hpa(0x1000)).toBe(BigInt(x.mm_lookup_pfn(mem + 0x1000n)) << 12n);
    // Punching the page zaps it from both and frees it; the next fault maps a fresh zeroed page.
    const old = x.mm_lookup_pfn(mem + 0x1000n);
    kvm.fallocate(g, K.FALLOC_FL_PUNCH_HOLE | K.FALLOC_FL_KEEP_SIZE, PAGE, PAGE);
    expect(v.hpa(0x1000)).toBeNull();
    expect(x.frame_refcount(old)).toBe(0);
    expect(v.read(0x1000)).toBe(R(x).Fixed);
    expect(kvm.readU8(mem + 0x1000n)).toBe(0);
  });

  it('retries while an invalidation covers the gfn, and maps once it ended', async () => {
    const v = await vmOf();
    const { x, kvm } = v;
    const g = kvm.ioctl(v.vm, K.KVM_CREATE_GUEST_MEMFD, { size: 2 * PAGE, flags: K.GUEST_MEMFD_FLAG_MMAP }) as number;
    kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 2 * PAGE, guest_memfd: g,
    });
    const file = (kvm as unknown as { fds: { lookup(fd: number): { object: { file: number } } } }).fds.lookup(g).object.file;
    const seq = x.mmu_invalidate_seq(v.id);
    expect(x.kvm_gmem_invalidate_begin(file, 1n, 1n)).toBe(true);
    expect(x.mmu_invalidate_in_progress(v.id)).toBe(1);
    expect(v.read(0x1000)).toBe(R(x).Retry);
    // A gfn outside the range does not wait.
    expect(v.read(0)).toBe(R(x).Fixed);
    x.kvm_gmem_invalidate_end(file, true);
    expect([x.mmu_invalidate_in_progress(v.id), x.mmu_invalidate_seq(v.id)]).toEqual([0, seq + 1n]);
    expect(v.read(0x1000)).toBe(R(x).Fixed);
    expect(v.counters().mmu_pf_retry).toBe(1);
  });

  it('a slot being deleted (KVM_MEMSLOT_INVALID) retries', async () => {
    const v = await vmOf();
    const { x } = v;
    const mem = anonSlot(v, 0, 0, 1);
    x.memslot_set(v.id, 0, x.KVM_MEMSLOT_INVALID.value, 0n, 1n, mem, -1, 0n);
    expect(v.read(0)).toBe(R(x).Retry);
  });

  it('handle_ept_violation builds the error code from the exit qualification', async () => {
    const v = await vmOf();
    const { x } = v;
    expect(x.ept_violation_error_code(0x182n)).toBe(x.PFERR_WRITE_MASK.value | x.PFERR_GUEST_FINAL_MASK.value);
    expect(x.ept_violation_error_code(0x0b9n)).toBe(x.PFERR_USER_MASK.value | x.PFERR_PRESENT_MASK.value | x.PFERR_GUEST_PAGE_MASK.value);
    expect(x.ept_violation_error_code(0x4n)).toBe(x.PFERR_FETCH_MASK.value);
    anonSlot(v, 0, 0, 1);
    expect(x.vcpu_access(v.rec, 0x10n, x.AccessKind.Write, 0, 0, false)).toBe(x.AccessStatus.EptViolation);
    expect(x.handle_ept_violation(v.rec)).toBe(R(x).Fixed);
    expect(x.vcpu_access(v.rec, 0x10n, x.AccessKind.Write, 0, 0, false)).toBe(x.AccessStatus.Ok);
  });
});

describe('zaps', () => {
  it('munmap of a slot\'s memory zaps and flushes before the pages are freed; the next fault is EFAULT', async () => {
    const v = await vmOf();
    const { x, kvm } = v;
    const mem = anonSlot(v, 0, 0, 4);
    for (let p = 0; p < 4; p++) expect(v.write(p * PAGE)).toBe(R(x).Fixed);
    const pfn = x.mm_lookup_pfn(mem + 0x2000n);
    const seq = x.mmu_invalidate_seq(v.id);
    const c0 = v.counters();
    kvm.munmap(mem + 0x2000n, 2 * PAGE);
    expect([v.hpa(0), v.hpa(0x1000), v.hpa(0x2000), v.hpa(0x3000)].map((h) => h !== null)).toEqual([true, true, false, false]);
    expect(x.frame_refcount(pfn)).toBe(0);
    const c = v.counters();
    expect(c.mmu_invalidate - c0.mmu_invalidate).toBe(1);
    expect(c.remote_tlb_flush_requests - c0.remote_tlb_flush_requests).toBe(1);
    expect(c.ept_zap_entry - c0.ept_zap_entry).toBe(2);
    expect([x.mmu_invalidate_in_progress(v.id), x.mmu_invalidate_seq(v.id)]).toEqual([0, seq + 1n]);
    expect(v.read(0x2000)).toBe(-14);
  });

  it('munmap of memory no slot maps begins no invalidation', async () => {
    const v = await vmOf();
    const { x, kvm } = v;
    anonSlot(v, 0, 0, 1);
    const other = kvm.mmap(0, PAGE, RW, ANON, -1, 0);
    kvm.munmap(other, PAGE);
    expect(v.counters().mmu_invalidate).toBe(0);
    expect(x.mmu_invalidate_seq(v.id)).toBe(0n);
  });

  it('a munmap, mprotect or MAP_FIXED that fails its checks invalidates nothing', async () => {
    const v = await vmOf(0, { ramMiB: 32, hugePages: 2 });
    const { x, kvm } = v;
    const huge = kvm.mmap(0, 0x20_0000, RW, ANON | K.MAP_HUGETLB, -1, 0);
    kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: 0x20_0000, userspace_addr: huge });
    expect(v.read(0x1000)).toBe(R(x).Fixed);
    expect(() => kvm.munmap(huge + 0x1000n, PAGE)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => kvm.mprotect(huge, 0x40_0000, K.PROT_READ)).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
    expect(() => kvm.mmap(huge, 0x40_0000, RW, ANON | K.MAP_HUGETLB | K.MAP_FIXED, -1, 0)).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
    expect(v.hpa(0x1000)).not.toBeNull();
    expect([v.counters().mmu_invalidate, x.mmu_invalidate_seq(v.id)]).toEqual([0, 0n]);
  });

  it('mprotect zaps the range; a read then maps read-only', async () => {
    const v = await vmOf();
    const { x, kvm } = v;
    const mem = anonSlot(v, 0, 0, 2);
    expect(v.write(0)).toBe(R(x).Fixed);
    kvm.mprotect(mem, 2 * PAGE, K.PROT_READ);
    expect(v.hpa(0)).toBeNull();
    expect(v.read(0)).toBe(R(x).Fixed);
    expect(v.hpa(0, true)).toBeNull();
    expect(v.write(0)).toBe(-14);
  });

  it('MAP_FIXED over a slot\'s memory zaps it; the new pages are what the guest sees next', async () => {
    const v = await vmOf();
    const { x, kvm } = v;
    const mem = anonSlot(v, 0, 0, 1);
    kvm.writeU8(mem, 7);
    expect(v.read(0)).toBe(R(x).Fixed);
    const old = v.hpa(0);
    kvm.mmap(mem, PAGE, RW, ANON | K.MAP_FIXED, -1, 0);
    expect(v.hpa(0)).toBeNull();
    expect(x.frame_refcount(Number(old! >> 12n))).toBe(0);
    expect(v.read(0)).toBe(R(x).Fixed);
    expect(v.hpa(0)).toBe(BigInt(x.mm_lookup_pfn(mem)) << 12n);
    expect(kvm.readU8(mem)).toBe(0);
  });

  it('KVM_SET_MEMORY_ATTRIBUTES zaps the changed gfns in every memslot, under one invalidation', async () => {
    const v = await vmOf(K.KVM_X86_SW_PROTECTED_VM);
    const { x, kvm } = v;
    anonSlot(v, 0, 0, 4);
    for (let p = 0; p < 4; p++) expect(v.read(p * PAGE)).toBe(R(x).Fixed);
    kvm.ioctl(v.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: PAGE, size: 2 * PAGE, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    expect([0, 1, 2, 3].map((p) => v.hpa(p * PAGE) !== null)).toEqual([true, false, false, true]);
    expect(v.counters().mmu_invalidate).toBe(1);
    expect(x.mmu_invalidate_seq(v.id)).toBe(1n);
    // Attributes of gfns no memslot holds change nothing in the EPT.
    kvm.ioctl(v.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0x100000, size: PAGE, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    expect(v.counters().mmu_invalidate).toBe(1);
  });

  it('memslot delete and move zap the whole EPT, tables included, after publishing the slot invalid', async () => {
    const v = await vmOf();
    const { x, kvm } = v;
    const mem = anonSlot(v, 0, 0, 2);
    anonSlot(v, 1, 0x4000_0000, 1);
    expect(v.read(0)).toBe(R(x).Fixed);
    expect(v.read(0x4000_0000)).toBe(R(x).Fixed);
    const c0 = v.counters();
    kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 1, guest_phys_addr: 0x4000_0000, memory_size: 0 });
    const c = v.counters();
    expect(v.hpa(0)).toBeNull();
    expect(c.mmu_zap_all - c0.mmu_zap_all).toBe(1);
    // Two PDPT-level paths (0 and 1 GiB) share the PML4: 1 PDPT + 2 PDs + 2 PTs.
    expect(c.ept_table_free - c0.ept_table_free).toBe(5);
    expect(v.read(0x4000_0000)).toBe(R(x).Emulate);
    expect(v.read(0x1000)).toBe(R(x).Fixed);
    kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0x100000, memory_size: 2 * PAGE, userspace_addr: mem });
    expect(v.hpa(0x1000)).toBeNull();
    expect(v.read(0x1000)).toBe(R(x).Emulate);
    expect(v.read(0x101000)).toBe(R(x).Fixed);
    expect(v.hpa(0x101000)).toBe(BigInt(x.mm_lookup_pfn(mem + 0x1000n)) << 12n);
  });

  it('frames balance: after faults, zaps and teardown every frame is back', async () => {
    const kvm = await Kvm.open({ ramMiB: 16, debug: true });
    const x = kvm.core.exports;
    // The VMM's page table keeps its root once the process touched memory.
    const first = kvm.mmap(0, PAGE, RW, ANON, -1, 0);
    kvm.writeU8(first, 1);
    kvm.munmap(first, PAGE);
    const free0 = x.phys_free_frames();
    const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, K.KVM_X86_SW_PROTECTED_VM) as number;
    const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    const rec = (kvm as unknown as { fds: { lookup(fd: number): { object: { record: number } } } }).fds.lookup(vcpu).object.record;
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 8 * PAGE }) as number;
    const mem = kvm.mmap(0, 8 * PAGE, RW, ANON, -1, 0);
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0x40000000, memory_size: 8 * PAGE, userspace_addr: mem, guest_memfd: g,
    });
    kvm.ioctl(vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0x40000000, size: 4 * PAGE, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    for (let p = 0; p < 8; p++) expect(x.kvm_tdp_page_fault(rec, BigInt(0x40000000 + p * PAGE), 2n)).toBe(x.PageFaultResult.Fixed);
    kvm.fallocate(g, K.FALLOC_FL_PUNCH_HOLE | K.FALLOC_FL_KEEP_SIZE, 0, 2 * PAGE);
    kvm.munmap(mem + 0x6000n, 2 * PAGE);
    kvm.close(vcpu);
    kvm.close(g);
    kvm.munmap(mem, 8 * PAGE);
    kvm.close(vm);
    expect(x.phys_free_frames()).toBe(free0);
  });
});

describe('the mapping level (kvm_mmu_max_mapping_level)', () => {
  const HPAGE = 0x20_0000;
  const HUGE = K.MAP_PRIVATE | K.MAP_ANONYMOUS | K.MAP_HUGETLB;
  const hugeVm = (type = 0) => vmOf(type, { ramMiB: 32, hugePages: 4 });
  /** A hugetlb-backed memslot of `len` bytes at `gpa`, starting `skew` bytes into a fresh 2 MiB-aligned mapping. */
  const hugeSlot = (v: Vm, slot: number, gpa: number, len: number, skew = 0, flags = 0) => {
    const mem = v.kvm.mmap(0, 2 * HPAGE, RW, HUGE, -1, 0);
    v.kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION, { slot, flags, guest_phys_addr: gpa, memory_size: len, userspace_addr: mem + BigInt(skew) });
    return mem + BigInt(skew);
  };

  it('a hugetlb page behind an aligned slot maps as one 2 MiB leaf', async () => {
    const v = await hugeVm();
    const { x } = v;
    const mem = hugeSlot(v, 0, HPAGE, 2 * HPAGE);
    expect(v.write(HPAGE + 0x5000)).toBe(R(x).Fixed);
    expect(x.kvm_page_fault_shift()).toBe(21);
    const head = BigInt(x.mm_lookup_pfn(mem)) << 12n;
    expect(v.hpa(HPAGE)).toBe(head);
    expect(v.hpa(HPAGE + 0x1f_f000)).toBe(head + 0x1f_f000n);
    expect(v.hpa(2 * HPAGE)).toBeNull();
    expect(v.counters().mmu_pf_fixed2m).toBe(1);
  });

  it('4 KiB when the gfn and userspace_addr disagree modulo 2 MiB, or the slot does not hold the whole 2 MiB', async () => {
    const v = await hugeVm();
    const { x } = v;
    hugeSlot(v, 0, HPAGE + 0x1000, HPAGE, 0);
    expect(v.read(HPAGE + 0x1000)).toBe(R(x).Fixed);
    expect(x.kvm_page_fault_shift()).toBe(12);
    hugeSlot(v, 1, 4 * HPAGE, HPAGE / 2);
    expect(v.read(4 * HPAGE)).toBe(R(x).Fixed);
    expect(x.kvm_page_fault_shift()).toBe(12);
    expect(v.counters().mmu_pf_fixed2m).toBe(0);
  });

  it('4 KiB in a dirty-logged slot', async () => {
    const v = await hugeVm();
    hugeSlot(v, 0, 0, HPAGE, 0, K.KVM_MEM_LOG_DIRTY_PAGES);
    expect(v.read(0)).toBe(R(v.x).Fixed);
    expect(v.x.kvm_page_fault_shift()).toBe(12);
  });

  it('private-memory VMs: 4 KiB while the 2 MiB range has mixed attributes; once uniform, a huge leaf replaces the small ones', async () => {
    const v = await hugeVm(K.KVM_X86_SW_PROTECTED_VM);
    const { x, kvm } = v;
    hugeSlot(v, 0, 0, HPAGE);
    kvm.ioctl(v.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0x10_0000, size: PAGE, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    expect(v.read(0x3000)).toBe(R(x).Fixed);
    expect(x.kvm_page_fault_shift()).toBe(12);
    kvm.ioctl(v.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0x10_0000, size: PAGE, attributes: 0 });
    // The 4 KiB leaf at 0x3000 survived (only the changed gfn was zapped); the
    // next fault maps 2 MiB over its table, which goes after the flush.
    expect(v.hpa(0x3000)).not.toBeNull();
    const c0 = v.counters();
    expect(v.read(0x3000)).toBe(R(x).Fixed);
    expect(x.kvm_page_fault_shift()).toBe(21);
    const c = v.counters();
    expect(c.ept_table_free - c0.ept_table_free).toBe(1);
    expect(c.remote_tlb_flush_requests - c0.remote_tlb_flush_requests).toBe(1);
    expect(v.read(0x3000)).toBe(R(x).Spurious);
  });

  it('guest_memfd pages are order 0: 4 KiB', async () => {
    const v = await hugeVm(K.KVM_X86_SW_PROTECTED_VM);
    const { x, kvm } = v;
    const g = kvm.ioctl(v.vm, K.KVM_CREATE_GUEST_MEMFD, { size: HPAGE }) as number;
    const mem = kvm.mmap(0, HPAGE, RW, HUGE, -1, 0);
    kvm.ioctl(v.vm, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: HPAGE, userspace_addr: mem, guest_memfd: g,
    });
    kvm.ioctl(v.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: 0, size: HPAGE, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    expect(v.read(0)).toBe(R(x).Fixed);
    expect(x.kvm_page_fault_shift()).toBe(12);
  });
});
