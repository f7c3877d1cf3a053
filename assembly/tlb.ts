// The per-vCPU TLB: translations cached in shared memory at tlb_ptr(vcpu),
// TLB_SETS sets of TLB_WAYS entries (the TlbEntry layout in layout.ts).
//
// What an entry holds is what spec/x86-paging.md section 7 and
// conformance/TLB.md list: the page (4 KiB, 2 MiB or 1 GiB), its frame, the
// rights combined over the guest levels, the leaf's D bit, G, the protection
// key, and the EPT rights of the final page; tagged with the PCID it was made
// under, the VPID, and for a combined mapping (EPT on) the EPT tag. It is NOT
// coherent with memory: an entry stays in use after the tables change, until
// an invalidation removes it, and each invalidation removes exactly what the
// SDM requires (the "minimal invalidation" TLB of the conformance cases).
// Entries of one vCPU's TLB are touched only by that vCPU's thread, or by the
// host while the vCPU is not running (KVM's flush requests run on the vCPU).
//
// A page is looked up in the set its own size selects: the 4 KiB probe comes
// first, then 2 MiB, then 1 GiB. A global entry is used only under the PCID
// it was made under (the SDM permits but does not require more).

import {
  CpuFeat, TLB_SETS, TLB_TAG_SIZE_SHIFT, TLB_WAYS, TLB_ENTRY_BYTES,
  TlbAttr, TlbCtx, TlbEntry, TlbSize, Vcpu,
  tlb_ptr, vcpu_ptr,
} from './layout';
import { walk_attr, walk_gpa, walk_hpa, walk_map_shift, walk_page_shift } from './paging';
import { Stat, stat_inc } from './stats';
import { X86_CR3_PCID_MASK, X86_CR4_PCIDE } from './x86';

/** A linear address has at most 57 significant bits; the tag keeps LA[56:shift]. */
const LA_BITS: u64 = (<u64>1 << 57) - 1;
const TAG_VPN_MASK: u64 = ((<u64>1 << TLB_TAG_SIZE_SHIFT) - 1) & ~X86_CR3_PCID_MASK;
const SET_BYTES: usize = <usize>TLB_WAYS * TLB_ENTRY_BYTES;
const TLB_BYTES: usize = <usize>TLB_SETS * SET_BYTES;
const VPID_MASK: u32 = 0xffff;

/** Which global entries an invalidation reaches. */
const GLOBALS_KEEP: u32 = 0;
const GLOBALS_DROP: u32 = 1;

/** Round-robin victim way, per thread: deterministic for a given sequence of fills. */
let g_victim: u32 = 0;

/** TLB_SETS is a power of two: the set index is a mask of the virtual page number. */
@inline function set_ptr(t: usize, la: u64, shift: u32): usize {
  return t + <usize>(<u32>(la >> shift) & (TLB_SETS - 1)) * SET_BYTES;
}

@inline function size_shift(size: u32): u32 {
  return 12 + 9 * (size - 1);
}

@inline function tag_key(la: u64, shift: u32, size: u32): u64 {
  return (<u64>size << TLB_TAG_SIZE_SHIFT) | (((la & LA_BITS) >> shift) << 12);
}

/** The context tag of the vCPU's current translations: VPID, and the EPT tag when EPT is on. */
@inline export function tlb_ctx_at(v: usize): u32 {
  const vpid = load<u32>(v + Vcpu.Vpid) & VPID_MASK;
  if (load<u64>(v + Vcpu.Eptp) == 0) return vpid;
  return vpid | ((load<u32>(v + Vcpu.EptTag) << TlbCtx.EptTagShift) & TlbCtx.EptTagMask) | <u32>TlbCtx.Ept;
}

/** The current PCID: CR3[11:0] with CR4.PCIDE=1, else 0. */
@inline export function tlb_pcid_at(v: usize): u32 {
  return (load<u64>(v + Vcpu.Cr4) & X86_CR4_PCIDE) != 0 ? <u32>(load<u64>(v + Vcpu.Cr3) & X86_CR3_PCID_MASK) : 0;
}

@inline function probe(t: usize, la: u64, size: u32, pcid: u32, ctx: u32): usize {
  const shift = size_shift(size);
  const key = tag_key(la, shift, size) | pcid;
  let p = set_ptr(t, la, shift);
  const end = p + SET_BYTES;
  for (; p < end; p += TLB_ENTRY_BYTES) {
    if (load<u64>(p + TlbEntry.Tag) == key && load<u32>(p + TlbEntry.Ctx) == ctx) return p;
  }
  return 0;
}

