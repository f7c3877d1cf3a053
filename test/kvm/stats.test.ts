import { describe, expect, it } from 'vitest';
import { COUNTER_DOCS } from '../../src/core/stats.js';
import { KvmError } from '../../src/kvm/error.js';
import * as K from '../../src/uapi.js';
import { eptGuest } from './ept-fixture.js';

const LONG_MODE = { cr0: K.X86_CR0_PE | K.X86_CR0_PG, cr4: K.X86_CR4_PAE, efer: K.EFER_LME | K.EFER_LMA };

function errorOf(f: () => unknown): KvmError {
  try {
    f();
  } catch (e) {
    if (e instanceof KvmError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('kvm.stats', () => {
  it('gives every counter by its name, for /dev/kvm, a VM and a vCPU', async () => {
    const g = await eptGuest(0x10_0000, { ramMiB: 16 });
    for (const fd of [g.kvm.fd, g.vm, g.vcpu]) {
      const s = g.kvm.stats(fd);
      expect(Object.keys(s).sort()).toEqual(Object.keys(COUNTER_DOCS).sort());
      expect(Object.values(s).every((v) => Number.isSafeInteger(v) && v >= 0)).toBe(true);
    }
  });

  it('counts a vCPU\'s walks in its own fd, their sum in the VM\'s, and the host\'s work only in /dev/kvm', async () => {
    const g = await eptGuest(0x10_0000, { ramMiB: 16 });
    const { kvm } = g;
    // Two vCPUs of one VM (so on one EPT) with the same paging state.
    const second = kvm.ioctl(g.vm, K.KVM_CREATE_VCPU, 1) as number;
    g.put64(0x1000, 0x2003n); g.put64(0x2000, 0x3003n); g.put64(0x3000, 0x83n);
    g.sregs(LONG_MODE.cr0, 0x1000n, LONG_MODE.cr4, LONG_MODE.efer);
    kvm.ioctl(second, K.KVM_SET_SREGS, { cr0: LONG_MODE.cr0, cr3: 0x1000n, cr4: LONG_MODE.cr4, efer: LONG_MODE.efer, cs: { l: 1 } });
    const hostBefore = kvm.stats(kvm.fd);
    kvm.translate(g.vcpu, 0x1000n);
    kvm.translate(g.vcpu, 0x2000n);
    kvm.translate(second, 0x7000_0000_0000_0000n);
    expect(kvm.stats(g.vcpu)).toMatchObject({ guest_walk: 2, guest_general_protection: 0 });
    expect(kvm.stats(second)).toMatchObject({ guest_walk: 1, guest_general_protection: 1, guest_entry_read: 0 });
    expect(kvm.stats(g.vm)).toMatchObject({ guest_walk: 3, guest_general_protection: 1 });
    // Host-thread work (a VMM write faulting a page in) is not a vCPU's.
    const vmFaults = kvm.stats(g.vm).vmm_page_fault;
    const mem2 = kvm.mmap(0, 4096, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    kvm.write(mem2, Uint8Array.of(1));
    expect(kvm.stats(g.vm).vmm_page_fault).toBe(vmFaults);
    const host = kvm.stats(kvm.fd);
    expect(host.vmm_page_fault).toBe(hostBefore.vmm_page_fault + 1);
    expect(host.guest_walk).toBe(hostBefore.guest_walk + 3);
  });

  it('counts a vCPU ioctl\'s work in that vCPU: KVM_PRE_FAULT_MEMORY\'s mappings', async () => {
    const g = await eptGuest(0x10_0000, { ramMiB: 16 });
    const { kvm } = g;
    const x = kvm.core.exports;
    // The fixture pre-faulted its 256 pages of guest RAM through its vCPU.
    expect(kvm.stats(g.vcpu).mmu_pf_fixed4k).toBe(256);
    const second = kvm.ioctl(g.vm, K.KVM_CREATE_VCPU, 1) as number;
    x.ept_zap(g.root, 0n, 0x4000n);
    kvm.ioctl(second, K.KVM_PRE_FAULT_MEMORY, { gpa: 0, size: 0x4000 });
    expect(kvm.stats(second)).toMatchObject({ mmu_pf_fixed4k: 4 });
    expect(kvm.stats(second).mmu_prefault).toBeGreaterThan(0);
    expect(kvm.stats(g.vcpu).mmu_pf_fixed4k).toBe(256);
    expect(kvm.stats(g.vm).mmu_pf_fixed4k).toBe(260);
    expect(Number(x.stats_read(0, x.Stat.MmuPfFixed4k))).toBe(0);
  });

  it('keeps a closed vCPU\'s counts in its VM, and starts a vCPU on a reused record from zero', async () => {
    const g = await eptGuest(0x10_0000, { ramMiB: 16 });
    const { kvm } = g;
    g.sregs(LONG_MODE.cr0, 0x1000n, LONG_MODE.cr4, LONG_MODE.efer);
    kvm.translate(g.vcpu, 0x1000n);
    kvm.translate(g.vcpu, 0x8000_0000_0000n);
    const vmBefore = kvm.stats(g.vm);
    expect(vmBefore.guest_walk).toBe(2);
    kvm.close(g.vcpu);
    expect(kvm.stats(g.vm)).toEqual(vmBefore);
    const hostWalks = kvm.stats(kvm.fd).guest_walk;
    const again = kvm.ioctl(g.vm, K.KVM_CREATE_VCPU, 0) as number;
    expect(kvm.stats(again).guest_walk).toBe(0);
    kvm.translate(again, 0x1000n);
    expect(kvm.stats(again).guest_walk).toBe(1);
    expect(kvm.stats(g.vm).guest_walk).toBe(3);
    // The host's total loses nothing when a record serves a new vCPU.
    expect(kvm.stats(kvm.fd).guest_walk).toBe(hostWalks + 1);
    // Another VM on the same machine counts nothing of this one's.
    const vm2 = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    expect(kvm.stats(vm2).guest_walk).toBe(0);
  });

  it('refuses a guest_memfd (it has no statistics) and an fd that is not open', async () => {
    const g = await eptGuest(0x10_0000, { ramMiB: 16 });
    const gmem = g.kvm.ioctl(g.vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x10000 }) as number;
    expect(errorOf(() => g.kvm.stats(gmem))).toMatchObject({ code: 'ENOTTY', syscall: 'stats' });
    expect(errorOf(() => g.kvm.stats(gmem)).message).toMatch(/guest_memfd/);
    expect(errorOf(() => g.kvm.stats(77))).toMatchObject({ code: 'EBADF', syscall: 'stats' });
    g.kvm.close(g.vm);
    expect(errorOf(() => g.kvm.stats(g.vm))).toMatchObject({ code: 'EBADF' });
  });
});
