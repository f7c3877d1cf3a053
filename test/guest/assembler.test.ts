// The text assembler makes the builder's bytes: every instruction form,
// labels (relative branches, absolute addresses), and errors that name the line.

import { beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/wasm.js';
import type { CoreExports } from '../../src/core/wasm.js';
import { assemble } from '../../src/guest/assembler.js';
import { Program } from '../../src/guest/program.js';

let x: CoreExports;
beforeAll(async () => {
  x = (await createCore({ ramFrames: 64, maxVcpus: 1, hostCpus: 1 })).exports;
});

describe('assembler', () => {
  it('assembles every form as the builder does', () => {
    const text = `
      ; a comment
      start:  mov rax, 0x10          # another
              mov rbx, rax
              add rcx, [rdx + 8]
              sub rsi, rdi - 4
              and r8, -1
              or r9, 0b101
              xor r10, r10
              shl r11, 3
              shr r12, rcx
              sar r13, 1
              mul r14, 1_000
              divu r15, 7
              remu rax, rbx
              ld1 rax, [rbx]
              ld8 rcx, [0x7000]
              st4 [rdi + 16], rax
              st8 [data], rbx
              rep movsb
              stosb
      loop_top:
              jeq rax, rbx, start
              jgtu rax, rbx, loop_top
              jle rcx, rdx, start
              jmp start
              jmp rax
              jmp [rbx + 32]
              loop rcx, loop_top
              rand rax, r9, 4096
              rand rbx, r9
              invlpg [rax]
              invpcid rax, rbx, rcx
              mov cr3, rax
              mov rbx, cr2
              mov vec_pf, rax
              mov rax, fault_err
              mov rax, start
              wrpkru
              rdpkru
              stac
              clac
              vmcall
              in1 rax, 0x60
              out4 0x3f8, rbx
              hlt
              syscall
              sysret
              iret
              nop
      data:   nop
    `;
    const b = new Program(x)
      .label('start').mov('rax', 0x10).mov('rbx', 'rax').add('rcx', { reg: 'rdx', disp: 8 }).sub('rsi', { reg: 'rdi', disp: -4 })
      .and('r8', -1).or('r9', 5).xor('r10', 'r10').shl('r11', 3).shr('r12', 'rcx').sar('r13', 1).mul('r14', 1000).divu('r15', 7)
      .remu('rax', 'rbx').ld(1, 'rax', 'rbx').ld(8, 'rcx', 0x7000).st(4, { reg: 'rdi', disp: 16 }, 'rax').st(8, { label: 'data', plus: 0n }, 'rbx')
      .copy().fill()
      .label('loop_top').j('eq', 'rax', 'rbx', 'start').j('gtu', 'rax', 'rbx', 'loop_top').j('le', 'rcx', 'rdx', 'start').jmp('start')
      .jmpTo('rax').jmpTo({ reg: 'rbx', disp: 32 }).loop('rcx', 'loop_top').rand('rax', 'r9', 4096).rand('rbx', 'r9')
      .invlpg('rax').invpcid('rax', 'rbx', 'rcx').movToSys('cr3', 'rax').movFromSys('rbx', 'cr2').movToSys('vec_pf', 'rax')
      .movFromSys('rax', 'fault_err').mov('rax', { label: 'start', plus: 0n })
      .wrpkru().rdpkru().stac().clac().vmcall().in(1, 'rax', 0x60).out(4, 0x3f8, 'rbx').hlt().syscall().sysret().iret().nop()
      .label('data').nop();
    const a = assemble(text, x);
    expect(a.length).toBe(b.length);
    expect(Buffer.from(a.bytes(0x1000n)).toString('hex')).toBe(Buffer.from(b.bytes(0x1000n)).toString('hex'));
  });

  it('encodes relative branch targets and absolute label addresses', () => {
    const p = assemble('a: nop\n jmp a\n mov rax, a + 16', x);
    const bytes = p.bytes(0x2000n);
    const v = new DataView(bytes.buffer);
    expect(v.getBigInt64(16 + 8, true)).toBe(-32n);
    expect(v.getBigUint64(32 + 8, true)).toBe(0x2010n);
    expect(bytes[0]).toBe(x.Op.Nop);
    expect(bytes[16 + 3]).toBe(x.Cond.Always);
  });

  it('names the line of an error', () => {
    expect(() => assemble('nop\n bogus rax', x)).toThrow(/line 2: unknown instruction 'bogus'/);
    expect(() => assemble('mov rax', x)).toThrow(/line 1: mov takes 2 operands/);
    expect(() => assemble('ld3 rax, [rbx]', x)).toThrow(/line 1: ld3: width 3/);
    expect(() => assemble('mov rzz, 1', x)).toThrow(/'rzz' is not a register/);
    expect(() => assemble('jmp nowhere', x).bytes()).toThrow(/line 1: label 'nowhere' is not defined/);
    expect(() => assemble('a: nop\na: nop', x)).toThrow(/label 'a' is defined twice/);
    expect(() => new Program(x).nop().bytes(8n)).toThrow(/not a multiple of 16/);
  });
});
