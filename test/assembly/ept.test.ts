import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCore, type Core } from '../../src/core/wasm.js';

// Every expected value below is worked out by hand from spec/x86-paging.md
// sections 9-13 and conformance/EPT.md.

type X = Core['exports'];

const MiB = 1 << 20;
const R = 1n, W = 2n, X_ = 4n, RWX = 7n;
const WB = 6n << 3n;
const PS = 1n << 7n;
const A = 1n << 8n, D = 1n << 9n;

// Hand-built tables at fixed frames: PML4 0x10, PDPT 0x11, PD 0x12, PT 0x13.
// GPA indexes 1 / 2 / 3 / 4 at the four levels, page offset 0xabc.
const GPA = (1n << 39n) | (2n << 30n) | (3n << 21n) | (4n << 12n) | 0xabcn;
const PML4E = 0x10000n + 1n * 8n;
const PDPTE = 0x11000n + 2n * 8n;
const PDE = 0x12000n + 3n * 8n;
const PTE = 0x13000n + 4n * 8n;
const M46 = 46;

function caps(x: X, m = M46, execOnly = true, page1g = true): number {
  return m | (execOnly ? x.EptCap.ExecOnly : 0) | (page1g ? x.EptCap.Page1g : 0);
}

function memoryOf(core: Core) {
  const words = new BigUint64Array(core.memory.buffer);
  const ram = core.exports.ram_base() / 8;
  return {
    get: (hpa: bigint) => words[ram + Number(hpa / 8n)],
    set: (hpa: bigint, v: bigint) => { words[ram + Number(hpa / 8n)] = v; },
    clear: (hpa: bigint, bytes: number) => words.fill(0n, ram + Number(hpa / 8n), ram + Number(hpa / 8n) + bytes / 8),
  };
}

function stat(x: X, s: number): bigint {
  return x.stats_read(0, s);
}

