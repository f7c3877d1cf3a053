// Runner of the measured paging corpus (conformance/README.md): random
// 4-level trees from a real KVM, each with KVM_TRANSLATE items (a supervisor
// read walk: valid and pa) and real accesses (fault or not, error code, CR2,
// and the A/D bits the access set).
//
// Each case runs on a guest whose RAM, GPA [0, 64 MiB), is host RAM mapped by
// an EPT of 2 MiB pages from HPA 2 MiB up (the host keeps its own first
// frames), so every access is a real 2D walk. A GPA outside guest RAM is MMIO:
// the access ends in an EPT violation on its final translation, which the
// corpus records as a completed access plus an entry in `mmio`.
//
// Compared: translate valid and pa; exec result (ok, or vector, error code
// and CR2), the MMIO access made (where the host's result is the SDM's), and
// the page-table words the access changed.
// Items marked `quirk` touch one of the reference host's departures from the
// SDM and are compared with their `sdm` answer. A/D changes are compared with
// `sdm_ad` on every item: the emulator follows the SDM's A/D model, which is
// not what the reference host did on some faulting walks (`ad`).
// Informational fields (w and u, which Linux's KVM_TRANSLATE fills with the
// constants 1 and 0; backend_model; agree_*; ad; quirk_before) are not compared.

import { RamView } from '../core/ram-view.js';
import { VcpuRecord } from '../core/vcpu-record.js';
import { createCore } from '../core/wasm.js';
import type { Core } from '../core/wasm.js';
import { array, CaseError, caseId, fields, flag, hex, hex64, hexTuples, int, oneOf } from './fields.js';
import type { Fields } from './fields.js';
import { caseFailure, judged, sameJson } from './result.js';
import type { ItemResult, Json } from './result.js';

const MiB = 1 << 20;
/** Guest RAM is GPA [0, 64 MiB) in every case of the format. */
const GUEST_RAM = 64 * MiB;
/** Guest RAM starts at host frame 512 (HPA 2 MiB), above the host's own early frames. */
const GUEST_BASE = 2 * MiB;
/** EPT tables and the host's frames above guest RAM. */
const SPARE_FRAMES = 64;
/** Final-access flag of the EPT-violation qualification (bit 8): the violation hit the data access. */
const QUAL_FINAL_ACCESS = 0x100n;
/** Read, write, execute and write-back memory type in an EPT leaf. */
const EPT_RWX_WB = 7 | (6 << 3);

const CASE_FIELDS = ['id', 'vendor', 'maxphyaddr', 'gbpages', 'cr0', 'cr3', 'cr4', 'efer', 'fills', 'qwords', 'translate', 'exec'];
const TRANSLATE_FIELDS = ['la', 'valid', 'pa', 'w', 'u', 'sdm', 'backend_model', 'quirk', 'agree_backend', 'agree_sdm'];
const EXEC_FIELDS = [
  'type', 'cpl', 'ac', 'la', 'mmio', 'ad', 'result', 'sdm', 'backend_model', 'sdm_ad',
  'quirk', 'quirk_before', 'agree_backend', 'agree_sdm', 'ad_agree_backend',
];

interface PagingCase {
  id: string;
  features: number;
  cr0: bigint; cr3: bigint; cr4: bigint; efer: bigint;
  fills: { gpa: bigint; len: number; byte: number }[];
  qwords: { gpa: bigint; value: bigint }[];
  translate: unknown[];
  exec: unknown[];
}

interface PagingMachine {
  core: Core;
  ram: RamView;
  vcpu: VcpuRecord;
  eptp: bigint;
  eptCaps: number;
}

