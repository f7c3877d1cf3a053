import { describe, expect, it } from 'vitest';
import { KVM_MEM_GUEST_MEMFD, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY } from '../../src/uapi.js';
import { decideMemslot, KVM_MEM_MAX_NR_PAGES, KVM_MEMSLOT_GMEM_ONLY, TASK_SIZE_MAX } from '../../src/kvm/memslot-rules.js';
import type { ExistingSlot, GuestMemfdLookup, MemslotContext, MemslotRequest } from '../../src/kvm/memslot-rules.js';

const P = 4096n;
const GMEM = BigInt(KVM_MEM_GUEST_MEMFD);

function req(over: Partial<MemslotRequest> = {}): MemslotRequest {
  return {
    v2: true, slot: 0n, flags: 0n, guest_phys_addr: 0n, memory_size: 4n * P, userspace_addr: 0x10000n,
    guest_memfd_offset: 0n, guest_memfd: -1, ...over,
  };
}

interface World {
  slots?: Record<number, ExistingSlot & { gmem?: { file: number; pgoff: bigint } }>;
  fds?: Record<number, GuestMemfdLookup>;
  maxGfn?: bigint;
}

function ctx(w: World = {}): MemslotContext {
  const slots = w.slots ?? {};
  return {
    addressSpaces: 1,
    maxGfn: w.maxGfn ?? (1n << 40n) - 1n,
    slot: (id) => slots[id],
    overlaps: (asId, base, n, except) => Object.entries(slots).some(([id, s]) =>
      Number(id) !== except && Number(id) >> 16 === asId && s.baseGfn < base + n && base < s.baseGfn + s.npages),
    guestMemfd: (fd) => w.fds?.[fd] ?? { kind: 'not-open' },
    gmemBound: (file, pgoff, n, except) => Object.entries(slots).some(([id, s]) =>
      Number(id) !== except && s.gmem?.file === file && s.gmem.pgoff < pgoff + n && pgoff < s.gmem.pgoff + s.npages),
  };
}

const plain = (baseGfn: bigint, npages: bigint, flags = 0, userspaceAddr = 0x10000n): ExistingSlot => ({ flags, baseGfn, npages, userspaceAddr });
const gmemFd = (size: bigint, ofThisVm = true, mmap = false): GuestMemfdLookup => ({ kind: 'guest-memfd', file: 7, ofThisVm, size, mmap });

function errno(r: MemslotRequest, w?: World): string {
  const d = decideMemslot(r, ctx(w));
  return d.action === 'error' ? d.errno : d.action;
}

