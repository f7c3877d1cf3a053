// A builder of guest programs in gmemu's guest ISA (docs/guest-isa.md):
// one method per instruction, labels resolved when the bytes are made. The
// op, condition and system-register numbers come from the core's exports
// (assembly/isa.ts), so nothing here retypes them.

import type { CoreExports } from '../core/wasm.js';

export const REGISTERS = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
export type RegName = (typeof REGISTERS)[number];

/** The system registers of `mov`, by their assembler names. */
export const SYSTEM_REGISTERS = {
  cr0: 'Cr0', cr2: 'Cr2', cr3: 'Cr3', cr4: 'Cr4', efer: 'Efer', lstar: 'Lstar',
  vec_ud: 'VecUd', vec_gp: 'VecGp', vec_pf: 'VecPf', fault_err: 'FaultErr', fault_rip: 'FaultRip', fault_vec: 'FaultVec', cpl: 'Cpl',
} as const;
export type SysRegName = keyof typeof SYSTEM_REGISTERS;

/** Branch conditions; `leu`/`gtu`/`le`/`gt` swap the operands of `geu`/`ltu`/`ge`/`lt`. */
export const CONDITIONS = ['eq', 'ne', 'ltu', 'geu', 'lt', 'ge', 'leu', 'gtu', 'le', 'gt'] as const;
export type CondName = (typeof CONDITIONS)[number];

export type Width = 1 | 2 | 4 | 8;

/** A label's address, resolved when the program is laid out at its base. */
export interface LabelRef {
  label: string;
  /** Added to the address. */
  plus?: bigint;
}

/**
 * An operand: an immediate, a register, a register plus a displacement, or a
 * label's absolute address (plus a register, optionally).
 */
export type Operand = bigint | number | RegName | LabelRef | { reg: RegName; disp?: bigint | number | LabelRef };

type IsaCodes = Pick<CoreExports, 'Op' | 'Cond' | 'SysReg' | 'INSN_BYTES' | 'REG_ZERO'>;

interface Insn {
  op: number;
  a: number;
  b: number;
  c: number;
  /** A number, or a label to resolve: absolute (`abs`) or relative to the next instruction. */
  imm: bigint | { ref: LabelRef; relative: boolean };
  /** Where the instruction came from, for errors. */
  line?: number;
}

export class ProgramError extends Error {
  constructor(message: string) {
    super(`gmemu guest program: ${message}`);
    this.name = 'ProgramError';
  }
}

export function regNumber(r: string): number {
  const i = (REGISTERS as readonly string[]).indexOf(r);
  if (i < 0) throw new ProgramError(`'${r}' is not a register (rax..r15)`);
  return i;
}

const isLabelRef = (o: unknown): o is LabelRef => typeof o === 'object' && o !== null && 'label' in o;

export class Program {
  private readonly insns: Insn[] = [];
  private readonly labels = new Map<string, number>();
  /** Source line of the instructions added next (the assembler sets it). */
  line: number | undefined;

  private readonly zero: number;
  /** Bytes per instruction. */
  readonly insnBytes: number;

  constructor(private readonly isa: IsaCodes) {
    this.zero = isa.REG_ZERO.value;
    this.insnBytes = isa.INSN_BYTES.value;
  }

  /** Instructions so far. */
  get length(): number {
    return this.insns.length;
  }

  /** Names the address of the next instruction. */
  label(name: string): this {
    if (this.labels.has(name)) throw new ProgramError(`label '${name}' is defined twice`);
    this.labels.set(name, this.insns.length);
    return this;
  }

  private emit(op: number, a: number, b: number, c: number, imm: Insn['imm']): this {
    this.insns.push({ op, a, b, c, imm, line: this.line });
    return this;
  }

  /** The b field and the immediate of an operand. */
  private operand(o: Operand): { b: number; imm: Insn['imm'] } {
    const zero = this.zero;
    if (typeof o === 'bigint' || typeof o === 'number') return { b: zero, imm: BigInt.asUintN(64, BigInt(o)) };
    if (typeof o === 'string') return { b: regNumber(o), imm: 0n };
    if (isLabelRef(o)) return { b: zero, imm: { ref: o, relative: false } };
    const d = o.disp ?? 0n;
    return { b: regNumber(o.reg), imm: isLabelRef(d) ? { ref: d, relative: false } : BigInt.asUintN(64, BigInt(d)) };
  }

