import { beforeAll, describe, expect, it } from 'vitest';
import { createCore, type Core } from '../../src/core/wasm.js';

const MiB = 1 << 20;
const FRAMES_2M = 512;
const FRAMES_1G = 512 * 512;

// x86-64 entry bits (SDM vol. 3A, 4.5) and the address field, bits 51:12.
const P = 1n;
const RW = 2n;
const A = 0x20n;
const D = 0x40n;
const PS = 0x80n;
const G = 0x100n;
const NX = 1n << 63n;
const ADDR = 0x000f_ffff_ffff_f000n;
const PAGE_KERNEL = P | RW | A | D | G | NX;
const KERNPG_TABLE = P | RW | A | D;

/** What a test needs to read the direct map's tables and counters straight from memory. */
function view(core: Core) {
  const x = core.exports;
  const hdr = x.header_ptr();
  const u32 = () => new Uint32Array(core.memory.buffer);
  const u64 = () => new BigUint64Array(core.memory.buffer);
  const n1g = u32()[(hdr + x.Hdr.Dmap1gCount) >> 2];
  const off = u32()[(hdr + x.Hdr.OffDmap) >> 2];
  return {
    x,
    pudPfn: () => u32()[(hdr + x.Hdr.DmapPudPfn) >> 2],
    lazyVmap: () => u32()[(hdr + x.Hdr.DmapLazyVmap) >> 2],
    /** Table pfn recorded for a 1 GiB / 2 MiB region, or DMAP_NOT_SPLIT. */
    table1g: (g: number) => u32()[(off >> 2) + g],
    table2m: (r: number) => u32()[(off >> 2) + n1g + r],
    entry: (tablePfn: number, index: number) => u64()[(x.ram_base() + tablePfn * 4096) / 8 + index],
    stat: (name: keyof typeof x.Stat) => Number(x.stats_read(0, x.Stat[name])),
  };
}

type View = ReturnType<typeof view>;

const DMAP_COUNTERS = [
  'DmapInvalidNoflush', 'DmapDefaultNoflush', 'DmapSetMemoryNp', 'DmapSetMemoryP', 'DmapPteUpdate',
  'DmapSplit2m', 'DmapSplit1g', 'DmapPtPage', 'DmapVmapPurge', 'DmapFlushSplit', 'DmapFlushPurge',
  'DmapFlushCpa', 'DmapFlushKernelRange', 'DmapFlushFull', 'DmapFlushInvlpg', 'DmapIpi', 'DmapCpuInvlpg',
  'DmapCpuFullFlush', 'DmapCacheFlushBytes', 'DmapCacheFlushAll', 'DmapKernelFault',
] as const;

/** Runs `op` and returns the change of every direct-map counter (zeros left out). */
function counted(v: View, op: () => void): Record<string, number> {
  const before = DMAP_COUNTERS.map((n) => v.stat(n));
  op();
  const delta: Record<string, number> = {};
  DMAP_COUNTERS.forEach((n, i) => {
    const d = v.stat(n) - before[i];
    if (d !== 0) delta[n] = d;
  });
  return delta;
}

/** The entry of a non-present page: L1TF inversion of the address bits. */
function nonPresent(pfn: number, flags: bigint): bigint {
  return (ADDR ^ (BigInt(pfn) << 12n)) | flags;
}

function present(pfn: number, flags: bigint): bigint {
  return (BigInt(pfn) << 12n) | flags;
}

async function machine(ramBytes: number, hostCpus: number): Promise<View> {
  return view(await createCore({ ramFrames: ramBytes / 4096, maxVcpus: 1, hostCpus }, true));
}

