// Host RAM by address from a chosen base: words little-endian, fills, and
// addresses outside RAM refused rather than written past it.

import { describe, expect, it } from 'vitest';
import { RamView } from '../../src/core/ram-view.js';
import { createCore } from '../../src/core/wasm.js';

describe('RamView', () => {
  it('reads and writes words and fills bytes at offsets from its base', async () => {
    const core = await createCore({ ramFrames: 8, maxVcpus: 1, hostCpus: 1 });
    const hostView = new RamView(core);
    const guestView = new RamView(core, 0x2000);
    expect(guestView.size).toBe(hostView.size - 0x2000);
    guestView.write64(0x18n, 0x1122_3344_5566_7788n);
    expect(hostView.read64(0x2018)).toBe(0x1122_3344_5566_7788n);
    const bytes = new Uint8Array(core.memory.buffer, core.exports.ram_base() + 0x2018, 8);
    expect([...bytes]).toEqual([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    guestView.write64(0n, -1n);
    expect(guestView.read64(0n)).toBe(0xffff_ffff_ffff_ffffn);
    guestView.fill(0x1c, 2, 0xab);
    expect(guestView.read64(0x18n)).toBe(0x1122_abab_5566_7788n);
  });

  it('refuses addresses outside RAM and bases past its end', async () => {
    const core = await createCore({ ramFrames: 8, maxVcpus: 1, hostCpus: 1 });
    const ram = new RamView(core);
    expect(() => ram.read64(ram.size - 4)).toThrow(RangeError);
    expect(() => ram.write64(-8, 0n)).toThrow(RangeError);
    expect(() => ram.fill(0, ram.size + 1, 0)).toThrow(RangeError);
    ram.fill(0, ram.size, 0);
    expect(() => new RamView(core, ram.size + 4096)).toThrow(RangeError);
  });
});
