// Memslots: each VM's map from guest frame numbers to the memory behind them
// (virt/kvm/kvm_main.c), kept in shared memory so that a vCPU's fault path
// can resolve a gfn from Wasm without JavaScript.
//
// A VM is a VmRec in a fixed table. Its memslots are records sorted by
// (address space, base_gfn), so a gfn resolves by binary search. The uAPI
// layer (src/kvm) validates every request in Linux's order; the checks here
// only keep the table consistent.
//
// Publication, after KVM's pair of memslot sets: every VM has two sets, one
// active (Generation & 1) and one inactive. A writer holds Lock.Slots, builds
// the new table in the inactive set from the active one plus its change, and
// publishes it with one atomic store of Generation + 1, which also makes it
// the active set. The writer after it rebuilds the set that just went
// inactive. KVM waits for SRCU readers of the old set before it reuses it;
// there is no SRCU here, so a lockless reader follows the seqcount rule
// instead:
//
//   do { gen = memslot_generation(vm); i = memslot_lookup_gfn(vm, gfn);
//        ...read the slot's fields by i...
//   } while (memslot_generation(vm) != gen);
//
// Any publication between the two loads may have rewritten what the reader
// saw (its set goes inactive at once and is rebuilt by the next writer), so
// the reader retries. Readers never write, and every index they compute stays
// inside the set, so a retried read is harmless. Code that holds Lock.Slots,
// or runs in the only writing thread, reads without the loop.

import {
  Lock, MEMSLOTS_MAX, MEMSLOT_BYTES, Memslot, VM_MAX, VmRec, memslot_set_ptr, vm_ptr,
} from './layout';
import { spin_lock, spin_unlock } from './sync';
import { attr_teardown } from './attributes';

const ENOMEM: i32 = -12;
const EINVAL: i32 = -22;
const ENOSPC: i32 = -28;

/** The address space of a slot id: its high 16 bits, as in the uAPI. */
@inline function slot_as_id(id: u32): u32 {
  return id >>> 16;
}

@inline function vm_exists(vm: u32): bool {
  return vm < VM_MAX && atomic.load<u32>(vm_ptr(vm) + VmRec.InUse) != 0;
}

@inline function active_set(vm: u32): u32 {
  return atomic.load<u32>(vm_ptr(vm) + VmRec.Generation) & 1;
}

/** Slots in set `set`, never more than the set holds (a racing reader may see anything). */
@inline function set_count(vm: u32, set: u32): u32 {
  const n = atomic.load<u32>(vm_ptr(vm) + VmRec.Count + (set << 2));
  return n < MEMSLOTS_MAX ? n : MEMSLOTS_MAX;
}

@inline function slot_ptr(vm: u32, set: u32, i: u32): usize {
  return memslot_set_ptr(vm, set) + <usize>i * MEMSLOT_BYTES;
}

/** Slot `i` of the active set; reads of a stale index stay inside the set. */
@inline function active_slot_ptr(vm: u32, i: i32): usize {
  return slot_ptr(vm, active_set(vm), <u32>i % MEMSLOTS_MAX);
}

/** True when slot `p` sorts before (as_id, gfn). */
@inline function sorts_before(p: usize, as_id: u32, gfn: u64): bool {
  const a = slot_as_id(load<u32>(p + Memslot.Id));
  return a < as_id || (a == as_id && load<u64>(p + Memslot.BaseGfn) < gfn);
}

/** Creates a VM record with no memslots. Returns its id, or -12 (ENOMEM) when VM_MAX exist. */
export function vm_alloc(): i32 {
  spin_lock(Lock.Slots);
  for (let vm: u32 = 0; vm < VM_MAX; vm++) {
    const p = vm_ptr(vm);
    if (load<u32>(p + VmRec.InUse) != 0) continue;
    store<u32>(p + VmRec.Generation, 0);
    store<u32>(p + VmRec.Count, 0);
    store<u32>(p + VmRec.Count + 4, 0);
    atomic.store<u32>(p + VmRec.InUse, 1);
    spin_unlock(Lock.Slots);
    return <i32>vm;
  }
  spin_unlock(Lock.Slots);
  return ENOMEM;
}

