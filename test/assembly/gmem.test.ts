import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { readCounters } from '../../src/core/stats.js';
import { type Core, createCore } from '../../src/core/wasm.js';

const PAGE = 4096;
const VM = 3;

/** Holds every free frame but `keep`; returns a function that gives them back. */
function exhaust(core: Core, keep: number): () => void {
  const x = core.exports;
  const held: number[] = [];
  while (x.phys_free_frames() > keep) held.push(x.frame_alloc(x.FrameKind.Anon, 1));
  return () => { for (const pfn of held) x.frame_put(pfn); };
}

function pageBytes(core: Core, pfn: number): Uint8Array {
  return new Uint8Array(core.memory.buffer, core.exports.ram_base() + pfn * PAGE, PAGE);
}

describe('gmem: inodes', () => {
  it('creates files with their size, flags and VM, and refuses a full table with ENFILE', async () => {
    const core = await createCore({ ramFrames: 2048, maxVcpus: 1, hostCpus: 1 });
    const x = core.exports;
    const free = x.phys_free_frames();
    const a = x.gmem_create(VM, 1n << 40n, x.GUEST_MEMFD_FLAG_MMAP.value | x.GUEST_MEMFD_FLAG_INIT_SHARED.value);
    expect(a).toBe(0);
    expect(x.gmem_size(a)).toBe(1n << 40n);
    expect(x.gmem_flags(a)).toBe(3n);
    expect(x.gmem_vm_id(a)).toBe(VM);
    expect(x.gmem_nr_pages(a)).toBe(0n);
    expect(x.gmem_refcount(a)).toBe(1);
    // The page cache's root is the only memory a new file takes, whatever its size.
    expect(x.phys_free_frames()).toBe(free - 1);
    const ids = [a];
    for (let id = x.gmem_create(VM, 4096n, 0n); id >= 0; id = x.gmem_create(VM, 4096n, 0n)) ids.push(id);
    expect(ids.length).toBe(x.GMEM_MAX_FILES.value);
    expect(new Set(ids).size).toBe(ids.length);
    expect(x.gmem_create(VM, 4096n, 0n)).toBe(-23);
    expect(x.gmem_put(ids[7])).toBe(true);
    expect(x.gmem_size(ids[7])).toBe(0n);
    expect(x.gmem_get(ids[7])).toBe(-9);
    expect(x.gmem_create(VM, 8192n, 0n)).toBe(ids[7]);
    for (const id of ids) x.gmem_put(id);
    expect(x.phys_free_frames()).toBe(free);
    expect(x.gmem_get(x.GMEM_MAX_FILES.value)).toBe(-9);
  });

  it('fails with ENOMEM and takes no slot when the root cannot be allocated', async () => {
    const core = await createCore({ ramFrames: 256, maxVcpus: 1, hostCpus: 1 });
    const x = core.exports;
    const release = exhaust(core, 0);
    expect(x.gmem_create(VM, 4096n, 0n)).toBe(-12);
    release();
    expect(x.gmem_create(VM, 4096n, 0n)).toBe(0);
  });
});

