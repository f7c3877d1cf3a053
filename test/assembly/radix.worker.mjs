// A worker thread of the radix tree's lock-free reader test: worker 0 stores
// (the only writer, so it needs no lock), the others look up at the same time.
import { parentPort, workerData } from 'node:worker_threads';
import v8 from 'node:v8';

v8.setFlagsFromString('--no-liftoff');
const { instantiate } = await import(new URL('../../build/gmemu.js', import.meta.url).href);
const { module, memory, index, workers, root, count, owner } = workerData;
const x = await instantiate(module, { env: { memory } });
if (x.machine_attach() !== 0) throw new Error('attach failed');
x.stats_select(1 + index);

const ready = new Int32Array(workerData.barrier);
Atomics.add(ready, 0, 1);
while (Atomics.load(ready, 0) < workers);

/**
 * Keys in groups of 16 per bottom node, the groups scattered over the index
 * space: the first store of a group publishes new nodes, the others fill
 * nodes that readers are already walking.
 */
const key = (i) => ((((BigInt(i) >> 4n) * 0x9e3779b1n) & ((1n << 27n) - 1n)) << 9n) | (BigInt(i & 15) * 31n);
const value = (k) => (k << 8n) | 0x5an;
// Slot 0: stores done by the writer.
const progress = new Int32Array(workerData.progress);
let errors = 0;

if (index === 0) {
  for (let i = 0; i < count; i++) {
    if (x.radix_store(root, key(i), value(key(i)), owner) !== 0) errors++;
    Atomics.store(progress, 0, i + 1);
  }
} else {
  let seed = 0x2545f491 + index;
  const rand = (n) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
  for (;;) {
    const done = Atomics.load(progress, 0);
    // A stored value never vanishes while other stores publish nodes around it.
    if (done > 0) {
      const k = key(rand(done));
      if (x.radix_lookup(root, k) !== value(k)) errors++;
      if (x.radix_next(root, k, k + 1n) !== k) errors++;
    }
    // A value not yet announced is either absent or complete, never garbage.
    if (done < count) {
      const k = key(done + rand(count - done));
      const v = x.radix_lookup(root, k);
      if (v !== 0n && v !== value(k)) errors++;
    } else {
      break;
    }
  }
}
parentPort.postMessage({ errors });
