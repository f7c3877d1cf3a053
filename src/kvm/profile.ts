// The host KVM runs on: 'shadow' is the probe machine the verified cases come
// from (shadow paging, default VMs only, no memory attributes); 'tdp' is a
// host with EPT, the TDP MMU and CONFIG_KVM_SW_PROTECTED_VM, whose rules come
// from the Linux 6.18 source (spec/kvm-uapi.md section 1). The profile decides
// what KVM_CHECK_EXTENSION answers and which VM types and ioctls exist.

import {
  GUEST_MEMFD_FLAG_INIT_SHARED, GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_NO_DIRECT_MAP,
  KVM_CAP_EXIT_HYPERCALL, KVM_CAP_GUEST_MEMFD, KVM_CAP_GUEST_MEMFD_FLAGS, KVM_CAP_MEMORY_ATTRIBUTES,
  KVM_CAP_MEMORY_FAULT_INFO, KVM_CAP_MULTI_ADDRESS_SPACE, KVM_CAP_NR_MEMSLOTS, KVM_CAP_PRE_FAULT_MEMORY,
  KVM_CAP_READONLY_MEM, KVM_CAP_USER_MEMORY2, KVM_CAP_VM_TYPES, KVM_HC_MAP_GPA_RANGE,
  KVM_MEMORY_ATTRIBUTE_PRIVATE, KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM,
} from '../uapi.js';
import { KVM_USER_MEM_SLOTS } from './memslot-rules.js';

export type HostPaging = 'tdp' | 'shadow';

/** The host's MAXPHYADDR in the 'tdp' model (a common server value); it bounds TDP guest physical addresses. */
export const HOST_MAXPHYADDR = 46;
/** Shadow paging maps any gfn below 2^52 (max_gpa_bits = 52). */
const SHADOW_MAX_GPA_BITS = 52;

/** The hypercalls that may exit to userspace (KVM_EXIT_HYPERCALL_VALID_MASK). */
export const EXIT_HYPERCALL_VALID_MASK = 1n << BigInt(KVM_HC_MAP_GPA_RANGE);

export class HostProfile {
  constructor(
    readonly paging: HostPaging,
    /** Offer GUEST_MEMFD_FLAG_NO_DIRECT_MAP, a proposal not in Linux 6.18. */
    readonly noDirectMapProposal: boolean,
  ) {}

  /** Bit n set when VM type n can be created (KVM_CAP_VM_TYPES). */
  get vmTypes(): number {
    // SW_PROTECTED_VM needs the TDP MMU: a shadow-paging host never offers it.
    return this.paging === 'tdp' ? (1 << KVM_X86_DEFAULT_VM) | (1 << KVM_X86_SW_PROTECTED_VM) : 1 << KVM_X86_DEFAULT_VM;
  }

  vmTypeSupported(type: bigint): boolean {
    return type < 32n && ((this.vmTypes >>> Number(type)) & 1) === 1;
  }

  /** Whether VMs of `type` have private memory (kvm_arch_has_private_mem). */
  static hasPrivateMem(type: number): boolean {
    return type === KVM_X86_SW_PROTECTED_VM;
  }

  /** Whether the ioctl KVM_SET_MEMORY_ATTRIBUTES exists (CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES). */
  get memoryAttributesBuilt(): boolean {
    return this.paging === 'tdp';
  }

  /** The highest gfn a memslot may reach (kvm_mmu_max_gfn). */
  get maxGfn(): bigint {
    const bits = this.paging === 'tdp' ? HOST_MAXPHYADDR : SHADOW_MAX_GPA_BITS;
    return (1n << BigInt(bits - 12)) - 1n;
  }

  /** guest_memfd creation flags valid for a VM of `vmType`, or for any VM when null (kvm_gmem_get_supported_flags). */
  guestMemfdFlags(vmType: number | null): number {
    let flags = GUEST_MEMFD_FLAG_MMAP;
    // Pages can start shared only when the VM tracks no private attribute.
    if (vmType === null || !HostProfile.hasPrivateMem(vmType)) flags |= GUEST_MEMFD_FLAG_INIT_SHARED;
    if (this.noDirectMapProposal) flags |= GUEST_MEMFD_FLAG_NO_DIRECT_MAP;
    return flags;
  }

  /** Memory attributes a VM of `vmType` supports, or any VM when null (kvm_supported_mem_attributes). */
  memoryAttributes(vmType: number | null): number {
    if (!this.memoryAttributesBuilt) return 0;
    return vmType === null || HostProfile.hasPrivateMem(vmType) ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
  }

  /** KVM_CHECK_EXTENSION on /dev/kvm (vmType null) or on a VM fd; 0 for a capability it does not know. */
  checkExtension(cap: bigint, vmType: number | null): number {
    switch (cap) {
      case BigInt(KVM_CAP_NR_MEMSLOTS): return KVM_USER_MEM_SLOTS;
      case BigInt(KVM_CAP_READONLY_MEM): return 1;
      // No SMM address space is modelled.
      case BigInt(KVM_CAP_MULTI_ADDRESS_SPACE): return 0;
      case BigInt(KVM_CAP_EXIT_HYPERCALL): return Number(EXIT_HYPERCALL_VALID_MASK);
      case BigInt(KVM_CAP_USER_MEMORY2): return 1;
      case BigInt(KVM_CAP_MEMORY_FAULT_INFO): return 1;
      case BigInt(KVM_CAP_MEMORY_ATTRIBUTES): return this.memoryAttributes(vmType);
      case BigInt(KVM_CAP_GUEST_MEMFD): return 1;
      case BigInt(KVM_CAP_VM_TYPES): return this.vmTypes;
      case BigInt(KVM_CAP_PRE_FAULT_MEMORY): return this.paging === 'tdp' ? 1 : 0;
      case BigInt(KVM_CAP_GUEST_MEMFD_FLAGS): return this.guestMemfdFlags(vmType);
      default: return 0;
    }
  }
}