describe('decideMemslot: the checks of section 2, one at a time', () => {
  it('1. v1 takes only LOG_DIRTY_PAGES and READONLY', () => {
    expect(errno(req({ v2: false, flags: GMEM }))).toBe('EINVAL');
    expect(errno(req({ v2: false, flags: BigInt(KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES) }))).toBe('create');
  });

  it('2. (u16)slot >= 32764 is EINVAL; 32763 works; the high half is the address space', () => {
    expect(errno(req({ slot: 32764n }))).toBe('EINVAL');
    expect(errno(req({ slot: 65535n }))).toBe('EINVAL');
    expect(errno(req({ slot: 32763n }))).toBe('create');
    expect(errno(req({ slot: 1n << 16n }))).toBe('EINVAL');
  });

  it('3. flags: unknown bits, dirty logging or READONLY with GUEST_MEMFD', () => {
    expect(errno(req({ flags: 1n << 3n }))).toBe('EINVAL');
    expect(errno(req({ flags: 1n << 16n }))).toBe('EINVAL');
    expect(errno(req({ flags: GMEM | BigInt(KVM_MEM_LOG_DIRTY_PAGES) }))).toBe('EINVAL');
    expect(errno(req({ flags: GMEM | BigInt(KVM_MEM_READONLY) }))).toBe('EINVAL');
  });

  it('4. size, gpa and uaddr alignment; uaddr range in user space', () => {
    expect(errno(req({ memory_size: P + 1n }))).toBe('EINVAL');
    expect(errno(req({ guest_phys_addr: 0x800n }))).toBe('EINVAL');
    expect(errno(req({ userspace_addr: 0x10001n }))).toBe('EINVAL');
    expect(errno(req({ userspace_addr: 0xffff_8000_0000_0000n }))).toBe('EINVAL');
    expect(errno(req({ userspace_addr: TASK_SIZE_MAX - 4n * P }))).toBe('EINVAL');
    expect(errno(req({ userspace_addr: TASK_SIZE_MAX - 5n * P }))).toBe('create');
  });

  it('5. guest_memfd_offset unaligned or wrapping', () => {
    expect(errno(req({ flags: GMEM, guest_memfd_offset: 0x800n }))).toBe('EINVAL');
    expect(errno(req({ flags: GMEM, guest_memfd_offset: (1n << 64n) - P }))).toBe('EINVAL');
  });

  it('6-7. gpa + size wrap, too many pages; exactly KVM_MEM_MAX_NR_PAGES is fine', () => {
    expect(errno(req({ guest_phys_addr: (1n << 64n) - P }))).toBe('EINVAL');
    expect(errno(req({ memory_size: (KVM_MEM_MAX_NR_PAGES + 1n) * P, userspace_addr: 0n }))).toBe('EINVAL');
    expect(errno(req({ memory_size: KVM_MEM_MAX_NR_PAGES * P, userspace_addr: 0n }))).toBe('create');
  });

  it('8. delete: needs the slot; gpa and uaddr are ignored once they pass the shape checks', () => {
    expect(errno(req({ memory_size: 0n }))).toBe('EINVAL');
    const w = { slots: { 0: plain(0n, 4n) } };
    expect(decideMemslot(req({ memory_size: 0n, guest_phys_addr: 0x100000n, userspace_addr: 0n }), ctx(w))).toEqual({ action: 'delete', id: 0 });
    expect(errno(req({ memory_size: 0n, guest_phys_addr: 0x800n }), w)).toBe('EINVAL');
    expect(errno(req({ memory_size: 0n, flags: 1n << 3n }), w)).toBe('EINVAL');
  });

  it('9. modify: guest_memfd slots are immutable, uaddr/size/READONLY/GUEST_MEMFD cannot change', () => {
    const w = { slots: { 0: plain(0n, 4n) }, fds: { 5: gmemFd(1n << 20n) } };
    expect(errno(req({ flags: GMEM, guest_memfd: 5 }), w)).toBe('EINVAL');
    expect(errno(req({ userspace_addr: 0x20000n }), w)).toBe('EINVAL');
    expect(errno(req({ memory_size: 8n * P }), w)).toBe('EINVAL');
    expect(errno(req({ flags: BigInt(KVM_MEM_READONLY) }), w)).toBe('EINVAL');
    const g = { slots: { 0: { ...plain(0n, 4n, KVM_MEM_GUEST_MEMFD), gmem: { file: 7, pgoff: 0n } } } };
    expect(errno(req({ flags: 0n }), g)).toBe('EINVAL');
  });

  it('9. modify: move, flags-only, or nothing', () => {
    const w = { slots: { 0: plain(0n, 4n) } };
    expect(errno(req({ guest_phys_addr: 0x100000n }), w)).toBe('move');
    expect(errno(req({ flags: BigInt(KVM_MEM_LOG_DIRTY_PAGES) }), w)).toBe('flags-only');
    expect(decideMemslot(req(), ctx(w))).toEqual({ action: 'none', id: 0 });
  });

  it('10. overlap with another slot is EEXIST on create and move; adjacent and own range are fine', () => {
    const w = { slots: { 0: plain(0n, 4n), 1: plain(16n, 4n) } };
    expect(errno(req({ slot: 2n, guest_phys_addr: 3n * P }), w)).toBe('EEXIST');
    expect(errno(req({ slot: 2n, guest_phys_addr: 4n * P }), w)).toBe('create');
    expect(errno(req({ slot: 2n, guest_phys_addr: 0n, memory_size: 64n * P }), w)).toBe('EEXIST');
    expect(errno(req({ slot: 0n, guest_phys_addr: 2n * P }), w)).toBe('move');
    expect(errno(req({ slot: 0n, guest_phys_addr: 14n * P }), w)).toBe('EEXIST');
  });

  it('11. guest_memfd binding: EBADF, not a guest_memfd, other VM, offset range, pages already bound', () => {
    const g = { flags: GMEM, guest_memfd: 5, guest_phys_addr: 0x100000n };
    expect(errno(req({ ...g, guest_memfd: 9 }))).toBe('EBADF');
    expect(errno(req({ ...g, guest_memfd: -1 }))).toBe('EBADF');
    expect(errno(req(g), { fds: { 5: { kind: 'not-guest-memfd' } } })).toBe('EINVAL');
    expect(errno(req(g), { fds: { 5: gmemFd(1n << 20n, false) } })).toBe('EINVAL');
    expect(errno(req({ ...g, guest_memfd_offset: 1n << 63n }), { fds: { 5: gmemFd(1n << 20n) } })).toBe('EINVAL');
    expect(errno(req({ ...g, guest_memfd_offset: 4n * P }), { fds: { 5: gmemFd(4n * P) } })).toBe('EINVAL');
    expect(errno(req({ ...g, memory_size: 8n * P }), { fds: { 5: gmemFd(4n * P) } })).toBe('EINVAL');
    const bound = { fds: { 5: gmemFd(16n * P) }, slots: { 1: { ...plain(0n, 4n, KVM_MEM_GUEST_MEMFD), gmem: { file: 7, pgoff: 2n } } } };
    expect(errno(req(g), bound)).toBe('EINVAL');
    expect(decideMemslot(req({ ...g, guest_memfd_offset: 6n * P }), ctx(bound))).toEqual({
      action: 'create',
      slot: { id: 0, flags: KVM_MEM_GUEST_MEMFD, baseGfn: 0x100n, npages: 4n, userspaceAddr: 0x10000n, gmem: { file: 7, pgoff: 6n } },
    });
  });

  it('11. a guest_memfd created with MMAP makes the slot guest_memfd-only (an internal flag above the uAPI ones)', () => {
    const d = decideMemslot(req({ flags: GMEM, guest_memfd: 5 }), ctx({ fds: { 5: gmemFd(16n * P, true, true) } }));
    expect(d).toMatchObject({ action: 'create', slot: { flags: KVM_MEM_GUEST_MEMFD | KVM_MEMSLOT_GMEM_ONLY } });
  });

  it('12. the last gfn must not pass the MMU maximum (create and move only)', () => {
    expect(errno(req({ guest_phys_addr: 1n << 52n }))).toBe('EINVAL');
    expect(errno(req({ guest_phys_addr: (1n << 46n) - 4n * P }), { maxGfn: (1n << 34n) - 1n })).toBe('create');
    expect(errno(req({ guest_phys_addr: (1n << 46n) - 3n * P }), { maxGfn: (1n << 34n) - 1n })).toBe('EINVAL');
  });
});

