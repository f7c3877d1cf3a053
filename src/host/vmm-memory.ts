// The VMM's own loads and stores through its mappings. Wasm touches every
// page of the range first (vmm_fault_in: the first touch faults a page in),
// then copies through the mm region's I/O buffer (vmm_copy), a buffer-load at
// a time; an access the kernel answers with a signal is a KvmError with the
// signal's name. Because the whole range is touched before any byte moves, a
// write that would fault stores nothing (pages faulted in before the faulting
// one stay present, as in Linux).

import type { Core } from '../core/wasm.js';
import { intArg } from '../kvm/args.js';
import { errnoName } from '../kvm/errno.js';
import { KvmError } from '../kvm/error.js';

const U64_LIMIT = 1n << 64n;

export class VmmMemory {
  private readonly bytes: Uint8Array;
  private readonly ioBuffer: number;
  private readonly ioBytes: number;
  private readonly sigbus: number;
  private readonly sigsegv: number;

  constructor(private readonly core: Core) {
    const x = core.exports;
    this.bytes = new Uint8Array(core.memory.buffer);
    this.ioBuffer = x.vmm_io_buffer();
    this.ioBytes = x.VMM_IO_BYTES.value;
    this.sigbus = x.FAULT_SIGBUS.value;
    this.sigsegv = x.FAULT_SIGSEGV.value;
  }

  /** A vmm_fault_in / vmm_copy outcome as a KvmError, or nothing for 0. */
  private check(ret: number, write: boolean, syscall: string): void {
    if (ret === 0) return;
    const where = `${write ? 'store to' : 'load from'} 0x${this.core.exports.vmm_fault_hva().toString(16)}`;
    if (ret === this.sigbus) throw new KvmError('SIGBUS', syscall, `${where}: the page cannot be mapped (SIGBUS)`);
    if (ret === this.sigsegv) throw new KvmError('SIGSEGV', syscall, `${where}: no mapping with that right (SIGSEGV)`);
    throw new KvmError(errnoName(ret) ?? 'ENOMEM', syscall, `${where}: cannot fault the page in`);
  }

  /** Touches the whole range, then copies it a buffer-load at a time. */
  private access(hva: bigint, len: number, write: boolean, syscall: string, move: (done: number, n: number) => void): void {
    if (hva + BigInt(len) > U64_LIMIT) throw new KvmError('EINVAL', syscall, 'hva + length wraps past 2^64');
    const x = this.core.exports;
    if (len === 0) return;
    this.check(x.vmm_fault_in(hva, BigInt(len), write), write, syscall);
    for (let done = 0; done < len; done += this.ioBytes) {
      const n = Math.min(this.ioBytes, len - done);
      if (write) move(done, n);
      this.check(x.vmm_copy(hva + BigInt(done), n, write), write, syscall);
      if (!write) move(done, n);
    }
  }

  /** Reads `len` bytes at `hva`. */
  read(hvaArg: unknown, lenArg: unknown): Uint8Array {
    const len = Number(intArg(lenArg, 'u32', 'len', 'read'));
    const hva = intArg(hvaArg, 'u64', 'hva', 'read');
    const out = new Uint8Array(len);
    this.access(hva, len, false, 'read', (done, n) => out.set(this.bytes.subarray(this.ioBuffer, this.ioBuffer + n), done));
    return out;
  }

  /** Writes `data` at `hva`. */
  write(hvaArg: unknown, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new KvmError('EINVAL', 'write', 'data must be a Uint8Array');
    const hva = intArg(hvaArg, 'u64', 'hva', 'write');
    this.access(hva, data.length, true, 'write', (done, n) => this.bytes.set(data.subarray(done, done + n), this.ioBuffer));
  }
}
