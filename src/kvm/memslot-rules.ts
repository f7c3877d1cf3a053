// The rules of KVM_SET_USER_MEMORY_REGION(2), as one pure decision: from the
// request, the VM's existing slots and what the guest_memfd fd names, either
// the errno Linux returns or the change to make (kvm_vm_ioctl_set_memory_region,
// check_memory_region_flags, __kvm_set_memory_region, kvm_gmem_bind and
// kvm_arch_prepare_memory_region in Linux 6.18; spec/kvm-uapi.md section 2).
// Nothing here changes state, so every rule is testable on its own and a
// failed request changes nothing by construction.

import {
  KVM_MEM_GUEST_MEMFD, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY,
} from '../uapi.js';

const PAGE_SHIFT = 12n;
const PAGE_MASK = 0xfffn;
const U64_MAX = (1n << 64n) - 1n;

/** Memslot ids userspace may use (KVM_USER_MEM_SLOTS on x86: 32767 minus 3 private slots). */
export const KVM_USER_MEM_SLOTS = 32764;
/** Pages in one slot (KVM_MEM_MAX_NR_PAGES on x86: the page count fits in 31 bits). */
export const KVM_MEM_MAX_NR_PAGES = (1n << 31n) - 1n;
/**
 * The end of user space that access_ok accepts on x86-64 with 4-level paging
 * and no LAM: TASK_SIZE_MAX, 2^47 minus the guard page; `uaddr + size` must
 * stay below it (valid_user_address of the end).
 */
export const TASK_SIZE_MAX = (1n << 47n) - 4096n;

/**
 * Internal memslot flag, kept in the slot's flags above the uAPI's as Linux
 * keeps KVM_MEMSLOT_GMEM_ONLY: bound to a guest_memfd created with
 * GUEST_MEMFD_FLAG_MMAP, so every fault is served from the file, shared ones
 * too (kvm_gmem_bind). It outlives the binding when the file is closed.
 */
export const KVM_MEMSLOT_GMEM_ONLY = 1 << 17;

/** The request as the ioctl copied it; REGION (v1) has no guest_memfd fields. */
export interface MemslotRequest {
  readonly v2: boolean;
  readonly slot: bigint;
  readonly flags: bigint;
  readonly guest_phys_addr: bigint;
  readonly memory_size: bigint;
  readonly userspace_addr: bigint;
  readonly guest_memfd_offset: bigint;
  /** The fd as the kernel's int. */
  readonly guest_memfd: number;
}

/** An existing slot, as the VM's memslot table holds it. */
export interface ExistingSlot {
  readonly flags: number;
  readonly baseGfn: bigint;
  readonly npages: bigint;
  readonly userspaceAddr: bigint;
}

/** What a guest_memfd fd number names in the calling process. */
export type GuestMemfdLookup =
  | { readonly kind: 'not-open' }
  | { readonly kind: 'not-guest-memfd' }
  | { readonly kind: 'guest-memfd'; readonly file: number; readonly ofThisVm: boolean; readonly size: bigint; readonly mmap: boolean };

/** The VM state the rules read. */
export interface MemslotContext {
  /** Memslot address spaces (1 without SMM). */
  readonly addressSpaces: number;
  /** The highest gfn the MMU maps (kvm_mmu_max_gfn). */
  readonly maxGfn: bigint;
  /** Slot `id` (as_id << 16 | slot), if it exists. */
  slot(id: number): ExistingSlot | undefined;
  /** Whether [baseGfn, baseGfn + npages) meets a slot of `asId` other than `exceptId`. */
  overlaps(asId: number, baseGfn: bigint, npages: bigint, exceptId: number): boolean;
  guestMemfd(fd: number): GuestMemfdLookup;
  /** Whether pages [pgoff, pgoff + npages) of `file` are bound to a slot other than `exceptId`. */
  gmemBound(file: number, pgoff: bigint, npages: bigint, exceptId: number): boolean;
}

