// A worker thread of the lock stress tests: attaches its own instance of the
// core to the shared machine and hammers one lock-protected operation.
import { parentPort, workerData } from 'node:worker_threads';
import v8 from 'node:v8';

v8.setFlagsFromString('--no-liftoff');
const { instantiate } = await import(new URL('../../build/gmemu.js', import.meta.url).href);
const { module, memory, index, task, rounds, batch, firstPfn } = workerData;
const x = await instantiate(module, { env: { memory } });
if (x.machine_attach() !== 0) throw new Error('attach failed');
x.stats_select(1 + index);

// Start together: a worker that starts late would find every race decided.
const ready = new Int32Array(workerData.barrier);
Atomics.add(ready, 0, 1);
while (Atomics.load(ready, 0) < workerData.workers);

const ramBase = x.ram_base();
const words = new Int32Array(memory.buffer);
let errors = 0;

if (task === 'phys') {
  // Each frame this worker holds carries the worker's stamp in every word it
  // checks: a frame handed out twice would show another worker's stamp.
  const stamp = 0x1000 + index;
  const held = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < batch; i++) {
      const pfn = x.frame_alloc(x.FrameKind.Anon, stamp);
      if (pfn === x.PFN_NONE.value) continue;
      const w = (ramBase + pfn * 4096) >> 2;
      if (words[w] !== 0 || words[w + 1023] !== 0) errors++;
      words[w] = stamp;
      words[w + 1023] = stamp;
      held.push(pfn);
    }
    for (const pfn of held) {
      const w = (ramBase + pfn * 4096) >> 2;
      if (words[w] !== stamp || words[w + 1023] !== stamp || x.frame_owner(pfn) !== stamp) errors++;
      x.frame_put(pfn);
    }
    held.length = 0;
  }
} else if (task === 'directmap') {
  // Every worker flips its own frames of each 2 MiB region in and out of the
  // direct map: only the first change of a region may split it.
  const { workers, regions } = workerData;
  for (let r = 0; r < rounds; r++) {
    // Slot j * workers + index of every region is this worker's alone; the
    // workers go through the regions in the same order, so they race for
    // each region's first change.
    for (let j = 0; j * workers + index < 512; j++) {
      for (let region = 0; region < regions; region++) {
        const pfn = firstPfn + region * 512 + j * workers + index;
        if (x.set_direct_map_invalid_noflush(pfn) !== 0) errors++;
        if (x.dmap_present(pfn)) errors++;
        if (x.set_direct_map_default_noflush(pfn) !== 0) errors++;
        if (!x.dmap_present(pfn)) errors++;
      }
    }
  }
}
parentPort.postMessage({ errors });
