// Runner of the EPT corpus (conformance/EPT.md): random EPT trees, each with
// accesses run in order on the same memory, and the reference answer of each:
// an HPA and page size, a violation and its exit qualification, or a
// misconfiguration, plus the EPT entries whose A/D bits the access set.
//
// Compared: the outcome with every field of it (hpa and page size;
// qualification, its bit list and the level; misconfiguration and the level)
// and the A/D writes, as the walk trace records them. `reason` is
// information only; `bochs` and `bochs_differs` describe another emulator
// and are never compared.

import { RamView } from '../core/ram-view.js';
import { VcpuRecord } from '../core/vcpu-record.js';
import { createCore } from '../core/wasm.js';
import type { Core } from '../core/wasm.js';
import { array, CaseError, caseId, fields, flag, hex, hex64, hexTuples, int, oneOf } from './fields.js';
import type { Fields } from './fields.js';
import { caseFailure, judged } from './result.js';
import type { ItemResult, Json } from './result.js';

const MiB = 1 << 20;
/** Every EPT table of a case lies below this HPA (the format's rule); leaves may point anywhere. */
const TABLES_LIMIT = 64 * MiB;
const PAGE_SIZE = { 12: '4K', 21: '2M', 30: '1G' } as Record<number, string>;

const CASE_FIELDS = ['id', 'eptp', 'maxphyaddr', 'exec_only_supported', 'ept_1g_supported', 'mbec', 'qwords', 'accesses'];
const ACCESS_FIELDS = ['gpa', 'access', 'paging_structure', 'gla_valid', 'result', 'ad', 'bochs_differs', 'bochs'];

interface EptCase {
  id: string;
  eptp: bigint;
  caps: number;
  qwords: { hpa: bigint; value: bigint }[];
  accesses: unknown[];
}

interface EptAccess { gpa: bigint; kind: number; pagingStructure: boolean; glaValid: boolean; expected: Json; area: string }

function parseCase(core: Core, raw: unknown): EptCase {
  const c = fields(raw, 'case', CASE_FIELDS);
  if (typeof c.id !== 'string' && typeof c.id !== 'number') throw new CaseError('case.id: a string or a number', JSON.stringify(c.id));
  // MBEC changes what bit 10 and qualification bit 6 mean; the core models it off.
  if (flag(c, 'mbec', 'case')) throw new CaseError('case.mbec: false (mode-based execute control is not modelled)', 'true');
  const E = core.exports.EptCap;
  let caps = int(c, 'maxphyaddr', 'case', 32, 52);
  if (flag(c, 'exec_only_supported', 'case')) caps |= E.ExecOnly;
  if (flag(c, 'ept_1g_supported', 'case')) caps |= E.Page1g;
  const qwords = hexTuples(c, 'qwords', 'case', 2).map(([hpa, value], i) => {
    if (hpa % 8n !== 0n || hpa + 8n > BigInt(TABLES_LIMIT)) {
      throw new CaseError(`case.qwords[${i}]: an 8-byte aligned HPA below 0x4000000`, hex(hpa));
    }
    return { hpa, value };
  });
  return { id: String(c.id), eptp: hex64(c, 'eptp', 'case'), caps, qwords, accesses: array(c, 'accesses', 'case') };
}

/** The set bits of a qualification, as the format lists them. */
function bitList(q: bigint): number[] {
  const bits: number[] = [];
  for (let b = 0; b < 64; b++) if ((q >> BigInt(b)) & 1n) bits.push(b);
  return bits;
}

/** The reference outcome as compared, and the table row it counts in. */
function expectedOutcome(v: unknown, where: string): { outcome: Json; area: string } {
  const r = fields(v, where, ['hpa', 'page_size', 'violation', 'misconfig', 'level', 'reason'], []);
  if ('hpa' in r) {
    fields(r, where, ['hpa', 'page_size']);
    const size = oneOf(r, 'page_size', where, ['4K', '2M', '1G'] as const);
    return { outcome: { hpa: hex(hex64(r, 'hpa', where)), page_size: size }, area: 'ept.translate' };
  }
  if ('violation' in r) {
    fields(r, where, ['violation', 'level', 'reason'], ['violation', 'level']);
    const vq = fields(r.violation, `${where}.violation`, ['qualification', 'bits']);
    const bits = array(vq, 'bits', `${where}.violation`);
    if (!bits.every((b) => typeof b === 'number')) throw new CaseError(`${where}.violation.bits: bit numbers`, JSON.stringify(bits));
    return {
      outcome: { violation: { qualification: hex(hex64(vq, 'qualification', `${where}.violation`)), bits: bits as number[] }, level: int(r, 'level', where, 1, 4) },
      area: 'ept.violation',
    };
  }
  if ('misconfig' in r) {
    fields(r, where, ['misconfig', 'level', 'reason'], ['misconfig', 'level']);
    if (r.misconfig !== true) throw new CaseError(`${where}.misconfig: true`, JSON.stringify(r.misconfig));
    return { outcome: { misconfig: true, level: int(r, 'level', where, 1, 4) }, area: 'ept.misconfig' };
  }
  throw new CaseError(`${where}: one of hpa, violation, misconfig`, JSON.stringify(v));
}