describe('directmap: boot mappings', () => {
  it('maps RAM below 1 GiB with 2 MiB leaves under one PMD table', async () => {
    const v = await machine(16 * MiB, 4);
    const { x } = v;
    const pud = v.pudPfn();
    const pmd = v.table1g(0);
    expect(x.frame_kind(pud)).toBe(x.FrameKind.PageTable);
    expect(x.frame_kind(pmd)).toBe(x.FrameKind.PageTable);
    expect(v.entry(pud, 0)).toBe(present(pmd, KERNPG_TABLE));
    expect(v.entry(pud, 1)).toBe(0n);
    for (let r = 0; r < 8; r++) {
      expect(v.entry(pmd, r)).toBe(present(r * FRAMES_2M, PAGE_KERNEL | PS));
      expect(v.table2m(r)).toBe(x.DMAP_NOT_SPLIT.value);
    }
    expect(v.entry(pmd, 8)).toBe(0n);
    for (const pfn of [0, 511, 512, 4095]) {
      expect(x.dmap_mapping_shift(pfn)).toBe(21);
      expect(x.dmap_present(pfn)).toBe(true);
    }
    expect(x.dmap_mapping_shift(4096)).toBe(0);
    expect(x.dmap_present(4096)).toBe(false);
    // Boot tables are not splits.
    expect(v.stat('DmapSplit2m') + v.stat('DmapSplit1g') + v.stat('DmapPtPage')).toBe(0);
  });

  it('maps a last partial 2 MiB region with 4 KiB entries', async () => {
    const v = await machine(4 * MiB + 3 * 4096, 1);
    const { x } = v;
    const pte = v.table2m(2);
    expect(pte).not.toBe(x.DMAP_NOT_SPLIT.value);
    expect(v.entry(v.table1g(0), 2)).toBe(present(pte, KERNPG_TABLE));
    for (let i = 0; i < 3; i++) expect(v.entry(pte, i)).toBe(present(1024 + i, PAGE_KERNEL));
    expect(v.entry(pte, 3)).toBe(0n);
    expect(x.dmap_mapping_shift(1023)).toBe(21);
    expect(x.dmap_mapping_shift(1024)).toBe(12);
    expect(x.dmap_mapping_shift(1026)).toBe(12);
  });

  it('refuses a RAM too small to hold its own tables', async () => {
    await expect(createCore({ ramFrames: 2, maxVcpus: 1, hostCpus: 1 })).rejects.toThrow(/ENOMEM/);
  });
});

