// The guest interpreter on hand-built tables: arithmetic and branches, loads
// and stores of every width through paging, fetches through translation (NX,
// SMEP, a stale TLB entry until INVLPG), fault delivery with the fault frame,
// triple faults, the privilege switch, restartable bulk copies, the exits
// it returns for KVM, and EPT faults left to KVM with RIP at the instruction.

import { describe, expect, it } from 'vitest';
import { Program } from '../../src/guest/program.js';
import type { RegName } from '../../src/guest/program.js';
import { REGISTERS } from '../../src/guest/program.js';
import { allFeatures, makeFixture } from './mmu-fixture.js';
import type { Exports, Fixture } from './mmu-fixture.js';
import { A, D, GuestTables, P, U, W, XD } from './guest-tables.js';

const CODE = 0x40_0000n;
const HANDLER = 0x40_8000n;
const DATA = 0x60_0000n;
const CODE_PA = 0x20_0000n;
const HANDLER_PA = 0x20_8000n;
const DATA_PA = 0x30_0000n;

class Machine {
  readonly x: Exports;
  readonly view: DataView;
  readonly rec: number;

  constructor(readonly f: Fixture, readonly t: GuestTables) {
    this.x = f.x;
    this.view = new DataView(f.core.memory.buffer);
    this.rec = f.x.vcpu_ptr(0);
  }

  program(): Program {
    return new Program(this.x);
  }

  /** Writes `p` at guest-physical `pa`, laid out for its virtual address `va`. */
  load(p: Program, va: bigint, pa: bigint): void {
    const bytes = p.bytes(va);
    const base = this.x.ram_base() + Number(pa);
    new Uint8Array(this.f.core.memory.buffer).set(bytes, base);
  }

  reg(r: RegName): bigint {
    return this.view.getBigUint64(this.rec + this.x.Vcpu.Gpr + 8 * REGISTERS.indexOf(r), true);
  }

  setReg(r: RegName, v: bigint): void {
    this.view.setBigUint64(this.rec + this.x.Vcpu.Gpr + 8 * REGISTERS.indexOf(r), v, true);
  }

  field(name: keyof Exports['Vcpu']): bigint {
    return this.view.getBigUint64(this.rec + this.x.Vcpu[name], true);
  }

  field32(name: keyof Exports['Vcpu']): number {
    return this.view.getUint32(this.rec + this.x.Vcpu[name], true);
  }

  set(name: keyof Exports['Vcpu'], v: bigint): void {
    this.view.setBigUint64(this.rec + this.x.Vcpu[name], v, true);
  }

  run(budget = 10_000n): number {
    return this.x.cpu_exec(0, budget);
  }
}

/** 4-level paging, long mode, SMEP/SMAP/PKE available; code, a handler page and two data pages mapped. */
async function machine(): Promise<Machine> {
  const f = await makeFixture(4096);
  const t = new GuestTables(f, 0x10_0000n);
  f.x.vcpu_set_features(0, allFeatures(f.x, 46));
  f.x.vcpu_set_state(0, 0x8001_0001n, t.root, 0x20n, 0xd00n);
  t.map(CODE, CODE_PA, P | W | A | D);
  t.map(HANDLER, HANDLER_PA, P | W | A | D);
  t.map(DATA, DATA_PA, P | W | A | D);
  t.map(DATA + 0x1000n, DATA_PA + 0x5000n, P | W | A | D);
  const m = new Machine(f, t);
  m.set('Rip', CODE);
  return m;
}