async function pagingMachine(): Promise<PagingMachine> {
  const core = await createCore({ ramFrames: (GUEST_BASE + GUEST_RAM) / 4096 + SPARE_FRAMES, maxVcpus: 1, hostCpus: 1 });
  const x = core.exports;
  // The allocator hands out pfns upward: take every frame up to the end of
  // guest RAM, so the EPT tables come from above it.
  const lastGuestPfn = (GUEST_BASE + GUEST_RAM) / 4096 - 1;
  for (let pfn = -1; pfn < lastGuestPfn; ) {
    pfn = x.frame_alloc(x.FrameKind.GuestMemfd, 1);
    if (pfn === x.PFN_NONE.value) throw new Error('gmemu conformance: host RAM exhausted while reserving guest RAM');
  }
  const root = x.ept_root_alloc(1);
  for (let gpa = 0; gpa < GUEST_RAM; gpa += 2 * MiB) {
    const ret = x.ept_map(root, BigInt(gpa), BigInt(GUEST_BASE + gpa), 21, EPT_RWX_WB, 1);
    if (ret !== 0) throw new Error(`gmemu conformance: ept_map of GPA ${hex(BigInt(gpa))} returned ${ret}`);
  }
  // Case writes go straight to guest RAM: no host structure (EPT tables
  // included) may live there.
  for (let pfn = GUEST_BASE / 4096; pfn <= lastGuestPfn; pfn++) {
    if (x.frame_kind(pfn) !== x.FrameKind.GuestMemfd) throw new Error(`gmemu conformance: host frame ${pfn} lies inside guest RAM`);
  }
  return {
    core,
    ram: new RamView(core, GUEST_BASE),
    vcpu: new VcpuRecord(core, 0),
    eptp: x.ept_make_eptp(root, true),
    eptCaps: 46 | x.EptCap.ExecOnly | x.EptCap.Page1g,
  };
}

function inGuestRam(gpa: bigint, len: bigint, where: string): void {
  if (gpa + len > BigInt(GUEST_RAM)) throw new CaseError(`${where}: inside guest RAM [0, 0x4000000)`, `${hex(gpa)} + ${hex(len)}`);
}

function parseCase(core: Core, raw: unknown): PagingCase {
  const c = fields(raw, 'case', CASE_FIELDS);
  if (typeof c.id !== 'string' && typeof c.id !== 'number') throw new CaseError('case.id: a string or a number', JSON.stringify(c.id));
  const f = core.exports.CpuFeat;
  let features = int(c, 'maxphyaddr', 'case', 32, 52) | f.Nx | f.Pcid | f.Invpcid | f.Smep | f.Smap | f.Pku | f.Pks | f.La57 | f.Pge;
  if (flag(c, 'gbpages', 'case')) features |= f.Gbpages;
  if (oneOf(c, 'vendor', 'case', ['intel', 'amd'] as const) === 'amd') features |= f.VendorAmd;
  const fills = hexTuples(c, 'fills', 'case', 3).map(([gpa, len, byte], i) => {
    inGuestRam(gpa, len, `case.fills[${i}]`);
    if (byte > 0xffn) throw new CaseError(`case.fills[${i}]: a byte value`, hex(byte));
    return { gpa, len: Number(len), byte: Number(byte) };
  });
  const qwords = hexTuples(c, 'qwords', 'case', 2).map(([gpa, value], i) => {
    inGuestRam(gpa, 8n, `case.qwords[${i}]`);
    if (gpa % 8n !== 0n) throw new CaseError(`case.qwords[${i}]: an 8-byte aligned address`, hex(gpa));
    return { gpa, value };
  });
  return {
    id: String(c.id), features,
    cr0: hex64(c, 'cr0', 'case'), cr3: hex64(c, 'cr3', 'case'), cr4: hex64(c, 'cr4', 'case'), efer: hex64(c, 'efer', 'case'),
    fills, qwords, translate: array(c, 'translate', 'case'), exec: array(c, 'exec', 'case'),
  };
}

/** A translate answer as compared: `{valid: false}` or `{valid: true, pa}`. */
function translateAnswer(o: Fields, where: string): Json {
  if (!flag(o, 'valid', where)) return { valid: false };
  if (!('pa' in o)) throw new CaseError(`${where}: field 'pa' of a valid translation`, 'no such field');
  return { valid: true, pa: hex(hex64(o, 'pa', where)) };
}

