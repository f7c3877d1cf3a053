// A VM whose guest RAM is one anonymous memslot at GPA 0, and a vCPU whose
// EPT maps that RAM page by page to the frames behind the VMM's mapping, as
// KVM's TDP MMU would once every page had faulted in. kvm.translate needs an
// EPT; the fixture builds it through the core, so the walk tests do not wait
// for the fault path.

import { Kvm } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';

/** Read, write and execute, write-back memory type. */
export const EPT_RWX_WB = 7 | (6 << 3);

export interface EptGuest {
  kvm: Kvm;
  vm: number;
  vcpu: number;
  /** The vCPU's record: the first one a fresh Kvm hands out. */
  record: number;
  /** The VMM's mapping of guest RAM. */
  mem: bigint;
  ramBytes: number;
  /** The EPT's root frame. */
  root: number;
  put64(gpa: bigint | number, value: bigint): void;
  get64(gpa: bigint | number): bigint;
  /** Sets the vCPU's paging registers (long mode when CR0.PG is on). */
  sregs(cr0: bigint, cr3: bigint, cr4: bigint, efer: bigint): void;
}

export async function eptGuest(ramBytes: number, options: { ramMiB?: number; eptAd?: boolean } = {}): Promise<EptGuest> {
  const kvm = await Kvm.open({ ramMiB: options.ramMiB ?? 128, maxVcpus: 2 });
  const x = kvm.core.exports;
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
  const mem = kvm.mmap(0, ramBytes, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
  kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: ramBytes, userspace_addr: mem });
  const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
  const record = 0;
  const root = x.ept_root_alloc(1);
  for (let gpa = 0; gpa < ramBytes; gpa += 4096) {
    if (x.gup_pfn(mem + BigInt(gpa), true, 0) !== 0) throw new Error(`fixture: GUP of guest page 0x${gpa.toString(16)} failed`);
    const pfn = x.vma_pfn();
    if (x.ept_map(root, BigInt(gpa), BigInt(pfn) << 12n, 12, EPT_RWX_WB, 1) !== 0) throw new Error('fixture: ept_map failed');
    x.frame_put(pfn);
  }
  x.vcpu_set_ept(record, x.ept_make_eptp(root, options.eptAd ?? true), 46 | x.EptCap.ExecOnly | x.EptCap.Page1g, 1);
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
  return { kvm, vm, vcpu, record, mem, ramBytes, root, put64, get64, sregs };
}
