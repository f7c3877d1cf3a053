// A radix tree in host frames: the index structure under guest_memfd's page
// cache (page offset -> pfn), the VMM's page table (hva page -> pfn) and the
// per-gfn attributes, in the role the kernel gives to the xarray.
//
// It is shaped like a page table: four levels of nodes, each node one host
// frame of 512 u64 slots, so an index has 36 bits (a 256 TiB file in 4 KiB
// pages, or a 48-bit address space in pages). A slot of an upper node is 0 or
// the HPA of the node below with bit 0 set; a slot of a bottom node is the
// value, 0 meaning empty. Each node counts its slots in use in its frame's
// metadata (Frame.NodeCount), so an erase frees a node the moment it empties
// without scanning it. The root lives as long as the tree, even when empty.
//
// Concurrency. Writers (store, erase, destroy) must be serialised by a lock
// the caller holds; this module takes none. Readers (lookup, next) take no
// lock, so that a vCPU's fault path can look up while the host writes: every
// slot a reader can see is written with one atomic store, and a new node is
// filled before the atomic store that links it in, so a reader finds either
// nothing or a finished path. What the tree cannot do alone is free a node
// under a reader: radix_erase returns an emptied node to the frame allocator
// at once, and a reader that loaded the link to it just before may still read
// it. A caller that lets readers run without its lock must keep them off a
// node until it is reused, by its own rule (KVM's: the invalidation sequence
// and a remote flush that waits for every vCPU). There is no RCU here.

import { Frame, FrameKind, PAGE_SHIFT, frame_meta_ptr, pfn_to_ptr } from './layout';
import { PFN_NONE, frame_alloc, frame_put } from './phys';

const RADIX_LEVELS: u32 = 4;
/** Index bits resolved by one node. */
const RADIX_NODE_BITS: u32 = 9;
const RADIX_NODE_SLOTS: u32 = 512;
/** Indices the tree holds: [0, RADIX_INDEX_LIMIT). */
export const RADIX_INDEX_LIMIT: u64 = <u64>1 << (RADIX_LEVELS * RADIX_NODE_BITS);
/** radix_next's answer when no index in the range holds a value. */
export const RADIX_NONE: u64 = 0xffff_ffff_ffff_ffff;

/** Bit 0 of an upper slot: a node is linked here. */
const NODE_LINK_PRESENT: u64 = 1;

const ENOMEM: i32 = -12;
const EINVAL: i32 = -22;

/** The slot of `node` (a node of `level`, 4 = root, 1 = bottom) that `index` selects. */
@inline function slot_ptr(node: u32, index: u64, level: u32): usize {
  const i = <usize>((index >> (RADIX_NODE_BITS * (level - 1))) & (RADIX_NODE_SLOTS - 1));
  return pfn_to_ptr(node) + (i << 3);
}

@inline function node_link(node: u32): u64 {
  return (<u64>node << PAGE_SHIFT) | NODE_LINK_PRESENT;
}

@inline function link_node(link: u64): u32 {
  return <u32>(link >> PAGE_SHIFT);
}

@inline function node_count(node: u32): u32 {
  return load<u16>(frame_meta_ptr(node) + Frame.NodeCount);
}

@inline function set_node_count(node: u32, count: u32): void {
  store<u16>(frame_meta_ptr(node) + Frame.NodeCount, <u16>count);
}

/** A zeroed node with no slot in use, or PFN_NONE. */
function node_alloc(owner: u32): u32 {
  const node = frame_alloc(FrameKind.Kernel, owner);
  if (node != PFN_NONE) set_node_count(node, 0);
  return node;
}

/** Creates an empty tree whose nodes belong to `owner`. Returns the root's pfn, or PFN_NONE. */
export function radix_create(owner: u32): u32 {
  return node_alloc(owner);
}

/** The value at `index`, or 0. Lock-free (see the file comment). */
@inline export function radix_lookup(root: u32, index: u64): u64 {
  if (index >= RADIX_INDEX_LIMIT) return 0;
  let node = root;
  for (let level = RADIX_LEVELS; level > 1; level--) {
    const link = atomic.load<u64>(slot_ptr(node, index, level));
    if (link == 0) return 0;
    node = link_node(link);
  }
  return atomic.load<u64>(slot_ptr(node, index, 1));
}

/** Frees the unpublished chain of nodes that hangs from `top` (of `level`) along `index`. */
function chain_free(top: u32, level: u32, index: u64): void {
  let node = top;
  for (let l = level; l > 1; l--) {
    const below = link_node(load<u64>(slot_ptr(node, index, l)));
    frame_put(node);
    node = below;
  }
  frame_put(node);
}

/**
 * Sets the value at `index` (storing 0 erases it). Missing nodes are
 * allocated as Kernel frames of `owner`, all of them before anything is
 * linked. Returns 0; -22 (EINVAL) for an index beyond RADIX_INDEX_LIMIT;
 * -12 (ENOMEM) when a node cannot be allocated, and then the tree is as it
 * was and no frame is kept. Caller holds the writers' lock.
 */
