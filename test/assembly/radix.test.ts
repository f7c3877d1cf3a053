import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Core, createCore } from '../../src/core/wasm.js';

const OWNER = 77;
const LIMIT = 1n << 36n;

/** The first key of `model` in [from, to), as radix_next answers it. */
function modelNext(model: Map<bigint, bigint>, from: bigint, to: bigint, none: bigint): bigint {
  let best = none;
  for (const k of model.keys()) if (k >= from && k < to && (best === none || k < best)) best = k;
  return best;
}

/** Holds every free frame but `keep`; returns a function that gives them back. */
function exhaust(core: Core, keep: number): () => void {
  const x = core.exports;
  const held: number[] = [];
  while (x.phys_free_frames() > keep) held.push(x.frame_alloc(x.FrameKind.Anon, 1));
  return () => { for (const pfn of held) x.frame_put(pfn); };
}

describe('radix: basic operations', async () => {
  const core = await createCore({ ramFrames: 2048, maxVcpus: 1, hostCpus: 1 });
  const x = core.exports;
  const NONE = x.RADIX_NONE.value;

  it('stores, looks up, overwrites and erases values at the edges of the index space', () => {
    const free = x.phys_free_frames();
    const root = x.radix_create(OWNER);
    expect(root).not.toBe(x.PFN_NONE.value);
    expect(x.frame_kind(root)).toBe(x.FrameKind.Kernel);
    expect(x.frame_owner(root)).toBe(OWNER);
    expect(x.phys_free_frames()).toBe(free - 1);
    for (const index of [0n, 1n, 511n, 512n, LIMIT - 1n]) {
      expect(x.radix_lookup(root, index)).toBe(0n);
      expect(x.radix_store(root, index, index + 100n, OWNER)).toBe(0);
    }
    // 0..511 share a path of 3 nodes below the root, 512 needs its own bottom
    // node, LIMIT - 1 a path of 3 more.
    expect(x.phys_free_frames()).toBe(free - 1 - 7);
    for (const index of [0n, 1n, 511n, 512n, LIMIT - 1n]) expect(x.radix_lookup(root, index)).toBe(index + 100n);
    expect(x.radix_lookup(root, 2n)).toBe(0n);
    expect(x.radix_store(root, 1n, 0xffff_ffff_ffff_ffffn, OWNER)).toBe(0);
    expect(x.radix_lookup(root, 1n)).toBe(0xffff_ffff_ffff_ffffn);
    expect(x.radix_erase(root, LIMIT - 1n)).toBe(LIMIT - 1n + 100n);
    // The emptied path goes at once.
    expect(x.phys_free_frames()).toBe(free - 1 - 4);
    expect(x.radix_erase(root, LIMIT - 1n)).toBe(0n);
    // Storing 0 erases.
    expect(x.radix_store(root, 0n, 0n, OWNER)).toBe(0);
    expect(x.radix_lookup(root, 0n)).toBe(0n);
    for (const index of [1n, 511n, 512n]) x.radix_erase(root, index);
    expect(x.phys_free_frames()).toBe(free - 1);
    x.radix_destroy(root);
    expect(x.phys_free_frames()).toBe(free);
  });

  it('refuses indices beyond 2^36 and reads nothing there', () => {
    const root = x.radix_create(OWNER);
    expect(x.radix_store(root, LIMIT, 5n, OWNER)).toBe(-22);
    expect(x.radix_lookup(root, LIMIT)).toBe(0n);
    expect(x.radix_erase(root, LIMIT)).toBe(0n);
    expect(x.radix_next(root, 0n, 0xffff_ffff_ffff_ffffn)).toBe(NONE);
    x.radix_destroy(root);
  });

  it('radix_next finds the first value in [from, to) across empty subtrees', () => {
    const root = x.radix_create(OWNER);
    const keys = [3n, 512n + 7n, (1n << 27n) * 5n + 9n, LIMIT - 1n];
    for (const k of keys) x.radix_store(root, k, 1n, OWNER);
    expect(x.radix_next(root, 0n, LIMIT)).toBe(3n);
    expect(x.radix_next(root, 3n, 4n)).toBe(3n);
    expect(x.radix_next(root, 4n, LIMIT)).toBe(519n);
    expect(x.radix_next(root, 4n, 519n)).toBe(NONE);
    expect(x.radix_next(root, 520n, LIMIT)).toBe(keys[2]);
    expect(x.radix_next(root, keys[2] + 1n, 0xffff_ffff_ffff_ffffn)).toBe(LIMIT - 1n);
    expect(x.radix_next(root, LIMIT - 1n, LIMIT)).toBe(LIMIT - 1n);
    expect(x.radix_next(root, 10n, 10n)).toBe(NONE);
    expect(x.radix_next(root, 11n, 10n)).toBe(NONE);
    x.radix_destroy(root);
  });
});

