// The VMM process's mmap, munmap and mprotect (mm/mmap.c, mm/mprotect.c),
// with Linux's argument checks in order, over the VMA table in shared memory
// (assembly/vma.ts). Addresses are placed top-down below MMAP_BASE, the way
// Linux's default layout does; the exact address is never part of the uAPI's
// contract.

import type { CoreExports } from '../core/wasm.js';
import { intArg } from '../kvm/args.js';
import { errnoName } from '../kvm/errno.js';
import { KvmError } from '../kvm/error.js';
import {
  MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, PROT_EXEC, PROT_READ, PROT_WRITE,
} from '../uapi.js';

const PAGE_SIZE = 4096n;
const PAGE_MASK = PAGE_SIZE - 1n;
/** The hugetlb pool's page size (2 MiB). */
const HPAGE_MASK = (1n << 21n) - 1n;
/** The end of user space (TASK_SIZE_MAX with 4-level paging). */
export const TASK_SIZE = (1n << 47n) - PAGE_SIZE;
/** Where top-down placement starts: below the stack's reserved gap, as mmap_base leaves it. */
export const MMAP_BASE = 0x7f00_0000_0000n;
/** The lowest address mmap places a mapping at (vm.mmap_min_addr). */
const MMAP_MIN_ADDR = 0x10000n;
/** The mapping-type bits of mmap's flags. */
const MAP_TYPE = 0x0fn;
const PROT_ALL = BigInt(PROT_READ | PROT_WRITE | PROT_EXEC);

/** The file an mmap maps: a guest_memfd inode, or a file type without mmap (ENODEV). */
export type MmapTarget =
  | { readonly kind: 'guest_memfd'; readonly file: number; readonly mmapAllowed: boolean }
  | { readonly kind: 'no-mmap'; readonly what: string };

/** A core call's negative errno as a KvmError. */
function fail(ret: number, syscall: string, detail: string): never {
  throw new KvmError(errnoName(ret) ?? 'EINVAL', syscall, detail);
}

export class AddressSpace {
  constructor(private readonly core: CoreExports) {}

  /** Whether [start, end) meets no VMA. */
  private free(start: bigint, end: bigint): boolean {
    const c = this.core;
    for (let i = 0; i < c.vma_count(); i++) {
      if (c.vma_start(i) < end && start < c.vma_end(i)) return false;
    }
    return true;
  }

  /** Whether some VMA maps guest_memfd file `file`. */
  mapsFile(file: number): boolean {
    const c = this.core;
    for (let i = 0; i < c.vma_count(); i++) {
      if (c.vma_kind(i) === c.VmaKind.GuestMemfd && c.vma_file(i) === file) return true;
    }
    return false;
  }

  /**
   * The highest free range of `len` bytes below MMAP_BASE starting at a
   * multiple of `mask + 1` (unmapped_area_topdown), or null.
   */
  private placeTopDown(len: bigint, mask = PAGE_MASK): bigint | null {
    const c = this.core;
    let ceiling = MMAP_BASE;
    for (let i = c.vma_count() - 1; i >= 0; i--) {
      const start = c.vma_start(i);
      const end = c.vma_end(i);
      if (start >= ceiling) continue;
      const at = (ceiling - len) & ~mask;
      if (end <= at && at >= MMAP_MIN_ADDR) return at;
      ceiling = start;
    }
    const at = (ceiling - len) & ~mask;
    return at >= MMAP_MIN_ADDR ? at : null;
  }