describe('cpu: arithmetic, branches, memory', () => {
  it('runs a loop of arithmetic and stops at HLT with RIP past it', async () => {
    const m = await machine();
    const p = m.program()
      .mov('rcx', 10).mov('rax', 0).mov('rbx', 3)
      .label('top').add('rax', 'rbx').add('rax', { reg: 'rcx', disp: 100 }).loop('rcx', 'top')
      .mov('rdx', 'rax').shl('rdx', 4).sub('rdx', 1).xor('rdx', 0xff).mul('rdx', 3).divu('rdx', 7).remu('rax', 1000)
      .hlt();
    m.load(p, CODE, CODE_PA);
    expect(m.run()).toBe(m.x.CpuExit.Hlt);
    const sum = 10n * 3n + (10n * 11n) / 2n + 1000n;
    expect(m.reg('rax')).toBe(sum % 1000n);
    expect(m.reg('rdx')).toBe(((((sum << 4n) - 1n) ^ 0xffn) * 3n) / 7n);
    expect(m.field('Rip')).toBe(CODE + 16n * 14n);
    expect(m.x.cpu_executed()).toBe(3n + 30n + 8n);
  });

  it('branches on signed and unsigned comparisons', async () => {
    const m = await machine();
    const p = m.program()
      .mov('rax', -1).mov('rbx', 1).mov('r8', 0)
      .j('lt', 'rax', 'rbx', 'signed').or('r8', 1)
      .label('signed').j('gtu', 'rax', 'rbx', 'unsigned').or('r8', 2)
      .label('unsigned').j('eq', 'rax', 'rbx', 'never').or('r8', 4)
      .label('never').j('le', 'rbx', 'rax', 'skip').or('r8', 8)
      .label('skip').hlt();
    m.load(p, CODE, CODE_PA);
    m.run();
    expect(m.reg('r8')).toBe(4n | 8n);
  });

  it('loads zero-extend and stores write exactly their width, across a page boundary too', async () => {
    const m = await machine();
    m.f.write64(DATA_PA + 0x10n, 0x8877_6655_4433_2211n);
    const p = m.program()
      .ld(1, 'rax', DATA + 0x10n).ld(2, 'rbx', DATA + 0x10n).ld(4, 'rcx', DATA + 0x10n).ld(8, 'rdx', { reg: 'rdx', disp: DATA + 0x10n })
      .mov('rsi', -1n).st(2, DATA + 0xffen, 'rsi').st(4, DATA + 0x20n, 'rsi').st(8, DATA + 0xffcn, 'rdx')
      .ld(4, 'rdi', DATA + 0xffen)
      .hlt();
    m.load(p, CODE, CODE_PA);
    m.setReg('rdx', 0n);
    m.run();
    expect([m.reg('rax'), m.reg('rbx'), m.reg('rcx'), m.reg('rdx')]).toEqual([0x11n, 0x2211n, 0x4433_2211n, 0x8877_6655_4433_2211n]);
    expect(m.f.read64(DATA_PA + 0x20n)).toBe(0xffff_ffffn);
    expect(m.f.read64(DATA_PA + 0xff8n) >> 32n).toBe(0x4433_2211n);
    expect(m.f.read64(DATA_PA + 0x5000n) & 0xffff_ffffn).toBe(0x8877_6655n);
    expect(m.reg('rdi')).toBe(0x6655_4433n);
  });

  it('xorshift64 is the seeded PRNG, with a modulus', async () => {
    const m = await machine();
    const p = m.program().mov('r9', 88172645463325252n).rand('rax', 'r9').rand('rbx', 'r9', 4096).hlt();
    m.load(p, CODE, CODE_PA);
    m.run();
    const step = (x: bigint) => {
      x = BigInt.asUintN(64, x ^ (x << 13n));
      x ^= x >> 7n;
      return BigInt.asUintN(64, x ^ (x << 17n));
    };
    const s1 = step(88172645463325252n);
    expect(m.reg('rax')).toBe(s1);
    expect(m.reg('r9')).toBe(step(s1));
    expect(m.reg('rbx')).toBe(step(s1) % 4096n);
  });

  it('stops at the budget with RIP at the next instruction', async () => {
    const m = await machine();
    const p = m.program().label('spin').add('rax', 1).jmp('spin');
    m.load(p, CODE, CODE_PA);
    expect(m.run(1001n)).toBe(m.x.CpuExit.Budget);
    expect(m.reg('rax')).toBe(501n);
    expect(m.field('Rip')).toBe(CODE + 16n);
    expect(m.field('InsnCount')).toBe(1001n);
  });
});