export function radix_store(root: u32, index: u64, value: u64, owner: u32): i32 {
  if (index >= RADIX_INDEX_LIMIT) return EINVAL;
  if (value == 0) {
    radix_erase(root, index);
    return 0;
  }
  // The deepest node on the path that exists already.
  let node = root;
  let level = RADIX_LEVELS;
  while (level > 1) {
    const link = load<u64>(slot_ptr(node, index, level));
    if (link == 0) break;
    node = link_node(link);
    level--;
  }
  if (level == 1) {
    const slot = slot_ptr(node, index, 1);
    if (load<u64>(slot) == 0) set_node_count(node, node_count(node) + 1);
    atomic.store<u64>(slot, value);
    return 0;
  }
  // Build the missing path bottom-up, out of the readers' sight.
  let chain = PFN_NONE;
  for (let l: u32 = 1; l < level; l++) {
    const fresh = node_alloc(owner);
    if (fresh == PFN_NONE) {
      if (chain != PFN_NONE) chain_free(chain, l - 1, index);
      return ENOMEM;
    }
    store<u64>(slot_ptr(fresh, index, l), l == 1 ? value : node_link(chain));
    set_node_count(fresh, 1);
    chain = fresh;
  }
  // Publishing: one atomic store makes the whole finished path visible.
  set_node_count(node, node_count(node) + 1);
  atomic.store<u64>(slot_ptr(node, index, level), node_link(chain));
  return 0;
}

/**
 * Empties slot `level` of `parent` that links `node` and frees `node`.
 * Returns the parent's remaining count.
 */
@inline function unlink_node(parent: u32, index: u64, level: u32, node: u32): u32 {
  atomic.store<u64>(slot_ptr(parent, index, level), 0);
  frame_put(node);
  const left = node_count(parent) - 1;
  set_node_count(parent, left);
  return left;
}

/**
 * Clears the value at `index` and frees the nodes that this empties (never
 * the root). Returns the old value, 0 if there was none. Caller holds the
 * writers' lock; see the file comment about readers and freed nodes.
 */
export function radix_erase(root: u32, index: u64): u64 {
  if (index >= RADIX_INDEX_LIMIT) return 0;
  const l3 = load<u64>(slot_ptr(root, index, 4));
  if (l3 == 0) return 0;
  const n3 = link_node(l3);
  const l2 = load<u64>(slot_ptr(n3, index, 3));
  if (l2 == 0) return 0;
  const n2 = link_node(l2);
  const l1 = load<u64>(slot_ptr(n2, index, 2));
  if (l1 == 0) return 0;
  const n1 = link_node(l1);
  const slot = slot_ptr(n1, index, 1);
  const old = load<u64>(slot);
  if (old == 0) return 0;
  atomic.store<u64>(slot, 0);
  const left = node_count(n1) - 1;
  set_node_count(n1, left);
  if (left == 0 && unlink_node(n2, index, 2, n1) == 0 && unlink_node(n3, index, 3, n2) == 0) {
    unlink_node(root, index, 4, n3);
  }
  return old;
}

/**
 * The first index in [from, to) that holds a value, or RADIX_NONE. Empty
 * subtrees are skipped whole: the cost follows the values found, not the
 * width of the range. Lock-free (see the file comment).
 */
export function radix_next(root: u32, from: u64, to: u64): u64 {
  const end = to < RADIX_INDEX_LIMIT ? to : RADIX_INDEX_LIMIT;
  let index = from;
  while (index < end) {
    let node = root;
    let level = RADIX_LEVELS;
    for (;;) {
      const shift = RADIX_NODE_BITS * (level - 1);
      const span = shift + RADIX_NODE_BITS;
      const base = (index >> span) << span;
      const p = pfn_to_ptr(node);
      let i = <u32>((index >> shift) & (RADIX_NODE_SLOTS - 1));
      let slot: u64 = 0;
      while (i < RADIX_NODE_SLOTS) {
        slot = atomic.load<u64>(p + (<usize>i << 3));
        if (slot != 0) break;
        i++;
      }
      if (i == RADIX_NODE_SLOTS) {
        // Nothing at or after `index` under this node: go on after the node's
        // span, from the root again.
        index = base + (<u64>1 << span);
        break;
      }
      const found = base + (<u64>i << shift);
      if (found > index) index = found;
      if (index >= end) return RADIX_NONE;
      if (level == 1) return index;
      node = link_node(slot);
      level--;
    }
  }
  return RADIX_NONE;
}

function node_destroy(node: u32, level: u32): void {
  if (level > 1) {
    const p = pfn_to_ptr(node);
    for (let i: usize = 0; i < RADIX_NODE_SLOTS; i++) {
      const link = load<u64>(p + (i << 3));
      if (link != 0) node_destroy(link_node(link), level - 1);
    }
  }
  frame_put(node);
}

/**
 * Frees every node of the tree, the root included; what the values refer to
 * is the caller's to release first. No reader may use the tree any more.
 */
export function radix_destroy(root: u32): void {
  node_destroy(root, RADIX_LEVELS);
}
