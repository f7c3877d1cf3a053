// The guest interpreter: runs the ISA of isa.ts (docs/guest-isa.md) on one
// vCPU until something needs KVM or the VMM (a CpuExit), or a budget of
// instructions runs out.
//
// Every instruction is fetched through translation, like a data access of
// kind Fetch, so NX, SMEP, execute-only EPT and stale TLB entries apply to
// code too. The translation of the current code page is kept in this
// instance's globals, and 8-byte loads keep theirs in a small micro-TLB in
// the vCPU record (Vcpu.MicroTlb), as a processor's first-level TLBs sit in
// front of its second level. Both are copies of what the vCPU's TLB gave,
// made with the rights of the moment, and both are dropped by everything
// that could change the answer: every cpu_exec call (the host may have
// changed the vCPU's state or serviced a flush request between calls), every
// instruction that flushes the TLB or changes CPL, RFLAGS.AC, PKRU or a
// control register, and every fault. The vCPU's TLB is touched only by its
// own thread while it runs (tlb.ts), so a kept translation is always one the
// TLB could still hold; hits count as TLB hits and guest reads.
//
// Registers live in the vCPU record (Vcpu.Gpr); RIP is kept in a local while
// the loop runs and stored back on every way out. A fault is delivered to the
// guest's handler (Vcpu.VecUd/VecGp/VecPf) with a fault frame in the record;
// a fault with no handler, or one raised before the handler's IRET, is a
// triple fault: CpuExit.Shutdown. Nothing here allocates.

import {
  AccessKind, AccessStatus, CpuFeat, CpuFlag, KvmRun, MICRO_TLB_ENTRIES, MICRO_TLB_ENTRY_BYTES, PAGE_SIZE, RunPending, Vcpu,
  hpa_to_ptr, vcpu_ptr,
} from './layout';
import { Cond, INSN_BYTES, Op, REG_ZERO, SysReg, Vector } from './isa';
import { guest_write64, vcpu_access } from './access';
import { emulated_gpa_ptr } from './emulate';
import { vcpu_vm } from './requests';
import { invlpg, invpcid, mov_cr3, mov_cr4, wrpkru } from './cr';
import { Stat, stat_add, stat_inc } from './stats';
import { raise_general_protection } from './paging';
import { X86_CR0_PE, X86_CR0_PG, X86_CR4_PKE, X86_EFLAGS_AC } from './x86';

/** Why cpu_exec returned. */
export enum CpuExit {
  /** The budget ran out; RIP is at the next instruction. */
  Budget = 0,
  /** HLT retired. */
  Hlt = 1,
  /** IN or OUT: the kvm_run io fields are filled, the completion is pending. */
  Io = 2,
  /** An MMIO access: the kvm_run mmio fields are filled, the completion is pending. */
  Mmio = 3,
  /** VMCALL, not yet executed: RIP is at it. */
  Hypercall = 4,
  /** Triple fault. */
  Shutdown = 5,
  /**
   * An EPT violation or misconfiguration (Vcpu.ResStatus, ResEptGpa,
   * ResEptQual): KVM's fault path decides; RIP is still at the instruction,
   * which runs again from its start (Copy/Fill from where they stopped).
   */
  EptFault = 6,
  /** KVM's emulator could not go on (KVM_INTERNAL_ERROR_EMULATION). */
  Internal = 7,
}

/** KVM's PIO data page offset in the vCPU mmap (KVM_PIO_PAGE_OFFSET * PAGE_SIZE). */
export const PIO_DATA_OFFSET: u32 = 4096;
/** kvm_run io.direction. */
const KVM_EXIT_IO_IN: u8 = 0;
const KVM_EXIT_IO_OUT: u8 = 1;

const PAGE_MASK: u64 = <u64>PAGE_SIZE - 1;
/** No cached code page: no page-aligned address equals it. */
const NO_PAGE: u64 = 1;