describe('cpu: faults and their delivery', () => {
  function withHandler(m: Machine): Program {
    // The handler records vector, error code, CR2 and the faulting RIP, then skips the instruction.
    const h = m.program()
      .movFromSys('r12', 'fault_vec').movFromSys('r13', 'fault_err').movFromSys('r14', 'cr2').movFromSys('r15', 'fault_rip')
      .mov('r11', 'r15').add('r11', 16).movToSys('fault_rip', 'r11').add('r10', 1).iret();
    m.load(h, HANDLER, HANDLER_PA);
    return h;
  }

  it('delivers #PF with error code and CR2 to the handler, and IRET returns past the instruction', async () => {
    const m = await machine();
    withHandler(m);
    const p = m.program()
      .mov('rax', HANDLER).movToSys('vec_pf', 'rax').movToSys('vec_gp', 'rax').movToSys('vec_ud', 'rax')
      .label('bad').st(8, 0x70_0000n, 'rax').mov('rbx', 7).hlt();
    m.load(p, CODE, CODE_PA);
    expect(m.run()).toBe(m.x.CpuExit.Hlt);
    expect([m.reg('r12'), m.reg('r13'), m.reg('r14'), m.reg('r15')]).toEqual([14n, 0x2n, 0x70_0000n, p.address('bad', CODE)]);
    expect(m.reg('rbx')).toBe(7n);
    expect(m.field32('FaultActive')).toBe(0);
    expect(m.f.stat('GuestExceptionDelivered')).toBe(1n);
  });

  it('fetches through translation: an NX code page is a #PF with the fetch bit', async () => {
    const m = await machine();
    withHandler(m);
    m.t.map(0x41_0000n, 0x21_0000n, P | W | A | D | XD);
    const p = m.program().mov('rax', HANDLER).movToSys('vec_pf', 'rax').mov('rbx', 0x41_0000n).jmpTo('rbx');
    m.load(p, CODE, CODE_PA);
    m.load(m.program().hlt(), 0x41_0000n, 0x21_0000n);
    // The handler returns to 0x41_0010, which faults again: the second fault has
    // the frame free again, so it is delivered too; stop with a budget.
    m.run(30n);
    expect(m.reg('r12')).toBe(14n);
    expect(m.reg('r13')).toBe(0x11n);
    expect(m.reg('r14') & ~0xfffn).toBe(0x41_0000n);
  });

  it('SMEP: supervisor fetch from a user page is a #PF', async () => {
    const m = await machine();
    withHandler(m);
    m.x.mov_cr4(0, 0x20n | (1n << 20n));
    m.t.map(0x42_0000n, 0x22_0000n, P | W | U | A | D);
    m.load(m.program().hlt(), 0x42_0000n, 0x22_0000n);
    const p = m.program().mov('rax', HANDLER).movToSys('vec_pf', 'rax').mov('rbx', 0x42_0000n).jmpTo('rbx');
    m.load(p, CODE, CODE_PA);
    m.run(20n);
    expect(m.reg('r13')).toBe(0x11n);
  });

  it('a fault with no handler is a triple fault, and so is a fault inside the handler', async () => {
    const m = await machine();
    m.load(m.program().ld(8, 'rax', 0x70_0000n), CODE, CODE_PA);
    expect(m.run()).toBe(m.x.CpuExit.Shutdown);
    expect(m.field('Rip')).toBe(CODE);
    const m2 = await machine();
    m2.load(m2.program().ld(8, 'rax', 0x70_0000n).iret(), HANDLER, HANDLER_PA);
    m2.load(m2.program().mov('rax', HANDLER).movToSys('vec_pf', 'rax').ld(8, 'rax', 0x70_0000n), CODE, CODE_PA);
    expect(m2.run()).toBe(m2.x.CpuExit.Shutdown);
    expect(m2.f.stat('GuestTripleFault')).toBe(1n);
  });

  it('zeroed memory and misaligned RIP: #UD and #GP', async () => {
    const m = await machine();
    withHandler(m);
    const p = m.program().mov('rax', HANDLER).movToSys('vec_ud', 'rax').movToSys('vec_gp', 'rax')
      .mov('rbx', CODE + 0x800n).jmpTo('rbx');
    m.load(p, CODE, CODE_PA);
    m.run(12n);
    expect(m.reg('r12')).toBe(6n);
    expect(m.reg('r15')).toBe(CODE + 0x800n);
    const m2 = await machine();
    withHandler(m2);
    m2.load(m2.program().mov('rax', HANDLER).movToSys('vec_gp', 'rax').mov('rbx', CODE + 0x808n).jmpTo('rbx'), CODE, CODE_PA);
    m2.run(8n);
    expect(m2.reg('r12')).toBe(13n);
  });

  it('uses a stale code translation until INVLPG', async () => {
    const m = await machine();
    const other = 0x23_0000n;
    m.t.map(0x44_0000n, 0x22_0000n, P | W | A | D);
    m.load(m.program().mov('rax', 1).hlt(), 0x44_0000n, 0x22_0000n);
    m.load(m.program().mov('rax', 2).hlt(), 0x44_0000n, other);
    m.load(m.program().mov('rbx', 0x44_0000n).jmpTo('rbx'), CODE, CODE_PA);
    m.run();
    expect(m.reg('rax')).toBe(1n);
    // Point the PTE elsewhere: the TLB still holds the old page.
    m.t.map(0x44_0000n, other, P | W | A | D);
    m.set('Rip', CODE);
    m.run();
    expect(m.reg('rax')).toBe(1n);
    m.load(m.program().mov('rbx', 0x44_0000n).invlpg('rbx').jmpTo('rbx'), CODE, CODE_PA);
    m.set('Rip', CODE);
    m.run();
    expect(m.reg('rax')).toBe(2n);
  });
});

