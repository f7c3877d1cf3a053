// One guest memory access through the MMU, the way the processor makes it:
// canonical check, TLB lookup, on a miss the 2D walk and a fill, then the
// rights check of the cached attributes against the registers of the moment
// (CR0.WP, SMEP, SMAP with EFLAGS.AC, PKRU/PKRS are never cached), then the
// EPT rights of the final page. A #PF drops the entries for the faulting
// address, so the retry walks. A write through an entry cached with D=0 walks
// again, to set D.
//
// The data accessors (guest_read64, guest_write64, guest_copy, guest_fill)
// are the hot path of the benchmarks and of the interpreter: a TLB hit makes
// no call and allocates nothing. Their status is in Vcpu.ResStatus, and the
// details of a fault in the other Res* fields.

import {
  AccessKind, AccessStatus, PAGE_SIZE, TlbAttr, TlbEntry, Vcpu,
  hpa_to_ptr, ram_bytes, tlb_ptr, vcpu_ptr,
} from './layout';
import {
  permission_fault_regs, raise_general_protection, raise_page_fault, walk,
  walk_gpa, walk_hpa, walk_page_shift,
} from './paging';
import { Stat, stat_add, stat_inc } from './stats';
import {
  tlb_ctx_at, tlb_drop, tlb_entry_page_shift, tlb_entry_shift, tlb_fill, tlb_flush_fault, tlb_lookup,
} from './tlb';
import { X86_CR0_PG, X86_CR3_PCID_MASK, X86_CR4_LA57, X86_CR4_PCIDE, X86_EFLAGS_AC } from './x86';

// The translation of the last successful access (per thread).
let g_hpa: u64 = 0;
let g_gpa: u64 = 0;
let g_page_shift: u32 = 0;
/** The TLB entry that served the last access, 0 when it walked. */
let g_hit: usize = 0;
/** The second page of an access that crosses a page boundary. */
let g_hpa2: u64 = 0;

/** The EPT right an access of `kind` needs, as a TlbAttr bit. */
@inline function ept_right(kind: AccessKind): u32 {
  return kind == AccessKind.Read ? TlbAttr.EptRead : kind == AccessKind.Write ? TlbAttr.EptWrite : TlbAttr.EptExec;
}

/** A cached translation to an address outside host RAM: nothing there to access. */
function no_memory(v: usize): i32 {
  store<u32>(v + Vcpu.ResStatus, AccessStatus.NoMemory);
  store<u64>(v + Vcpu.ResGpa, g_gpa);
  store<u64>(v + Vcpu.ResEptGpa, g_gpa);
  store<u64>(v + Vcpu.ResEptQual, 0);
  store<u32>(v + Vcpu.ResLevel, 0);
  return AccessStatus.NoMemory;
}

/** Translates without the TLB when paging is off, and after a miss or a refused hit. */
function translate_slow(vcpu: u32, v: usize, t: usize, la: u64, kind: AccessKind, cpl: u32, ac: u32, implicit: bool): i32 {
  const paging = (load<u64>(v + Vcpu.Cr0) & X86_CR0_PG) != 0;
  if (paging) stat_inc(Stat.TlbMiss);
  const r = walk(vcpu, la, kind, cpl, ac, implicit);
  if (r == AccessStatus.Ok || (r == AccessStatus.NoMemory && load<u32>(v + Vcpu.ResLevel) == 0)) {
    g_hpa = walk_hpa();
    g_gpa = walk_gpa();
    g_page_shift = walk_page_shift();
    g_hit = 0;
    if (paging) tlb_fill(v, t, la);
  } else if (r == AccessStatus.PageFault) {
    tlb_flush_fault(vcpu, la);
  }
  return r;
}

/**
 * Translates `la` for one access; on Ok the addresses are in g_hpa / g_gpa.
 * Writes Vcpu.ResStatus, and the fault details on a fault.
 */
