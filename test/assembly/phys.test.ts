import { describe, expect, it } from 'vitest';
import { createCore } from '../../src/core/wasm.js';

const MiB = 1 << 20;

describe('phys: host frames', () => {
  it('hands out zeroed frames and takes them back', async () => {
    const { exports: x, memory } = await createCore({ ramFrames: (16 * MiB) / 4096, maxVcpus: 1, hostCpus: 4 });
    const total = x.phys_free_frames();
    const pfn = x.frame_alloc(x.FrameKind.Anon, 7);
    expect(pfn).not.toBe(x.PFN_NONE.value);
    expect(x.phys_free_frames()).toBe(total - 1);
    expect(x.frame_kind(pfn)).toBe(x.FrameKind.Anon);
    expect(x.frame_owner(pfn)).toBe(7);
    expect(x.frame_refcount(pfn)).toBe(1);
    const bytes = new Uint8Array(memory.buffer, x.ram_base() + pfn * 4096, 4096);
    expect(bytes.every((b) => b === 0)).toBe(true);
    bytes.fill(0xaa);
    const gen = x.frame_generation(pfn);
    expect(x.frame_put(pfn)).toBe(true);
    expect(x.frame_generation(pfn)).toBe(gen + 1);
    expect(x.frame_kind(pfn)).toBe(x.FrameKind.Free);
    // LIFO: the frame just freed comes back, zeroed.
    expect(x.frame_alloc(x.FrameKind.GuestMemfd, 9)).toBe(pfn);
    expect(bytes.every((b) => b === 0)).toBe(true);
  });
});
