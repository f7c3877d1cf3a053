import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CoreExports, createCore } from '../../src/core/wasm.js';

const KVM_MEM_LOG_DIRTY_PAGES = 1;
const NO_GMEM = -1;

async function core(): Promise<CoreExports> {
  return (await createCore({ ramFrames: 256, maxVcpus: 1, hostCpus: 1 })).exports;
}

/** A plain slot: uaddr derived from the base so that tests can tell records apart. */
function setPlain(x: CoreExports, vm: number, id: number, base: number, npages: number, flags = 0): number {
  return x.memslot_set(vm, id, flags, BigInt(base), BigInt(npages), BigInt(0x7f00_0000_0000 + base * 4096), NO_GMEM, 0n);
}

/** The slot ids of the active set, in table order. */
function ids(x: CoreExports, vm: number): number[] {
  return Array.from({ length: x.memslot_count(vm) }, (_, i) => x.memslot_id(vm, i));
}

describe('memslot: VM records', () => {
  it('allocates VM_MAX VMs, then ENOMEM; a freed VM comes back empty', async () => {
    const x = await core();
    const vms = Array.from({ length: x.VM_MAX.value }, () => x.vm_alloc());
    expect(new Set(vms).size).toBe(x.VM_MAX.value);
    expect(vms.every((v) => v >= 0)).toBe(true);
    expect(x.vm_alloc()).toBe(-12);
    expect(setPlain(x, vms[5], 1, 0x100, 16)).toBe(0);
    x.vm_free(vms[5]);
    expect(x.memslot_count(vms[5])).toBe(0);
    expect(x.memslot_lookup_gfn(vms[5], 0x100n)).toBe(-1);
    expect(setPlain(x, vms[5], 1, 0x100, 16)).toBe(-22);
    expect(x.vm_alloc()).toBe(vms[5]);
    expect(x.memslot_count(vms[5])).toBe(0);
    expect(x.memslot_generation(vms[5])).toBe(0);
  });

  it('keeps the memslots of two VMs apart', async () => {
    const x = await core();
    const a = x.vm_alloc();
    const b = x.vm_alloc();
    expect(setPlain(x, a, 0, 0, 16)).toBe(0);
    expect(setPlain(x, b, 0, 32, 16)).toBe(0);
    expect(x.memslot_lookup_gfn(a, 5n)).toBe(0);
    expect(x.memslot_lookup_gfn(b, 5n)).toBe(-1);
    expect(x.memslot_lookup_gfn(b, 40n)).toBe(0);
    expect(x.memslot_lookup_gfn(a, 40n)).toBe(-1);
  });
});

