// The VMM's own loads and stores through its mappings. Each page is touched
// in Wasm (vmm_touch: first touch faults it in), and an access the kernel
// answers with a signal is a KvmError with the signal's name. Every page of a
// range is touched before any byte is copied, so a write that would fault
// stores nothing (pages faulted in before the faulting one stay present, as
// in Linux).

import type { Core } from '../core/wasm.js';
import { intArg } from '../kvm/args.js';
import { errnoName } from '../kvm/errno.js';
import { KvmError } from '../kvm/error.js';

const PAGE_SIZE = 4096;

export class VmmMemory {
  private readonly bytes: Uint8Array;
  private readonly ramBase: number;
  private readonly sigbus: number;
  private readonly sigsegv: number;

  constructor(private readonly core: Core) {
    this.bytes = new Uint8Array(core.memory.buffer);
    this.ramBase = core.exports.ram_base();
    this.sigbus = core.exports.FAULT_SIGBUS.value;
    this.sigsegv = core.exports.FAULT_SIGSEGV.value;
  }

  /** Touches every page of [hva, hva + len); returns the memory offset of each page's frame. */
  private touch(hva: bigint, len: number, write: boolean, syscall: string): number[] {
    const x = this.core.exports;
    const frames: number[] = [];
    const first = hva & ~0xfffn;
    for (let page = first; page < hva + BigInt(len); page += 4096n) {
      const ret = x.vmm_touch(page, write);
      const where = `${write ? 'store to' : 'load from'} 0x${page.toString(16)}`;
      if (ret === this.sigbus) throw new KvmError('SIGBUS', syscall, `${where}: the page cannot be mapped (SIGBUS)`);
      if (ret === this.sigsegv) throw new KvmError('SIGSEGV', syscall, `${where}: no mapping with that right (SIGSEGV)`);
      if (ret < 0) throw new KvmError(errnoName(ret) ?? 'ENOMEM', syscall, `${where}: cannot fault the page in`);
      frames.push(this.ramBase + x.vma_pfn() * PAGE_SIZE);
    }
    return frames;
  }

  /** Copies between JavaScript and the frames behind [hva, hva + len). */
  private each(hva: bigint, len: number, frames: number[], copy: (mem: number, done: number, n: number) => void): void {
    let off = Number(hva & 0xfffn);
    let done = 0;
    for (const frame of frames) {
      const n = Math.min(PAGE_SIZE - off, len - done);
      copy(frame + off, done, n);
      done += n;
      off = 0;
    }
  }

  private checkRange(hvaArg: unknown, len: number, syscall: string): bigint {
    const hva = intArg(hvaArg, 'u64', 'hva', syscall);
    if (hva + BigInt(len) > 1n << 64n) throw new KvmError('EINVAL', syscall, 'hva + length wraps past 2^64');
    return hva;
  }

  /** Reads `len` bytes at `hva`. */
  read(hvaArg: unknown, lenArg: unknown): Uint8Array {
    const len = Number(intArg(lenArg, 'u32', 'len', 'read'));
    const hva = this.checkRange(hvaArg, len, 'read');
    const out = new Uint8Array(len);
    const frames = this.touch(hva, len, false, 'read');
    this.each(hva, len, frames, (mem, done, n) => out.set(this.bytes.subarray(mem, mem + n), done));
    return out;
  }

  /** Writes `data` at `hva`. */
  write(hvaArg: unknown, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new KvmError('EINVAL', 'write', 'data must be a Uint8Array');
    const hva = this.checkRange(hvaArg, data.length, 'write');
    const frames = this.touch(hva, data.length, true, 'write');
    this.each(hva, data.length, frames, (mem, done, n) => this.bytes.set(data.subarray(done, done + n), mem));
  }
}