/**
 * The entry that translates `la` (canonical) under `pcid` and `ctx` in the TLB
 * at `t`, or 0. The 4 KiB probe comes first: it is the hit path of every access.
 */
@inline export function tlb_lookup(t: usize, la: u64, pcid: u32, ctx: u32): usize {
  let p = probe(t, la, TlbSize.Size4k, pcid, ctx);
  if (p != 0) return p;
  p = probe(t, la, TlbSize.Size2m, pcid, ctx);
  if (p != 0) return p;
  return probe(t, la, TlbSize.Size1g, pcid, ctx);
}

/** log2 of the span of the entry at `p`. */
@inline export function tlb_entry_shift(p: usize): u32 {
  return size_shift(<u32>(load<u64>(p + TlbEntry.Tag) >> TLB_TAG_SIZE_SHIFT));
}

/** log2 of the guest page the entry at `p` belongs to (larger than the entry for a Fragment). */
@inline export function tlb_entry_page_shift(p: usize): u32 {
  const attr = load<u32>(p + TlbEntry.Attr);
  if ((attr & TlbAttr.Fragment) == 0) return tlb_entry_shift(p);
  return size_shift((attr & TlbAttr.GuestSizeMask) >> TlbAttr.GuestSizeShift);
}

/**
 * Caches the translation the last successful walk of `la` produced, on vCPU
 * `v`'s TLB `t`, under the current PCID and context. The entry covers what
 * both the guest page and the EPT page cover: a guest page that EPT maps with
 * smaller pages is cached one piece at a time (a Fragment).
 */
export function tlb_fill(v: usize, t: usize, la: u64): void {
  const shift = walk_map_shift();
  const size = (shift - 12) / 9 + 1;
  const key = tag_key(la, shift, size) | tlb_pcid_at(v);
  const set = set_ptr(t, la, shift);
  let p: usize = 0;
  for (let q = set; q < set + SET_BYTES; q += TLB_ENTRY_BYTES) {
    if (load<u64>(q + TlbEntry.Tag) == 0) { p = q; break; }
  }
  if (p == 0) {
    p = set + <usize>(g_victim++ & (TLB_WAYS - 1)) * TLB_ENTRY_BYTES;
    stat_inc(Stat.TlbEvict);
  }
  let attr = walk_attr();
  const page_shift = walk_page_shift();
  if (shift < page_shift) {
    attr |= TlbAttr.Fragment | ((((page_shift - 12) / 9 + 1) << TlbAttr.GuestSizeShift) & TlbAttr.GuestSizeMask);
  }
  const mask: u64 = (<u64>1 << shift) - 1;
  store<u64>(p + TlbEntry.Tag, key);
  store<u64>(p + TlbEntry.Hpa, walk_hpa() & ~mask);
  store<u64>(p + TlbEntry.Gpa, walk_gpa() & ~mask);
  store<u32>(p + TlbEntry.Attr, attr);
  store<u32>(p + TlbEntry.Ctx, tlb_ctx_at(v));
  stat_inc(Stat.TlbFill);
}

/** Drops one entry that a re-walk will replace (a write through D=0); not an invalidation. */
@inline export function tlb_drop(p: usize): void {
  store<u64>(p + TlbEntry.Tag, 0);
}

/**
 * Whether the entry at `p` is one an invalidation with these parameters
 * removes: its context matches under `ctx_mask`; a global entry goes only with
 * GLOBALS_DROP (whatever its PCID); a non-global one when `pcid` is negative
 * (every PCID) or equal to the entry's.
 */
@inline function selected(p: usize, ctx_mask: u32, ctx_val: u32, pcid: i32, globals: u32): bool {
  const tag = load<u64>(p + TlbEntry.Tag);
  if (tag == 0 || (load<u32>(p + TlbEntry.Ctx) & ctx_mask) != ctx_val) return false;
  if ((load<u32>(p + TlbEntry.Attr) & TlbAttr.Global) != 0) return globals == GLOBALS_DROP;
  return pcid < 0 || <u32>(tag & X86_CR3_PCID_MASK) == <u32>pcid;
}

/** Whether the entry at `p` translates some part of the guest page that holds `la`. */
@inline function covers(p: usize, la: u64): bool {
  const tag = load<u64>(p + TlbEntry.Tag);
  const shift = tlb_entry_shift(p);
  const page_shift = tlb_entry_page_shift(p);
  const entry_la = ((tag & TAG_VPN_MASK) >> 12) << shift;
  return (entry_la >> page_shift) == ((la & LA_BITS) >> page_shift);
}