/** The slot a create, move or flags change installs. */
export interface NewSlot {
  readonly id: number;
  readonly flags: number;
  readonly baseGfn: bigint;
  readonly npages: bigint;
  readonly userspaceAddr: bigint;
  /** The guest_memfd binding: file id and first page, or null. */
  readonly gmem: { readonly file: number; readonly pgoff: bigint } | null;
}

export type MemslotDecision =
  | { readonly action: 'error'; readonly errno: 'EINVAL' | 'EEXIST' | 'EBADF'; readonly reason: string }
  | { readonly action: 'none'; readonly id: number }
  | { readonly action: 'delete'; readonly id: number }
  | { readonly action: 'create' | 'move' | 'flags-only'; readonly slot: NewSlot };

const invalid = (reason: string): MemslotDecision => ({ action: 'error', errno: 'EINVAL', reason });

/** The flags a request may carry (check_memory_region_flags). */
function validFlags(flags: bigint): bigint {
  let valid = BigInt(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_GUEST_MEMFD);
  const gmem = (flags & BigInt(KVM_MEM_GUEST_MEMFD)) !== 0n;
  // Dirty logging of guest_memfd memory is not supported; a read-only slot
  // emulates writes as MMIO, which private memory cannot allow.
  if (gmem) valid &= ~BigInt(KVM_MEM_LOG_DIRTY_PAGES);
  else valid |= BigInt(KVM_MEM_READONLY);
  return valid;
}

