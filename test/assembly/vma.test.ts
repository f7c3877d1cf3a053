import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCounters } from '../../src/core/stats.js';
import { type Core, type CoreExports, createCore } from '../../src/core/wasm.js';

const P = 4096;
const R = 1, W = 2, X = 4;
const BASE = 0x7f00_0000_0000;
const EBADF = -9, ENOMEM = -12, EACCES = -13, EFAULT = -14, EINVAL = -22;
const MMAP = 1n, INIT_SHARED = 2n, NO_DIRECT_MAP = 4n;

async function machine(ramFrames = 1024): Promise<Core> {
  return createCore({ ramFrames, maxVcpus: 1, hostCpus: 1 });
}

const at = (page: number): bigint => BigInt(BASE + page * P);
const pages = (n: number): bigint => BigInt(n * P);

/** [start page, end page, prot, kind] of every VMA, relative to BASE. */
function vmas(x: CoreExports): [number, number, number, number][] {
  return Array.from({ length: x.vma_count() }, (_, i) => [
    (Number(x.vma_start(i)) - BASE) / P, (Number(x.vma_end(i)) - BASE) / P, x.vma_prot(i), x.vma_kind(i),
  ]);
}

function mapAnon(x: CoreExports, page: number, n: number, prot: number, kind?: number): number {
  return x.vma_map(at(page), pages(n), prot, kind ?? x.VmaKind.Anon, -1, 0n);
}

