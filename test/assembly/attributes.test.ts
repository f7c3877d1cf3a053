import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CoreExports, createCore } from '../../src/core/wasm.js';

const ENOMEM = -12, EINVAL = -22;

async function core(ramFrames = 1024): Promise<CoreExports> {
  return (await createCore({ ramFrames, maxVcpus: 1, hostCpus: 1 })).exports;
}

describe('attributes: per-gfn memory attributes', () => {
  it('starts shared everywhere, sets and clears PRIVATE on a range, and keeps VMs apart', async () => {
    const x = await core();
    const P = x.KVM_MEMORY_ATTRIBUTE_PRIVATE.value;
    const a = x.vm_alloc();
    const b = x.vm_alloc();
    expect(x.attr_get(a, 0x100n)).toBe(0n);
    expect(x.attr_range_is(a, 0n, 1n << 40n, 0n)).toBe(true);
    expect(x.attr_set_range(a, 0x1f0n, 0x210n, P)).toBe(0);
    expect([0x1ef, 0x1f0, 0x200, 0x20f, 0x210].map((g) => x.attr_get(a, BigInt(g)))).toEqual([0n, P, P, P, 0n]);
    expect(x.attr_get(b, 0x200n)).toBe(0n);
    expect(x.attr_range_is(a, 0x1f0n, 0x210n, P)).toBe(true);
    expect(x.attr_range_is(a, 0x1efn, 0x210n, P)).toBe(false);
    expect(x.attr_range_is(a, 0x1f0n, 0x211n, P)).toBe(false);
    expect(x.attr_range_is(a, 0x1f0n, 0x210n, 0n)).toBe(false);
    expect(x.attr_range_is(a, 0x210n, 0x400n, 0n)).toBe(true);
    expect(x.attr_set_range(a, 0x200n, 0x208n, 0n)).toBe(0);
    expect([0x1ff, 0x200, 0x207, 0x208].map((g) => x.attr_get(a, BigInt(g)))).toEqual([P, 0n, 0n, P]);
  });

  it('refuses an empty range and an unknown VM with EINVAL', async () => {
    const x = await core();
    const P = x.KVM_MEMORY_ATTRIBUTE_PRIVATE.value;
    const vm = x.vm_alloc();
    expect(x.attr_set_range(vm, 5n, 5n, P)).toBe(EINVAL);
    expect(x.attr_set_range(vm + 1, 0n, 1n, P)).toBe(EINVAL);
    expect(x.attr_set_range(x.VM_MAX.value, 0n, 1n, 0n)).toBe(EINVAL);
    expect(x.attr_get(vm, 5n)).toBe(0n);
  });

  it('gives the nodes back when a range turns shared again, and on vm_free', async () => {
    const x = await core();
    const P = x.KVM_MEMORY_ATTRIBUTE_PRIVATE.value;
    const vm = x.vm_alloc();
    const free = x.phys_free_frames();
    expect(x.attr_set_range(vm, 0n, 2048n, P)).toBe(0);
    // root + one node per upper level + four bottom nodes
    expect(x.phys_free_frames()).toBe(free - 7);
    expect(x.attr_set_range(vm, 0n, 2048n, 0n)).toBe(0);
    expect(x.phys_free_frames()).toBe(free - 1);
    expect(x.attr_set_range(vm, 1n << 30n, (1n << 30n) + 3n, P)).toBe(0);
    x.vm_free(vm);
    expect(x.phys_free_frames()).toBe(free);
    expect(x.vm_alloc()).toBe(vm);
    expect(x.attr_get(vm, 1n << 30n)).toBe(0n);
  });

  it('is all or nothing: when RAM runs out, no gfn changed and no frame is kept', async () => {
    const x = await core(128);
    const P = x.KVM_MEMORY_ATTRIBUTE_PRIVATE.value;
    const vm = x.vm_alloc();
    expect(x.attr_set_range(vm, 0x300n, 0x302n, P)).toBe(0);
    const free = x.phys_free_frames();
    // Far more bottom nodes than free frames.
    expect(x.attr_set_range(vm, 0n, BigInt(512 * 4 * free), P)).toBe(ENOMEM);
    expect(x.phys_free_frames()).toBe(free);
    expect(x.attr_get(vm, 0n)).toBe(0n);
    expect(x.attr_get(vm, 0x300n)).toBe(P);
    expect(x.attr_get(vm, 0x302n)).toBe(0n);
    expect(x.attr_range_is(vm, 0x400n, BigInt(512 * 4 * free), 0n)).toBe(true);
    // Beyond the 2^36 gfns the tree indexes, only shared (absent) can be stored.
    expect(x.attr_set_range(vm, (1n << 36n) - 1n, (1n << 36n) + 1n, P)).toBe(ENOMEM);
    expect(x.attr_get(vm, (1n << 36n) - 1n)).toBe(0n);
    expect(x.attr_set_range(vm, 1n << 36n, 1n << 40n, 0n)).toBe(0);
  });

  it('matches a model over random set and clear ranges', async () => {
    const x = await core(4096);
    const P = x.KVM_MEMORY_ATTRIBUTE_PRIVATE.value;
    const vm = x.vm_alloc();
    const N = 1600;
    const op = fc.record({ start: fc.integer({ min: 0, max: N - 1 }), n: fc.integer({ min: 1, max: 700 }), priv: fc.boolean() });
    fc.assert(fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
      x.attr_set_range(vm, 0n, BigInt(N + 700), 0n);
      const model = new Uint8Array(N + 700);
      for (const o of ops) {
        expect(x.attr_set_range(vm, BigInt(o.start), BigInt(o.start + o.n), o.priv ? P : 0n)).toBe(0);
        model.fill(o.priv ? 1 : 0, o.start, o.start + o.n);
      }
      for (let g = 0; g < N + 700; g++) expect(x.attr_get(vm, BigInt(g))).toBe(model[g] ? P : 0n);
      for (const o of ops) {
        const all = model.subarray(o.start, o.start + o.n);
        expect(x.attr_range_is(vm, BigInt(o.start), BigInt(o.start + o.n), P)).toBe(all.every((v) => v === 1));
        expect(x.attr_range_is(vm, BigInt(o.start), BigInt(o.start + o.n), 0n)).toBe(all.every((v) => v === 0));
      }
    }), { numRuns: 60 });
  });
});
