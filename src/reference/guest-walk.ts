// The reference 2D walk: a guest linear address through the guest's 4- or
// 5-level page tables, each guest table entry and the final data address
// reached through EPT (when the guest has EPT).
//
// Order of events, as spec/x86-paging.md sections 4-6 and 13 lay them out:
//   1. canonical check (#GP(0), nothing read);
//   2. per guest level, top-down: translate the entry's GPA through EPT (a
//      paging-structure access; a failure exits before the entry is looked
//      at), read the entry, then not-present / reserved bits (#PF);
//   3. page rights and protection key (#PF);
//   4. guest A/D: A on every level, D on the leaf for a write, top-down, as
//      locked ORs; without EPT A/D each one is an EPT write to the page
//      holding the entry and needs EPT W (a refused one is translated again
//      as a write, which gives the violation and its qualification);
//   5. translate the data GPA through EPT (a guest #PF beats this). The guest
//      A/D bits are set by then: they belong to the linear translation, which
//      completed, as a real CPU sets them before an MMIO access (KVM's EPT
//      misconfiguration) reaches its data page.
// EPT A/D bits are set by each EPT translation that succeeds (step 2, 5),
// so a guest #PF leaves the EPT A bits of the tables it did read.
// A host-physical address outside host RAM is 'no-memory': there is nothing
// there to read, and the emulator has no devices behind it.
// With CR0.PG=0 the linear address (32 bits: paging off is never long mode)
// is the guest-physical address.

import type { Gpa, Gva, Hpa } from '../core/addr.js';
import { EFER_LMA, EFER_NX, X86_CR0_PG, X86_CR4_LA57, X86_CR4_PAE, X86_CR4_SMEP } from '../uapi.js';
import { isUserAccess, rightsFault } from './access-rights.js';
import { eptAdEnabled, eptTranslate, setBits } from './ept-walk.js';
import type { EptAccess } from './ept-walk.js';
import type {
  AdUpdate, EptControl, GuestAccess, GuestControl, HostMemory, PageShift, WalkOutcome, WalkRef, WalkResult,
} from './types.js';
import { PFERR_FETCH, PFERR_PRESENT, PFERR_RSVD, PFERR_USER, PFERR_WRITE, bit, bits } from './types.js';

/** Guest entry bits (SDM Vol. 3A, 4-level paging entry formats). */
const PT_PRESENT = 0;
const PT_WRITABLE = 1;
const PT_USER = 2;
const PT_ACCESSED = 1n << 5n;
const PT_DIRTY = 1n << 6n;
const PT_PAGE_SIZE = 7;
const PT_XD = 63;

/** EPT W, needed by guest A/D writes when EPT A/D is off. */
const EPT_WRITE = 1n << 1n;

export interface WalkState {
  guest: GuestControl;
  /** null: no EPT, guest-physical is host-physical. */
  ept: EptControl | null;
}

/** A guest-physical range made reachable: where it is in host RAM and what EPT allows there. */
interface HostView {
  hpa: Hpa;
  pageShift: PageShift;
  /** EPT R|W|X of the translation (all three without EPT). */
  rights: bigint;
}

type Translated = { ok: true; view: HostView } | { ok: false; outcome: WalkOutcome };

/**
 * Translates a guest-physical address through EPT, or identity without it.
 * `level` is the guest level whose entry is being reached, 0 for the data.
 */
function toHost(
  mem: HostMemory, ept: EptControl | null, gpa: Gpa, access: EptAccess, level: number, refs: WalkRef[], ad: AdUpdate[],
): Translated {
  let view: HostView;
  if (ept === null) {
    view = { hpa: gpa as bigint as Hpa, pageShift: 12, rights: 7n };
  } else {
    const r = eptTranslate(mem, ept, gpa, access, refs, ad);
    switch (r.kind) {
      case 'ok':
        view = { hpa: r.hpa, pageShift: r.pageShift, rights: r.rights };
        break;
      case 'ept-violation':
        return { ok: false, outcome: { kind: 'ept-violation', qualification: r.qualification, gpa, level } };
      case 'ept-misconfig':
        return { ok: false, outcome: { kind: 'ept-misconfig', gpa, level } };
      case 'no-memory':
        return { ok: false, outcome: { kind: 'no-memory', gpa } };
    }
  }
  if (view.hpa >= mem.size) return { ok: false, outcome: { kind: 'no-memory', gpa } };
  return { ok: true, view };
}

/** Reserved bits of a present guest entry at `level` (5 = PML5E ... 1 = PTE); section 4. */
function reservedBits(ctl: GuestControl, level: number, entry: bigint): bigint {
  let rsvd = bits(51, ctl.maxPhyAddr);
  if ((ctl.efer & EFER_NX) === 0n) rsvd |= 1n << 63n;
  if (level >= 4) {
    rsvd |= 1n << 7n;
    // KVM __reset_rsvds_bits_mask: AMD's MBZ bit 8 of the PML5E/PML4E.
    if (ctl.vendor === 'amd') rsvd |= 1n << 8n;
  } else if (level === 3 && bit(entry, PT_PAGE_SIZE)) {
    rsvd |= bits(29, 13);
    if (!ctl.gbpages) rsvd |= 1n << 7n;
  } else if (level === 2 && bit(entry, PT_PAGE_SIZE)) {
    rsvd |= bits(20, 13);
  }
  return rsvd;
}

function isCanonical(la: bigint, width: number): boolean {
  const top = la >> BigInt(width - 1);
  return top === 0n || top === (1n << BigInt(65 - width)) - 1n;
}

/**
 * Walks `access` for a guest in 4- or 5-level paging. Reads go through
 * `mem`; A/D updates are stored through `mem.write64` when it exists.
 * Throws when the guest is not in long-mode paging (CR0.PG, CR4.PAE, EFER.LMA).
 */