// The current code page's translation (see the file comment).
let g_code_page: u64 = NO_PAGE;
let g_code_ptr: usize = 0;

// The instruction being executed, for KVM's emulation of an MMIO access.
let g_op: u32 = 0;
let g_a: u32 = 0;
let g_width: u32 = 0;
let g_fetch_fault: bool = false;

/**
 * The VM whose memslots the emulator reads while the host emulates this
 * vCPU's real mode (CpuFlag.EmulateRealMode with CR0.PE = 0), else -1: the
 * accesses go through the MMU.
 */
let g_emu_vm: i32 = -1;

/** Instructions the last cpu_exec executed (faulting ones included). */
let g_executed: u64 = 0;

// The last data translation: host pointers of the first byte and of the
// second page, and how many bytes lie on the first page.
let g_p0: usize = 0;
let g_p1: usize = 0;
let g_n0: u32 = 0;

@inline function code_drop(): void {
  g_code_page = NO_PAGE;
}

const MICRO_TLB_MASK: u64 = <u64>MICRO_TLB_ENTRIES - 1;

/** The micro-TLB entry that would hold linear address `la`. */
@inline function micro_slot(v: usize, la: u64): usize {
  return v + Vcpu.MicroTlb + (<usize>((la >> 12) & MICRO_TLB_MASK) * MICRO_TLB_ENTRY_BYTES);
}

/** Forgets every kept translation of the vCPU at `v`. */
function drop_all(v: usize): void {
  code_drop();
  for (let i: u32 = 0; i < MICRO_TLB_ENTRIES; i++) store<u64>(v + Vcpu.MicroTlb + <usize>i * MICRO_TLB_ENTRY_BYTES, NO_PAGE);
}

@inline function reg_ptr(v: usize, r: u32): usize {
  return v + Vcpu.Gpr + (<usize>r << 3);
}
@inline function reg(v: usize, r: u32): u64 {
  return load<u64>(reg_ptr(v, r));
}
@inline function set_reg(v: usize, r: u32, value: u64): void {
  store<u64>(reg_ptr(v, r), value);
}

@inline function cpl_of(v: usize): u32 {
  return load<u32>(v + Vcpu.Cpl);
}

@inline function width_ok(c: u32): bool {
  return c == 1 || c == 2 || c == 4 || c == 8;
}

@inline function truncate(value: u64, width: u32): u64 {
  return width == 8 ? value : value & ((<u64>1 << (<u64>width << 3)) - 1);
}

/** Little-endian load of `width` bytes split over two host pointers. */
function load_split(p0: usize, n0: u32, p1: usize, width: u32): u64 {
  let value: u64 = 0;
  for (let i: u32 = 0; i < width; i++) {
    const b = i < n0 ? load<u8>(p0 + i) : load<u8>(p1 + (i - n0));
    value |= <u64>b << (<u64>i << 3);
  }
  return value;
}

function store_split(p0: usize, n0: u32, p1: usize, width: u32, value: u64): void {
  for (let i: u32 = 0; i < width; i++) {
    const b = <u8>(value >> (<u64>i << 3));
    if (i < n0) store<u8>(p0 + i, b);
    else store<u8>(p1 + (i - n0), b);
  }
}

/**
 * Translates the `width` bytes at `la` for an access of `kind` as the
 * vCPU's current code; both pages of a split access translate before any
 * byte moves. On Ok, g_p0 / g_n0 / g_p1 locate the bytes.
 */
