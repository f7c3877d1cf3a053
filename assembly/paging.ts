// The guest's own page tables: the x86-64 4-level and 5-level (CR4.LA57)
// walk of tables that live in guest memory, each entry reached through EPT.
//
// This is what the processor's page-miss handler does on a TLB miss, so every
// memory reference is made and counted: for each guest level the entry's GPA
// is translated by EPT (ept_walk counts its own entry reads), then the guest
// entry is read. A 4-level guest over a 4-level EPT makes 4 x (4 + 1) + 4 =
// 24 references; a 5-level guest 29 (spec/x86-paging.md section 13).
//
// Order of events (spec sections 1, 4-6, 8, 13):
//   1. canonical check: #GP(0), no CR2, nothing read;
//   2. per level, top-down: EPT translation of the entry's GPA (a failure
//      exits before the entry is looked at), the read, not-present, then
//      reserved bits (#PF);
//   3. rights combined over the levels and the protection key (#PF);
//   4. guest A/D: A on every level, D on the leaf for a write, top-down, each
//      a locked compare-exchange, only once 1-3 passed (KVM's model; with
//      WalkFlag.AdOnFault upper-level A bits are set as each entry passes 2,
//      as QEMU and permitted hardware do). Without EPT A/D each update is an
//      EPT write to the page holding the entry and needs EPT W there;
//   5. EPT translation of the data GPA (qualification bit 8 = 1). A guest #PF
//      beats it. The guest A/D bits are already set when it fails: they belong
//      to the linear-address translation, which completed; the EPT check is
//      part of the data access that follows. That is also what a guest sees
//      on KVM, whose MMIO exits come from exactly this violation (the paging
//      corpus lists the A/D changes of its MMIO accesses).
//
// The walk allocates nothing: the per-level state of one walk is kept in
// module globals (one instance per thread), and the results the TLB fill
// needs are read through the walk_* getters.
//
// The same walk also serves KVM's software walker (walk_via_memslots, for
// KVM_TRANSLATE), which reaches the guest's tables not through EPT but the
// way kvm_vcpu_gfn_to_hva_prot and __get_user do: gfn -> memslot -> the
// VMM's page. Its A/D updates skip entries in read-only memslots, and it
// ends at the GPA without looking at the data page.

import {
  AccessKind, AccessStatus, CpuFeat, TlbAttr, TraceKind, Vcpu, WalkFlag,
  hpa_to_ptr, ram_bytes, vcpu_ptr,
} from './layout';
import { ept_hpa, ept_page_shift, ept_qualification, ept_rights, ept_walk, ept_walk_inline } from './ept';
import { memslot_base_gfn, memslot_flags, memslot_lookup_gfn, memslot_userspace_addr } from './memslot';
import { Stat, stat_inc } from './stats';
import { trace_ref, tracing } from './trace';
import { vma_pfn, vmm_touch } from './vma';
import {
  EFER_LMA, EFER_NX, PFERR_FETCH, PFERR_PK, PFERR_PRESENT, PFERR_RSVD, PFERR_USER, PFERR_WRITE,
  PT_ACCESSED, PT_DIRTY, PT_GLOBAL, PT_PAGE_SIZE, PT_PKEY_SHIFT, PT_PRESENT, PT_USER, PT_WRITABLE, PT_XD,
  X86_CR0_PG, X86_CR0_WP, X86_CR4_LA57, X86_CR4_PGE, X86_CR4_PKE, X86_CR4_PKS, X86_CR4_SMAP, X86_CR4_SMEP,
} from './x86';

/** Bits 51:12 of an entry: the widest physical-address field. */
const PT_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/** Low address bits a large leaf reserves above its PAT bit (bit 12). */
const PT_RSVD_1G_LOW: u64 = 0x3fff_e000; // bits 29:13
const PT_RSVD_2M_LOW: u64 = 0x001f_e000; // bits 20:13
/** AMD reserves bit 8 of a PML5E/PML4E (KVM's nonleaf_bit8_rsvd). */
const PT_AMD_ROOT_BIT8: u64 = 1 << 8;
/** EPTP bit 6: EPT accessed/dirty flags enabled. */
const EPTP_AD_ENABLE: u64 = 1 << 6;
const EPT_WRITE_RIGHT: u32 = 1 << 1;
/** Without EPT every guest-physical page has every right. */
const EPT_ALL_RIGHTS: u32 = 7;
/** Another thread changed an entry between our read and our A/D update. */
const WALK_RETRY: i32 = -1;
/** KVM_MEM_READONLY: KVM's software walk sets no A/D bit in such a slot. */
const KVM_MEM_READONLY: u32 = 1 << 1;