describe('cpu: privilege, system instructions', () => {
  it('SYSRET to CPL 3 and SYSCALL back; user code cannot reach supervisor pages or HLT', async () => {
    const m = await machine();
    const USER = 0x50_0000n;
    m.t.map(USER, 0x25_0000n, P | W | U | A | D);
    m.t.map(0x51_0000n, 0x26_0000n, P | W | U | A | D);
    const h = m.program().movFromSys('r13', 'fault_err').movFromSys('r15', 'fault_rip').add('r15', 16).movToSys('fault_rip', 'r15').iret();
    m.load(h, HANDLER, HANDLER_PA);
    const user = m.program().mov('r8', 5).st(8, 0x51_0000n, 'r8').ld(8, 'r9', DATA).hlt().syscall();
    m.load(user, USER, 0x25_0000n);
    const kernel = m.program()
      .mov('rax', HANDLER).movToSys('vec_pf', 'rax').movToSys('vec_gp', 'rax')
      .mov('rax', { label: 'back' }).movToSys('lstar', 'rax')
      .mov('rcx', USER).mov('r11', 2).sysret()
      .label('back').movFromSys('rdx', 'cpl').hlt();
    m.load(kernel, CODE, CODE_PA);
    expect(m.run()).toBe(m.x.CpuExit.Hlt);
    expect(m.f.read64(0x26_0000n)).toBe(5n);
    expect(m.reg('r13')).toBe(0n); // the last fault: #GP(0) from HLT at CPL 3, after the #PF (err 5)
    expect(m.f.stat('GuestExceptionDelivered')).toBe(2n);
    expect(m.reg('rcx')).toBe(USER + 5n * 16n);
    expect(m.reg('rdx')).toBe(0n);
    expect(m.field32('Cpl')).toBe(0);
  });

  it('STAC/CLAC gate SMAP; WRPKRU/RDPKRU need CR4.PKE and ecx = edx = 0', async () => {
    const m = await machine();
    m.x.mov_cr4(0, 0x20n | (1n << 21n) | (1n << 22n));
    m.t.map(0x52_0000n, 0x27_0000n, P | W | U | A | D);
    m.f.write64(0x27_0000n, 42n);
    const h = m.program().movFromSys('r13', 'fault_vec').movFromSys('r15', 'fault_rip').add('r15', 16).movToSys('fault_rip', 'r15').iret();
    m.load(h, HANDLER, HANDLER_PA);
    const p = m.program().mov('rax', HANDLER).movToSys('vec_pf', 'rax').movToSys('vec_gp', 'rax')
      .ld(8, 'r8', 0x52_0000n)
      .stac().ld(8, 'r9', 0x52_0000n).clac()
      .mov('rax', 0x0cn).mov('rcx', 0).mov('rdx', 0).wrpkru().mov('rax', 0).rdpkru().mov('r10', 'rax')
      .mov('rcx', 1).wrpkru()
      .hlt();
    m.load(p, CODE, CODE_PA);
    m.run();
    expect(m.reg('r8')).toBe(0n);
    expect(m.reg('r9')).toBe(42n);
    expect(m.reg('r10')).toBe(0x0cn);
    expect(m.reg('r13')).toBe(13n);
  });

  it('MOV CR3 flushes: a remapped data page shows after it', async () => {
    const m = await machine();
    m.f.write64(DATA_PA, 1n);
    m.f.write64(0x31_0000n, 2n);
    const p = m.program().ld(8, 'rax', DATA).hlt().movFromSys('rcx', 'cr3').movToSys('cr3', 'rcx').ld(8, 'rbx', DATA).hlt();
    m.load(p, CODE, CODE_PA);
    m.run();
    m.t.map(DATA, 0x31_0000n, P | W | A | D);
    m.run();
    expect([m.reg('rax'), m.reg('rbx')]).toEqual([1n, 2n]);
  });
});

