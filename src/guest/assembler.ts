// A small text assembler for the guest ISA (docs/guest-isa.md "Assembler"):
// one instruction per line, `label:` definitions, `;` or `#` comments,
// Intel operand order (destination first). It builds a Program, so the text
// and the builder produce the same bytes.

import type { CoreExports } from '../core/wasm.js';
import { CONDITIONS, Program, ProgramError, REGISTERS, SYSTEM_REGISTERS } from './program.js';
import type { CondName, LabelRef, Operand, RegName, SysRegName, Width } from './program.js';

type IsaCodes = ConstructorParameters<typeof Program>[0] & Pick<CoreExports, 'Op'>;

const isReg = (s: string): s is RegName => (REGISTERS as readonly string[]).includes(s);
const isSys = (s: string): s is SysRegName => Object.prototype.hasOwnProperty.call(SYSTEM_REGISTERS, s);
const LABEL = /^[A-Za-z_.][A-Za-z0-9_.]*$/;

function number(s: string): bigint | undefined {
  const t = s.replace(/_/g, '');
  if (!/^-?(0x[0-9a-fA-F]+|0b[01]+|\d+)$/.test(t)) return undefined;
  return t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t);
}

/** An operand: `reg`, `imm`, `label`, `reg + imm`, `reg - imm`, `reg + label`, optionally in brackets. */
function operand(text: string, line: number): Operand {
  const s = text.trim().replace(/^\[(.*)\]$/, '$1').trim();
  const terms = s.replace(/\s+/g, '').replace(/-/g, '+-').split('+').filter((t) => t !== '');
  let reg: RegName | undefined;
  let disp = 0n;
  let label: string | undefined;
  for (const t of terms) {
    const n = number(t);
    if (n !== undefined) disp += n;
    else if (isReg(t) && reg === undefined) reg = t;
    else if (LABEL.test(t) && !isReg(t) && label === undefined) label = t;
    else throw new ProgramError(`line ${line}: cannot read the operand '${text.trim()}'`);
  }
  if (terms.length === 0) throw new ProgramError(`line ${line}: an operand is missing`);
  if (label !== undefined) {
    const ref: LabelRef = { label, plus: disp };
    return reg === undefined ? ref : { reg, disp: ref };
  }
  if (reg === undefined) return disp;
  return disp === 0n ? reg : { reg, disp };
}

function register(text: string, line: number): RegName {
  const s = text.trim();
  if (!isReg(s)) throw new ProgramError(`line ${line}: '${s}' is not a register (rax..r15)`);
  return s;
}

function splitArgs(rest: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of rest) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

const ALU = ['mov', 'add', 'sub', 'and', 'or', 'xor', 'shl', 'shr', 'sar', 'mul', 'divu', 'remu'] as const;
const BARE = ['wrpkru', 'rdpkru', 'stac', 'clac', 'vmcall', 'hlt', 'syscall', 'sysret', 'iret', 'nop'] as const;

/** Assembles `text` into a Program (lay it out with bytes(base)). */
export function assemble(text: string, isa: IsaCodes): Program {
  const p = new Program(isa);
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    p.line = line;
    let s = raw.replace(/[;#].*$/, '').trim();
    for (let m = /^([A-Za-z_.][A-Za-z0-9_.]*):/.exec(s); m; m = /^([A-Za-z_.][A-Za-z0-9_.]*):/.exec(s)) {
      p.label(m[1]);
      s = s.slice(m[0].length).trim();
    }
    if (s === '') return;
    const sp = s.search(/\s/);
    const mnemonic = (sp < 0 ? s : s.slice(0, sp)).toLowerCase();
    const args = splitArgs(sp < 0 ? '' : s.slice(sp + 1));
    const want = (n: number) => {
      if (args.length !== n) throw new ProgramError(`line ${line}: ${mnemonic} takes ${n} operand${n === 1 ? '' : 's'}, got ${args.length}`);
    };
    const width = (suffix: string, allowed: readonly number[]): Width => {
      const w = Number(suffix);
      if (!allowed.includes(w)) throw new ProgramError(`line ${line}: ${mnemonic}: width ${suffix} is not one of ${allowed.join(', ')}`);
      return w as Width;
    };
    if (mnemonic === 'mov' && args.length === 2 && isSys(args[0])) return void p.movToSys(args[0], register(args[1], line));
    if (mnemonic === 'mov' && args.length === 2 && isSys(args[1])) return void p.movFromSys(register(args[0], line), args[1]);
    if ((ALU as readonly string[]).includes(mnemonic)) {
      want(2);
      return void (p[mnemonic as (typeof ALU)[number]] as (d: RegName, s: Operand) => Program)(register(args[0], line), operand(args[1], line));
    }
    if ((BARE as readonly string[]).includes(mnemonic)) {
      want(0);
      return void p[mnemonic as (typeof BARE)[number]]();
    }
    let m: RegExpExecArray | null;
    if ((m = /^ld(\d)$/.exec(mnemonic))) {
      want(2);
      return void p.ld(width(m[1], [1, 2, 4, 8]), register(args[0], line), operand(args[1], line));
    }
    if ((m = /^st(\d)$/.exec(mnemonic))) {
      want(2);
      return void p.st(width(m[1], [1, 2, 4, 8]), operand(args[0], line), register(args[1], line));
    }
    if ((m = /^in(\d)$/.exec(mnemonic))) {
      want(2);
      return void p.in(width(m[1], [1, 2, 4]) as 1 | 2 | 4, register(args[0], line), operand(args[1], line));
    }
    if ((m = /^out(\d)$/.exec(mnemonic))) {
      want(2);
      return void p.out(width(m[1], [1, 2, 4]) as 1 | 2 | 4, operand(args[0], line), register(args[1], line));
    }
    if ((m = /^j([a-z]+)$/.exec(mnemonic)) && (CONDITIONS as readonly string[]).includes(m[1])) {
      want(3);
      return void p.j(m[1] as CondName, register(args[0], line), register(args[1], line), args[2]);
    }
    switch (mnemonic) {
      case 'jmp':
        want(1);
        if (LABEL.test(args[0]) && !isReg(args[0])) return void p.jmp(args[0]);
        return void p.jmpTo(operand(args[0], line));
      case 'loop':
        want(2);
        return void p.loop(register(args[0], line), args[1]);
      case 'rand':
        if (args.length !== 2) want(3);
        {
          const modulo = args.length === 3 ? number(args[2]) : 0n;
          if (modulo === undefined) throw new ProgramError(`line ${line}: rand's modulus '${args[2]}' is not a number`);
          return void p.rand(register(args[0], line), register(args[1], line), modulo);
        }
      case 'invlpg':
        want(1);
        return void p.invlpg(operand(args[0], line));
      case 'invpcid':
        want(3);
        return void p.invpcid(register(args[0], line), register(args[1], line), register(args[2], line));
      case 'movsb':
        want(0);
        return void p.copy();
      case 'stosb':
        want(0);
        return void p.fill();
      case 'rep':
        if (args.length === 1 && args[0] === 'movsb') return void p.copy();
        if (args.length === 1 && args[0] === 'stosb') return void p.fill();
        throw new ProgramError(`line ${line}: rep takes movsb or stosb`);
    }
    throw new ProgramError(`line ${line}: unknown instruction '${mnemonic}'`);
  });
  p.line = undefined;
  return p;
}
