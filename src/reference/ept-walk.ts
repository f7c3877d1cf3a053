// The reference EPT walk: one guest-physical access translated to host-physical.
//
// Written straight from the SDM's EPT chapter as restated in
// spec/x86-paging.md sections 9-13 and conformance/EPT.md, entry by entry,
// with no cleverness: the Wasm walker is compared against this.

import type { Gpa, Hpa } from '../core/addr.js';
import type { AccessKind, AdUpdate, EptControl, HostMemory, PageShift, WalkRef } from './types.js';
import { bit, bits } from './types.js';

/** EPT entry bits (SDM Vol. 3C, EPT entry formats). */
const EPT_READ = 1n << 0n;
const EPT_WRITE = 1n << 1n;
const EPT_EXEC = 1n << 2n;
const EPT_LARGE = 7;
const EPT_ACCESSED = 1n << 8n;
const EPT_DIRTY = 1n << 9n;
/** EPTP bit 6: accessed and dirty flags enabled. */
const EPTP_AD = 6;

/** Exit-qualification bits of an EPT violation (KVM's EPT_VIOLATION_*). */
const QUAL_ACC_READ = 1n << 0n;
const QUAL_ACC_WRITE = 1n << 1n;
const QUAL_ACC_INSTR = 1n << 2n;
const QUAL_PROT_SHIFT = 3n;
const QUAL_GVA_VALID = 1n << 7n;
const QUAL_GVA_TRANSLATED = 1n << 8n;

/** Memory types 2, 3 and 7 are reserved in an EPT leaf. */
const BAD_MEMTYPES = new Set([2n, 3n, 7n]);

/** One access through EPT, as the guest walk or the final data access makes it. */
export interface EptAccess {
  kind: AccessKind;
  /** The processor touching a guest paging-structure entry, not guest data. */
  pagingStructure: boolean;
  /** The access has a guest linear address (false only for PAE PDPTE loads). */
  glaValid: boolean;
}

export type EptOutcome =
  | { kind: 'ok'; hpa: Hpa; pageShift: PageShift; rights: bigint }
  | { kind: 'ept-violation'; qualification: bigint; level: number }
  | { kind: 'ept-misconfig'; level: number }
  | { kind: 'no-memory' };

/** Whether the EPT pointer enables accessed/dirty flags. */
export function eptAdEnabled(ept: EptControl): boolean {
  return bit(ept.eptp, EPTP_AD);
}

/**
 * A guest paging-structure access with EPT A/D on (and a linear address)
 * counts as a write: the walk may have to set guest A/D bits in that page.
 */
function treatedAsWrite(ept: EptControl, access: EptAccess): boolean {
  return access.pagingStructure && access.glaValid && eptAdEnabled(ept);
}

/** Qualification bits 2:0 and the right the access needs. */
function accessBits(ept: EptControl, access: EptAccess): { qual: bigint; needs: bigint } {
  if (treatedAsWrite(ept, access)) return { qual: QUAL_ACC_READ | QUAL_ACC_WRITE, needs: EPT_WRITE };
  switch (access.kind) {
    case 'read':
      return { qual: QUAL_ACC_READ, needs: EPT_READ };
    case 'write':
      return { qual: QUAL_ACC_WRITE, needs: EPT_WRITE };
    case 'fetch':
      return { qual: QUAL_ACC_INSTR, needs: EPT_EXEC };
  }
}

function isLeaf(level: number, entry: bigint): boolean {
  return level === 1 || ((level === 2 || level === 3) && bit(entry, EPT_LARGE));
}

/** SDM "EPT misconfigurations", for a present entry at `level` (4 = PML4E). */
function isMisconfigured(ept: EptControl, level: number, entry: bigint): boolean {
  const xwr = entry & 7n;
  if ((xwr & EPT_WRITE) !== 0n && (xwr & EPT_READ) === 0n) return true;
  if (xwr === EPT_EXEC && !ept.execOnly) return true;
  if ((entry & bits(51, ept.maxPhyAddr)) !== 0n) return true;
  if (level === 4) return (entry & bits(7, 3)) !== 0n;
  if (!isLeaf(level, entry)) return (entry & bits(6, 3)) !== 0n;
  if (BAD_MEMTYPES.has((entry >> 3n) & 7n)) return true;
  if (level === 3) return !ept.page1g || (entry & bits(29, 12)) !== 0n;
  if (level === 2) return (entry & bits(20, 12)) !== 0n;
  return false;
}

/**
 * Translates `gpa` for `access`. Every entry read is appended to `refs`; the
 * A/D updates of a successful translation (EPTP[6] only) are made through
 * `mem.write64` and appended to `ad`. A violation, a misconfiguration or a
 * table beyond host RAM changes nothing.
 */
export function eptTranslate(
  mem: HostMemory,
  ept: EptControl,
  gpa: Gpa,
  access: EptAccess,
  refs: WalkRef[],
  ad: AdUpdate[],
): EptOutcome {
  const addrMask = bits(ept.maxPhyAddr - 1, 12);
  const { qual: accQual, needs } = accessBits(ept, access);
  const qualification = (rights: bigint): bigint =>
    accQual |
    (rights << QUAL_PROT_SHIFT) |
    (access.glaValid ? QUAL_GVA_VALID : 0n) |
    (access.glaValid && !access.pagingStructure ? QUAL_GVA_TRANSLATED : 0n);

  const used: { level: number; addr: Hpa }[] = [];
  let table = ept.eptp & addrMask;
  let rights = EPT_READ | EPT_WRITE | EPT_EXEC;
  for (let level = 4; level >= 1; level--) {
    const shift = 12n + 9n * BigInt(level - 1);
    const addr = (table + ((gpa >> shift) & 511n) * 8n) as Hpa;
    if (addr + 8n > mem.size) return { kind: 'no-memory' };
    const entry = mem.read64(addr);
    refs.push({ table: 'ept', level, addr, value: entry });
    rights &= entry & 7n;
    if ((entry & 7n) === 0n) return { kind: 'ept-violation', qualification: qualification(rights), level };
    if (isMisconfigured(ept, level, entry)) return { kind: 'ept-misconfig', level };
    used.push({ level, addr });
    if (!isLeaf(level, entry)) {
      table = entry & addrMask;
      continue;
    }
    if ((rights & needs) === 0n) return { kind: 'ept-violation', qualification: qualification(rights), level };
    const pageMask = (1n << shift) - 1n;
    const hpa = ((entry & addrMask & ~pageMask) | (gpa & pageMask)) as Hpa;
    if (eptAdEnabled(ept)) {
      const dirty = access.kind === 'write' || treatedAsWrite(ept, access);
      for (const u of used) {
        const set = u.level === level && dirty ? EPT_ACCESSED | EPT_DIRTY : EPT_ACCESSED;
        setBits(mem, u.addr, set, (old, now) => ad.push({ table: 'ept', level: u.level, addr: u.addr, old, new: now }));
      }
    }
    return { kind: 'ok', hpa, pageShift: Number(shift) as PageShift, rights };
  }
  throw new Error('unreachable: a PTE is always a leaf');
}

/**
 * A locked OR of `set` into the word at `addr`, as the processor updates A/D:
 * it acts on the word as it is now (an earlier update of an aliased entry
 * included), and reports only a word that actually changed.
 */
export function setBits(mem: HostMemory, addr: Hpa, set: bigint, changed: (old: bigint, now: bigint) => void): void {
  const old = mem.read64(addr);
  const now = old | set;
  if (now === old) return;
  mem.write64?.(addr, now);
  changed(old, now);
}
