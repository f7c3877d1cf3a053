// A worker of the memslot publication test: worker 0 keeps moving, creating
// and deleting slots; the others resolve gfns locklessly with the seqcount
// rule of assembly/memslot.ts and check that what they read is one record.
import { parentPort, workerData } from 'node:worker_threads';
import v8 from 'node:v8';

v8.setFlagsFromString('--no-liftoff');
const { instantiate } = await import(new URL('../../build/gmemu.js', import.meta.url).href);
const { module, memory, index, vm, rounds, workers } = workerData;
const x = await instantiate(module, { env: { memory } });
if (x.machine_attach() !== 0) throw new Error('attach failed');
x.stats_select(1 + index);

const flags = new Int32Array(workerData.barrier);
Atomics.add(flags, 0, 1);
while (Atomics.load(flags, 0) < workers);

/** Every record the writer publishes derives its uaddr and pgoff from its base. */
const uaddrOf = (base) => 0x10_0000_0000n + base * 4096n;
const BASES = [0n, 24n, 40n, 8n, 56n];
let errors = 0;
let hits = 0;
let retries = 0;

if (index === 0) {
  for (let r = 0; r < rounds; r++) {
    const base = BASES[r % BASES.length];
    if (x.memslot_set(vm, 1, 0, base, 16n, uaddrOf(base), -1, base) !== 0) errors++;
    // A second slot comes and goes, so slot 1's index keeps changing.
    const other = base >= 32n ? 4n : 72n;
    if (r % 2 === 0) { if (x.memslot_set(vm, 2, 0, other, 4n, uaddrOf(other), -1, other) !== 0) errors++; }
    else if (x.memslot_delete(vm, 2) !== 0) errors++;
  }
  Atomics.store(flags, 1, 1);
} else {
  let k = index;
  while (Atomics.load(flags, 1) === 0) {
    const gfn = BigInt(k++ % 80);
    let gen, i, id, base, npages, uaddr, pgoff;
    for (;;) {
      gen = x.memslot_generation(vm);
      i = x.memslot_lookup_gfn(vm, gfn);
      if (i >= 0) {
        id = x.memslot_id(vm, i);
        base = x.memslot_base_gfn(vm, i);
        npages = x.memslot_npages(vm, i);
        uaddr = x.memslot_userspace_addr(vm, i);
        pgoff = x.memslot_gmem_pgoff(vm, i);
      }
      if (x.memslot_generation(vm) === gen) break;
      retries++;
    }
    if (i < 0) continue;
    hits++;
    if ((id !== 1 && id !== 2) || gfn < base || gfn >= base + npages || uaddr !== uaddrOf(base) || pgoff !== base) errors++;
  }
}
parentPort.postMessage({ errors, hits, retries });
