// Runner of the TLB scenarios (conformance/TLB.md): hand-computed cases of
// stale entries, PCIDs, global pages, INVLPG/INVPCID, CR3/CR4 effects, LA57,
// protection keys and SMAP, run through the core's vCPU entry points on one
// vCPU whose TLB carries over from step to step.
//
// Guest-physical = host-physical (no EPT); a data page outside host RAM still
// translates (its address is the answer) but has no memory behind it.
// Every access step is judged on its `expect` (pa, or the fault's vector,
// error code and CR2); every instruction step is judged on whether it raised
// #GP(0), which only `expect_gp: true` allows. `write_pte` steps carry no
// expectation. `why`, `desc`, `area`, `tlb_assumption` and
// `minimal_invalidation` explain the answers and are not compared.

import { RamView } from '../core/ram-view.js';
import { VcpuRecord } from '../core/vcpu-record.js';
import { createCore } from '../core/wasm.js';
import type { Core } from '../core/wasm.js';
import { array, CaseError, caseId, fields, flag, hex, hex64, hexTuples, int, oneOf, u64 } from './fields.js';
import type { Fields } from './fields.js';
import { caseFailure, judged } from './result.js';
import type { ItemResult, Json } from './result.js';

/** Host RAM of the runner; case memory must lie inside it. */
const RAM_BYTES = 64 << 20;
/** RFLAGS with only its always-one bit 1: AC comes from each access step. */
const RFLAGS_RESERVED = 2n;

const CASE_FIELDS = ['id', 'area', 'desc', 'why', 'tlb_assumption', 'maxphyaddr', 'init', 'qwords', 'steps'];
const CASE_REQUIRED = ['id', 'maxphyaddr', 'init', 'qwords', 'steps'];
const INIT_FIELDS = ['cr0', 'cr3', 'cr4', 'efer', 'pkru', 'pkrs'];

/** Each op's fields, and those it must have; every op may explain itself in `why`. */
const OPS: Record<string, { known: string[]; required: string[] }> = {
  access: { known: ['la', 'type', 'cpl', 'ac', 'implicit', 'expect', 'minimal_invalidation'], required: ['la', 'type', 'cpl', 'ac', 'expect'] },
  write_pte: { known: ['gpa', 'value'], required: ['gpa', 'value'] },
  invlpg: { known: ['la', 'expect_gp'], required: ['la'] },
  invpcid: { known: ['type', 'pcid', 'la', 'expect_gp'], required: ['type', 'pcid', 'la'] },
  mov_cr3: { known: ['value', 'expect_gp'], required: ['value'] },
  mov_cr4: { known: ['value', 'expect_gp'], required: ['value'] },
  wrpkru: { known: ['value', 'expect_gp'], required: ['value'] },
  wrmsr_pkrs: { known: ['value', 'expect_gp'], required: ['value'] },
};

interface TlbCase {
  id: string;
  area: string;
  maxphyaddr: number;
  cr0: bigint; cr3: bigint; cr4: bigint; efer: bigint;
  pkru: number; pkrs: number;
  qwords: { gpa: bigint; value: bigint }[];
  steps: unknown[];
}

/** A guest-physical word the runner can store: 8-byte aligned, inside its RAM. */
function ramWord(gpa: bigint, where: string): bigint {
  if (gpa % 8n !== 0n || gpa + 8n > BigInt(RAM_BYTES)) throw new CaseError(`${where}: an 8-byte aligned address below 0x4000000`, hex(gpa));
  return gpa;
}

function parseCase(raw: unknown): TlbCase {
  const c = fields(raw, 'case', CASE_FIELDS, CASE_REQUIRED);
  if (typeof c.id !== 'string' && typeof c.id !== 'number') throw new CaseError('case.id: a string or a number', JSON.stringify(c.id));
  const init = fields(c.init, 'case.init', INIT_FIELDS, ['cr0', 'cr3', 'cr4', 'efer', 'pkru']);
  const u32 = (key: string): number => {
    const v = hex64(init, key, 'case.init');
    if (v > 0xffffffffn) throw new CaseError(`case.init.${key}: a 32-bit value`, hex(v));
    return Number(v);
  };
  return {
    id: String(c.id),
    area: typeof c.area === 'string' ? c.area : 'case',
    maxphyaddr: int(c, 'maxphyaddr', 'case', 32, 52),
    cr0: hex64(init, 'cr0', 'case.init'), cr3: hex64(init, 'cr3', 'case.init'),
    cr4: hex64(init, 'cr4', 'case.init'), efer: hex64(init, 'efer', 'case.init'),
    pkru: u32('pkru'),
    pkrs: 'pkrs' in init ? u32('pkrs') : 0,
    qwords: hexTuples(c, 'qwords', 'case', 2).map(([gpa, value], i) => ({ gpa: ramWord(gpa, `case.qwords[${i}]`), value })),
    steps: array(c, 'steps', 'case'),
  };
}