function data_translate(vcpu: u32, v: usize, la: u64, width: u32, kind: AccessKind): i32 {
  if (g_emu_vm >= 0) return emulated_translate(<u32>g_emu_vm, la, width, kind == AccessKind.Write);
  const cpl = cpl_of(v);
  const ac = <u32>((load<u64>(v + Vcpu.Rflags) & X86_EFLAGS_AC) != 0);
  let r = vcpu_access(vcpu, la, kind, cpl, ac, false);
  if (r != AccessStatus.Ok) return r;
  g_p0 = hpa_to_ptr(load<u64>(v + Vcpu.ResHpa));
  const room = <u32>(PAGE_SIZE - <u32>(la & PAGE_MASK));
  g_n0 = width < room ? width : room;
  if (g_n0 == width) return r;
  const p0 = g_p0;
  r = vcpu_access(vcpu, (la | PAGE_MASK) + 1, kind, cpl, ac, false);
  if (r != AccessStatus.Ok) return r;
  g_p1 = hpa_to_ptr(load<u64>(v + Vcpu.ResHpa));
  g_p0 = p0;
  return r;
}

/**
 * The emulator's view of the `width` bytes at `la` (real mode: flat, GVA =
 * GPA). Ok with g_p0 / g_n0 / g_p1 set, or NoMemory when any part is MMIO.
 */
function emulated_translate(vm: u32, la: u64, width: u32, write: bool): i32 {
  const p0 = emulated_gpa_ptr(vm, la, write);
  if (p0 == 0) return AccessStatus.NoMemory;
  const room = <u32>(PAGE_SIZE - <u32>(la & PAGE_MASK));
  g_n0 = width < room ? width : room;
  if (g_n0 < width) {
    g_p1 = emulated_gpa_ptr(vm, (la | PAGE_MASK) + 1, write);
    if (g_p1 == 0) return AccessStatus.NoMemory;
  }
  g_p0 = p0;
  return AccessStatus.Ok;
}

/**
 * Delivers exception `vec` raised by the instruction at `rip`: saves the
 * fault frame, enters the handler at CPL 0. Returns the new RIP, or NO_PAGE
 * for a triple fault (no handler, or a fault before the last one's IRET).
 */
function deliver(v: usize, rip: u64, vec: u32, err: u64): u64 {
  drop_all(v);
  const handler = load<u64>(v + (vec == Vector.Pf ? Vcpu.VecPf : vec == Vector.Gp ? Vcpu.VecGp : Vcpu.VecUd));
  if (load<u32>(v + Vcpu.FaultActive) != 0 || handler == 0) {
    stat_inc(Stat.GuestTripleFault);
    return NO_PAGE;
  }
  store<u64>(v + Vcpu.FaultRip, rip);
  store<u64>(v + Vcpu.FaultRflags, load<u64>(v + Vcpu.Rflags));
  store<u64>(v + Vcpu.FaultErr, err);
  store<u32>(v + Vcpu.FaultCpl, cpl_of(v));
  store<u32>(v + Vcpu.FaultVec, vec);
  store<u32>(v + Vcpu.FaultActive, 1);
  if (vec == Vector.Pf) store<u64>(v + Vcpu.Cr2, load<u64>(v + Vcpu.ResCr2));
  store<u32>(v + Vcpu.Cpl, 0);
  stat_inc(Stat.GuestExceptionDelivered);
  return handler;
}

/** Where a delivered fault continues: the handler. */
let g_next: u64 = 0;

/** The exit for an access that ended with `status` (not Ok), or -1 once the fault went to the guest (RIP in g_next). */
function access_fault(v: usize, rip: u64, status: i32): i32 {
  if (status == AccessStatus.PageFault) return deliver_or_shutdown(v, rip, Vector.Pf, <u64>load<u32>(v + Vcpu.ResErr));
  if (status == AccessStatus.GeneralProtection) return deliver_or_shutdown(v, rip, Vector.Gp, <u64>load<u32>(v + Vcpu.ResErr));
  if (status == AccessStatus.EptViolation || status == AccessStatus.EptMisconfig) return CpuExit.EptFault;
  return CpuExit.Internal;
}

function deliver_or_shutdown(v: usize, rip: u64, vec: u32, err: u64): i32 {
  const to = deliver(v, rip, vec, err);
  if (to == NO_PAGE) return CpuExit.Shutdown;
  g_next = to;
  return -1;
}