/** The VM whose memslots a software walk reads the tables through; -1 for the processor's walk. */
let g_soft_vm: i32 = -1;

// Results of the last successful walk, for the TLB fill.
let g_attr: u32 = 0;
let g_gpa: u64 = 0;
let g_hpa: u64 = 0;
let g_page_shift: u32 = 0;
let g_map_shift: u32 = 0;

/** TlbAttr bits of the last successful walk (rights, D, G, key, EPT rights). */
@inline export function walk_attr(): u32 { return g_attr; }
/** Guest-physical address the last successful walk produced. */
@inline export function walk_gpa(): u64 { return g_gpa; }
/** Host-physical address the last successful walk produced. */
@inline export function walk_hpa(): u64 { return g_hpa; }
/** log2 of the guest page size (12, 21, 30). */
@inline export function walk_page_shift(): u32 { return g_page_shift; }
/** log2 of the span both the guest page and the EPT page cover: what one TLB entry can map. */
@inline export function walk_map_shift(): u32 { return g_map_shift; }

// The result of the last guest-physical translation (EPT or identity).
let g_xlat_hpa: u64 = 0;
let g_xlat_rights: u32 = 0;
let g_xlat_shift: u32 = 0;

// The entries the current walk used that need an A/D update, per level.
let g_ptr5: usize = 0; let g_ptr4: usize = 0; let g_ptr3: usize = 0; let g_ptr2: usize = 0; let g_ptr1: usize = 0;
let g_gpa5: u64 = 0; let g_gpa4: u64 = 0; let g_gpa3: u64 = 0; let g_gpa2: u64 = 0; let g_gpa1: u64 = 0;
let g_val5: u64 = 0; let g_val4: u64 = 0; let g_val3: u64 = 0; let g_val2: u64 = 0; let g_val1: u64 = 0;
let g_ept5: u32 = 0; let g_ept4: u32 = 0; let g_ept3: u32 = 0; let g_ept2: u32 = 0; let g_ept1: u32 = 0;

@inline function used_save(level: u32, ptr: usize, gpa: u64, value: u64, ept_rights: u32): void {
  if (level == 5) { g_ptr5 = ptr; g_gpa5 = gpa; g_val5 = value; g_ept5 = ept_rights; }
  else if (level == 4) { g_ptr4 = ptr; g_gpa4 = gpa; g_val4 = value; g_ept4 = ept_rights; }
  else if (level == 3) { g_ptr3 = ptr; g_gpa3 = gpa; g_val3 = value; g_ept3 = ept_rights; }
  else if (level == 2) { g_ptr2 = ptr; g_gpa2 = gpa; g_val2 = value; g_ept2 = ept_rights; }
  else { g_ptr1 = ptr; g_gpa1 = gpa; g_val1 = value; g_ept1 = ept_rights; }
}
@inline function used_ptr(l: u32): usize {
  return l == 5 ? g_ptr5 : l == 4 ? g_ptr4 : l == 3 ? g_ptr3 : l == 2 ? g_ptr2 : g_ptr1;
}
@inline function used_gpa(l: u32): u64 {
  return l == 5 ? g_gpa5 : l == 4 ? g_gpa4 : l == 3 ? g_gpa3 : l == 2 ? g_gpa2 : g_gpa1;
}
@inline function used_value(l: u32): u64 {
  return l == 5 ? g_val5 : l == 4 ? g_val4 : l == 3 ? g_val3 : l == 2 ? g_val2 : g_val1;
}
@inline function used_ept_rights(l: u32): u32 {
  return l == 5 ? g_ept5 : l == 4 ? g_ept4 : l == 3 ? g_ept3 : l == 2 ? g_ept2 : g_ept1;
}

