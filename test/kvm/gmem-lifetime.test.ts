import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';

const RW = K.PROT_READ | K.PROT_WRITE;

describe('a guest_memfd whose fd is closed while it is mapped', () => {
  it('is released (memslots unbound, its VM reference dropped) only when its last mapping goes', async () => {
    const kvm = await Kvm.open({ ramMiB: 16 });
    const x = kvm.core.exports;
    const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000, flags: K.GUEST_MEMFD_FLAG_MMAP }) as number;
    const mem = kvm.mmap(0, 0x4000, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 0x4000, userspace_addr: mem, guest_memfd: g, guest_memfd_offset: 0,
    });
    const a = kvm.mmap(0, 0x2000, RW, K.MAP_SHARED, g, 0);
    const b = kvm.mmap(0, 0x2000, RW, K.MAP_SHARED, g, 0x2000);
    const file = x.memslot_gmem_file(0, 0);
    expect(file).toBeGreaterThanOrEqual(0);
    kvm.close(g);
    kvm.close(vm);
    // The mappings pin the file: the slot keeps its binding and the VM lives.
    expect(x.memslot_gmem_file(0, 0)).toBe(file);
    expect(x.memslot_count(0)).toBe(1);
    kvm.munmap(a, 0x2000);
    expect(x.memslot_gmem_file(0, 0)).toBe(file);
    // A MAP_FIXED mapping over the last one is an unmap of it too.
    kvm.mmap(b, 0x2000, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS | K.MAP_FIXED, -1, 0);
    // The last fput released the file and, with it, the VM's last reference.
    expect(x.memslot_count(0)).toBe(0);
    expect(x.gmem_refcount(file)).toBe(0);
    expect(x.vm_alloc()).toBe(0);
  });

  it('is released at close when nothing maps it', async () => {
    const kvm = await Kvm.open({ ramMiB: 16 });
    const x = kvm.core.exports;
    const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000, flags: K.GUEST_MEMFD_FLAG_MMAP }) as number;
    const mem = kvm.mmap(0, 0x4000, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 0, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 0x4000, userspace_addr: mem, guest_memfd: g, guest_memfd_offset: 0,
    });
    kvm.close(g);
    expect(x.memslot_gmem_file(0, 0)).toBe(-1);
  });
});
