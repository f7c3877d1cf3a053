// The reference access-rights check of a completed guest walk: page-level
// rights (U/S, R/W with CR0.WP, XD, SMEP, SMAP with EFLAGS.AC and implicit
// accesses) and protection keys (PKRU, IA32_PKRS), as spec/x86-paging.md
// section 5 states them. Returns the #PF error-code bits, or 0 when allowed.

import { X86_CR0_WP, X86_CR4_PKE, X86_CR4_PKS, X86_CR4_SMAP, X86_CR4_SMEP } from '../uapi.js';
import type { GuestAccess, GuestControl } from './types.js';
import { PFERR_PK, PFERR_PRESENT } from './types.js';

/** Effective rights of a translation: R/W and U/S AND-ed, XD OR-ed over the levels. */
export interface PageRights {
  writable: boolean;
  user: boolean;
  executeDisable: boolean;
  /** The leaf's protection key, bits 62:59. */
  key: number;
}

/** Whether the access is user-mode: CPL3 and not an implicit supervisor access. */
export function isUserAccess(access: GuestAccess): boolean {
  return access.cpl === 3 && !access.implicit;
}

function pageRightsDeny(ctl: GuestControl, access: GuestAccess, page: PageRights): boolean {
  const write = access.kind === 'write';
  const fetch = access.kind === 'fetch';
  if (isUserAccess(access)) {
    if (!page.user) return true;
    if (write && !page.writable) return true;
    return fetch && page.executeDisable;
  }
  const wp = (ctl.cr0 & X86_CR0_WP) !== 0n;
  if (write && !page.writable && wp) return true;
  if (fetch && page.executeDisable) return true;
  if (fetch && page.user && (ctl.cr4 & X86_CR4_SMEP) !== 0n) return true;
  // Supervisor data access to a user page under SMAP: EFLAGS.AC lifts it
  // only for an explicit access (at CPL<3, the only explicit supervisor case).
  const smap = (ctl.cr4 & X86_CR4_SMAP) !== 0n;
  return !fetch && page.user && smap && (access.implicit || !access.ac);
}

/**
 * The key check: PKRU governs user-mode addresses (CR4.PKE), IA32_PKRS
 * supervisor-mode ones (CR4.PKS). AD stops data accesses; WD stops writes
 * from user mode, and supervisor writes when CR0.WP=1. Fetches are never
 * stopped by a key. Keys need long mode, which the 4/5-level walk implies.
 */
function keyDenies(ctl: GuestControl, access: GuestAccess, page: PageRights): boolean {
  if (access.kind === 'fetch') return false;
  let reg: number;
  if (page.user) {
    if ((ctl.cr4 & X86_CR4_PKE) === 0n) return false;
    reg = ctl.pkru;
  } else {
    if ((ctl.cr4 & X86_CR4_PKS) === 0n) return false;
    reg = ctl.pkrs;
  }
  const accessDisable = ((reg >>> (2 * page.key)) & 1) === 1;
  const writeDisable = ((reg >>> (2 * page.key + 1)) & 1) === 1;
  if (accessDisable) return true;
  const wp = (ctl.cr0 & X86_CR0_WP) !== 0n;
  return access.kind === 'write' && writeDisable && (isUserAccess(access) || wp);
}

/**
 * P and PK bits of the #PF error code for a rights failure, or 0. The key is
 * judged on its own: PK is set whenever the key denies, even when the page
 * rights deny too (SDM's PK flag, KVM permission_fault()).
 */
export function rightsFault(ctl: GuestControl, access: GuestAccess, page: PageRights): number {
  const pk = keyDenies(ctl, access, page);
  if (!pk && !pageRightsDeny(ctl, access, page)) return 0;
  return PFERR_PRESENT | (pk ? PFERR_PK : 0);
}