function parseAccess(core: Core, raw: unknown, where: string): EptAccess {
  const a = fields(raw, where, ACCESS_FIELDS, ['gpa', 'access', 'paging_structure', 'result', 'ad']);
  const K = core.exports.AccessKind;
  const kind = { read: K.Read, write: K.Write, fetch: K.Fetch }[oneOf(a, 'access', where, ['read', 'write', 'fetch'] as const)];
  const { outcome, area } = expectedOutcome(a.result, `${where}.result`);
  return {
    gpa: hex64(a, 'gpa', where),
    kind,
    pagingStructure: flag(a, 'paging_structure', where),
    // Absent means true: only PDPTE loads by MOV to CR3 have no linear address.
    glaValid: 'gla_valid' in a ? flag(a, 'gla_valid', where) : true,
    expected: { outcome, ad: hexTuples(a, 'ad', where, 3).map((t) => t.map(hex)) },
    area,
  };
}

function actualOutcome(core: Core, status: number): Json {
  const x = core.exports;
  const S = x.AccessStatus;
  if (status === S.Ok) return { hpa: hex(x.ept_hpa()), page_size: PAGE_SIZE[x.ept_page_shift()] ?? `shift ${x.ept_page_shift()}` };
  if (status === S.EptViolation) {
    const q = x.ept_qualification();
    return { violation: { qualification: hex(q), bits: bitList(q) }, level: x.ept_level() };
  }
  if (status === S.EptMisconfig) return { misconfig: true, level: x.ept_level() };
  return { status: String(S[status] ?? status) };
}

function runCase(core: Core, ram: RamView, vcpu: VcpuRecord, raw: unknown, index: number, out: ItemResult[]): void {
  const x = core.exports;
  const id = caseId(raw, index);
  let c: EptCase;
  try {
    c = parseCase(core, raw);
  } catch (err) {
    const accesses = typeof raw === 'object' && raw !== null ? (raw as Fields).accesses : undefined;
    const n = Array.isArray(accesses) ? accesses.length : 0;
    for (let i = 0; i < n; i++) out.push(caseFailure(`${id}/e${i}`, 'ept', err));
    if (n === 0) out.push(caseFailure(id, 'ept', err));
    return;
  }
  for (const q of c.qwords) ram.write64(q.hpa, q.value);
  c.accesses.forEach((raw, i) => {
    const itemId = `${c.id}/e${i}`;
    let a: EptAccess;
    try {
      a = parseAccess(core, raw, `accesses[${i}]`);
    } catch (err) {
      out.push(caseFailure(itemId, 'ept', err));
      return;
    }
    x.trace_begin(vcpu.vcpu);
    const status = x.ept_walk(c.eptp, a.gpa, a.kind, a.pagingStructure, a.glaValid, c.caps);
    x.trace_end();
    const ad = vcpu.trace().filter((t) => t.kind === x.TraceKind.EptAdUpdate).map((t) => [hex(t.addr), hex(t.value), hex(t.newValue)]);
    out.push(judged(itemId, a.area, a.expected, { outcome: actualOutcome(core, status), ad }));
  });
  // Only the case's words can be non-zero now: A/D writes land on entries the
  // walks read, and a word not in `qwords` reads 0 (not present). Zeroing them
  // gives the next case all-zero tables memory.
  for (const q of c.qwords) ram.write64(q.hpa, 0n);
}

/** Runs EPT-corpus cases (the parsed lines of a corpus file) and judges every access. */
export async function runEptCorpus(cases: readonly unknown[]): Promise<ItemResult[]> {
  const core = await createCore({ ramFrames: TABLES_LIMIT / 4096 + 16, maxVcpus: 1, hostCpus: 1 });
  const ram = new RamView(core);
  // A case owns host memory below TABLES_LIMIT: every word it does not list
  // reads 0. The machine exists only for these walks, which never go through
  // the host's direct map, so the boot tables of that map (in the first
  // frames) are cleared with the rest.
  ram.fill(0, TABLES_LIMIT, 0);
  const vcpu = new VcpuRecord(core, 0);
  const out: ItemResult[] = [];
  cases.forEach((raw, i) => runCase(core, ram, vcpu, raw, i, out));
  return out;
}