  private alu(name: keyof CoreExports['Op'], dst: RegName, src: Operand): this {
    const { b, imm } = this.operand(src);
    return this.emit(this.isa.Op[name], regNumber(dst), b, 0, imm);
  }

  mov(dst: RegName, src: Operand): this { return this.alu('Mov', dst, src); }
  add(dst: RegName, src: Operand): this { return this.alu('Add', dst, src); }
  sub(dst: RegName, src: Operand): this { return this.alu('Sub', dst, src); }
  and(dst: RegName, src: Operand): this { return this.alu('And', dst, src); }
  or(dst: RegName, src: Operand): this { return this.alu('Or', dst, src); }
  xor(dst: RegName, src: Operand): this { return this.alu('Xor', dst, src); }
  shl(dst: RegName, src: Operand): this { return this.alu('Shl', dst, src); }
  shr(dst: RegName, src: Operand): this { return this.alu('Shr', dst, src); }
  sar(dst: RegName, src: Operand): this { return this.alu('Sar', dst, src); }
  mul(dst: RegName, src: Operand): this { return this.alu('Mul', dst, src); }
  divu(dst: RegName, src: Operand): this { return this.alu('Divu', dst, src); }
  remu(dst: RegName, src: Operand): this { return this.alu('Remu', dst, src); }

  private checkWidth(width: number): void {
    if (width !== 1 && width !== 2 && width !== 4 && width !== 8) throw new ProgramError(`width ${width} is not 1, 2, 4 or 8`);
  }

  /** dst = zero-extended `width` bytes at the address `addr`. */
  ld(width: Width, dst: RegName, addr: Operand): this {
    this.checkWidth(width);
    const { b, imm } = this.operand(addr);
    return this.emit(this.isa.Op.Ld, regNumber(dst), b, width, imm);
  }

  /** The low `width` bytes of src to the address `addr`. */
  st(width: Width, addr: Operand, src: RegName): this {
    this.checkWidth(width);
    const { b, imm } = this.operand(addr);
    return this.emit(this.isa.Op.St, regNumber(src), b, width, imm);
  }

  /** REP MOVSB: rcx bytes from [rsi] to [rdi]. */
  copy(): this { return this.emit(this.isa.Op.Copy, 0, this.zero, 0, 0n); }
  /** REP STOSB: rcx copies of al to [rdi]. */
  fill(): this { return this.emit(this.isa.Op.Fill, 0, this.zero, 0, 0n); }

  /** Jumps to `target` when `x cond y` (registers). */
  j(cond: CondName, x: RegName, y: RegName, target: string): this {
    const C = this.isa.Cond;
    const direct: Record<string, number> = { eq: C.Eq, ne: C.Ne, ltu: C.Ltu, geu: C.Geu, lt: C.Lt, ge: C.Ge };
    const swapped: Record<string, number> = { leu: C.Geu, gtu: C.Ltu, le: C.Ge, gt: C.Lt };
    if (cond in direct) return this.emit(this.isa.Op.Jcc, regNumber(x), regNumber(y), direct[cond], { ref: { label: target }, relative: true });
    if (cond in swapped) return this.emit(this.isa.Op.Jcc, regNumber(y), regNumber(x), swapped[cond], { ref: { label: target }, relative: true });
    throw new ProgramError(`'${cond}' is not a condition (${CONDITIONS.join(', ')})`);
  }

  jmp(target: string): this {
    return this.emit(this.isa.Op.Jcc, 0, this.zero, this.isa.Cond.Always, { ref: { label: target }, relative: true });
  }

  /** reg -= 1, and jumps to `target` while it is not 0. */
  loop(reg: RegName, target: string): this {
    return this.emit(this.isa.Op.Loop, regNumber(reg), this.zero, 0, { ref: { label: target }, relative: true });
  }

  /** Jumps to the address `to`. */
  jmpTo(to: Operand): this {
    const { b, imm } = this.operand(to);
    return this.emit(this.isa.Op.JmpInd, 0, b, 0, imm);
  }

  /** state = xorshift64(state); dst = state mod `modulo` (0: the whole value). */
  rand(dst: RegName, state: RegName, modulo: bigint | number = 0n): this {
    return this.emit(this.isa.Op.Rand, regNumber(dst), regNumber(state), 0, BigInt.asUintN(64, BigInt(modulo)));
  }

  invlpg(addr: Operand): this {
    const { b, imm } = this.operand(addr);
    return this.emit(this.isa.Op.Invlpg, 0, b, 0, imm);
  }

