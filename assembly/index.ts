// The module's exports: what TypeScript may call. Each concept lives in its
// own file; this file only chooses what crosses the boundary.

export {
  LAYOUT_MAGIC, LAYOUT_VERSION, LAYOUT_BASE, PAGE_SIZE, PAGE_SHIFT,
  STAT_SLOTS, FRAME_META_BYTES, TRACE_REF_BYTES, TRACE_MAX,
  TLB_SETS, TLB_WAYS, TLB_ENTRY_BYTES, VCPU_STATE_BYTES, VCPU_STRIDE, DMAP_NOT_SPLIT,
  Hdr, Lock, Frame, FrameKind, Vcpu, CpuFeat, EptCap, WalkFlag, AccessKind, AccessStatus, TraceRef, TraceKind, TlbEntry,
  layout_bytes_needed,
  ram_base, ram_bytes, vcpu_ptr, tlb_ptr, frame_meta_ptr, stats_block_ptr, header_ptr,
} from './layout';
export { Stat, stats_select, stats_read, stats_total, stats_reset, stats_count } from './stats';
export { machine_init, machine_attach } from './machine';
export {
  PFN_NONE, FRAME_POISON,
  phys_shuffle, frame_alloc, frame_get, frame_put, phys_free_frames,
  frame_kind, frame_owner, frame_refcount, frame_generation,
} from './phys';
export { trace_begin, trace_end } from './trace';
export {
  TLB_SINGLE_PAGE_FLUSH_CEILING,
  set_direct_map_invalid_noflush, set_direct_map_default_noflush, set_memory_np, set_memory_p,
  flush_tlb_kernel_range, dmap_present, dmap_mapping_shift, dmap_kernel_access, dmap_vmap_lazy_free,
} from './directmap';
export {
  ept_walk, ept_hpa, ept_page_shift, ept_rights, ept_qualification, ept_level,
  ept_make_eptp, ept_root_alloc, ept_map, ept_zap, ept_destroy,
} from './ept';
export { bench_tlb_hit_load, bench_walk2d, bench_guest_copy, bench_memcopy, bench_directmap_pairs } from './bench';
export { walk, walk_via_memslots, is_canonical, permission_fault } from './paging';
export {
  TlbSize, TlbAttr, TlbCtx, TLB_TAG_SIZE_SHIFT,
} from './layout';
export {
  tlb_invlpg, tlb_flush_fault, tlb_invpcid, tlb_flush_cr3, tlb_flush_cr4, tlb_flush_all, tlb_invvpid, tlb_invept, tlb_count,
} from './tlb';
export {
  mov_cr3, mov_cr4, invlpg, invpcid, wrpkru, wrmsr_pkrs, vcpu_set_state,
  vcpu_set_features, vcpu_set_ept, vcpu_set_vpid, vcpu_set_cpl, vcpu_set_rflags, vcpu_set_pkeys, vcpu_set_walk_flags,
} from './cr';
export { vcpu_access, guest_read64, guest_write64, guest_copy, guest_fill } from './access';
export { RADIX_INDEX_LIMIT, RADIX_NONE, radix_create, radix_lookup, radix_store, radix_erase, radix_next, radix_destroy } from './radix';
export {
  GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED, GUEST_MEMFD_FLAG_NO_DIRECT_MAP, GMEM_OWNER_BASE,
  gmem_create, gmem_get, gmem_put, gmem_size, gmem_flags, gmem_vm_id, gmem_nr_pages, gmem_refcount, gmem_owner,
  gmem_get_pfn, gmem_pfn, gmem_lookup_pfn, gmem_allocate, gmem_punch,
} from './gmem';
export { GMEM_MAX_FILES, GMEM_INODE_BYTES, GmemInode } from './layout';
export { VM_MAX, MEMSLOTS_MAX, MEMSLOT_BYTES, VM_HEADER_BYTES, VM_STRIDE, VmRec, Memslot } from './layout';
export {
  vm_alloc, vm_free, memslot_generation, memslot_count, memslot_find, memslot_set, memslot_delete,
  memslot_lookup_gfn, memslot_overlaps, memslot_gmem_bound, memslot_id, memslot_flags, memslot_base_gfn, memslot_npages,
  memslot_userspace_addr, memslot_gmem_file, memslot_gmem_pgoff,
} from './memslot';
export { VMA_MAX, VMM_IO_BYTES, VmaRec, MmRec } from './layout';
export {
  VmaKind, FOLL_KVM, FAULT_SIGBUS, FAULT_SIGSEGV, VMM_OWNER, TASK_SIZE,
  vma_map, vma_unmap, vma_protect, vma_kvm_protect, vma_zap_file, vmm_touch, vmm_fault_in, vmm_copy, vmm_io_buffer, vmm_fault_hva, gup_pfn, vma_pfn, vma_find, vma_count,
  vma_start, vma_end, vma_prot, vma_kind, vma_file, vma_pgoff, mm_rss, mm_lookup_pfn,
} from './vma';
export { KVM_MEMORY_ATTRIBUTE_PRIVATE, ATTR_OWNER_BASE, attr_set_range, attr_get, attr_range_is } from './attributes';
export {
  KVM_REQUEST_MASK, KVM_REQUEST_NO_WAKEUP, KVM_REQUEST_WAIT, KVM_REQUEST_NO_ACTION, KVM_REQUEST_ARCH_BASE,
  KVM_REQ_TLB_FLUSH, KVM_REQ_TLB_FLUSH_CURRENT, KVM_REQ_TLB_FLUSH_GUEST,
  kvm_make_request, kvm_check_request, kvm_request_pending, vcpu_mode, vcpu_vm_attach, vcpu_vm_detach, vcpu_vm,
  requests_set_threads, requests_set_may_wait, vcpu_enter_guest_mode, vcpu_exit_requested, vcpu_leave_guest_mode,
  vcpu_service_requests, kvm_make_all_cpus_request, kvm_flush_remote_tlbs,
} from './requests';
export { VcpuMode, VCPU_MODE_MASK, VCPU_MODE_WAITER } from './layout';
export {
  InspectFault, inspect_bad_pfn, inspect_bad_gpa, inspect_used_frames, inspect_used_frames_of, inspect_free_list, inspect_orphan_frames, inspect_gmem,
  inspect_gmem_next, inspect_ept, inspect_tlb,
} from './inspect';
export { CpuFlag, RunPending, KvmRun, KVM_RUN_BYTES } from './layout';
export { Op, Cond, SysReg, Vector, INSN_BYTES, REG_ZERO } from './isa';
export { CpuExit, PIO_DATA_OFFSET, cpu_exec, cpu_executed, cpu_emulate_mmio, cpu_set_flags } from './cpu';
export { RUN_SLICE, vcpu_run } from './run';
export {
  PageFaultResult, PFERR_PRESENT_MASK, PFERR_WRITE_MASK, PFERR_USER_MASK, PFERR_FETCH_MASK, PFERR_GUEST_FINAL_MASK,
  PFERR_GUEST_PAGE_MASK, PFERR_PRIVATE_ACCESS, KVM_MEMORY_EXIT_FLAG_PRIVATE, EPT_OWNER_BASE,
  kvm_mmu_init_vm, kvm_mmu_destroy_vm, kvm_mmu_ept_root, kvm_mmu_vcpu_init, kvm_tdp_page_fault, ept_violation_error_code,
  handle_ept_violation, kvm_page_fault_shift, kvm_page_fault_errno, kvm_vcpu_pre_fault_memory, kvm_pre_fault_gpa,
  kvm_pre_fault_size, bench_fault_pages,
} from './mmu';
export {
  KVM_MEMSLOT_INVALID, KVM_MEMSLOT_GMEM_ONLY, mmu_invalidate_seq, mmu_invalidate_in_progress, kvm_mmu_invalidate_gfn_range,
  kvm_arch_flush_shadow_memslot, vmm_munmap, vmm_mprotect, vmm_mmap_fixed, kvm_gmem_punch_hole, kvm_gmem_invalidate_begin,
  kvm_gmem_invalidate_end, kvm_vm_set_mem_attributes,
} from './mmu-invalidate';
export { ept_zap_deferred, ept_zap_leafs, ept_free_deferred, ept_deferred_count, ept_map_conflict_level, ept_map_conflict_entry } from './ept';
export {
  HPAGE_SHIFT, HPAGE_FRAMES, HUGETLB_OWNER, hugetlb_pool_init, hugetlb_pages, hugetlb_free_pages, hugetlb_resv_pages,
} from './hugetlb';