describe('vma: mapping, splitting and merging', () => {
  it('maps an anonymous range and finds it by any address inside', async () => {
    const { exports: x } = await machine();
    expect(mapAnon(x, 0, 4, R | W)).toBe(0);
    expect(vmas(x)).toEqual([[0, 4, R | W, x.VmaKind.Anon]]);
    expect(x.vma_find(at(0))).toBe(0);
    expect(x.vma_find(at(4) - 1n)).toBe(0);
    expect(x.vma_find(at(4))).toBe(-1);
    expect(x.vma_find(at(0) - 1n)).toBe(-1);
    expect(x.vma_file(0)).toBe(-1);
  });

  it('refuses unaligned, empty and out-of-user-space ranges and unknown kinds, changing nothing', async () => {
    const { exports: x } = await machine();
    const task = x.TASK_SIZE.value;
    expect(x.vma_map(at(0) + 1n, pages(1), R, x.VmaKind.Anon, -1, 0n)).toBe(EINVAL);
    expect(x.vma_map(at(0), 100n, R, x.VmaKind.Anon, -1, 0n)).toBe(EINVAL);
    expect(x.vma_map(at(0), 0n, R, x.VmaKind.Anon, -1, 0n)).toBe(EINVAL);
    expect(x.vma_map(task - pages(1), pages(2), R, x.VmaKind.Anon, -1, 0n)).toBe(EINVAL);
    expect(x.vma_map(task - pages(1), pages(1), R, x.VmaKind.Anon, -1, 0n)).toBe(0);
    expect(x.vma_map(at(0), pages(1), R, 3, -1, 0n)).toBe(EINVAL);
    expect(x.vma_map(at(0), pages(1), R, x.VmaKind.GuestMemfd, 5, 0n)).toBe(EBADF);
    expect(x.vma_unmap(at(0), 0n)).toBe(EINVAL);
    expect(x.vma_protect(at(0) + 8n, pages(1), R)).toBe(EINVAL);
    expect(x.vma_count()).toBe(1);
  });

  it('merges neighbours that agree and keeps apart those that do not', async () => {
    const { exports: x } = await machine();
    mapAnon(x, 0, 2, R | W);
    mapAnon(x, 2, 2, R | W);
    expect(vmas(x)).toEqual([[0, 4, R | W, 0]]);
    mapAnon(x, 4, 2, R);
    mapAnon(x, 8, 2, R); // a hole between
    expect(vmas(x)).toEqual([[0, 4, R | W, 0], [4, 6, R, 0], [8, 10, R, 0]]);
    mapAnon(x, 6, 2, R); // fills the hole: three become one
    expect(vmas(x)).toEqual([[0, 4, R | W, 0], [4, 10, R, 0]]);
    mapAnon(x, 10, 1, R, x.VmaKind.KvmProtected);
    expect(x.vma_count()).toBe(3);
  });

  it('unmaps the middle of a VMA into two, trims across VMAs, and ignores holes', async () => {
    const { exports: x } = await machine();
    mapAnon(x, 0, 8, R | W);
    expect(x.vma_unmap(at(3), pages(2))).toBe(0);
    expect(vmas(x)).toEqual([[0, 3, R | W, 0], [5, 8, R | W, 0]]);
    expect(x.vma_pgoff(1)).toBe(at(5) >> 12n);
    expect(x.vma_unmap(at(2), pages(4))).toBe(0);
    expect(vmas(x)).toEqual([[0, 2, R | W, 0], [6, 8, R | W, 0]]);
    expect(x.vma_unmap(at(20), pages(4))).toBe(0);
    expect(x.vma_unmap(at(0), pages(8))).toBe(0);
    expect(x.vma_count()).toBe(0);
  });

  it('maps over existing VMAs like MAP_FIXED: what it covers goes, with its pages', async () => {
    const { exports: x } = await machine();
    mapAnon(x, 0, 4, R | W);
    mapAnon(x, 4, 4, R);
    for (let p = 0; p < 8; p++) expect(x.vmm_touch(at(p), false)).toBe(0);
    expect(x.mm_rss()).toBe(8n);
    expect(mapAnon(x, 2, 4, R | W | X)).toBe(0);
    expect(vmas(x)).toEqual([[0, 2, R | W, 0], [2, 6, R | W | X, 0], [6, 8, R, 0]]);
    expect(x.mm_rss()).toBe(4n);
    expect(x.mm_lookup_pfn(at(1))).not.toBe(x.PFN_NONE.value);
    expect(x.mm_lookup_pfn(at(2))).toBe(x.PFN_NONE.value);
    expect(x.mm_lookup_pfn(at(6))).not.toBe(x.PFN_NONE.value);
  });

  it('mprotect splits at both edges and merges back when the rights match again', async () => {
    const { exports: x } = await machine();
    mapAnon(x, 0, 8, R | W);
    expect(x.vma_protect(at(2), pages(3), R)).toBe(0);
    expect(vmas(x)).toEqual([[0, 2, R | W, 0], [2, 5, R, 0], [5, 8, R | W, 0]]);
    expect(x.vma_protect(at(0), pages(8), R)).toBe(0);
    expect(vmas(x)).toEqual([[0, 8, R, 0]]);
    expect(x.vma_protect(at(0), pages(8), R | W)).toBe(0);
    expect(vmas(x)).toEqual([[0, 8, R | W, 0]]);
  });

  it('mprotect of a range with a hole is ENOMEM, and of guest_memfd memory with PROT_EXEC EACCES; nothing changes', async () => {
    const { exports: x } = await machine();
    mapAnon(x, 0, 2, R | W);
    mapAnon(x, 3, 2, R | W);
    expect(x.vma_protect(at(0), pages(5), R)).toBe(ENOMEM);
    expect(x.vma_protect(at(5), pages(1), R)).toBe(ENOMEM);
    const f = x.gmem_create(0, pages(4), MMAP | INIT_SHARED);
    expect(x.vma_map(at(5), pages(4), R | W, x.VmaKind.GuestMemfd, f, 0n)).toBe(0);
    expect(x.vma_protect(at(3), pages(4), R | X)).toBe(EACCES);
    expect(vmas(x)).toEqual([[0, 2, R | W, 0], [3, 5, R | W, 0], [5, 9, R | W, 1]]);
    expect(x.vma_protect(at(3), pages(4), R)).toBe(0);
    expect(vmas(x)).toEqual([[0, 2, R | W, 0], [3, 5, R, 0], [5, 7, R, 1], [7, 9, R | W, 1]]);
  });

  it('holds VMA_MAX VMAs: one more, or a split, is ENOMEM and changes nothing; a trim still works', async () => {
    const { exports: x } = await machine();
    const max = x.VMA_MAX.value;
    for (let i = 0; i < max; i++) expect(mapAnon(x, 2 * i, 2, i % 2 ? R : R | W)).toBe(0);
    expect(x.vma_count()).toBe(max);
    expect(mapAnon(x, 2 * max + 1, 1, R)).toBe(ENOMEM);
    expect(x.vma_unmap(at(1), pages(1))).toBe(0); // trims VMA 0's tail
    expect(x.vma_count()).toBe(max);
    expect(x.vma_unmap(at(4), pages(1))).toBe(0); // trims VMA 2's head
    expect(x.vma_protect(at(6) + 0n, pages(1), W)).toBe(ENOMEM); // would split VMA 3
    expect(x.vma_count()).toBe(max);
    expect(mapAnon(x, 2 * max + 1, 1, R)).toBe(ENOMEM);
    // Replacing two whole VMAs by one frees a record.
    expect(mapAnon(x, 8, 4, X)).toBe(0);
    expect(x.vma_count()).toBe(max - 1);
  });
});