/** An access expectation as compared: `{pa}` or `{fault: {vector, err, cr2?}}`. */
function expectedAccess(v: unknown, where: string): Json {
  const e = fields(v, where, ['pa', 'fault'], []);
  if ('pa' in e) return { pa: hex(hex64(fields(e, where, ['pa']), 'pa', where)) };
  if (!('fault' in e)) throw new CaseError(`${where}: pa or fault`, JSON.stringify(v));
  const fw = `${where}.fault`;
  const f = fields(e.fault, fw, ['vector', 'err', 'cr2'], ['vector']);
  const vector = int(f, 'vector', fw, 0, 255);
  if (vector === 14) {
    const pf = fields(f, fw, ['vector', 'err', 'cr2']);
    return { fault: { vector, err: int(pf, 'err', fw, 0, 0xffffffff), cr2: hex(hex64(pf, 'cr2', fw)) } };
  }
  if (vector === 13 && !('cr2' in f)) return { fault: { vector, err: 'err' in f ? int(f, 'err', fw, 0, 0xffffffff) : 0 } };
  throw new CaseError(`${fw}: a #PF (vector 14, err, cr2) or a #GP (vector 13)`, JSON.stringify(e.fault));
}

/** Runs one step; returns its expected and actual answers, or null for a step without an expectation. */
function runStep(core: Core, storePte: (gpa: bigint, value: bigint) => void, vcpu: VcpuRecord, raw: unknown, where: string): { expected: Json; actual: Json } | null {
  const x = core.exports;
  const S = x.AccessStatus;
  const step = fields(raw, where, ['op', 'why', ...Object.values(OPS).flatMap((o) => o.known)], ['op']);
  if (typeof step.op !== 'string' || !(step.op in OPS)) {
    throw new CaseError(`${where}.op: one of ${Object.keys(OPS).join(', ')}`, JSON.stringify(step.op));
  }
  const op = step.op;
  const s = fields(step, where, ['op', 'why', ...OPS[op].known], ['op', ...OPS[op].required]);
  if (op === 'write_pte') {
    // A store to page-table memory: the TLB does not see it.
    storePte(ramWord(hex64(s, 'gpa', where), `${where}.gpa`), hex64(s, 'value', where));
    return null;
  }
  if (op === 'access') {
    const expected = expectedAccess(s.expect, `${where}.expect`);
    const K = x.AccessKind;
    const kind = { r: K.Read, w: K.Write, x: K.Fetch }[oneOf(s, 'type', where, ['r', 'w', 'x'] as const)];
    const implicit = 'implicit' in s ? flag(s, 'implicit', where) : false;
    const status = x.vcpu_access(vcpu.vcpu, hex64(s, 'la', where), kind, int(s, 'cpl', where, 0, 3), flag(s, 'ac', where) ? 1 : 0, implicit);
    const r = vcpu.result();
    let actual: Json;
    // Outside host RAM the translation still stands: NoMemory after a complete walk (level 0).
    if (status === S.Ok || (status === S.NoMemory && r.level === 0)) actual = { pa: hex(r.gpa) };
    else if (status === S.PageFault) actual = { fault: { vector: 14, err: r.err, cr2: hex(r.cr2) } };
    else if (status === S.GeneralProtection) actual = { fault: { vector: 13, err: r.err } };
    else actual = { status: String(S[status] ?? status), level: r.level };
    return { expected, actual };
  }
  const expectGp = 'expect_gp' in s ? flag(s, 'expect_gp', where) : false;
  const v = vcpu.vcpu;
  let status: number;
  switch (op) {
    case 'invlpg': status = x.invlpg(v, hex64(s, 'la', where)); break;
    case 'invpcid': status = x.invpcid(v, u64(s, 'type', where), hex64(s, 'pcid', where), hex64(s, 'la', where)); break;
    case 'mov_cr3': status = x.mov_cr3(v, hex64(s, 'value', where)); break;
    case 'mov_cr4': status = x.mov_cr4(v, hex64(s, 'value', where)); break;
    case 'wrpkru': {
      const value = hex64(s, 'value', where);
      if (value > 0xffffffffn) throw new CaseError(`${where}.value: a 32-bit value (EAX)`, hex(value));
      status = x.wrpkru(v, Number(value));
      break;
    }
    default: status = x.wrmsr_pkrs(v, hex64(s, 'value', where)); break;
  }
  const actual: Json = status === S.Ok ? { gp: false } : status === S.GeneralProtection ? { gp: true } : { status: String(S[status] ?? status) };
  return { expected: { gp: expectGp }, actual };
}

