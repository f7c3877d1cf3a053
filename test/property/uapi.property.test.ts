// Property tests of the uAPI: random call sequences, valid and invalid calls
// mixed, on one machine per host profile (a fresh machine per sequence would
// cost more than the calls). After EVERY call:
//   - a call that failed changed nothing observable: fds, memslots, guest_memfd
//     sizes and pages, VMAs and the VMM's resident pages, memory attributes,
//     free frames (counters are excluded: counting a refusal is a change no
//     caller sees). A VMM access that raises SIGBUS / SIGSEGV is a signal, not
//     a failed call: the pages it faulted in before the bad one stay, as in Linux;
//   - frame accounting balances: free + used == total, and the free list is
//     exactly the frames with no reference (assembly/inspect.ts);
//   - every frame in use has an owner that exists;
//   - every guest_memfd page belongs to one file, of a VM that exists;
//   - every EPT leaf maps the gfn's backing of the moment (the guest_memfd
//     page when private or guest_memfd-only, else the VMM's page), never a
//     freed or replaced frame, and every TLB entry agrees with its EPT: after
//     a punch, a conversion, a munmap or a memslot change nothing still
//     reaches the old frame. vCPUs fill their TLBs by guest accesses, with
//     EPT violations handled as KVM_RUN handles them.
// Anonymous VMM memory is not "a VM's": two VMs may map the same VMM pages,
// as in Linux. After each sequence every fd is closed and every mapping
// unmapped, and the machine must be back to its frames at the start.
//
// Three machines share the runs: tdp, tdp with the NO_DIRECT_MAP proposal
// (whose free frames must all be back in the direct map), and shadow.
// GMEMU_PROPERTY_RUNS scales the runs (default: 10,000 sequences in all);
// GMEMU_PROPERTY_SEED replays a failure.

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import { KvmError } from '../../src/kvm/error.js';
import { HOST_MAXPHYADDR } from '../../src/kvm/profile.js';
import * as K from '../../src/uapi.js';

const RUNS = Number(process.env.GMEMU_PROPERTY_RUNS ?? 10_000);
const SEED = Number(process.env.GMEMU_PROPERTY_SEED ?? Date.now() % 0x7fffffff);
const PAGE = 4096;
/** VM ids and guest_memfd ids a sequence can reach (the core hands out the lowest free ones). */
const VM_IDS = 8;
const GMEM_IDS = 24;
/** Gfns whose attributes the snapshot reads: every gpa the calls use is below. */
const ATTR_GFNS = 24;
/** Gfns whose EPT leaves the invariant checks (pre-faults reach past ATTR_GFNS). */
const EPT_GFNS = 40n;
const MAX_VCPUS = 4;

interface Mapping { addr: bigint; len: number }

/** What a sequence has opened so far, as the caller knows it. */
interface World {
  kvm: Kvm;
  vms: number[];
  vcpus: number[];
  gmems: number[];
  maps: Mapping[];
}

type Call = { name: string; run: (w: World) => unknown };

/** The `i`-th of `list`, or an fd number nothing uses when the list is empty. */
const pick = (list: number[], i: number): number => (list.length ? list[i % list.length] : 1000 + i);
const allFds = (w: World): number[] => [w.kvm.fd, ...w.vms, ...w.vcpus, ...w.gmems];
const remove = (list: number[], fd: number) => {
  const i = list.indexOf(fd);
  if (i >= 0) list.splice(i, 1);
};

// ---------------------------------------------------------------- calls

const idx = fc.nat(15);
const pages = (max: number) => fc.integer({ min: 0, max });
/** A byte count: usually whole pages, sometimes not. */
const sizeArb = (maxPages: number) => fc.tuple(pages(maxPages), fc.constantFrom(0, 0, 0, 0, 100)).map(([p, extra]) => p * PAGE + extra);