describe('vma: the VMM touching its own memory', () => {
  it('faults an anonymous page in on first touch, zeroed, owned by the process, and keeps it', async () => {
    const c = await machine();
    const x = c.exports;
    const free = x.phys_free_frames();
    mapAnon(x, 0, 4, R | W);
    expect(x.mm_lookup_pfn(at(1))).toBe(x.PFN_NONE.value);
    expect(x.vmm_touch(at(1) + 5n, true)).toBe(0);
    const pfn = x.vma_pfn();
    expect(x.frame_kind(pfn)).toBe(x.FrameKind.Anon);
    expect(x.frame_owner(pfn)).toBe(x.VMM_OWNER.value);
    expect(x.frame_refcount(pfn)).toBe(1);
    expect(new Uint8Array(c.memory.buffer, x.ram_base() + pfn * P, P).every((b) => b === 0)).toBe(true);
    expect(x.vmm_touch(at(1), false)).toBe(0);
    expect(x.vma_pfn()).toBe(pfn);
    expect(x.mm_lookup_pfn(at(1))).toBe(pfn);
    expect(x.mm_rss()).toBe(1n);
    // The page table's root and one node per level below it, then the page.
    expect(x.phys_free_frames()).toBe(free - 5);
    expect(readCounters(c).vmm_page_fault).toBe(1);
  });

  it('raises SIGSEGV outside any VMA and against the rights; on x86 any right but none allows a read', async () => {
    const c = await machine();
    const x = c.exports;
    const segv = x.FAULT_SIGSEGV.value;
    mapAnon(x, 0, 1, R);
    mapAnon(x, 1, 1, W);
    mapAnon(x, 2, 1, X);
    mapAnon(x, 3, 1, 0);
    expect(x.vmm_touch(at(9), false)).toBe(segv);
    expect(x.vmm_touch(at(0), true)).toBe(segv);
    expect(x.vmm_touch(at(0), false)).toBe(0);
    expect(x.vmm_touch(at(1), false)).toBe(0);
    expect(x.vmm_touch(at(1), true)).toBe(0);
    expect(x.vmm_touch(at(2), false)).toBe(0);
    expect(x.vmm_touch(at(2), true)).toBe(segv);
    expect(x.vmm_touch(at(3), false)).toBe(segv);
    expect(readCounters(c).vmm_sigsegv).toBe(4);
  });

  it('frees anonymous pages on munmap: the frame count comes back to the page table root alone', async () => {
    const { exports: x } = await machine();
    const free = x.phys_free_frames();
    mapAnon(x, 0, 64, R | W);
    for (let p = 0; p < 64; p += 3) expect(x.vmm_touch(at(p), true)).toBe(0);
    expect(x.mm_rss()).toBe(22n);
    expect(x.vma_unmap(at(0), pages(32))).toBe(0);
    expect(x.mm_rss()).toBe(11n);
    expect(x.vma_unmap(at(32), pages(32))).toBe(0);
    expect(x.mm_rss()).toBe(0n);
    expect(x.phys_free_frames()).toBe(free - 1);
  });

  it('reports ENOMEM when RAM runs out on first touch, and maps nothing', async () => {
    const { exports: x } = await machine(64);
    mapAnon(x, 0, 128, R | W);
    let p = 0;
    for (; p < 128; p++) { const r = x.vmm_touch(at(p), true); if (r !== 0) { expect(r).toBe(ENOMEM); break; } }
    expect(p).toBeLessThan(128);
    expect(x.mm_lookup_pfn(at(p))).toBe(x.PFN_NONE.value);
    expect(x.mm_rss()).toBe(BigInt(p));
  });
});