@inline function translate(vcpu: u32, v: usize, la: u64, kind: AccessKind, cpl: u32, ac: u32, implicit: bool): i32 {
  const t = tlb_ptr(vcpu);
  const cr0 = load<u64>(v + Vcpu.Cr0);
  const cr4 = load<u64>(v + Vcpu.Cr4);
  if ((cr0 & X86_CR0_PG) == 0) return translate_slow(vcpu, v, t, la, kind, cpl, ac, implicit);
  const sh: u64 = (cr4 & X86_CR4_LA57) != 0 ? 7 : 16;
  if (<u64>(<i64>(la << sh) >> sh) != la) return raise_general_protection(v);
  const pcid = (cr4 & X86_CR4_PCIDE) != 0 ? <u32>(load<u64>(v + Vcpu.Cr3) & X86_CR3_PCID_MASK) : 0;
  const p = tlb_lookup(t, la, pcid, tlb_ctx_at(v));
  if (p != 0) {
    const attr = load<u32>(p + TlbEntry.Attr);
    if (kind != AccessKind.Write || (attr & TlbAttr.Dirty) != 0) {
      const err = permission_fault_regs(v, cr0, cr4, attr, kind, cpl, ac, implicit);
      if (err != 0) {
        const shift = tlb_entry_page_shift(p);
        tlb_flush_fault(vcpu, la);
        return raise_page_fault(v, la, err, (shift - 12) / 9 + 1);
      }
      // A refused EPT right walks again, so the violation is reported with
      // its qualification (and a right EPT has since granted is seen).
      if ((attr & ept_right(kind)) != 0) {
        const mask: u64 = (<u64>1 << tlb_entry_shift(p)) - 1;
        g_hpa = load<u64>(p + TlbEntry.Hpa) | (la & mask);
        g_gpa = load<u64>(p + TlbEntry.Gpa) | (la & mask);
        g_hit = p;
        stat_inc(Stat.TlbHit);
        if (g_hpa >= ram_bytes()) return no_memory(v);
        store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
        return AccessStatus.Ok;
      }
    }
    tlb_drop(p);
  }
  return translate_slow(vcpu, v, t, la, kind, cpl, ac, implicit);
}

@inline function count_access(kind: AccessKind): void {
  if (kind == AccessKind.Read) stat_inc(Stat.GuestRead);
  else if (kind == AccessKind.Write) stat_inc(Stat.GuestWrite);
  else stat_inc(Stat.GuestFetch);
}

/**
 * One access of `kind` to `la` at `cpl` (EFLAGS.AC in `ac`; `implicit` for an
 * implicit supervisor access) through the vCPU's TLB. Returns the
 * AccessStatus; on Ok, ResGpa, ResHpa and ResPageShift describe the
 * translation; on a fault the Res* fields say which (see walk()).
 */
export function vcpu_access(vcpu: u32, la: u64, kind: AccessKind, cpl: u32, ac: u32, implicit: bool): i32 {
  const v = vcpu_ptr(vcpu);
  count_access(kind);
  const r = translate(vcpu, v, la, kind, cpl, ac, implicit);
  if (r == AccessStatus.Ok) {
    store<u64>(v + Vcpu.ResHpa, g_hpa);
    store<u64>(v + Vcpu.ResGpa, g_gpa);
    store<u32>(v + Vcpu.ResPageShift, g_hit != 0 ? tlb_entry_page_shift(g_hit) : g_page_shift);
  }
  return r;
}

/** CPL and EFLAGS.AC of the vCPU: the data accessors act as explicit accesses of its current code. */
@inline function cpl_of(v: usize): u32 {
  return load<u32>(v + Vcpu.Cpl);
}
@inline function ac_of(v: usize): u32 {
  return <u32>((load<u64>(v + Vcpu.Rflags) & X86_EFLAGS_AC) != 0);
}

/**
 * Translates both pages of an access at `la` that crosses a page boundary:
 * the access happens only if both translate (a processor checks the whole
 * access before it writes any part). On Ok g_hpa is the first page's
 * address, g_hpa2 the second's.
 */
function translate_split(vcpu: u32, v: usize, la: u64, kind: AccessKind): i32 {
  let r = translate(vcpu, v, la, kind, cpl_of(v), ac_of(v), false);
  if (r != AccessStatus.Ok) return r;
  const first = g_hpa;
  r = translate(vcpu, v, (la | (PAGE_SIZE - 1)) + 1, kind, cpl_of(v), ac_of(v), false);
  g_hpa2 = g_hpa;
  g_hpa = first;
  return r;
}

/**
 * Reads 8 bytes at `la` as the vCPU's current code (Vcpu.Cpl, Vcpu.Rflags.AC).
 * Returns the value, or 0 when the access faults (Vcpu.ResStatus says which).
 */
