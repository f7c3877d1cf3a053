// KVM's instruction emulator reaching guest memory (arch/x86/kvm/x86.c:
// emulator_read_write -> kvm_vcpu_read_guest_page / kvm_vcpu_write_guest_page):
// gfn -> memslot -> userspace address -> copy_from_user / copy_to_user, the
// kernel touching the VMM's pages as the process itself would. Whatever that
// cannot reach (no memslot, a slot being deleted or moved, a write to a
// READONLY slot, an address the process cannot touch) becomes MMIO.
//
// This is the path of a vCPU whose real mode the host emulates
// (CpuFlag.EmulateRealMode): the probe host's PVM backend, and VMX without
// unrestricted_guest. It never consults guest_memfd, so a guest_memfd-only
// slot is read through its userspace_addr, as the probe host showed
// (spec/kvm-uapi.md section 6).
//
// The process's own fault handler decides, through vmm_touch; a refused
// touch is counted there as the signal the process would have got, although
// the kernel's copy only sees EFAULT.

import { PAGE_SHIFT, PAGE_SIZE, pfn_to_ptr } from './layout';
import { memslot_base_gfn, memslot_flags, memslot_lookup_gfn, memslot_userspace_addr } from './memslot';
import { KVM_MEMSLOT_INVALID } from './mmu-invalidate';
import { vma_pfn, vmm_touch } from './vma';

/** KVM_MEM_READONLY (include/uapi/linux/kvm.h). */
const KVM_MEM_READONLY: u32 = 1 << 1;

/**
 * Where the emulator reaches guest-physical `gpa` of VM `vm` for a read or a
 * write: a pointer into the Wasm memory, valid to the end of the page, or 0
 * when the access is MMIO.
 */
export function emulated_gpa_ptr(vm: u32, gpa: u64, write: bool): usize {
  const gfn = gpa >> PAGE_SHIFT;
  const i = memslot_lookup_gfn(vm, gfn);
  if (i < 0) return 0;
  const flags = memslot_flags(vm, i);
  if ((flags & KVM_MEMSLOT_INVALID) != 0) return 0;
  if (write && (flags & KVM_MEM_READONLY) != 0) return 0;
  const hva = memslot_userspace_addr(vm, i) + ((gfn - memslot_base_gfn(vm, i)) << PAGE_SHIFT);
  if (vmm_touch(hva, write) != 0) return 0;
  return pfn_to_ptr(vma_pfn()) + <usize>(gpa & (<u64>PAGE_SIZE - 1));
}