describe('vma: the VMM copying a range in one call', () => {
  it('stores and loads across pages and VMAs through the I/O buffer', async () => {
    const c = await machine();
    const x = c.exports;
    const f = x.gmem_create(0, pages(2), MMAP | INIT_SHARED);
    mapAnon(x, 0, 2, R | W);
    x.vma_map(at(2), pages(2), R | W, x.VmaKind.GuestMemfd, f, 0n);
    const io = new Uint8Array(c.memory.buffer, x.vmm_io_buffer(), x.VMM_IO_BYTES.value);
    const data = Uint8Array.from({ length: 3 * P }, (_, i) => (i * 7 + 1) & 0xff);
    io.set(data);
    expect(x.vmm_copy(at(0) + 100n, 3 * P, true)).toBe(0);
    expect(x.mm_rss()).toBe(4n);
    // The file's page 1 holds the tail of the copy, seen through its page cache.
    const tail = new Uint8Array(c.memory.buffer, x.ram_base() + x.gmem_lookup_pfn(f, 1n) * P, P);
    expect(tail.subarray(0, 100)).toEqual(data.subarray(3 * P - 100));
    io.fill(0);
    expect(x.vmm_copy(at(0) + 100n, 3 * P, false)).toBe(0);
    expect(io.subarray(0, 3 * P)).toEqual(data);
    expect(x.vmm_copy(at(0), x.VMM_IO_BYTES.value + 1, false)).toBe(EINVAL);
    expect(x.vmm_copy(at(0), 0, true)).toBe(0);
  });

  it('moves nothing when a page of the range faults, and names the first byte that did', async () => {
    const c = await machine();
    const x = c.exports;
    mapAnon(x, 0, 2, R | W);
    mapAnon(x, 2, 1, R);
    mapAnon(x, 4, 1, R | W);
    const io = new Uint8Array(c.memory.buffer, x.vmm_io_buffer(), x.VMM_IO_BYTES.value);
    io.fill(0x5a);
    expect(x.vmm_copy(at(1) + 8n, 2 * P, true)).toBe(x.FAULT_SIGSEGV.value);
    expect(x.vmm_fault_hva()).toBe(at(2));
    expect(x.vmm_touch(at(1), false)).toBe(0);
    expect(new Uint8Array(c.memory.buffer, x.ram_base() + x.vma_pfn() * P, P).every((b) => b === 0)).toBe(true);
    // A load may cross the read-only page, but not the hole after it.
    expect(x.vmm_fault_in(at(1), pages(2), false)).toBe(0);
    expect(x.vmm_fault_in(at(2) + 5n, pages(3), false)).toBe(x.FAULT_SIGSEGV.value);
    expect(x.vmm_fault_hva()).toBe(at(3));
    // The start of a range that faults at once is its own first byte.
    expect(x.vmm_fault_in(at(3) + 5n, 1n, false)).toBe(x.FAULT_SIGSEGV.value);
    expect(x.vmm_fault_hva()).toBe(at(3) + 5n);
    // A range that wraps around 2^64 meets the end of user space first.
    expect(x.vmm_fault_in(at(4), 0xffff_ffff_ffff_f000n, false)).toBe(x.FAULT_SIGSEGV.value);
    expect(x.vmm_fault_hva()).toBe(at(5));
  });

  it('raises SIGBUS part-way through a range of guest_memfd pages past EOF', async () => {
    const { exports: x } = await machine();
    const f = x.gmem_create(0, pages(1), MMAP | INIT_SHARED);
    x.vma_map(at(0), pages(3), R | W, x.VmaKind.GuestMemfd, f, 0n);
    expect(x.vmm_fault_in(at(0), pages(3), true)).toBe(x.FAULT_SIGBUS.value);
    expect(x.vmm_fault_hva()).toBe(at(1));
    expect(x.mm_rss()).toBe(1n);
  });
});

