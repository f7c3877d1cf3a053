// Guest layout through the VMM's mapping: 4-level tables with 4 KiB, 2 MiB
// and 1 GiB leaves, checked by KVM_TRANSLATE's walk after the boot state is
// loaded with KVM_SET_SREGS / KVM_SET_REGS.

import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';
import { GuestMemory, GuestPageTables, PAGE_1G, PAGE_2M, PAGE_4K, bootState } from '../../src/guest/layout.js';

async function vm() {
  const kvm = await Kvm.open({ ramMiB: 64 });
  const vmFd = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
  const size = 0x80_0000n;
  const hva = kvm.mmap(0, size, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
  kvm.ioctl(vmFd, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: 0, memory_size: size, userspace_addr: hva });
  const vcpu = kvm.ioctl(vmFd, K.KVM_CREATE_VCPU, 0) as number;
  const mem = new GuestMemory(kvm, [{ gpa: 0n, size, hva }]);
  return { kvm, vcpu, mem, hva };
}

describe('guest layout', () => {
  it('builds tables whose walk KVM_TRANSLATE follows, for every page size', async () => {
    const { kvm, vcpu, mem } = await vm();
    // The supported CPUID has 1 GiB pages (without them PS is reserved at that level).
    const cpuid = kvm.ioctl(kvm.fd, K.KVM_GET_SUPPORTED_CPUID, { nent: 100, entries: [] });
    kvm.ioctl(vcpu, K.KVM_SET_CPUID2, cpuid);
    const t = new GuestPageTables(mem, 0x1000n, 0x10_0000n);
    t.map(0x40_0000n, 0x20_0000n, PAGE_4K);
    t.map(0x80_0000n, 0x40_0000n, PAGE_2M, { write: false });
    t.map(0x80_0000_0000n, 0n, PAGE_1G, { user: true });
    t.mapRange(0x50_0000n, 0x30_0000n, 0x3000n);
    const boot = bootState(0x40_0000n, t);
    const sregs = { ...(kvm.ioctl(vcpu, K.KVM_GET_SREGS, {}) as object), ...boot.sregs };
    kvm.ioctl(vcpu, K.KVM_SET_SREGS, sregs);
    kvm.ioctl(vcpu, K.KVM_SET_REGS, boot.regs);
    const tr = (la: bigint) => kvm.ioctl(vcpu, K.KVM_TRANSLATE, { linear_address: la }) as Record<string, bigint | number>;
    expect(Number(tr(0x40_0123n).physical_address)).toBe(0x20_0123);
    expect(Number(tr(0x81_2345n).physical_address)).toBe(0x41_2345);
    expect(Number(tr(0x80_0012_3456n).physical_address)).toBe(0x12_3456);
    expect(Number(tr(0x50_2010n).physical_address)).toBe(0x30_2010);
    expect(Number(tr(0x60_0000n).valid)).toBe(0);
    expect(Number((kvm.ioctl(vcpu, K.KVM_GET_REGS, {}) as Record<string, number>).rip)).toBe(0x40_0000);
  });

  it('writes go through the VMM mapping; refuses what is outside a region or misaligned', async () => {
    const { kvm, mem, hva } = await vm();
    mem.write64(0x1234n * 8n, 0xfeedn);
    expect(kvm.read(hva + 0x1234n * 8n, 1)[0]).toBe(0xed);
    expect(() => mem.write(0x7f_fff8n, new Uint8Array(16))).toThrow(/not inside one memslot region/);
    const t = new GuestPageTables(mem, 0x1000n, 0x3000n);
    expect(() => t.map(0x1000n, 0x1800n, PAGE_4K)).toThrow(/not aligned/);
    expect(() => t.map(0x20_0000n, 0x40_0000n, PAGE_2M)).toThrow(/out of page-table pages/);
    expect(() => t.map(0n, 0n, 0x3000n)).toThrow(/not 4 KiB, 2 MiB or 1 GiB/);
  });
});
