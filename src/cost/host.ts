// The host the modelled time is for: the few facts about the machine that
// decide which cost applies or how often, and that the emulator's counts do
// not carry themselves.

export interface HostModel {
  /** Online host CPUs: every kernel-wide TLB flush interrupts all of them. */
  readonly cpus: number;
  /** Which virtualisation extension prices an exit. */
  readonly exits: 'vmx' | 'svm';
  /** Kernel page-table isolation on (Meltdown-affected Intel parts only). */
  readonly pti: boolean;
  /**
   * Some shootdown target sleeps in a deep C-state, so the initiator waits for
   * it to wake (costs.md section 7 includes this in the default).
   */
  readonly idleTargets: boolean;
}

/** The seed thread's host: 64 CPUs (issue 5), an Intel part without PTI (Ice Lake-SP, costs.md section 6). */
export const DEFAULT_HOST: HostModel = { cpus: 64, exits: 'vmx', pti: false, idleTargets: true };

/** `host` with its fields checked: a bad one throws naming it. */
export function checkHost(host: HostModel): HostModel {
  if (!Number.isInteger(host.cpus) || host.cpus < 1) throw new RangeError(`host.cpus must be a positive integer, not ${host.cpus}`);
  if (host.exits !== 'vmx' && host.exits !== 'svm') throw new RangeError(`host.exits must be 'vmx' or 'svm', not ${String(host.exits)}`);
  if (typeof host.pti !== 'boolean') throw new RangeError(`host.pti must be a boolean`);
  if (typeof host.idleTargets !== 'boolean') throw new RangeError(`host.idleTargets must be a boolean`);
  return host;
}