describe('vma: guest_memfd mappings', () => {
  it('serves a shared file from its page cache: the mapping and the file see one page, which outlives the mapping', async () => {
    const c = await machine();
    const x = c.exports;
    const f = x.gmem_create(0, pages(4), MMAP | INIT_SHARED);
    expect(x.gmem_refcount(f)).toBe(1);
    expect(x.vma_map(at(0), pages(4), R | W, x.VmaKind.GuestMemfd, f, 1n)).toBe(0);
    expect(x.gmem_refcount(f)).toBe(2);
    expect(x.vmm_touch(at(1), true)).toBe(0);
    const pfn = x.vma_pfn();
    expect(x.gmem_lookup_pfn(f, 2n)).toBe(pfn);
    expect(x.frame_kind(pfn)).toBe(x.FrameKind.GuestMemfd);
    expect(x.frame_refcount(pfn)).toBe(2);
    new Uint8Array(c.memory.buffer, x.ram_base() + pfn * P, P)[7] = 0x42;
    expect(x.vma_unmap(at(0), pages(4))).toBe(0);
    expect(x.gmem_refcount(f)).toBe(1);
    expect(x.frame_refcount(pfn)).toBe(1);
    expect(x.gmem_nr_pages(f)).toBe(1n);
    expect(x.vma_map(at(8), pages(2), R, x.VmaKind.GuestMemfd, f, 2n)).toBe(0);
    expect(x.vmm_touch(at(8), false)).toBe(0);
    expect(x.vma_pfn()).toBe(pfn);
    expect(new Uint8Array(c.memory.buffer, x.ram_base() + pfn * P, P)[7]).toBe(0x42);
  });

  it('raises SIGBUS past EOF and on a file without INIT_SHARED; GUP gets EFAULT there', async () => {
    const c = await machine();
    const x = c.exports;
    const bus = x.FAULT_SIGBUS.value;
    const shared = x.gmem_create(0, pages(2), MMAP | INIT_SHARED);
    const priv = x.gmem_create(0, pages(2), MMAP);
    x.vma_map(at(0), pages(4), R | W, x.VmaKind.GuestMemfd, shared, 0n);
    x.vma_map(at(8), pages(2), R | W, x.VmaKind.GuestMemfd, priv, 0n);
    expect(x.vmm_touch(at(1), false)).toBe(0);
    expect(x.vmm_touch(at(2), false)).toBe(bus);
    expect(x.vmm_touch(at(8), false)).toBe(bus);
    expect(x.vmm_touch(at(9), true)).toBe(bus);
    expect(x.gup_pfn(at(2), false, 0)).toBe(EFAULT);
    expect(x.gup_pfn(at(8), false, 0)).toBe(EFAULT);
    expect(x.gmem_nr_pages(priv)).toBe(0n);
    expect(readCounters(c).vmm_sigbus).toBe(3);
    expect(readCounters(c).gup_fault).toBe(2);
  });

  it('lets the VMM map NO_DIRECT_MAP memory but refuses it to GUP', async () => {
    const { exports: x } = await machine();
    const f = x.gmem_create(0, pages(2), MMAP | INIT_SHARED | NO_DIRECT_MAP);
    x.vma_map(at(0), pages(2), R | W, x.VmaKind.GuestMemfd, f, 0n);
    expect(x.vmm_touch(at(0), true)).toBe(0);
    expect(x.gup_pfn(at(0), false, 0)).toBe(EFAULT);
    expect(x.gup_pfn(at(0), false, x.FOLL_KVM.value)).toBe(EFAULT);
  });

  it('holds one file reference per VMA, through splits and merges', async () => {
    const { exports: x } = await machine();
    const f = x.gmem_create(0, pages(8), MMAP | INIT_SHARED);
    x.vma_map(at(0), pages(8), R | W, x.VmaKind.GuestMemfd, f, 0n);
    expect(x.vma_protect(at(2), pages(2), R)).toBe(0);
    expect(x.vma_count()).toBe(3);
    expect(x.vma_pgoff(2)).toBe(4n);
    expect(x.gmem_refcount(f)).toBe(4);
    expect(x.vma_protect(at(2), pages(2), R | W)).toBe(0);
    expect(x.vma_count()).toBe(1);
    expect(x.gmem_refcount(f)).toBe(2);
    // Adjacent mappings of non-adjacent file pages stay apart.
    expect(x.vma_map(at(8), pages(2), R | W, x.VmaKind.GuestMemfd, f, 0n)).toBe(0);
    expect(x.vma_count()).toBe(2);
    expect(x.vma_map(at(10), pages(2), R | W, x.VmaKind.GuestMemfd, f, 2n)).toBe(0);
    expect(x.vma_count()).toBe(2);
    expect(x.gmem_refcount(f)).toBe(3);
    expect(x.vma_unmap(at(0), pages(12))).toBe(0);
    expect(x.gmem_refcount(f)).toBe(1);
  });

  it('zaps the mappings of a file range before a punch, so the next touch reads a fresh zeroed page', async () => {
    const c = await machine();
    const x = c.exports;
    const f = x.gmem_create(0, pages(4), MMAP | INIT_SHARED);
    x.vma_map(at(0), pages(4), R | W, x.VmaKind.GuestMemfd, f, 0n);
    x.vma_map(at(10), pages(2), R | W, x.VmaKind.GuestMemfd, f, 2n); // a second mapping of pages 2-3
    for (const p of [0, 1, 2, 3, 10, 11]) expect(x.vmm_touch(at(p), true)).toBe(0);
    const old = x.mm_lookup_pfn(at(2));
    expect(x.mm_lookup_pfn(at(10))).toBe(old);
    new Uint8Array(c.memory.buffer, x.ram_base() + old * P, P)[0] = 0xab;
    expect(x.vma_zap_file(f, 1n, 2n)).toBe(3n);
    expect(x.frame_refcount(old)).toBe(1);
    expect(x.gmem_punch(f, 1n, 2n)).toBe(2n);
    expect(x.mm_lookup_pfn(at(0))).not.toBe(x.PFN_NONE.value);
    expect(x.mm_lookup_pfn(at(11))).not.toBe(x.PFN_NONE.value);
    expect(x.vmm_touch(at(10), false)).toBe(0);
    expect(new Uint8Array(c.memory.buffer, x.ram_base() + x.vma_pfn() * P, P)[0]).toBe(0);
    expect(x.mm_rss()).toBe(4n);
  });
});

