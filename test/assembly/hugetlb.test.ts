// The hugetlb pool (assembly/hugetlb.ts) and MAP_HUGETLB mappings of the VMM
// (assembly/vma.ts, src/host/address-space.ts).

import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import * as K from '../../src/uapi.js';

const HPAGE = 0x20_0000;
const RW = K.PROT_READ | K.PROT_WRITE;
const HUGE = K.MAP_PRIVATE | K.MAP_ANONYMOUS | K.MAP_HUGETLB;
const fails = (code: string, re?: RegExp) => expect.objectContaining({ code, ...(re ? { message: expect.stringMatching(re) } : {}) });

async function machine(hugePages: number) {
  const kvm = await Kvm.open({ ramMiB: 32, hugePages, debug: true });
  const x = kvm.core.exports;
  const pool = () => [x.hugetlb_pages(), x.hugetlb_free_pages(), x.hugetlb_resv_pages()];
  return { kvm, x, pool };
}

describe('the hugetlb pool', () => {
  it('comes off the top of RAM at Kvm.open, 2 MiB-aligned, out of the frame allocator\'s reach', async () => {
    const plain = await Kvm.open({ ramMiB: 32 });
    const { x, pool } = await machine(4);
    expect(pool()).toEqual([4, 4, 0]);
    expect(plain.core.exports.phys_free_frames() - x.phys_free_frames()).toBe(4 * 512);
    const last = 32 * 256 - 1;
    expect(x.frame_kind(last)).toBe(x.FrameKind.Hugetlb);
    expect(x.frame_owner(last - 4 * 512 + 1)).toBe(x.HUGETLB_OWNER.value);
    expect(x.frame_kind(last - 4 * 512)).not.toBe(x.FrameKind.Hugetlb);
    await expect(Kvm.open({ ramMiB: 32, hugePages: 13 })).rejects.toThrow(/do not fit/);
    await expect(Kvm.open({ ramMiB: 32, hugePages: -1 })).rejects.toThrow(/non-negative/);
  });

  it('mmap(MAP_HUGETLB) rounds the length to 2 MiB and reserves; ENOMEM when the pool cannot cover it', async () => {
    const { kvm, pool } = await machine(3);
    const a = kvm.mmap(0, 0x1000, RW, HUGE, -1, 0);
    expect(a & BigInt(HPAGE - 1)).toBe(0n);
    expect(pool()).toEqual([3, 3, 1]);
    expect(() => kvm.mmap(0, 3 * HPAGE, RW, HUGE, -1, 0)).toThrow(fails('ENOMEM', /hugetlb pool/));
    expect(pool()).toEqual([3, 3, 1]);
    const b = kvm.mmap(0, 2 * HPAGE, RW, HUGE, -1, 0);
    expect(pool()).toEqual([3, 3, 3]);
    // Unmapping pages never touched gives their reservations back.
    kvm.munmap(b, 2 * HPAGE);
    kvm.munmap(a, HPAGE);
    expect(pool()).toEqual([3, 3, 0]);
    // Without a pool, MAP_HUGETLB has nothing to reserve.
    const none = await Kvm.open({ ramMiB: 16 });
    expect(() => none.mmap(0, HPAGE, RW, HUGE, -1, 0)).toThrow(fails('ENOMEM'));
  });

  it('is refused for files, unaligned MAP_FIXED, and splits off 2 MiB boundaries', async () => {
    const { kvm, pool } = await machine(2);
    const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
    const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: HPAGE, flags: K.GUEST_MEMFD_FLAG_MMAP }) as number;
    expect(() => kvm.mmap(0, HPAGE, RW, K.MAP_SHARED | K.MAP_HUGETLB, g, 0)).toThrow(fails('EINVAL', /hugetlbfs/));
    expect(() => kvm.mmap(0x7000_0010_0000n, HPAGE, RW, HUGE | K.MAP_FIXED, -1, 0)).toThrow(fails('EINVAL', /huge-page-aligned/));
    const a = kvm.mmap(0, 2 * HPAGE, RW, HUGE, -1, 0);
    expect(() => kvm.munmap(a + 0x1000n, 0x1000)).toThrow(fails('EINVAL'));
    expect(() => kvm.mprotect(a, 0x1000, K.PROT_READ)).toThrow(fails('EINVAL'));
    expect(() => kvm.mmap(a + 0x1000n, 0x1000, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS | K.MAP_FIXED, -1, 0)).toThrow(fails('EINVAL'));
    expect(kvm.mprotect(a + BigInt(HPAGE), HPAGE, K.PROT_READ)).toBe(0);
    kvm.munmap(a + BigInt(HPAGE), HPAGE);
    expect(pool()).toEqual([2, 2, 1]);
  });

  it('the first touch takes a whole zeroed 2 MiB page; munmap gives it back to the pool', async () => {
    const { kvm, x, pool } = await machine(2);
    const a = kvm.mmap(0, 2 * HPAGE, RW, HUGE, -1, 0);
    const rss = x.mm_rss();
    kvm.writeU8(a + 0x3456n, 0x5a);
    expect(pool()).toEqual([2, 1, 1]);
    expect(x.mm_rss() - rss).toBe(512n);
    const head = x.mm_lookup_pfn(a);
    expect(head % 512).toBe(0);
    for (const off of [0x1000, 0x10_0000, HPAGE - 0x1000]) expect(x.mm_lookup_pfn(a + BigInt(off))).toBe(head + off / 0x1000);
    expect(x.mm_lookup_pfn(a + BigInt(HPAGE))).toBe(x.PFN_NONE.value);
    expect(kvm.readU8(a + 0x3456n)).toBe(0x5a);
    expect(kvm.readU8(a + 0x1f_f000n)).toBe(0);
    // GUP takes and drops references on top of the pool's own.
    expect(x.gup_pfn(a + 0x2000n, true, 0)).toBe(0);
    expect(x.frame_refcount(head + 2)).toBe(2);
    x.frame_put(head + 2);
    kvm.munmap(a, 2 * HPAGE);
    expect(pool()).toEqual([2, 2, 0]);
    expect(x.frame_owner(head)).toBe(x.HUGETLB_OWNER.value);
    expect(x.frame_refcount(head + 2)).toBe(1);
    // A new mapping gets the page zeroed.
    const b = kvm.mmap(0, HPAGE, RW, HUGE, -1, 0);
    expect(kvm.readU8(b + 0x3456n)).toBe(0);
  });
});
