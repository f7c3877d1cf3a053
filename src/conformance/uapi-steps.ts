// The ops of uAPI cases (conformance/README.md "Ops") carried out on gmemu's
// KVM uAPI: each KVM_* op is that ioctl with its struct built by field name,
// the file and memory ops are the uAPI's own calls. One session per case
// holds the case's `$name` bindings.
//
// As the reference executor (oracle/kvm/replay.py) does, the first vCPU of a
// VM gets the executor's guest-code page: memslot 32000 at GPA 0xff000 backed
// by an anonymous page. Cases see that slot (it can overlap theirs), so it is
// made here whether or not the case ever runs the guest.
//
// A KVM_RUN step describes the guest's next access (conformance/README.md);
// the executor writes it as a guest program into the code page, through the
// VMM's mapping, followed by HLT, and starts the vCPU there: in flat real
// mode (the reference host's guest), or in 64-bit mode for `long_mode`, with
// paging whose four tables are the code page itself (one entry per level at
// distinct indices, so one page maps itself). An exit the access left
// pending (MMIO, IO, a hypercall) is completed first with immediate_exit, as
// a VMM does before it changes the vCPU's state. The run's answer is the
// exit, or `no_exit` when the guest reached the HLT. A step's `path` is the
// reference host's: the host profile decides it here, as it did there
// (verified cases run on 'shadow', which emulates real mode; source cases on
// 'tdp', where the access takes the EPT fault path).

import { assemble } from '../guest/assembler.js';
import { bootState } from '../guest/layout.js';
import { KvmError } from '../kvm/error.js';
import type { Kvm } from '../kvm/kvm.js';
import {
  KVM_EXIT_HLT, KVM_EXIT_HYPERCALL, KVM_EXIT_IO, KVM_EXIT_MMIO, KVM_GET_REGS, KVM_GET_SREGS, KVM_RUN, KVM_SET_REGS,
  KVM_SET_SREGS, KVM_SET_USER_MEMORY_REGION, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE,
} from '../uapi.js';
import { CaseError } from './fields.js';
import type { Fields } from './fields.js';
import type { Json } from './result.js';
import type { Observation } from './uapi-expect.js';
import { FD_RETURNING, IOCTL_ARGS } from './uapi-ioctls.js';
import { constant, constantList, ioctlRequest } from './uapi-names.js';
import { apiInt, asBigInt, Bindings, buildStruct, cut } from './uapi-values.js';
import type { ApiInt, StructArg } from './uapi-values.js';

/** The calls of gmemu's KVM uAPI (DESIGN.md "The uAPI") that cases use. */
export type UapiKvm = Pick<Kvm,
  'fd' | 'ioctl' | 'mmap' | 'munmap' | 'fallocate' | 'close' | 'fstat' | 'fcntl' | 'ftruncate' | 'lseek' |
  'fdRead' | 'fdWrite' | 'pread' | 'pwrite' | 'read' | 'write' | 'runState' | 'core'>;

/** The executor's guest-code memslot (see the top of this file). */
export const CODE_SLOT = 32000;
export const CODE_GPA = 0xff000;
const PAGE = 4096;

/**
 * 64-bit mode in the code page alone: CR3 is the page, and the entries at
 * PML4 index 1, PDPT index 2, PD index 3 and PT index 4 all point back to
 * it, so this linear address maps the code page.
 */
const LONG_MODE_BASE = (1n << 39n) | (2n << 30n) | (3n << 21n) | (4n << 12n);
const SELF_MAP_INDICES = [1n, 2n, 3n, 4n];
/** Where the program starts in the code page (past the four table entries). */
const PROGRAM_OFFSET = 0x100n;
/** Present, writable, accessed, dirty. */
const SELF_MAP_ENTRY = BigInt(CODE_GPA) | 0x63n;

/** One step of a case, its fields already checked against its op. */
export interface UapiStep {
  op: string;
  args: Fields;
  as?: string;
  expect?: Fields;
}

interface OpSpec {
  /** The args it takes and those it must have. */
  known: readonly string[];
  required: readonly string[];
}