describe('gmem: the page cache', async () => {
  const core = await createCore({ ramFrames: 4096, maxVcpus: 1, hostCpus: 4 });
  const x = core.exports;

  it('faults pages in zeroed, once, as guest_memfd frames of the file, and only within i_size', () => {
    const id = x.gmem_create(VM, 16n * 4096n, 0n);
    expect(x.gmem_lookup_pfn(id, 5n)).toBe(x.PFN_NONE.value);
    expect(x.gmem_get_pfn(id, 5n)).toBe(0);
    const pfn = x.gmem_pfn();
    expect(x.frame_kind(pfn)).toBe(x.FrameKind.GuestMemfd);
    expect(x.frame_owner(pfn)).toBe(x.gmem_owner(id));
    expect(x.gmem_owner(id)).toBe(x.GMEM_OWNER_BASE.value + id);
    expect(pageBytes(core, pfn).every((b) => b === 0)).toBe(true);
    pageBytes(core, pfn).fill(0xab);
    expect(x.gmem_get_pfn(id, 5n)).toBe(0);
    expect(x.gmem_pfn()).toBe(pfn);
    expect(x.gmem_lookup_pfn(id, 5n)).toBe(pfn);
    expect(x.gmem_nr_pages(id)).toBe(1n);
    expect(x.gmem_get_pfn(id, 15n)).toBe(0);
    expect(x.gmem_get_pfn(id, 16n)).toBe(-22);
    expect(x.gmem_get_pfn(id, 1n << 40n)).toBe(-22);
    expect(x.gmem_nr_pages(id)).toBe(2n);
    expect(x.gmem_get_pfn(x.GMEM_MAX_FILES.value - 1, 0n)).toBe(-9);
    x.gmem_put(id);
  });

  it('a file larger than the 256 TiB the cache indexes works below that and refuses pages beyond with EFBIG', () => {
    const limit = x.RADIX_INDEX_LIMIT.value;
    const id = x.gmem_create(VM, 1n << 50n, 0n);
    expect(x.gmem_get_pfn(id, limit - 1n)).toBe(0);
    expect(x.gmem_get_pfn(id, limit)).toBe(-27);
    expect(x.gmem_allocate(id, limit - 1n, 2n)).toBe(-27);
    expect(x.gmem_lookup_pfn(id, limit)).toBe(x.PFN_NONE.value);
    expect(x.gmem_punch(id, limit - 1n, 1n << 40n)).toBe(1n);
    expect(x.gmem_nr_pages(id)).toBe(0n);
    x.gmem_put(id);
  });

  it('fallocate keeps present pages, punch frees them and the next fault reads zero', () => {
    const free = x.phys_free_frames();
    x.stats_reset();
    const id = x.gmem_create(VM, 1024n * 4096n, 0n);
    expect(x.gmem_get_pfn(id, 10n)).toBe(0);
    const kept = x.gmem_pfn();
    pageBytes(core, kept).fill(0xcd);
    expect(x.gmem_allocate(id, 0n, 600n)).toBe(0);
    expect(x.gmem_nr_pages(id)).toBe(600n);
    expect(x.gmem_lookup_pfn(id, 10n)).toBe(kept);
    expect(pageBytes(core, kept)[100]).toBe(0xcd);
    expect(x.gmem_lookup_pfn(id, 600n)).toBe(x.PFN_NONE.value);
    const pfns = Array.from({ length: 600 }, (_, i) => x.gmem_lookup_pfn(id, BigInt(i)));
    expect(new Set(pfns).size).toBe(600);
    // At and past i_size: EINVAL, nothing allocated.
    expect(x.gmem_allocate(id, 1000n, 25n)).toBe(-22);
    expect(x.gmem_allocate(id, 1025n, 0n)).toBe(-22);
    expect(x.gmem_allocate(id, 1n, 0xffff_ffff_ffff_ffffn)).toBe(-22);
    expect(x.gmem_nr_pages(id)).toBe(600n);
    // Punch a hole across present and absent pages, and past i_size.
    const neighbour = x.gmem_lookup_pfn(id, 11n);
    pageBytes(core, neighbour).fill(0xee);
    expect(x.gmem_punch(id, 0n, 11n)).toBe(11n);
    expect(x.gmem_punch(id, 0n, 11n)).toBe(0n);
    expect(x.gmem_punch(id, 590n, 1n << 50n)).toBe(10n);
    expect(x.gmem_nr_pages(id)).toBe(579n);
    expect(x.gmem_lookup_pfn(id, 10n)).toBe(x.PFN_NONE.value);
    expect(pageBytes(core, neighbour)[0]).toBe(0xee);
    expect(x.gmem_get_pfn(id, 10n)).toBe(0);
    expect(pageBytes(core, x.gmem_pfn()).every((b) => b === 0)).toBe(true);
    const c = readCounters(core);
    expect(c.gmem_page_alloc).toBe(601);
    expect(c.gmem_page_free).toBe(21);
    expect(c.dmap_invalid_noflush + c.dmap_default_noflush).toBe(0);
    x.gmem_put(id);
    expect(x.phys_free_frames()).toBe(free);
  });

  it('frees every page and node only with the last reference', () => {
    const free = x.phys_free_frames();
    x.stats_reset();
    const id = x.gmem_create(VM, 1n << 30n, x.GUEST_MEMFD_FLAG_MMAP.value);
    // Pages spread over the whole gigabyte, so that the cache needs many nodes.
    for (let i = 0n; i < 262144n; i += 1000n) expect(x.gmem_get_pfn(id, i)).toBe(0);
    expect(x.gmem_allocate(id, 262144n - 512n, 512n)).toBe(0);
    const pages = Number(x.gmem_nr_pages(id));
    expect(x.phys_free_frames()).toBeLessThan(free - pages);
    expect(x.gmem_get(id)).toBe(0);
    expect(x.gmem_get(id)).toBe(0);
    expect(x.gmem_refcount(id)).toBe(3);
    expect(x.gmem_put(id)).toBe(false);
    expect(x.gmem_put(id)).toBe(false);
    expect(x.gmem_nr_pages(id)).toBe(BigInt(pages));
    expect(x.gmem_put(id)).toBe(true);
    expect(x.phys_free_frames()).toBe(free);
    const c = readCounters(core);
    expect(c.gmem_page_alloc).toBe(pages);
    expect(c.gmem_page_free).toBe(pages);
    expect(x.gmem_nr_pages(id)).toBe(0n);
  });
});

