// The KVM uAPI: /dev/kvm, VM, vCPU and guest_memfd fds, ioctl() dispatched
// by fd kind and request number, the guest_memfd file operations and the
// VMM's mmap and memory accesses, with Linux 6.18's checks in Linux's order
// (spec/kvm-uapi.md) and its errno values. State a guest fault needs
// (memslots, guest_memfd pages, VMAs, attributes) lives in shared memory and
// changes through one Wasm call per request; this layer validates, owns the
// fd table and reports errors.

import { createCore } from '../core/wasm.js';
import type { Core, CoreExports } from '../core/wasm.js';
import { AddressSpace } from '../host/address-space.js';
import type { MmapTarget } from '../host/address-space.js';
import { VmmMemory } from '../host/vmm-memory.js';
import {
  KVM_API_VERSION, KVM_CAP_EXIT_HYPERCALL, KVM_CHECK_EXTENSION, KVM_CREATE_GUEST_MEMFD, KVM_CREATE_VCPU, KVM_CREATE_VM,
  KVM_ENABLE_CAP, KVM_GET_API_VERSION, KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_SUPPORTED_CPUID, KVM_GET_VCPU_MMAP_SIZE,
  KVM_PRE_FAULT_MEMORY, KVM_RUN, KVM_SET_CPUID2, KVM_SET_MEMORY_ATTRIBUTES, KVM_SET_REGS, KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION, KVM_SET_USER_MEMORY_REGION2, KVM_TRANSLATE,
  F_GETFD, F_GETFL, F_SETFD, FD_CLOEXEC, GUEST_MEMFD_FLAG_MMAP,
  O_LARGEFILE, O_RDWR, SEEK_HOLE,
} from '../uapi.js';
import { field, fdValue, fillStruct, intArg, structArg } from './args.js';
import type { StructValue } from './args.js';
import { GuestCpuid, KVM_MAX_CPUID_ENTRIES, cpuid2Arg, supportedCpuid } from './cpuid.js';
import { errnoName } from './errno.js';
import { KvmError } from './error.js';
import { FdTable } from './fd-table.js';
import type { FdKind, OpenFile } from './fd-table.js';
import { GuestMemfd, vfsFallocateChecks } from './guest-memfd.js';
import type { Stat } from './guest-memfd.js';
import { decideMemslot } from './memslot-rules.js';
import type { GuestMemfdLookup, MemslotRequest } from './memslot-rules.js';
import { EXIT_HYPERCALL_VALID_MASK, HOST_MAXPHYADDR, HostProfile } from './profile.js';
import type { HostPaging } from './profile.js';
import {
  KVM_CREATE_GUEST_MEMFD_STRUCT, KVM_ENABLE_CAP_STRUCT, KVM_MEMORY_ATTRIBUTES_STRUCT, KVM_PRE_FAULT_MEMORY_STRUCT,
  KVM_TRANSLATION, KVM_USERSPACE_MEMORY_REGION, KVM_USERSPACE_MEMORY_REGION2,
} from './structs.js';
import { StatsBook } from './stats.js';
import type { KvmStats } from './stats.js';
import { translateLinear } from './translate.js';
import { translateAccess } from './walk-trace.js';
import type { Translation } from './walk-trace.js';
import { KvmRunState, runVcpu } from './run.js';
import { KVM_REGS, KVM_SREGS, VcpuState } from './vcpu-state.js';
import { VmObject } from './vm.js';

export interface KvmOptions {
  /** Host RAM in MiB (default 256). */
  ramMiB?: number;
  /** The host's paging: 'tdp' (EPT, TDP MMU, SW_PROTECTED VMs; default) or 'shadow' (the probe host). */
  host?: HostPaging;
  /** Host CPUs a remote TLB flush interrupts (default 64). */
  hostCpus?: number;
  /** vCPU records in the machine, over all VMs (default 8). */
  maxVcpus?: number;
  /** Offer GUEST_MEMFD_FLAG_NO_DIRECT_MAP, a proposal not in Linux 6.18 (default false). */
  noDirectMapProposal?: boolean;
  /** Shuffles the free frame list, so frame numbers differ run to run (default: no shuffle). */
  seed?: number;
  /**
   * 2 MiB pages set aside for mmap(MAP_HUGETLB) when the machine starts, as
   * the hugepages= boot parameter does (default 0: MAP_HUGETLB is ENOMEM).
   */
  hugePages?: number;
  /** Run the debug build of the core. */
  debug?: boolean;
}

/** KVM_MAX_VCPU_IDS on x86. */
export const KVM_MAX_VCPU_IDS = 4096;
/** Size of a vCPU fd's mmap (kvm_run plus the PIO and coalesced-MMIO pages) on the probe host. */
export const KVM_VCPU_MMAP_SIZE = 12288;
/** fstat st_mode of /dev/kvm (a character device, 0666) and of KVM's anonymous-inode fds (0600, no type). */
const DEV_KVM_ST_MODE = 0o20666;
const ANON_INODE_ST_MODE = 0o600;

interface VcpuObject {
  readonly vm: VmObject;
  readonly id: number;
  readonly record: number;
  readonly state: VcpuState;
  /** Its struct kvm_run. */
  readonly run: KvmRunState;
}