describe('directmap: above 1 GiB (1 GiB + 4 MiB of RAM, 4 host CPUs)', () => {
  let v: View;
  beforeAll(async () => {
    v = await machine(1024 * MiB + 4 * MiB, 4);
  });

  it('maps the first GiB with one 1 GiB leaf and the rest with 2 MiB leaves', () => {
    const { x } = v;
    const pud = v.pudPfn();
    expect(v.entry(pud, 0)).toBe(PAGE_KERNEL | PS);
    expect(v.table1g(0)).toBe(x.DMAP_NOT_SPLIT.value);
    const pmd = v.table1g(1);
    expect(v.entry(pud, 1)).toBe(present(pmd, KERNPG_TABLE));
    expect(v.entry(pmd, 0)).toBe(present(FRAMES_1G, PAGE_KERNEL | PS));
    expect(v.entry(pmd, 1)).toBe(present(FRAMES_1G + FRAMES_2M, PAGE_KERNEL | PS));
    expect(v.entry(pmd, 2)).toBe(0n);
    expect(x.dmap_mapping_shift(0)).toBe(30);
    expect(x.dmap_mapping_shift(FRAMES_1G - 1)).toBe(30);
    expect(x.dmap_mapping_shift(FRAMES_1G)).toBe(21);
  });

  it('splits twice and flushes twice for a 4 KiB change inside the 1 GiB leaf', () => {
    const { x } = v;
    const pfn = 3 * FRAMES_2M + 7;
    let ret = 0;
    const d = counted(v, () => { ret = x.set_direct_map_invalid_noflush(pfn); });
    expect(ret).toBe(0);
    expect(d).toEqual({
      DmapInvalidNoflush: 1, DmapSplit1g: 1, DmapSplit2m: 1, DmapPtPage: 2, DmapPteUpdate: 1,
      DmapFlushSplit: 2, DmapFlushFull: 2, DmapIpi: 2 * 3, DmapCpuFullFlush: 2 * 4,
    });
    // The PUD entry now points at a PMD table of 2 MiB leaves...
    const pmd = v.table1g(0);
    expect(v.entry(v.pudPfn(), 0)).toBe(present(pmd, KERNPG_TABLE));
    expect(v.entry(pmd, 0)).toBe(present(0, PAGE_KERNEL | PS));
    expect(v.entry(pmd, 511)).toBe(present(511 * FRAMES_2M, PAGE_KERNEL | PS));
    // ...one of which points at a PTE table of 4 KiB entries.
    const pte = v.table2m(3);
    expect(v.table2m(2)).toBe(x.DMAP_NOT_SPLIT.value);
    expect(v.entry(pmd, 3)).toBe(present(pte, KERNPG_TABLE));
    expect(v.entry(pte, 6)).toBe(present(pfn - 1, PAGE_KERNEL));
    // Invalid clears P, RW and D; a non-present entry also loses G and has its address inverted.
    expect(v.entry(pte, 7)).toBe(nonPresent(pfn, A | NX));
    expect(x.dmap_present(pfn)).toBe(false);
    expect(x.dmap_present(pfn - 1)).toBe(true);
    expect(x.dmap_present(pfn + 1)).toBe(true);
    expect(x.dmap_mapping_shift(pfn)).toBe(12);
    expect(x.dmap_mapping_shift(0)).toBe(21);
    expect(x.dmap_mapping_shift(FRAMES_1G - 1)).toBe(21);

    const back = counted(v, () => { ret = x.set_direct_map_default_noflush(pfn); });
    expect(ret).toBe(0);
    expect(back).toEqual({ DmapDefaultNoflush: 1, DmapPteUpdate: 1 });
    // Default sets P and RW back; D and G stay off, as in Linux.
    expect(v.entry(pte, 7)).toBe(present(pfn, P | RW | A | NX));
    expect(x.dmap_present(pfn)).toBe(true);
  });

  it('splits the 2 MiB leaves on both sides of a range crossing the GiB boundary', () => {
    const { x } = v;
    const pfn = FRAMES_1G - 1;
    expect(v.table1g(0)).not.toBe(x.DMAP_NOT_SPLIT.value);
    // The first GiB is already a PMD table (previous test); its last 2 MiB leaf and the
    // first one of the second GiB are split: two tables, two split flushes.
    const d = counted(v, () => expect(x.set_memory_np(pfn, 2)).toBe(0));
    expect(d.DmapSplit2m).toBe(2);
    expect(d.DmapSplit1g ?? 0).toBe(0);
    expect(d.DmapPtPage).toBe(2);
    expect(d.DmapFlushSplit).toBe(2);
    expect(d.DmapPteUpdate).toBe(2);
    expect(d.DmapFlushCpa).toBe(1);
    expect(x.dmap_present(pfn)).toBe(false);
    expect(x.dmap_present(pfn + 1)).toBe(false);
    expect(x.dmap_present(pfn + 2)).toBe(true);
    expect(x.set_memory_p(pfn, 2)).toBe(0);
    expect(x.dmap_present(pfn)).toBe(true);
    expect(x.dmap_present(pfn + 1)).toBe(true);
  });

  it('fails with ENOMEM, changing nothing, when the second of two splits cannot get a page', async () => {
    const w = await machine(1024 * MiB + 4 * MiB, 4);
    const { x } = w;
    const held: number[] = [];
    while (x.phys_free_frames() > 1) held.push(x.frame_alloc(x.FrameKind.Anon, 1));
    const pud = w.entry(w.pudPfn(), 0);
    const d = counted(w, () => expect(x.set_direct_map_invalid_noflush(5)).toBe(-12));
    expect(d).toEqual({});
    expect(w.entry(w.pudPfn(), 0)).toBe(pud);
    expect(w.table1g(0)).toBe(x.DMAP_NOT_SPLIT.value);
    expect(x.phys_free_frames()).toBe(1);
    expect(x.dmap_present(5)).toBe(true);
    expect(x.dmap_mapping_shift(5)).toBe(30);
    // With the second page back, the same call succeeds.
    x.frame_put(held.pop()!);
    expect(x.set_direct_map_invalid_noflush(5)).toBe(0);
    expect(x.phys_free_frames()).toBe(0);
    expect(x.dmap_present(5)).toBe(false);
  });
});