describe('gmem: NO_DIRECT_MAP', () => {
  it('zaps a page from the direct map, with a kernel-range flush, when it is first mapped, and restores it before the free', async () => {
    const core = await createCore({ ramFrames: 4096, maxVcpus: 1, hostCpus: 4 });
    const x = core.exports;
    const free = x.phys_free_frames();
    x.stats_reset();
    const secret = x.gmem_create(VM, 64n * 4096n, x.GUEST_MEMFD_FLAG_NO_DIRECT_MAP.value);
    const plain = x.gmem_create(VM, 64n * 4096n, 0n);
    // fallocate maps nothing: its pages stay in the direct map.
    expect(x.gmem_allocate(secret, 0n, 40n)).toBe(0);
    for (let i = 0n; i < 40n; i++) expect(x.dmap_present(x.gmem_lookup_pfn(secret, i))).toBe(true);
    expect(readCounters(core).dmap_invalid_noflush).toBe(0);
    // Fault-in of pages 0..19 (fallocated) and 50 (absent): each is zapped once.
    for (let round = 0; round < 2; round++) {
      for (let i = 0n; i < 20n; i++) expect(x.gmem_get_pfn(secret, i)).toBe(0);
      expect(x.gmem_get_pfn(secret, 50n)).toBe(0);
    }
    expect(x.gmem_allocate(plain, 0n, 8n)).toBe(0);
    for (let i = 0n; i < 8n; i++) expect(x.gmem_get_pfn(plain, i)).toBe(0);
    for (let i = 0n; i < 20n; i++) expect(x.dmap_present(x.gmem_lookup_pfn(secret, i))).toBe(false);
    for (let i = 20n; i < 40n; i++) expect(x.dmap_present(x.gmem_lookup_pfn(secret, i))).toBe(true);
    expect(x.dmap_present(x.gmem_lookup_pfn(secret, 50n))).toBe(false);
    for (let i = 0n; i < 8n; i++) expect(x.dmap_present(x.gmem_lookup_pfn(plain, i))).toBe(true);
    let c = readCounters(core);
    expect(c.dmap_invalid_noflush).toBe(21);
    expect(c.dmap_flush_kernel_range).toBe(21);
    expect(c.dmap_flush_invlpg).toBe(21);
    expect(c.dmap_cpu_invlpg).toBe(21 * 4);
    expect(c.dmap_default_noflush).toBe(0);
    // Punch 10 zapped and 10 never-mapped pages: only the zapped ones go back.
    const zapped = Array.from({ length: 10 }, (_, i) => x.gmem_lookup_pfn(secret, BigInt(10 + i)));
    expect(x.gmem_punch(secret, 10n, 20n)).toBe(20n);
    for (const pfn of zapped) expect(x.dmap_present(pfn)).toBe(true);
    c = readCounters(core);
    expect(c.dmap_default_noflush).toBe(10);
    expect(c.dmap_flush_kernel_range).toBe(21);
    const held = [...Array.from({ length: 10 }, (_, i) => x.gmem_lookup_pfn(secret, BigInt(i))), x.gmem_lookup_pfn(secret, 50n)];
    expect(x.gmem_put(secret)).toBe(true);
    for (const pfn of held) expect(x.dmap_present(pfn)).toBe(true);
    c = readCounters(core);
    expect(c.dmap_default_noflush).toBe(21);
    x.gmem_put(plain);
    // Only the direct map's split tables stay allocated.
    expect(x.phys_free_frames()).toBe(free - c.dmap_pt_page);
  });
});

