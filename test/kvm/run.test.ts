// KVM_RUN through the uAPI: guest programs laid out by the VMM, every exit
// with Linux's fields (IO, MMIO read completed by the next run, HLT,
// HYPERCALL and its no-exit results, SHUTDOWN, INTERNAL_ERROR, MEMORY_FAULT
// with EFAULT, INTR from the budget), immediate_exit, registers after a
// run, EPT faults served by the MMU, and the emulated real mode of the
// shadow profile.

import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';
import { assemble } from '../../src/guest/assembler.js';
import { GuestMemory, GuestPageTables, PAGE_2M, PAGE_4K, bootState } from '../../src/guest/layout.js';

const RAM = 0x40_0000n;
const CODE_VA = 0x40_0000n;
const CODE_PA = 0x20_0000n;
const DATA_VA = 0x60_0000n;
const DATA_PA = 0x30_0000n;

interface Guest {
  kvm: Kvm;
  vm: number;
  vcpu: number;
  mem: GuestMemory;
  hva: bigint;
}

async function guest(opts: { host?: 'tdp' | 'shadow'; type?: number } = {}): Promise<Guest> {
  const kvm = await Kvm.open({ ramMiB: 64, host: opts.host ?? 'tdp' });
  const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, opts.type ?? 0) as number;
  const hva = kvm.mmap(0, RAM, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
  kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: 0, memory_size: RAM, userspace_addr: hva });
  const vcpu = kvm.ioctl(vm, K.KVM_CREATE_VCPU, 0) as number;
  return { kvm, vm, vcpu, mem: new GuestMemory(kvm, [{ gpa: 0n, size: RAM, hva }]), hva };
}

/** Long mode: code at CODE_VA, data at DATA_VA (4 KiB pages), the rest of RAM identity-mapped with 2 MiB pages above 4 MiB. */
function boot(g: Guest, source: string): void {
  const t = new GuestPageTables(g.mem, 0x1000n, 0x10_0000n);
  t.mapRange(CODE_VA, CODE_PA, 0x4000n, PAGE_4K, { user: true });
  t.mapRange(DATA_VA, DATA_PA, 0x4000n, PAGE_4K);
  t.map(0x80_0000n, 0x80_0000n, PAGE_2M);
  g.mem.load(assemble(source, g.kvm.core.exports), CODE_VA, CODE_PA);
  const b = bootState(CODE_VA, t);
  g.kvm.ioctl(g.vcpu, K.KVM_SET_SREGS, { ...(g.kvm.ioctl(g.vcpu, K.KVM_GET_SREGS, {}) as object), ...b.sregs });
  g.kvm.ioctl(g.vcpu, K.KVM_SET_REGS, b.regs);
}

/** KVM_GET_REGS, every value as a bigint. */
const regs = (g: Guest): Record<string, bigint> =>
  Object.fromEntries(Object.entries(g.kvm.ioctl(g.vcpu, K.KVM_GET_REGS, {}) as Record<string, number | bigint>).map(([k, v]) => [k, BigInt(v)]));