type Ioctl = (file: OpenFile, arg: unknown) => unknown;

/** Why the first page of a KVM_PRE_FAULT_MEMORY range could not be mapped, by errno. */
const PRE_FAULT_FAILURES: Readonly<Record<string, string>> = {
  ENOENT: 'no memslot (the access would be emulated as MMIO)',
  EFAULT: 'no page to map: a private gfn without guest_memfd, a closed guest_memfd, or an unmapped userspace_addr',
  EAGAIN: 'the memslot is being deleted or moved',
  ENOMEM: 'out of host memory',
};

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

export class Kvm {
  /** The /dev/kvm fd. */
  readonly fd: number;
  readonly profile: HostProfile;
  private readonly fds = new FdTable();
  private readonly cloexec = new Set<number>();
  private readonly freeRecords: number[];
  private readonly x: CoreExports;
  private readonly mm: AddressSpace;
  private readonly vmm: VmmMemory;
  private readonly statsBook: StatsBook;
  /**
   * guest_memfd files whose fd is closed while a mapping still holds the file
   * (a VMA pins its struct file): kvm_gmem_release waits for the last munmap.
   */
  private readonly mappedClosedFiles = new Set<GuestMemfd>();

  private constructor(readonly core: Core, options: Required<Omit<KvmOptions, 'seed' | 'debug' | 'hugePages'>>) {
    this.x = core.exports;
    this.profile = new HostProfile(options.host, options.noDirectMapProposal);
    this.freeRecords = Array.from({ length: options.maxVcpus }, (_, i) => options.maxVcpus - 1 - i);
    this.mm = new AddressSpace(this.x);
    this.vmm = new VmmMemory(core);
    this.statsBook = new StatsBook(core);
    this.fd = this.fds.install({ kind: 'system', object: null });
  }