describe('vma: get_user_pages', () => {
  it('faults anonymous pages in and hands the caller a reference', async () => {
    const c = await machine();
    const x = c.exports;
    mapAnon(x, 0, 2, R | W);
    expect(x.gup_pfn(at(1), true, 0)).toBe(0);
    const pfn = x.vma_pfn();
    expect(x.frame_refcount(pfn)).toBe(2);
    expect(x.mm_lookup_pfn(at(1))).toBe(pfn);
    x.frame_put(pfn);
    expect(x.vma_unmap(at(0), pages(2))).toBe(0);
    expect(x.frame_kind(pfn)).toBe(x.FrameKind.Free);
    expect(readCounters(c).gup_page).toBe(1);
  });

  it('is EFAULT with no VMA and without the right, with no x86 widening of reads', async () => {
    const { exports: x } = await machine();
    mapAnon(x, 0, 1, R);
    mapAnon(x, 1, 1, W);
    mapAnon(x, 2, 1, 0);
    expect(x.gup_pfn(at(9), false, 0)).toBe(EFAULT);
    expect(x.gup_pfn(at(0), true, 0)).toBe(EFAULT);
    expect(x.gup_pfn(at(0), false, 0)).toBe(0);
    expect(x.gup_pfn(at(1), false, 0)).toBe(EFAULT);
    expect(x.vmm_touch(at(1), false)).toBe(0);
    expect(x.gup_pfn(at(1), true, 0)).toBe(0);
    expect(x.gup_pfn(at(2), false, x.FOLL_KVM.value)).toBe(EFAULT);
  });

  it('reaches VM_KVM_PROTECTED memory only with FOLL_KVM, which the process itself cannot touch (SIGBUS)', async () => {
    const { exports: x } = await machine();
    mapAnon(x, 0, 2, R | W, x.VmaKind.KvmProtected);
    mapAnon(x, 2, 1, R, x.VmaKind.KvmProtected);
    expect(x.vmm_touch(at(0), false)).toBe(x.FAULT_SIGBUS.value);
    expect(x.gup_pfn(at(0), false, 0)).toBe(EFAULT);
    expect(x.gup_pfn(at(0), true, x.FOLL_KVM.value)).toBe(0);
    const pfn = x.vma_pfn();
    expect(x.frame_kind(pfn)).toBe(x.FrameKind.Anon);
    x.frame_put(pfn);
    expect(x.vmm_touch(at(0), true)).toBe(x.FAULT_SIGBUS.value);
    expect(x.gup_pfn(at(2), true, x.FOLL_KVM.value)).toBe(EFAULT);
    expect(x.gup_pfn(at(2), false, x.FOLL_KVM.value)).toBe(0);
    x.frame_put(x.vma_pfn());
  });
});

