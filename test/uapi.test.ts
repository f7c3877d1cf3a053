import { describe, expect, it } from 'vitest';
import * as K from '../src/uapi.js';

describe('uapi constants', () => {
  it('builds KVM request numbers as Linux does (values as in linux/kvm.h on x86-64)', () => {
    expect(K.KVM_GET_API_VERSION).toBe(0xae00);
    expect(K.KVM_CREATE_VM).toBe(0xae01);
    expect(K.KVM_CHECK_EXTENSION).toBe(0xae03);
    expect(K.KVM_GET_VCPU_MMAP_SIZE).toBe(0xae04);
    expect(K.KVM_GET_SUPPORTED_CPUID).toBe(0xc008ae05);
    expect(K.KVM_CREATE_VCPU).toBe(0xae41);
    expect(K.KVM_SET_USER_MEMORY_REGION).toBe(0x4020ae46);
    expect(K.KVM_SET_USER_MEMORY_REGION2).toBe(0x40a0ae49);
    expect(K.KVM_RUN).toBe(0xae80);
    expect(K.KVM_GET_REGS).toBe(0x8090ae81);
    expect(K.KVM_SET_REGS).toBe(0x4090ae82);
    expect(K.KVM_GET_SREGS).toBe(0x8138ae83);
    expect(K.KVM_SET_SREGS).toBe(0x4138ae84);
    expect(K.KVM_TRANSLATE).toBe(0xc018ae85);
    expect(K.KVM_SET_CPUID2).toBe(0x4008ae90);
    expect(K.KVM_ENABLE_CAP).toBe(0x4068aea3);
    expect(K.KVM_SET_MEMORY_ATTRIBUTES).toBe(0x4020aed2);
    expect(K.KVM_CREATE_GUEST_MEMFD).toBe(0xc040aed4);
    expect(K.KVM_PRE_FAULT_MEMORY).toBe(0xc040aed5);
  });

  it('keeps the control-register bits at their architectural positions', () => {
    expect(K.X86_CR0_PG | K.X86_CR0_WP | K.X86_CR0_PE).toBe(0x80010001n);
    expect(K.X86_CR4_PAE | K.X86_CR4_PGE | K.X86_CR4_LA57 | K.X86_CR4_PCIDE | K.X86_CR4_SMEP | K.X86_CR4_SMAP | K.X86_CR4_PKE | K.X86_CR4_PKS)
      .toBe(0x17210a0n);
    expect(K.EFER_LME | K.EFER_LMA | K.EFER_NX).toBe(0xd00n);
  });
});