describe('memslot: create, move, flags, delete', () => {
  it('records every field and keeps the table sorted by base gfn whatever the creation order', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    expect(x.memslot_set(vm, 7, 4, 0x300n, 0x10n, 0x7000_0000n, 3, 0x20n)).toBe(0);
    expect(setPlain(x, vm, 2, 0x100, 0x10)).toBe(0);
    expect(setPlain(x, vm, 9, 0x200, 0x10, KVM_MEM_LOG_DIRTY_PAGES)).toBe(0);
    expect(ids(x, vm)).toEqual([2, 9, 7]);
    const i = x.memslot_find(vm, 7);
    expect(i).toBe(2);
    expect(x.memslot_flags(vm, i)).toBe(4);
    expect(x.memslot_base_gfn(vm, i)).toBe(0x300n);
    expect(x.memslot_npages(vm, i)).toBe(0x10n);
    expect(x.memslot_userspace_addr(vm, i)).toBe(0x7000_0000n);
    expect(x.memslot_gmem_file(vm, i)).toBe(3);
    expect(x.memslot_gmem_pgoff(vm, i)).toBe(0x20n);
    expect(x.memslot_gmem_file(vm, x.memslot_find(vm, 2))).toBe(NO_GMEM);
    expect(x.memslot_find(vm, 8)).toBe(-1);
  });

  it('resolves a gfn to its slot at both ends, and nothing in gaps or past the end', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    setPlain(x, vm, 1, 0x100, 0x10);
    setPlain(x, vm, 2, 0x110, 0x10); // adjacent
    setPlain(x, vm, 3, 0x200, 1);
    const at = (gfn: number): number => { const i = x.memslot_lookup_gfn(vm, BigInt(gfn)); return i < 0 ? -1 : x.memslot_id(vm, i); };
    expect([0, 0xff, 0x100, 0x10f, 0x110, 0x11f, 0x120, 0x1ff, 0x200, 0x201].map(at))
      .toEqual([-1, -1, 1, 1, 2, 2, -1, -1, 3, -1]);
    expect(x.memslot_lookup_gfn(vm, 0xffff_ffff_ffff_ffffn)).toBe(-1);
  });

  it('moves a slot by replacing its record, and changes only the flags of a flags-only update', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    setPlain(x, vm, 1, 0x100, 0x10);
    setPlain(x, vm, 2, 0x200, 0x10);
    expect(setPlain(x, vm, 1, 0x300, 0x10)).toBe(0);
    expect(x.memslot_count(vm)).toBe(2);
    expect(ids(x, vm)).toEqual([2, 1]);
    expect(x.memslot_lookup_gfn(vm, 0x100n)).toBe(-1);
    expect(x.memslot_id(vm, x.memslot_lookup_gfn(vm, 0x305n))).toBe(1);
    expect(setPlain(x, vm, 1, 0x300, 0x10, KVM_MEM_LOG_DIRTY_PAGES)).toBe(0);
    expect(x.memslot_flags(vm, x.memslot_find(vm, 1))).toBe(KVM_MEM_LOG_DIRTY_PAGES);
    expect(x.memslot_count(vm)).toBe(2);
  });

  it('deletes a slot; deleting a missing slot is EINVAL and publishes nothing', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    setPlain(x, vm, 1, 0x100, 0x10);
    setPlain(x, vm, 2, 0x200, 0x10);
    const gen = x.memslot_generation(vm);
    expect(x.memslot_delete(vm, 1)).toBe(0);
    expect(x.memslot_generation(vm)).toBe(gen + 1);
    expect(ids(x, vm)).toEqual([2]);
    expect(x.memslot_lookup_gfn(vm, 0x100n)).toBe(-1);
    expect(x.memslot_delete(vm, 1)).toBe(-22);
    expect(x.memslot_delete(vm, 77)).toBe(-22);
    expect(x.memslot_generation(vm)).toBe(gen + 1);
    expect(x.memslot_delete(vm, 2)).toBe(0);
    expect(x.memslot_count(vm)).toBe(0);
  });

  it('refuses an empty slot and an unknown VM with EINVAL', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    expect(setPlain(x, vm, 1, 0x100, 0)).toBe(-22);
    expect(setPlain(x, vm + 1, 1, 0x100, 1)).toBe(-22);
    expect(setPlain(x, x.VM_MAX.value, 1, 0x100, 1)).toBe(-22);
    expect(x.memslot_delete(vm + 1, 1)).toBe(-22);
    expect(x.memslot_count(vm)).toBe(0);
    expect(x.memslot_generation(vm)).toBe(0);
  });

  it('holds MEMSLOTS_MAX slots: one more is ENOSPC, but a slot already there can still move', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    const max = x.MEMSLOTS_MAX.value;
    // Created from the top down, so every insertion lands at the front.
    for (let s = max - 1; s >= 0; s--) expect(setPlain(x, vm, 32763 - s, s * 4, 2)).toBe(0);
    expect(x.memslot_count(vm)).toBe(max);
    const gen = x.memslot_generation(vm);
    expect(setPlain(x, vm, 5000, max * 4, 2)).toBe(-28);
    expect(x.memslot_generation(vm)).toBe(gen);
    expect(setPlain(x, vm, 32763, max * 4, 2)).toBe(0);
    expect(x.memslot_count(vm)).toBe(max);
    expect(x.memslot_id(vm, max - 1)).toBe(32763);
    expect(x.memslot_lookup_gfn(vm, 0n)).toBe(-1);
    expect(x.memslot_id(vm, x.memslot_lookup_gfn(vm, 5n))).toBe(32762);
    expect(x.memslot_delete(vm, 32762)).toBe(0);
    expect(setPlain(x, vm, 5000, 0, 2)).toBe(0);
    expect(x.memslot_id(vm, 0)).toBe(5000);
  });
});