describe('cpu: the load micro-TLB', () => {
  it('keeps a load translation like the TLB: stale until a flush, and never past a change of the rights of the moment', async () => {
    const m = await machine();
    m.x.mov_cr4(0, 0x20n | (1n << 21n) | (1n << 22n)); // SMAP, PKE
    m.t.map(0x52_0000n, 0x27_0000n, P | W | U | A | D);
    m.f.write64(0x27_0000n, 1n);
    m.f.write64(0x28_0000n, 2n);
    const h = m.program().add('r10', 1).movFromSys('r15', 'fault_rip').add('r15', 16).movToSys('fault_rip', 'r15').iret();
    m.load(h, HANDLER, HANDLER_PA);
    const p = m.program().mov('rax', HANDLER).movToSys('vec_pf', 'rax').mov('rcx', 0).mov('rdx', 0)
      .stac().ld(8, 'r8', 0x52_0000n).hlt()        // fills the micro-TLB
      .ld(8, 'r9', 0x52_0000n)                      // stale: the PTE moved, nothing flushed
      .mov('rax', 1).wrpkru().ld(8, 'r12', 0x52_0000n) // key 0 access-disabled: #PF, which drops the TLB entry
      .mov('rax', 0).wrpkru().ld(8, 'r13', 0x52_0000n) // walks again: the new page, kept again
      .clac().ld(8, 'r11', 0x52_0000n)              // SMAP: #PF, not the kept translation
      .hlt();
    m.load(p, CODE, CODE_PA);
    m.run();
    m.t.map(0x52_0000n, 0x28_0000n, P | W | U | A | D);
    m.setReg('r11', 99n);
    m.setReg('r12', 99n);
    m.run();
    expect([m.reg('r8'), m.reg('r9'), m.reg('r12'), m.reg('r13'), m.reg('r11')]).toEqual([1n, 1n, 99n, 2n, 99n]);
    expect(m.reg('r10')).toBe(2n);
  });
});

describe('cpu: bulk copy and fill', () => {
  it('copies and fills page by page and restarts after a fault where it stopped', async () => {
    const m = await machine();
    for (let i = 0n; i < 0x2000n; i += 8n) m.f.write64((i < 0x1000n ? DATA_PA : DATA_PA + 0x5000n - 0x1000n) + i, 0x0101_0101_0101_0101n * ((i >> 3n) & 0xffn));
    // The destination's second page is missing; the handler maps it and returns to the copy.
    const DST = 0x70_0000n;
    m.t.map(DST, 0x32_0000n, P | W | A | D);
    const h = m.program().mov('r15', 1).hlt().iret();
    m.load(h, HANDLER, HANDLER_PA);
    const p = m.program().mov('rax', HANDLER).movToSys('vec_pf', 'rax')
      .mov('rsi', DATA + 0x10n).mov('rdi', DST + 0x20n).mov('rcx', 0x1800n).copy()
      .mov('rdi', DST + 0x1900n).mov('rax', 0xab).mov('rcx', 0x100n).fill().hlt();
    m.load(p, CODE, CODE_PA);
    expect(m.run()).toBe(m.x.CpuExit.Hlt);
    expect(m.reg('r15')).toBe(1n);
    expect(m.reg('rcx')).toBe(0x1800n - (0x1000n - 0x20n));
    expect(m.reg('rdi')).toBe(DST + 0x1000n);
    m.t.map(DST + 0x1000n, 0x33_0000n, P | W | A | D);
    expect(m.run()).toBe(m.x.CpuExit.Hlt);
    expect(m.reg('rcx')).toBe(0n);
    expect(m.reg('rsi')).toBe(DATA + 0x10n + 0x1800n);
    expect(m.f.read64(0x32_0020n)).toBe(m.f.read64(DATA_PA + 0x10n));
    expect(m.f.read64(0x33_0000n)).toBe(m.f.read64(DATA_PA + 0xff0n));
    expect(m.f.read64(0x33_0010n)).toBe(m.f.read64(DATA_PA + 0x5000n));
    expect(m.f.read64(0x33_0900n)).toBe(0xabab_abab_abab_ababn);
    expect(m.f.read64(0x33_09f8n)).toBe(0xabab_abab_abab_ababn);
    expect(m.f.read64(0x33_0a00n)).toBe(0n);
  });
});