/** The file and memory ops (the KVM_* ops are checked against IOCTL_ARGS). */
export const FILE_OPS: Readonly<Record<string, OpSpec>> = {
  mmap: { known: ['addr', 'length', 'prot', 'flags', 'fd', 'offset'], required: ['length', 'prot', 'flags'] },
  munmap: { known: ['addr', 'length'], required: ['addr', 'length'] },
  fallocate: { known: ['fd', 'mode', 'offset', 'len'], required: ['fd', 'mode', 'offset', 'len'] },
  close: { known: ['fd'], required: ['fd'] },
  fstat: { known: ['fd'], required: ['fd'] },
  fcntl: { known: ['fd', 'cmd', 'arg'], required: ['fd', 'cmd'] },
  ftruncate: { known: ['fd', 'length'], required: ['fd', 'length'] },
  read: { known: ['fd', 'len'], required: ['fd', 'len'] },
  pread: { known: ['fd', 'len', 'offset'], required: ['fd', 'len', 'offset'] },
  write: { known: ['fd', 'len', 'data', 'byte'], required: ['fd'] },
  pwrite: { known: ['fd', 'len', 'data', 'byte', 'offset'], required: ['fd', 'offset'] },
  lseek: { known: ['fd', 'offset', 'whence'], required: ['fd', 'offset', 'whence'] },
  ioctl: { known: ['fd', 'request', 'arg'], required: ['fd', 'request'] },
  mem_read_u8: { known: ['addr', 'offset'], required: ['addr'] },
  mem_write_u8: { known: ['addr', 'offset', 'value'], required: ['addr', 'value'] },
  set_run_field: { known: ['fd', 'field', 'value'], required: ['field', 'value'] },
};

/** Checks a step's op and args; true when the op takes a struct (it may expect `struct_after`). */
export function checkOp(op: string, args: Fields, where: string): boolean {
  const ioctl = IOCTL_ARGS[op];
  if (ioctl !== undefined) {
    ioctlRequest(op, where);
    if (!('fd' in args)) throw new CaseError(`${where}.args: field 'fd'`, 'no such field');
    if (ioctl.kind === 'struct') return true;
    const known = ioctl.kind === 'int' ? ['fd', ioctl.field] : ioctl.kind === 'run' ? ['fd', 'guest', 'gpa', 'value', 'nr', 'a0', 'a1', 'a2', 'long_mode', 'path'] : ['fd'];
    for (const k of Object.keys(args)) if (!known.includes(k)) throw new CaseError(`${where}.args of ${op}: only ${known.join(', ')}`, `unknown field '${k}'`);
    return false;
  }
  const spec = FILE_OPS[op];
  if (spec === undefined) throw new CaseError(`${where}.op: a KVM ioctl the executor knows or one of ${Object.keys(FILE_OPS).join(', ')}`, `unknown op '${op}'`);
  for (const k of Object.keys(args)) if (!spec.known.includes(k)) throw new CaseError(`${where}.args of ${op}: only ${spec.known.join(', ')}`, `unknown field '${k}'`);
  for (const k of spec.required) if (!(k in args)) throw new CaseError(`${where}.args of ${op}: field '${k}'`, 'no such field');
  return false;
}

