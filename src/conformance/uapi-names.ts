// Constant names in uAPI cases (`"prot": ["PROT_READ", "PROT_WRITE"]`,
// `"request": "KVM_CHECK_EXTENSION"`, `"whence": "SEEK_END"`) resolved
// through gmemu's own Linux constants (src/uapi.ts), so a case can only name
// what the uAPI defines: a name it lacks is a failure of the case, not a
// number the executor made up.

import * as K from '../uapi.js';
import { CaseError } from './fields.js';

const CONSTANTS = K as unknown as Record<string, unknown>;

/** The family a name must belong to, by its Linux prefix. */
export type NameFamily = 'PROT_' | 'MAP_' | 'FALLOC_FL_' | 'F_' | 'SEEK_';

/** The value of the constant `name` of `family`. */
export function constant(name: unknown, family: NameFamily, where: string): number {
  if (typeof name !== 'string' || !name.startsWith(family)) {
    throw new CaseError(`${where}: a ${family}* name`, JSON.stringify(name) ?? String(name));
  }
  const v = CONSTANTS[name];
  if (typeof v !== 'number') throw new CaseError(`${where}: a ${family}* constant of gmemu/uapi`, `${name} is not defined there`);
  return v;
}

/** A list of names of `family` ORed together; [] is 0. */
export function constantList(names: unknown, family: NameFamily, where: string): number {
  if (!Array.isArray(names)) throw new CaseError(`${where}: a list of ${family}* names`, JSON.stringify(names) ?? String(names));
  return names.reduce<number>((acc, n, i) => (acc | constant(n, family, `${where}[${i}]`)) >>> 0, 0);
}

/** The request number of a KVM ioctl named in a case. */
export function ioctlRequest(name: string, where: string): number {
  const v = CONSTANTS[name];
  if (!name.startsWith('KVM_') || typeof v !== 'number') throw new CaseError(`${where}: a KVM ioctl of gmemu/uapi`, `${name} is not defined there`);
  return v;
}

/** The value of any KVM_* constant of gmemu/uapi named in a case (a kvm_run field value). */
export function kvmConstant(name: string, where: string): number {
  const v = CONSTANTS[name];
  if (!name.startsWith('KVM_') || typeof v !== 'number') throw new CaseError(`${where}: a number or a KVM_* constant of gmemu/uapi`, `${name} is not defined there`);
  return v;
}

/** kvm_run.exit_reason values, by name. */
const EXIT_REASONS = [
  'KVM_EXIT_IO', 'KVM_EXIT_HYPERCALL', 'KVM_EXIT_HLT', 'KVM_EXIT_MMIO', 'KVM_EXIT_SHUTDOWN', 'KVM_EXIT_INTR',
  'KVM_EXIT_INTERNAL_ERROR', 'KVM_EXIT_MEMORY_FAULT',
] as const;

/** The KVM_EXIT_* name of an exit reason, or the number when gmemu/uapi names none. */
export function exitReasonName(reason: number): string | number {
  return EXIT_REASONS.find((n) => CONSTANTS[n] === reason) ?? reason;
}
