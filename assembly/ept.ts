// EPT: the host's second-level tables, in host frames, in Intel's entry format.
//
// The walk (ept_walk) is what the processor does for every guest-physical
// address a vCPU uses when its TLB misses: a 4-level walk from the EPT pointer,
// with the misconfiguration checks, the AND of R/W/X over the levels, the
// violation exit qualification, and the EPT accessed/dirty flags. It is the
// hot path: it allocates nothing and leaves its results in module globals
// (per instance, so per thread), read through the getters below.
//
// Map, zap and destroy (ept_map, ept_zap, ept_destroy) are KVM's side: they
// build and tear down the tables a VM's EPTP points to, as the TDP MMU does.
// They run on the host, under KVM's mmu_lock (taken by the caller; the lock is
// added with the fault path), while vCPUs keep walking the same tables without
// any lock. So every entry a walker can see is written with one atomic store
// of a finished value, and tables are filled before they are linked in.
//
// Rules: spec/x86-paging.md sections 9-13 and conformance/EPT.md.

import {
  AccessKind, AccessStatus, EptCap, FrameKind, TraceKind,
  hpa_to_ptr, pfn_to_ptr, ram_base, ram_bytes,
} from './layout';
import { PFN_NONE, frame_alloc, frame_put } from './phys';
import { Stat, stat_add, stat_inc } from './stats';
import { trace_ref, tracing } from './trace';

// EPT entry bits (arch/x86/include/asm/vmx.h: VMX_EPT_*).
const EPT_READABLE: u64 = 1 << 0;
const EPT_WRITABLE: u64 = 1 << 1;
const EPT_EXECUTABLE: u64 = 1 << 2;
const EPT_RWX: u64 = 7;
const EPT_MT_SHIFT: u32 = 3;
const EPT_IPAT: u64 = 1 << 6;
const EPT_LARGE_PAGE: u64 = 1 << 7;
const EPT_ACCESSED: u64 = 1 << 8;
const EPT_DIRTY: u64 = 1 << 9;
/** Bits 51:12: where any entry keeps its address (bits 51:M are checked apart). */
const EPT_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/** Memory types 2, 3 and 7 are reserved: a bitmap indexed by bits 5:3. */
const EPT_BAD_MEMTYPES: u32 = (1 << 2) | (1 << 3) | (1 << 7);

// EPTP bits (section 9).
const EPTP_MT_WB: u64 = 6;
const EPTP_PWL_4: u64 = 3 << 3;
const EPTP_AD_ENABLE: u64 = 1 << 6;

// Exit qualification of an EPT violation (section 12; KVM's EPT_VIOLATION_*).
const EPT_VIOLATION_ACC_READ: u64 = 1 << 0;
const EPT_VIOLATION_ACC_WRITE: u64 = 1 << 1;
const EPT_VIOLATION_ACC_INSTR: u64 = 1 << 2;
const EPT_VIOLATION_PROT_SHIFT: u32 = 3;
const EPT_VIOLATION_GVA_IS_VALID: u64 = 1 << 7;
const EPT_VIOLATION_GVA_TRANSLATED: u64 = 1 << 8;

/** GPA bits the 4-level walk translates (47:0). */
const EPT_GPA_LIMIT: u64 = 1 << 48;

/** ept_map's prot: RWX, memory type, IPAT, and a preset A/D (as make_spte may set). */
const EPT_PROT_MASK: u32 = <u32>(EPT_RWX | (<u64>7 << EPT_MT_SHIFT) | EPT_IPAT | EPT_ACCESSED | EPT_DIRTY);

const ENOMEM: i32 = -12;
const EEXIST: i32 = -17;
const EINVAL: i32 = -22;

/** Internal status of one pass of the walk: an A/D compare-exchange lost a race. */
const WALK_RETRY: i32 = -1;

// ---------------------------------------------------------------------------
// Results of the last walk (per instance).

let g_hpa: u64 = 0;
let g_page_shift: u32 = 0;
let g_rights: u32 = 0;
let g_qualification: u64 = 0;
let g_level: u32 = 0;

