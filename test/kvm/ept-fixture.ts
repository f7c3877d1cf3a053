// A VM whose guest RAM is one anonymous memslot at GPA 0, every page of it
// mapped in the VM's EPT by KVM_PRE_FAULT_MEMORY, and one vCPU: what a walk
// test needs to see 2D walks that reach guest memory.

import { Kvm } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';

export interface EptGuest {
  kvm: Kvm;
  vm: number;
  vcpu: number;
  /** The vCPU's record: the first one a fresh Kvm hands out. */
  record: number;
  /** The VM's id in the core. */
  vmId: number;
  /** The VMM's mapping of guest RAM. */
  mem: bigint;
  ramBytes: number;
  /** The root frame of the VM's EPT. */
  root: number;
  put64(gpa: bigint | number, value: bigint): void;
  get64(gpa: bigint | number): bigint;
  /** Sets the vCPU's paging registers (long mode when EFER.LMA is set). */
  sregs(cr0: bigint, cr3: bigint, cr4: bigint, efer: bigint): void;
}

export async function eptGuest(ramBytes: number, options: { ramMiB?: number } = {}): Promise<EptGuest> {
  const kvm = await Kvm.open({ ramMiB: options.ramMiB ?? 128, maxVcpus: 2 });
  const x = kvm.core.exports;
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
  const mem = kvm.mmap(0, ramBytes, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
  kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: ramBytes, userspace_addr: mem });
  const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
  const record = 0;
  const range = kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, { gpa: 0, size: ramBytes }) as { size: number };
  if (range.size !== 0) throw new Error(`fixture: pre-fault left 0x${range.size.toString(16)} bytes unmapped`);
  const vmId = x.vcpu_vm(record);
  const put64 = (gpa: bigint | number, value: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, value, true);
    kvm.write(mem + BigInt(gpa), b);
  };
  const get64 = (gpa: bigint | number) => new DataView(kvm.read(mem + BigInt(gpa), 8).buffer).getBigUint64(0, true);
  const sregs = (cr0: bigint, cr3: bigint, cr4: bigint, efer: bigint) => {
    const lma = (efer & K.EFER_LMA) !== 0n;
    kvm.ioctl(vcpu, K.KVM_SET_SREGS, { cr0, cr3, cr4, efer, cs: { l: lma ? 1 : 0 } });
  };
  return { kvm, vm, vcpu, record, vmId, mem, ramBytes, root: x.kvm_mmu_ept_root(vmId), put64, get64, sregs };
}