/** Canonical for the vCPU's linear-address width: 57 bits with CR4.LA57, else 48. */
@inline export function is_canonical_at(v: usize, la: u64): bool {
  const sh: u64 = (load<u64>(v + Vcpu.Cr4) & X86_CR4_LA57) != 0 ? 7 : 16;
  return <u64>(<i64>(la << sh) >> sh) == la;
}

export function is_canonical(vcpu: u32, la: u64): bool {
  return is_canonical_at(vcpu_ptr(vcpu), la);
}

/** The error-code bits that describe an access: W, U/S, and I/D (only with NXE or SMEP). */
@inline function access_error_bits(v: usize, kind: AccessKind, user: bool): u32 {
  let err: u32 = 0;
  if (kind == AccessKind.Write) err |= PFERR_WRITE;
  if (user) err |= PFERR_USER;
  if (kind == AccessKind.Fetch &&
      ((load<u64>(v + Vcpu.Efer) & EFER_NX) != 0 || (load<u64>(v + Vcpu.Cr4) & X86_CR4_SMEP) != 0)) {
    err |= PFERR_FETCH;
  }
  return err;
}

/**
 * The rights check of one access against rights a walk found (or a TLB entry
 * cached), with the registers read now: CR0.WP, CR4.SMEP/SMAP/PKE/PKS,
 * EFLAGS.AC (as `ac`), PKRU and IA32_PKRS. `attr` holds TlbAttr.Write, User,
 * Nx and the key. A user-mode access is one at CPL3 that is not an implicit
 * supervisor access. Returns 0 when the access is allowed, otherwise the #PF
 * error code (P=1, the access bits, and PK whenever the key denies the access,
 * even if the page rights deny it too: KVM's permission_fault, spec section 8).
 */
@inline export function permission_fault_at(v: usize, attr: u32, kind: AccessKind, cpl: u32, ac: u32, implicit: bool): u32 {
  return permission_fault_regs(v, load<u64>(v + Vcpu.Cr0), load<u64>(v + Vcpu.Cr4), attr, kind, cpl, ac, implicit);
}

/** permission_fault_at with CR0 and CR4 already loaded (the TLB-hit path has them). */
@inline export function permission_fault_regs(
  v: usize, cr0: u64, cr4: u64, attr: u32, kind: AccessKind, cpl: u32, ac: u32, implicit: bool,
): u32 {
  const user = cpl == 3 && !implicit;
  const user_page = (attr & TlbAttr.User) != 0;
  let fault = false;
  if (user) {
    fault = !user_page ||
      (kind == AccessKind.Write && (attr & TlbAttr.Write) == 0) ||
      (kind == AccessKind.Fetch && (attr & TlbAttr.Nx) != 0);
  } else if (kind == AccessKind.Fetch) {
    fault = (attr & TlbAttr.Nx) != 0 || ((cr4 & X86_CR4_SMEP) != 0 && user_page);
  } else {
    fault = (kind == AccessKind.Write && (cr0 & X86_CR0_WP) != 0 && (attr & TlbAttr.Write) == 0) ||
      // SMAP: EFLAGS.AC lifts it only for an explicit access.
      ((cr4 & X86_CR4_SMAP) != 0 && user_page && (implicit || ac == 0));
  }
  let pk = false;
  if (kind != AccessKind.Fetch && (cr4 & (X86_CR4_PKE | X86_CR4_PKS)) != 0 &&
      (load<u64>(v + Vcpu.Efer) & EFER_LMA) != 0) {
    let keys: u32 = 0;
    let keyed = false;
    if (user_page) {
      keyed = (cr4 & X86_CR4_PKE) != 0;
      keys = load<u32>(v + Vcpu.Pkru);
    } else {
      keyed = (cr4 & X86_CR4_PKS) != 0;
      keys = load<u32>(v + Vcpu.Pkrs);
    }
    if (keyed) {
      const bits = keys >> (((attr & TlbAttr.PkeyMask) >> TlbAttr.PkeyShift) << 1);
      // AD stops every data access; WD stops writes from user mode, and
      // supervisor writes only with CR0.WP.
      pk = (bits & 1) != 0 ||
        (kind == AccessKind.Write && (bits & 2) != 0 && (user || (cr0 & X86_CR0_WP) != 0));
    }
  }
  if (!fault && !pk) return 0;
  return PFERR_PRESENT | access_error_bits(v, kind, user) | (pk ? PFERR_PK : 0);
}