describe('gmem: ENOMEM is all or nothing', () => {
  it('a fallocate that runs out of RAM part-way leaves the cache as it was', async () => {
    const core = await createCore({ ramFrames: 1024, maxVcpus: 1, hostCpus: 1 });
    const x = core.exports;
    const id = x.gmem_create(VM, 4096n * 4096n, 0n);
    expect(x.gmem_allocate(id, 100n, 20n)).toBe(0);
    const before = Array.from({ length: 20 }, (_, i) => x.gmem_lookup_pfn(id, BigInt(100 + i)));
    for (const pfn of before) pageBytes(core, pfn).fill(0x5a);
    x.stats_reset();
    const release = exhaust(core, 50);
    expect(x.gmem_allocate(id, 90n, 100n)).toBe(-12);
    expect(x.phys_free_frames()).toBe(50);
    expect(x.gmem_nr_pages(id)).toBe(20n);
    expect(x.gmem_lookup_pfn(id, 90n)).toBe(x.PFN_NONE.value);
    expect(x.gmem_lookup_pfn(id, 125n)).toBe(x.PFN_NONE.value);
    before.forEach((pfn, i) => {
      expect(x.gmem_lookup_pfn(id, BigInt(100 + i))).toBe(pfn);
      expect(pageBytes(core, pfn)[4095]).toBe(0x5a);
    });
    const c = readCounters(core);
    expect(c.gmem_page_alloc).toBe(c.gmem_page_free);
    expect(c.gmem_page_alloc).toBeGreaterThan(0);
    // Short of one page-cache node: the fault-in fails and keeps nothing.
    release();
    const far = 4000n; // a bottom node of its own
    const release2 = exhaust(core, 1);
    expect(x.gmem_get_pfn(id, far)).toBe(-12);
    expect(x.phys_free_frames()).toBe(1);
    release2();
    expect(x.gmem_get_pfn(id, far)).toBe(0);
    // With enough RAM the same call succeeds whole.
    expect(x.gmem_allocate(id, 90n, 100n)).toBe(0);
    expect(x.gmem_nr_pages(id)).toBe(101n);
  });

  it('a NO_DIRECT_MAP fault-in whose direct-map split finds no table page fails and leaves the page cached and mapped', async () => {
    const core = await createCore({ ramFrames: 4096, maxVcpus: 1, hostCpus: 2 });
    const x = core.exports;
    const id = x.gmem_create(VM, 16n * 4096n, x.GUEST_MEMFD_FLAG_NO_DIRECT_MAP.value);
    expect(x.gmem_allocate(id, 0n, 4n)).toBe(0);
    const pfn = x.gmem_lookup_pfn(id, 0n);
    expect(x.dmap_mapping_shift(pfn)).toBe(21);
    const release = exhaust(core, 0);
    expect(x.gmem_get_pfn(id, 0n)).toBe(-12);
    expect(x.gmem_lookup_pfn(id, 0n)).toBe(pfn);
    expect(x.dmap_present(pfn)).toBe(true);
    expect(x.gmem_nr_pages(id)).toBe(4n);
    release();
    expect(x.gmem_get_pfn(id, 0n)).toBe(0);
    expect(x.gmem_pfn()).toBe(pfn);
    expect(x.dmap_present(pfn)).toBe(false);
    expect(x.dmap_mapping_shift(pfn)).toBe(12);
  });
});

describe('gmem: Lock.Gmem under contention', () => {
  const WORKERS = 4;
  it('workers faulting in, allocating and punching one file never see a page twice, and every frame comes back', async () => {
    const core = await createCore({ ramFrames: 8192, maxVcpus: WORKERS, hostCpus: 4 });
    const x = core.exports;
    const free = x.phys_free_frames();
    const pages = 2048;
    const id = x.gmem_create(VM, BigInt(pages * PAGE), x.GUEST_MEMFD_FLAG_NO_DIRECT_MAP.value);
    const url = new URL('./gmem.worker.mjs', import.meta.url);
    const barrier = new SharedArrayBuffer(4);
    const rounds = 30;
    const errors = await Promise.all(Array.from({ length: WORKERS }, (_, index) => new Promise<number>((resolve, reject) => {
      const w = new Worker(url, { workerData: { module: core.module, memory: core.memory, barrier, index, workers: WORKERS, id, pages, rounds } });
      const timer = setTimeout(() => { void w.terminate(); reject(new Error(`worker ${index} timed out: deadlock?`)); }, 60_000);
      w.once('message', (m: { errors: number }) => { clearTimeout(timer); resolve(m.errors); void w.terminate(); });
      w.once('error', (e) => { clearTimeout(timer); reject(e); });
    })));
    expect(errors).toEqual(new Array(WORKERS).fill(0));
    const present: number[] = [];
    for (let i = 0n; i < BigInt(pages); i++) {
      const pfn = x.gmem_lookup_pfn(id, i);
      if (pfn !== x.PFN_NONE.value) present.push(pfn);
    }
    expect(BigInt(present.length)).toBe(x.gmem_nr_pages(id));
    expect(new Set(present).size).toBe(present.length);
    const c = readCounters(core);
    // Each worker faulted in and punched about 340 pages a round.
    expect(c.gmem_page_alloc).toBeGreaterThan(WORKERS * rounds * 300);
    expect(c.gmem_page_alloc - c.gmem_page_free).toBe(present.length);
    // Out of the direct map: exactly the pages that were faulted in.
    const zapped = present.filter((pfn) => !x.dmap_present(pfn)).length;
    expect(zapped).toBeGreaterThan(0);
    expect(zapped).toBeLessThan(present.length);
    expect(c.dmap_invalid_noflush - c.dmap_default_noflush).toBe(zapped);
    expect(x.gmem_put(id)).toBe(true);
    expect(x.phys_free_frames()).toBe(free - readCounters(core).dmap_pt_page);
  });
});
