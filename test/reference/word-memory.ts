// A sparse host memory for tests: 64-bit words in a Map, byte fills for
// larger ranges, zero elsewhere. Tables of hand-built cases and corpus cases
// sit anywhere below 2^52 without allocating the whole range.

import type { Hpa } from '../../src/core/addr.js';
import type { HostMemory } from '../../src/reference/types.js';

export class WordMemory implements HostMemory {
  readonly words = new Map<bigint, bigint>();
  private readonly fills: { start: bigint; end: bigint; word: bigint }[] = [];

  constructor(readonly size: bigint) {}

  /** Every byte of [start, start+len) reads as `byte` unless a word was set there. */
  fill(start: bigint, len: bigint, byte: number): void {
    this.fills.push({ start, end: start + len, word: BigInt(byte) * 0x0101010101010101n });
  }

  set(hpa: bigint, value: bigint): this {
    if (hpa % 8n !== 0n) throw new Error(`unaligned word at ${hpa.toString(16)}`);
    this.words.set(hpa, value);
    return this;
  }

  read64(hpa: Hpa): bigint {
    const w = this.words.get(hpa);
    if (w !== undefined) return w;
    for (let i = this.fills.length - 1; i >= 0; i--) {
      const f = this.fills[i];
      if (hpa >= f.start && hpa < f.end) return f.word;
    }
    return 0n;
  }

  write64(hpa: Hpa, value: bigint): void {
    this.words.set(hpa, value);
  }
}