describe('directmap: which calls flush, how often and why (16 MiB, 4 host CPUs)', () => {
  let v: View;
  beforeAll(async () => {
    v = await machine(16 * MiB, 4);
  });

  it('set_memory_np: purge, split with its flush, then one INVLPG flush', () => {
    const { x } = v;
    const d = counted(v, () => expect(x.set_memory_np(100, 1)).toBe(0));
    expect(d).toEqual({
      DmapSetMemoryNp: 1, DmapVmapPurge: 1, DmapSplit2m: 1, DmapPtPage: 1, DmapPteUpdate: 1,
      DmapFlushSplit: 1, DmapFlushFull: 1, DmapCpuFullFlush: 4,
      DmapFlushCpa: 1, DmapFlushInvlpg: 1, DmapCpuInvlpg: 4,
      DmapIpi: 2 * 3,
    });
    // set_memory_np clears P only; G goes with it, RW and D stay.
    expect(v.entry(v.table2m(0), 100)).toBe(nonPresent(100, RW | A | D | NX));
    expect(x.dmap_present(100)).toBe(false);
  });

  it('set_memory_p: no split the second time, one INVLPG flush, P back', () => {
    const { x } = v;
    const d = counted(v, () => expect(x.set_memory_p(100, 1)).toBe(0));
    expect(d).toEqual({
      DmapSetMemoryP: 1, DmapVmapPurge: 1, DmapPteUpdate: 1,
      DmapFlushCpa: 1, DmapFlushInvlpg: 1, DmapCpuInvlpg: 4, DmapIpi: 3,
    });
    expect(v.entry(v.table2m(0), 100)).toBe(present(100, P | RW | A | D | NX));
    expect(x.dmap_present(100)).toBe(true);
  });

  it('does no final flush when no entry changed, but still purges', () => {
    const { x } = v;
    // Already present, in a split region and in a 2 MiB leaf.
    expect(counted(v, () => expect(x.set_memory_p(100, 1)).toBe(0))).toEqual({ DmapSetMemoryP: 1, DmapVmapPurge: 1 });
    expect(counted(v, () => expect(x.set_memory_p(1000, 3)).toBe(0))).toEqual({ DmapSetMemoryP: 1, DmapVmapPurge: 1 });
    expect(x.dmap_mapping_shift(1000)).toBe(21);
  });

  it('the purge flushes every CPU only when lazily freed vmap areas are pending', () => {
    const { x } = v;
    x.dmap_vmap_lazy_free(3);
    expect(v.lazyVmap()).toBe(3);
    const d = counted(v, () => expect(x.set_memory_p(100, 1)).toBe(0));
    expect(d).toEqual({
      DmapSetMemoryP: 1, DmapVmapPurge: 1, DmapFlushPurge: 1, DmapFlushFull: 1, DmapCpuFullFlush: 4, DmapIpi: 3,
    });
    expect(v.lazyVmap()).toBe(0);
    // The _noflush forms do not purge.
    x.dmap_vmap_lazy_free(1);
    expect(counted(v, () => x.set_direct_map_invalid_noflush(101))).toEqual({ DmapInvalidNoflush: 1, DmapPteUpdate: 1 });
    expect(v.lazyVmap()).toBe(1);
    expect(counted(v, () => x.set_direct_map_default_noflush(101))).toEqual({ DmapDefaultNoflush: 1, DmapPteUpdate: 1 });
    expect(counted(v, () => x.set_memory_np(101, 1)).DmapFlushPurge).toBe(1);
    expect(x.set_memory_p(101, 1)).toBe(0);
  });

  it('flushes with INVLPG up to 33 pages and with a full flush above', () => {
    const { x } = v;
    // Region 0 (pfns 0..511) is split already, so no split flush gets in the way.
    const d33 = counted(v, () => expect(x.set_memory_np(200, 33)).toBe(0));
    expect(d33).toEqual({
      DmapSetMemoryNp: 1, DmapVmapPurge: 1, DmapPteUpdate: 33,
      DmapFlushCpa: 1, DmapFlushInvlpg: 1, DmapCpuInvlpg: 33 * 4, DmapIpi: 3,
    });
    const d34 = counted(v, () => expect(x.set_memory_p(200, 34)).toBe(0));
    // One page of the 34 was present already: 33 entries change, the flush follows the request size.
    expect(d34).toEqual({
      DmapSetMemoryP: 1, DmapVmapPurge: 1, DmapPteUpdate: 33,
      DmapFlushCpa: 1, DmapFlushFull: 1, DmapCpuFullFlush: 4, DmapIpi: 3,
    });
    for (let pfn = 200; pfn < 234; pfn++) expect(x.dmap_present(pfn)).toBe(true);
  });

  it('flush_tlb_kernel_range: INVLPG per page up to 33, full above', () => {
    const { x } = v;
    expect(counted(v, () => x.flush_tlb_kernel_range(0, 33))).toEqual({
      DmapFlushKernelRange: 1, DmapFlushInvlpg: 1, DmapCpuInvlpg: 33 * 4, DmapIpi: 3,
    });
    expect(counted(v, () => x.flush_tlb_kernel_range(0, 34))).toEqual({
      DmapFlushKernelRange: 1, DmapFlushFull: 1, DmapCpuFullFlush: 4, DmapIpi: 3,
    });
    expect(x.TLB_SINGLE_PAGE_FLUSH_CEILING.value).toBe(33);
  });

  it('the _noflush forms flush only when they split, and split a region once', () => {
    const { x } = v;
    const first = counted(v, () => expect(x.set_direct_map_invalid_noflush(3 * FRAMES_2M + 1)).toBe(0));
    expect(first).toEqual({
      DmapInvalidNoflush: 1, DmapSplit2m: 1, DmapPtPage: 1, DmapPteUpdate: 1,
      DmapFlushSplit: 1, DmapFlushFull: 1, DmapCpuFullFlush: 4, DmapIpi: 3,
    });
    const second = counted(v, () => expect(x.set_direct_map_invalid_noflush(3 * FRAMES_2M + 2)).toBe(0));
    expect(second).toEqual({ DmapInvalidNoflush: 1, DmapPteUpdate: 1 });
    // Default on a page that is present inside a 2 MiB leaf changes nothing and splits nothing.
    expect(counted(v, () => expect(x.set_direct_map_default_noflush(4 * FRAMES_2M)).toBe(0)))
      .toEqual({ DmapDefaultNoflush: 1 });
    expect(x.dmap_mapping_shift(4 * FRAMES_2M)).toBe(21);
    // Invalid on a page already invalid changes nothing.
    expect(counted(v, () => x.set_direct_map_invalid_noflush(3 * FRAMES_2M + 2))).toEqual({ DmapInvalidNoflush: 1 });
    x.set_direct_map_default_noflush(3 * FRAMES_2M + 1);
    x.set_direct_map_default_noflush(3 * FRAMES_2M + 2);
  });

  it('rewrites a whole 2 MiB leaf in place instead of splitting it', () => {
    const { x } = v;
    const base = 5 * FRAMES_2M;
    const pmd = v.table1g(0);
    const d = counted(v, () => expect(x.set_memory_np(base, FRAMES_2M)).toBe(0));
    expect(d).toEqual({
      DmapSetMemoryNp: 1, DmapVmapPurge: 1, DmapPteUpdate: 1,
      DmapFlushCpa: 1, DmapFlushFull: 1, DmapCpuFullFlush: 4, DmapIpi: 3,
    });
    // A non-present PMD: no PS, no G, address inverted over bits 51:12.
    expect(v.entry(pmd, 5)).toBe(nonPresent(base, RW | A | D | NX));
    expect(v.table2m(5)).toBe(x.DMAP_NOT_SPLIT.value);
    expect(x.dmap_mapping_shift(base + 17)).toBe(21);
    expect(x.dmap_present(base)).toBe(false);
    expect(x.dmap_present(base + 511)).toBe(false);
    expect(x.dmap_present(base + 512)).toBe(true);
    // Bringing one page back splits the non-present leaf; its neighbours stay out.
    expect(x.set_memory_p(base + 9, 1)).toBe(0);
    expect(x.dmap_mapping_shift(base + 9)).toBe(12);
    expect(x.dmap_present(base + 9)).toBe(true);
    expect(x.dmap_present(base + 8)).toBe(false);
    expect(v.entry(v.table2m(5), 8)).toBe(nonPresent(base + 8, RW | A | D | NX));
    expect(v.entry(v.table2m(5), 9)).toBe(present(base + 9, P | RW | A | D | NX));
    expect(x.set_memory_p(base, FRAMES_2M)).toBe(0);
    for (let i = 0; i < FRAMES_2M; i++) expect(x.dmap_present(base + i)).toBe(true);
  });

  it('round trips over a range across 2 MiB regions restore presence', () => {
    const { x } = v;
    const start = 6 * FRAMES_2M + 500;
    expect(x.set_memory_np(start, 30)).toBe(0);
    for (let i = 0; i < 30; i++) expect(x.dmap_present(start + i)).toBe(false);
    expect(x.dmap_present(start - 1)).toBe(true);
    expect(x.dmap_present(start + 30)).toBe(true);
    expect(x.set_memory_p(start, 30)).toBe(0);
    for (let i = -1; i <= 30; i++) expect(x.dmap_present(start + i)).toBe(true);
    for (let i = 0; i < 5; i++) expect(x.set_direct_map_invalid_noflush(start + i)).toBe(0);
    for (let i = 0; i < 5; i++) expect(x.set_direct_map_default_noflush(start + i)).toBe(0);
    for (let i = 0; i < 5; i++) expect(x.dmap_present(start + i)).toBe(true);
  });

  it('dmap_kernel_access faults exactly on non-present frames', () => {
    const { x } = v;
    expect(x.set_direct_map_invalid_noflush(300)).toBe(0);
    const d = counted(v, () => {
      for (let pfn = 290; pfn < 310; pfn++) expect(x.dmap_kernel_access(pfn)).toBe(pfn === 300 ? -14 : 0);
    });
    expect(d).toEqual({ DmapKernelFault: 1 });
    expect(x.set_direct_map_default_noflush(300)).toBe(0);
    expect(x.dmap_kernel_access(300)).toBe(0);
    expect(x.dmap_kernel_access(4096)).toBe(-22);
  });

  it('rejects out-of-range frames with EINVAL before changing anything', () => {
    const { x } = v;
    const d = counted(v, () => {
      expect(x.set_memory_np(4096, 1)).toBe(-22);
      expect(x.set_memory_np(4000, 97)).toBe(-22);
      expect(x.set_memory_p(0xffffffff, 2)).toBe(-22);
      expect(x.set_direct_map_invalid_noflush(4096)).toBe(-22);
      expect(x.set_direct_map_default_noflush(-1 >>> 0)).toBe(-22);
    });
    expect(d).toEqual({});
    expect(x.set_memory_np(4000, 96)).toBe(0);
    expect(x.set_memory_p(4000, 96)).toBe(0);
  });

  it('never flushes data caches', () => {
    expect(v.stat('DmapCacheFlushBytes')).toBe(0);
    expect(v.stat('DmapCacheFlushAll')).toBe(0);
  });
});