describe('decideMemslot: the order when several arguments are wrong', () => {
  it('v1 flags before the slot id, slot id before the flag set', () => {
    expect(decideMemslot(req({ v2: false, flags: GMEM, slot: 40000n }), ctx())).toMatchObject({ reason: expect.stringMatching(/REGION takes only/) });
    expect(decideMemslot(req({ slot: 40000n, flags: 1n << 3n }), ctx())).toMatchObject({ reason: expect.stringMatching(/slot 40000/) });
  });

  it('flags before alignment, size before gpa before uaddr', () => {
    expect(decideMemslot(req({ flags: 1n << 3n, memory_size: 1n }), ctx())).toMatchObject({ reason: expect.stringMatching(/flags/) });
    expect(decideMemslot(req({ memory_size: 1n, guest_phys_addr: 1n, userspace_addr: 1n }), ctx())).toMatchObject({ reason: expect.stringMatching(/memory_size/) });
    expect(decideMemslot(req({ guest_phys_addr: 1n, userspace_addr: 1n }), ctx())).toMatchObject({ reason: expect.stringMatching(/guest_phys_addr/) });
  });

  it('EEXIST before the guest_memfd checks, which come before the MMU maximum', () => {
    const w = { slots: { 1: plain(0n, 4n) } };
    expect(errno(req({ flags: GMEM, guest_memfd: 9 }), w)).toBe('EEXIST');
    expect(errno(req({ flags: GMEM, guest_memfd: 9, guest_phys_addr: 1n << 52n }))).toBe('EBADF');
  });

  it('a delete of a missing slot is EINVAL even with a bad guest_memfd', () => {
    expect(errno(req({ memory_size: 0n, flags: GMEM, guest_memfd: 9 }))).toBe('EINVAL');
  });
});