describe('KVM_RUN', () => {
  it('runs the guest to OUT and HLT; registers and memory show what it did', async () => {
    const g = await guest();
    boot(g, `
        mov  rcx, 100
        mov  rax, 0
top:    add  rax, rcx
        loop rcx, top
        st8  [0x601000], rax
        out4 0x3f8, rax
        hlt
    `);
    expect(g.kvm.ioctl(g.vcpu, K.KVM_RUN)).toBe(0);
    const run = g.kvm.runState(g.vcpu);
    expect(run.exit_reason).toBe(K.KVM_EXIT_IO);
    expect(run.io).toMatchObject({ direction: 1, size: 4, port: 0x3f8, count: 1, data_offset: 4096 });
    expect(Buffer.from(run.io.data).readUInt32LE()).toBe(5050);
    expect(g.mem.read64(DATA_PA + 0x1000n)).toBe(5050n);
    expect(Number(regs(g).rip)).toBe(Number(CODE_VA) + 5 * 16);
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    expect(run.exit_reason).toBe(K.KVM_EXIT_HLT);
    expect(Number(regs(g).rip)).toBe(Number(CODE_VA) + 7 * 16);
    // Counted in the vCPU's own stats block: two exits; 2 + 2 * 100 + 3 instructions; the pages the MMU
    // mapped on EPT violations: five guest table pages (PML4, PDPT, PD, two PTs), code and data.
    expect(g.kvm.stats(g.vcpu)).toMatchObject({ io_exits: 1, halt_exits: 1, guest_insn: 205, mmu_pf_fixed4k: 7 });
  });

  it('takes no argument; runState belongs to vCPU fds', async () => {
    const g = await guest();
    expect(() => g.kvm.ioctl(g.vcpu, K.KVM_RUN, 1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => g.kvm.runState(g.vm)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('an MMIO read exits, and the next KVM_RUN puts mmio.data in the register', async () => {
    const g = await guest();
    boot(g, 'ld4 rbx, [0x90_0010]\n hlt');
    // 0x90_0010 is mapped by the guest (the 2 MiB page at 8 MiB) but has no memslot.
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    const run = g.kvm.runState(g.vcpu);
    expect(run.exit_reason).toBe(K.KVM_EXIT_MMIO);
    expect(run.mmio).toMatchObject({ phys_addr: 0x90_0010, len: 4, is_write: 0 });
    run.mmio.data.set([0x78, 0x56, 0x34, 0x12, 0xff]);
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    expect(run.exit_reason).toBe(K.KVM_EXIT_HLT);
    expect(regs(g).rbx).toBe(0x1234_5678n);
  });

  it('a write to a READONLY slot is an MMIO write and changes nothing', async () => {
    const g = await guest();
    const ro = g.kvm.mmap(0, 0x20_0000n, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    g.kvm.ioctl(g.vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 1, flags: K.KVM_MEM_READONLY, guest_phys_addr: 0x80_0000, memory_size: 0x20_0000, userspace_addr: ro });
    boot(g, 'mov rax, 0x99\n st1 [0x80_0001], rax\n ld1 rbx, [0x80_0001]\n hlt');
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    const run = g.kvm.runState(g.vcpu);
    expect(run.exit_reason).toBe(K.KVM_EXIT_MMIO);
    expect(run.mmio).toMatchObject({ phys_addr: 0x80_0001, len: 1, is_write: 1 });
    expect(run.mmio.data[0]).toBe(0x99);
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    expect(run.exit_reason).toBe(K.KVM_EXIT_HLT);
    expect(regs(g).rbx).toBe(0n);
    expect(g.kvm.read(ro + 1n, 1)[0]).toBe(0);
  });

  it('IN gets the data the VMM writes; immediate_exit completes it without running', async () => {
    const g = await guest();
    boot(g, 'in2 rax, 0x60\n hlt');
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    const run = g.kvm.runState(g.vcpu);
    expect(run.io).toMatchObject({ direction: 0, size: 2, port: 0x60 });
    run.io.data.set([0x34, 0x12]);
    run.immediate_exit = 1;
    expect(() => g.kvm.ioctl(g.vcpu, K.KVM_RUN)).toThrow(expect.objectContaining({ code: 'EINTR' }));
    expect(regs(g).rax).toBe(0x1234n);
    expect(Number(regs(g).rip)).toBe(Number(CODE_VA) + 16);
    run.immediate_exit = 0;
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    expect(run.exit_reason).toBe(K.KVM_EXIT_HLT);
  });

  it('a pending MMIO read is consumed even after KVM_SET_REGS; a port input only if RIP is still at the IN', async () => {
    const g = await guest();
    boot(g, 'ld1 rbx, [0x90_0000]\n hlt\n in1 rcx, 0x60\n hlt\n mov rdx, 1\n hlt');
    const run = g.kvm.runState(g.vcpu);
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    expect(run.exit_reason).toBe(K.KVM_EXIT_MMIO);
    run.mmio.data[0] = 0x5c;
    g.kvm.ioctl(g.vcpu, K.KVM_SET_REGS, { ...regs(g), rip: CODE_VA + 0x40n });
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    // The emulator finished the load (rbx) and went on after it: the HLT at +0x10.
    expect(run.exit_reason).toBe(K.KVM_EXIT_HLT);
    expect(regs(g).rbx).toBe(0x5cn);
    expect(regs(g).rip).toBe(CODE_VA + 0x20n);
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    expect(run.exit_reason).toBe(K.KVM_EXIT_IO);
    run.io.data[0] = 0x77;
    g.kvm.ioctl(g.vcpu, K.KVM_SET_REGS, { ...regs(g), rip: CODE_VA + 0x40n });
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    expect(run.exit_reason).toBe(K.KVM_EXIT_HLT);
    expect([regs(g).rcx, regs(g).rdx]).toEqual([0n, 1n]);
  });

  it('the budget ends a run with EINTR and KVM_EXIT_INTR, and the next run goes on', async () => {
    const g = await guest();
    boot(g, 'top: add rax, 1\n jmp top');
    const run = g.kvm.runState(g.vcpu);
    run.budget = 1000;
    expect(() => g.kvm.ioctl(g.vcpu, K.KVM_RUN)).toThrow(expect.objectContaining({ code: 'EINTR', message: expect.stringMatching(/budget/) }));
    expect(run.exit_reason).toBe(K.KVM_EXIT_INTR);
    expect(regs(g).rax).toBe(500n);
    expect(() => g.kvm.ioctl(g.vcpu, K.KVM_RUN)).toThrow(expect.objectContaining({ code: 'EINTR' }));
    expect(regs(g).rax).toBe(1000n);
  });

  it('KVM_HC_MAP_GPA_RANGE exits when enabled; hypercall.ret goes to rax on re-entry', async () => {
    const g = await guest();
    g.kvm.ioctl(g.vm, K.KVM_ENABLE_CAP, { cap: K.KVM_CAP_EXIT_HYPERCALL, args: [1n << 12n] });
    boot(g, 'mov rax, 12\n mov rbx, 0x10000\n mov rcx, 2\n mov rdx, 16\n vmcall\n mov r8, rax\n hlt');
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    const run = g.kvm.runState(g.vcpu);
    expect(run.exit_reason).toBe(K.KVM_EXIT_HYPERCALL);
    expect(run.hypercall.nr).toBe(12n);
    expect(run.hypercall.args.slice(0, 3)).toEqual([0x10000n, 2n, 16n]);
    expect(run.hypercall.flags).toBe(1n);
    run.hypercall.ret = -5n;
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    expect(run.exit_reason).toBe(K.KVM_EXIT_HLT);
    expect(regs(g).r8).toBe(BigInt.asUintN(64, -5n));
  });

  it('hypercalls without an exit: -KVM_ENOSYS, -KVM_EINVAL, -KVM_EPERM at CPL 3, and 32 bits outside 64-bit mode', async () => {
    const g = await guest();
    boot(g, `
        mov rax, 12
        mov rbx, 0x10000
        mov rcx, 1
        vmcall                  ; not enabled: -1000
        mov r8, rax
        mov rax, 99
        vmcall                  ; unknown: -1000
        mov r9, rax
        mov rax, 1
        vmcall                  ; KVM_HC_VAPIC_POLL_IRQ: 0
        mov r10, rax
        mov rax, user
        mov rcx, rax
        mov r11, 2
        sysret
user:   mov rax, 1
        vmcall                  ; CPL 3: -KVM_EPERM
        mov r12, rax
        out1 0x80, rax          ; #GP at CPL 3 with no handler: triple fault
    `);
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    expect(g.kvm.runState(g.vcpu).exit_reason).toBe(K.KVM_EXIT_SHUTDOWN);
    const r = regs(g);
    expect([r.r8, r.r9, r.r10, r.r12]).toEqual([BigInt.asUintN(64, -1000n), BigInt.asUintN(64, -1000n), 0n, BigInt.asUintN(64, -1n)]);
    expect(BigInt.asIntN(64, g.kvm.runState(g.vcpu).hypercall.ret)).toBe(-1n);
    // Flat real mode: not 64-bit, so the result is cut to 32 bits.
    const h = await guest();
    h.kvm.ioctl(h.vm, K.KVM_ENABLE_CAP, { cap: K.KVM_CAP_EXIT_HYPERCALL, args: [1n << 12n] });
    h.mem.load(assemble('mov rax, 12\n mov rbx, 0x10001\n mov rcx, 1\n vmcall\n hlt', h.kvm.core.exports), 0x8000n, 0x8000n);
    const b = bootState(0x8000n);
    h.kvm.ioctl(h.vcpu, K.KVM_SET_SREGS, { ...(h.kvm.ioctl(h.vcpu, K.KVM_GET_SREGS, {}) as object), ...b.sregs });
    h.kvm.ioctl(h.vcpu, K.KVM_SET_REGS, b.regs);
    h.kvm.ioctl(h.vcpu, K.KVM_RUN);
    expect(h.kvm.runState(h.vcpu).exit_reason).toBe(K.KVM_EXIT_HLT);
    expect(regs(h).rax).toBe(0xffff_ffean);
  });

  it('fetching code from MMIO is an emulation failure', async () => {
    const g = await guest();
    boot(g, 'mov rax, 0x90_0000\n jmp rax');
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    const run = g.kvm.runState(g.vcpu);
    expect(run.exit_reason).toBe(K.KVM_EXIT_INTERNAL_ERROR);
    expect(run.internal.suberror).toBe(1);
  });

  it('SW_PROTECTED: a private gfn with no guest_memfd is EFAULT with KVM_EXIT_MEMORY_FAULT', async () => {
    const g = await guest({ type: K.KVM_X86_SW_PROTECTED_VM });
    g.kvm.ioctl(g.vm, K.KVM_SET_MEMORY_ATTRIBUTES, { address: DATA_PA, size: 0x1000, attributes: K.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    boot(g, 'ld8 rax, [0x600008]\n hlt');
    expect(() => g.kvm.ioctl(g.vcpu, K.KVM_RUN)).toThrow(expect.objectContaining({ code: 'EFAULT', message: expect.stringMatching(/KVM_EXIT_MEMORY_FAULT/) }));
    const run = g.kvm.runState(g.vcpu);
    expect(run.exit_reason).toBe(K.KVM_EXIT_MEMORY_FAULT);
    expect(run.memory_fault).toEqual({ flags: K.KVM_MEMORY_EXIT_FLAG_PRIVATE, gpa: Number(DATA_PA), size: 4096 });
    expect(Number(regs(g).rip)).toBe(Number(CODE_VA));
  });

  it('the shadow profile emulates real mode: guest accesses go through userspace_addr, what it cannot reach is MMIO', async () => {
    const g = await guest({ host: 'shadow' });
    g.kvm.write(g.hva + 0x5000n, Uint8Array.of(0x42));
    g.mem.load(assemble('ld1 rax, [0x5000]\n mov rbx, 0x77\n st1 [0x5001], rbx\n ld1 rcx, [0x50_0000]\n hlt', g.kvm.core.exports), 0x8000n, 0x8000n);
    const b = bootState(0x8000n);
    g.kvm.ioctl(g.vcpu, K.KVM_SET_SREGS, { ...(g.kvm.ioctl(g.vcpu, K.KVM_GET_SREGS, {}) as object), ...b.sregs });
    g.kvm.ioctl(g.vcpu, K.KVM_SET_REGS, b.regs);
    g.kvm.ioctl(g.vcpu, K.KVM_RUN);
    const run = g.kvm.runState(g.vcpu);
    expect(run.exit_reason).toBe(K.KVM_EXIT_MMIO);
    expect(run.mmio).toMatchObject({ phys_addr: 0x50_0000, len: 1, is_write: 0 });
    expect(regs(g).rax).toBe(0x42n);
    expect(g.kvm.read(g.hva + 0x5001n, 1)[0]).toBe(0x77);
  });
});