describe('directmap: ENOMEM on a split (16 MiB)', () => {
  it('leaves entries, tables, the lazy vmap count and the counters unchanged', async () => {
    const v = await machine(16 * MiB, 4);
    const { x } = v;
    const held: number[] = [];
    for (;;) {
      const pfn = x.frame_alloc(x.FrameKind.Anon, 1);
      if (pfn === x.PFN_NONE.value) break;
      held.push(pfn);
    }
    x.dmap_vmap_lazy_free(2);
    const pmd = v.table1g(0);
    const leaf = v.entry(pmd, 2);
    const d = counted(v, () => {
      expect(x.set_memory_np(2 * FRAMES_2M + 5, 1)).toBe(-12);
      expect(x.set_direct_map_invalid_noflush(2 * FRAMES_2M + 5)).toBe(-12);
    });
    expect(d).toEqual({});
    expect(v.entry(pmd, 2)).toBe(leaf);
    expect(v.table2m(2)).toBe(x.DMAP_NOT_SPLIT.value);
    expect(v.lazyVmap()).toBe(2);
    expect(x.dmap_present(2 * FRAMES_2M + 5)).toBe(true);
    // Changes that need no table still work with RAM exhausted.
    expect(x.set_memory_np(2 * FRAMES_2M, FRAMES_2M)).toBe(0);
    expect(x.dmap_present(2 * FRAMES_2M + 5)).toBe(false);
    expect(v.lazyVmap()).toBe(0);
    x.frame_put(held[0]);
    expect(x.set_memory_p(2 * FRAMES_2M + 5, 1)).toBe(0);
    expect(x.dmap_present(2 * FRAMES_2M + 5)).toBe(true);
    expect(x.dmap_mapping_shift(2 * FRAMES_2M + 5)).toBe(12);
  });
});