/** Host-physical address of the last successful walk. */
export function ept_hpa(): u64 { return g_hpa; }
/** log2 of the page size the last successful walk ended in: 12, 21 or 30. */
export function ept_page_shift(): u32 { return g_page_shift; }
/** Effective R | W << 1 | X << 2 of the last walk (the AND over the entries used). */
export function ept_rights(): u32 { return g_rights; }
/** Exit qualification of the last walk's EPT violation (0 otherwise). */
export function ept_qualification(): u64 { return g_qualification; }
/**
 * Level (4 = PML4E ... 1 = PTE) of the entry where the last walk stopped: the
 * faulting entry, the leaf of a success, or the table a NoMemory walk could
 * not read.
 */
export function ept_level(): u32 { return g_level; }

/** log2 of the span of one entry at `level`. */
@inline function level_shift(level: u32): u32 {
  return 12 + 9 * (level - 1);
}

/** Bits 51:M, reserved in every entry when the host MAXPHYADDR is M. */
@inline function reserved_high_bits(caps: u32): u64 {
  const m = <u64>(caps & EptCap.MaxPhyAddrMask);
  return m >= 52 ? 0 : (EPT_ADDR_MASK >> m << m) & ~(<u64>0xfff);
}

@inline function is_leaf(e: u64, level: u32): bool {
  return level == 1 || (level != 4 && (e & EPT_LARGE_PAGE) != 0);
}

/**
 * Section 11 for one present entry. Bits 63:52, 11, 10 (no MBEC) and 9:8 are
 * never checked, nor bit 7 of a PTE, nor IPAT or a valid memory type of a leaf.
 */
@inline function is_misconfigured(e: u64, level: u32, leaf: bool, rsvd_high: u64, caps: u32): bool {
  const xwr = <u32>(e & EPT_RWX);
  if ((xwr & 3) == 2) return true; // write without read
  if (xwr == 4 && (caps & EptCap.ExecOnly) == 0) return true;
  if ((e & rsvd_high) != 0) return true;
  if (level == 4) return (e & 0xf8) != 0; // bits 7:3, the large-page bit included
  if (!leaf) return (e & 0x78) != 0; // bits 6:3: no memory type or IPAT above a leaf
  if (((EPT_BAD_MEMTYPES >> <u32>((e >> EPT_MT_SHIFT) & 7)) & 1) != 0) return true;
  // Large leaves reserve the address bits below their size, bit 12 included
  // (bit 12 is PAT only in ordinary paging; KVM reserves it for EPT too).
  if (level == 2) return (e & 0x1f_f000) != 0;
  if (level == 3) return (caps & EptCap.Page1g) == 0 || (e & 0x3fff_f000) != 0;
  return false;
}

/** Where the entry for `gpa` at `level` of the table at `table` is. */
@inline function entry_ptr(ram: usize, table: u64, gpa: u64, level: u32): usize {
  return ram + <usize>(table + (((gpa >> level_shift(level)) & 511) << 3));
}

/** Reads one entry, and records the reference when tracing. */
@inline function read_entry(p: usize, ram: usize, level: u32, trace: bool): u64 {
  const e = atomic.load<u64>(p);
  if (trace) trace_ref(TraceKind.EptEntry, level, <u64>(p - ram), e, 0);
  return e;
}

/** Whether the walk ends at entry `e`: not present, a leaf, or misconfigured. */
@inline function ends_walk(e: u64, level: u32, rsvd_high: u64, caps: u32): bool {
  if ((e & EPT_RWX) == 0) return true;
  const leaf = is_leaf(e, level);
  return leaf || is_misconfigured(e, level, leaf, rsvd_high, caps);
}

/**
 * One pass of the walk. Returns an AccessStatus, or WALK_RETRY when another
 * thread changed an entry between our read and our A/D update.
 *
 * The four levels are written out rather than looped over: with the level a
 * constant, each level's checks fold to the few that apply to it, and the
 * entries stay in locals for the A/D pass. Every guest TLB miss makes five of
 * these walks, so their per-level work is most of a 2D walk's cost.
 */
