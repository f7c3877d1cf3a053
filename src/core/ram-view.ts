// Host RAM as words and bytes, addressed from a chosen host-physical base.
//
// Loading a test image or a conformance case means writing page-table words
// and filling pages at given addresses, and judging it means reading them
// back. With base 0 an address is an HPA; with the HPA where a guest's RAM
// starts, it is that guest's GPA (RAM mapped in one piece).

import type { Core } from './wasm.js';

export class RamView {
  // The machine's memory never grows, so these views stay valid.
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly start: number;
  /** Bytes addressable from the base. */
  readonly size: number;

  constructor(core: Core, base = 0) {
    const x = core.exports;
    const ramBytes = Number(x.ram_bytes());
    if (base < 0 || base > ramBytes) throw new RangeError(`gmemu: RAM base ${base} is outside host RAM`);
    this.view = new DataView(core.memory.buffer);
    this.bytes = new Uint8Array(core.memory.buffer);
    this.start = x.ram_base() + base;
    this.size = ramBytes - base;
  }

  private at(addr: bigint | number, len: number): number {
    const a = Number(addr);
    if (!(a >= 0 && a + len <= this.size)) throw new RangeError(`gmemu: [${a}, +${len}) is outside the ${this.size} bytes of RAM`);
    return this.start + a;
  }

  read64(addr: bigint | number): bigint {
    return this.view.getBigUint64(this.at(addr, 8), true);
  }

  write64(addr: bigint | number, value: bigint): void {
    this.view.setBigUint64(this.at(addr, 8), BigInt.asUintN(64, value), true);
  }

  fill(addr: bigint | number, len: number, byte: number): void {
    const p = this.at(addr, len);
    this.bytes.fill(byte, p, p + len);
  }
}