  /** Creates a machine and opens /dev/kvm on it. */
  static async open(options: KvmOptions = {}): Promise<Kvm> {
    const o = {
      ramMiB: options.ramMiB ?? 256,
      host: options.host ?? 'tdp',
      hostCpus: options.hostCpus ?? 64,
      maxVcpus: options.maxVcpus ?? 8,
      noDirectMapProposal: options.noDirectMapProposal ?? false,
    };
    const positive = (v: number, name: string) => {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`gmemu: Kvm.open: ${name} must be a positive integer, got ${v}`);
    };
    positive(o.ramMiB, 'ramMiB');
    positive(o.hostCpus, 'hostCpus');
    positive(o.maxVcpus, 'maxVcpus');
    if (o.host !== 'tdp' && o.host !== 'shadow') throw new RangeError(`gmemu: Kvm.open: host must be 'tdp' or 'shadow', got ${String(o.host)}`);
    const hugePages = options.hugePages ?? 0;
    if (!Number.isSafeInteger(hugePages) || hugePages < 0) throw new RangeError(`gmemu: Kvm.open: hugePages must be a non-negative integer, got ${hugePages}`);
    const core = await createCore({ ramFrames: o.ramMiB * 256, maxVcpus: o.maxVcpus, hostCpus: o.hostCpus }, options.debug ?? false);
    // The pool comes off the top of RAM before the free list is shuffled.
    if (core.exports.hugetlb_pool_init(hugePages) < 0) {
      throw new RangeError(`gmemu: Kvm.open: ${hugePages} huge pages (2 MiB each) do not fit in ${o.ramMiB} MiB with a quarter left for the rest`);
    }
    if (options.seed !== undefined) core.exports.phys_shuffle(options.seed >>> 0);
    return new Kvm(core, o);
  }

  // ---------------------------------------------------------------- ioctl

  /** ioctl(2) on a KVM fd. Returns the ioctl's result (a number, or the caller's struct, filled in). */
  ioctl(fd: number, request: number, arg?: unknown): unknown {
    const file = this.fds.get(fd, 'ioctl');
    const req = Number(intArg(request, 'u32', 'request', 'ioctl'));
    const handler = this.handler(file.kind, req);
    if (!handler) {
      // The defaults of kvm_arch_dev_ioctl, kvm_arch_vm_ioctl and
      // kvm_arch_vcpu_ioctl on x86; a guest_memfd has no ioctls at all.
      const errno = file.kind === 'vm' || file.kind === 'guest_memfd' ? 'ENOTTY' : 'EINVAL';
      throw new KvmError(errno, 'ioctl', `request ${hex(req)} is not an ioctl of a ${file.kind} fd`);
    }
    if (file.kind !== 'vcpu') return handler(file, arg);
    // A vCPU ioctl runs as that vCPU: what it does (a pre-fault's mappings,
    // a walk) counts in the vCPU's stats block, as Linux counts it in vcpu->stat.
    this.x.stats_select(1 + (file.object as VcpuObject).record);
    try {
      return handler(file, arg);
    } finally {
      this.x.stats_select(0);
    }
  }

  /** The ioctl `request` of an fd of `kind`, if it has one. */
  private handler(kind: FdKind, request: number): Ioctl | undefined {
    switch (kind) {
      case 'system':
        switch (request) {
          case KVM_GET_API_VERSION: return (f, a) => this.sysGetApiVersion(f, a);
          case KVM_CREATE_VM: return (f, a) => this.createVm(f, a);
          case KVM_CHECK_EXTENSION: return (f, a) => this.checkExtension(f, a);
          case KVM_GET_VCPU_MMAP_SIZE: return (f, a) => this.sysGetVcpuMmapSize(f, a);
          case KVM_GET_SUPPORTED_CPUID: return (f, a) => this.getSupportedCpuid(f, a);
        }
        return undefined;
      case 'vm':
        switch (request) {
          case KVM_CHECK_EXTENSION: return (f, a) => this.checkExtension(f, a);
          case KVM_CREATE_VCPU: return (f, a) => this.createVcpu(f, a);
          case KVM_ENABLE_CAP: return (f, a) => this.enableCap(f, a);
          case KVM_SET_USER_MEMORY_REGION: return (f, a) => this.setMemoryRegion(f, a, false);
          case KVM_SET_USER_MEMORY_REGION2: return (f, a) => this.setMemoryRegion(f, a, true);
          case KVM_CREATE_GUEST_MEMFD: return (f, a) => this.createGuestMemfd(f, a);
          case KVM_SET_MEMORY_ATTRIBUTES: return (f, a) => this.setMemoryAttributes(f, a);
        }
        return undefined;
      case 'vcpu':
        switch (request) {
          case KVM_GET_REGS: return (f, a) => this.getRegs(f, a);
          case KVM_SET_REGS: return (f, a) => this.setRegs(f, a);
          case KVM_GET_SREGS: return (f, a) => this.getSregs(f, a);
          case KVM_SET_SREGS: return (f, a) => this.setSregs(f, a);
          case KVM_SET_CPUID2: return (f, a) => this.setCpuid2(f, a);
          case KVM_TRANSLATE: return (f, a) => this.translateIoctl(f, a);
          case KVM_PRE_FAULT_MEMORY: return (f, a) => this.preFaultMemory(f, a);
          case KVM_RUN: return (f, a) => this.runIoctl(f, a);
        }
        return undefined;
      case 'guest_memfd':
        return undefined;
    }
  }

  /** The integer argument of an _IO ioctl (an unsigned long); no argument at all is 0. */
  private static intArgOf(arg: unknown, name: string): bigint {
    return intArg(arg === undefined ? 0 : arg, 'u64', name, 'ioctl');
  }

  private sysGetApiVersion(_f: OpenFile, arg: unknown): number {
    if (Kvm.intArgOf(arg, 'arg') !== 0n) throw new KvmError('EINVAL', 'ioctl', 'KVM_GET_API_VERSION takes no argument (arg must be 0)');
    return KVM_API_VERSION;
  }

  private sysGetVcpuMmapSize(_f: OpenFile, arg: unknown): number {
    if (Kvm.intArgOf(arg, 'arg') !== 0n) throw new KvmError('EINVAL', 'ioctl', 'KVM_GET_VCPU_MMAP_SIZE takes no argument (arg must be 0)');
    return KVM_VCPU_MMAP_SIZE;
  }

  private checkExtension(file: OpenFile, arg: unknown): number {
    const cap = Kvm.intArgOf(arg, 'cap');
    return this.profile.checkExtension(cap, file.kind === 'vm' ? (file.object as VmObject).type : null);
  }

  private createVm(_f: OpenFile, arg: unknown): number {
    const type = Kvm.intArgOf(arg, 'type');
    if (!this.profile.vmTypeSupported(type)) {
      throw new KvmError('EINVAL', 'ioctl', `VM type ${type} is not supported on this host (KVM_CAP_VM_TYPES = ${this.profile.vmTypes})`);
    }
    const id = this.x.vm_alloc();
    if (id < 0) throw new KvmError(errnoName(id) ?? 'ENOMEM', 'ioctl', 'no free VM record');
    if (this.x.kvm_mmu_init_vm(id, HostProfile.hasPrivateMem(Number(type))) < 0) {
      this.x.vm_free(id);
      throw new KvmError('ENOMEM', 'ioctl', 'no host frame for the VM\'s EPT root');
    }
    const fd = this.fds.install({ kind: 'vm', object: new VmObject(this.x, id, Number(type)) });
    this.cloexec.add(fd);
    return fd;
  }

  private getSupportedCpuid(_f: OpenFile, arg: unknown): unknown {
    const { nent } = cpuid2Arg(arg, 'ioctl');
    const entries = supportedCpuid();
    if (nent < 1 || Math.min(nent, KVM_MAX_CPUID_ENTRIES) < entries.length) {
      throw new KvmError('E2BIG', 'ioctl', `kvm_cpuid2.nent ${nent} is less than the ${entries.length} supported entries`);
    }
    const target = arg as Record<string, unknown>;
    target.nent = entries.length;
    target.entries = entries.map((e) => {
      const out: Record<string, unknown> = {};
      fillStruct(out, e);
      return out;
    });
    return arg;
  }

  private createVcpu(file: OpenFile, arg: unknown): number {
    const vm = file.object as VmObject;
    const id = Kvm.intArgOf(arg, 'id');
    if (id >= BigInt(KVM_MAX_VCPU_IDS)) throw new KvmError('EINVAL', 'ioctl', `vcpu id ${id} >= KVM_MAX_VCPU_IDS (${KVM_MAX_VCPU_IDS})`);
    if (this.freeRecords.length === 0) throw new KvmError('EINVAL', 'ioctl', 'every vCPU record of the machine is in use (Kvm.open maxVcpus)');
    if (vm.vcpuIds.has(Number(id))) throw new KvmError('EEXIST', 'ioctl', `vcpu id ${id} exists in this VM`);
    const record = this.freeRecords.pop() as number;
    const vcpu: VcpuObject = {
      vm, id: Number(id), record,
      state: new VcpuState(this.x, record, this.core.memory, this.profile.paging === 'shadow'),
      run: new KvmRunState(this.x, this.core.memory, record),
    };
    vm.vcpuIds.add(vcpu.id);
    // From here the VM's remote requests (TLB shootdowns) reach the record.
    this.x.vcpu_vm_attach(record, vm.id);
    this.x.kvm_mmu_vcpu_init(record, vm.id, HOST_MAXPHYADDR);
    this.statsBook.vcpuCreated(vm, record);
    vm.get();
    const fd = this.fds.install({ kind: 'vcpu', object: vcpu });
    this.cloexec.add(fd);
    return fd;
  }

  private enableCap(file: OpenFile, arg: unknown): number {
    const vm = file.object as VmObject;
    const s = structArg(arg, KVM_ENABLE_CAP_STRUCT, 'ioctl');
    const cap = field(s, 'cap');
    if (field(s, 'flags') !== 0n) throw new KvmError('EINVAL', 'ioctl', 'kvm_enable_cap.flags must be 0');
    if (cap !== BigInt(KVM_CAP_EXIT_HYPERCALL)) throw new KvmError('EINVAL', 'ioctl', `capability ${cap} cannot be enabled on a VM`);
    const mask = (s.args as bigint[])[0];
    if ((mask & ~EXIT_HYPERCALL_VALID_MASK) !== 0n) {
      throw new KvmError('EINVAL', 'ioctl', `kvm_enable_cap.args[0] 0x${mask.toString(16)}: only KVM_HC_MAP_GPA_RANGE (0x${EXIT_HYPERCALL_VALID_MASK.toString(16)}) may exit`);
    }
    vm.hypercallExitMask = mask;
    return 0;
  }

  private setMemoryRegion(file: OpenFile, arg: unknown, v2: boolean): number {
    const vm = file.object as VmObject;
    const s = structArg(arg, v2 ? KVM_USERSPACE_MEMORY_REGION2 : KVM_USERSPACE_MEMORY_REGION, 'ioctl');
    const req: MemslotRequest = {
      v2,
      slot: field(s, 'slot'),
      flags: field(s, 'flags'),
      guest_phys_addr: field(s, 'guest_phys_addr'),
      memory_size: field(s, 'memory_size'),
      userspace_addr: field(s, 'userspace_addr'),
      guest_memfd_offset: v2 ? field(s, 'guest_memfd_offset') : 0n,
      guest_memfd: v2 ? fdValue(field(s, 'guest_memfd')) : -1,
    };
    const x = this.x;
    const decision = decideMemslot(req, {
      addressSpaces: 1,
      maxGfn: this.profile.maxGfn,
      slot: (id) => vm.slot(id),
      overlaps: (asId, baseGfn, npages, exceptId) => x.memslot_overlaps(vm.id, asId, baseGfn, npages, exceptId),
      guestMemfd: (fd) => this.lookupGuestMemfd(fd, vm),
      gmemBound: (gfile, pgoff, npages, exceptId) => x.memslot_gmem_bound(vm.id, gfile, pgoff, npages, exceptId),
    });
    switch (decision.action) {
      case 'error':
        throw new KvmError(decision.errno, 'ioctl', decision.reason);
      case 'none':
        return 0;
      case 'delete': {
        this.invalidateSlot(vm, decision.id);
        const r = x.memslot_delete(vm.id, decision.id);
        if (r < 0) throw new KvmError(errnoName(r) ?? 'EINVAL', 'ioctl', `cannot delete slot ${decision.id}`);
        return 0;
      }
      default: {
        const n = decision.slot;
        if (decision.action === 'move') this.invalidateSlot(vm, n.id);
        const r = x.memslot_set(vm.id, n.id, n.flags, n.baseGfn, n.npages, n.userspaceAddr, n.gmem?.file ?? -1, n.gmem?.pgoff ?? 0n);
        // Linux can only run out of memory here; the emulator's table holds
        // MEMSLOTS_MAX active slots per VM, fewer than KVM_USER_MEM_SLOTS.
        if (r < 0) throw new KvmError('ENOMEM', 'ioctl', `cannot install slot ${n.id & 0xffff}: the VM already has ${x.MEMSLOTS_MAX.value} slots, the emulator's limit`);
        return 0;
      }
    }
  }

  /**
   * The first half of a memslot delete or move (kvm_set_memslot): the old
   * slot is published as KVM_MEMSLOT_INVALID, so faults on it retry, and the
   * VM's EPT is zapped (kvm_arch_flush_shadow_memslot) before the change.
   */
  private invalidateSlot(vm: VmObject, id: number): void {
    const x = this.x;
    const old = vm.slot(id);
    if (!old) return;
    x.memslot_set(vm.id, id, old.flags | x.KVM_MEMSLOT_INVALID.value, old.baseGfn, old.npages, old.userspaceAddr, old.gmemFile, old.gmemPgoff);
    x.kvm_arch_flush_shadow_memslot(vm.id);
  }

  private lookupGuestMemfd(fd: number, vm: VmObject): GuestMemfdLookup {
    const f = this.fds.lookup(fd);
    if (!f) return { kind: 'not-open' };
    if (f.kind !== 'guest_memfd') return { kind: 'not-guest-memfd' };
    const g = f.object as GuestMemfd;
    return { kind: 'guest-memfd', file: g.file, ofThisVm: g.vm === vm, size: g.size, mmap: (g.flags & BigInt(GUEST_MEMFD_FLAG_MMAP)) !== 0n };
  }

  private createGuestMemfd(file: OpenFile, arg: unknown): number {
    const vm = file.object as VmObject;
    const s = structArg(arg, KVM_CREATE_GUEST_MEMFD_STRUCT, 'ioctl');
    const flags = field(s, 'flags');
    const size = field(s, 'size');
    const valid = BigInt(this.profile.guestMemfdFlags(vm.type));
    if ((flags & ~valid) !== 0n) {
      throw new KvmError('EINVAL', 'ioctl', `kvm_create_guest_memfd.flags 0x${flags.toString(16)}: this VM supports 0x${valid.toString(16)} (KVM_CAP_GUEST_MEMFD_FLAGS)`);
    }
    if (BigInt.asIntN(64, size) <= 0n || (size & 0xfffn) !== 0n) {
      throw new KvmError('EINVAL', 'ioctl', `kvm_create_guest_memfd.size 0x${size.toString(16)} is not a positive multiple of 4096`);
    }
    const id = this.x.gmem_create(vm.id, size, flags);
    if (id < 0) throw new KvmError(errnoName(id) ?? 'ENFILE', 'ioctl', 'no free guest_memfd inode');
    vm.get();
    return this.fds.install({ kind: 'guest_memfd', object: new GuestMemfd(this.x, vm, id) });
  }

  private setMemoryAttributes(file: OpenFile, arg: unknown): number {
    const vm = file.object as VmObject;
    if (!this.profile.memoryAttributesBuilt) {
      throw new KvmError('ENOTTY', 'ioctl', 'KVM_SET_MEMORY_ATTRIBUTES is not built on this host (shadow paging profile)');
    }
    const s = structArg(arg, KVM_MEMORY_ATTRIBUTES_STRUCT, 'ioctl');
    const address = field(s, 'address');
    const size = field(s, 'size');
    const attributes = field(s, 'attributes');
    const supported = BigInt(this.profile.memoryAttributes(vm.type));
    if (field(s, 'flags') !== 0n) throw new KvmError('EINVAL', 'ioctl', 'kvm_memory_attributes.flags must be 0');
    if ((attributes & ~supported) !== 0n) {
      throw new KvmError('EINVAL', 'ioctl', `kvm_memory_attributes.attributes 0x${attributes.toString(16)}: this VM supports 0x${supported.toString(16)}`);
    }
    if (size === 0n || address + size > (1n << 64n) - 1n) throw new KvmError('EINVAL', 'ioctl', 'kvm_memory_attributes: size is 0 or address + size wraps');
    if (((address | size) & 0xfffn) !== 0n) throw new KvmError('EINVAL', 'ioctl', 'kvm_memory_attributes: address and size must be page-aligned');
    const start = address >> 12n;
    const end = (address + size) >> 12n;
    if (this.x.attr_range_is(vm.id, start, end, attributes)) return 0;
    const r = this.x.kvm_vm_set_mem_attributes(vm.id, start, end, attributes);
    if (r < 0) throw new KvmError(errnoName(r) ?? 'ENOMEM', 'ioctl', 'cannot store the attributes');
    return 0;
  }

  private getRegs(file: OpenFile, arg: unknown): unknown {
    return this.fill(arg, (file.object as VcpuObject).state.getRegs(), 'kvm_regs');
  }

  private setRegs(file: OpenFile, arg: unknown): number {
    (file.object as VcpuObject).state.setRegs(structArg(arg, KVM_REGS, 'ioctl'));
    return 0;
  }

  private getSregs(file: OpenFile, arg: unknown): unknown {
    return this.fill(arg, (file.object as VcpuObject).state.getSregs(), 'kvm_sregs');
  }

  private setSregs(file: OpenFile, arg: unknown): number {
    const vcpu = file.object as VcpuObject;
    const s = structArg(arg, KVM_SREGS, 'ioctl');
    const why = vcpu.state.invalidSregs(s);
    if (why) throw new KvmError('EINVAL', 'ioctl', `kvm_sregs: ${why}`);
    vcpu.state.setSregs(s);
    return 0;
  }

  private setCpuid2(file: OpenFile, arg: unknown): number {
    const vcpu = file.object as VcpuObject;
    const { nent, entries } = cpuid2Arg(arg, 'ioctl');
    if (nent > KVM_MAX_CPUID_ENTRIES) throw new KvmError('E2BIG', 'ioctl', `kvm_cpuid2.nent ${nent} > KVM_MAX_CPUID_ENTRIES (${KVM_MAX_CPUID_ENTRIES})`);
    if (entries.length < nent) throw new KvmError('EFAULT', 'ioctl', `kvm_cpuid2.entries holds ${entries.length} of nent ${nent} entries`);
    vcpu.state.setCpuid(new GuestCpuid(entries));
    return 0;
  }

  /** KVM_TRANSLATE: fills physical_address and valid; writeable and usermode are Linux's constants 1 and 0. */
  private translateIoctl(file: OpenFile, arg: unknown): unknown {
    const vcpu = file.object as VcpuObject;
    const s = structArg(arg, KVM_TRANSLATION, 'ioctl');
    const out = translateLinear(this.core, vcpu.vm.id, vcpu.record, field(s, 'linear_address'));
    return this.fill(arg, { ...s, ...out, writeable: 1n, usermode: 0n }, 'kvm_translation');
  }

  /** KVM_RUN: the guest runs in this thread until an exit (assembly/run.ts); the exit is in runState(fd). */
  private runIoctl(file: OpenFile, arg: unknown): number {
    if (Kvm.intArgOf(arg, 'arg') !== 0n) throw new KvmError('EINVAL', 'ioctl', 'KVM_RUN takes no argument (arg must be 0)');
    const vcpu = file.object as VcpuObject;
    return runVcpu(this.x, vcpu.run, vcpu.record, vcpu.vm.hypercallExitMask);
  }

  /** The struct kvm_run of vCPU fd `fd` (what mmap of the fd shows in Linux), as a live view. */
  runState(fd: number): KvmRunState {
    const file = this.fds.get(fd, 'mmap');
    if (file.kind !== 'vcpu') throw new KvmError('EINVAL', 'mmap', `fd ${fd} is a ${file.kind} fd, not a vCPU fd: it has no struct kvm_run`);
    return (file.object as VcpuObject).run;
  }

  /**
   * KVM_PRE_FAULT_MEMORY's checks (kvm_vcpu_pre_fault_memory). Once the
   * struct is read it is copied back in every case, holding what is left of
   * the range: all of it when the call fails.
   */
  private preFaultMemory(file: OpenFile, arg: unknown): unknown {
    const s = structArg(arg, KVM_PRE_FAULT_MEMORY_STRUCT, 'ioctl');
    try {
      this.preFaultRange(file.object as VcpuObject, s);
    } finally {
      this.fill(arg, s, 'kvm_pre_fault_memory');
    }
    return arg;
  }

  /**
   * kvm_vcpu_pre_fault_memory: the argument checks here, the mapping loop in
   * the core's fault path (kvm_vcpu_pre_fault_memory), which leaves the range
   * not yet mapped in the struct. The call fails only when no page was mapped.
   */
  private preFaultRange(vcpu: VcpuObject, s: StructValue): void {
    const gpa = field(s, 'gpa');
    const size = field(s, 'size');
    if (field(s, 'flags') !== 0n) throw new KvmError('EINVAL', 'ioctl', 'kvm_pre_fault_memory.flags must be 0');
    if (((gpa | size) & 0xfffn) !== 0n || gpa + size <= gpa || gpa + size > (1n << 64n) - 1n) {
      throw new KvmError('EINVAL', 'ioctl', 'kvm_pre_fault_memory: gpa and size must be page-aligned, size non-zero, gpa + size must not wrap');
    }
    if (this.profile.paging === 'shadow') throw new KvmError('EOPNOTSUPP', 'ioctl', 'pre-faulting needs the TDP MMU; this host uses shadow paging');
    const x = this.x;
    const r = x.kvm_vcpu_pre_fault_memory(vcpu.record, gpa, size);
    s.gpa = x.kvm_pre_fault_gpa();
    s.size = x.kvm_pre_fault_size();
    if (r < 0) {
      const name = errnoName(r) ?? 'EIO';
      throw new KvmError(name, 'ioctl', `kvm_pre_fault_memory: gpa 0x${gpa.toString(16)}: ${PRE_FAULT_FAILURES[name] ?? 'the fault failed'}`);
    }
  }

  /** Copies `values` into the caller's struct object (EFAULT when there is none) and returns it. */
  private fill(arg: unknown, values: StructValue, name: string): unknown {
    if (typeof arg !== 'object' || arg === null) throw new KvmError('EFAULT', 'ioctl', `struct ${name} argument is not an object`);
    fillStruct(arg as Record<string, unknown>, values);
    return arg;
  }

  // ---------------------------------------------------------------- gmemu extensions

  /**
   * The event counters of a vCPU fd (its own), a VM fd (the sum over its
   * vCPUs) or /dev/kvm (the whole host), by name: src/kvm/stats.ts.
   */
  stats(fd: number): KvmStats {
    const file = this.fds.get(fd, 'stats');
    switch (file.kind) {
      case 'system': return this.statsBook.ofHost();
      case 'vm': return this.statsBook.ofVm(file.object as VmObject);
      case 'vcpu': return this.statsBook.ofVcpu((file.object as VcpuObject).record);
      case 'guest_memfd': throw new KvmError('ENOTTY', 'stats', `fd ${fd} is a guest_memfd, which has no statistics`);
    }
  }

  /**
   * One access's full walk from vCPU fd `vcpu`, without its TLB: every
   * reference, the A/D changes, the fault if any (src/kvm/walk-trace.ts).
   */
  translate(vcpu: number, gva: unknown, options?: unknown): Translation {
    const file = this.fds.get(vcpu, 'translate');
    if (file.kind !== 'vcpu') throw new KvmError('EINVAL', 'translate', `fd ${vcpu} is a ${file.kind} fd, not a vCPU fd`);
    return translateAccess(this.core, (file.object as VcpuObject).record, gva, options);
  }

  // ---------------------------------------------------------------- files

  /** close(2). The object behind the fd goes when its last holder does. */
  close(fd: number): 0 {
    const file = this.fds.remove(fd, 'close');
    this.cloexec.delete(FdTable.fdNumber(fd));
    switch (file.kind) {
      case 'vm':
        (file.object as VmObject).put();
        break;
      case 'vcpu': {
        const vcpu = file.object as VcpuObject;
        vcpu.vm.vcpuIds.delete(vcpu.id);
        this.x.vcpu_vm_detach(vcpu.record);
        this.statsBook.vcpuClosed(vcpu.vm, vcpu.record);
        this.freeRecords.push(vcpu.record);
        vcpu.vm.put();
        break;
      }
      case 'guest_memfd': {
        const g = file.object as GuestMemfd;
        if (this.mm.mapsFile(g.file)) this.mappedClosedFiles.add(g);
        else g.release();
        break;
      }
      case 'system':
        break;
    }
    return 0;
  }

  /** fallocate(2): guest_memfd's rules; any other KVM fd is not a regular file (ENODEV). */
  fallocate(fd: number, mode: unknown, offset: unknown, len: unknown): 0 {
    const file = this.fds.get(fd, 'fallocate');
    if (file.kind === 'guest_memfd') return (file.object as GuestMemfd).fallocate(mode, offset, len);
    vfsFallocateChecks(mode, offset, len);
    throw new KvmError('ENODEV', 'fallocate', `a ${file.kind} fd is not a regular file`);
  }

  /** read(2) of an fd: no KVM file implements read. */
  fdRead(fd: number, len: unknown): never {
    const file = this.fds.get(fd, 'read');
    intArg(len, 'u64', 'len', 'read');
    throw new KvmError('EINVAL', 'read', `a ${file.kind} fd cannot be read`);
  }

  /** write(2) of an fd: no KVM file implements write. */
  fdWrite(fd: number, data: Uint8Array): never {
    const file = this.fds.get(fd, 'write');
    if (!(data instanceof Uint8Array)) throw new KvmError('EINVAL', 'write', 'data must be a Uint8Array');
    throw new KvmError('EINVAL', 'write', `a ${file.kind} fd cannot be written`);
  }

  /** pread(2): KVM's anonymous-inode files cannot seek (ESPIPE); /dev/kvm has no read (EINVAL). */
  pread(fd: number, len: unknown, offset: unknown): never {
    return this.positionedIo(fd, 'pread64', len, offset);
  }

  /** pwrite(2), as pread. */
  pwrite(fd: number, data: Uint8Array, offset: unknown): never {
    if (!(data instanceof Uint8Array)) throw new KvmError('EINVAL', 'pwrite64', 'data must be a Uint8Array');
    return this.positionedIo(fd, 'pwrite64', data.length, offset);
  }

  private positionedIo(fd: number, syscall: string, len: unknown, offset: unknown): never {
    const file = this.fds.get(fd, syscall);
    intArg(len, 'u64', 'len', syscall);
    const pos = intArg(offset, 's64', 'offset', syscall);
    if (pos < 0n) throw new KvmError('EINVAL', syscall, `offset ${pos} is negative`);
    if (file.kind === 'system') throw new KvmError('EINVAL', syscall, '/dev/kvm cannot be read or written');
    throw new KvmError('ESPIPE', syscall, `a ${file.kind} fd is not seekable`);
  }

  /** lseek(2): whence past SEEK_HOLE is EINVAL; /dev/kvm's llseek is a no-op at 0; the other KVM files cannot seek. */
  lseek(fd: number, offset: unknown, whence: unknown): number {
    const file = this.fds.get(fd, 'lseek');
    intArg(offset, 's64', 'offset', 'lseek');
    if (intArg(whence, 'u32', 'whence', 'lseek') > BigInt(SEEK_HOLE)) throw new KvmError('EINVAL', 'lseek', `whence ${String(whence)} is past SEEK_HOLE`);
    if (file.kind === 'system') return 0;
    throw new KvmError('ESPIPE', 'lseek', `a ${file.kind} fd is not seekable`);
  }

  /** ftruncate(2): a guest_memfd's size never changes, and the other KVM files are not regular. */
  ftruncate(fd: number, length: unknown): never {
    const file = this.fds.get(fd, 'ftruncate');
    const len = intArg(length, 's64', 'length', 'ftruncate');
    if (len < 0n) throw new KvmError('EINVAL', 'ftruncate', `length ${len} is negative`);
    throw new KvmError('EINVAL', 'ftruncate', file.kind === 'guest_memfd' ? 'a guest_memfd cannot be resized' : `a ${file.kind} fd is not a regular file`);
  }

  /** fstat(2). */
  fstat(fd: number): Stat {
    const file = this.fds.get(fd, 'fstat');
    if (file.kind === 'guest_memfd') return (file.object as GuestMemfd).fstat();
    return { st_mode: file.kind === 'system' ? DEV_KVM_ST_MODE : ANON_INODE_ST_MODE, st_size: 0, st_blocks: 0 };
  }

  /**
   * fcntl(2) F_GETFD / F_SETFD (FD_CLOEXEC: VM and vCPU fds are close-on-exec,
   * guest_memfd fds are not) and F_GETFL (all are O_RDWR; /dev/kvm, opened by
   * open(2), and guest_memfd, which sets it itself, are O_LARGEFILE too).
   */
  fcntl(fd: number, cmd: number | 'F_GETFD' | 'F_SETFD' | 'F_GETFL', arg?: unknown): number {
    const file = this.fds.get(fd, 'fcntl');
    fd = FdTable.fdNumber(fd);
    const c = cmd === 'F_GETFD' ? F_GETFD : cmd === 'F_SETFD' ? F_SETFD : cmd === 'F_GETFL' ? F_GETFL : cmd;
    if (c === F_GETFD) return this.cloexec.has(fd) ? FD_CLOEXEC : 0;
    if (c === F_GETFL) return file.kind === 'system' || file.kind === 'guest_memfd' ? O_RDWR | O_LARGEFILE : O_RDWR;
    if (c === F_SETFD) {
      if ((intArg(arg === undefined ? 0 : arg, 'u64', 'arg', 'fcntl') & BigInt(FD_CLOEXEC)) !== 0n) this.cloexec.add(fd);
      else this.cloexec.delete(fd);
      return 0;
    }
    throw new KvmError('EINVAL', 'fcntl', `fcntl command ${String(cmd)} is not modelled (F_GETFD, F_SETFD and F_GETFL are)`);
  }

  // ---------------------------------------------------------------- VMM memory

  /** mmap(2): anonymous memory (fd -1 with MAP_ANONYMOUS) or a guest_memfd. Returns the address. */
  mmap(addr: unknown, length: unknown, prot: unknown, flags: unknown, fd: number, offset: unknown): bigint {
    const start = this.mm.mmap(addr, length, prot, flags, () => this.mmapTarget(fd), offset);
    // MAP_FIXED may have replaced the last mapping of a closed file.
    this.releaseUnmappedFiles();
    return start;
  }

  private mmapTarget(fd: number): MmapTarget {
    const file = this.fds.get(fd, 'mmap');
    if (file.kind === 'guest_memfd') {
      const g = file.object as GuestMemfd;
      return { kind: 'guest_memfd', file: g.file, mmapAllowed: (g.flags & BigInt(GUEST_MEMFD_FLAG_MMAP)) !== 0n };
    }
    // Linux maps struct kvm_run there; gmemu's is runState(fd), and no errno
    // would be true to Linux for mapping it.
    if (file.kind === 'vcpu') throw new Error('gmemu: mmap of a vCPU fd: use kvm.runState(fd) for its struct kvm_run');
    return { kind: 'no-mmap', what: `a ${file.kind} fd` };
  }

  munmap(addr: unknown, length: unknown): 0 {
    this.mm.munmap(addr, length);
    this.releaseUnmappedFiles();
    return 0;
  }

  /** The last fput of each closed guest_memfd whose last mapping went. */
  private releaseUnmappedFiles(): void {
    for (const g of this.mappedClosedFiles) {
      if (this.mm.mapsFile(g.file)) continue;
      this.mappedClosedFiles.delete(g);
      g.release();
    }
  }

  mprotect(addr: unknown, length: unknown, prot: unknown): 0 {
    return this.mm.mprotect(addr, length, prot);
  }

  /** The VMM reads `len` bytes of its own memory at `hva` (KvmError SIGSEGV / SIGBUS as the kernel signals). */
  read(hva: unknown, len: unknown): Uint8Array {
    return this.vmm.read(hva, len);
  }

  /** The VMM writes `data` to its own memory at `hva`. */
  write(hva: unknown, data: Uint8Array): void {
    this.vmm.write(hva, data);
  }

  readU8(hva: unknown): number {
    return this.vmm.read(hva, 1)[0];
  }

  writeU8(hva: unknown, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 255) throw new KvmError('EINVAL', 'write', `value ${value} is not a byte`);
    this.vmm.write(hva, Uint8Array.of(value));
  }
}