  /**
   * mmap(2). `target` resolves the fd for a file mapping (looked up only
   * without MAP_ANONYMOUS, as ksys_mmap_pgoff does). Returns the address.
   */
  mmap(
    addrArg: unknown, lengthArg: unknown, protArg: unknown, flagsArg: unknown,
    target: () => MmapTarget, offsetArg: unknown,
  ): bigint {
    const syscall = 'mmap';
    const addr = intArg(addrArg, 'u64', 'addr', syscall);
    const length = intArg(lengthArg, 'u64', 'length', syscall);
    const prot = intArg(protArg, 'u32', 'prot', syscall);
    const flags = intArg(flagsArg, 'u32', 'flags', syscall);
    const offset = intArg(offsetArg, 'u64', 'offset', syscall);
    if ((offset & PAGE_MASK) !== 0n) throw new KvmError('EINVAL', syscall, `offset 0x${offset.toString(16)} is not page-aligned`);
    const anonymous = (flags & BigInt(MAP_ANONYMOUS)) !== 0n;
    const file = anonymous ? null : target();
    // ksys_mmap_pgoff: MAP_HUGETLB takes a hugetlbfs file, or makes one for
    // anonymous memory, whose length is a whole number of huge pages.
    const huge = (flags & BigInt(MAP_HUGETLB)) !== 0n;
    if (huge && file) throw new KvmError('EINVAL', syscall, 'MAP_HUGETLB on a file that is not on hugetlbfs');
    const mask = huge ? HPAGE_MASK : PAGE_MASK;
    if (length === 0n) throw new KvmError('EINVAL', syscall, 'length is 0');
    if ((prot & ~PROT_ALL) !== 0n) throw new KvmError('EINVAL', syscall, `prot 0x${prot.toString(16)} has unknown bits`);
    const len = (length + mask) & ~mask;
    if (len > TASK_SIZE) throw new KvmError('ENOMEM', syscall, `length 0x${length.toString(16)} does not fit in user space`);
    const pgoff = offset >> 12n;
    const type = flags & MAP_TYPE;
    if (type !== BigInt(MAP_SHARED) && type !== BigInt(MAP_PRIVATE) && type !== BigInt(MAP_SHARED_VALIDATE)) {
      throw new KvmError('EINVAL', syscall, `flags 0x${flags.toString(16)}: the mapping type must be MAP_SHARED or MAP_PRIVATE`);
    }
    const fixed = (flags & BigInt(MAP_FIXED)) !== 0n;
    if (fixed && (addr & mask) !== 0n) throw new KvmError('EINVAL', syscall, `MAP_FIXED addr 0x${addr.toString(16)} is not ${huge ? 'huge-' : ''}page-aligned`);
    if (fixed && (addr > TASK_SIZE || len > TASK_SIZE - addr)) throw new KvmError('ENOMEM', syscall, `MAP_FIXED range at 0x${addr.toString(16)} leaves user space`);
    const kinds = this.core.VmaKind;
    let kind: number = huge ? kinds.Hugetlb : kinds.Anon;
    let fileId = -1;
    if (file) {
      if (file.kind === 'no-mmap') throw new KvmError('ENODEV', syscall, `${file.what} cannot be mapped`);
      // The guest_memfd mount is noexec (do_mmap checks it before the file's mmap).
      if ((prot & BigInt(PROT_EXEC)) !== 0n) throw new KvmError('EPERM', syscall, 'PROT_EXEC on a guest_memfd: its file system is noexec');
      if (!file.mmapAllowed) throw new KvmError('ENODEV', syscall, 'the guest_memfd was created without GUEST_MEMFD_FLAG_MMAP');
      if (type === BigInt(MAP_PRIVATE)) throw new KvmError('EINVAL', syscall, 'a guest_memfd can only be mapped MAP_SHARED');
      kind = kinds.GuestMemfd;
      fileId = file.file;
    }
    let start: bigint | null;
    if (fixed) start = addr;
    else {
      const hint = (addr + mask) & ~mask;
      start = hint >= MMAP_MIN_ADDR && hint <= TASK_SIZE - len && this.free(hint, hint + len) ? hint : this.placeTopDown(len, mask);
    }
    if (start === null) throw new KvmError('ENOMEM', syscall, `no free range of 0x${len.toString(16)} bytes`);
    // Mapping over existing mappings unmaps them, with the mmu notifier.
    const ret = this.free(start, start + len)
      ? this.core.vma_map(start, len, Number(prot), kind, fileId, pgoff)
      : this.core.vmm_mmap_fixed(start, len, Number(prot), kind, fileId, pgoff);
    if (ret < 0) {
      fail(ret, syscall, huge && ret === -12
        ? `the hugetlb pool cannot reserve ${len >> 21n} huge pages (Kvm.open hugePages)`
        : `cannot map [0x${start.toString(16)}, +0x${len.toString(16)})`);
    }
    return start;
  }

  /** munmap(2): a range without mappings is fine. */
  munmap(addrArg: unknown, lengthArg: unknown): 0 {
    const syscall = 'munmap';
    const addr = intArg(addrArg, 'u64', 'addr', syscall);
    const length = intArg(lengthArg, 'u64', 'length', syscall);
    if ((addr & PAGE_MASK) !== 0n) throw new KvmError('EINVAL', syscall, `addr 0x${addr.toString(16)} is not page-aligned`);
    const len = (length + PAGE_MASK) & ~PAGE_MASK;
    if (len === 0n || addr > TASK_SIZE || len > TASK_SIZE - addr) {
      throw new KvmError('EINVAL', syscall, `[0x${addr.toString(16)}, +0x${length.toString(16)}) is empty or leaves user space`);
    }
    // KVM's mappings of the range go (mmu notifier) before its pages are freed.
    const ret = this.core.vmm_munmap(addr, len);
    if (ret < 0) fail(ret, syscall, `cannot unmap [0x${addr.toString(16)}, +0x${len.toString(16)})`);
    return 0;
  }

  /** mprotect(2): ENOMEM when part of the range is unmapped; EACCES for PROT_EXEC on a guest_memfd. */
  mprotect(addrArg: unknown, lengthArg: unknown, protArg: unknown): 0 {
    const syscall = 'mprotect';
    const addr = intArg(addrArg, 'u64', 'addr', syscall);
    const length = intArg(lengthArg, 'u64', 'length', syscall);
    const prot = intArg(protArg, 'u32', 'prot', syscall);
    if ((addr & PAGE_MASK) !== 0n) throw new KvmError('EINVAL', syscall, `addr 0x${addr.toString(16)} is not page-aligned`);
    if ((prot & ~PROT_ALL) !== 0n) throw new KvmError('EINVAL', syscall, `prot 0x${prot.toString(16)} has unknown bits`);
    if (length === 0n) return 0;
    const len = (length + PAGE_MASK) & ~PAGE_MASK;
    if (len === 0n || addr + len > TASK_SIZE) throw new KvmError('ENOMEM', syscall, 'the range leaves user space');
    const ret = this.core.vmm_mprotect(addr, len, Number(prot));
    if (ret < 0) fail(ret, syscall, `cannot change [0x${addr.toString(16)}, +0x${len.toString(16)}) to prot 0x${prot.toString(16)}`);
    return 0;
  }
}
