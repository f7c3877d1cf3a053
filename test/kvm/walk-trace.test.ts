import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { KvmError } from '../../src/kvm/error.js';
import { Kvm } from '../../src/kvm/kvm.js';
import type { Translation } from '../../src/kvm/walk-trace.js';
import * as K from '../../src/uapi.js';
import { eptGuest } from './ept-fixture.js';
import type { EptGuest } from './ept-fixture.js';

const CORPUS = new URL('../../../shared/conformance/paging-corpus.jsonl', import.meta.url);
const GUEST_RAM = 64 << 20;
const LONG_MODE = { cr0: K.X86_CR0_PE | K.X86_CR0_PG, cr4: K.X86_CR4_PAE, efer: K.EFER_LME | K.EFER_LMA };

type AccessResult = { ok: true } | { vector: number; err: number; cr2?: string };
interface ExecItem {
  type: 'r' | 'w' | 'x'; cpl: number; ac: number; la: string; mmio: string[];
  result: AccessResult; sdm?: AccessResult; quirk: boolean; sdm_ad: [string, string, string][];
}
interface CorpusCase {
  id: number; vendor: 'intel' | 'amd'; maxphyaddr: number; gbpages: number;
  cr0: string; cr3: string; cr4: string; efer: string;
  fills: [string, string, string][]; qwords: [string, string][]; exec: ExecItem[];
}
type Entry = { function: number; eax: number; ebx: number; ecx: number; edx: number };

const hex = (v: bigint | number) => `0x${BigInt(v).toString(16)}`;
const ACCESS = { r: 'read', w: 'write', x: 'fetch' } as const;

/** The supported CPUID with the case's vendor, MAXPHYADDR and 1 GiB-page bit. */
function cpuidFor(g: EptGuest, c: CorpusCase): { nent: number; entries: Entry[] } {
  const arg = { nent: 64 } as { nent: number; entries: Entry[] };
  g.kvm.ioctl(g.kvm.fd, K.KVM_GET_SUPPORTED_CPUID, arg);
  for (const e of arg.entries) {
    if (e.function === 0 && c.vendor === 'amd') Object.assign(e, { ebx: 0x68747541, edx: 0x69746e65, ecx: 0x444d4163 });
    if (e.function === 0x80000008) e.eax = (e.eax & ~0xff) | c.maxphyaddr;
    if (e.function === 0x80000001) e.edx = c.gbpages ? e.edx | (1 << 26) : e.edx & ~(1 << 26);
  }
  return arg;
}

/** What kvm.translate says of an access, in the corpus's terms. */
function asCorpus(t: Translation, type: string): { result: AccessResult; mmio: string[] } {
  const f = t.fault;
  if (!f) return { result: { ok: true }, mmio: [] };
  // A data access EPT does not map (no memslot) is MMIO: the access completes through the VMM.
  if (f.type === 'ept-violation' && f.level === 0 && (f.qualification & 0x100n) !== 0n) {
    return { result: { ok: true }, mmio: [`${type} ${hex(f.gpa)} len=1`] };
  }
  if (f.type === 'page-fault') return { result: { vector: 14, err: f.errorCode, cr2: hex(f.cr2) }, mmio: [] };
  if (f.type === 'general-protection') return { result: { vector: 13, err: 0 }, mmio: [] };
  return { result: { vector: -1, err: -1, cr2: f.type }, mmio: [] };
}

const norm = (r: AccessResult): AccessResult => ('ok' in r ? r : { vector: r.vector, err: r.err, ...(r.cr2 ? { cr2: hex(BigInt(r.cr2)) } : {}) });
const byAddress = (a: string[], b: string[]) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1);

