// struct kvm_run of one vCPU, as the VMM sees it through the mmap of the
// vCPU fd: a live view over the kvm_run image in the vCPU's record (Linux's
// layout, include/uapi/linux/kvm.h), with Linux's field names. Reading a
// field reads shared memory; the fields userspace writes in Linux
// (immediate_exit, mmio.data, io data, hypercall.ret) are writable here too,
// and the next KVM_RUN consumes them. `budget` is gmemu's own: the number of
// guest instructions one KVM_RUN may execute before it returns EINTR with
// KVM_EXIT_INTR, as a signal would end it (0 = no limit).

import type { CoreExports } from '../core/wasm.js';
import { KVM_EXIT_MEMORY_FAULT } from '../uapi.js';
import { errnoName } from './errno.js';
import { KvmError } from './error.js';

/** Addresses and sizes as safe numbers (DESIGN.md: numbers on output). */
const num = (v: bigint): number => Number(v);

export class KvmRunState {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  /** Byte address of the vCPU record and of its kvm_run image. */
  private readonly rec: number;
  private readonly run: number;

  constructor(private readonly x: CoreExports, memory: WebAssembly.Memory, record: number) {
    this.view = new DataView(memory.buffer);
    this.bytes = new Uint8Array(memory.buffer);
    this.rec = x.vcpu_ptr(record);
    this.run = this.rec + x.Vcpu.Run;
  }

  private u64(off: number): bigint {
    return this.view.getBigUint64(this.run + off, true);
  }

  get immediate_exit(): number {
    return this.view.getUint8(this.run + this.x.KvmRun.ImmediateExit);
  }

  set immediate_exit(v: number) {
    this.view.setUint8(this.run + this.x.KvmRun.ImmediateExit, v & 0xff);
  }

  get exit_reason(): number {
    return this.view.getUint32(this.run + this.x.KvmRun.ExitReason, true);
  }

  get flags(): number {
    return this.view.getUint16(this.run + this.x.KvmRun.Flags, true);
  }

  /** Instructions one KVM_RUN may execute (gmemu; 0 = no limit). */
  get budget(): number {
    return num(this.view.getBigUint64(this.rec + this.x.Vcpu.RunBudget, true));
  }

  set budget(n: number | bigint) {
    const b = BigInt(n);
    if (b < 0n || b >= 1n << 64n) throw new RangeError(`gmemu: kvm_run budget must be a u64, got ${n}`);
    this.view.setBigUint64(this.rec + this.x.Vcpu.RunBudget, b, true);
  }

  /** KVM_EXIT_IO: direction (0 in, 1 out), size, port, count, data_offset; `data` is the PIO data, writable for an IN. */
  get io() {
    const K = this.x.KvmRun;
    const dataAt = this.rec + this.x.Vcpu.PioData;
    const size = this.view.getUint8(this.run + K.IoSize);
    return {
      direction: this.view.getUint8(this.run + K.IoDirection),
      size,
      port: this.view.getUint16(this.run + K.IoPort, true),
      count: this.view.getUint32(this.run + K.IoCount, true),
      data_offset: num(this.u64(K.IoDataOffset)),
      data: this.bytes.subarray(dataAt, dataAt + Math.max(size, 1)),
    };
  }

  /** KVM_EXIT_MMIO: phys_addr, data (8 bytes, writable for a read), len, is_write. */
  get mmio() {
    const K = this.x.KvmRun;
    const at = this.run + K.MmioData;
    return {
      phys_addr: num(this.u64(K.MmioPhysAddr)),
      data: this.bytes.subarray(at, at + 8),
      len: this.view.getUint32(this.run + K.MmioLen, true),
      is_write: this.view.getUint8(this.run + K.MmioIsWrite),
    };
  }

  /** KVM_EXIT_HYPERCALL: nr, args[6], ret (writable), flags; raw 64-bit values. */
  get hypercall() {
    const K = this.x.KvmRun;
    const view = this.view;
    const retAt = this.run + K.HcRet;
    return {
      nr: this.u64(K.HcNr),
      args: Array.from({ length: 6 }, (_, i) => this.u64(K.HcArgs + 8 * i)),
      get ret(): bigint {
        return view.getBigUint64(retAt, true);
      },
      set ret(v: bigint) {
        view.setBigUint64(retAt, BigInt.asUintN(64, BigInt(v)), true);
      },
      flags: this.u64(K.HcFlags),
    };
  }

  /** KVM_EXIT_MEMORY_FAULT: flags, gpa, size. */
  get memory_fault() {
    const K = this.x.KvmRun;
    return { flags: num(this.u64(K.MfFlags)), gpa: num(this.u64(K.MfGpa)), size: num(this.u64(K.MfSize)) };
  }

  /** KVM_EXIT_INTERNAL_ERROR: suberror, ndata. */
  get internal() {
    const K = this.x.KvmRun;
    return {
      suberror: this.view.getUint32(this.run + K.InternalSuberror, true),
      ndata: this.view.getUint32(this.run + K.InternalNdata, true),
    };
  }
}

/** What an errno of KVM_RUN means, for the error's message. */
function runFailure(errno: string, state: KvmRunState): string {
  if (errno === 'EINTR') {
    return state.immediate_exit !== 0 ? 'KVM_RUN: immediate_exit is set' : `KVM_RUN: the instruction budget (${state.budget}) ran out (KVM_EXIT_INTR)`;
  }
  if (state.exit_reason === KVM_EXIT_MEMORY_FAULT) {
    const f = state.memory_fault;
    return `KVM_RUN: guest access to gpa 0x${f.gpa.toString(16)} (size ${f.size}, flags 0x${f.flags.toString(16)}) cannot be backed (KVM_EXIT_MEMORY_FAULT)`;
  }
  return 'KVM_RUN: the guest fault could not be resolved';
}

/**
 * KVM_RUN of vCPU `record` in the calling thread, counted in the vCPU's
 * stats block: 0, or a KvmError with the errno vcpu_run returned.
 */
export function runVcpu(x: CoreExports, state: KvmRunState, record: number, hypercallExitMask: bigint): 0 {
  x.stats_select(1 + record);
  let r: number;
  try {
    r = x.vcpu_run(record, BigInt.asUintN(64, hypercallExitMask));
  } finally {
    x.stats_select(0);
  }
  if (r < 0) {
    const name = errnoName(r) ?? 'EIO';
    throw new KvmError(name, 'ioctl', runFailure(name, state));
  }
  return 0;
}