export function referenceWalk(mem: HostMemory, state: WalkState, access: GuestAccess): WalkResult {
  const refs: WalkRef[] = [];
  const ad: AdUpdate[] = [];
  return { outcome: walk(mem, state, access, refs, ad), refs, ad };
}

function walk(mem: HostMemory, state: WalkState, access: GuestAccess, refs: WalkRef[], ad: AdUpdate[]): WalkOutcome {
  const { guest: ctl, ept } = state;
  const dataAccess: EptAccess = { kind: access.kind, pagingStructure: false, glaValid: true };
  if ((ctl.cr0 & X86_CR0_PG) === 0n) {
    const gpa = (access.la & 0xffffffffn) as Gpa;
    const data = toHost(mem, ept, gpa, dataAccess, 0, refs, ad);
    if (!data.ok) return data.outcome;
    return { kind: 'ok', gpa, hpa: data.view.hpa, pageShift: 12, eptPageShift: data.view.pageShift };
  }
  if ((ctl.cr4 & X86_CR4_PAE) === 0n || (ctl.efer & EFER_LMA) === 0n) {
    throw new Error('referenceWalk: legacy 32-bit and PAE paging are not modelled');
  }
  const la57 = (ctl.cr4 & X86_CR4_LA57) !== 0n;
  const levels = la57 ? 5 : 4;
  if (!isCanonical(access.la, la57 ? 57 : 48)) return { kind: 'general-protection', errorCode: 0 };

  const nxe = (ctl.efer & EFER_NX) !== 0n;
  const smep = (ctl.cr4 & X86_CR4_SMEP) !== 0n;
  const write = access.kind === 'write';
  const accessErr =
    (write ? PFERR_WRITE : 0) |
    (isUserAccess(access) ? PFERR_USER : 0) |
    (access.kind === 'fetch' && (nxe || smep) ? PFERR_FETCH : 0);
  const pageFault = (bitsSet: number, level: number): WalkOutcome =>
    ({ kind: 'page-fault', errorCode: bitsSet | accessErr, cr2: access.la as Gva, level });
  const tableAccess: EptAccess = { kind: 'read', pagingStructure: true, glaValid: true };
  const addrMask = bits(ctl.maxPhyAddr - 1, 12);

  const used: { level: number; gpa: Gpa; view: HostView }[] = [];
  let table = ctl.cr3 & addrMask;
  let writable = true;
  let user = true;
  let executeDisable = false;
  for (let level = levels; level >= 1; level--) {
    const shift = 12 + 9 * (level - 1);
    const entryGpa = (table + ((access.la >> BigInt(shift)) & 511n) * 8n) as Gpa;
    const t = toHost(mem, ept, entryGpa, tableAccess, level, refs, ad);
    if (!t.ok) return t.outcome;
    const entry = mem.read64(t.view.hpa);
    refs.push({ table: 'guest', level, addr: entryGpa, value: entry });
    if (!bit(entry, PT_PRESENT)) return pageFault(0, level);
    if ((entry & reservedBits(ctl, level, entry)) !== 0n) return pageFault(PFERR_PRESENT | PFERR_RSVD, level);
    used.push({ level, gpa: entryGpa, view: t.view });
    writable &&= bit(entry, PT_WRITABLE);
    user &&= bit(entry, PT_USER);
    executeDisable ||= nxe && bit(entry, PT_XD);
    const leaf = level === 1 || (level <= 3 && bit(entry, PT_PAGE_SIZE));
    if (!leaf) {
      table = entry & addrMask;
      continue;
    }

    const key = Number((entry >> 59n) & 15n);
    const denied = rightsFault(ctl, access, { writable, user, executeDisable, key });
    if (denied !== 0) return pageFault(denied, level);

    const pageMask = (1n << BigInt(shift)) - 1n;
    const gpa = ((entry & addrMask & ~pageMask) | (access.la & pageMask)) as Gpa;
    const adFailure = updateGuestAd(mem, ept, used, write, refs, ad);
    if (adFailure) return adFailure;
    const data = toHost(mem, ept, gpa, dataAccess, 0, refs, ad);
    if (!data.ok) return data.outcome;
    return { kind: 'ok', gpa, hpa: data.view.hpa, pageShift: shift as PageShift, eptPageShift: data.view.pageShift };
  }
  throw new Error('unreachable: a PTE is always a leaf');
}

/**
 * Sets A in every entry used and D in the leaf for a write, top-down. Each
 * update is a write to guest memory: without EPT A/D it needs EPT W on the
 * page that holds the entry (with EPT A/D the table read already did). The
 * first refused one is translated again as the write it is, which ends the
 * access with that translation's violation.
 */
function updateGuestAd(
  mem: HostMemory, ept: EptControl | null, used: { level: number; gpa: Gpa; view: HostView }[], write: boolean,
  refs: WalkRef[], ad: AdUpdate[],
): WalkOutcome | null {
  const leafLevel = used[used.length - 1].level;
  for (const u of used) {
    const set = u.level === leafLevel && write ? PT_ACCESSED | PT_DIRTY : PT_ACCESSED;
    const current = mem.read64(u.view.hpa);
    if ((current | set) === current) continue;
    if (ept !== null && !eptAdEnabled(ept) && (u.view.rights & EPT_WRITE) === 0n) {
      const t = toHost(mem, ept, u.gpa, { kind: 'write', pagingStructure: true, glaValid: true }, u.level, refs, ad);
      if (!t.ok) return t.outcome;
    }
    setBits(mem, u.view.hpa, set, (old, now) =>
      ad.push({ table: 'guest', level: u.level, addr: u.gpa, old, new: now }));
  }
  return null;
}