function runCase(g: EptGuest, c: CorpusCase): string[] {
  const wrong: string[] = [];
  for (const [gpa, len, byte] of c.fills) g.kvm.write(g.mem + BigInt(gpa), new Uint8Array(Number(len)).fill(Number(byte)));
  for (const [gpa, value] of c.qwords) g.put64(BigInt(gpa), BigInt(value));
  g.kvm.ioctl(g.vcpu, K.KVM_SET_CPUID2, cpuidFor(g, c));
  g.sregs(BigInt(c.cr0), BigInt(c.cr3), BigInt(c.cr4), BigInt(c.efer));
  c.exec.forEach((e, i) => {
    const before = c.qwords.map(([gpa]) => g.get64(BigInt(gpa)));
    const t = g.kvm.translate(g.vcpu, BigInt(e.la), { access: ACCESS[e.type], cpl: e.cpl, ac: e.ac });
    const got = asCorpus(t, e.type);
    const want = norm(e.quirk ? e.sdm! : e.result);
    // The corpus's mmio is the reference host's: it describes the SDM's access only where both agree.
    const compareMmio = JSON.stringify(norm(e.result)) === JSON.stringify(want);
    const wantAd = e.sdm_ad.map((t) => t.map((v) => hex(BigInt(v)))).sort(byAddress);
    const gotAd = t.adChanges.filter((a) => a.table === 'guest').map((a) => [hex(a.address), hex(a.value), hex(a.newValue)]).sort(byAddress);
    const memAd: string[][] = [];
    c.qwords.forEach(([gpa], k) => {
      const now = g.get64(BigInt(gpa));
      if (now !== before[k]) memAd.push([hex(BigInt(gpa)), hex(before[k]), hex(now)]);
    });
    const ok = JSON.stringify(got.result) === JSON.stringify(want) &&
      (!compareMmio || JSON.stringify(got.mmio) === JSON.stringify(e.mmio.map((m) => m.replace(/0x0*([0-9a-f])/i, '0x$1').toLowerCase()))) &&
      JSON.stringify(gotAd) === JSON.stringify(wantAd) && JSON.stringify(memAd.sort(byAddress)) === JSON.stringify(wantAd);
    if (!ok) wrong.push(`case ${c.id}/x${i}: got ${JSON.stringify({ ...got, ad: gotAd, memAd })}, want ${JSON.stringify({ result: want, mmio: e.mmio, ad: wantAd })}`);
  });
  for (const [gpa, len] of c.fills) g.kvm.write(g.mem + BigInt(gpa), new Uint8Array(Number(len)));
  for (const [gpa] of c.qwords) g.put64(BigInt(gpa), 0n);
  return wrong;
}

