// The argument of each KVM ioctl a uAPI case may name: none, an integer (the
// case gives it under a field name, e.g. `type` for KVM_CREATE_VM), or a C
// struct (include/uapi/linux/kvm.h) that the case fills by field name.
//
// The executor builds the whole struct the way a C caller does, with every
// field the case does not name set to 0, so it never depends on which fields
// the uAPI treats as optional; a field that is not in the struct is a failure
// of the case. Values are cut to the field's width, as storing an integer
// into a C field does.

/** A C integer type of a struct field or an argument. */
export type CType = 'u8' | 'u32' | 'u64' | 's64';

export interface StructLayout {
  readonly name: string;
  /** Each field's type; arrays as [element type, length]. */
  readonly fields: Readonly<Record<string, CType | readonly [CType, number]>>;
}

export type IoctlArg =
  | { readonly kind: 'none' }
  | { readonly kind: 'int'; readonly field: string }
  | { readonly kind: 'struct'; readonly layout: StructLayout }
  | { readonly kind: 'run' };

const MEMORY_REGION: StructLayout['fields'] = {
  slot: 'u32', flags: 'u32', guest_phys_addr: 'u64', memory_size: 'u64', userspace_addr: 'u64',
};

export const IOCTL_ARGS: Readonly<Record<string, IoctlArg>> = {
  KVM_GET_API_VERSION: { kind: 'none' },
  KVM_CREATE_VM: { kind: 'int', field: 'type' },
  KVM_CHECK_EXTENSION: { kind: 'int', field: 'cap' },
  KVM_GET_VCPU_MMAP_SIZE: { kind: 'none' },
  KVM_CREATE_VCPU: { kind: 'int', field: 'id' },
  KVM_SET_USER_MEMORY_REGION: { kind: 'struct', layout: { name: 'kvm_userspace_memory_region', fields: MEMORY_REGION } },
  KVM_SET_USER_MEMORY_REGION2: {
    kind: 'struct',
    layout: {
      name: 'kvm_userspace_memory_region2',
      fields: { ...MEMORY_REGION, guest_memfd_offset: 'u64', guest_memfd: 'u32', pad1: 'u32', pad2: ['u64', 14] },
    },
  },
  KVM_CREATE_GUEST_MEMFD: { kind: 'struct', layout: { name: 'kvm_create_guest_memfd', fields: { size: 'u64', flags: 'u64', reserved: ['u64', 6] } } },
  KVM_SET_MEMORY_ATTRIBUTES: {
    kind: 'struct',
    layout: { name: 'kvm_memory_attributes', fields: { address: 'u64', size: 'u64', attributes: 'u64', flags: 'u64' } },
  },
  KVM_PRE_FAULT_MEMORY: {
    kind: 'struct',
    layout: { name: 'kvm_pre_fault_memory', fields: { gpa: 'u64', size: 'u64', flags: 'u64', padding: ['u64', 5] } },
  },
  KVM_TRANSLATE: {
    kind: 'struct',
    layout: {
      name: 'kvm_translation',
      fields: { linear_address: 'u64', physical_address: 'u64', valid: 'u8', writeable: 'u8', usermode: 'u8', pad: ['u8', 5] },
    },
  },
  KVM_ENABLE_CAP: { kind: 'struct', layout: { name: 'kvm_enable_cap', fields: { cap: 'u32', flags: 'u32', args: ['u64', 4], pad: ['u8', 64] } } },
  KVM_RUN: { kind: 'run' },
};

/** KVM_TRANSLATE's outputs, which cases expect as top-level keys. */
export const TRANSLATION_OUTPUTS = ['physical_address', 'valid', 'writeable', 'usermode'] as const;

/** The ioctls whose result is a new fd. */
export const FD_RETURNING = new Set(['KVM_CREATE_VM', 'KVM_CREATE_VCPU', 'KVM_CREATE_GUEST_MEMFD']);
