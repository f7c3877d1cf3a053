import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CORE_MIN_PAGES, attachCore, createCore } from '../../src/core/wasm.js';

describe('loading the core', () => {
  it('declares the same minimum memory as asconfig.json', () => {
    const asconfig = JSON.parse(readFileSync(new URL('../../asconfig.json', import.meta.url), 'utf8'));
    expect(asconfig.options.initialMemory).toBe(CORE_MIN_PAGES);
  });

  it('makes machines of any size down to one frame', async () => {
    const core = await createCore({ ramFrames: 3, maxVcpus: 1, hostCpus: 1 });
    expect(core.exports.phys_free_frames()).toBeLessThanOrEqual(3);
    expect(core.memory.buffer.byteLength).toBeGreaterThanOrEqual(core.exports.ram_base() + 3 * 4096);
  });

  it('attaches a second instance that sees the same machine', async () => {
    const a = await createCore({ ramFrames: 256, maxVcpus: 1, hostCpus: 2 });
    const b = await attachCore(a.module, a.memory);
    const pfn = a.exports.frame_alloc(a.exports.FrameKind.Anon, 5);
    expect(b.exports.frame_owner(pfn)).toBe(5);
    expect(b.exports.phys_free_frames()).toBe(a.exports.phys_free_frames());
  });

  it('refuses a geometry with no RAM', async () => {
    await expect(createCore({ ramFrames: 0, maxVcpus: 1, hostCpus: 1 })).rejects.toMatchObject({ code: 'EINVAL', errno: -22, syscall: 'machine_init' });
  });
});
