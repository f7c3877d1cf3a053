// Linux errno values (include/uapi/asm-generic/errno-base.h and errno.h), the
// ones the KVM uAPI and the file operations gmemu models can return.

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  ERANGE: 34,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
  EHWPOISON: 133,
} as const;

export type ErrnoName = keyof typeof ERRNO;

/** The name of a (positive or negative) errno number, as Node reports it. */
export function errnoName(errno: number): ErrnoName | undefined {
  const n = Math.abs(errno);
  return (Object.keys(ERRNO) as ErrnoName[]).find((k) => ERRNO[k] === n);
}