/** Decides what KVM_SET_USER_MEMORY_REGION(2) does with `req`, checking in Linux's order. */
export function decideMemslot(req: MemslotRequest, ctx: MemslotContext): MemslotDecision {
  const { flags, memory_size: size, guest_phys_addr: gpa, userspace_addr: uaddr } = req;
  const gmem = (flags & BigInt(KVM_MEM_GUEST_MEMFD)) !== 0n;

  // kvm_vm_ioctl_set_memory_region.
  if (!req.v2 && (flags & ~BigInt(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) !== 0n) {
    return invalid(`flags 0x${flags.toString(16)}: KVM_SET_USER_MEMORY_REGION takes only LOG_DIRTY_PAGES and READONLY`);
  }
  const slot16 = Number(req.slot & 0xffffn);
  if (slot16 >= KVM_USER_MEM_SLOTS) return invalid(`slot ${slot16} >= KVM_USER_MEM_SLOTS (${KVM_USER_MEM_SLOTS})`);

  // __kvm_set_memory_region: flags first, then the shape of the range; all
  // of them apply to a delete too.
  const bad = flags & ~validFlags(flags);
  if (bad !== 0n) return invalid(`flags 0x${flags.toString(16)}: bits 0x${bad.toString(16)} are not allowed with these flags`);
  if ((size & PAGE_MASK) !== 0n) return invalid(`memory_size 0x${size.toString(16)} is not a multiple of 4096`);
  if ((gpa & PAGE_MASK) !== 0n) return invalid(`guest_phys_addr 0x${gpa.toString(16)} is not page-aligned`);
  if ((uaddr & PAGE_MASK) !== 0n) return invalid(`userspace_addr 0x${uaddr.toString(16)} is not page-aligned`);
  if (uaddr + size > TASK_SIZE_MAX - 1n) {
    return invalid(`userspace_addr range [0x${uaddr.toString(16)}, +0x${size.toString(16)}) is not in user space`);
  }
  if (gmem) {
    const off = req.guest_memfd_offset;
    if ((off & PAGE_MASK) !== 0n) return invalid(`guest_memfd_offset 0x${off.toString(16)} is not page-aligned`);
    if (off + size > U64_MAX) return invalid(`guest_memfd_offset + memory_size wraps past 2^64`);
  }
  const asId = Number(req.slot >> 16n);
  if (asId >= ctx.addressSpaces) return invalid(`address space ${asId} (slot >> 16) does not exist: the VM has ${ctx.addressSpaces}`);
  if (gpa + size > U64_MAX) return invalid(`guest_phys_addr + memory_size wraps past 2^64`);
  const npages = size >> PAGE_SHIFT;
  if (npages > KVM_MEM_MAX_NR_PAGES) return invalid(`memory_size is ${npages} pages, more than KVM_MEM_MAX_NR_PAGES (${KVM_MEM_MAX_NR_PAGES})`);

  const id = Number(req.slot & 0xffff_ffffn) >>> 0;
  const old = ctx.slot(id);
  if (npages === 0n) {
    if (!old) return invalid(`slot ${slot16} of address space ${asId} does not exist: nothing to delete`);
    return { action: 'delete', id };
  }

  const baseGfn = gpa >> PAGE_SHIFT;
  let action: 'create' | 'move' | 'flags-only';
  if (!old) {
    // The total page count of all slots cannot overflow 64 bits here: at most
    // KVM_USER_MEM_SLOTS slots of at most 2^31 pages each.
    action = 'create';
  } else {
    if (gmem) return invalid(`slot ${slot16} exists and guest_memfd slots are immutable: delete it first`);
    if (uaddr !== old.userspaceAddr) return invalid(`slot ${slot16} exists with another userspace_addr: only a move or a flags change is allowed`);
    if (npages !== old.npages) return invalid(`slot ${slot16} exists with another size: only a move or a flags change is allowed`);
    const changed = (flags ^ BigInt(old.flags)) & BigInt(KVM_MEM_READONLY | KVM_MEM_GUEST_MEMFD);
    if (changed !== 0n) return invalid(`slot ${slot16}: READONLY and GUEST_MEMFD cannot change on an existing slot`);
    if (baseGfn !== old.baseGfn) action = 'move';
    else if (flags !== BigInt(old.flags)) action = 'flags-only';
    else return { action: 'none', id };
  }

  if (action !== 'flags-only' && ctx.overlaps(asId, baseGfn, npages, id)) {
    return { action: 'error', errno: 'EEXIST', reason: `gfns [0x${baseGfn.toString(16)}, +0x${npages.toString(16)}) overlap another slot` };
  }

  // kvm_gmem_bind runs before the arch check (kvm_set_memslot ->
  // kvm_arch_prepare_memory_region), so its errors win over a gpa too high.
  let binding: NewSlot['gmem'] = null;
  let internal = 0;
  if (gmem) {
    const g = ctx.guestMemfd(req.guest_memfd);
    if (g.kind === 'not-open') return { action: 'error', errno: 'EBADF', reason: `guest_memfd ${req.guest_memfd} is not an open fd` };
    if (g.kind === 'not-guest-memfd') return invalid(`guest_memfd ${req.guest_memfd} is not a guest_memfd`);
    if (!g.ofThisVm) return invalid(`guest_memfd ${req.guest_memfd} belongs to another VM`);
    const off = req.guest_memfd_offset;
    if (BigInt.asIntN(64, off) < 0n || off + size > g.size) {
      return invalid(`guest_memfd_offset 0x${off.toString(16)} + memory_size 0x${size.toString(16)} is outside the guest_memfd (size 0x${g.size.toString(16)})`);
    }
    const pgoff = off >> PAGE_SHIFT;
    if (ctx.gmemBound(g.file, pgoff, npages, id)) return invalid(`part of guest_memfd ${req.guest_memfd} [0x${off.toString(16)}, +0x${size.toString(16)}) is already bound to a memslot`);
    binding = { file: g.file, pgoff };
    if (g.mmap) internal = KVM_MEMSLOT_GMEM_ONLY;
  }

  if (action !== 'flags-only' && baseGfn + npages - 1n > ctx.maxGfn) {
    return invalid(`the last gfn 0x${(baseGfn + npages - 1n).toString(16)} is above the MMU's maximum 0x${ctx.maxGfn.toString(16)}`);
  }
  return {
    action,
    slot: { id, flags: Number(flags) | internal, baseGfn, npages, userspaceAddr: uaddr, gmem: binding },
  };
}
