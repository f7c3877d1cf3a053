// Memory attributes: each VM's map from gfn to KVM_MEMORY_ATTRIBUTE_* bits
// (kvm->mem_attr_array in virt/kvm/kvm_main.c), on a radix tree in host
// frames. Attributes belong to gfns, not to memslots: they may be set where
// no memslot is, and they outlive memslot changes. A gfn with no entry has
// attributes 0 (shared), so only non-zero attributes take room.
//
// KVM_SET_MEMORY_ATTRIBUTES is all or nothing: Linux reserves every xarray
// entry before it stores one. Here the reservation stores a marked value at
// one gfn of every 512-gfn block that has no node yet, which builds the
// block's path; if RAM runs out, the marked values are erased again, which
// frees the nodes they built, and nothing has changed. Then every gfn is
// stored, with no allocation left to fail.
//
// Locking: Lock.Slots (kvm->slots_lock, which Linux holds for this ioctl)
// serialises writers, and readers take it too, so that no reader walks a
// radix node that an erase freed (radix.ts has no RCU) or sees a reservation.
// Zapping the mappings of gfns whose attributes change is the caller's.

import { Lock, VmRec, VM_MAX, vm_ptr } from './layout';
import { PFN_NONE } from './phys';
import {
  RADIX_INDEX_LIMIT, RADIX_NONE, radix_create, radix_destroy, radix_erase, radix_lookup, radix_next, radix_store,
} from './radix';
import { spin_lock, spin_unlock } from './sync';

// include/uapi/linux/kvm.h
export const KVM_MEMORY_ATTRIBUTE_PRIVATE: u64 = 1 << 3;

/** Frame owner of VM `vm`'s attribute-tree nodes is ATTR_OWNER_BASE + vm. */
export const ATTR_OWNER_BASE: u32 = 0x76000000;

/** Marks a reservation; no uAPI attribute uses bit 63. */
const ATTR_RESERVED: u64 = <u64>1 << 63;
/** gfns under one bottom radix node. */
const BLOCK_SHIFT: u32 = 9;

const ENOMEM: i32 = -12;
const EINVAL: i32 = -22;

@inline function vm_exists(vm: u32): bool {
  return vm < VM_MAX && load<u32>(vm_ptr(vm) + VmRec.InUse) != 0;
}

@inline function has_attrs(vm: u32): bool {
  return load<u32>(vm_ptr(vm) + VmRec.HasAttrs) != 0;
}

@inline function attr_root(vm: u32): u32 {
  return load<u32>(vm_ptr(vm) + VmRec.AttrRoot);
}

/** The first gfn of [start, end) in block `block`. */
@inline function block_first(block: u64, start: u64): u64 {
  const b = block << BLOCK_SHIFT;
  return b > start ? b : start;
}

/** Erases the reservations of blocks [first, last]. */
function unreserve(root: u32, start: u64, first: u64, last: u64): void {
  for (let block = first; block <= last; block++) {
    const g = block_first(block, start);
    if ((radix_lookup(root, g) & ATTR_RESERVED) != 0) radix_erase(root, g);
  }
}

/**
 * Sets the attributes of gfns [start, end) to `attrs`. Returns 0; -22
 * (EINVAL) for an empty range or a VM that does not exist; -12 (ENOMEM) when
 * the tree cannot grow (also for non-zero attributes at gfns of 2^36 and up,
 * beyond what the tree indexes), and then nothing has changed.
 */
export function attr_set_range(vm: u32, start: u64, end: u64, attrs: u64): i32 {
  if (start >= end) return EINVAL;
  spin_lock(Lock.Slots);
  if (!vm_exists(vm)) {
    spin_unlock(Lock.Slots);
    return EINVAL;
  }
  if (attrs == 0) {
    if (has_attrs(vm)) {
      const root = attr_root(vm);
      for (let g = radix_next(root, start, end); g != RADIX_NONE; g = radix_next(root, g + 1, end)) radix_erase(root, g);
    }
    spin_unlock(Lock.Slots);
    return 0;
  }
  if (end > RADIX_INDEX_LIMIT) {
    spin_unlock(Lock.Slots);
    return ENOMEM;
  }
  if (!has_attrs(vm)) {
    const created = radix_create(ATTR_OWNER_BASE + vm);
    if (created == PFN_NONE) {
      spin_unlock(Lock.Slots);
      return ENOMEM;
    }
    store<u32>(vm_ptr(vm) + VmRec.AttrRoot, created);
    store<u32>(vm_ptr(vm) + VmRec.HasAttrs, 1);
  }
  const root = attr_root(vm);
  const owner = ATTR_OWNER_BASE + vm;
  const first = start >> BLOCK_SHIFT;
  const last = (end - 1) >> BLOCK_SHIFT;
  // Reserve: an empty block has no bottom node (an emptied node is freed).
  for (let block = first; block <= last; block++) {
    const b = block << BLOCK_SHIFT;
    if (radix_next(root, b, b + (1 << BLOCK_SHIFT)) != RADIX_NONE) continue;
    if (radix_store(root, block_first(block, start), attrs | ATTR_RESERVED, owner) != 0) {
      if (block > first) unreserve(root, start, first, block - 1);
      spin_unlock(Lock.Slots);
      return ENOMEM;
    }
  }
  for (let g = start; g < end; g++) radix_store(root, g, attrs, owner);
  spin_unlock(Lock.Slots);
  return 0;
}

/** The attributes of `gfn` (kvm_get_memory_attributes). */
export function attr_get(vm: u32, gfn: u64): u64 {
  if (vm >= VM_MAX) return 0;
  spin_lock(Lock.Slots);
  const attrs = has_attrs(vm) ? radix_lookup(attr_root(vm), gfn) : 0;
  spin_unlock(Lock.Slots);
  return attrs;
}

/**
 * True when every gfn of [start, end) has exactly `attrs`
 * (kvm_range_has_memory_attributes): KVM_SET_MEMORY_ATTRIBUTES returns at
 * once when the range already has the value.
 */
export function attr_range_is(vm: u32, start: u64, end: u64, attrs: u64): bool {
  if (vm >= VM_MAX) return false;
  spin_lock(Lock.Slots);
  let same: bool;
  if (!has_attrs(vm)) {
    same = attrs == 0;
  } else if (attrs == 0) {
    same = radix_next(attr_root(vm), start, end) == RADIX_NONE;
  } else {
    same = end <= RADIX_INDEX_LIMIT;
    const root = attr_root(vm);
    for (let g = start; same && g < end; g++) same = radix_lookup(root, g) == attrs;
  }
  spin_unlock(Lock.Slots);
  return same;
}

/**
 * Frees VM `vm`'s attribute tree, when it has one. Called by vm_free with
 * Lock.Slots held.
 */
export function attr_teardown(vm: u32): void {
  if (!has_attrs(vm)) return;
  radix_destroy(attr_root(vm));
  store<u32>(vm_ptr(vm) + VmRec.HasAttrs, 0);
}