describe('directmap: IPIs per flush follow the number of host CPUs', () => {
  for (const cpus of [1, 4, 64]) {
    it(`${cpus} host CPU(s)`, async () => {
      const v = await machine(8 * MiB, cpus);
      const { x } = v;
      // One split flush (full) and one final flush (one INVLPG) per CPU.
      const np = counted(v, () => expect(x.set_memory_np(10, 1)).toBe(0));
      expect(np.DmapIpi ?? 0).toBe(2 * (cpus - 1));
      expect(np.DmapCpuFullFlush).toBe(cpus);
      expect(np.DmapCpuInvlpg).toBe(cpus);
      const p = counted(v, () => expect(x.set_memory_p(10, 40)).toBe(0));
      expect(p.DmapIpi ?? 0).toBe(cpus - 1);
      expect(p.DmapCpuFullFlush).toBe(cpus);
      expect(p.DmapFlushFull).toBe(1);
      const noflush = counted(v, () => expect(x.set_direct_map_invalid_noflush(11)).toBe(0));
      expect(noflush.DmapIpi ?? 0).toBe(0);
      const range = counted(v, () => x.flush_tlb_kernel_range(11, 1));
      expect(range.DmapIpi ?? 0).toBe(cpus - 1);
      expect(range.DmapCpuInvlpg).toBe(cpus);
    });
  }
});