/** Fills kvm_run for an MMIO access of the current instruction at `gpa` and leaves its completion pending. */
function mmio_exit(v: usize, rip: u64, gpa: u64): i32 {
  const run = v + Vcpu.Run;
  if (g_op != Op.Ld && g_op != Op.St) return CpuExit.Internal;
  store<u64>(run + KvmRun.MmioPhysAddr, gpa);
  store<u32>(run + KvmRun.MmioLen, g_width);
  if (g_op == Op.St) {
    store<u64>(run + KvmRun.MmioData, truncate(reg(v, g_a), g_width));
    store<u8>(run + KvmRun.MmioIsWrite, 1);
    store<u32>(v + Vcpu.Pending, RunPending.MmioWrite);
  } else {
    store<u64>(run + KvmRun.MmioData, 0);
    store<u8>(run + KvmRun.MmioIsWrite, 0);
    store<u32>(v + Vcpu.Pending, RunPending.MmioRead);
  }
  store<u32>(v + Vcpu.PendingReg, g_a);
  store<u32>(v + Vcpu.PendingSize, g_width);
  store<u64>(v + Vcpu.PendingRip, rip);
  return CpuExit.Mmio;
}

/**
 * KVM's emulation of the instruction that took an EPT fault KVM's MMU
 * answered with "emulate" (no memslot, or a write to a read-only one): a
 * load or store becomes KVM_EXIT_MMIO at `gpa`; a fetch or a bulk copy
 * cannot be emulated (KVM_INTERNAL_ERROR_EMULATION). Returns the CpuExit.
 */
export function cpu_emulate_mmio(vcpu: u32, gpa: u64): i32 {
  const v = vcpu_ptr(vcpu);
  if (g_fetch_fault) return CpuExit.Internal;
  const exit = mmio_exit(v, load<u64>(v + Vcpu.Rip), gpa);
  if (exit == CpuExit.Mmio) stat_inc(Stat.MmioExits);
  return exit;
}

/** An emulated load or store that reached MMIO: the exit, with the access's address as its GPA (real mode is flat). */
function emulated_mmio(v: usize, rip: u64, gpa: u64): i32 {
  stat_inc(Stat.MmioExits);
  return mmio_exit(v, rip, gpa);
}

/** Instructions the last cpu_exec executed. */
export function cpu_executed(): u64 {
  return g_executed;
}