function runCase(core: Core, ram: RamView, vcpu: VcpuRecord, raw: unknown, index: number, out: ItemResult[]): void {
  const x = core.exports;
  const id = caseId(raw, index);
  let c: TlbCase;
  try {
    c = parseCase(raw);
  } catch (err) {
    // The steps that would have been judged fail with the case's reason.
    const steps = typeof raw === 'object' && raw !== null ? (raw as Fields).steps : undefined;
    let n = 0;
    if (Array.isArray(steps)) {
      steps.forEach((s, i) => {
        if ((s as Fields | null)?.op === 'write_pte') return;
        out.push(caseFailure(`${id}/s${i}`, 'tlb', err));
        n++;
      });
    }
    if (n === 0) out.push(caseFailure(id, 'tlb', err));
    return;
  }
  const area = `tlb.${c.area}`;
  const touched = new Set<bigint>();
  const put = (gpa: bigint, value: bigint) => {
    touched.add(gpa & ~0xfffn);
    ram.write64(gpa, value);
  };
  for (const q of c.qwords) put(q.gpa, q.value);
  const f = x.CpuFeat;
  // The CPUID every case assumes (TLB.md): PCID, INVPCID, PGE, LA57, PKU, PKS, SMEP, SMAP, NX, 1 GiB pages.
  x.vcpu_set_features(vcpu.vcpu, c.maxphyaddr | f.Gbpages | f.Nx | f.Pcid | f.Invpcid | f.Smep | f.Smap | f.Pku | f.Pks | f.La57 | f.Pge);
  x.vcpu_set_ept(vcpu.vcpu, 0n, 0, 0);
  x.vcpu_set_cpl(vcpu.vcpu, 0);
  x.vcpu_set_rflags(vcpu.vcpu, RFLAGS_RESERVED);
  x.vcpu_set_pkeys(vcpu.vcpu, c.pkru, c.pkrs);
  // Loading the state empties the TLB: nothing carries over from the previous case.
  x.vcpu_set_state(vcpu.vcpu, c.cr0, c.cr3, c.cr4, c.efer);
  c.steps.forEach((raw, i) => {
    const itemId = `${c.id}/s${i}`;
    try {
      const judgedStep = runStep(core, put, vcpu, raw, `steps[${i}]`);
      if (judgedStep) out.push(judged(itemId, area, judgedStep.expected, judgedStep.actual));
    } catch (err) {
      out.push(caseFailure(itemId, area, err));
    }
  });
  for (const page of touched) ram.fill(page, 4096, 0);
}

/** Runs TLB scenarios (the parsed array of a scenario file) and judges every step that carries an expectation. */
export async function runTlbScenarios(cases: readonly unknown[]): Promise<ItemResult[]> {
  const core = await createCore({ ramFrames: RAM_BYTES / 4096, maxVcpus: 1, hostCpus: 1 });
  const ram = new RamView(core);
  // A case owns all of host RAM (guest-physical = host-physical): memory it
  // does not list reads 0. The machine exists only for these accesses, which
  // never go through the host's direct map, so the boot tables of that map
  // (in the first frames) are cleared with the rest.
  ram.fill(0, RAM_BYTES, 0);
  const vcpu = new VcpuRecord(core, 0);
  const out: ItemResult[] = [];
  cases.forEach((raw, i) => runCase(core, ram, vcpu, raw, i, out));
  return out;
}