function expectedTranslate(raw: unknown, where: string): { expected: Json; quirk: boolean } {
  const t = fields(raw, where, TRANSLATE_FIELDS, ['la', 'valid', 'quirk']);
  const quirk = flag(t, 'quirk', where);
  if (!quirk) return { expected: translateAnswer(t, where), quirk };
  const sdm = fields(t.sdm, `${where}.sdm`, ['valid', 'pa'], ['valid']);
  return { expected: translateAnswer(sdm, `${where}.sdm`), quirk };
}

/** An access result as compared: `{ok: true}`, a #PF with error code and CR2, or a #GP with its error code. */
function accessResult(v: unknown, where: string): Json {
  if (typeof v === 'object' && v !== null && 'ok' in v) {
    const o = fields(v, where, ['ok']);
    if (o.ok !== true) throw new CaseError(`${where}.ok: true`, JSON.stringify(o.ok));
    return { ok: true };
  }
  const o = fields(v, where, ['vector', 'err', 'cr2'], ['vector', 'err']);
  const vector = int(o, 'vector', where, 0, 255);
  const err = int(o, 'err', where, 0, 0xffffffff);
  if (vector === 14) {
    if (!('cr2' in o)) throw new CaseError(`${where}: field 'cr2' of a #PF`, 'no such field');
    return { vector, err, cr2: hex(hex64(o, 'cr2', where)) };
  }
  if (vector === 13 && !('cr2' in o)) return { vector, err };
  throw new CaseError(`${where}: a #PF (vector 14, with cr2) or a #GP (vector 13)`, JSON.stringify(v));
}

/** MMIO accesses as `r 0x... len=1`, hex normalised. */
function mmioList(o: Fields, where: string): string[] {
  return array(o, 'mmio', where).map((m, i) => {
    const p = typeof m === 'string' ? /^([rwx]) (0x[0-9a-f]{1,16}) len=(\d+)$/i.exec(m) : null;
    if (!p) throw new CaseError(`${where}.mmio[${i}]: "r|w|x 0xADDR len=N"`, JSON.stringify(m));
    return `${p[1]} ${hex(BigInt(p[2]))} len=${Number(p[3])}`;
  });
}

/** A/D changes as [gpa, old, new] hex strings, in address order. */
function adList(changes: bigint[][]): Json {
  return [...changes].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((t) => t.map(hex));
}

interface ExecItem {
  kind: number; cpl: number; ac: number; la: bigint; type: string; quirk: boolean;
  /** Whether the item's `mmio` is part of its answer. */
  compareMmio: boolean;
  expected: Json;
}

function parseExec(core: Core, raw: unknown, where: string): ExecItem {
  const e = fields(raw, where, EXEC_FIELDS, ['type', 'cpl', 'ac', 'la', 'mmio', 'result', 'sdm_ad', 'quirk']);
  const type = oneOf(e, 'type', where, ['r', 'w', 'x'] as const);
  const quirk = flag(e, 'quirk', where);
  if (quirk && !('sdm' in e)) throw new CaseError(`${where}: field 'sdm' of a quirk item`, 'no such field');
  const K = core.exports.AccessKind;
  const hostResult = accessResult(e.result, `${where}.result`);
  const result = quirk ? accessResult(e.sdm, `${where}.sdm`) : hostResult;
  const mmio = mmioList(e, where);
  const ad = adList(hexTuples(e, 'sdm_ad', where, 3));
  // `mmio` records what the reference host's access did: it describes the
  // SDM's access only where the host's result is the SDM's.
  const compareMmio = sameJson(hostResult, result);
  return {
    kind: { r: K.Read, w: K.Write, x: K.Fetch }[type],
    type,
    cpl: int(e, 'cpl', where, 0, 3),
    ac: flag(e, 'ac', where) ? 1 : 0,
    la: hex64(e, 'la', where),
    quirk,
    compareMmio,
    expected: compareMmio ? { result, mmio, ad } : { result, ad },
  };
}

