import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import { INVALID_GPA } from '../../src/kvm/translate.js';
import * as K from '../../src/uapi.js';

const CORPUS = new URL('../../../shared/conformance/paging-corpus.jsonl', import.meta.url);
const GUEST_RAM = 64 << 20;
const RW = K.PROT_READ | K.PROT_WRITE;

interface TranslateItem { la: string; valid: number; pa: string; quirk: boolean; sdm: { valid: number; pa?: string } }
interface CorpusCase {
  id: number; vendor: 'intel' | 'amd'; maxphyaddr: number; gbpages: number;
  cr0: string; cr3: string; cr4: string; efer: string;
  fills: [string, string, string][]; qwords: [string, string][]; translate: TranslateItem[];
}

type Entry = { function: number; eax: number; ebx: number; ecx: number; edx: number };

/** The supported CPUID with the case's vendor, MAXPHYADDR and 1 GiB-page bit. */
function cpuidFor(kvm: Kvm, c: CorpusCase): { nent: number; entries: Entry[] } {
  const arg = { nent: 64 } as { nent: number; entries: Entry[] };
  kvm.ioctl(kvm.fd, K.KVM_GET_SUPPORTED_CPUID, arg);
  for (const e of arg.entries) {
    if (e.function === 0 && c.vendor === 'amd') Object.assign(e, { ebx: 0x68747541, edx: 0x69746e65, ecx: 0x444d4163 });
    if (e.function === 0x80000008) e.eax = (e.eax & ~0xff) | c.maxphyaddr;
    if (e.function === 0x80000001) e.edx = c.gbpages ? e.edx | (1 << 26) : e.edx & ~(1 << 26);
  }
  return arg;
}

async function translateCase(kvm: Kvm, c: CorpusCase): Promise<string[]> {
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
  const mem = kvm.mmap(0, GUEST_RAM, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
  kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: GUEST_RAM, userspace_addr: mem });
  for (const [gpa, len, byte] of c.fills) kvm.write(mem + BigInt(gpa), new Uint8Array(Number(len)).fill(Number(byte)));
  for (const [gpa, value] of c.qwords) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(value), true);
    kvm.write(mem + BigInt(gpa), b);
  }
  const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
  kvm.ioctl(vcpu, K.KVM_SET_CPUID2, cpuidFor(kvm, c));
  const lma = (BigInt(c.efer) & K.EFER_LMA) !== 0n;
  kvm.ioctl(vcpu, K.KVM_SET_SREGS, { cr0: BigInt(c.cr0), cr3: BigInt(c.cr3), cr4: BigInt(c.cr4), efer: BigInt(c.efer), cs: { l: lma ? 1 : 0 } });
  const wrong: string[] = [];
  for (const t of c.translate) {
    const want = t.quirk ? t.sdm : t;
    const tr = { linear_address: BigInt(t.la) } as Record<string, unknown>;
    kvm.ioctl(vcpu, K.KVM_TRANSLATE, tr);
    const pa = BigInt(tr.physical_address as number | bigint);
    const ok = tr.valid === want.valid && (want.valid === 0 ? pa === INVALID_GPA : pa === BigInt(want.pa!)) && tr.writeable === 1 && tr.usermode === 0;
    if (!ok) wrong.push(`case ${c.id} la ${t.la}: valid ${String(tr.valid)} pa 0x${pa.toString(16)}, want ${JSON.stringify(want)}`);
  }
  kvm.close(vcpu);
  kvm.close(vm);
  kvm.munmap(mem, GUEST_RAM);
  return wrong;
}

describe('KVM_TRANSLATE', () => {
  it('with paging on, answers every translate item of the paging corpus (the SDM answer for quirk items)', async () => {
    const kvm = await Kvm.open({ ramMiB: 128, host: 'shadow' });
    const cases = readFileSync(CORPUS, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CorpusCase);
    const wrong: string[] = [];
    let items = 0;
    for (const c of cases) {
      wrong.push(...(await translateCase(kvm, c)));
      items += c.translate.length;
    }
    expect(items).toBeGreaterThan(4000);
    expect(wrong).toEqual([]);
  }, 120_000);

  it('sets A bits as a read walk does, and not through a read-only slot; a table without a memslot is not valid', async () => {
    const kvm = await Kvm.open({ ramMiB: 16, host: 'shadow' });
    const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    const mem = kvm.mmap(0, 0x10000, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: 0x10000, userspace_addr: mem });
    const put = (gpa: number, v: bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v, true);
      kvm.write(mem + BigInt(gpa), b);
    };
    const get = (gpa: number) => new DataView(kvm.read(mem + BigInt(gpa), 8).buffer).getBigUint64(0, true);
    // PML4[0] -> 0x2000, PDPT[0] -> 0x3000, PD[0] -> 0x4000, PT[5] -> page 0x9000.
    put(0x1000, 0x2003n); put(0x2000, 0x3003n); put(0x3000, 0x4003n); put(0x4028, 0x9003n);
    const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    kvm.ioctl(vcpu, K.KVM_SET_SREGS, {
      cr0: K.X86_CR0_PE | K.X86_CR0_PG, cr3: 0x1000n, cr4: K.X86_CR4_PAE, efer: K.EFER_LME | K.EFER_LMA, cs: { l: 1 },
    });
    const tr = (la: bigint) => kvm.ioctl(vcpu, K.KVM_TRANSLATE, { linear_address: la }) as { physical_address: number | bigint; valid: number };
    expect(tr(0x5123n)).toMatchObject({ physical_address: 0x9123, valid: 1 });
    expect([get(0x1000), get(0x2000), get(0x3000), get(0x4028)]).toEqual([0x2023n, 0x3023n, 0x4023n, 0x9023n]);
    // Bits 63:48 are not looked at: KVM's walker indexes the tables with bits 47:0.
    expect(tr(0xdead_0000_0000_5123n)).toMatchObject({ physical_address: 0x9123, valid: 1 });
    expect(tr(0x6000n)).toMatchObject({ physical_address: INVALID_GPA, valid: 0 });
    // The data page need not be backed (it is not read); a table must be.
    put(0x4030, 0x20_0003n);
    expect(tr(0x6000n)).toMatchObject({ physical_address: 0x20_0000, valid: 1 });
    put(0x3008, 0x20_0003n);
    expect(tr(0x20_0000n)).toMatchObject({ physical_address: INVALID_GPA, valid: 0 });
    put(0x4038, 0x9003n);
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: 0 });
    kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: K.KVM_MEM_READONLY, guest_phys_addr: 0, memory_size: 0x10000, userspace_addr: mem });
    expect(tr(0x7000n)).toMatchObject({ physical_address: 0x9000, valid: 1 });
    expect(get(0x4038)).toBe(0x9003n);
  });

  it('with paging off the linear address is the physical one', async () => {
    const kvm = await Kvm.open({ ramMiB: 16, host: 'shadow' });
    const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
    expect(kvm.ioctl(vcpu, K.KVM_TRANSLATE, { linear_address: 0x1_2345_6789n })).toMatchObject({ physical_address: 0x123456789, valid: 1, writeable: 1, usermode: 0 });
  });
});