describe('vma: converting anonymous memory to VM_KVM_PROTECTED', () => {
  it('keeps the pages, takes them from the process (SIGBUS) and leaves them to FOLL_KVM', async () => {
    const c = await machine();
    const x = c.exports;
    mapAnon(x, 0, 4, R | W);
    expect(x.vmm_touch(at(1), true)).toBe(0);
    const pfn = x.vma_pfn();
    expect(x.vma_kvm_protect(at(1), pages(2))).toBe(0);
    expect(vmas(x)).toEqual([[0, 1, R | W, 0], [1, 3, R | W, x.VmaKind.KvmProtected], [3, 4, R | W, 0]]);
    expect(x.mm_lookup_pfn(at(1))).toBe(pfn);
    expect(x.vmm_touch(at(1), false)).toBe(x.FAULT_SIGBUS.value);
    expect(x.vmm_touch(at(0), true)).toBe(0);
    expect(x.gup_pfn(at(1), true, 0)).toBe(EFAULT);
    expect(x.gup_pfn(at(1), true, x.FOLL_KVM.value)).toBe(0);
    expect(x.vma_pfn()).toBe(pfn);
    x.frame_put(pfn);
    expect(x.vma_kvm_protect(at(0), pages(4))).toBe(0);
    expect(vmas(x)).toEqual([[0, 4, R | W, x.VmaKind.KvmProtected]]);
    expect(x.mm_rss()).toBe(2n);
  });

  it('refuses guest_memfd mappings (EINVAL) and holes (ENOMEM), changing nothing', async () => {
    const { exports: x } = await machine();
    const f = x.gmem_create(0, pages(2), MMAP | INIT_SHARED);
    mapAnon(x, 0, 2, R | W);
    x.vma_map(at(2), pages(2), R | W, x.VmaKind.GuestMemfd, f, 0n);
    mapAnon(x, 5, 1, R | W);
    expect(x.vma_kvm_protect(at(1), pages(2))).toBe(EINVAL);
    expect(x.vma_kvm_protect(at(4), pages(2))).toBe(ENOMEM);
    expect(x.vma_kvm_protect(at(0) + 1n, pages(1))).toBe(EINVAL);
    expect(vmas(x)).toEqual([[0, 2, R | W, 0], [2, 4, R | W, 1], [5, 6, R | W, 0]]);
  });
});