/** Destroys a VM record, its memslots and its memory attributes. No vCPU of the VM may run any more. */
export function vm_free(vm: u32): void {
  if (vm >= VM_MAX) return;
  spin_lock(Lock.Slots);
  const p = vm_ptr(vm);
  atomic.store<u32>(p + VmRec.InUse, 0);
  atomic.store<u32>(p + VmRec.Count, 0);
  atomic.store<u32>(p + VmRec.Count + 4, 0);
  attr_teardown(vm);
  spin_unlock(Lock.Slots);
}

/** The VM's memslot generation: what a lockless reader checks around its reads. */
export function memslot_generation(vm: u32): u32 {
  return atomic.load<u32>(vm_ptr(vm) + VmRec.Generation);
}

/** Active memslots of the VM. */
export function memslot_count(vm: u32): u32 {
  if (!vm_exists(vm)) return 0;
  return set_count(vm, active_set(vm));
}

/** Index (in the active set) of the slot with id `id`, or -1. */
export function memslot_find(vm: u32, id: u32): i32 {
  if (!vm_exists(vm)) return -1;
  const set = active_set(vm);
  const n = set_count(vm, set);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(slot_ptr(vm, set, i) + Memslot.Id) == id) return <i32>i;
  }
  return -1;
}

/**
 * Publishes set `to` (built by the caller from the active set) as the new
 * active set holding `n` slots. Caller holds Lock.Slots.
 */
function publish(vm: u32, to: u32, n: u32): void {
  const p = vm_ptr(vm);
  atomic.store<u32>(p + VmRec.Count + (to << 2), n);
  atomic.store<u32>(p + VmRec.Generation, atomic.load<u32>(p + VmRec.Generation) + 1);
}

@inline function slot_fill(
  q: usize, id: u32, flags: u32, base_gfn: u64, npages: u64, userspace_addr: u64, gmem_id: i32, gmem_pgoff: u64,
): void {
  store<u32>(q + Memslot.Id, id);
  store<u32>(q + Memslot.Flags, flags);
  store<u64>(q + Memslot.BaseGfn, base_gfn);
  store<u64>(q + Memslot.Npages, npages);
  store<u64>(q + Memslot.UserspaceAddr, userspace_addr);
  store<i32>(q + Memslot.GmemFile, gmem_id);
  store<u64>(q + Memslot.GmemPgoff, gmem_pgoff);
}

/**
 * Creates slot `id` or replaces its record (a move or a flags change), and
 * publishes the new table. Returns 0; -22 (EINVAL) for a VM that does not
 * exist or an empty slot; -28 (ENOSPC) when MEMSLOTS_MAX slots exist and
 * `id` is not one of them.
 */
export function memslot_set(
  vm: u32, id: u32, flags: u32, base_gfn: u64, npages: u64, userspace_addr: u64, gmem_id: i32, gmem_pgoff: u64,
): i32 {
  if (npages == 0) return EINVAL;
  spin_lock(Lock.Slots);
  if (!vm_exists(vm)) {
    spin_unlock(Lock.Slots);
    return EINVAL;
  }
  const from = active_set(vm);
  const to = from ^ 1;
  const n = set_count(vm, from);
  if (n == MEMSLOTS_MAX && memslot_find(vm, id) < 0) {
    spin_unlock(Lock.Slots);
    return ENOSPC;
  }
  // Copy the active set without the old record of `id`, and the new record
  // at its sorted place.
  const as_id = slot_as_id(id);
  let out: u32 = 0;
  let placed = false;
  for (let i: u32 = 0; i < n; i++) {
    const src = slot_ptr(vm, from, i);
    if (load<u32>(src + Memslot.Id) == id) continue;
    if (!placed && !sorts_before(src, as_id, base_gfn)) {
      slot_fill(slot_ptr(vm, to, out++), id, flags, base_gfn, npages, userspace_addr, gmem_id, gmem_pgoff);
      placed = true;
    }
    memory.copy(slot_ptr(vm, to, out++), src, MEMSLOT_BYTES);
  }
  if (!placed) slot_fill(slot_ptr(vm, to, out++), id, flags, base_gfn, npages, userspace_addr, gmem_id, gmem_pgoff);
  publish(vm, to, out);
  spin_unlock(Lock.Slots);
  return 0;
}