/** A failed call as an observation: its errno or signal; anything else the uAPI throws is a bug. */
function failure(err: unknown): Observation {
  if (err instanceof KvmError) {
    if (err.code === 'SIGBUS' || err.code === 'SIGSEGV') return { signal: err.code };
    return { ret: -1n, errno: err.code };
  }
  return { exception: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

/** How many bytes a read returned. */
const byteCount = (bytes: Uint8Array): number => bytes.length;

/** A call's return value as `ret`: an integer as it is, a filled struct or nothing as 0. */
function retOf(v: unknown): bigint {
  return asBigInt(v) ?? 0n;
}

/** One case's run: its bindings and the VMs that have the executor's code page. */
export class UapiSession {
  readonly names: Bindings;
  private readonly codeSlotVms = new Set<bigint>();
  /** The code page's userspace address, by VM fd and by vCPU fd. */
  private readonly codePage = new Map<bigint, bigint>();
  private readonly vcpuCodePage = new Map<bigint, bigint>();
  /** vCPUs whose last KVM_RUN left an exit to complete. */
  private readonly pending = new Set<bigint>();
  /** The vCPU of the last KVM_RUN (set_run_field's default fd). */
  private lastRunVcpu: bigint | undefined;

  constructor(private readonly kvm: UapiKvm) {
    this.names = new Bindings(kvm.fd);
  }

  /** An integer arg as the uAPI takes it, cut to its C type. */
  private num(args: Fields, key: string, where: string, type: 'u64' | 's64' = 'u64', fallback?: bigint): ApiInt {
    if (!(key in args) && fallback !== undefined) return apiInt(fallback);
    return apiInt(cut(this.names.int(args[key], `${where}.${key}`), type));
  }

  /** An fd arg: a C int. */
  private fd(args: Fields, where: string): number {
    return Number(BigInt.asIntN(32, this.names.int(args.fd, `${where}.fd`)));
  }

  /** Carries out a step; binds its `as` name when it succeeded with an fd or an address. */
  step(step: UapiStep, where: string): Observation {
    const { op, args } = step;
    const ioctl = IOCTL_ARGS[op];
    if (ioctl?.kind === 'run') return this.runStep(args, where);
    if (op === 'set_run_field') return this.setRunField(args, where);
    // Arguments are read before the call: a case that names an unbound fd fails as a case.
    const call = ioctl !== undefined ? this.ioctlCall(op, args, where) : this.fileCall(op, args, where);
    let obs: Observation;
    try {
      obs = call();
    } catch (err) {
      return failure(err);
    }
    const binds = FD_RETURNING.has(op) || op === 'mmap';
    if (step.as !== undefined && binds && obs.ret !== undefined && obs.ret >= 0n) this.names.bind(step.as, obs.ret);
    if (op === 'KVM_CREATE_VCPU' && obs.ret !== undefined && obs.ret >= 0n) {
      const vm = this.names.int(args.fd, `${where}.fd`);
      this.addCodeSlot(vm, where);
      this.vcpuCodePage.set(obs.ret, this.codePage.get(vm) as bigint);
    }
    return obs;
  }

  private ioctlCall(op: string, args: Fields, where: string): () => Observation {
    const fd = this.fd(args, where);
    const request = ioctlRequest(op, where);
    const spec = IOCTL_ARGS[op];
    if (spec.kind === 'struct') {
      const struct: StructArg = buildStruct(args, spec.layout, this.names, `${where}.args`);
      // Linux copies some structs back on failure too (KVM_PRE_FAULT_MEMORY),
      // so the struct is observed either way.
      return () => {
        try {
          return { ret: retOf(this.kvm.ioctl(fd, request, struct)), struct };
        } catch (err) {
          return { ...failure(err), struct };
        }
      };
    }
    const arg = spec.kind === 'int' ? this.num(args, spec.field, `${where}.args`, 'u64', 0n) : undefined;
    return () => ({ ret: retOf(arg === undefined ? this.kvm.ioctl(fd, request) : this.kvm.ioctl(fd, request, arg)) });
  }

  private fileCall(op: string, a: Fields, where: string): () => Observation {
    const at = `${where}.args`;
    const k = this.kvm;
    const ok = (v: unknown): Observation => ({ ret: retOf(v) });
    switch (op) {
      case 'mmap': {
        const addr = this.num(a, 'addr', at, 'u64', 0n);
        const length = this.num(a, 'length', at);
        const prot = constantList(a.prot, 'PROT_', `${at}.prot`);
        const flags = constantList(a.flags, 'MAP_', `${at}.flags`);
        const fd = 'fd' in a ? this.fd(a, at) : -1;
        const offset = this.num(a, 'offset', at, 's64', 0n);
        return () => ok(k.mmap(addr, length, prot, flags, fd, offset));
      }
      case 'munmap': {
        const addr = this.num(a, 'addr', at);
        const length = this.num(a, 'length', at);
        return () => ok(k.munmap(addr, length));
      }
      case 'fallocate': {
        const fd = this.fd(a, at);
        const mode = Array.isArray(a.mode) ? constantList(a.mode, 'FALLOC_FL_', `${at}.mode`) : Number(cut(this.names.int(a.mode, `${at}.mode`), 'u32'));
        const offset = this.num(a, 'offset', at, 's64');
        const len = this.num(a, 'len', at, 's64');
        return () => ok(k.fallocate(fd, mode, offset, len));
      }
      case 'close': {
        const fd = this.fd(a, at);
        return () => ok(k.close(fd));
      }
      case 'fstat': {
        const fd = this.fd(a, at);
        return () => {
          const st = k.fstat(fd);
          // S_ISREG: the file-type bits of st_mode are S_IFREG.
          return { ret: 0n, stat: { st_size: BigInt(st.st_size), st_blocks: BigInt(st.st_blocks), S_ISREG: (st.st_mode & 0o170000) === 0o100000 } };
        };
      }
      case 'fcntl': {
        const fd = this.fd(a, at);
        const cmd = typeof a.cmd === 'string' ? constant(a.cmd, 'F_', `${at}.cmd`) : Number(BigInt.asIntN(32, this.names.int(a.cmd, `${at}.cmd`)));
        const arg = this.num(a, 'arg', at, 'u64', 0n);
        return () => ok(k.fcntl(fd, cmd, arg));
      }
      case 'ftruncate': {
        const fd = this.fd(a, at);
        const length = this.num(a, 'length', at, 's64');
        return () => ok(k.ftruncate(fd, length));
      }
      case 'lseek': {
        const fd = this.fd(a, at);
        const offset = this.num(a, 'offset', at, 's64');
        const whence = typeof a.whence === 'string' ? constant(a.whence, 'SEEK_', `${at}.whence`) : Number(this.names.int(a.whence, `${at}.whence`));
        return () => ok(k.lseek(fd, offset, whence));
      }
      case 'read': {
        const fd = this.fd(a, at);
        const len = this.num(a, 'len', at);
        return () => ok(byteCount(k.fdRead(fd, len)));
      }
      case 'pread': {
        const fd = this.fd(a, at);
        const len = this.num(a, 'len', at);
        const offset = this.num(a, 'offset', at, 's64');
        return () => ok(byteCount(k.pread(fd, len, offset)));
      }
      case 'write': {
        const fd = this.fd(a, at);
        const bytes = this.bytes(a, at);
        return () => ok(k.fdWrite(fd, bytes));
      }
      case 'pwrite': {
        const fd = this.fd(a, at);
        const bytes = this.bytes(a, at);
        const offset = this.num(a, 'offset', at, 's64');
        return () => ok(k.pwrite(fd, bytes, offset));
      }
      case 'ioctl': {
        const fd = this.fd(a, at);
        const request = typeof a.request === 'string' && a.request in IOCTL_ARGS
          ? ioctlRequest(a.request, `${at}.request`)
          : Number(cut(this.names.int(a.request, `${at}.request`), 'u32'));
        const arg = this.num(a, 'arg', at, 'u64', 0n);
        return () => ok(k.ioctl(fd, request, arg));
      }
      case 'mem_read_u8': {
        const hva = this.address(a, at);
        return () => ({ value: k.read(hva, 1)[0] });
      }
      case 'mem_write_u8': {
        const hva = this.address(a, at);
        const value = Number(BigInt.asUintN(8, this.names.int(a.value, `${at}.value`)));
        return () => ok(k.write(hva, Uint8Array.of(value)));
      }
    }
    throw new CaseError(`${where}.op: an op the executor carries out`, op);
  }

  /** `addr + offset` of a VMM access. */
  private address(a: Fields, at: string): ApiInt {
    const offset = 'offset' in a ? this.names.int(a.offset, `${at}.offset`) : 0n;
    return apiInt(BigInt.asUintN(64, this.names.int(a.addr, `${at}.addr`) + offset));
  }

  /** The bytes a write carries: `data` as a list, or `len` copies of `byte` (0 unless given). */
  private bytes(a: Fields, at: string): Uint8Array {
    if ('data' in a) {
      if (!Array.isArray(a.data)) throw new CaseError(`${at}.data: a list of bytes`, JSON.stringify(a.data));
      return Uint8Array.from(a.data.map((b, i) => Number(BigInt.asUintN(8, this.names.int(b, `${at}.data[${i}]`)))));
    }
    const len = 'len' in a ? Number(this.names.int(a.len, `${at}.len`)) : 0;
    if (!Number.isSafeInteger(len) || len < 0 || len > 1 << 20) throw new CaseError(`${at}.len: a byte count up to 1 MiB`, String(len));
    const byte = 'byte' in a ? Number(BigInt.asUintN(8, this.names.int(a.byte, `${at}.byte`))) : 0;
    return new Uint8Array(len).fill(byte);
  }

  /** The executor's guest-code page in a VM that just got its first vCPU. */
  private addCodeSlot(vm: bigint, where: string): void {
    if (this.codeSlotVms.has(vm)) return;
    this.codeSlotVms.add(vm);
    try {
      const page = this.kvm.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      this.kvm.ioctl(Number(vm), KVM_SET_USER_MEMORY_REGION, {
        slot: CODE_SLOT, flags: 0, guest_phys_addr: CODE_GPA, memory_size: PAGE, userspace_addr: page,
      });
      this.codePage.set(vm, page);
    } catch (err) {
      throw new CaseError(`${where}: the executor's code slot ${CODE_SLOT} at 0x${CODE_GPA.toString(16)} in the new vCPU's VM`, JSON.stringify(failure(err), (_k, v) => (typeof v === 'bigint' ? Number(v) : v)));
    }
  }

  /** The guest program of a KVM_RUN step, laid out at `base`. */
  private program(args: Fields, where: string, base: bigint): Uint8Array {
    const at = `${where}.args`;
    const int = (k: string, fallback?: bigint) => (k in args ? this.names.int(args[k], `${at}.${k}`) : fallback);
    const need = (k: string): bigint => {
      const v = int(k);
      if (v === undefined) throw new CaseError(`${at}: field '${k}'`, 'no such field');
      return BigInt.asUintN(64, v);
    };
    const hex = (v: bigint) => `0x${v.toString(16)}`;
    let text: string;
    switch (args.guest) {
      case 'read_u8':
        text = `ld1 rax, [${hex(need('gpa'))}]`;
        break;
      case 'write_u8':
        text = `mov rax, ${hex(BigInt.asUintN(8, need('value')))}\n st1 [${hex(need('gpa'))}], rax`;
        break;
      case 'hypercall':
        text = `mov rax, ${hex(need('nr'))}\n mov rbx, ${hex(int('a0', 0n) as bigint)}\n mov rcx, ${hex(int('a1', 0n) as bigint)}\n mov rdx, ${hex(int('a2', 0n) as bigint)}\n vmcall`;
        break;
      default:
        throw new CaseError(`${at}.guest: read_u8, write_u8, hypercall or report_rax`, JSON.stringify(args.guest));
    }
    return assemble(`${text}\n hlt`, this.kvm.core.exports).bytes(base);
  }

  /** A KVM_RUN step (see the file comment). */
  private runStep(args: Fields, where: string): Observation {
    const fd = this.fd(args, where);
    const vcpu = BigInt(fd);
    const page = this.vcpuCodePage.get(vcpu);
    if (args.path !== undefined && args.path !== 'hardware_fault' && args.path !== 'emulated') {
      throw new CaseError(`${where}.args.path: hardware_fault or emulated`, JSON.stringify(args.path));
    }
    const k = this.kvm;
    if (args.guest !== 'report_rax') {
      if (page === undefined) throw new CaseError(`${where}.args.fd: a vCPU the case created`, String(fd));
      const long = args.long_mode === true;
      const base = long ? LONG_MODE_BASE + PROGRAM_OFFSET : BigInt(CODE_GPA);
      const code = this.program(args, where, base);
      if (this.pending.has(vcpu)) {
        const state = k.runState(fd);
        state.immediate_exit = 1;
        try {
          k.ioctl(fd, KVM_RUN);
        } catch (err) {
          if (!(err instanceof KvmError && err.code === 'EINTR')) return failure(err);
        } finally {
          state.immediate_exit = 0;
        }
        this.pending.delete(vcpu);
      }
      const image = new Uint8Array(PAGE);
      const view = new DataView(image.buffer);
      if (long) for (const i of SELF_MAP_INDICES) view.setBigUint64(Number(i) * 8, SELF_MAP_ENTRY, true);
      image.set(code, Number(long ? PROGRAM_OFFSET : 0n));
      k.write(page, image);
      const boot = bootState(base, long ? { root: BigInt(CODE_GPA) } : undefined);
      try {
        k.ioctl(fd, KVM_SET_SREGS, { ...(k.ioctl(fd, KVM_GET_SREGS, {}) as object), ...boot.sregs });
        k.ioctl(fd, KVM_SET_REGS, boot.regs);
      } catch (err) {
        return failure(err);
      }
    }
    this.lastRunVcpu = vcpu;
    let obs: Observation;
    try {
      obs = { ret: retOf(k.ioctl(fd, KVM_RUN)) };
    } catch (err) {
      obs = failure(err);
    }
    const state = k.runState(fd);
    const reason = state.exit_reason;
    const fields: Record<string, bigint> = {};
    const big = (v: number | bigint) => BigInt(v);
    if (reason === KVM_EXIT_MMIO) {
      const m = state.mmio;
      Object.assign(fields, { 'mmio.phys_addr': big(m.phys_addr), 'mmio.len': big(m.len), 'mmio.is_write': big(m.is_write) });
      m.data.forEach((b, i) => { fields[`mmio.data[${i}]`] = BigInt(b); });
    } else if (reason === KVM_EXIT_IO) {
      const io = state.io;
      Object.assign(fields, { 'io.direction': big(io.direction), 'io.size': big(io.size), 'io.port': big(io.port), 'io.count': big(io.count), 'io.data_offset': big(io.data_offset) });
    } else if (reason === KVM_EXIT_HYPERCALL) {
      const h = state.hypercall;
      Object.assign(fields, { 'hypercall.nr': h.nr, 'hypercall.ret': h.ret, 'hypercall.flags': h.flags });
      h.args.forEach((a, i) => { fields[`hypercall.args[${i}]`] = a; });
    }
    const mf = state.memory_fault;
    Object.assign(fields, { 'memory_fault.flags': big(mf.flags), 'memory_fault.gpa': big(mf.gpa), 'memory_fault.size': big(mf.size) });
    if (obs.errno === undefined && (reason === KVM_EXIT_MMIO || reason === KVM_EXIT_IO || reason === KVM_EXIT_HYPERCALL)) this.pending.add(vcpu);
    const noExit = obs.errno === undefined && reason === KVM_EXIT_HLT;
    const rax = BigInt((k.ioctl(fd, KVM_GET_REGS, {}) as Record<string, number | bigint>).rax);
    obs.run = { exit_reason: reason, fields, no_exit: noExit, guest_rax: rax };
    if (noExit && args.guest === 'read_u8') obs.run.guest_value = Number(rax & 0xffn);
    return obs;
  }

  /** set_run_field: writes a kvm_run field userspace may write (immediate_exit, hypercall.ret, mmio.data[i], io.data[i]). */
  private setRunField(args: Fields, where: string): Observation {
    const fd = 'fd' in args ? this.fd(args, where) : this.lastRunVcpu === undefined ? undefined : Number(this.lastRunVcpu);
    if (fd === undefined) throw new CaseError(`${where}.args.fd: a vCPU (no KVM_RUN came before)`, 'none');
    const value = this.names.int(args.value, `${where}.args.value`);
    const state = this.kvm.runState(fd);
    const m = typeof args.field === 'string' ? /^(immediate_exit|hypercall\.ret|mmio\.data|io\.data)(?:\[(\d+)\])?$/.exec(args.field) : null;
    const index = m?.[2] === undefined ? undefined : Number(m[2]);
    if (m?.[1] === 'immediate_exit' && index === undefined) state.immediate_exit = Number(BigInt.asUintN(8, value));
    else if (m?.[1] === 'hypercall.ret' && index === undefined) state.hypercall.ret = value;
    else if (m?.[1] === 'mmio.data' && index !== undefined && index < 8) state.mmio.data[index] = Number(BigInt.asUintN(8, value));
    else if (m?.[1] === 'io.data' && index !== undefined && index < state.io.data.length) state.io.data[index] = Number(BigInt.asUintN(8, value));
    else throw new CaseError(`${where}.args.field: immediate_exit, hypercall.ret, mmio.data[0..7] or io.data[i]`, JSON.stringify(args.field));
    return { ret: 0n };
  }

  /** The byte the VMM reads at `$name + offset`: its value, or the signal or errno that stopped it. */
  hostByte(name: string, offset: number): Json {
    const hva = apiInt(this.names.int(`$${name}`, `host_${name}`) + BigInt(offset));
    try {
      return this.kvm.read(hva, 1)[0];
    } catch (err) {
      const f = failure(err);
      return f.signal ?? f.errno ?? f.exception ?? null;
    }
  }
}