export function permission_fault(vcpu: u32, attr: u32, kind: AccessKind, cpl: u32, ac: u32, implicit: bool): u32 {
  return permission_fault_at(vcpu_ptr(vcpu), attr, kind, cpl, ac, implicit);
}

/** Ends an access with #PF: error code, CR2 = the full linear address. */
export function raise_page_fault(v: usize, la: u64, err: u32, level: u32): i32 {
  store<u32>(v + Vcpu.ResStatus, AccessStatus.PageFault);
  store<u32>(v + Vcpu.ResErr, err);
  store<u64>(v + Vcpu.ResCr2, la);
  store<u32>(v + Vcpu.ResLevel, level);
  stat_inc(Stat.GuestPageFault);
  return AccessStatus.PageFault;
}

/** Ends an access with #GP(0): nothing read, CR2 untouched. */
export function raise_general_protection(v: usize): i32 {
  store<u32>(v + Vcpu.ResStatus, AccessStatus.GeneralProtection);
  store<u32>(v + Vcpu.ResErr, 0);
  stat_inc(Stat.GuestGeneralProtection);
  return AccessStatus.GeneralProtection;
}

/**
 * Records a failed guest-physical translation: an EPT violation or
 * misconfiguration, or (without EPT) an address outside host RAM. `level` is
 * the guest level whose entry was being reached, 0 for the data access.
 */
function raise_gpa_failure(v: usize, status: i32, gpa: u64, level: u32): i32 {
  store<u32>(v + Vcpu.ResStatus, status);
  store<u64>(v + Vcpu.ResGpa, gpa);
  store<u64>(v + Vcpu.ResEptGpa, gpa);
  store<u64>(v + Vcpu.ResEptQual, status == AccessStatus.EptViolation ? ept_qualification() : 0);
  store<u32>(v + Vcpu.ResLevel, level);
  return status;
}

/**
 * Guest-physical to host-physical as KVM's software walker reaches guest
 * memory: gfn -> memslot -> userspace address -> the VMM's page, faulted in
 * as __get_user would fault it. No memslot, or a page the VMM cannot read,
 * is NoMemory: KVM's walk fails there. A read-only slot grants no write.
 */
function gpa_via_memslots(gpa: u64): i32 {
  const vm = <u32>g_soft_vm;
  const gfn = gpa >> 12;
  const i = memslot_lookup_gfn(vm, gfn);
  if (i < 0) return AccessStatus.NoMemory;
  const hva = memslot_userspace_addr(vm, i) + ((gfn - memslot_base_gfn(vm, i)) << 12);
  if (vmm_touch(hva, false) != 0) return AccessStatus.NoMemory;
  g_xlat_hpa = (<u64>vma_pfn() << 12) | (gpa & 0xfff);
  g_xlat_rights = (memslot_flags(vm, i) & KVM_MEM_READONLY) != 0 ? EPT_ALL_RIGHTS & ~EPT_WRITE_RIGHT : EPT_ALL_RIGHTS;
  g_xlat_shift = 12;
  return AccessStatus.Ok;
}

/**
 * Guest-physical to host-physical: through EPT when the vCPU has an EPTP,
 * identity otherwise. A host-physical address outside RAM (no EPT, or an EPT
 * leaf pointing past RAM) is NoMemory: there is nothing to read there.
 */
@inline function gpa_to_hpa(eptp: u64, caps: u32, gpa: u64, kind: AccessKind, paging_structure: bool): i32 {
  if (eptp == 0) {
    if (g_soft_vm >= 0) return gpa_via_memslots(gpa);
    g_xlat_hpa = gpa;
    g_xlat_rights = EPT_ALL_RIGHTS;
    g_xlat_shift = 52;
  } else {
    const r = ept_walk_inline(eptp, gpa, kind, paging_structure, true, caps);
    if (r != AccessStatus.Ok) return r;
    g_xlat_hpa = ept_hpa();
    g_xlat_rights = ept_rights();
    g_xlat_shift = ept_page_shift();
  }
  return g_xlat_hpa < ram_bytes() ? AccessStatus.Ok : AccessStatus.NoMemory;
}