describe('memslot: overlap and guest_memfd binding rules', () => {
  it('finds overlaps (exact, partial, superset, inside) but not adjacency, per address space, except the moving slot', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    setPlain(x, vm, 1, 0x100, 0x10);
    const ov = (base: number, n: number, as = 0, except = 0xffff_ffff): boolean =>
      x.memslot_overlaps(vm, as, BigInt(base), BigInt(n), except);
    expect(ov(0x100, 0x10)).toBe(true);
    expect(ov(0xf8, 0x10)).toBe(true);
    expect(ov(0x10f, 1)).toBe(true);
    expect(ov(0x80, 0x100)).toBe(true);
    expect(ov(0x104, 2)).toBe(true);
    expect(ov(0xf0, 0x10)).toBe(false);
    expect(ov(0x110, 0x10)).toBe(false);
    expect(ov(0x100, 0x10, 1)).toBe(false);
    expect(ov(0x108, 0x10, 0, 1)).toBe(false);
  });

  it('keeps address space 1 out of gfn lookups of address space 0 and out of its order', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    const smm = (1 << 16) | 0;
    expect(setPlain(x, vm, smm, 0x0, 0x100)).toBe(0);
    expect(setPlain(x, vm, 0, 0x200, 0x10)).toBe(0);
    expect(ids(x, vm)).toEqual([0, smm]);
    expect(x.memslot_lookup_gfn(vm, 0x50n)).toBe(-1);
    expect(x.memslot_overlaps(vm, 1, 0x50n, 1n, 0xffff_ffff)).toBe(true);
    expect(x.memslot_overlaps(vm, 0, 0x50n, 1n, 0xffff_ffff)).toBe(false);
    expect(x.memslot_id(vm, x.memslot_lookup_gfn(vm, 0x20fn))).toBe(0);
  });

  it('finds guest_memfd page ranges already bound to another slot of the same file', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    expect(x.memslot_set(vm, 1, 4, 0x100n, 0x10n, 0n, 5, 0x20n)).toBe(0);
    const bound = (file: number, pgoff: number, n: number, except = 0xffff_ffff): boolean =>
      x.memslot_gmem_bound(vm, file, BigInt(pgoff), BigInt(n), except);
    expect(bound(5, 0x20, 0x10)).toBe(true);
    expect(bound(5, 0x2f, 1)).toBe(true);
    expect(bound(5, 0x18, 0x9)).toBe(true);
    expect(bound(5, 0x30, 0x10)).toBe(false);
    expect(bound(5, 0x10, 0x10)).toBe(false);
    expect(bound(6, 0x20, 0x10)).toBe(false);
    expect(bound(5, 0x20, 0x10, 1)).toBe(false);
    expect(x.memslot_delete(vm, 1)).toBe(0);
    expect(bound(5, 0x20, 0x10)).toBe(false);
  });
});