@inline function ept_walk_once(eptp: u64, gpa: u64, kind: AccessKind, paging_structure: bool, gla_valid: bool, caps: u32): i32 {
  const rsvd_high = reserved_high_bits(caps);
  const ram_end = ram_bytes();
  const ram = ram_base();
  const trace = tracing();
  stat_inc(Stat.EptWalk);
  g_hpa = 0;
  g_page_shift = 0;
  g_qualification = 0;

  // The entries read, by level, and the AND of all of them: its bits 2:0 are
  // the rights, and its A bit says whether any entry lacks A. Bits 5:3 of a
  // violation's qualification include the entry that stopped the walk, so
  // that entry is in the AND too. The walk stops at `level` with `table`
  // pointing at the table it read there (or could not read: beyond RAM).
  let p4: usize = 0; let p3: usize = 0; let p2: usize = 0; let p1: usize = 0;
  let e4: u64 = 0; let e3: u64 = 0; let e2: u64 = 0; let e1: u64 = 0;
  let all: u64 = ~(<u64>0);
  let level: u32 = 4;
  let table: u64 = eptp & EPT_ADDR_MASK & ~rsvd_high;
  do {
    if (table >= ram_end) break;
    p4 = entry_ptr(ram, table, gpa, 4);
    e4 = read_entry(p4, ram, 4, trace);
    all &= e4;
    if (ends_walk(e4, 4, rsvd_high, caps)) break;
    level = 3;
    table = e4 & EPT_ADDR_MASK;
    if (table >= ram_end) break;
    p3 = entry_ptr(ram, table, gpa, 3);
    e3 = read_entry(p3, ram, 3, trace);
    all &= e3;
    if (ends_walk(e3, 3, rsvd_high, caps)) break;
    level = 2;
    table = e3 & EPT_ADDR_MASK;
    if (table >= ram_end) break;
    p2 = entry_ptr(ram, table, gpa, 2);
    e2 = read_entry(p2, ram, 2, trace);
    all &= e2;
    if (ends_walk(e2, 2, rsvd_high, caps)) break;
    level = 1;
    table = e2 & EPT_ADDR_MASK;
    if (table >= ram_end) break;
    p1 = entry_ptr(ram, table, gpa, 1);
    e1 = read_entry(p1, ram, 1, trace);
    all &= e1;
  } while (false);

  g_level = level;
  if (table >= ram_end) {
    stat_add(Stat.EptEntryRead, 4 - level);
    g_rights = 0;
    return AccessStatus.NoMemory;
  }
  stat_add(Stat.EptEntryRead, 5 - level);
  const e = level == 4 ? e4 : level == 3 ? e3 : level == 2 ? e2 : e1;
  const rights = <u32>(all & EPT_RWX);
  g_rights = rights;
  const present = (e & EPT_RWX) != 0;
  const leaf = present && is_leaf(e, level);
  if (present && is_misconfigured(e, level, leaf, rsvd_high, caps)) {
    stat_inc(Stat.EptMisconfig);
    return AccessStatus.EptMisconfig;
  }

  // A guest paging-structure access with EPT A/D on is treated as a write,
  // because the guest walker may have to set a guest A/D bit there; a PDPTE
  // load by MOV to CR3 (no linear address) stays a read.
  // The SDM reports such an access as both a read and a write (bits 0 and 1).
  const ad = (eptp & EPTP_AD_ENABLE) != 0;
  const table_access_as_write = ad && paging_structure && gla_valid;
  const as_write = kind == AccessKind.Write || table_access_as_write;
  let need: u32;
  let acc: u64;
  if (table_access_as_write) {
    need = <u32>EPT_WRITABLE;
    acc = EPT_VIOLATION_ACC_READ | EPT_VIOLATION_ACC_WRITE;
  } else if (kind == AccessKind.Fetch) {
    need = <u32>EPT_EXECUTABLE;
    acc = EPT_VIOLATION_ACC_INSTR;
  } else if (kind == AccessKind.Write) {
    need = <u32>EPT_WRITABLE;
    acc = EPT_VIOLATION_ACC_WRITE;
  } else {
    need = <u32>EPT_READABLE;
    acc = EPT_VIOLATION_ACC_READ;
  }
  if (!leaf || (rights & need) == 0) {
    let q = acc | (<u64>rights << EPT_VIOLATION_PROT_SHIFT);
    if (gla_valid) {
      q |= EPT_VIOLATION_GVA_IS_VALID;
      if (!paging_structure) q |= EPT_VIOLATION_GVA_TRANSLATED;
    }
    g_qualification = q;
    stat_inc(Stat.EptViolation);
    return AccessStatus.EptViolation;
  }

  const shift = level_shift(level);
  const offset_mask: u64 = (<u64>1 << shift) - 1;
  g_page_shift = shift;
  g_hpa = (e & EPT_ADDR_MASK & ~offset_mask) | (gpa & offset_mask);

  // A/D only after the whole walk succeeded (KVM and Bochs; the SDM promises
  // the flags only for entries used in a translation): A top-down on every
  // entry used, D on the leaf for a write. Other vCPUs walk and KVM zaps the
  // same tables concurrently, so each update is a compare-exchange against the
  // value this walk read; if it lost, the walk starts over on what is there
  // now, as KVM's walker does (retry_walk). Usually every bit is set already
  // (KVM presets A, and D on writable leaves), which `all` and the leaf show.
  const leaf_set: u64 = as_write ? EPT_ACCESSED | EPT_DIRTY : EPT_ACCESSED;
  if (ad && ((all & EPT_ACCESSED) == 0 || (e & leaf_set) != leaf_set)) {
    for (let l: u32 = 4; l >= level; l--) {
      const old = l == 4 ? e4 : l == 3 ? e3 : l == 2 ? e2 : e1;
      const set = l == level ? leaf_set : EPT_ACCESSED;
      if ((old & set) == set) continue;
      const p = l == 4 ? p4 : l == 3 ? p3 : l == 2 ? p2 : p1;
      const nv = old | set;
      if (atomic.cmpxchg<u64>(p, old, nv) != old) return WALK_RETRY;
      stat_inc(Stat.EptAdUpdate);
      if (trace) trace_ref(TraceKind.EptAdUpdate, l, <u64>(p - ram), old, nv);
    }
  }
  return AccessStatus.Ok;
}