/** Sets `set` in the entry at `level` with a compare-exchange against the value the walk read. */
@inline function set_guest_ad(level: u32, set: u64): bool {
  const old = used_value(level);
  const nv = old | set;
  if (atomic.cmpxchg<u64>(used_ptr(level), old, nv) != old) return false;
  used_save(level, used_ptr(level), used_gpa(level), nv, used_ept_rights(level));
  stat_inc(Stat.GuestAdUpdate);
  if (tracing()) trace_ref(TraceKind.GuestAdUpdate, level, used_gpa(level), old, nv);
  return true;
}

/**
 * Without EPT A/D, a guest A/D update is an EPT write to the page holding the
 * entry: refused when that page is not writable in EPT. The write is then
 * translated again as a write, so the violation carries its own qualification
 * (bit 1, bit 8 = 0). With EPT A/D on the table read was already a write.
 */
@inline function guest_ad_refused(v: usize, eptp: u64, caps: u32, level: u32): i32 {
  if (eptp == 0 || (eptp & EPTP_AD_ENABLE) != 0 || (used_ept_rights(level) & EPT_WRITE_RIGHT) != 0) {
    return AccessStatus.Ok;
  }
  const gpa = used_gpa(level);
  const r = ept_walk(eptp, gpa, AccessKind.Write, true, true, caps);
  return r == AccessStatus.Ok ? AccessStatus.Ok : raise_gpa_failure(v, r, gpa, level);
}

