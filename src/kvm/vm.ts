// A VM (struct kvm) as the uAPI layer holds it: its memslot table lives in
// shared memory (assembly/memslot.ts, VM id `id`); this object counts who
// keeps the VM alive. The VM fd, each vCPU fd and each guest_memfd file hold
// one reference each (kvm_get_kvm / kvm_put_kvm), so closing the VM fd leaves
// a guest_memfd usable; the last put frees the memslot table.

import type { CoreExports } from '../core/wasm.js';
import type { ExistingSlot } from './memslot-rules.js';

export class VmObject {
  private refs = 1;
  /** vCPU ids created in this VM. */
  readonly vcpuIds = new Set<number>();
  /** KVM_CAP_EXIT_HYPERCALL mask: hypercalls that exit to userspace. */
  hypercallExitMask = 0n;

  constructor(
    private readonly core: CoreExports,
    /** The VM's record in shared memory. */
    readonly id: number,
    /** KVM_X86_*_VM. */
    readonly type: number,
  ) {}

  get alive(): boolean {
    return this.refs > 0;
  }

  get(): void {
    this.refs++;
  }

  /** Drops a reference; the last one frees the VM's EPT (no vCPU is left to walk it) and its memslots. */
  put(): void {
    if (--this.refs !== 0) return;
    this.core.kvm_mmu_destroy_vm(this.id);
    this.core.vm_free(this.id);
  }

  /** Slot `id` (as_id << 16 | slot) with its index in the memslot table, if it exists. */
  slot(id: number): (ExistingSlot & { index: number; gmemFile: number; gmemPgoff: bigint }) | undefined {
    const c = this.core;
    const i = c.memslot_find(this.id, id);
    if (i < 0) return undefined;
    return {
      index: i,
      flags: c.memslot_flags(this.id, i),
      baseGfn: c.memslot_base_gfn(this.id, i),
      npages: c.memslot_npages(this.id, i),
      userspaceAddr: c.memslot_userspace_addr(this.id, i),
      gmemFile: c.memslot_gmem_file(this.id, i),
      gmemPgoff: c.memslot_gmem_pgoff(this.id, i),
    };
  }

  /**
   * Every slot bound to guest_memfd file `file` loses its binding and keeps
   * the rest (kvm_gmem_release): a later fault there finds no file.
   */
  unbindGuestMemfd(file: number): void {
    const c = this.core;
    for (let i = 0; i < c.memslot_count(this.id); i++) {
      if (c.memslot_gmem_file(this.id, i) !== file) continue;
      c.memslot_set(
        this.id, c.memslot_id(this.id, i), c.memslot_flags(this.id, i), c.memslot_base_gfn(this.id, i),
        c.memslot_npages(this.id, i), c.memslot_userspace_addr(this.id, i), -1, c.memslot_gmem_pgoff(this.id, i),
      );
    }
  }
}
