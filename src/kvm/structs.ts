// The uAPI's structs (include/uapi/linux/kvm.h, x86-64) as StructSpecs:
// Linux's field names and C types, so a call from a C VMM ports field by
// field. Fields a caller leaves out are 0, as in a zeroed C struct.

import type { StructSpec } from './args.js';

export const KVM_USERSPACE_MEMORY_REGION: StructSpec = {
  name: 'kvm_userspace_memory_region',
  fields: { slot: 'u32', flags: 'u32', guest_phys_addr: 'u64', memory_size: 'u64', userspace_addr: 'u64' },
  required: ['slot', 'guest_phys_addr', 'memory_size'],
};

export const KVM_USERSPACE_MEMORY_REGION2: StructSpec = {
  name: 'kvm_userspace_memory_region2',
  fields: {
    ...KVM_USERSPACE_MEMORY_REGION.fields,
    guest_memfd_offset: 'u64', guest_memfd: 'fd', pad1: 'u32', pad2: { array: 'u64', length: 14 },
  },
  required: KVM_USERSPACE_MEMORY_REGION.required,
};

export const KVM_CREATE_GUEST_MEMFD_STRUCT: StructSpec = {
  name: 'kvm_create_guest_memfd',
  fields: { size: 'u64', flags: 'u64', reserved: { array: 'u64', length: 6 } },
  required: ['size'],
};

export const KVM_MEMORY_ATTRIBUTES_STRUCT: StructSpec = {
  name: 'kvm_memory_attributes',
  fields: { address: 'u64', size: 'u64', attributes: 'u64', flags: 'u64' },
  required: ['address', 'size', 'attributes'],
};

export const KVM_PRE_FAULT_MEMORY_STRUCT: StructSpec = {
  name: 'kvm_pre_fault_memory',
  fields: { gpa: 'u64', size: 'u64', flags: 'u64', padding: { array: 'u64', length: 5 } },
  required: ['gpa', 'size'],
};

export const KVM_ENABLE_CAP_STRUCT: StructSpec = {
  name: 'kvm_enable_cap',
  fields: { cap: 'u32', flags: 'u32', args: { array: 'u64', length: 4 }, pad: { array: 'u8', length: 64 } },
  required: ['cap'],
};

export const KVM_TRANSLATION: StructSpec = {
  name: 'kvm_translation',
  fields: {
    linear_address: 'u64', physical_address: 'u64', valid: 'u8', writeable: 'u8', usermode: 'u8',
    pad: { array: 'u8', length: 5 },
  },
  required: ['linear_address'],
};