function walk_once(v: usize, la: u64, kind: AccessKind, cpl: u32, ac: u32, implicit: bool): i32 {
  stat_inc(Stat.GuestWalk);
  const cr0 = load<u64>(v + Vcpu.Cr0);
  const cr3 = load<u64>(v + Vcpu.Cr3);
  const cr4 = load<u64>(v + Vcpu.Cr4);
  const efer = load<u64>(v + Vcpu.Efer);
  const feat = load<u32>(v + Vcpu.Features);
  const eptp = g_soft_vm < 0 ? load<u64>(v + Vcpu.Eptp) : 0;
  const caps = load<u32>(v + Vcpu.EptCaps);

  let gpa: u64;
  let shift: u32;
  let attr: u32;
  if ((cr0 & X86_CR0_PG) == 0) {
    // Paging off: the linear address is the guest-physical address (32 bits
    // outside long mode, which paging off always is), every right granted.
    gpa = la & 0xffff_ffff;
    shift = 12;
    attr = TlbAttr.Write | TlbAttr.User | TlbAttr.Dirty;
  } else {
    // IA-32e paging (4- or 5-level). Legacy 32-bit and PAE paging are not modelled.
    if (!is_canonical_at(v, la)) return raise_general_protection(v);
    const user = cpl == 3 && !implicit;
    const nxe = (efer & EFER_NX) != 0;
    const m = <u64>(feat & CpuFeat.MaxPhyAddrMask);
    const addr_mask: u64 = m >= 52 ? PT_ADDR_MASK : PT_ADDR_MASK & ((<u64>1 << m) - 1);
    const rsvd_base: u64 = (PT_ADDR_MASK & ~addr_mask) | (nxe ? 0 : PT_XD);
    const rsvd_root: u64 = rsvd_base | PT_PAGE_SIZE | ((feat & CpuFeat.VendorAmd) != 0 ? PT_AMD_ROOT_BIT8 : 0);
    const rsvd_1g: u64 = rsvd_base | PT_RSVD_1G_LOW | ((feat & CpuFeat.Gbpages) != 0 ? 0 : PT_PAGE_SIZE);
    const rsvd_2m: u64 = rsvd_base | PT_RSVD_2M_LOW;
    const ad_on_fault = g_soft_vm < 0 && (load<u32>(v + Vcpu.WalkFlags) & WalkFlag.AdOnFault) != 0;
    const top: u32 = (cr4 & X86_CR4_LA57) != 0 ? 5 : 4;
    const write = kind == AccessKind.Write;
    const trace = tracing();

    let table = cr3 & addr_mask;
    let level = top;
    let rights: u64 = PT_WRITABLE | PT_USER;
    let xd: u64 = 0;
    let pte: u64 = 0;
    // Bit l set: the entry used at level l lacks an A/D bit the walk must set,
    // and used_save holds it. Only those are saved: most entries have their
    // bits already, and this loop runs on every TLB miss.
    let pending: u32 = 0;
    for (;;) {
      const pte_gpa = table + (((la >> (12 + 9 * (<u64>level - 1))) & 511) << 3);
      const t = gpa_to_hpa(eptp, caps, pte_gpa, AccessKind.Read, true);
      if (t != AccessStatus.Ok) return raise_gpa_failure(v, t, pte_gpa, level);
      const p = hpa_to_ptr(g_xlat_hpa);
      pte = atomic.load<u64>(p);
      stat_inc(Stat.GuestEntryRead);
      if (trace) trace_ref(TraceKind.GuestEntry, level, pte_gpa, pte, 0);
      if ((pte & PT_PRESENT) == 0) {
        return raise_page_fault(v, la, access_error_bits(v, kind, user), level);
      }
      const leaf = level == 1 || (level <= 3 && (pte & PT_PAGE_SIZE) != 0);
      const rsvd = level >= 4 ? rsvd_root : !leaf || level == 1 ? rsvd_base : level == 3 ? rsvd_1g : rsvd_2m;
      if ((pte & rsvd) != 0) {
        return raise_page_fault(v, la, PFERR_PRESENT | PFERR_RSVD | access_error_bits(v, kind, user), level);
      }
      rights &= pte;
      if (nxe) xd |= pte & PT_XD;
      const want: u64 = leaf && write ? PT_ACCESSED | PT_DIRTY : PT_ACCESSED;
      if ((pte & want) != want) {
        used_save(level, p, pte_gpa, pte, g_xlat_rights);
        pending |= 1 << level;
      }
      if (leaf) break;
      if (ad_on_fault && (pte & PT_ACCESSED) == 0) {
        const refused = guest_ad_refused(v, eptp, caps, level);
        if (refused != AccessStatus.Ok) return refused;
        if (!set_guest_ad(level, PT_ACCESSED)) return WALK_RETRY;
      }
      table = pte & addr_mask;
      level--;
    }

    shift = 12 + 9 * (level - 1);
    attr = <u32>(rights & PT_WRITABLE) != 0 ? TlbAttr.Write : 0;
    if ((rights & PT_USER) != 0) attr |= TlbAttr.User;
    if (xd != 0) attr |= TlbAttr.Nx;
    attr |= <u32>((pte >> PT_PKEY_SHIFT) & 0xf) << TlbAttr.PkeyShift;
    const err = permission_fault_at(v, attr, kind, cpl, ac, implicit);
    if (err != 0) return raise_page_fault(v, la, err, level);

    // The walk succeeded: A on every level used, top-down, and A with D on
    // the leaf for a write (one update). An entry with A set on the way down
    // (AdOnFault) is pending still, and skipped here if that was all it lacked.
    for (let l = top; pending != 0 && l >= level; l--) {
      if ((pending & (1 << l)) == 0) continue;
      const set: u64 = l == level && write ? PT_ACCESSED | PT_DIRTY : PT_ACCESSED;
      if ((used_value(l) & set) == set) continue;
      // FNAME(update_accessed_dirty_bits) skips a table in a read-only slot.
      if (g_soft_vm >= 0 && (used_ept_rights(l) & EPT_WRITE_RIGHT) == 0) continue;
      const refused = guest_ad_refused(v, eptp, caps, l);
      if (refused != AccessStatus.Ok) return refused;
      if (!set_guest_ad(l, set)) return WALK_RETRY;
    }
    // The leaf as it is now, D included when this walk set it.
    if ((pending & (1 << level)) != 0) pte = used_value(level);
    if ((pte & PT_DIRTY) != 0) attr |= TlbAttr.Dirty;
    if ((pte & PT_GLOBAL) != 0 && (cr4 & X86_CR4_PGE) != 0) attr |= TlbAttr.Global;
    const page_mask: u64 = (<u64>1 << shift) - 1;
    gpa = (pte & addr_mask & ~page_mask) | (la & page_mask);
  }

  if (g_soft_vm >= 0) {
    // KVM's walk ends at the GPA: the data page is not looked at.
    store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
    store<u64>(v + Vcpu.ResGpa, gpa);
    store<u32>(v + Vcpu.ResPageShift, shift);
    store<u32>(v + Vcpu.ResLevel, (shift - 12) / 9 + 1);
    return AccessStatus.Ok;
  }
  const d = gpa_to_hpa(eptp, caps, gpa, kind, false);
  if (d != AccessStatus.Ok && d != AccessStatus.NoMemory) return raise_gpa_failure(v, d, gpa, 0);
  if ((g_xlat_rights & 1) != 0) attr |= TlbAttr.EptRead;
  if ((g_xlat_rights & 2) != 0) attr |= TlbAttr.EptWrite;
  if ((g_xlat_rights & 4) != 0) attr |= TlbAttr.EptExec;
  g_attr = attr;
  g_gpa = gpa;
  g_hpa = g_xlat_hpa;
  g_page_shift = shift;
  g_map_shift = g_xlat_shift < shift ? g_xlat_shift : shift;
  store<u32>(v + Vcpu.ResErr, 0);
  store<u64>(v + Vcpu.ResHpa, g_xlat_hpa);
  store<u32>(v + Vcpu.ResPageShift, shift);
  // Outside host RAM there is nothing to access (MMIO, or a hole), but the
  // translation exists, and the TLB may cache it like any other.
  if (d == AccessStatus.NoMemory) return raise_gpa_failure(v, d, gpa, 0);
  store<u32>(v + Vcpu.ResStatus, AccessStatus.Ok);
  store<u64>(v + Vcpu.ResGpa, gpa);
  store<u32>(v + Vcpu.ResLevel, (shift - 12) / 9 + 1);
  return AccessStatus.Ok;
}