/** Removes slot `id` and publishes the new table. Returns 0, or -22 (EINVAL) when there is no such slot. */
export function memslot_delete(vm: u32, id: u32): i32 {
  spin_lock(Lock.Slots);
  if (!vm_exists(vm)) {
    spin_unlock(Lock.Slots);
    return EINVAL;
  }
  const from = active_set(vm);
  const to = from ^ 1;
  const n = set_count(vm, from);
  let out: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const src = slot_ptr(vm, from, i);
    if (load<u32>(src + Memslot.Id) == id) continue;
    memory.copy(slot_ptr(vm, to, out), src, MEMSLOT_BYTES);
    out++;
  }
  if (out == n) {
    spin_unlock(Lock.Slots);
    return EINVAL;
  }
  publish(vm, to, out);
  spin_unlock(Lock.Slots);
  return 0;
}

/**
 * Index of the slot of address space 0 that holds `gfn`, or -1 (the gfn is
 * MMIO to the guest). The fault path's lookup: a binary search, lock-free
 * (see the file comment for the reader's rule).
 */
export function memslot_lookup_gfn(vm: u32, gfn: u64): i32 {
  if (vm >= VM_MAX) return -1;
  const set = active_set(vm);
  const n = set_count(vm, set);
  // The last slot whose (as_id, base_gfn) is at most (0, gfn).
  let lo: u32 = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const p = slot_ptr(vm, set, mid);
    if (slot_as_id(load<u32>(p + Memslot.Id)) == 0 && load<u64>(p + Memslot.BaseGfn) <= gfn) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return -1;
  const p = slot_ptr(vm, set, lo - 1);
  if (slot_as_id(load<u32>(p + Memslot.Id)) != 0) return -1;
  return gfn - load<u64>(p + Memslot.BaseGfn) < load<u64>(p + Memslot.Npages) ? <i32>(lo - 1) : -1;
}

/**
 * True when [base_gfn, base_gfn + npages) meets a slot of address space
 * `as_id` other than `except_id`: the EEXIST rule of a create or a move.
 */
export function memslot_overlaps(vm: u32, as_id: u32, base_gfn: u64, npages: u64, except_id: u32): bool {
  if (!vm_exists(vm)) return false;
  const set = active_set(vm);
  const n = set_count(vm, set);
  const end = base_gfn + npages;
  for (let i: u32 = 0; i < n; i++) {
    const p = slot_ptr(vm, set, i);
    const id = load<u32>(p + Memslot.Id);
    if (id == except_id || slot_as_id(id) != as_id) continue;
    const b = load<u64>(p + Memslot.BaseGfn);
    if (b < end && base_gfn < b + load<u64>(p + Memslot.Npages)) return true;
  }
  return false;
}

/**
 * True when pages [pgoff, pgoff + npages) of guest_memfd `file` are already
 * bound to a slot of the VM other than `except_id` (kvm_gmem_bind's EINVAL).
 */
export function memslot_gmem_bound(vm: u32, file: i32, pgoff: u64, npages: u64, except_id: u32): bool {
  if (!vm_exists(vm)) return false;
  const set = active_set(vm);
  const n = set_count(vm, set);
  const end = pgoff + npages;
  for (let i: u32 = 0; i < n; i++) {
    const p = slot_ptr(vm, set, i);
    if (load<u32>(p + Memslot.Id) == except_id || load<i32>(p + Memslot.GmemFile) != file) continue;
    const b = load<u64>(p + Memslot.GmemPgoff);
    if (b < end && pgoff < b + load<u64>(p + Memslot.Npages)) return true;
  }
  return false;
}

// Fields of slot `i` of the active set.

export function memslot_id(vm: u32, i: i32): u32 {
  return load<u32>(active_slot_ptr(vm, i) + Memslot.Id);
}

export function memslot_flags(vm: u32, i: i32): u32 {
  return load<u32>(active_slot_ptr(vm, i) + Memslot.Flags);
}

export function memslot_base_gfn(vm: u32, i: i32): u64 {
  return load<u64>(active_slot_ptr(vm, i) + Memslot.BaseGfn);
}

export function memslot_npages(vm: u32, i: i32): u64 {
  return load<u64>(active_slot_ptr(vm, i) + Memslot.Npages);
}

export function memslot_userspace_addr(vm: u32, i: i32): u64 {
  return load<u64>(active_slot_ptr(vm, i) + Memslot.UserspaceAddr);
}

/** The guest_memfd file bound to slot `i`, or -1. */
export function memslot_gmem_file(vm: u32, i: i32): i32 {
  return load<i32>(active_slot_ptr(vm, i) + Memslot.GmemFile);
}

export function memslot_gmem_pgoff(vm: u32, i: i32): u64 {
  return load<u64>(active_slot_ptr(vm, i) + Memslot.GmemPgoff);
}