@inline function drop_counted(p: usize): void {
  store<u64>(p + TlbEntry.Tag, 0);
  stat_inc(Stat.TlbEntryFlushed);
}

/** Removes the selected entries that cover `la` (a whole large page goes, fragments included). */
function flush_page(v: usize, t: usize, la: u64, ctx_mask: u32, ctx_val: u32, pcid: i32, globals: u32): void {
  for (let size: u32 = TlbSize.Size4k; size <= <u32>TlbSize.Size1g; size++) {
    const set = set_ptr(t, la, size_shift(size));
    for (let p = set; p < set + SET_BYTES; p += TLB_ENTRY_BYTES) {
      if (selected(p, ctx_mask, ctx_val, pcid, globals) && covers(p, la)) drop_counted(p);
    }
  }
  // Pieces of a large guest page sit in the sets of their own addresses: only
  // EPT creates them, so only a vCPU with EPT needs the full search.
  if (load<u64>(v + Vcpu.Eptp) == 0) return;
  for (let p = t; p < t + TLB_BYTES; p += TLB_ENTRY_BYTES) {
    if ((load<u32>(p + TlbEntry.Attr) & TlbAttr.Fragment) != 0 &&
        selected(p, ctx_mask, ctx_val, pcid, globals) && covers(p, la)) {
      drop_counted(p);
    }
  }
}

/** Removes every selected entry. */
function flush_all_matching(t: usize, ctx_mask: u32, ctx_val: u32, pcid: i32, globals: u32): void {
  for (let p = t; p < t + TLB_BYTES; p += TLB_ENTRY_BYTES) {
    if (selected(p, ctx_mask, ctx_val, pcid, globals)) drop_counted(p);
  }
}

/**
 * INVLPG `la` (canonical): the current PCID's entries for the page, and the
 * global entries for it whatever PCID they were made under.
 */
export function tlb_invlpg(vcpu: u32, la: u64): void {
  const v = vcpu_ptr(vcpu);
  stat_inc(Stat.TlbFlushInvlpg);
  flush_page(v, tlb_ptr(vcpu), la, 0xffff_ffff, tlb_ctx_at(v), <i32>tlb_pcid_at(v), GLOBALS_DROP);
}

/** After a #PF on `la`: the entries that would translate it (current PCID, and a global one), so a retry walks. */
export function tlb_flush_fault(vcpu: u32, la: u64): void {
  const v = vcpu_ptr(vcpu);
  stat_inc(Stat.TlbFlushFault);
  flush_page(v, tlb_ptr(vcpu), la, 0xffff_ffff, tlb_ctx_at(v), <i32>tlb_pcid_at(v), GLOBALS_DROP);
}

/**
 * INVPCID of a valid type (the checks are the instruction's, in cr.ts):
 * 0 = the non-global entries of `pcid` for `la`; 1 = every non-global entry of
 * `pcid`; 2 = everything; 3 = every non-global entry.
 */
export function tlb_invpcid(vcpu: u32, type: u32, pcid: u32, la: u64): void {
  const v = vcpu_ptr(vcpu);
  const ctx = tlb_ctx_at(v);
  stat_inc(Stat.TlbFlushInvpcid);
  if (type == 0) flush_page(v, tlb_ptr(vcpu), la, 0xffff_ffff, ctx, <i32>pcid, GLOBALS_KEEP);
  else if (type == 1) flush_all_matching(tlb_ptr(vcpu), 0xffff_ffff, ctx, <i32>pcid, GLOBALS_KEEP);
  else if (type == 2) flush_all_matching(tlb_ptr(vcpu), 0xffff_ffff, ctx, -1, GLOBALS_DROP);
  else flush_all_matching(tlb_ptr(vcpu), 0xffff_ffff, ctx, -1, GLOBALS_KEEP);
}

/** MOV to CR3 that invalidates: the non-global entries of `pcid` (0 while CR4.PCIDE=0). */
export function tlb_flush_cr3(vcpu: u32, pcid: u32): void {
  const v = vcpu_ptr(vcpu);
  stat_inc(Stat.TlbFlushCr3);
  flush_all_matching(tlb_ptr(vcpu), 0xffff_ffff, tlb_ctx_at(v), <i32>pcid, GLOBALS_KEEP);
}

