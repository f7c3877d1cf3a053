// kvm.translate(vcpu, gva, { access, cpl, ac }): gmemu's extension that shows
// one access's translation as the processor makes it on a TLB miss - the
// Wasm 2D walk (assembly/paging.ts) with its trace on (assembly/trace.ts):
// each guest entry read, each EPT entry read to reach it, each A/D update, in
// order, then the fault if any, or the final GPA, HPA and page size.
//
// It is the walk and nothing around it: the vCPU's TLB is neither looked up
// nor filled, and no fault is handled (an EPT violation is reported as the
// exit KVM would get, not resolved). Like the access, the walk sets the A/D
// bits it must, in guest memory and in EPT; they are listed in `adChanges`.
// Its events count into the vCPU's stats block, as the vCPU's own walks do.

import type { Gpa, Gva, Hpa } from '../core/addr.js';
import { VcpuRecord } from '../core/vcpu-record.js';
import type { Core } from '../core/wasm.js';
import { intArg } from './args.js';
import { KvmError } from './error.js';

export type AccessType = 'read' | 'write' | 'fetch';

export interface TranslateOptions {
  /** The access to translate (default 'read'). */
  access?: AccessType;
  /** The privilege level it is made at, 0-3; 3 is user mode (default: the vCPU's current CPL). */
  cpl?: number;
  /** EFLAGS.AC, which lifts SMAP for a supervisor access (default: the vCPU's RFLAGS.AC). */
  ac?: number;
}

/** One memory reference of the walk. */
export type WalkReference =
  | { table: 'guest'; op: 'read'; level: number; address: Gpa; value: bigint }
  | { table: 'ept'; op: 'read'; level: number; address: Hpa; value: bigint }
  | { table: 'guest'; op: 'set-ad'; level: number; address: Gpa; value: bigint; newValue: bigint }
  | { table: 'ept'; op: 'set-ad'; level: number; address: Hpa; value: bigint; newValue: bigint };

/** Why the access cannot complete. */
export type TranslateFault =
  /** Guest #PF: its error code and CR2; `level` is the guest level where the walk stopped. */
  | { type: 'page-fault'; vector: 14; errorCode: number; cr2: Gva; level: number }
  /** Guest #GP(0): a non-canonical address; nothing was read. */
  | { type: 'general-protection'; vector: 13; errorCode: 0 }
  /**
   * EPT violation (a VM exit): the exit qualification and the GPA; `level`
   * is the guest level whose entry EPT could not reach, 0 for the data access.
   */
  | { type: 'ept-violation'; gpa: Gpa; qualification: bigint; level: number }
  /** EPT misconfiguration (a VM exit) at `gpa`, reached as for a violation. */
  | { type: 'ept-misconfig'; gpa: Gpa; level: number }
  /** EPT maps `gpa` to a host-physical address with no RAM behind it. */
  | { type: 'no-memory'; gpa: Gpa; level: number };

export interface Translation {
  gva: Gva;
  access: AccessType;
  cpl: number;
  ac: number;
  /** The access may go ahead: no fault. */
  ok: boolean;
  /** Where the linear address lands, once the guest's translation completed (even if EPT then refused the data access). */
  gpa: Gpa | null;
  /** The host-physical address of the data, when EPT reached RAM. */
  hpa: Hpa | null;
  /** The guest page size in bytes (4 KiB, 2 MiB, 1 GiB), once the guest's translation completed. */
  pageSize: number | null;
  fault: TranslateFault | null;
  /** The references kept, in the order the walk made them. */
  references: WalkReference[];
  /** References made past the trace's capacity (TRACE_MAX), counted but not kept. */
  referencesDropped: number;
  /** The A/D updates the walk made (the 'set-ad' references). */
  adChanges: Extract<WalkReference, { op: 'set-ad' }>[];
}

const ACCESSES: readonly AccessType[] = ['read', 'write', 'fetch'];

