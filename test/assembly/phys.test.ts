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

describe('phys: exhaustion, shuffling, poisoning', () => {
  it('reports exhaustion as PFN_NONE, counts it, and recovers after a free', async () => {
    const { exports: x } = await createCore({ ramFrames: 64, maxVcpus: 1, hostCpus: 1 });
    const held: number[] = [];
    for (let pfn = x.frame_alloc(x.FrameKind.Anon, 1); pfn !== x.PFN_NONE.value; pfn = x.frame_alloc(x.FrameKind.Anon, 1)) held.push(pfn);
    expect(x.phys_free_frames()).toBe(0);
    expect(new Set(held).size).toBe(held.length);
    expect(Number(x.stats_read(0, x.Stat.FrameAllocFail))).toBe(1);
    x.frame_put(held[3]);
    expect(x.frame_alloc(x.FrameKind.Kernel, 2)).toBe(held[3]);
  });

  it('shuffles the free frames reproducibly for a seed', async () => {
    const order = async (seed: number) => {
      const { exports: x } = await createCore({ ramFrames: 256, maxVcpus: 1, hostCpus: 1 });
      x.phys_shuffle(seed);
      return Array.from({ length: 32 }, () => x.frame_alloc(x.FrameKind.Anon, 1));
    };
    const a = await order(42);
    expect(await order(42)).toEqual(a);
    expect(await order(43)).not.toEqual(a);
    expect(a).not.toEqual([...a].sort((p, q) => p - q));
  });

  it('keeps a frame with other references alive, and poisons freed frames in debug builds', async () => {
    const { exports: x, memory } = await createCore({ ramFrames: 64, maxVcpus: 1, hostCpus: 1 }, true);
    const pfn = x.frame_alloc(x.FrameKind.GuestMemfd, 3);
    x.frame_get(pfn);
    expect(x.frame_put(pfn)).toBe(false);
    expect(x.frame_refcount(pfn)).toBe(1);
    expect(x.frame_put(pfn)).toBe(true);
    const bytes = new Uint8Array(memory.buffer, x.ram_base() + pfn * 4096, 4096);
    expect(bytes.every((b) => b === x.FRAME_POISON.value)).toBe(true);
    expect(() => x.frame_put(pfn)).toThrow(/frame_put on a free frame/);
  });
});