const createVm = fc.constantFrom(0, 0, K.KVM_X86_SW_PROTECTED_VM, 5).map((type): Call => ({
  name: `CREATE_VM(${type})`,
  run: (w) => w.vms.push(w.kvm.ioctl(w.kvm.fd, K.KVM_CREATE_VM, type) as number),
}));

const createVcpu = fc.tuple(idx, fc.constantFrom(0, 1, 2, 4096)).map(([v, id]): Call => ({
  name: `CREATE_VCPU(vm#${v}, ${id})`,
  run: (w) => w.vcpus.push(w.kvm.ioctl(pick(w.vms, v), K.KVM_CREATE_VCPU, id) as number),
}));

const NO_DIRECT_MAP = K.GUEST_MEMFD_FLAG_NO_DIRECT_MAP;
const createGmem = fc.tuple(idx, sizeArb(8), fc.constantFrom(
  0, K.GUEST_MEMFD_FLAG_MMAP, K.GUEST_MEMFD_FLAG_MMAP | K.GUEST_MEMFD_FLAG_INIT_SHARED, NO_DIRECT_MAP, K.GUEST_MEMFD_FLAG_MMAP | NO_DIRECT_MAP, 1 << 3,
))
  .map(([v, size, flags]): Call => ({
    name: `CREATE_GUEST_MEMFD(vm#${v}, ${size}, ${flags})`,
    run: (w) => w.gmems.push(w.kvm.ioctl(pick(w.vms, v), K.KVM_CREATE_GUEST_MEMFD, { size, flags }) as number),
  }));

const memslot = fc.record({
  v2: fc.boolean(), vm: idx, slot: fc.constantFrom(0, 1, 2, 3, 0x10000, 40000),
  flags: fc.constantFrom(0, 0, K.KVM_MEM_READONLY, K.KVM_MEM_GUEST_MEMFD, K.KVM_MEM_GUEST_MEMFD, K.KVM_MEM_LOG_DIRTY_PAGES, 0x80),
  gpa: sizeArb(16), size: sizeArb(8), map: idx, mapOffset: pages(4), uaddr: fc.constantFrom('map', 'map', 'map', 'zero', 'odd'),
  gmem: idx, gmemOffset: pages(4),
}).map((a): Call => ({
  name: `SET_USER_MEMORY_REGION${a.v2 ? '2' : ''}(${JSON.stringify(a)})`,
  run: (w) => {
    const m = w.maps.length ? w.maps[a.map % w.maps.length].addr : 0x10000n;
    const userspace_addr = a.uaddr === 'map' ? m + BigInt(a.mapOffset * PAGE) : a.uaddr === 'zero' ? 0n : m + 8n;
    const base = { slot: a.slot, flags: a.flags, guest_phys_addr: a.gpa, memory_size: a.size, userspace_addr };
    return a.v2
      ? w.kvm.ioctl(pick(w.vms, a.vm), K.KVM_SET_USER_MEMORY_REGION2, { ...base, guest_memfd: pick(w.gmems, a.gmem), guest_memfd_offset: a.gmemOffset * PAGE })
      : w.kvm.ioctl(pick(w.vms, a.vm), K.KVM_SET_USER_MEMORY_REGION, base);
  },
}));

const fallocate = fc.tuple(
  idx, fc.constantFrom(K.FALLOC_FL_KEEP_SIZE, K.FALLOC_FL_KEEP_SIZE, K.FALLOC_FL_PUNCH_HOLE | K.FALLOC_FL_KEEP_SIZE, K.FALLOC_FL_PUNCH_HOLE | K.FALLOC_FL_KEEP_SIZE, 0, K.FALLOC_FL_ZERO_RANGE),
  sizeArb(8), sizeArb(8),
).map(([g, mode, offset, len]): Call => ({
  name: `fallocate(gmem#${g}, ${mode}, ${offset}, ${len})`,
  run: (w) => w.kvm.fallocate(pick(w.gmems, g), mode, offset, len),
}));