describe('ept: the walk', () => {
  let core: Core;
  let x: X;
  let mem: ReturnType<typeof memoryOf>;

  /** A 4-level path to a 4 KiB page at 0x123456000, everything RWX, WB. */
  function tree4k(leaf = 0x123456000n | WB | RWX) {
    mem.set(PML4E, 0x11000n | RWX);
    mem.set(PDPTE, 0x12000n | RWX);
    mem.set(PDE, 0x13000n | RWX);
    mem.set(PTE, leaf);
  }

  function walk(kind: 'read' | 'write' | 'fetch', o: { ad?: boolean; ps?: boolean; gla?: boolean; caps?: number; gpa?: bigint; eptp?: bigint } = {}) {
    const k = { read: x.AccessKind.Read, write: x.AccessKind.Write, fetch: x.AccessKind.Fetch }[kind];
    const eptp = o.eptp ?? x.ept_make_eptp(0x10, o.ad ?? false);
    const status = x.ept_walk(eptp, o.gpa ?? GPA, k, o.ps ?? false, o.gla ?? true, o.caps ?? caps(x));
    return {
      status, hpa: x.ept_hpa(), shift: x.ept_page_shift(), rights: x.ept_rights(),
      qual: x.ept_qualification(), level: x.ept_level(),
    };
  }

  function misconfigAt(level: number, o: Parameters<typeof walk>[1] = {}, kind: 'read' | 'write' | 'fetch' = 'read') {
    const r = walk(kind, o);
    expect(r.status).toBe(x.AccessStatus.EptMisconfig);
    expect(r.level).toBe(level);
  }

  beforeAll(async () => {
    core = await createCore({ ramFrames: (4 * MiB) / 4096, maxVcpus: 1, hostCpus: 1 });
    x = core.exports;
    mem = memoryOf(core);
  });
  beforeEach(() => mem.clear(0x10000n, 4 * 4096));

  it('builds the EPTP: WB, 4-level, A/D optional', () => {
    expect(x.ept_make_eptp(0x10, false)).toBe(0x1001en);
    expect(x.ept_make_eptp(0x10, true)).toBe(0x1005en);
  });

  it('translates a 4 KiB page and counts 4 entry reads', () => {
    tree4k();
    const walks = stat(x, x.Stat.EptWalk), reads = stat(x, x.Stat.EptEntryRead);
    const r = walk('read');
    expect(r).toEqual({ status: x.AccessStatus.Ok, hpa: 0x123456abcn, shift: 12, rights: 7, qual: 0n, level: 1 });
    expect(stat(x, x.Stat.EptWalk) - walks).toBe(1n);
    expect(stat(x, x.Stat.EptEntryRead) - reads).toBe(4n);
  });

  it('translates a 2 MiB and a 1 GiB page', () => {
    tree4k();
    mem.set(PDE, 0x40000000n | PS | WB | RWX);
    expect(walk('write')).toMatchObject({ status: x.AccessStatus.Ok, hpa: 0x40004abcn, shift: 21, level: 2 });
    mem.set(PDPTE, 0x140000000n | PS | WB | RWX);
    expect(walk('fetch')).toMatchObject({ status: x.AccessStatus.Ok, hpa: 0x140604abcn, shift: 30, level: 3 });
  });

  it('records each entry read in the trace, top-down', () => {
    tree4k();
    x.trace_begin(0);
    walk('read');
    x.trace_end();
    const view = new DataView(core.memory.buffer);
    const v = x.vcpu_ptr(0);
    expect(view.getUint32(v + x.Vcpu.TraceCount, true)).toBe(4);
    const refs = [0, 1, 2, 3].map((i) => {
      const r = v + x.Vcpu.Trace + i * x.TRACE_REF_BYTES.value;
      return [view.getUint32(r + x.TraceRef.Kind, true), view.getUint32(r + x.TraceRef.Level, true),
        view.getBigUint64(r + x.TraceRef.Addr, true), view.getBigUint64(r + x.TraceRef.Value, true)];
    });
    const E = x.TraceKind.EptEntry;
    expect(refs).toEqual([
      [E, 4, PML4E, 0x11007n], [E, 3, PDPTE, 0x12007n], [E, 2, PDE, 0x13007n], [E, 1, PTE, 0x123456037n],
    ]);
  });

  it('ANDs the rights over the levels and reports them in bits 5:3', () => {
    tree4k();
    mem.set(PDPTE, 0x12000n | R | W);
    mem.set(PDE, 0x13000n | R | X_);
    expect(walk('read')).toMatchObject({ status: x.AccessStatus.Ok, rights: 1 });
    // write: bit 1, R only left (bit 3), GLA valid and final access (bits 7, 8)
    expect(walk('write')).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x18an, rights: 1, level: 1 });
    expect(walk('fetch')).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x18cn, level: 1 });
  });

  it('treats bits 2:0 = 0 as not present whatever else is set: qualification bits 5:3 are 0', () => {
    tree4k();
    mem.set(PDE, 0xfff0_0000_0000_0ff8n);
    expect(walk('read')).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x181n, level: 2, rights: 0 });
    mem.set(PML4E, 0n);
    expect(walk('write')).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x182n, level: 4 });
  });

  it('counts violations and misconfigurations', () => {
    tree4k(0n);
    const v = stat(x, x.Stat.EptViolation), m = stat(x, x.Stat.EptMisconfig);
    walk('read');
    mem.set(PTE, W);
    walk('read');
    expect(stat(x, x.Stat.EptViolation) - v).toBe(1n);
    expect(stat(x, x.Stat.EptMisconfig) - m).toBe(1n);
  });

  describe('misconfigurations', () => {
    it('write without read (010b, 110b), at any level', () => {
      tree4k(0x123456000n | WB | W);
      misconfigAt(1);
      tree4k(0x123456000n | WB | W | X_);
      misconfigAt(1, {}, 'fetch');
      tree4k();
      mem.set(PDPTE, 0x12000n | W);
      misconfigAt(3);
    });

    it('execute-only (100b) only when the capability is absent', () => {
      tree4k(0x123456000n | WB | X_);
      misconfigAt(1, { caps: caps(x, M46, false) }, 'fetch');
      expect(walk('fetch')).toMatchObject({ status: x.AccessStatus.Ok, rights: 4 });
      // R is missing: bit 0, X only (bit 5), bits 7 and 8
      expect(walk('read')).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x1a1n });
    });

    it('bits 51:M, for the host MAXPHYADDR given in caps', () => {
      tree4k((1n << 45n) | 0x123456000n | WB | RWX); // bit 45 set in the address
      expect(walk('read', { caps: caps(x, 46) })).toMatchObject({ status: x.AccessStatus.Ok, hpa: 0x200123456abcn });
      misconfigAt(1, { caps: caps(x, 45) });
      tree4k();
      mem.set(PDE, 0x13000n | (1n << 51n) | RWX);
      misconfigAt(2, { caps: caps(x, 51) });
      expect(walk('read', { caps: caps(x, 52) }).status).toBe(x.AccessStatus.NoMemory);
    });

    it('PML4E bits 7:3, the large-page bit included', () => {
      tree4k();
      mem.set(PML4E, 0x11000n | PS | RWX);
      misconfigAt(4);
      mem.set(PML4E, 0x11000n | (1n << 3n) | RWX);
      misconfigAt(4);
    });

    it('non-leaf PDPTE / PDE bits 6:3', () => {
      tree4k();
      mem.set(PDPTE, 0x12000n | (1n << 6n) | RWX);
      misconfigAt(3);
      mem.set(PDPTE, 0x12000n | RWX);
      mem.set(PDE, 0x13000n | (1n << 3n) | RWX);
      misconfigAt(2);
    });

    it('leaf memory types 2, 3 and 7; 0, 1, 4, 5 and 6 are valid', () => {
      for (const mt of [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]) {
        tree4k(0x123456000n | (mt << 3n) | RWX);
        const bad = mt === 2n || mt === 3n || mt === 7n;
        expect(walk('read').status).toBe(bad ? x.AccessStatus.EptMisconfig : x.AccessStatus.Ok);
      }
      tree4k();
      mem.set(PDE, 0x40000000n | PS | (7n << 3n) | RWX);
      misconfigAt(2);
    });

    it('low address bits of a large leaf, bit 12 included', () => {
      tree4k();
      mem.set(PDE, 0x40000000n | (1n << 12n) | PS | WB | RWX);
      misconfigAt(2);
      mem.set(PDE, 0x40000000n | (1n << 20n) | PS | WB | RWX);
      misconfigAt(2);
      mem.set(PDPTE, 0x140000000n | (1n << 12n) | PS | WB | RWX);
      misconfigAt(3);
      mem.set(PDPTE, 0x140000000n | (1n << 29n) | PS | WB | RWX);
      misconfigAt(3);
    });

    it('a 1 GiB leaf when the capability is absent', () => {
      tree4k();
      mem.set(PDPTE, 0x140000000n | PS | WB | RWX);
      misconfigAt(3, { caps: caps(x, M46, true, false) });
    });

    it('wins over a missing right in an upper entry', () => {
      tree4k(0x123456000n | (7n << 3n) | RWX);
      mem.set(PML4E, 0x11000n | R);
      misconfigAt(1, {}, 'write');
    });

    it('never comes from ignored bits: 63:52, 11, 10, 9:8 without A/D, IPAT, PTE bit 7', () => {
      tree4k(0x123456000n | (1n << 63n) | (1n << 52n) | (1n << 11n) | (1n << 10n) | D | A | PS | (1n << 6n) | WB | RWX);
      mem.set(PDE, 0x13000n | (1n << 62n) | (1n << 11n) | (1n << 10n) | A | RWX);
      expect(walk('write')).toMatchObject({ status: x.AccessStatus.Ok, hpa: 0x123456abcn, shift: 12 });
    });
  });

  describe('paging-structure accesses and the qualification', () => {
    it('with A/D off: a read needs R (bit 0), a guest A/D write needs W (bit 1); bit 8 stays 0', () => {
      tree4k(0x123456000n | WB | X_);
      expect(walk('read', { ps: true })).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0xa1n });
      tree4k(0x123456000n | WB | R);
      expect(walk('read', { ps: true }).status).toBe(x.AccessStatus.Ok);
      expect(walk('write', { ps: true })).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x8an });
    });

    it('with A/D on: any access with a GLA is a write, reported as bits 0 and 1', () => {
      tree4k(0x123456000n | WB | R);
      expect(walk('read', { ps: true, ad: true })).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x8bn });
      expect(walk('write', { ps: true, ad: true })).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x8bn });
    });

    it('without a GLA (PDPTE loads) a read stays a read, and bits 7 and 8 are 0', () => {
      tree4k(0x123456000n | WB | R);
      expect(walk('read', { ps: true, ad: true, gla: false }).status).toBe(x.AccessStatus.Ok);
      tree4k(0x123456000n | WB | X_);
      expect(walk('read', { ps: true, ad: true, gla: false })).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x21n });
      expect(walk('read', { gla: false })).toMatchObject({ status: x.AccessStatus.EptViolation, qual: 0x21n });
    });
  });

  describe('accessed and dirty flags', () => {
    function adTrace(kind: 'read' | 'write' | 'fetch', o: Parameters<typeof walk>[1]) {
      x.trace_begin(0);
      const r = walk(kind, o);
      x.trace_end();
      const view = new DataView(core.memory.buffer);
      const v = x.vcpu_ptr(0);
      const out: bigint[][] = [];
      for (let i = 0; i < view.getUint32(v + x.Vcpu.TraceCount, true); i++) {
        const p = v + x.Vcpu.Trace + i * x.TRACE_REF_BYTES.value;
        if (view.getUint32(p + x.TraceRef.Kind, true) !== x.TraceKind.EptAdUpdate) continue;
        out.push([BigInt(view.getUint32(p + x.TraceRef.Level, true)), view.getBigUint64(p + x.TraceRef.Addr, true),
          view.getBigUint64(p + x.TraceRef.Value, true), view.getBigUint64(p + x.TraceRef.NewValue, true)]);
      }
      return { r, ad: out };
    }

    it('a read sets A on every level top-down, and a write then sets only D on the leaf', () => {
      tree4k();
      const n = stat(x, x.Stat.EptAdUpdate);
      const { r, ad } = adTrace('read', { ad: true });
      expect(r.status).toBe(x.AccessStatus.Ok);
      expect(ad).toEqual([
        [4n, PML4E, 0x11007n, 0x11107n], [3n, PDPTE, 0x12007n, 0x12107n],
        [2n, PDE, 0x13007n, 0x13107n], [1n, PTE, 0x123456037n, 0x123456137n],
      ]);
      expect(stat(x, x.Stat.EptAdUpdate) - n).toBe(4n);
      expect(adTrace('write', { ad: true }).ad).toEqual([[1n, PTE, 0x123456137n, 0x123456337n]]);
      expect(adTrace('write', { ad: true }).ad).toEqual([]);
      expect(mem.get(PTE)).toBe(0x123456337n);
    });

    it('a write to a 2 MiB page dirties the PDE', () => {
      tree4k();
      mem.set(PDE, 0x40000000n | PS | WB | RWX);
      adTrace('write', { ad: true });
      expect([mem.get(PML4E), mem.get(PDPTE), mem.get(PDE), mem.get(PTE)])
        .toEqual([0x11107n, 0x12107n, 0x400003b7n, 0x123456037n]);
    });

    it('a paging-structure read with a GLA dirties the leaf; a PDPTE load does not', () => {
      tree4k();
      adTrace('read', { ad: true, ps: true, gla: false });
      expect(mem.get(PTE)).toBe(0x123456137n);
      adTrace('read', { ad: true, ps: true });
      expect(mem.get(PTE)).toBe(0x123456337n);
    });

    it('nothing is written with A/D off, nor on a violation or a misconfiguration', () => {
      tree4k();
      expect(adTrace('write', { ad: false }).ad).toEqual([]);
      tree4k(0x123456000n | WB | R);
      expect(adTrace('write', { ad: true })).toEqual({ r: expect.objectContaining({ status: x.AccessStatus.EptViolation }), ad: [] });
      expect([mem.get(PML4E), mem.get(PDPTE), mem.get(PDE), mem.get(PTE)])
        .toEqual([0x11007n, 0x12007n, 0x13007n, 0x123456000n | WB | R]);
      tree4k(0x123456000n | (3n << 3n) | RWX);
      expect(adTrace('read', { ad: true }).r.status).toBe(x.AccessStatus.EptMisconfig);
      expect([mem.get(PML4E), mem.get(PDPTE), mem.get(PDE), mem.get(PTE)])
        .toEqual([0x11007n, 0x12007n, 0x13007n, 0x123456000n | (3n << 3n) | RWX]);
    });
  });

  it('reports NoMemory for a table pointer beyond host RAM, with the level of that table', () => {
    tree4k();
    mem.set(PDE, 0x400000n | RWX); // 4 MiB: the first byte past RAM
    expect(walk('read')).toMatchObject({ status: x.AccessStatus.NoMemory, level: 1 });
    expect(walk('read', { eptp: x.ept_make_eptp(0x400, false) })).toMatchObject({ status: x.AccessStatus.NoMemory, level: 4 });
  });
});