  /** INVPCID with the type in `type`, the descriptor's PCID in `pcid` and address in `la`. */
  invpcid(type: RegName, pcid: RegName, la: RegName): this {
    return this.emit(this.isa.Op.Invpcid, regNumber(type), regNumber(pcid), regNumber(la), 0n);
  }

  private sysreg(name: string): number {
    if (!Object.prototype.hasOwnProperty.call(SYSTEM_REGISTERS, name)) {
      throw new ProgramError(`'${name}' is not a system register (${Object.keys(SYSTEM_REGISTERS).join(', ')})`);
    }
    return this.isa.SysReg[SYSTEM_REGISTERS[name as SysRegName]];
  }

  /** MOV sys, src (CR3, CR4, CR2, LSTAR, the vectors, fault_rip). */
  movToSys(sys: SysRegName, src: RegName): this {
    return this.emit(this.isa.Op.MovToSys, regNumber(src), this.zero, this.sysreg(sys), 0n);
  }

  /** MOV dst, sys. */
  movFromSys(dst: RegName, sys: SysRegName): this {
    return this.emit(this.isa.Op.MovFromSys, regNumber(dst), this.zero, this.sysreg(sys), 0n);
  }

  private bare(name: keyof CoreExports['Op']): this {
    return this.emit(this.isa.Op[name], 0, this.zero, 0, 0n);
  }

  wrpkru(): this { return this.bare('Wrpkru'); }
  rdpkru(): this { return this.bare('Rdpkru'); }
  stac(): this { return this.bare('Stac'); }
  clac(): this { return this.bare('Clac'); }
  vmcall(): this { return this.bare('Vmcall'); }
  hlt(): this { return this.bare('Hlt'); }
  syscall(): this { return this.bare('Syscall'); }
  sysret(): this { return this.bare('Sysret'); }
  iret(): this { return this.bare('Iret'); }
  nop(): this { return this.bare('Nop'); }

  /** Port input of `width` (1, 2, 4) bytes into dst. */
  in(width: 1 | 2 | 4, dst: RegName, port: Operand): this {
    if (width !== 1 && width !== 2 && width !== 4) throw new ProgramError(`port width ${width} is not 1, 2 or 4`);
    const { b, imm } = this.operand(port);
    return this.emit(this.isa.Op.In, regNumber(dst), b, width, imm);
  }

  /** Port output of the low `width` bytes of src. */
  out(width: 1 | 2 | 4, port: Operand, src: RegName): this {
    if (width !== 1 && width !== 2 && width !== 4) throw new ProgramError(`port width ${width} is not 1, 2 or 4`);
    const { b, imm } = this.operand(port);
    return this.emit(this.isa.Op.Out, regNumber(src), b, width, imm);
  }

  /** The address of `label` when the program starts at `base`. */
  address(label: string, base: bigint): bigint {
    const i = this.labels.get(label);
    if (i === undefined) throw new ProgramError(`label '${label}' is not defined`);
    return base + BigInt(i * this.insnBytes);
  }

  /** Size of the program in bytes. */
  get byteLength(): number {
    return this.insns.length * this.insnBytes;
  }

  /** The encoded program, laid out at guest-virtual address `base` (a multiple of INSN_BYTES). */
  bytes(base = 0n): Uint8Array {
    const n = this.insnBytes;
    if (base % BigInt(n) !== 0n) throw new ProgramError(`base 0x${base.toString(16)} is not a multiple of ${n}`);
    const out = new Uint8Array(this.insns.length * n);
    const view = new DataView(out.buffer);
    this.insns.forEach((insn, i) => {
      let imm: bigint;
      if (typeof insn.imm === 'bigint') {
        imm = insn.imm;
      } else {
        const { ref, relative } = insn.imm;
        let target: bigint;
        try {
          target = this.address(ref.label, base) + (ref.plus ?? 0n);
        } catch (err) {
          throw insn.line !== undefined && err instanceof ProgramError ? new ProgramError(`line ${insn.line}: ${err.message.replace(/^gmemu guest program: /, '')}`) : err;
        }
        imm = relative ? target - (base + BigInt((i + 1) * n)) : target;
      }
      const at = i * n;
      out[at] = insn.op;
      out[at + 1] = insn.a;
      out[at + 2] = insn.b;
      out[at + 3] = insn.c;
      view.setBigUint64(at + 8, BigInt.asUintN(64, imm), true);
    });
    return out;
  }
}
