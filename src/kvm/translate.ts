// KVM_TRANSLATE (kvm_arch_vcpu_ioctl_translate): KVM's software walker with
// access 0 - a supervisor read, EFLAGS.AC taken as 0 - over the guest's page
// tables. KVM reads those tables, and sets their A bits, through the
// memslots' userspace addresses (kvm_vcpu_gfn_to_hva_prot, __get_user,
// __try_cmpxchg_user), not through EPT; so the walk runs over a reader of
// guest-physical memory that goes gpa -> memslot -> hva -> the VMM's page,
// and a table that cannot be read there ends the walk as "not valid". The
// walk itself is the reference walker's (the same rules as the Wasm walker,
// which reads tables through EPT instead). `writeable` and `usermode` are
// constants in Linux: 1 and 0.

import type { CoreExports } from '../core/wasm.js';
import type { Gpa, Gva } from '../core/addr.js';
import type { VmmMemory } from '../host/vmm-memory.js';
import { referenceWalk } from '../reference/guest-walk.js';
import type { GuestControl, HostMemory } from '../reference/types.js';
import { KVM_MEM_READONLY, X86_CR0_PG, X86_CR4_LA57 } from '../uapi.js';

/** What KVM_TRANSLATE reports for an address that does not translate (INVALID_GPA). */
export const INVALID_GPA = (1n << 64n) - 1n;

/** A guest-physical address whose page no memslot backs, or whose backing the kernel cannot read. */
class Unreadable extends Error {}

/** Guest-physical memory as KVM's software walker reaches it: through the memslots' userspace mappings. */
class MemslotMemory implements HostMemory {
  /** Every gpa is addressable; a missing memslot is found per read. */
  readonly size = 1n << 52n;

  constructor(private readonly core: CoreExports, private readonly vm: number, private readonly vmm: VmmMemory) {}

  private locate(gpa: bigint): { hva: bigint; readonly: boolean } {
    const x = this.core;
    const i = x.memslot_lookup_gfn(this.vm, gpa >> 12n);
    if (i < 0) throw new Unreadable();
    const offset = gpa - (x.memslot_base_gfn(this.vm, i) << 12n);
    return { hva: x.memslot_userspace_addr(this.vm, i) + offset, readonly: (x.memslot_flags(this.vm, i) & KVM_MEM_READONLY) !== 0 };
  }

  read64(gpa: bigint): bigint {
    const { hva } = this.locate(gpa);
    let bytes: Uint8Array;
    try {
      bytes = this.vmm.read(hva, 8);
    } catch {
      throw new Unreadable();
    }
    return new DataView(bytes.buffer).getBigUint64(0, true);
  }

  /** An A-bit update; KVM skips it where the slot is read-only. */
  write64(gpa: bigint, value: bigint): void {
    const { hva, readonly } = this.locate(gpa);
    if (readonly) return;
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, value, true);
    this.vmm.write(hva, bytes);
  }
}

/** Sign-extends `la` from the top implemented bit: KVM's walker indexes the tables with bits 47:0 (56:0) only. */
function canonical(la: bigint, width: number): bigint {
  return BigInt.asUintN(64, BigInt.asIntN(width, la));
}

/** Translates `la` for the vCPU whose paging state is `ctl`, in VM `vm`. */
export function translateLinear(
  core: CoreExports, vm: number, vmm: VmmMemory, ctl: GuestControl, la: bigint,
): { physical_address: bigint; valid: bigint } {
  if ((ctl.cr0 & X86_CR0_PG) === 0n) return { physical_address: la, valid: 1n };
  const width = (ctl.cr4 & X86_CR4_LA57) !== 0n ? 57 : 48;
  try {
    const { outcome } = referenceWalk(new MemslotMemory(core, vm, vmm), { guest: ctl, ept: null }, {
      la: canonical(la, width) as Gva, kind: 'read', cpl: 0, ac: false, implicit: false,
    });
    if (outcome.kind === 'ok') return { physical_address: outcome.gpa as Gpa as bigint, valid: 1n };
    return { physical_address: INVALID_GPA, valid: 0n };
  } catch (e) {
    if (e instanceof Unreadable) return { physical_address: INVALID_GPA, valid: 0n };
    throw e;
  }
}