/** The options as the walk takes them, or KvmError EINVAL naming the one that is wrong. */
function accessOf(core: Core, record: number, opts: unknown): { access: AccessType; cpl: number; ac: number } {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new KvmError('EINVAL', 'translate', 'options must be an object { access, cpl, ac }');
  }
  const o = opts as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'access' && key !== 'cpl' && key !== 'ac') throw new KvmError('EINVAL', 'translate', `options.${key} is not an option (access, cpl, ac)`);
  }
  const access = o.access ?? 'read';
  if (!ACCESSES.includes(access as AccessType)) {
    throw new KvmError('EINVAL', 'translate', `options.access must be 'read', 'write' or 'fetch', got ${JSON.stringify(access)}`);
  }
  const x = core.exports;
  const view = new DataView(core.memory.buffer);
  const v = x.vcpu_ptr(record);
  const cpl = o.cpl === undefined ? view.getUint32(v + x.Vcpu.Cpl, true) : Number(intArg(o.cpl, 'u8', 'options.cpl', 'translate'));
  if (cpl > 3) throw new KvmError('EINVAL', 'translate', `options.cpl = ${cpl} is not a privilege level (0-3)`);
  const rflagsAc = Number((view.getBigUint64(v + x.Vcpu.Rflags, true) >> 18n) & 1n);
  const ac = o.ac === undefined ? rflagsAc : Number(intArg(o.ac, 'u8', 'options.ac', 'translate'));
  if (ac > 1) throw new KvmError('EINVAL', 'translate', `options.ac = ${ac} is not a bit (0 or 1)`);
  return { access: access as AccessType, cpl, ac };
}

/** Walks `gva` for the vCPU on `record` (over its VM's EPT) with the trace on. */
export function translateAccess(core: Core, record: number, gva: unknown, opts: unknown): Translation {
  const x = core.exports;
  const la = intArg(gva, 'u64', 'gva', 'translate');
  const { access, cpl, ac } = accessOf(core, record, opts);
  const kind = { read: x.AccessKind.Read, write: x.AccessKind.Write, fetch: x.AccessKind.Fetch }[access];
  x.stats_select(1 + record);
  x.trace_begin(record);
  let status: number;
  try {
    status = x.walk(record, la, kind, cpl, ac, false);
  } finally {
    x.trace_end();
    x.stats_select(0);
  }
  const rec = new VcpuRecord(core, record);
  const r = rec.result();
  const K = x.TraceKind;
  const references: WalkReference[] = rec.trace().map((t): WalkReference => {
    const table = t.kind === K.GuestEntry || t.kind === K.GuestAdUpdate ? 'guest' : 'ept';
    const read = t.kind === K.GuestEntry || t.kind === K.EptEntry;
    const base = { level: t.level, value: t.value };
    if (table === 'guest') {
      return read ? { table, op: 'read', ...base, address: t.addr as Gpa } : { table, op: 'set-ad', ...base, address: t.addr as Gpa, newValue: t.newValue };
    }
    return read ? { table, op: 'read', ...base, address: t.addr as Hpa } : { table, op: 'set-ad', ...base, address: t.addr as Hpa, newValue: t.newValue };
  });
  const S = x.AccessStatus;
  // The guest's translation completed when the walk got past its leaf: the
  // access succeeded, or only the data access failed (level 0).
  const completed = status === S.Ok || (status !== S.PageFault && status !== S.GeneralProtection && r.level === 0);
  const fault = faultOf(core, status, r);
  return {
    gva: la as Gva,
    access, cpl, ac,
    ok: status === S.Ok,
    gpa: completed ? (r.gpa as Gpa) : null,
    hpa: status === S.Ok ? (r.hpa as Hpa) : null,
    pageSize: completed ? 2 ** leafShift(references, status === S.Ok ? r.pageShift : null) : null,
    fault,
    references,
    referencesDropped: rec.traceCount() - references.length,
    adChanges: references.filter((ref): ref is Extract<WalkReference, { op: 'set-ad' }> => ref.op === 'set-ad'),
  };
}

/**
 * log2 of the guest page: the walk's own result on success; otherwise the
 * level of the last guest entry read, which was the leaf (4 KiB with paging off).
 */
function leafShift(refs: WalkReference[], pageShift: number | null): number {
  if (pageShift !== null) return pageShift;
  for (let i = refs.length - 1; i >= 0; i--) {
    if (refs[i].table === 'guest' && refs[i].op === 'read') return 12 + 9 * (refs[i].level - 1);
  }
  return 12;
}

function faultOf(core: Core, status: number, r: ReturnType<VcpuRecord['result']>): TranslateFault | null {
  const S = core.exports.AccessStatus;
  switch (status) {
    case S.Ok: return null;
    case S.PageFault: return { type: 'page-fault', vector: 14, errorCode: r.err, cr2: r.cr2 as Gva, level: r.level };
    case S.GeneralProtection: return { type: 'general-protection', vector: 13, errorCode: 0 };
    case S.EptViolation: return { type: 'ept-violation', gpa: r.eptGpa as Gpa, qualification: r.eptQual, level: r.level };
    case S.EptMisconfig: return { type: 'ept-misconfig', gpa: r.eptGpa as Gpa, level: r.level };
    case S.NoMemory: return { type: 'no-memory', gpa: r.eptGpa as Gpa, level: r.level };
  }
  throw new Error(`gmemu: the walk returned an unknown status ${status}`);
}