/** MOV to CR3 with the no-flush bit: nothing is invalidated; counted. */
export function tlb_note_cr3_noflush(): void {
  stat_inc(Stat.TlbFlushCr3Noflush);
}

/**
 * MOV to CR4 effects: with `all`, every entry of the current context, globals
 * included (PGE toggled, PCIDE 1 to 0); otherwise the non-global entries of
 * the current PCID (PAE toggled, SMEP 0 to 1).
 */
export function tlb_flush_cr4(vcpu: u32, all: bool): void {
  const v = vcpu_ptr(vcpu);
  stat_inc(Stat.TlbFlushCr4);
  if (all) flush_all_matching(tlb_ptr(vcpu), 0xffff_ffff, tlb_ctx_at(v), -1, GLOBALS_DROP);
  else flush_all_matching(tlb_ptr(vcpu), 0xffff_ffff, tlb_ctx_at(v), <i32>tlb_pcid_at(v), GLOBALS_KEEP);
}

/** Every entry of the vCPU's TLB, all contexts: what KVM_SET_SREGS's MMU reset amounts to. */
export function tlb_flush_all(vcpu: u32): void {
  flush_all_matching(tlb_ptr(vcpu), 0, 0, -1, GLOBALS_DROP);
}

/**
 * INVVPID, executed by the host on the logical processor that runs `vcpu`:
 * 0 = the entries of `vpid` for `la` (every PCID, globals included); 1 = all
 * of `vpid`; 2 = all of every VPID but 0; 3 = all of `vpid` but globals.
 * Returns 0 (VMsucceed), or 1 (VMfailValid: a type above 3, VPID 0 for types
 * 0, 1 and 3, or a non-canonical `la` for type 0), changing nothing.
 */
export function tlb_invvpid(vcpu: u32, type: u64, vpid: u32, la: u64): i32 {
  const v = vcpu_ptr(vcpu);
  if (type > 3 || (vpid == 0 && type != 2)) return 1;
  if (type == 0) {
    const sh: u64 = (load<u32>(v + Vcpu.Features) & CpuFeat.La57) != 0 ? 7 : 16;
    if (<u64>(<i64>(la << sh) >> sh) != la) return 1;
  }
  stat_inc(Stat.TlbFlushInvvpid);
  if (type == 0) flush_page(v, tlb_ptr(vcpu), la, VPID_MASK, vpid, -1, GLOBALS_DROP);
  else if (type == 1) flush_all_matching(tlb_ptr(vcpu), VPID_MASK, vpid, -1, GLOBALS_DROP);
  else if (type == 3) flush_all_matching(tlb_ptr(vcpu), VPID_MASK, vpid, -1, GLOBALS_KEEP);
  else {
    const t = tlb_ptr(vcpu);
    for (let p = t; p < t + TLB_BYTES; p += TLB_ENTRY_BYTES) {
      if (load<u64>(p + TlbEntry.Tag) != 0 && (load<u32>(p + TlbEntry.Ctx) & VPID_MASK) != 0) drop_counted(p);
    }
  }
  return 0;
}

/**
 * INVEPT, executed by the host on the logical processor that runs `vcpu`:
 * type 1 (single context) drops the combined entries made under EPT tag
 * `ept_tag`, type 2 (global) every combined entry. Linear-only entries (made
 * without EPT) stay. Returns 0, or 1 (VMfailValid) for another type.
 */
export function tlb_invept(vcpu: u32, type: u64, ept_tag: u32): i32 {
  const v = vcpu_ptr(vcpu);
  if (type == 1) {
    flush_all_matching(tlb_ptr(vcpu), <u32>TlbCtx.Ept | TlbCtx.EptTagMask,
      <u32>TlbCtx.Ept | ((ept_tag << TlbCtx.EptTagShift) & TlbCtx.EptTagMask), -1, GLOBALS_DROP);
  } else if (type == 2) {
    flush_all_matching(tlb_ptr(vcpu), <u32>TlbCtx.Ept, <u32>TlbCtx.Ept, -1, GLOBALS_DROP);
  } else {
    return 1;
  }
  stat_inc(Stat.TlbFlushInvept);
  return 0;
}

/** Valid entries in the vCPU's TLB (for tests and the demo). */
export function tlb_count(vcpu: u32): u32 {
  const t = tlb_ptr(vcpu);
  let n: u32 = 0;
  for (let p = t; p < t + TLB_BYTES; p += TLB_ENTRY_BYTES) if (load<u64>(p + TlbEntry.Tag) != 0) n++;
  return n;
}