describe('vma: random operations against a page model', () => {
  it('keeps VMAs sorted, disjoint and merged, rights per page as asked, and every frame accounted for', async () => {
    const { exports: x } = await machine(4096);
    const free = x.phys_free_frames();
    const N = 48;
    const op = fc.record({
      what: fc.constantFrom('map', 'unmap', 'protect', 'touch'),
      page: fc.integer({ min: 0, max: N - 1 }),
      n: fc.integer({ min: 1, max: 12 }),
      prot: fc.integer({ min: 0, max: 7 }),
    });
    fc.assert(fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      expect(x.vma_unmap(at(0), pages(N + 12))).toBe(0);
      expect(x.mm_rss()).toBe(0n);
      // Per page: its rights, or undefined when unmapped; and whether it is resident.
      const prot: (number | undefined)[] = new Array(N + 12).fill(undefined);
      const resident = new Set<number>();
      for (const o of ops) {
        const pp = Array.from({ length: o.n }, (_, k) => o.page + k);
        if (o.what === 'map') {
          expect(mapAnon(x, o.page, o.n, o.prot)).toBe(0);
          for (const p of pp) { prot[p] = o.prot; resident.delete(p); }
        } else if (o.what === 'unmap') {
          expect(x.vma_unmap(at(o.page), pages(o.n))).toBe(0);
          for (const p of pp) { prot[p] = undefined; resident.delete(p); }
        } else if (o.what === 'protect') {
          const whole = pp.every((p) => prot[p] !== undefined);
          expect(x.vma_protect(at(o.page), pages(o.n), o.prot)).toBe(whole ? 0 : ENOMEM);
          if (whole) for (const p of pp) prot[p] = o.prot;
        } else {
          const r = prot[o.page];
          const ok = r !== undefined && r !== 0 && (o.prot & 1 ? (r & W) !== 0 : true);
          expect(x.vmm_touch(at(o.page), (o.prot & 1) === 1)).toBe(ok ? 0 : x.FAULT_SIGSEGV.value);
          if (ok) resident.add(o.page);
        }
        const v = vmas(x);
        for (let i = 0; i < v.length; i++) {
          expect(v[i][0]).toBeLessThan(v[i][1]);
          if (i > 0) {
            expect(v[i - 1][1]).toBeLessThanOrEqual(v[i][0]);
            expect(v[i - 1][1] === v[i][0] && v[i - 1][2] === v[i][2]).toBe(false);
          }
        }
        for (let p = 0; p < N + 12; p++) {
          const i = x.vma_find(at(p));
          expect(i < 0 ? undefined : x.vma_prot(i)).toBe(prot[p]);
          expect(x.mm_lookup_pfn(at(p)) !== x.PFN_NONE.value).toBe(resident.has(p));
        }
        expect(x.mm_rss()).toBe(BigInt(resident.size));
      }
    }), { numRuns: 150 });
    expect(x.vma_unmap(at(0), pages(N + 12))).toBe(0);
    expect(x.phys_free_frames()).toBe(free - 1);
  });
});