const close = idx.map((i): Call => ({
  name: `close(fd#${i})`,
  run: (w) => {
    const fds = allFds(w).slice(1);
    const fd = fds.length ? fds[i % fds.length] : 1000;
    w.kvm.close(fd);
    for (const list of [w.vms, w.vcpus, w.gmems]) remove(list, fd);
  },
}));

const RW = K.PROT_READ | K.PROT_WRITE;
const mmap = fc.record({
  gmem: fc.boolean(), g: idx, len: fc.integer({ min: 1, max: 8 * PAGE }), offset: pages(4),
  prot: fc.constantFrom(RW, RW, K.PROT_READ, K.PROT_NONE, RW | K.PROT_EXEC), shared: fc.boolean(),
}).map((a): Call => ({
  name: `mmap(${JSON.stringify(a)})`,
  run: (w) => {
    const addr = a.gmem
      ? w.kvm.mmap(0, a.len, a.prot, a.shared ? K.MAP_SHARED : K.MAP_PRIVATE, pick(w.gmems, a.g), a.offset * PAGE)
      : w.kvm.mmap(0, a.len, a.prot, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
    w.maps.push({ addr, len: a.len });
  },
}));

const munmap = fc.tuple(idx, pages(4), sizeArb(4)).map(([m, off, len]): Call => ({
  name: `munmap(map#${m} + ${off} pages, ${len})`,
  run: (w) => w.kvm.munmap((w.maps.length ? w.maps[m % w.maps.length].addr : 0x10000n) + BigInt(off * PAGE), len),
}));

const mprotect = fc.tuple(idx, pages(4), sizeArb(4), fc.constantFrom(K.PROT_NONE, K.PROT_READ, RW, RW | K.PROT_EXEC, 0x10)).map(([m, off, len, prot]): Call => ({
  name: `mprotect(map#${m} + ${off} pages, ${len}, ${prot})`,
  run: (w) => w.kvm.mprotect((w.maps.length ? w.maps[m % w.maps.length].addr : 0x10000n) + BigInt(off * PAGE), len, prot),
}));

const vmmAccess = fc.tuple(fc.boolean(), idx, fc.nat(5 * PAGE), fc.integer({ min: 1, max: 2 * PAGE })).map(([write, m, off, len]): Call => ({
  name: `${write ? 'write' : 'read'}(map#${m} + ${off}, ${len})`,
  run: (w) => {
    const hva = (w.maps.length ? w.maps[m % w.maps.length].addr : 0x10000n) + BigInt(off);
    return write ? w.kvm.write(hva, new Uint8Array(len).fill(0x5a)) : w.kvm.read(hva, len);
  },
}));

const attributes = fc.tuple(idx, sizeArb(16), sizeArb(8), fc.constantFrom(0, K.KVM_MEMORY_ATTRIBUTE_PRIVATE, K.KVM_MEMORY_ATTRIBUTE_PRIVATE, 1 << 5)).map(([v, address, size, attrs]): Call => ({
  name: `SET_MEMORY_ATTRIBUTES(vm#${v}, ${address}, ${size}, ${attrs})`,
  run: (w) => w.kvm.ioctl(pick(w.vms, v), K.KVM_SET_MEMORY_ATTRIBUTES, { address, size, attributes: attrs }),
}));

const preFault = fc.tuple(idx, sizeArb(16), sizeArb(16)).map(([c, gpa, size]): Call => ({
  name: `PRE_FAULT_MEMORY(vcpu#${c}, ${gpa}, ${size})`,
  run: (w) => w.kvm.ioctl(pick(w.vcpus, c), K.KVM_PRE_FAULT_MEMORY, { gpa, size }),
}));

/**
 * A vCPU's guest touches a page, as the interpreter's accesses do: in guest
 * mode (entered as vcpu_enter_guest enters, its pending requests serviced
 * first), through its TLB, each EPT violation a VM exit handled by the fault
 * path before the next entry, until the access completes or KVM would exit
 * to userspace. It is no system call: it cannot fail.
 */
const guestAccess = fc.tuple(idx, pages(23), fc.constantFrom('Read', 'Write', 'Fetch') as fc.Arbitrary<'Read' | 'Write' | 'Fetch'>)
  .map(([c, page, kind]): Call => ({
    name: `guest ${kind} of GVA 0x${(page * PAGE).toString(16)} by vCPU#${c}`,
    run: (w) => {
      const x = w.kvm.core.exports;
      // The records that serve a vCPU, in record order: which fd holds which is the Kvm's business.
      const records = Array.from({ length: MAX_VCPUS }, (_, r) => r).filter((r) => x.vcpu_vm(r) >= 0);
      if (records.length === 0) return;
      const r = records[c % records.length];
      const P = x.PageFaultResult;
      for (let tries = 0; tries < 8; tries++) {
        do x.vcpu_service_requests(r); while (!x.vcpu_enter_guest_mode(r));
        const status = x.vcpu_access(r, BigInt(page * PAGE), x.AccessKind[kind], 0, 0, false);
        x.vcpu_leave_guest_mode(r);
        if (status !== x.AccessStatus.EptViolation) return;
        const fault = x.handle_ept_violation(r);
        if (fault !== P.Fixed && fault !== P.Spurious && fault !== P.Retry) return;
      }
    },
  }));

/** A request of the uAPI on any fd, with junk or no argument. */
const anyIoctl = fc.tuple(idx, fc.constantFrom(
  K.KVM_GET_API_VERSION, K.KVM_CHECK_EXTENSION, K.KVM_GET_VCPU_MMAP_SIZE, K.KVM_CREATE_VCPU, K.KVM_ENABLE_CAP,
  K.KVM_SET_USER_MEMORY_REGION, K.KVM_SET_MEMORY_ATTRIBUTES, K.KVM_GET_REGS, K.KVM_SET_SREGS, K.KVM_TRANSLATE, 0xdead,
), fc.constantFrom<unknown>(undefined, 0, -1, 1.5, 'x', {}, { bogus: 1 }, null)).map(([f, request, arg]): Call => ({
  name: `ioctl(fd#${f}, ${request}, ${JSON.stringify(arg)})`,
  run: (w) => {
    const fd = pick(allFds(w), f);
    const r = w.kvm.ioctl(fd, request, arg);
    // A new vCPU is the caller's to close.
    if (request === K.KVM_CREATE_VCPU) w.vcpus.push(r as number);
  },
}));

const callArb = fc.oneof(
  { arbitrary: createVm, weight: 3 }, { arbitrary: createVcpu, weight: 2 }, { arbitrary: createGmem, weight: 4 },
  { arbitrary: memslot, weight: 5 }, { arbitrary: fallocate, weight: 4 }, { arbitrary: close, weight: 2 },
  { arbitrary: mmap, weight: 4 }, { arbitrary: munmap, weight: 1 }, { arbitrary: mprotect, weight: 1 },
  { arbitrary: vmmAccess, weight: 3 }, { arbitrary: attributes, weight: 3 }, { arbitrary: anyIoctl, weight: 2 },
  { arbitrary: preFault, weight: 3 }, { arbitrary: guestAccess, weight: 5 },
);
/**
 * A sequence starts with a likely VM, guest_memfd and mappings, so that the
 * random calls after it find objects to act on; each may still fail.
 */
const preludeArb = fc.tuple(
  fc.constantFrom(0, K.KVM_X86_SW_PROTECTED_VM).map((type): Call => ({
    name: `CREATE_VM(${type})`,
    run: (w) => w.vms.push(w.kvm.ioctl(w.kvm.fd, K.KVM_CREATE_VM, type) as number),
  })),
  fc.tuple(pages(8), fc.constantFrom(K.GUEST_MEMFD_FLAG_MMAP, K.GUEST_MEMFD_FLAG_MMAP | K.GUEST_MEMFD_FLAG_INIT_SHARED, K.GUEST_MEMFD_FLAG_MMAP | NO_DIRECT_MAP, 0)).map(([n, flags]): Call => ({
    name: `CREATE_GUEST_MEMFD(vm#0, ${(n + 1) * PAGE}, ${flags})`,
    run: (w) => w.gmems.push(w.kvm.ioctl(pick(w.vms, 0), K.KVM_CREATE_GUEST_MEMFD, { size: (n + 1) * PAGE, flags }) as number),
  })),
  fc.constant<Call>({
    name: 'mmap(anonymous, 8 pages)',
    run: (w) => w.maps.push({ addr: w.kvm.mmap(0, 8 * PAGE, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0), len: 8 * PAGE }),
  }),
  fc.constant<Call>({
    name: 'mmap(guest_memfd#0, 2 pages)',
    run: (w) => w.maps.push({ addr: w.kvm.mmap(0, 2 * PAGE, RW, K.MAP_SHARED, pick(w.gmems, 0), 0), len: 2 * PAGE }),
  }),
  fc.constant<Call>({
    name: 'guest RAM: slot 0 = GPA [0, 8 pages) over map#0, page tables mapping GVA [0, 2 MiB) to GPA 0, a vCPU in long mode',
    run: (w) => {
      const ram = w.maps[0].addr;
      w.kvm.ioctl(pick(w.vms, 0), K.KVM_SET_USER_MEMORY_REGION, { slot: 0, guest_phys_addr: 0, memory_size: 8 * PAGE, userspace_addr: ram });
      // PML4 at GPA 0 -> PDPT at 0x1000 -> PD at 0x2000, whose entry 0 is a 2 MiB user page at GPA 0.
      const tables = new DataView(new ArrayBuffer(3 * PAGE));
      tables.setBigUint64(0, 0x1007n, true);
      tables.setBigUint64(PAGE, 0x2007n, true);
      tables.setBigUint64(2 * PAGE, 0x87n, true);
      w.kvm.write(ram, new Uint8Array(tables.buffer));
      const vcpu = w.kvm.ioctl(pick(w.vms, 0), K.KVM_CREATE_VCPU, 0) as number;
      w.vcpus.push(vcpu);
      w.kvm.ioctl(vcpu, K.KVM_SET_SREGS, { cr0: K.X86_CR0_PE | K.X86_CR0_PG, cr3: 0, cr4: K.X86_CR4_PAE, efer: K.EFER_LME | K.EFER_LMA, cs: { l: 1 } });
    },
  }),
  fc.constant<Call>({
    name: 'slot 1 = GPA [8 pages, +its size) bound to guest_memfd#0 (private memory, or all of it with MMAP)',
    run: (w) => {
      const gmem = pick(w.gmems, 0);
      w.kvm.ioctl(pick(w.vms, 0), K.KVM_SET_USER_MEMORY_REGION2, {
        slot: 1, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 8 * PAGE, memory_size: w.kvm.fstat(gmem).st_size,
        userspace_addr: w.maps[0].addr, guest_memfd: gmem, guest_memfd_offset: 0,
      });
    },
  }),
);
const sequenceArb = fc.tuple(preludeArb, fc.array(callArb, { minLength: 1, maxLength: 24 })).map(([prelude, calls]) => [...prelude, ...calls]);

// ---------------------------------------------------------------- state and invariants

/** Everything a caller could observe, counters aside, as one string. */
function snapshot(w: World): string {
  const x = w.kvm.core.exports;
  const out: string[] = [];
  for (const fd of allFds(w)) out.push(`fd${fd}:${JSON.stringify(w.kvm.fstat(fd))}`);
  for (let vm = 0; vm < VM_IDS; vm++) {
    const n = x.memslot_count(vm);
    for (let i = 0; i < n; i++) {
      out.push(`vm${vm}/${x.memslot_id(vm, i)}:${x.memslot_flags(vm, i)},${x.memslot_base_gfn(vm, i)},${x.memslot_npages(vm, i)},` +
        `${x.memslot_userspace_addr(vm, i)},${x.memslot_gmem_file(vm, i)},${x.memslot_gmem_pgoff(vm, i)}`);
    }
    const attrs: bigint[] = [];
    for (let gfn = 0n; gfn < BigInt(ATTR_GFNS); gfn++) attrs.push(x.attr_get(vm, gfn));
    out.push(`attrs${vm}:${attrs.join(',')}`);
  }
  for (let id = 0; id < GMEM_IDS; id++) {
    if (x.gmem_refcount(id) === 0) continue;
    const cache: string[] = [];
    for (let p = x.inspect_gmem_next(id, 0n); p !== x.RADIX_NONE.value; p = x.inspect_gmem_next(id, p + 1n)) cache.push(`${p}=${x.gmem_lookup_pfn(id, p)}`);
    out.push(`gmem${id}:${x.gmem_size(id)},${x.gmem_flags(id)},${x.gmem_refcount(id)},[${cache.join(' ')}]`);
  }
  for (let i = 0; i < x.vma_count(); i++) {
    out.push(`vma:${x.vma_start(i)}-${x.vma_end(i)},${x.vma_prot(i)},${x.vma_kind(i)},${x.vma_file(i)},${x.vma_pgoff(i)}`);
  }
  out.push(`rss:${x.mm_rss()} free:${x.phys_free_frames()}`);
  return out.join('\n');
}

/** The broken invariant, or null. */
function brokenInvariant(w: World): string | null {
  const x = w.kvm.core.exports;
  const F = x.InspectFault;
  const total = Number(x.ram_bytes() / 4096n);
  if (x.phys_free_frames() + x.inspect_used_frames() !== total) return `free ${x.phys_free_frames()} + used ${x.inspect_used_frames()} != ${total}`;
  const caps = HOST_MAXPHYADDR | x.EptCap.Page1g | x.EptCap.ExecOnly;
  const checks: [string, () => number][] = [
    ['free list', () => x.inspect_free_list()], ['owners', () => x.inspect_orphan_frames()], ['guest_memfd pages', () => x.inspect_gmem()],
  ];
  for (let vm = 0; vm < VM_IDS; vm++) checks.push([`VM ${vm}'s EPT`, () => x.inspect_ept(vm, EPT_GFNS, caps)]);
  for (let r = 0; r < MAX_VCPUS; r++) if (x.vcpu_vm(r) >= 0) checks.push([`vCPU record ${r}'s TLB`, () => x.inspect_tlb(r)]);
  for (const [what, check] of checks) {
    const fault = check();
    if (fault !== F.None) {
      const pfn = x.inspect_bad_pfn();
      const owner = pfn < total ? ` owner 0x${x.frame_owner(pfn).toString(16)}` : '';
      return `${what}: ${F[fault]} (pfn ${pfn}${owner}, gpa 0x${x.inspect_bad_gpa().toString(16)})`;
    }
  }
  return null;
}

/** The direct map's split tables: kernel page tables (owner 0). */
function dmapTables(w: World): number {
  const x = w.kvm.core.exports;
  return x.inspect_used_frames_of(x.FrameKind.PageTable, 0);
}

/** The frames in use with their kind and owner, to explain a leak. */
function usedFrames(w: World): string {
  const x = w.kvm.core.exports;
  const out: string[] = [];
  for (let pfn = 0; pfn < Number(x.ram_bytes() >> 12n); pfn++) {
    if (x.frame_refcount(pfn) !== 0) out.push(`${pfn}: kind ${x.frame_kind(pfn)} owner 0x${x.frame_owner(pfn).toString(16)} refs ${x.frame_refcount(pfn)}`);
  }
  return out.join('; ');
}

/** Closes every fd and unmaps every mapping the sequence made. */
function teardown(w: World): void {
  for (const fd of [...w.vcpus, ...w.gmems, ...w.vms]) w.kvm.close(fd);
  for (const m of w.maps) w.kvm.munmap(m.addr, m.len + 4 * PAGE);
  w.vms.length = w.vcpus.length = w.gmems.length = w.maps.length = 0;
}

/** The frames a machine uses with nothing open, and the direct-map tables it had split then. */
interface Baseline { used: number; dmapTables: number }

function runSequence(w: World, calls: Call[], baseline: Baseline): void {
  const log: string[] = [];
  try {
    for (const call of calls) {
      const before = snapshot(w);
      let error: unknown = null;
      try {
        call.run(w);
      } catch (e) {
        error = e;
      }
      log.push(`${call.name} -> ${error === null ? 'ok' : String(error)}`);
      if (error !== null) {
        if (!(error instanceof KvmError)) throw new Error(`not a KvmError: ${String(error)}`, { cause: error });
        if (!error.message.includes(`${error.syscall}: `)) throw new Error(`KvmError without its syscall: ${error.message}`);
        const signal = error.code === 'SIGBUS' || error.code === 'SIGSEGV';
        if (!signal) {
          const after = snapshot(w);
          if (after !== before) throw new Error(`a failed call changed state:\n--- before\n${before}\n--- after\n${after}`);
        }
      }
      const broken = brokenInvariant(w);
      if (broken) throw new Error(`invariant broken: ${broken}`);
    }
    teardown(w);
    const x = w.kvm.core.exports;
    // Direct-map splits stay (Linux never merges the direct map back): their tables are the only growth allowed.
    const expected = baseline.used + dmapTables(w) - baseline.dmapTables;
    const used = x.inspect_used_frames();
    if (used !== expected) throw new Error(`after closing everything ${used} frames are in use, ${expected} expected: ${usedFrames(w)}`);
    if (x.vma_count() !== 0) throw new Error('VMAs left after munmap');
    for (let vm = 0; vm < VM_IDS; vm++) if (x.memslot_count(vm) !== 0) throw new Error(`VM ${vm} still has memslots`);
  } catch (e) {
    throw new Error(`${(e as Error).message}\ncalls:\n  ${log.join('\n  ')}`, { cause: e });
  }
}

async function world(host: 'tdp' | 'shadow', noDirectMapProposal: boolean): Promise<{ w: World; baseline: Baseline }> {
  const kvm = await Kvm.open({ host, noDirectMapProposal, ramMiB: 4, maxVcpus: MAX_VCPUS });
  const w: World = { kvm, vms: [], vcpus: [], gmems: [], maps: [] };
  // Warm-up: structures made once per machine (the VMM's page-table root) belong to the baseline.
  const m = kvm.mmap(0, PAGE, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
  kvm.write(m, Uint8Array.of(1));
  kvm.munmap(m, PAGE);
  return { w, baseline: { used: kvm.core.exports.inspect_used_frames(), dmapTables: dmapTables(w) } };
}

describe(`uAPI call sequences (seed ${SEED})`, () => {
  const worlds = [['tdp', false, 0.5], ['tdp', true, 0.25], ['shadow', false, 0.25]] as const;
  for (const [host, noDirectMap, share] of worlds) {
    let setup: { w: World; baseline: Baseline };
    beforeAll(async () => {
      setup = await world(host, noDirectMap);
    });

    it(`${host}${noDirectMap ? ' with GUEST_MEMFD_FLAG_NO_DIRECT_MAP' : ''}: after every call, a failure changed nothing, frames balance, owners exist, guest_memfd pages have one file, EPT and TLBs reach no old frame`, () => {
      fc.assert(
        fc.property(sequenceArb, (calls) => {
          runSequence(setup.w, calls, setup.baseline);
        }),
        { numRuns: Math.round(RUNS * share), seed: SEED, endOnFailure: true },
      );
      expect(brokenInvariant(setup.w)).toBeNull();
    }, 120_000);
  }
});