function runCase(m: PagingMachine, raw: unknown, index: number, out: ItemResult[]): void {
  const x = m.core.exports;
  const S = x.AccessStatus;
  const id = caseId(raw, index);
  let c: PagingCase;
  try {
    c = parseCase(m.core, raw);
  } catch (err) {
    // Every item of a case that cannot be loaded fails with the reason.
    const items = typeof raw === 'object' && raw !== null ? (raw as Fields) : {};
    const t = Array.isArray(items.translate) ? items.translate.length : 0;
    const e = Array.isArray(items.exec) ? items.exec.length : 0;
    for (let i = 0; i < t; i++) out.push(caseFailure(`${id}/t${i}`, 'paging.translate', err));
    for (let i = 0; i < e; i++) out.push(caseFailure(`${id}/x${i}`, 'paging.exec', err));
    if (t + e === 0) out.push(caseFailure(id, 'paging', err));
    return;
  }
  const { ram, vcpu } = m;
  const loadTables = () => { for (const q of c.qwords) ram.write64(q.gpa, q.value); };
  for (const f of c.fills) ram.fill(f.gpa, f.len, f.byte);
  loadTables();
  x.vcpu_set_features(0, c.features);
  x.vcpu_set_ept(0, m.eptp, m.eptCaps, 1);
  x.vcpu_set_cpl(0, 0);
  x.vcpu_set_state(0, c.cr0, c.cr3, c.cr4, c.efer);

  c.translate.forEach((raw, i) => {
    const itemId = `${c.id}/t${i}`;
    let want: { expected: Json; quirk: boolean };
    let la: bigint;
    try {
      want = expectedTranslate(raw, `translate[${i}]`);
      la = hex64(raw as Fields, 'la', `translate[${i}]`);
    } catch (err) {
      out.push(caseFailure(itemId, 'paging.translate', err));
      return;
    }
    const status = x.walk(0, la, x.AccessKind.Read, 0, 0, false);
    const r = vcpu.result();
    // A walk that reaches a GPA is valid even when EPT has no page there (MMIO).
    const reached = status === S.Ok || (status === S.EptViolation && r.level === 0);
    out.push(judged(itemId, 'paging.translate', want.expected, reached ? { valid: true, pa: hex(r.gpa) } : { valid: false }, want.quirk));
  });
  // The accesses start from the tables as written, not as the translates left their A/D bits.
  loadTables();

  c.exec.forEach((raw, i) => {
    const itemId = `${c.id}/x${i}`;
    let e: ExecItem;
    try {
      e = parseExec(m.core, raw, `exec[${i}]`);
    } catch (err) {
      out.push(caseFailure(itemId, 'paging.exec', err));
      return;
    }
    const before = c.qwords.map((q) => ram.read64(q.gpa));
    // Each access of the corpus was a separate real access: it walks afresh.
    x.tlb_flush_all(0);
    const status = x.vcpu_access(0, e.la, e.kind, e.cpl, e.ac, false);
    const r = vcpu.result();
    let result: Json;
    const mmio: string[] = [];
    if (status === S.Ok) result = { ok: true };
    else if (status === S.EptViolation && r.level === 0 && (r.eptQual & QUAL_FINAL_ACCESS) !== 0n) {
      result = { ok: true };
      mmio.push(`${e.type} ${hex(r.eptGpa)} len=1`);
    } else if (status === S.PageFault) result = { vector: 14, err: r.err, cr2: hex(r.cr2) };
    else if (status === S.GeneralProtection) result = { vector: 13, err: r.err };
    else result = { status: String(S[status] ?? status), level: r.level };
    const changed: bigint[][] = [];
    c.qwords.forEach((q, k) => {
      const now = ram.read64(q.gpa);
      if (now !== before[k]) changed.push([q.gpa, before[k], now]);
    });
    const ad = adList(changed);
    out.push(judged(itemId, 'paging.exec', e.expected, e.compareMmio ? { result, mmio, ad } : { result, ad }, e.quirk));
  });

  for (const f of c.fills) ram.fill(f.gpa, f.len, 0);
  for (const q of c.qwords) ram.write64(q.gpa, 0n);
}

/** Runs paging-corpus cases (the parsed lines of a corpus file) and judges every translate and exec item. */
export async function runPagingCorpus(cases: readonly unknown[]): Promise<ItemResult[]> {
  const m = await pagingMachine();
  const out: ItemResult[] = [];
  cases.forEach((raw, i) => runCase(m, raw, i, out));
  return out;
}