describe('kvm.translate', () => {
  it('answers every exec item of the paging corpus: result, MMIO, and the A/D changes it lists are the ones memory shows', async () => {
    const g = await eptGuest(GUEST_RAM);
    const cases = readFileSync(CORPUS, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CorpusCase);
    const wrong: string[] = [];
    let items = 0;
    for (const c of cases) {
      wrong.push(...runCase(g, c));
      items += c.exec.length;
    }
    expect(items).toBeGreaterThan(7000);
    expect(wrong.slice(0, 10)).toEqual([]);
    // The walks never touched the vCPU's TLB.
    expect(g.kvm.core.exports.tlb_count(g.record)).toBe(0);
  }, 120_000);

  describe('a 4-level guest over a 4-level EPT', () => {
    let g: EptGuest;
    beforeAll(async () => {
      g = await eptGuest(0x40_0000, { ramMiB: 16 });
      // PML4[0] -> 0x2000, PDPT[0] -> 0x3000, PD[0] -> 0x4000 (PT), PD[1] -> 2 MiB page at 0x20_0000; PT[5] -> 0x9000.
      g.put64(0x1000, 0x2007n); g.put64(0x2000, 0x3007n); g.put64(0x3000, 0x4007n);
      g.put64(0x3008, 0x20_0087n); g.put64(0x4028, 0x9007n);
      g.sregs(LONG_MODE.cr0, 0x1000n, LONG_MODE.cr4, LONG_MODE.efer);
    });

    it('lists 24 table references and the data translation, then the A/D updates top-down', () => {
      const x = g.kvm.core.exports;
      const t = g.kvm.translate(g.vcpu, 0x5123n, { access: 'write', cpl: 0 });
      expect(t).toMatchObject({ ok: true, gpa: 0x9123n, pageSize: 4096, fault: null, access: 'write', cpl: 0, referencesDropped: 0 });
      const reads = t.references.filter((r) => r.op === 'read');
      // 4 x (4 EPT + 1 guest) for the tables, 4 EPT for the data page.
      expect(reads.map((r) => r.table[0]).join('')).toBe('eeeeg'.repeat(4) + 'eeee');
      expect(reads.filter((r) => r.table === 'guest').map((r) => [r.level, r.address])).toEqual([[4, 0x1000n], [3, 0x2000n], [2, 0x3000n], [1, 0x4028n]]);
      expect(reads.filter((r) => r.table === 'ept').every((r) => r.level >= 1 && r.level <= 4)).toBe(true);
      // The data page's frame is the one behind the VMM's mapping of GPA 0x9000.
      expect(x.mm_lookup_pfn(g.mem + 0x9000n)).toBe(Number(t.hpa! >> 12n));
      expect(t.hpa! & 0xfffn).toBe(0x123n);
      const guestAd = t.adChanges.filter((a) => a.table === 'guest');
      expect(guestAd.map((a) => [a.level, a.address, a.value, a.newValue])).toEqual([
        [4, 0x1000n, 0x2007n, 0x2027n], [3, 0x2000n, 0x3007n, 0x3027n], [2, 0x3000n, 0x4007n, 0x4027n], [1, 0x4028n, 0x9007n, 0x9067n],
      ]);
      expect(g.get64(0x4028)).toBe(0x9067n);
      // EPT A/D is on: the EPT entries the walk used got their A bits (and D on the data page).
      expect(t.adChanges.some((a) => a.table === 'ept')).toBe(true);
      expect(x.tlb_count(g.record)).toBe(0);
      // A second walk finds the bits set and updates nothing.
      expect(g.kvm.translate(g.vcpu, 0x5123n, { access: 'write', cpl: 0 }).adChanges).toEqual([]);
    });

    it('reports a 2 MiB guest page, a #PF with its error code and CR2, and #GP(0) for a non-canonical address', () => {
      expect(g.kvm.translate(g.vcpu, 0x21_2345n, { access: 'read', cpl: 3 })).toMatchObject({ ok: true, gpa: 0x21_2345n, pageSize: 2 << 20 });
      expect(g.kvm.translate(g.vcpu, 0x7000n, { access: 'write', cpl: 3 })).toMatchObject({
        ok: false, gpa: null, hpa: null, pageSize: null, fault: { type: 'page-fault', vector: 14, errorCode: 6, cr2: 0x7000n, level: 1 },
      });
      const gp = g.kvm.translate(g.vcpu, 0x8000_0000_0000n);
      expect(gp).toMatchObject({ ok: false, fault: { type: 'general-protection', vector: 13, errorCode: 0 }, references: [] });
    });

    it('reports an EPT violation where EPT lacks a table page, and one on the data access with the guest translation done', () => {
      const x = g.kvm.core.exports;
      const root = g.root;
      x.ept_zap(root, 0x9000n, 0x1000n);
      const data = g.kvm.translate(g.vcpu, 0x5008n, { access: 'read', cpl: 0 });
      expect(data).toMatchObject({ ok: false, gpa: 0x9008n, hpa: null, pageSize: 4096, fault: { type: 'ept-violation', gpa: 0x9008n, level: 0 } });
      // Qualification: a read (bit 0), a linear address (bit 7) translated to the final access (bit 8).
      if (data.fault?.type !== 'ept-violation') throw new Error('no violation');
      expect(data.fault.qualification & 0x187n).toBe(0x181n);
      x.ept_zap(root, 0x3000n, 0x1000n);
      const table = g.kvm.translate(g.vcpu, 0x5008n, { access: 'read', cpl: 0 });
      expect(table).toMatchObject({ ok: false, gpa: null, pageSize: null, fault: { type: 'ept-violation', gpa: 0x3000n, level: 2 } });
      if (table.fault?.type !== 'ept-violation') throw new Error('no violation');
      expect(table.fault.qualification & 0x181n).toBe(0x81n);
      expect(table.references.at(-1)).toMatchObject({ table: 'ept', op: 'read', value: 0n });
    });

    it('counts its walk into the vCPU\'s stats, and the VM\'s', () => {
      const before = g.kvm.stats(g.vcpu).guest_walk;
      const host = g.kvm.stats(g.kvm.fd).guest_walk;
      g.kvm.translate(g.vcpu, 0x5123n);
      expect(g.kvm.stats(g.vcpu).guest_walk).toBe(before + 1);
      expect(g.kvm.stats(g.vm).guest_walk).toBe(before + 1);
      expect(g.kvm.stats(g.kvm.fd).guest_walk).toBe(host + 1);
    });
  });

  it('walks the VM\'s own EPT as faults and pre-faults fill it: a violation at the first level EPT lacks, then none', async () => {
    const kvm = await Kvm.open({ ramMiB: 16 });
    const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    const mem = kvm.mmap(0, 0x20_0000, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: 0x20_0000, userspace_addr: mem });
    const put = (gpa: number, v: bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v, true);
      kvm.write(mem + BigInt(gpa), b);
    };
    put(0x1000, 0x2003n); put(0x2000, 0x3003n); put(0x3000, 0x4003n); put(0x4000 + 8 * 0x100, 0x10_0003n);
    const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    kvm.ioctl(vcpu, K.KVM_SET_SREGS, { cr0: LONG_MODE.cr0, cr3: 0x1000, cr4: LONG_MODE.cr4, efer: LONG_MODE.efer, cs: { l: 1 } });
    const la = 0x10_0abcn;
    // Nothing mapped: reaching the PML4 entry (GPA 0x1000) exits, with EPT A/D making the table read a write.
    expect(kvm.translate(vcpu, la).fault).toEqual({ type: 'ept-violation', gpa: 0x1000n, qualification: 0x83n, level: 4 });
    // The tables mapped, the data page not: the guest translation completes, the data access exits.
    kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, { gpa: 0x1000, size: 0x4000 });
    const data = kvm.translate(vcpu, la, { access: 'write' });
    expect(data).toMatchObject({ ok: false, gpa: 0x10_0abcn, hpa: null, pageSize: 4096, fault: { type: 'ept-violation', gpa: 0x10_0abcn, level: 0 } });
    if (data.fault?.type !== 'ept-violation') throw new Error('no violation');
    // A write (bit 1) to a linear address (bit 7) at the final translation (bit 8), nothing mapped (bits 5:3 clear).
    expect(data.fault.qualification & 0x1bfn).toBe(0x182n);
    kvm.ioctl(vcpu, K.KVM_PRE_FAULT_MEMORY, { gpa: 0x10_0000, size: 0x1000 });
    expect(kvm.translate(vcpu, la, { access: 'write' })).toMatchObject({ ok: true, gpa: 0x10_0abcn, fault: null });
  });

  it('names the argument it refuses, and needs a vCPU fd', async () => {
    const g = await eptGuest(0x10_0000, { ramMiB: 16 });
    const { kvm } = g;
    const code = (f: () => unknown) => {
      try { f(); } catch (e) { return e instanceof KvmError ? `${e.code}: ${e.message}` : String(e); }
      return 'no error';
    };
    expect(code(() => kvm.translate(g.vcpu, -1))).toMatch(/^EINVAL: .*gva/);
    expect(code(() => kvm.translate(g.vcpu, 1.5))).toMatch(/^EINVAL: .*gva/);
    expect(code(() => kvm.translate(g.vcpu, 1n << 64n))).toMatch(/^EINVAL: .*gva/);
    expect(code(() => kvm.translate(g.vcpu, 0, { access: 'exec' }))).toMatch(/^EINVAL: .*options\.access/);
    expect(code(() => kvm.translate(g.vcpu, 0, { cpl: 4 }))).toMatch(/^EINVAL: .*options\.cpl/);
    expect(code(() => kvm.translate(g.vcpu, 0, { cpl: -1 }))).toMatch(/^EINVAL: .*options\.cpl/);
    expect(code(() => kvm.translate(g.vcpu, 0, { ac: 2 }))).toMatch(/^EINVAL: .*options\.ac/);
    expect(code(() => kvm.translate(g.vcpu, 0, { pkru: 0 }))).toMatch(/^EINVAL: .*options\.pkru/);
    expect(code(() => kvm.translate(g.vcpu, 0, 'read'))).toMatch(/^EINVAL: .*options must be an object/);
    expect(code(() => kvm.translate(g.vm, 0))).toMatch(/^EINVAL: .*not a vCPU fd/);
    expect(code(() => kvm.translate(99, 0))).toMatch(/^EBADF: .*fd 99 is not open/);
    // Another vCPU walks over the same EPT, the VM's (here with paging off).
    const other = kvm.ioctl(g.vm, K.KVM_CREATE_VCPU, 1);
    const flat = kvm.translate(other as number, 0x1234);
    expect(flat).toMatchObject({ ok: true, gpa: 0x1234n });
    expect(flat.references.filter((r) => r.op === 'read').map((r) => r.table)).toEqual(['ept', 'ept', 'ept', 'ept']);
    kvm.close(g.vcpu);
    expect(code(() => kvm.translate(g.vcpu, 0))).toMatch(/^EBADF/);
  });
});