/**
 * Translates `gpa` through the EPT that `eptp` points to, for one access:
 * a data access (paging_structure false) or the read / A/D write of a guest
 * paging-structure entry during a guest walk. `gla_valid` is false only for
 * accesses without a guest linear address (PAE PDPTE loads). `caps` is a set
 * of EptCap bits with the host MAXPHYADDR in bits 7:0.
 * Returns Ok, EptViolation, EptMisconfig, or NoMemory when a table pointer lies
 * beyond host RAM; the details are in ept_hpa() and the other getters.
 */
export function ept_walk(eptp: u64, gpa: u64, kind: AccessKind, paging_structure: bool, gla_valid: bool, caps: u32): i32 {
  return ept_walk_inline(eptp, gpa, kind, paging_structure, gla_valid, caps);
}

/**
 * ept_walk, inlined into its caller: the guest walk's hot path uses it. V8
 * keeps no register across a Wasm call, so a call costs the guest walk a
 * spill and reload of its whole state around each of its five EPT walks.
 */
@inline export function ept_walk_inline(eptp: u64, gpa: u64, kind: AccessKind, paging_structure: bool, gla_valid: bool, caps: u32): i32 {
  let r: i32;
  do {
    r = ept_walk_once(eptp, gpa, kind, paging_structure, gla_valid, caps);
  } while (r == WALK_RETRY);
  return r;
}

/** An EPTP for a 4-level EPT rooted at `root_pfn`, write-back walks, A/D optional. */
export function ept_make_eptp(root_pfn: u32, ad: bool): u64 {
  return (<u64>root_pfn << 12) | EPTP_MT_WB | EPTP_PWL_4 | (ad ? EPTP_AD_ENABLE : 0);
}

// ---------------------------------------------------------------------------
// Building and tearing down the tables (host side, under mmu_lock).

@inline function table_alloc(owner: u32): u32 {
  const pfn = frame_alloc(FrameKind.PageTable, owner);
  if (pfn != PFN_NONE) stat_inc(Stat.EptTableAlloc);
  return pfn;
}

@inline function table_free(pfn: u32): void {
  frame_put(pfn);
  stat_inc(Stat.EptTableFree);
}