/**
 * Translates `la` for one access of `kind` at `cpl` (EFLAGS.AC in `ac`;
 * `implicit` for the CPU's own supervisor accesses to descriptor tables and
 * the TSS) by walking the guest tables, with no TLB. Returns the AccessStatus
 * and fills the Vcpu.Res* fields: ResErr and ResCr2 for a #PF, ResErr = 0 for
 * #GP(0); ResGpa, ResHpa, ResPageShift (the guest page) on success; ResEptQual
 * and ResEptGpa for an EPT failure; ResLevel = the guest level where the walk
 * stopped, 0 when the data access itself failed in EPT or lies outside host
 * RAM. NoMemory with ResLevel 0 is a complete translation to a guest-physical
 * address (ResGpa) that has no RAM behind it: the walk_* results hold it.
 */
export function walk(vcpu: u32, la: u64, kind: AccessKind, cpl: u32, ac: u32, implicit: bool): i32 {
  const v = vcpu_ptr(vcpu);
  let r: i32;
  do {
    r = walk_once(v, la, kind, cpl, ac, implicit);
  } while (r == WALK_RETRY);
  return r;
}

/**
 * KVM's software walk of `la` for KVM_TRANSLATE (kvm_mmu_gva_to_gpa_system,
 * access 0): a supervisor read with EFLAGS.AC taken as 0, the vCPU's paging
 * registers, the tables of VM `vm` read and A-bit-updated through its
 * memslots (see the file comment), no TLB. Returns Ok with ResGpa and
 * ResPageShift; PageFault or GeneralProtection as walk() does; NoMemory
 * (ResLevel = the level) when a table cannot be read.
 */
export function walk_via_memslots(vcpu: u32, vm: u32, la: u64): i32 {
  g_soft_vm = <i32>vm;
  const r = walk(vcpu, la, AccessKind.Read, 0, 0, false);
  g_soft_vm = -1;
  return r;
}
