// The guest ISA's encoding (docs/guest-isa.md is the programmer's manual).
//
// Every instruction is INSN_BYTES long and starts on a multiple of
// INSN_BYTES, so one never straddles two pages and a fetch is one
// translation:
//
//   byte 0    op       (Op)
//   byte 1    a        destination / first register (x86 number: rax 0, rcx 1,
//                      rdx 2, rbx 3, rsp 4, rbp 5, rsi 6, rdi 7, r8..r15 8..15)
//   byte 2    b        source register; REG_ZERO for none
//   byte 3    c        width, condition, system register or vector, by op
//   bytes 4-7          0 (anything else is #UD, so the encoding can grow)
//   bytes 8-15 imm     signed 64-bit immediate
//
// Most ops take one operand value, `reg[b] + imm`: a register (imm 0), an
// immediate (b = REG_ZERO) or a register plus a displacement. Op 0 is
// invalid, so running into zeroed memory raises #UD.

export const INSN_BYTES: u32 = 16;

/** The register slot that reads 0: "no register" in the b field. */
export const REG_ZERO: u32 = 16;

export enum Op {
  // Arithmetic and logic: a = a OP (reg[b] + imm); Mov: a = reg[b] + imm.
  Mov = 0x01,
  Add = 0x02,
  Sub = 0x03,
  And = 0x04,
  Or = 0x05,
  Xor = 0x06,
  /** Shifts take the count mod 64. */
  Shl = 0x07,
  Shr = 0x08,
  Sar = 0x09,
  Mul = 0x0a,
  /** Unsigned divide and remainder; a zero divisor is #UD here (x86 raises #DE, which the ISA has no vector for). */
  Divu = 0x0b,
  Remu = 0x0c,

  // Memory: c = width in bytes (1, 2, 4, 8).
  /** a = zero-extended load from reg[b] + imm. */
  Ld = 0x10,
  /** Store of a's low c bytes to reg[b] + imm. */
  St = 0x11,
  /** REP MOVSB: rcx bytes from [rsi] to [rdi], page by page; rsi, rdi, rcx advance as it goes, so a fault restarts it. */
  Copy = 0x12,
  /** REP STOSB: rcx copies of al to [rdi], page by page, restartable like Copy. */
  Fill = 0x13,

  // Control flow: targets are relative to the next instruction.
  /** if cond_c(reg[a], reg[b]) RIP = next + imm. */
  Jcc = 0x18,
  /** a -= 1; if a != 0 RIP = next + imm. */
  Loop = 0x19,
  /** RIP = reg[b] + imm. */
  JmpInd = 0x1a,
  /** reg[b] = xorshift64(reg[b]); a = reg[b] mod imm (imm 0: the whole value). */
  Rand = 0x1b,

  // Translation control.
  /** INVLPG reg[b] + imm. */
  Invlpg = 0x20,
  /** INVPCID type reg[a], descriptor (PCID reg[b], address reg[c]). */
  Invpcid = 0x21,
  /** MOV sysreg_c, a (CR3, CR4; and the gmemu system registers). */
  MovToSys = 0x22,
  /** MOV a, sysreg_c. */
  MovFromSys = 0x23,
  /** WRPKRU: PKRU = eax; ecx and edx must be 0. */
  Wrpkru = 0x24,
  /** RDPKRU: eax = PKRU, edx = 0; ecx must be 0. */
  Rdpkru = 0x25,
  Stac = 0x26,
  Clac = 0x27,

  // Leaving the guest, and privilege.
  /** VMCALL: Linux's KVM hypercall ABI (rax = nr, rbx, rcx, rdx, rsi = arguments; result in rax). */
  Vmcall = 0x28,
  /** IN: a = port (reg[b] + imm) & 0xffff, c bytes. */
  In = 0x29,
  /** OUT: port (reg[b] + imm) & 0xffff = a's low c bytes. */
  Out = 0x2a,
  Hlt = 0x2b,
  /** SYSCALL: rcx = next RIP, r11 = RFLAGS, CPL 0, RIP = LSTAR. */
  Syscall = 0x2c,
  /** SYSRET (CPL 0 only): CPL 3, RIP = rcx, RFLAGS = r11. */
  Sysret = 0x2d,
  /** IRET (CPL 0 only, inside a handler): back to the fault frame's RIP, RFLAGS and CPL. */
  Iret = 0x2e,
  Nop = 0x2f,
}

/** Jcc conditions (the c field). */
export enum Cond {
  Eq = 0,
  Ne = 1,
  /** Unsigned below / above-or-equal. */
  Ltu = 2,
  Geu = 3,
  /** Signed less / greater-or-equal. */
  Lt = 4,
  Ge = 5,
  Always = 6,
}

/** System registers of MovToSys / MovFromSys (the c field). */
export enum SysReg {
  Cr0 = 0,
  Cr2 = 2,
  Cr3 = 3,
  Cr4 = 4,
  /** Read only. */
  Efer = 8,
  Lstar = 16,
  /** Handler addresses. */
  VecUd = 17,
  VecGp = 18,
  VecPf = 19,
  /** The fault frame: error code (read only), RIP to return to, vector (read only). */
  FaultErr = 20,
  FaultRip = 21,
  FaultVec = 22,
  /** Read only. */
  Cpl = 23,
}

/** Exception vectors the ISA delivers. */
export enum Vector {
  Ud = 6,
  Gp = 13,
  Pf = 14,
}