describe('ept: map, zap, destroy', () => {
  const OWNER = 5;
  const PROT = Number(WB | RWX);
  const G = 1n << 30n;

  async function machine() {
    const core = await createCore({ ramFrames: (16 * MiB) / 4096, maxVcpus: 1, hostCpus: 1 });
    const x = core.exports;
    const CAPS = caps(x);
    const translate = (root: number, gpa: bigint, kind = x.AccessKind.Read) => {
      const s = x.ept_walk(x.ept_make_eptp(root, true), gpa, kind, false, true, CAPS);
      return s === x.AccessStatus.Ok ? { hpa: x.ept_hpa(), shift: x.ept_page_shift(), rights: x.ept_rights() } : { status: s };
    };
    return { core, x, translate };
  }

  it('maps 4 KiB, 2 MiB and 1 GiB pages that the walk then finds', async () => {
    const { x, translate } = await machine();
    const free0 = x.phys_free_frames();
    const root = x.ept_root_alloc(OWNER);
    expect(x.frame_kind(root)).toBe(x.FrameKind.PageTable);
    expect(x.frame_owner(root)).toBe(OWNER);
    const tables = stat(x, x.Stat.EptTableAlloc), pages = stat(x, x.Stat.EptMapPage);

    expect(x.ept_map(root, 0x1234000n, 0xabc000n, 12, Number(WB | R | X_), OWNER)).toBe(0);
    expect(x.phys_free_frames()).toBe(free0 - 4); // root + PDPT + PD + PT
    expect(translate(root, 0x1234567n)).toEqual({ hpa: 0xabc567n, shift: 12, rights: 5 });
    expect(translate(root, 0x1234567n, x.AccessKind.Write)).toEqual({ status: x.AccessStatus.EptViolation });

    expect(x.ept_map(root, 0x1400000n, 0x7fe00000n, 21, PROT, OWNER)).toBe(0);
    expect(x.phys_free_frames()).toBe(free0 - 4); // shares the PD
    expect(translate(root, 0x1412345n)).toEqual({ hpa: 0x7fe12345n, shift: 21, rights: 7 });

    expect(x.ept_map(root, 5n * G, 0x3_0000_0000n, 30, PROT, OWNER)).toBe(0);
    expect(translate(root, 5n * G + 0x2345678n)).toEqual({ hpa: 0x3_0234_5678n, shift: 30, rights: 7 });
    expect(x.phys_free_frames()).toBe(free0 - 4); // shares the PDPT

    // A new 512 GiB region needs a PDPT, a PD and a PT under the root.
    expect(x.ept_map(root, 1n << 39n, 0x5000n, 12, PROT, OWNER)).toBe(0);
    expect(x.phys_free_frames()).toBe(free0 - 7);
    expect(stat(x, x.Stat.EptTableAlloc) - tables).toBe(6n);
    expect(stat(x, x.Stat.EptMapPage) - pages).toBe(4n);

    x.ept_destroy(root);
    expect(x.phys_free_frames()).toBe(free0);
  });

  it('writes the leaf from prot, and non-leaf entries RWX with A set as KVM does', async () => {
    const { core, x } = await machine();
    const root = x.ept_root_alloc(OWNER);
    const prot = Number((5n << 3n) | (1n << 6n) | A | R | W);
    expect(x.ept_map(root, 0n, 0x9000n, 12, prot, OWNER)).toBe(0);
    const mem = memoryOf(core);
    const pml4e = mem.get(BigInt(root) << 12n);
    const pdpte = mem.get(pml4e & ~0xfffn);
    const pde = mem.get(pdpte & ~0xfffn);
    const pte = mem.get(pde & ~0xfffn);
    expect([pml4e & 0xfffn, pdpte & 0xfffn, pde & 0xfffn]).toEqual([0x107n, 0x107n, 0x107n]);
    expect(pte).toBe(0x9000n | BigInt(prot));
  });

  it('refuses bad arguments with EINVAL and changes nothing', async () => {
    const { x } = await machine();
    const root = x.ept_root_alloc(OWNER);
    const free = x.phys_free_frames();
    const bad: [bigint, bigint, number, number][] = [
      [0n, 0n, 13, PROT], // not a page size
      [0x1000n, 0n, 21, PROT], // gpa not 2 MiB aligned
      [0n, 0x200000n + 0x1000n, 21, PROT], // hpa not aligned
      [G / 2n, 0n, 30, PROT],
      [1n << 48n, 0n, 12, PROT], // beyond the 4-level GPA space
      [0n, 1n << 52n, 12, PROT], // beyond any MAXPHYADDR
      [0n, 0n, 12, Number(WB)], // not present
      [0n, 0n, 12, Number(WB | W)], // write without read
      [0n, 0n, 12, Number((7n << 3n) | RWX)], // reserved memory type
      [0n, 0n, 12, Number(PS | WB | RWX)], // bit 7 is ept_map's to set
    ];
    for (const [gpa, hpa, shift, prot] of bad) expect(x.ept_map(root, gpa, hpa, shift, prot, OWNER)).toBe(-22);
    expect(x.phys_free_frames()).toBe(free);
  });

  it('refuses with EEXIST anything already mapped or covered, and changes nothing', async () => {
    const { x, translate } = await machine();
    const root = x.ept_root_alloc(OWNER);
    expect(x.ept_map(root, 0x200000n, 0x1000n, 12, PROT, OWNER)).toBe(0);
    expect(x.ept_map(root, 2n * G, 0x40000000n, 30, PROT, OWNER)).toBe(0);
    const free = x.phys_free_frames();
    expect(x.ept_map(root, 0x200000n, 0x2000n, 12, PROT, OWNER)).toBe(-17); // same page
    expect(x.ept_map(root, 0x200000n, 0x400000n, 21, PROT, OWNER)).toBe(-17); // a table below
    expect(x.ept_map(root, 0n, 0x40000000n, 30, PROT, OWNER)).toBe(-17); // tables below
    expect(x.ept_map(root, 2n * G + 0x5000n, 0x3000n, 12, PROT, OWNER)).toBe(-17); // under a 1 GiB leaf
    expect(x.ept_map(root, 2n * G + 0x200000n, 0x200000n, 21, PROT, OWNER)).toBe(-17);
    expect(x.phys_free_frames()).toBe(free);
    expect(translate(root, 0x200000n)).toEqual({ hpa: 0x1000n, shift: 12, rights: 7 });
    expect(translate(root, 2n * G + 0x5000n)).toEqual({ hpa: 0x40005000n, shift: 30, rights: 7 });
  });

  it('fails with ENOMEM without changing the tree or leaking a frame', async () => {
    // The smallest machine createCore lays out has more frames than this test
    // wants free, so the rest are taken first and given back at the end.
    const { x, translate } = await machine();
    const root = x.ept_root_alloc(OWNER);
    const filler: number[] = [];
    while (x.phys_free_frames() > 2) filler.push(x.frame_alloc(x.FrameKind.Anon, 1));
    expect(x.ept_map(root, 0x1000n, 0x1000n, 12, PROT, OWNER)).toBe(-12); // needs 3 tables
    expect(x.phys_free_frames()).toBe(2);
    expect(translate(root, 0x1000n)).toEqual({ status: x.AccessStatus.EptViolation });
    expect(x.ept_level()).toBe(4); // the root is still empty
    expect(x.ept_map(root, 0n, 0n, 30, PROT, OWNER)).toBe(0); // needs only the PDPT
    expect(x.phys_free_frames()).toBe(1);
    expect(x.ept_map(root, 1n << 39n, 0n, 21, PROT, OWNER)).toBe(-12); // needs a PDPT and a PD
    expect(x.phys_free_frames()).toBe(1);
    x.ept_destroy(root);
    expect(x.phys_free_frames()).toBe(3);
    for (const pfn of filler) x.frame_put(pfn);
  });

  it('zaps leaves, frees the tables it empties, and keeps the rest', async () => {
    const { x, translate } = await machine();
    const free0 = x.phys_free_frames();
    const root = x.ept_root_alloc(OWNER);
    for (const gpa of [0x10000n, 0x11000n, 0x12000n]) expect(x.ept_map(root, gpa, gpa + 0x100000n, 12, PROT, OWNER)).toBe(0);
    expect(x.ept_map(root, 0x400000n, 0x400000n, 21, PROT, OWNER)).toBe(0);
    expect(x.phys_free_frames()).toBe(free0 - 4);
    const zapped = stat(x, x.Stat.EptZapEntry), freed = stat(x, x.Stat.EptTableFree);

    expect(x.ept_zap(root, 0x11000n, 0x1000n)).toBe(1n);
    expect(translate(root, 0x11000n)).toEqual({ status: x.AccessStatus.EptViolation });
    expect(translate(root, 0x12000n)).toEqual({ hpa: 0x112000n, shift: 12, rights: 7 });
    expect(x.phys_free_frames()).toBe(free0 - 4);

    // [0x10800, 0x12001) overlaps the two 4 KiB pages left: the PT empties
    // and goes; the PD still holds the 2 MiB leaf.
    expect(x.ept_zap(root, 0x10800n, 0x1801n)).toBe(2n);
    expect(x.phys_free_frames()).toBe(free0 - 3);
    expect(translate(root, 0x400000n)).toEqual({ hpa: 0x400000n, shift: 21, rights: 7 });
    expect(x.ept_zap(root, 0n, 0x200000n)).toBe(0n);

    // One byte of the 2 MiB leaf takes the whole leaf, then PD and PDPT go.
    expect(x.ept_zap(root, 0x5fffffn, 1n)).toBe(1n);
    expect(translate(root, 0x400000n)).toEqual({ status: x.AccessStatus.EptViolation });
    expect(x.ept_level()).toBe(4);
    expect(x.phys_free_frames()).toBe(free0 - 1);
    expect(stat(x, x.Stat.EptZapEntry) - zapped).toBe(4n);
    expect(stat(x, x.Stat.EptTableFree) - freed).toBe(3n);

    x.ept_destroy(root);
    expect(x.phys_free_frames()).toBe(free0);
  });

  it('zaps a range across 512 GiB regions and 1 GiB leaves, clipped at 2^48', async () => {
    const { x } = await machine();
    const free0 = x.phys_free_frames();
    const root = x.ept_root_alloc(OWNER);
    const top = (1n << 48n) - 0x1000n;
    expect(x.ept_map(root, (1n << 39n) - G, 0n, 30, PROT, OWNER)).toBe(0);
    expect(x.ept_map(root, 1n << 39n, 0n, 12, PROT, OWNER)).toBe(0);
    expect(x.ept_map(root, (1n << 39n) + 0x200000n, 0n, 21, PROT, OWNER)).toBe(0);
    expect(x.ept_map(root, top, 0n, 12, PROT, OWNER)).toBe(0);
    expect(x.phys_free_frames()).toBe(free0 - 8);
    expect(x.ept_zap(root, (1n << 39n) - 1n, 0x200002n)).toBe(3n);
    expect(x.phys_free_frames()).toBe(free0 - 4);
    expect(x.ept_zap(root, top, 1n << 40n)).toBe(1n);
    expect(x.ept_zap(root, 0n, 0n)).toBe(0n);
    expect(x.phys_free_frames()).toBe(free0 - 1);
    x.ept_destroy(root);
    expect(x.phys_free_frames()).toBe(free0);
  });
});
