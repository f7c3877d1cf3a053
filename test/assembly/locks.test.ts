// Stress tests of the core's locks: several worker threads, each with its own
// instance over one shared memory, contend for the same lock at once.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { readCounters } from '../../src/core/stats.js';
import { type Core, createCore } from '../../src/core/wasm.js';

const WORKERS = 4;
const TIMEOUT_MS = 30_000;

function runWorkers(core: Core, data: Record<string, unknown>): Promise<number[]> {
  const url = new URL('./locks.worker.mjs', import.meta.url);
  const barrier = new SharedArrayBuffer(4);
  return Promise.all(
    Array.from({ length: WORKERS }, (_, index) => new Promise<number>((resolve, reject) => {
      const w = new Worker(url, { workerData: { module: core.module, memory: core.memory, barrier, index, workers: WORKERS, ...data } });
      const timer = setTimeout(() => { void w.terminate(); reject(new Error(`worker ${index} timed out: deadlock?`)); }, TIMEOUT_MS);
      w.once('message', (m: { errors: number }) => { clearTimeout(timer); resolve(m.errors); void w.terminate(); });
      w.once('error', (e) => { clearTimeout(timer); reject(e); });
    })),
  );
}

describe('locks under contention', () => {
  it('Lock.Phys: concurrent allocations never hand out one frame twice, and every frame comes back', async () => {
    const core = await createCore({ ramFrames: 4096, maxVcpus: WORKERS, hostCpus: 4 });
    const x = core.exports;
    const free = x.phys_free_frames();
    const errors = await runWorkers(core, { task: 'phys', rounds: 300, batch: 64 });
    expect(errors).toEqual(new Array(WORKERS).fill(0));
    expect(x.phys_free_frames()).toBe(free);
    const c = readCounters(core);
    expect(c.frame_alloc).toBe(WORKERS * 300 * 64 + (readCounters(core, { kind: 'host' }).frame_alloc));
    expect(c.frame_free).toBe(WORKERS * 300 * 64);
  });

  it('Lock.Cpa: workers racing to change each 2 MiB region split it exactly once', async () => {
    const regions = 12;
    const core = await createCore({ ramFrames: 16 * 512, maxVcpus: WORKERS, hostCpus: 8 });
    const x = core.exports;
    const free = x.phys_free_frames();
    const firstPfn = 2 * 512; // regions 2..13: clear of the boot tables
    const errors = await runWorkers(core, { task: 'directmap', rounds: 20, firstPfn, regions });
    expect(errors).toEqual(new Array(WORKERS).fill(0));
    const c = readCounters(core);
    expect(c.dmap_split2m).toBe(regions);
    expect(c.dmap_flush_split).toBe(regions);
    expect(c.dmap_pt_page).toBe(regions);
    expect(x.phys_free_frames()).toBe(free - regions);
    expect(c.dmap_invalid_noflush).toBe(20 * regions * 512);
    expect(c.dmap_pte_update).toBe(2 * 20 * regions * 512);
    for (let pfn = firstPfn; pfn < firstPfn + regions * 512; pfn++) {
      expect(x.dmap_present(pfn)).toBe(true);
      expect(x.dmap_mapping_shift(pfn)).toBe(12);
    }
    expect(x.dmap_mapping_shift(firstPfn - 1)).toBe(21);
  });
});
