// A worker thread of the guest_memfd stress test: its own instance of the
// core over the shared machine, faulting in, allocating and punching pages of
// one file while the other workers do the same.
import { parentPort, workerData } from 'node:worker_threads';
import v8 from 'node:v8';

v8.setFlagsFromString('--no-liftoff');
const { instantiate } = await import(new URL('../../build/gmemu.js', import.meta.url).href);
const { module, memory, index, workers, id, pages, rounds } = workerData;
const x = await instantiate(module, { env: { memory } });
if (x.machine_attach() !== 0) throw new Error('attach failed');
x.stats_select(1 + index);

// Start together, so the first faults race.
const ready = new Int32Array(workerData.barrier);
Atomics.add(ready, 0, 1);
while (Atomics.load(ready, 0) < workers);

const words = new Int32Array(memory.buffer);
const ramBase = x.ram_base();
const NONE = x.PFN_NONE.value;
const block = pages / workers;
// Page 0 is shared by all; each worker owns the rest of its block.
const first = index === 0 ? 1 : index * block;
const end = (index + 1) * block;
const half = first + Math.floor((end - first) / 2);
let errors = 0;
let shared = NONE;

/**
 * Checks a page this worker owns and stamps it: a frame handed out twice shows
 * another stamp. A page is out of the direct map once it has been faulted in.
 */
function stampPage(pgoff, pfn, mapped) {
  const w = (ramBase + pfn * 4096) >> 2;
  const stamp = (index << 24) | pgoff;
  if (words[w] !== 0 && words[w] !== stamp) errors++;
  if (x.frame_owner(pfn) !== x.gmem_owner(id) || x.dmap_present(pfn) === mapped) errors++;
  words[w] = stamp;
  words[w + 1023] = stamp;
}

for (let r = 0; r < rounds; r++) {
  if (x.gmem_get_pfn(id, 0n) !== 0) errors++;
  if (shared === NONE) shared = x.gmem_pfn();
  else if (x.gmem_pfn() !== shared) errors++;

  if (x.gmem_allocate(id, BigInt(first), BigInt(half - first)) !== 0) errors++;
  for (let p = first; p < half; p++) {
    const pfn = x.gmem_lookup_pfn(id, BigInt(p));
    if (pfn === NONE) errors++;
    else stampPage(p, pfn, false);
  }
  for (let p = half; p < end; p += 3) {
    if (x.gmem_get_pfn(id, BigInt(p)) !== 0) { errors++; continue; }
    const pfn = x.gmem_pfn();
    stampPage(p, pfn, true);
    if (x.gmem_lookup_pfn(id, BigInt(p)) !== pfn) errors++;
  }
  for (let p = first; p < end; p++) {
    const pfn = x.gmem_lookup_pfn(id, BigInt(p));
    if (pfn === NONE) continue;
    const w = (ramBase + pfn * 4096) >> 2;
    if (words[w] !== ((index << 24) | p) || words[w + 1023] !== ((index << 24) | p)) errors++;
  }
  // Keep the last round's pages, so that the file ends with some.
  if (r < rounds - 1) {
    const expected = (half - first) + Math.ceil((end - half) / 3);
    if (x.gmem_punch(id, BigInt(first), BigInt(end - first)) !== BigInt(expected)) errors++;
  }
}
parentPort.postMessage({ errors });
