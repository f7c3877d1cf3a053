// KvmError: a failed call, in the shape of Node's system errors
// (`code: 'EINVAL'`, `errno: -22`, `syscall: 'ioctl'`), so callers handle
// gmemu's errors the way they handle fs or net errors.
//
// A VMM access that the kernel answers with a signal instead of an errno (a
// SIGBUS on a guest_memfd page that is not shared, a SIGSEGV outside any
// mapping) is a KvmError too, with the signal's name as `code` and no errno.

import { ERRNO, type ErrnoName } from './errno.js';

export type SignalName = 'SIGBUS' | 'SIGSEGV';

export class KvmError extends Error {
  /** 'EINVAL', ..., or the signal: 'SIGBUS', 'SIGSEGV'. */
  readonly code: ErrnoName | SignalName;
  /** The negative errno, as Node reports it; undefined for a signal. */
  readonly errno: number | undefined;
  /** The call that failed: 'ioctl', 'fallocate', 'mmap', 'read', ... */
  readonly syscall: string;

  constructor(code: ErrnoName | SignalName, syscall: string, detail: string) {
    super(`${code}: ${syscall}: ${detail}`);
    this.name = 'KvmError';
    this.code = code;
    this.errno = code in ERRNO ? -ERRNO[code as ErrnoName] : undefined;
    this.syscall = syscall;
  }
}