/**
 * A non-leaf entry pointing at table `pfn`: all rights (the leaf decides) and
 * A already set, as KVM's make_nonleaf_spte does when A/D are enabled (A is
 * ignored by the walk when they are not).
 */
@inline function nonleaf_entry(pfn: u32): u64 {
  return (<u64>pfn << 12) | EPT_RWX | EPT_ACCESSED;
}

@inline function entry_pfn(e: u64): u32 {
  return <u32>((e & EPT_ADDR_MASK) >> 12);
}

/** What the last ept_map of this instance that returned EEXIST found in the way. */
let g_conflict_level: u32 = 0;
let g_conflict_entry: u64 = 0;

/**
 * Level of the entry that made this instance's last ept_map return EEXIST:
 * the target level (a leaf there, or a table under it) or a level above it
 * (a large leaf over the range).
 */
export function ept_map_conflict_level(): u32 { return g_conflict_level; }
/** That entry's value. */
export function ept_map_conflict_entry(): u64 { return g_conflict_entry; }

/** Allocates the PML4 table of a new EPT. Returns its pfn, or PFN_NONE. */
export function ept_root_alloc(owner: u32): u32 {
  return table_alloc(owner);
}

/**
 * Maps the page of 2^page_shift bytes (12, 21 or 30) at `gpa` to `hpa`, with
 * `prot`: bits 2:0 RWX, 5:3 memory type, 6 IPAT, 9:8 A/D to preset. Missing
 * tables are allocated as page-table frames of `owner`.
 * Returns 0; -22 (EINVAL) for a bad size, a misaligned or out-of-range address,
 * or a prot that is not a valid present leaf; -17 (EEXIST) when anything is
 * mapped in the range already (a leaf, a table below, or a large page over
 * it); -12 (ENOMEM) when a table cannot be allocated. A failure changes nothing.
 */
export function ept_map(root: u32, gpa: u64, hpa: u64, page_shift: u32, prot: u32, owner: u32): i32 {
  if (page_shift != 12 && page_shift != 21 && page_shift != 30) return EINVAL;
  const size_mask: u64 = (<u64>1 << page_shift) - 1;
  if ((gpa & size_mask) != 0 || (hpa & size_mask) != 0) return EINVAL;
  if (gpa >= EPT_GPA_LIMIT || (hpa & ~EPT_ADDR_MASK) != 0) return EINVAL;
  const xwr = prot & <u32>EPT_RWX;
  if ((prot & ~EPT_PROT_MASK) != 0 || xwr == 0 || (xwr & 3) == 2) return EINVAL;
  if (((EPT_BAD_MEMTYPES >> ((prot >> EPT_MT_SHIFT) & 7)) & 1) != 0) return EINVAL;
  const target: u32 = (page_shift - 12) / 9 + 1;

  // Find the deepest existing table on the path, refusing anything in the way.
  let table = root;
  let level: u32 = 4;
  let slot: usize = 0;
  for (;;) {
    slot = pfn_to_ptr(table) + (<usize>((gpa >> level_shift(level)) & 511) << 3);
    const e = atomic.load<u64>(slot);
    if ((e & EPT_RWX) == 0) break;
    if (level == target || is_leaf(e, level)) {
      g_conflict_level = level;
      g_conflict_entry = e;
      return EEXIST;
    }
    table = entry_pfn(e);
    level--;
  }

  // Allocate every missing table before touching the tree, so ENOMEM leaves
  // it as it was and leaks nothing.
  const missing = level - target;
  let t1: u32 = PFN_NONE;
  let t2: u32 = PFN_NONE;
  let t3: u32 = PFN_NONE;
  if (missing >= 1) t1 = table_alloc(owner);
  if (missing >= 2 && t1 != PFN_NONE) t2 = table_alloc(owner);
  if (missing >= 3 && t2 != PFN_NONE) t3 = table_alloc(owner);
  const got: u32 = (t1 != PFN_NONE ? 1 : 0) + (t2 != PFN_NONE ? 1 : 0) + (t3 != PFN_NONE ? 1 : 0);
  if (got < missing) {
    if (t2 != PFN_NONE) table_free(t2);
    if (t1 != PFN_NONE) table_free(t1);
    return ENOMEM;
  }

  // Fill the new tables from the bottom up, then publish the chain with one
  // store into the live tree: a concurrent walker sees either nothing or a
  // complete path.
  const leaf = hpa | <u64>prot | (page_shift > 12 ? EPT_LARGE_PAGE : 0);
  let l: u32 = target;
  let chain: u64 = leaf;
  if (missing >= 1) {
    // Levels target .. level-1 are new: t1 holds level `target`, t2 the one above, t3 above that.
    atomic.store<u64>(pfn_to_ptr(t1) + (<usize>((gpa >> level_shift(l)) & 511) << 3), chain);
    chain = nonleaf_entry(t1);
    l++;
    if (missing >= 2) {
      atomic.store<u64>(pfn_to_ptr(t2) + (<usize>((gpa >> level_shift(l)) & 511) << 3), chain);
      chain = nonleaf_entry(t2);
      l++;
    }
    if (missing >= 3) {
      atomic.store<u64>(pfn_to_ptr(t3) + (<usize>((gpa >> level_shift(l)) & 511) << 3), chain);
      chain = nonleaf_entry(t3);
    }
  }
  atomic.store<u64>(slot, chain);
  stat_inc(Stat.EptMapPage);
  return 0;
}