export function guest_read64(vcpu: u32, la: u64): u64 {
  const v = vcpu_ptr(vcpu);
  stat_inc(Stat.GuestRead);
  const off = <u32>la & (PAGE_SIZE - 1);
  if (off <= PAGE_SIZE - 8) {
    if (translate(vcpu, v, la, AccessKind.Read, cpl_of(v), ac_of(v), false) != AccessStatus.Ok) return 0;
    return load<u64>(hpa_to_ptr(g_hpa));
  }
  if (translate_split(vcpu, v, la, AccessKind.Read) != AccessStatus.Ok) return 0;
  const first = PAGE_SIZE - off;
  let value: u64 = 0;
  for (let i: u32 = 0; i < 8; i++) {
    const b = i < first ? load<u8>(hpa_to_ptr(g_hpa + i)) : load<u8>(hpa_to_ptr(g_hpa2 + (i - first)));
    value |= <u64>b << (<u64>i << 3);
  }
  return value;
}

/** Writes 8 bytes at `la` as the vCPU's current code; the status is in Vcpu.ResStatus. */
export function guest_write64(vcpu: u32, la: u64, value: u64): void {
  const v = vcpu_ptr(vcpu);
  stat_inc(Stat.GuestWrite);
  const off = <u32>la & (PAGE_SIZE - 1);
  if (off <= PAGE_SIZE - 8) {
    if (translate(vcpu, v, la, AccessKind.Write, cpl_of(v), ac_of(v), false) != AccessStatus.Ok) return;
    store<u64>(hpa_to_ptr(g_hpa), value);
    return;
  }
  if (translate_split(vcpu, v, la, AccessKind.Write) != AccessStatus.Ok) return;
  const first = PAGE_SIZE - off;
  for (let i: u32 = 0; i < 8; i++) {
    const b = <u8>(value >> (<u64>i << 3));
    if (i < first) store<u8>(hpa_to_ptr(g_hpa + i), b);
    else store<u8>(hpa_to_ptr(g_hpa2 + (i - first)), b);
  }
}

/**
 * Copies `len` bytes from `src_la` to `dst_la` as the vCPU's current code,
 * translated page by page, one memory.copy per piece that is contiguous on
 * both sides. Stops at the first fault, with the pieces before it copied (as
 * REP MOVS does). Returns the AccessStatus.
 */
export function guest_copy(vcpu: u32, dst_la: u64, src_la: u64, len: u64): i32 {
  const v = vcpu_ptr(vcpu);
  while (len != 0) {
    let n: u64 = PAGE_SIZE - (src_la & (PAGE_SIZE - 1));
    const dn: u64 = PAGE_SIZE - (dst_la & (PAGE_SIZE - 1));
    if (dn < n) n = dn;
    if (len < n) n = len;
    stat_inc(Stat.GuestRead);
    let r = translate(vcpu, v, src_la, AccessKind.Read, cpl_of(v), ac_of(v), false);
    if (r != AccessStatus.Ok) return r;
    const src = g_hpa;
    stat_inc(Stat.GuestWrite);
    r = translate(vcpu, v, dst_la, AccessKind.Write, cpl_of(v), ac_of(v), false);
    if (r != AccessStatus.Ok) return r;
    memory.copy(hpa_to_ptr(g_hpa), hpa_to_ptr(src), <usize>n);
    stat_add(Stat.GuestCopyBytes, n);
    src_la += n;
    dst_la += n;
    len -= n;
  }
  store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
  return AccessStatus.Ok;
}

/** Fills `len` bytes at `la` with `byte` as the vCPU's current code, page by page. Returns the AccessStatus. */
export function guest_fill(vcpu: u32, la: u64, byte: u32, len: u64): i32 {
  const v = vcpu_ptr(vcpu);
  while (len != 0) {
    let n: u64 = PAGE_SIZE - (la & (PAGE_SIZE - 1));
    if (len < n) n = len;
    stat_inc(Stat.GuestWrite);
    const r = translate(vcpu, v, la, AccessKind.Write, cpl_of(v), ac_of(v), false);
    if (r != AccessStatus.Ok) return r;
    memory.fill(hpa_to_ptr(g_hpa), <u8>byte, <usize>n);
    la += n;
    len -= n;
  }
  store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
  return AccessStatus.Ok;
}