describe('radix: ENOMEM changes nothing', () => {
  it('a store that needs more nodes than RAM has fails whole, keeping no frame, at every shortfall', async () => {
    const core = await createCore({ ramFrames: 256, maxVcpus: 1, hostCpus: 1 });
    const x = core.exports;
    const root = x.radix_create(OWNER);
    expect(x.radix_store(root, 5n, 55n, OWNER)).toBe(0);
    const far = 3n << 27n; // needs three new nodes
    for (const keep of [0, 1, 2]) {
      const release = exhaust(core, keep);
      expect(x.radix_store(root, far, 1n, OWNER)).toBe(-12);
      expect(x.phys_free_frames()).toBe(keep);
      expect(x.radix_lookup(root, far)).toBe(0n);
      expect(x.radix_next(root, 6n, LIMIT)).toBe(x.RADIX_NONE.value);
      // A store into an existing bottom node needs no frame.
      expect(x.radix_store(root, 6n, 66n, OWNER)).toBe(0);
      expect(x.radix_erase(root, 6n)).toBe(66n);
      release();
    }
    const release = exhaust(core, 3);
    expect(x.radix_store(root, far, 1n, OWNER)).toBe(0);
    expect(x.phys_free_frames()).toBe(0);
    release();
    expect(x.radix_lookup(root, 5n)).toBe(55n);
    expect(x.radix_lookup(root, far)).toBe(1n);
  });
});

describe('radix: random operations against a Map', () => {
  it('agrees with the model after every operation, and destroy returns every node', async () => {
    const core = await createCore({ ramFrames: 8192, maxVcpus: 1, hostCpus: 1 });
    const x = core.exports;
    const NONE = x.RADIX_NONE.value;
    // Indices cluster at a few bases so that nodes fill, empty and get shared.
    const index = fc.tuple(fc.constantFrom(0n, 1n << 18n, 1n << 27n, LIMIT - 1024n), fc.bigInt({ min: 0n, max: 1023n }))
      .map(([base, off]) => base + off);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('store' as const), index, value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
      fc.record({ kind: fc.constant('erase' as const), index }),
      fc.record({ kind: fc.constant('next' as const), index, span: fc.bigInt({ min: 0n, max: 1n << 30n }) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const free = x.phys_free_frames();
      const root = x.radix_create(OWNER);
      const model = new Map<bigint, bigint>();
      for (const o of ops) {
        if (o.kind === 'store') {
          expect(x.radix_store(root, o.index, o.value, OWNER)).toBe(0);
          if (o.value === 0n) model.delete(o.index); else model.set(o.index, o.value);
        } else if (o.kind === 'erase') {
          expect(x.radix_erase(root, o.index)).toBe(model.get(o.index) ?? 0n);
          model.delete(o.index);
        } else {
          expect(x.radix_next(root, o.index, o.index + o.span)).toBe(modelNext(model, o.index, o.index + o.span, NONE));
        }
        expect(x.radix_lookup(root, o.index)).toBe(model.get(o.index) ?? 0n);
      }
      // A full walk with radix_next visits exactly the model's keys, in order.
      const walked: bigint[] = [];
      for (let k = x.radix_next(root, 0n, LIMIT); k !== NONE; k = x.radix_next(root, k + 1n, LIMIT)) walked.push(k);
      expect(walked).toEqual([...model.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      // Erasing everything leaves the root alone; destroy gives it back too.
      for (const k of walked) x.radix_erase(root, k);
      expect(x.phys_free_frames()).toBe(free - 1);
      for (const k of model.keys()) x.radix_store(root, k, 1n, OWNER);
      x.radix_destroy(root);
      expect(x.phys_free_frames()).toBe(free);
    }), { numRuns: 150 });
  });
});

describe('radix: lock-free readers', () => {
  it('readers looking up while one writer stores never lose a value nor see a half-made path', async () => {
    const WORKERS = 4;
    const count = 3000;
    const core = await createCore({ ramFrames: 16384, maxVcpus: WORKERS, hostCpus: 4 });
    const x = core.exports;
    const free = x.phys_free_frames();
    const root = x.radix_create(OWNER);
    const barrier = new SharedArrayBuffer(4);
    const progress = new SharedArrayBuffer(4);
    const url = new URL('./radix.worker.mjs', import.meta.url);
    const errors = await Promise.all(Array.from({ length: WORKERS }, (_, index) => new Promise<number>((resolve, reject) => {
      const w = new Worker(url, { workerData: { module: core.module, memory: core.memory, barrier, progress, index, workers: WORKERS, root, count, owner: OWNER } });
      const timer = setTimeout(() => { void w.terminate(); reject(new Error(`worker ${index} timed out`)); }, 60_000);
      w.once('message', (m: { errors: number }) => { clearTimeout(timer); resolve(m.errors); void w.terminate(); });
      w.once('error', (e) => { clearTimeout(timer); reject(e); });
    })));
    expect(errors).toEqual(new Array(WORKERS).fill(0));
    let found = 0;
    for (let k = x.radix_next(root, 0n, LIMIT); k !== x.RADIX_NONE.value; k = x.radix_next(root, k + 1n, LIMIT)) found++;
    expect(found).toBe(count);
    // Scattered groups of 16: most groups had to publish a new path of nodes.
    expect(free - x.phys_free_frames()).toBeGreaterThan(count / 16);
    x.radix_destroy(root);
    expect(x.phys_free_frames()).toBe(free);
  });
});