/** True when no entry of table `pfn` is in use. */
function table_is_empty(pfn: u32): bool {
  const p = pfn_to_ptr(pfn);
  for (let i: usize = 0; i < 512; i++) {
    if (atomic.load<u64>(p + (i << 3)) != 0) return false;
  }
  return true;
}

// Tables that ept_zap_deferred unlinked, waiting for ept_free_deferred: a
// chain through the tables themselves, per instance (the thread that zaps is
// the one that flushes and then frees). Each table links to the next through
// its entry 0, stored with bits 2:0 clear: a walker that still reads the
// unlinked table sees a non-present entry there, as in every other slot.
let g_deferred: u32 = PFN_NONE;
let g_deferred_count: u32 = 0;

@inline function table_defer(pfn: u32): void {
  atomic.store<u64>(pfn_to_ptr(pfn), g_deferred == PFN_NONE ? 0 : <u64>(g_deferred + 1) << 12);
  g_deferred = pfn;
  g_deferred_count++;
}

/** What a zap does with the tables it empties. */
enum ZapMode {
  /** Free them at once (no vCPU can be walking). */
  Free = 0,
  /** Unlink them and put them on the deferred chain. */
  Defer = 1,
  /** Leave them linked: only leaves go (the TDP MMU's tdp_mmu_zap_leafs). */
  Leafs = 2,
}

/**
 * Zaps the leaves under table `pfn` (at `level`, covering GPAs from `base`)
 * that overlap [start, end), and does what `mode` says with the tables below
 * it that this empties.
 */
function zap_table(pfn: u32, level: u32, base: u64, start: u64, end: u64, mode: ZapMode): u64 {
  const shift = level_shift(level);
  const p = pfn_to_ptr(pfn);
  const first = <usize>((start - base) >> shift);
  const last = <usize>((end - 1 - base) >> shift);
  let zapped: u64 = 0;
  for (let i = first; i <= last; i++) {
    const slot = p + (i << 3);
    const e = atomic.load<u64>(slot);
    if ((e & EPT_RWX) == 0) continue;
    if (is_leaf(e, level)) {
      // An exchange, not a store: a walker's A/D update either lands before
      // it or fails its compare-exchange and walks again into nothing.
      atomic.xchg<u64>(slot, 0);
      stat_inc(Stat.EptZapEntry);
      zapped++;
      continue;
    }
    const child = entry_pfn(e);
    const child_base = base + (<u64>i << shift);
    const child_end = child_base + (<u64>1 << shift);
    const n = zap_table(child, level - 1, child_base,
      start > child_base ? start : child_base, end < child_end ? end : child_end, mode);
    zapped += n;
    // A deferred zap takes the tables that lie wholly inside the range (the
    // ones leaf-only zaps emptied earlier too) and no table above them.
    const goes = mode == ZapMode.Defer ? start <= child_base && child_end <= end : mode == ZapMode.Free && n != 0;
    if (goes && table_is_empty(child)) {
      atomic.store<u64>(slot, 0);
      if (mode == ZapMode.Defer) table_defer(child);
      else table_free(child);
    }
  }
  return zapped;
}

