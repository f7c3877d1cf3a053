// The VMM process's file descriptors. Numbers follow Linux: each new fd is
// the lowest free number, from 3 up because 0-2 are stdin, stdout and stderr.
// An fd refers to an open file; the object behind it (a VM, a guest_memfd
// inode) has its own lifetime, counted by its holders (a guest_memfd or a vCPU keeps its VM alive: vm.ts).

import { KvmError } from './error.js';

export type FdKind = 'system' | 'vm' | 'vcpu' | 'guest_memfd';

/** The open file an fd refers to. */
export interface OpenFile<T = unknown> {
  readonly kind: FdKind;
  readonly object: T;
}

/** The first fd number after stdin, stdout and stderr. */
export const FIRST_FD = 3;

export class FdTable {
  private readonly files = new Map<number, OpenFile>();

  /** Installs `file` at the lowest free number (fd_install after get_unused_fd). */
  install(file: OpenFile): number {
    let fd = FIRST_FD;
    while (this.files.has(fd)) fd++;
    this.files.set(fd, file);
    return fd;
  }

  /** The open file of `fd`, or undefined when it is not open (fdget). */
  lookup(fd: number): OpenFile | undefined {
    return this.files.get(fd);
  }

  /**
   * The open file of `fd` (a number, or a bigint like every integer of the
   * uAPI): EBADF when it is not an open fd. A value that is not an integer
   * cannot name an fd, so it is EBADF too, as a C int that no file uses.
   */
  get(fd: unknown, syscall: string): OpenFile {
    const file = this.files.get(FdTable.fdNumber(fd));
    if (!file) throw new KvmError('EBADF', syscall, `fd ${typeof fd === 'string' ? JSON.stringify(fd) : String(fd)} is not open`);
    return file;
  }

  /** Removes `fd` and returns what it referred to (EBADF when not open). */
  remove(fd: unknown, syscall: string): OpenFile {
    const file = this.get(fd, syscall);
    this.files.delete(FdTable.fdNumber(fd));
    return file;
  }

  /** `fd` as the number the table is keyed by; NaN (no file) when it is no integer. */
  static fdNumber(fd: unknown): number {
    if (typeof fd === 'bigint') return fd >= 0n && fd <= 0x7fff_ffffn ? Number(fd) : NaN;
    return typeof fd === 'number' ? fd : NaN;
  }

  /** How many fds are open. */
  get size(): number {
    return this.files.size;
  }
}