/** xorshift64 (Marsaglia 2003, shifts 13, 7, 17). */
@inline function xorshift64(x: u64): u64 {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

@inline function cond_true(c: u32, x: u64, y: u64): bool {
  switch (c) {
    case Cond.Eq: return x == y;
    case Cond.Ne: return x != y;
    case Cond.Ltu: return x < y;
    case Cond.Geu: return x >= y;
    case Cond.Lt: return <i64>x < <i64>y;
    case Cond.Ge: return <i64>x >= <i64>y;
    default: return true;
  }
}

/** The sysreg field of a MovToSys/MovFromSys as a record offset, or 0 for one the op cannot reach. */
function sysreg_field(c: u32, write: bool): usize {
  switch (c) {
    case SysReg.Cr0: return write ? 0 : Vcpu.Cr0;
    case SysReg.Cr2: return Vcpu.Cr2;
    case SysReg.Cr3: return Vcpu.Cr3;
    case SysReg.Cr4: return Vcpu.Cr4;
    case SysReg.Efer: return write ? 0 : Vcpu.Efer;
    case SysReg.Lstar: return Vcpu.Lstar;
    case SysReg.VecUd: return Vcpu.VecUd;
    case SysReg.VecGp: return Vcpu.VecGp;
    case SysReg.VecPf: return Vcpu.VecPf;
    case SysReg.FaultErr: return write ? 0 : Vcpu.FaultErr;
    case SysReg.FaultRip: return Vcpu.FaultRip;
    default: return 0;
  }
}

/**
 * Copy (REP MOVSB) or Fill (REP STOSB) of rcx bytes, one piece per page on
 * both sides; rsi/rdi/rcx advance after each piece, so after a fault the
 * instruction restarts where it stopped. Returns AccessStatus.
 */
function bulk(vcpu: u32, v: usize, copy: bool): i32 {
  let n = reg(v, 1);
  while (n != 0) {
    const dst = reg(v, 7);
    let piece: u64 = <u64>PAGE_SIZE - (dst & PAGE_MASK);
    let src: u64 = 0;
    if (copy) {
      src = reg(v, 6);
      const sroom: u64 = <u64>PAGE_SIZE - (src & PAGE_MASK);
      if (sroom < piece) piece = sroom;
    }
    if (n < piece) piece = n;
    let from: usize = 0;
    if (copy) {
      const r = data_translate(vcpu, v, src, 1, AccessKind.Read);
      if (r != AccessStatus.Ok) return r;
      from = g_p0;
    }
    const r = data_translate(vcpu, v, dst, 1, AccessKind.Write);
    if (r != AccessStatus.Ok) return r;
    if (copy) {
      memory.copy(g_p0, from, <usize>piece);
      stat_add(Stat.GuestCopyBytes, piece);
      set_reg(v, 6, src + piece);
    } else {
      memory.fill(g_p0, <u8>reg(v, 0), <usize>piece);
    }
    set_reg(v, 7, dst + piece);
    n -= piece;
    set_reg(v, 1, n);
  }
  return AccessStatus.Ok;
}

/** Translates the fetch of the instruction at `rip` and keeps its page. Returns AccessStatus. */
function fetch_page(vcpu: u32, v: usize, rip: u64): i32 {
  if (g_emu_vm >= 0) {
    const p = emulated_gpa_ptr(<u32>g_emu_vm, rip, false);
    if (p == 0) return AccessStatus.NoMemory;
    g_code_page = rip & ~PAGE_MASK;
    g_code_ptr = p - <usize>(rip & PAGE_MASK);
    return AccessStatus.Ok;
  }
  const r = vcpu_access(vcpu, rip, AccessKind.Fetch, cpl_of(v), 0, false);
  if (r != AccessStatus.Ok) return r;
  g_code_page = rip & ~PAGE_MASK;
  g_code_ptr = hpa_to_ptr(load<u64>(v + Vcpu.ResHpa) & ~PAGE_MASK);
  return r;
}

/**
 * Runs vCPU `vcpu` for at most `budget` (> 0) instructions. Returns a
 * CpuExit; cpu_executed() tells how many instructions ran.
 */
export function cpu_exec(vcpu: u32, budget: u64): i32 {
  const v = vcpu_ptr(vcpu);
  let rip = load<u64>(v + Vcpu.Rip);
  let left = budget;
  let exit: i32 = CpuExit.Budget;
  drop_all(v);
  const paging = (load<u64>(v + Vcpu.Cr0) & X86_CR0_PG) != 0;
  g_emu_vm = -1;
  if ((load<u32>(v + Vcpu.CpuFlags) & CpuFlag.EmulateRealMode) != 0 && (load<u64>(v + Vcpu.Cr0) & X86_CR0_PE) == 0) {
    g_emu_vm = vcpu_vm(vcpu);
    // The emulator reads the memslots of the vCPU's VM: a record with none has nothing to run.
    if (g_emu_vm < 0) {
      g_executed = 0;
      return CpuExit.Internal;
    }
  }
  while (left != 0) {
    left--;
    // Fetch. An instruction starts on a multiple of INSN_BYTES: a jump elsewhere is #GP(0).
    g_fetch_fault = false;
    if ((rip & <u64>(INSN_BYTES - 1)) != 0) {
      raise_general_protection(v);
      exit = deliver_or_shutdown(v, rip, Vector.Gp, 0);
      if (exit >= 0) break;
      exit = CpuExit.Budget;
      rip = g_next;
      continue;
    }
    if ((rip & ~PAGE_MASK) != g_code_page) {
      const r = fetch_page(vcpu, v, rip);
      if (r != AccessStatus.Ok) {
        g_fetch_fault = true;
        exit = access_fault(v, rip, r);
        if (exit >= 0) break;
        exit = CpuExit.Budget;
        rip = g_next;
        continue;
      }
    }
    const p = g_code_ptr + <usize>(rip & PAGE_MASK);
    const w = load<u64>(p);
    const imm = load<u64>(p, 8);
    const op = <u32>w & 0xff;
    const a = <u32>(w >> 8) & 0xff;
    const b = <u32>(w >> 16) & 0xff;
    const c = <u32>(w >> 24) & 0xff;
    let next = rip + INSN_BYTES;
    // A reserved byte, or a register number past the zero slot: #UD.
    if ((w >> 32) != 0 || a >= REG_ZERO || b > REG_ZERO) {
      exit = deliver_or_shutdown(v, rip, Vector.Ud, 0);
      if (exit >= 0) break;
      exit = CpuExit.Budget;
      rip = g_next;
      continue;
    }
    const opnd = reg(v, b) + imm;
    // status: an AccessStatus of the instruction's own access or check; ud: #UD.
    let status: i32 = AccessStatus.Ok;
    let ud = false;
    switch (op) {
      case Op.Mov: set_reg(v, a, opnd); break;
      case Op.Add: set_reg(v, a, reg(v, a) + opnd); break;
      case Op.Sub: set_reg(v, a, reg(v, a) - opnd); break;
      case Op.And: set_reg(v, a, reg(v, a) & opnd); break;
      case Op.Or: set_reg(v, a, reg(v, a) | opnd); break;
      case Op.Xor: set_reg(v, a, reg(v, a) ^ opnd); break;
      case Op.Shl: set_reg(v, a, reg(v, a) << (opnd & 63)); break;
      case Op.Shr: set_reg(v, a, reg(v, a) >> (opnd & 63)); break;
      case Op.Sar: set_reg(v, a, <u64>(<i64>reg(v, a) >> <i64>(opnd & 63))); break;
      case Op.Mul: set_reg(v, a, reg(v, a) * opnd); break;
      case Op.Divu:
      case Op.Remu: {
        if (opnd == 0) { ud = true; break; }
        set_reg(v, a, op == Op.Divu ? reg(v, a) / opnd : reg(v, a) % opnd);
        break;
      }
      case Op.Ld: {
        if (!width_ok(c)) { ud = true; break; }
        g_op = op; g_a = a; g_width = c;
        if (c == 8 && g_emu_vm < 0) {
          const slot = micro_slot(v, opnd);
          const off = opnd & PAGE_MASK;
          if (load<u64>(slot) == (opnd & ~PAGE_MASK) && off <= PAGE_MASK - 7) {
            stat_inc(Stat.GuestRead);
            if (paging) stat_inc(Stat.TlbHit);
            set_reg(v, a, load<u64>(load<usize>(slot, 8) + <usize>off));
            break;
          }
          status = data_translate(vcpu, v, opnd, 8, AccessKind.Read);
          if (status != AccessStatus.Ok) break;
          if (g_n0 == 8) {
            store<u64>(slot, opnd & ~PAGE_MASK);
            store<usize>(slot, g_p0 - <usize>off, 8);
            set_reg(v, a, load<u64>(g_p0));
          } else {
            set_reg(v, a, load_split(g_p0, g_n0, g_p1, 8));
          }
          break;
        }
        status = data_translate(vcpu, v, opnd, c, AccessKind.Read);
        if (status == AccessStatus.Ok) set_reg(v, a, load_split(g_p0, g_n0, g_p1, c));
        else if (status == AccessStatus.NoMemory && g_emu_vm >= 0) exit = emulated_mmio(v, rip, opnd);
        break;
      }
      case Op.St: {
        if (!width_ok(c)) { ud = true; break; }
        g_op = op; g_a = a; g_width = c;
        if (c == 8 && g_emu_vm < 0) {
          guest_write64(vcpu, opnd, reg(v, a));
          status = load<u32>(v + Vcpu.ResStatus);
          break;
        }
        status = data_translate(vcpu, v, opnd, c, AccessKind.Write);
        if (status == AccessStatus.Ok) store_split(g_p0, g_n0, g_p1, c, reg(v, a));
        else if (status == AccessStatus.NoMemory && g_emu_vm >= 0) exit = emulated_mmio(v, rip, opnd);
        break;
      }
      case Op.Copy:
      case Op.Fill:
        g_op = op;
        status = bulk(vcpu, v, op == Op.Copy);
        break;
      case Op.Jcc:
        if (c > <u32>Cond.Always) { ud = true; break; }
        if (cond_true(c, reg(v, a), reg(v, b))) next += imm;
        break;
      case Op.Loop: {
        const n = reg(v, a) - 1;
        set_reg(v, a, n);
        if (n != 0) next += imm;
        break;
      }
      case Op.JmpInd: next = opnd; break;
      case Op.Rand: {
        if (b == REG_ZERO) { ud = true; break; }
        const x = xorshift64(reg(v, b));
        set_reg(v, b, x);
        set_reg(v, a, imm != 0 ? x % imm : x);
        break;
      }
      case Op.Invlpg:
        status = invlpg(vcpu, opnd);
        drop_all(v);
        break;
      case Op.Invpcid:
        if (c > REG_ZERO) { ud = true; break; }
        status = invpcid(vcpu, reg(v, a), reg(v, b), reg(v, c));
        drop_all(v);
        break;
      case Op.MovToSys: {
        const f = sysreg_field(c, true);
        if (f == 0) { ud = true; break; }
        if (c == SysReg.Cr3) status = mov_cr3(vcpu, reg(v, a));
        else if (c == SysReg.Cr4) status = mov_cr4(vcpu, reg(v, a));
        else if (cpl_of(v) != 0) status = raise_general_protection(v);
        else store<u64>(v + f, reg(v, a));
        drop_all(v);
        break;
      }
      case Op.MovFromSys: {
        const f = sysreg_field(c, false);
        if (c == SysReg.FaultVec || c == SysReg.Cpl) {
          if (cpl_of(v) != 0) { status = raise_general_protection(v); break; }
          set_reg(v, a, <u64>load<u32>(v + (c == SysReg.Cpl ? Vcpu.Cpl : Vcpu.FaultVec)));
          break;
        }
        if (f == 0) { ud = true; break; }
        if (cpl_of(v) != 0) { status = raise_general_protection(v); break; }
        set_reg(v, a, load<u64>(v + f));
        break;
      }
      case Op.Wrpkru:
      case Op.Rdpkru: {
        if ((load<u64>(v + Vcpu.Cr4) & X86_CR4_PKE) == 0) { ud = true; break; }
        if (<u32>reg(v, 1) != 0 || (op == Op.Wrpkru && <u32>reg(v, 2) != 0)) { status = raise_general_protection(v); break; }
        if (op == Op.Wrpkru) {
          status = wrpkru(vcpu, <u32>reg(v, 0));
          drop_all(v);
        } else {
          set_reg(v, 0, <u64>load<u32>(v + Vcpu.Pkru));
          set_reg(v, 2, 0);
        }
        break;
      }
      case Op.Stac:
      case Op.Clac: {
        if (cpl_of(v) != 0 || (load<u32>(v + Vcpu.Features) & CpuFeat.Smap) == 0) { ud = true; break; }
        const fl = load<u64>(v + Vcpu.Rflags);
        store<u64>(v + Vcpu.Rflags, op == Op.Stac ? fl | X86_EFLAGS_AC : fl & ~X86_EFLAGS_AC);
        drop_all(v);
        break;
      }
      case Op.Vmcall:
        exit = CpuExit.Hypercall;
        next = rip;
        break;
      case Op.In:
      case Op.Out: {
        if (c != 1 && c != 2 && c != 4) { ud = true; break; }
        // IOPL is 0 and there is no I/O permission bitmap: port I/O is CPL 0 only.
        if (cpl_of(v) != 0) { status = raise_general_protection(v); break; }
        const run = v + Vcpu.Run;
        store<u8>(run + KvmRun.IoDirection, op == Op.In ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT);
        store<u8>(run + KvmRun.IoSize, <u8>c);
        store<u16>(run + KvmRun.IoPort, <u16>opnd);
        store<u32>(run + KvmRun.IoCount, 1);
        store<u64>(run + KvmRun.IoDataOffset, PIO_DATA_OFFSET);
        store<u64>(v + Vcpu.PioData, op == Op.Out ? truncate(reg(v, a), c) : 0);
        store<u32>(v + Vcpu.Pending, op == Op.In ? RunPending.PioIn : RunPending.PioOut);
        store<u32>(v + Vcpu.PendingReg, a);
        store<u32>(v + Vcpu.PendingSize, c);
        store<u64>(v + Vcpu.PendingRip, rip);
        exit = CpuExit.Io;
        next = rip;
        break;
      }
      case Op.Hlt:
        if (cpl_of(v) != 0) { status = raise_general_protection(v); break; }
        exit = CpuExit.Hlt;
        break;
      case Op.Syscall:
        set_reg(v, 1, next);
        set_reg(v, 11, load<u64>(v + Vcpu.Rflags));
        store<u32>(v + Vcpu.Cpl, 0);
        next = load<u64>(v + Vcpu.Lstar);
        drop_all(v);
        break;
      case Op.Sysret:
        if (cpl_of(v) != 0) { status = raise_general_protection(v); break; }
        store<u64>(v + Vcpu.Rflags, reg(v, 11) | 2);
        store<u32>(v + Vcpu.Cpl, 3);
        next = reg(v, 1);
        drop_all(v);
        break;
      case Op.Iret:
        if (cpl_of(v) != 0 || load<u32>(v + Vcpu.FaultActive) == 0) { status = raise_general_protection(v); break; }
        store<u64>(v + Vcpu.Rflags, load<u64>(v + Vcpu.FaultRflags));
        store<u32>(v + Vcpu.Cpl, load<u32>(v + Vcpu.FaultCpl));
        store<u32>(v + Vcpu.FaultActive, 0);
        next = load<u64>(v + Vcpu.FaultRip);
        drop_all(v);
        break;
      case Op.Nop: break;
      default: ud = true;
    }
    if (exit == CpuExit.Mmio) {
      next = rip;
      status = AccessStatus.Ok;
    }
    if (ud) {
      exit = deliver_or_shutdown(v, rip, Vector.Ud, 0);
      if (exit >= 0) break;
      exit = CpuExit.Budget;
      rip = g_next;
      continue;
    }
    if (status != AccessStatus.Ok) {
      exit = access_fault(v, rip, status);
      if (exit >= 0) break;
      exit = CpuExit.Budget;
      rip = g_next;
      continue;
    }
    rip = next;
    if (exit != CpuExit.Budget) break;
  }
  // An instruction that stopped at an EPT fault runs again from its start: it was not executed yet.
  if (exit == CpuExit.EptFault) left++;
  store<u64>(v + Vcpu.Rip, rip);
  g_executed = budget - left;
  store<u64>(v + Vcpu.InsnCount, load<u64>(v + Vcpu.InsnCount) + g_executed);
  stat_add(Stat.GuestInsn, g_executed);
  if (exit == CpuExit.Io) stat_inc(Stat.IoExits);
  return exit;
}

/** Sets the CpuFlag bits: what KVM_SET_SREGS and the host profile say about the vCPU's mode. */
export function cpu_set_flags(vcpu: u32, flags: u32): void {
  store<u32>(vcpu_ptr(vcpu) + Vcpu.CpuFlags, flags);
}
