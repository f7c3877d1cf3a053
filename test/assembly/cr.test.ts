// The translation-state instructions: each #GP(0) condition of
// spec/x86-paging.md sections 1, 2 and 7, with nothing changed by a faulting
// instruction, and the state loaded by vcpu_set_state.

import { describe, expect, it } from 'vitest';
import { allFeatures, makeFixture } from './mmu-fixture.js';

const CR0 = 0x8001_0001n;
const CR3 = 0x10_0000n;
const PAE = 0x20n;
const LA57 = 1n << 12n;
const PCIDE = 1n << 17n;
const PKE = 1n << 22n;
const EFER = 0xd00n;

async function setup(features?: (x: Awaited<ReturnType<typeof makeFixture>>['x']) => number) {
  const f = await makeFixture(1024);
  const x = f.x;
  x.vcpu_set_features(0, features ? features(x) : allFeatures(x, 46));
  x.vcpu_set_state(0, CR0, CR3, PAE, EFER);
  const reg = (field: number) => new DataView(f.core.memory.buffer).getBigUint64(x.vcpu_ptr(0) + field, true);
  return { f, x, reg, GP: x.AccessStatus.GeneralProtection, OK: x.AccessStatus.Ok };
}

describe('cr: MOV to CR3 and CR4', () => {
  it('MOV CR3: bits 63:M are reserved, bit 63 is the no-flush bit only with PCIDE and is not stored', async () => {
    const { x, reg, GP, OK } = await setup();
    expect(x.mov_cr3(0, CR3 | (1n << 46n))).toBe(GP);
    expect(x.mov_cr3(0, CR3 | (1n << 63n))).toBe(GP);
    expect(reg(x.Vcpu.Cr3)).toBe(CR3);
    expect(x.mov_cr3(0, 0x20_0000n | (1n << 45n))).toBe(OK);
    expect(x.mov_cr3(0, CR3)).toBe(OK);
    expect(x.mov_cr4(0, PAE | PCIDE)).toBe(OK);
    expect(x.mov_cr3(0, CR3 | 7n | (1n << 63n))).toBe(OK);
    expect(reg(x.Vcpu.Cr3)).toBe(CR3 | 7n);
  });

  it('MOV CR4: LA57 locked and PAE required in long mode, PCIDE needs CR3[11:0] = 0, unsupported bits', async () => {
    const { x, reg, GP, OK } = await setup((x) => allFeatures(x, 46) & ~x.CpuFeat.Pku);
    expect(x.mov_cr4(0, PAE | LA57)).toBe(GP);
    expect(x.mov_cr4(0, 0n)).toBe(GP);
    expect(x.mov_cr4(0, PAE | PKE)).toBe(GP); // no PKU in this CPUID
    expect(x.mov_cr4(0, PAE | (1n << 15n))).toBe(GP); // reserved
    expect(x.mov_cr3(0, CR3 | 1n)).toBe(OK);
    expect(x.mov_cr4(0, PAE | PCIDE)).toBe(GP);
    expect(reg(x.Vcpu.Cr4)).toBe(PAE);
    expect(x.mov_cr3(0, CR3)).toBe(OK);
    expect(x.mov_cr4(0, PAE | PCIDE)).toBe(OK);
  });

  it('is privileged: #GP at CPL > 0 for MOV CR, INVLPG, INVPCID and WRMSR, not for WRPKRU', async () => {
    const { x, reg, GP, OK } = await setup();
    x.vcpu_set_cpl(0, 3);
    expect(x.mov_cr3(0, CR3)).toBe(GP);
    expect(x.mov_cr4(0, PAE)).toBe(GP);
    expect(x.invlpg(0, 0n)).toBe(GP);
    expect(x.invpcid(0, 2n, 0n, 0n)).toBe(GP);
    expect(x.wrmsr_pkrs(0, 1n)).toBe(GP);
    expect(x.wrpkru(0, 0xc)).toBe(OK);
    expect(reg(x.Vcpu.Pkru) & 0xffff_ffffn).toBe(0xcn);
    x.vcpu_set_cpl(0, 0);
    expect(x.wrmsr_pkrs(0, 1n << 32n)).toBe(GP);
    expect(x.wrmsr_pkrs(0, 0x30n)).toBe(OK);
    expect(reg(x.Vcpu.Pkru) >> 32n).toBe(0x30n); // IA32_PKRS sits next to PKRU
  });
});
