// kvm.stats(fd): the event counters behind a KVM fd, by the names of
// src/core/stats.ts.
//
// The core counts per thread of execution (assembly/stats.ts): block 0 is the
// host, the thread acting as the kernel outside any vCPU (system and VM
// ioctls, file operations, the VMM's own accesses); block 1 + r belongs to
// the vCPU on record r, and holds what that vCPU did: its runs (walks, TLB,
// faults, exits) and its ioctls (a pre-fault's mappings, KVM_TRANSLATE's walk).
// So a vCPU fd reports its block; a VM fd the sum over its vCPUs, including
// vCPUs whose fd was closed (Linux keeps a vCPU, and its counts, until the VM
// goes, while gmemu recycles the record at close); /dev/kvm the whole host,
// every block summed. Work done on the host thread for one VM (fallocate,
// punch, memslot and attribute changes and the zaps they make) is not told
// apart per VM: it shows in /dev/kvm's counts only.

import { counterNames } from '../core/stats.js';
import type { Core } from '../core/wasm.js';
import type { VmObject } from './vm.js';

/** Counter values by name (src/core/stats.ts COUNTER_DOCS says what each counts). */
export type KvmStats = Record<string, number>;

export class StatsBook {
  private readonly names: string[];
  // Weak: a VM's counts go with the VM object, once no fd can name it.
  /** The vCPU records of each VM's live vCPUs. */
  private readonly live = new WeakMap<VmObject, Set<number>>();
  /** Counts of each VM's closed vCPUs, by counter index. */
  private readonly retired = new WeakMap<VmObject, bigint[]>();
  /**
   * What each record's block held when its vCPU was created: a record may
   * have served a closed vCPU, and the block keeps counting on (the core's
   * totals never lose an event), so a vCPU's counts are the block minus this.
   */
  private readonly base = new Map<number, bigint[]>();

  constructor(private readonly core: Core) {
    this.names = counterNames(core);
  }

  private static block(record: number): number {
    return 1 + record;
  }

  /** A new vCPU on `record` starts from zero, whatever the record's last vCPU counted. */
  vcpuCreated(vm: VmObject, record: number): void {
    const base = this.names.map(() => 0n);
    this.addBlock(base, StatsBook.block(record));
    this.base.set(record, base);
    let set = this.live.get(vm);
    if (!set) this.live.set(vm, (set = new Set()));
    set.add(record);
  }

  /** The vCPU on `record` is gone: its counts stay with its VM. */
  vcpuClosed(vm: VmObject, record: number): void {
    const sum = this.retired.get(vm) ?? this.names.map(() => 0n);
    this.addVcpu(sum, record);
    this.retired.set(vm, sum);
    this.live.get(vm)?.delete(record);
  }

  ofVcpu(record: number): KvmStats {
    const sum = this.names.map(() => 0n);
    this.addVcpu(sum, record);
    return this.named(sum);
  }

  ofVm(vm: VmObject): KvmStats {
    const sum = [...(this.retired.get(vm) ?? this.names.map(() => 0n))];
    for (const record of this.live.get(vm) ?? []) this.addVcpu(sum, record);
    return this.named(sum);
  }

  ofHost(): KvmStats {
    const x = this.core.exports;
    return this.named(this.names.map((_, i) => x.stats_total(i)));
  }

  /**
   * Adds what the vCPU on `record` counted since its creation. A counter
   * below its base was reset since (stats_reset): all of it is this vCPU's.
   */
  private addVcpu(sum: bigint[], record: number): void {
    const x = this.core.exports;
    const base = this.base.get(record);
    for (let i = 0; i < sum.length; i++) {
      const v = x.stats_read(StatsBook.block(record), i);
      const b = base?.[i] ?? 0n;
      sum[i] += v >= b ? v - b : v;
    }
  }

  private addBlock(sum: bigint[], block: number): void {
    const x = this.core.exports;
    for (let i = 0; i < sum.length; i++) sum[i] += x.stats_read(block, i);
  }

  private named(values: bigint[]): KvmStats {
    const out: KvmStats = {};
    this.names.forEach((name, i) => (out[name] = Number(values[i])));
    return out;
  }
}