/**
 * Removes every leaf that overlaps [gpa, gpa + len) from the EPT rooted at
 * `root`, and frees the tables this leaves empty (never the root). A large
 * leaf that overlaps the range only in part is zapped whole, as KVM zaps huge
 * SPTEs; the fault path maps what is still wanted again. Returns the number of
 * leaves zapped.
 *
 * Ordering: a vCPU may still hold a zapped translation in its TLB, and a walk
 * that began before the zap may still be using a table freed here. The caller
 * must flush (INVEPT on every vCPU, i.e. the remote TLB flush that waits for
 * each running vCPU to acknowledge) before it frees or reuses the frames the
 * zapped entries pointed to, and before anything can write a table frame that
 * this call returned to the allocator.
 */
export function ept_zap(root: u32, gpa: u64, len: u64): u64 {
  if (len == 0 || gpa >= EPT_GPA_LIMIT) return 0;
  const end = len > EPT_GPA_LIMIT - gpa ? EPT_GPA_LIMIT : gpa + len;
  return zap_table(root, 4, 0, gpa, end, ZapMode.Free);
}

/**
 * ept_zap for an EPT that vCPUs may be walking right now: the tables that lie
 * wholly inside the range are unlinked but not freed, as the TDP MMU hands
 * removed tables to RCU. The caller completes the remote TLB flush (after which no vCPU is
 * inside a walk that began before the zap, nor holds a translation through
 * the zapped entries) and then calls ept_free_deferred in the same thread.
 * Returns the number of leaves zapped.
 */
export function ept_zap_deferred(root: u32, gpa: u64, len: u64): u64 {
  if (len == 0 || gpa >= EPT_GPA_LIMIT) return 0;
  const end = len > EPT_GPA_LIMIT - gpa ? EPT_GPA_LIMIT : gpa + len;
  return zap_table(root, 4, 0, gpa, end, ZapMode.Defer);
}

/**
 * Removes the leaves that overlap [gpa, gpa + len) and keeps every table, as
 * the TDP MMU's unmap paths do (tables go only with a zap of the whole EPT).
 * Safe while vCPUs walk: no frame is freed. Returns the number of leaves zapped.
 */
export function ept_zap_leafs(root: u32, gpa: u64, len: u64): u64 {
  if (len == 0 || gpa >= EPT_GPA_LIMIT) return 0;
  const end = len > EPT_GPA_LIMIT - gpa ? EPT_GPA_LIMIT : gpa + len;
  return zap_table(root, 4, 0, gpa, end, ZapMode.Leafs);
}

/** Tables this instance's ept_zap_deferred calls unlinked and ept_free_deferred has not freed yet. */
export function ept_deferred_count(): u32 {
  return g_deferred_count;
}

/**
 * Frees every table this instance's ept_zap_deferred calls unlinked. Only
 * after the remote TLB flush that followed those zaps (see ept_zap_deferred).
 * Returns how many were freed.
 */
export function ept_free_deferred(): u32 {
  const n = g_deferred_count;
  while (g_deferred != PFN_NONE) {
    const pfn = g_deferred;
    const link = atomic.load<u64>(pfn_to_ptr(pfn));
    g_deferred = link == 0 ? PFN_NONE : <u32>(link >> 12) - 1;
    table_free(pfn);
  }
  g_deferred_count = 0;
  return n;
}

function destroy_table(pfn: u32, level: u32): void {
  if (level > 1) {
    const p = pfn_to_ptr(pfn);
    for (let i: usize = 0; i < 512; i++) {
      const e = load<u64>(p + (i << 3));
      if ((e & EPT_RWX) != 0 && !is_leaf(e, level)) destroy_table(entry_pfn(e), level - 1);
    }
  }
  table_free(pfn);
}

/**
 * Frees every table of the EPT rooted at `root`, the root included. Like the
 * VM's teardown in KVM, it runs when no vCPU can use the EPTP any more.
 */
export function ept_destroy(root: u32): void {
  destroy_table(root, 4);
}