describe('cpu: exits for KVM', () => {
  it('OUT and IN fill kvm_run io and leave the completion pending with RIP at the instruction', async () => {
    const m = await machine();
    const p = m.program().mov('rax', 0x1234_5678n).out(2, 0x3f8, 'rax').in(4, 'rbx', { reg: 'rdx', disp: 0x10 }).hlt();
    m.load(p, CODE, CODE_PA);
    m.setReg('rdx', 0x60n);
    expect(m.run()).toBe(m.x.CpuExit.Io);
    const run = m.rec + m.x.Vcpu.Run;
    const K = m.x.KvmRun;
    expect(m.view.getUint8(run + K.IoDirection)).toBe(1);
    expect(m.view.getUint8(run + K.IoSize)).toBe(2);
    expect(m.view.getUint16(run + K.IoPort, true)).toBe(0x3f8);
    expect(m.view.getUint32(run + K.IoCount, true)).toBe(1);
    expect(m.field('PioData')).toBe(0x5678n);
    expect(m.field32('Pending')).toBe(m.x.RunPending.PioOut);
    expect(m.field('Rip')).toBe(CODE + 16n);
  });

  it('VMCALL stops before the instruction; #UD for an op it does not know', async () => {
    const m = await machine();
    m.load(m.program().nop().vmcall(), CODE, CODE_PA);
    expect(m.run()).toBe(m.x.CpuExit.Hypercall);
    expect(m.field('Rip')).toBe(CODE + 16n);
  });

  it('an EPT violation goes to KVM with RIP at the instruction; KVM emulates a load or store as MMIO', async () => {
    const f = await makeFixture(4096);
    const x = f.x;
    const root = x.ept_root_alloc(1);
    // Guest RAM: the first 4 MiB of guest-physical memory at HPA 0x80_0000.
    for (let gpa = 0n; gpa < 0x40_0000n; gpa += 0x1000n) expect(x.ept_map(root, gpa, gpa + 0x80_0000n, 12, 7, 1)).toBe(0);
    x.vcpu_set_ept(0, x.ept_make_eptp(root, false), 46 | x.EptCap.ExecOnly, 1);
    x.vcpu_set_state(0, 0x60000010n, 0n, 0n, 0n);
    const m = new Machine(f, undefined as unknown as GuestTables);
    const p = m.program().mov('rax', 0x99).st(1, 0x50_0001n, 'rax').ld(4, 'rbx', 0x50_0010n).hlt();
    const bytes = p.bytes(0x1000n);
    new Uint8Array(f.core.memory.buffer).set(bytes, x.ram_base() + 0x80_1000);
    m.set('Rip', 0x1000n);
    expect(m.run()).toBe(x.CpuExit.EptFault);
    expect(m.field('Rip')).toBe(0x1010n);
    expect(m.field32('ResStatus')).toBe(x.AccessStatus.EptViolation);
    expect(m.field('ResEptGpa')).toBe(0x50_0001n);
    expect(x.cpu_emulate_mmio(0, 0x50_0001n)).toBe(x.CpuExit.Mmio);
    const run = m.rec + x.Vcpu.Run;
    const K = x.KvmRun;
    expect(m.view.getBigUint64(run + K.MmioPhysAddr, true)).toBe(0x50_0001n);
    expect(m.view.getUint32(run + K.MmioLen, true)).toBe(1);
    expect(m.view.getUint8(run + K.MmioIsWrite)).toBe(1);
    expect(m.view.getUint8(run + K.MmioData)).toBe(0x99);
    expect(m.field32('Pending')).toBe(x.RunPending.MmioWrite);
  });
});
