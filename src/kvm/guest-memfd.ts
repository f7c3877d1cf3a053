// A guest_memfd file (virt/kvm/guest_memfd.c, kvm_gmem_fops) and its file
// operations, in Linux 6.18's check order (spec/kvm-uapi.md section 4). The
// inode and its page cache live in shared memory (assembly/gmem.ts, file id
// `file`); this object is the open file, which holds one reference on the
// inode and one on its VM.

import type { CoreExports } from '../core/wasm.js';
import {
  FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_ZERO_RANGE,
} from '../uapi.js';
import { intArg } from './args.js';
import { errnoName } from './errno.js';
import { KvmError } from './error.js';
import type { VmObject } from './vm.js';

const PAGE_MASK = 0xfffn;
/** The largest file offset (MAX_LFS_FILESIZE on 64-bit). */
const MAX_LFS_FILESIZE = (1n << 63n) - 1n;
/** FALLOC_FL_WRITE_ZEROES (Linux 6.17): a mode the VFS knows, guest_memfd does not. */
const FALLOC_FL_WRITE_ZEROES = 0x80n;
const FALLOC_FL_MODE_MASK = BigInt(
  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE,
) | FALLOC_FL_WRITE_ZEROES;
const KEEP_SIZE = BigInt(FALLOC_FL_KEEP_SIZE);
const PUNCH_HOLE = BigInt(FALLOC_FL_PUNCH_HOLE);

/** S_IFREG | 0600: fstat's st_mode of a guest_memfd. */
export const GUEST_MEMFD_ST_MODE = 0o100600;

/** What fstat reports. */
export interface Stat {
  st_mode: number;
  st_size: number;
  st_blocks: number;
}

/** The VFS's mode checks of vfs_fallocate: true when it refuses `mode` itself. */
function vfsRefusesMode(mode: bigint): boolean {
  if ((mode & ~(FALLOC_FL_MODE_MASK | KEEP_SIZE)) !== 0n) return true;
  switch (mode & FALLOC_FL_MODE_MASK) {
    case 0n:
    case BigInt(FALLOC_FL_UNSHARE_RANGE):
    case BigInt(FALLOC_FL_ZERO_RANGE):
      return false;
    case PUNCH_HOLE:
      return (mode & KEEP_SIZE) === 0n;
    case BigInt(FALLOC_FL_COLLAPSE_RANGE):
    case BigInt(FALLOC_FL_INSERT_RANGE):
    case FALLOC_FL_WRITE_ZEROES:
      return (mode & KEEP_SIZE) !== 0n;
    default:
      // Two modes at once.
      return true;
  }
}

/**
 * vfs_fallocate's checks before the file's own: EINVAL for a negative offset
 * or a length that is not positive, EOPNOTSUPP for a mode the VFS refuses,
 * EFBIG past the largest file size. Returns the values as bigints.
 */
export function vfsFallocateChecks(modeArg: unknown, offsetArg: unknown, lenArg: unknown): { mode: bigint; offset: bigint; len: bigint } {
  const mode = intArg(modeArg, 'u32', 'mode', 'fallocate');
  const offset = intArg(offsetArg, 's64', 'offset', 'fallocate');
  const len = intArg(lenArg, 's64', 'len', 'fallocate');
  if (offset < 0n) throw new KvmError('EINVAL', 'fallocate', `offset ${offset} is negative`);
  if (len <= 0n) throw new KvmError('EINVAL', 'fallocate', `len ${len} is not positive`);
  if (vfsRefusesMode(mode)) throw new KvmError('EOPNOTSUPP', 'fallocate', `mode 0x${mode.toString(16)} is not a valid fallocate mode`);
  if (offset + len > MAX_LFS_FILESIZE) throw new KvmError('EFBIG', 'fallocate', `offset + len = ${offset + len} is past the largest file size`);
  return { mode, offset, len };
}

export class GuestMemfd {
  constructor(
    private readonly core: CoreExports,
    readonly vm: VmObject,
    /** The inode in shared memory (assembly/gmem.ts). */
    readonly file: number,
  ) {}

  get size(): bigint {
    return this.core.gmem_size(this.file);
  }

  get flags(): bigint {
    return this.core.gmem_flags(this.file);
  }

  /**
   * fallocate(2): vfs_fallocate's checks, then kvm_gmem_fallocate's. Only
   * KEEP_SIZE (allocate) and PUNCH_HOLE | KEEP_SIZE exist; the size never changes.
   */
  fallocate(modeArg: unknown, offsetArg: unknown, lenArg: unknown): 0 {
    const { mode, offset, len } = vfsFallocateChecks(modeArg, offsetArg, lenArg);
    if ((mode & KEEP_SIZE) === 0n) throw new KvmError('EOPNOTSUPP', 'fallocate', 'guest_memfd needs FALLOC_FL_KEEP_SIZE: its size never changes');
    if ((mode & ~(KEEP_SIZE | PUNCH_HOLE)) !== 0n) {
      throw new KvmError('EOPNOTSUPP', 'fallocate', `mode 0x${mode.toString(16)}: guest_memfd supports only KEEP_SIZE and PUNCH_HOLE`);
    }
    if ((offset & PAGE_MASK) !== 0n) throw new KvmError('EINVAL', 'fallocate', `offset 0x${offset.toString(16)} is not page-aligned`);
    if ((len & PAGE_MASK) !== 0n) throw new KvmError('EINVAL', 'fallocate', `len 0x${len.toString(16)} is not page-aligned`);
    const pgoff = offset >> 12n;
    const npages = len >> 12n;
    if ((mode & PUNCH_HOLE) !== 0n) {
      // kvm_gmem_punch_hole: the guest's mappings are zapped and flushed and
      // the VMM's dropped before the pages are freed.
      this.core.kvm_gmem_punch_hole(this.file, pgoff, npages);
      return 0;
    }
    if (offset + len > this.size) {
      throw new KvmError('EINVAL', 'fallocate', `[0x${offset.toString(16)}, +0x${len.toString(16)}) goes past the file size 0x${this.size.toString(16)}`);
    }
    const ret = this.core.gmem_allocate(this.file, pgoff, npages);
    if (ret < 0) throw new KvmError(errnoName(ret) ?? 'ENOMEM', 'fallocate', `cannot allocate ${npages} pages`);
    return 0;
  }

  fstat(): Stat {
    return { st_mode: GUEST_MEMFD_ST_MODE, st_size: Number(this.size), st_blocks: 0 };
  }

  /**
   * The last close (kvm_gmem_release): every memslot bound to the file loses
   * its binding, and the file's references on the inode and the VM go. A
   * mapping of the file keeps the inode (and its pages) alive.
   */
  release(): void {
    // kvm_gmem_release: the bound slots lose the file inside an invalidation
    // of all its pages, so no fault maps the file again.
    const begun = this.core.kvm_gmem_invalidate_begin(this.file, 0n, (1n << 64n) - 1n);
    this.vm.unbindGuestMemfd(this.file);
    this.core.kvm_gmem_invalidate_end(this.file, begun);
    this.core.gmem_put(this.file);
    this.vm.put();
  }
}