describe('memslot: publication', () => {
  it('builds each change in the inactive set and flips the active one with the generation', async () => {
    const c = await createCore({ ramFrames: 256, maxVcpus: 1, hostCpus: 1 });
    const x = c.exports;
    const vm = x.vm_alloc();
    setPlain(x, vm, 1, 0x100, 0x10);
    const gen = x.memslot_generation(vm);
    // Scribble on the inactive set: readers of the active set never see it.
    const view = new DataView(c.memory.buffer);
    const vmBase = Number(view.getUint32(x.header_ptr() + x.Hdr.OffVms, true)) + vm * x.VM_STRIDE.value;
    const setBytes = x.MEMSLOTS_MAX.value * x.MEMSLOT_BYTES.value;
    const inactive = vmBase + x.VM_HEADER_BYTES.value + ((gen & 1) ^ 1) * setBytes;
    new Uint8Array(c.memory.buffer, inactive, setBytes).fill(0xee);
    expect(x.memslot_id(vm, x.memslot_lookup_gfn(vm, 0x100n))).toBe(1);
    expect(setPlain(x, vm, 2, 0x200, 0x10)).toBe(0);
    expect(x.memslot_generation(vm)).toBe(gen + 1);
    expect(ids(x, vm)).toEqual([1, 2]);
    expect(x.memslot_base_gfn(vm, 0)).toBe(0x100n);
  });

  it('matches a model of the slot table over random creates, moves and deletes', async () => {
    const x = await core();
    const vm = x.vm_alloc();
    const op = fc.record({ del: fc.boolean(), id: fc.integer({ min: 0, max: 7 }), base: fc.integer({ min: 0, max: 60 }), n: fc.integer({ min: 1, max: 6 }) });
    fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      for (const id of ids(x, vm)) x.memslot_delete(vm, id);
      const model = new Map<number, { base: number; n: number }>();
      for (const o of ops) {
        if (o.del) {
          expect(x.memslot_delete(vm, o.id)).toBe(model.delete(o.id) ? 0 : -22);
        } else if (!x.memslot_overlaps(vm, 0, BigInt(o.base), BigInt(o.n), o.id)) {
          expect(setPlain(x, vm, o.id, o.base, o.n)).toBe(0);
          model.set(o.id, { base: o.base, n: o.n });
        }
        const bases = ids(x, vm).map((_, i) => Number(x.memslot_base_gfn(vm, i)));
        expect(bases).toEqual([...bases].sort((a, b) => a - b));
        expect(x.memslot_count(vm)).toBe(model.size);
        for (let gfn = 0; gfn < 68; gfn++) {
          const want = [...model].find(([, s]) => gfn >= s.base && gfn < s.base + s.n)?.[0] ?? -1;
          const i = x.memslot_lookup_gfn(vm, BigInt(gfn));
          expect(i < 0 ? -1 : x.memslot_id(vm, i)).toBe(want);
        }
      }
    }), { numRuns: 200 });
  });
});

describe('memslot: lockless readers under a writer', () => {
  it('a reader that follows the seqcount rule only ever sees whole records', async () => {
    const { Worker } = await import('node:worker_threads');
    const WORKERS = 4;
    const c = await createCore({ ramFrames: 256, maxVcpus: WORKERS, hostCpus: WORKERS });
    const vm = c.exports.vm_alloc();
    const barrier = new SharedArrayBuffer(8);
    const url = new URL('./memslot.worker.mjs', import.meta.url);
    const results = await Promise.all(Array.from({ length: WORKERS }, (_, index) =>
      new Promise<{ errors: number; hits: number; retries: number }>((resolve, reject) => {
        const w = new Worker(url, { workerData: { module: c.module, memory: c.memory, barrier, index, vm, rounds: 20_000, workers: WORKERS } });
        const timer = setTimeout(() => { void w.terminate(); reject(new Error(`worker ${index} timed out`)); }, 30_000);
        w.once('message', (m) => { clearTimeout(timer); resolve(m); void w.terminate(); });
        w.once('error', (e) => { clearTimeout(timer); reject(e); });
      })));
    expect(results.map((r) => r.errors)).toEqual(new Array(WORKERS).fill(0));
    expect(results.slice(1).every((r) => r.hits > 0)).toBe(true);
    expect(c.exports.memslot_generation(vm)).toBe(40_000);
  }, 60_000);
});
