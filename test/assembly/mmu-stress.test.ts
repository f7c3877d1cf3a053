// vCPU worker threads fault guest pages in through the core's fault path
// while the main thread takes them away: munmap and MAP_FIXED of a memslot's
// anonymous memory, mprotect, guest_memfd hole punches, memslot delete and
// re-create. Every zap flushes the vCPUs before a frame is freed, so no
// worker may ever read a freed (poisoned, debug build) or reused frame.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Kvm } from '../../src/kvm/kvm.js';
import { readCounters } from '../../src/core/stats.js';
import * as K from '../../src/uapi.js';

const PAGE = 4096;
/** Pages per region; page indices stay below 0x6b, the poison byte. */
const PAGES = 24;
const WORKER_TIMEOUT_MS = 60_000;
/** Where the guest's page tables live (PML4, PDPT, PD, PT). */
const TABLES = 0x10_0000;
const RW = K.PROT_READ | K.PROT_WRITE;

interface Seen {
  reads: number; fixed: number; spurious: number; retry: number; emulate: number; efault: number; other: number;
  bad: number; firstBad: unknown;
}

/** A page full of what the workers expect at global page index `page`. */
function pattern(page: number): Uint8Array {
  const b = new Uint8Array(PAGE);
  const d = new DataView(b.buffer);
  for (let i = 0; i < PAGE; i += 8) d.setBigUint64(i, 0x5afen << 48n | BigInt(page) << 16n | BigInt(page), true);
  return b;
}

describe('the fault path against concurrent zaps', () => {
  for (const vcpus of [2, 3]) {
    it(`${vcpus} vCPU workers never read a freed or reused frame while the main thread zaps`, async () => {
      const kvm = await Kvm.open({ ramMiB: 32, debug: true, maxVcpus: 4 });
      const x = kvm.core.exports;
      x.requests_set_threads(vcpus + 1, availableParallelism());
      const first = kvm.mmap(0, PAGE, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
      kvm.writeU8(first, 1);
      const free0 = x.phys_free_frames();

      const vm = kvm.ioctl(kvm.fd, K.KVM_CREATE_VM, 0) as number;
      const cpus = Array.from({ length: vcpus }, (_, i) => kvm.ioctl(vm, K.KVM_CREATE_VCPU, i) as number);
      const memA = kvm.mmap(0, PAGES * PAGE, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
      const slotA = { slot: 0, guest_phys_addr: 0, memory_size: PAGES * PAGE, userspace_addr: memA };
      kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, slotA);
      const g = kvm.ioctl(vm, K.KVM_CREATE_GUEST_MEMFD, { size: PAGES * PAGE, flags: K.GUEST_MEMFD_FLAG_MMAP | K.GUEST_MEMFD_FLAG_INIT_SHARED }) as number;
      const memG = kvm.mmap(0, PAGES * PAGE, RW, K.MAP_SHARED, g, 0);
      kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION2, {
        slot: 1, flags: K.KVM_MEM_GUEST_MEMFD, guest_phys_addr: PAGES * PAGE, memory_size: PAGES * PAGE, userspace_addr: memG, guest_memfd: g,
      });
      for (let p = 0; p < PAGES; p++) {
        kvm.write(memA + BigInt(p * PAGE), pattern(p));
        kvm.write(memG + BigInt(p * PAGE), pattern(PAGES + p));
      }
      // Long mode with guest page tables (in a memslot of their own) that map
      // the data 1:1 with 4 KiB pages, so the vCPUs' TLBs cache translations:
      // a stale one is what a missing flush would leave behind.
      const memT = kvm.mmap(0, 4 * PAGE, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
      kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { slot: 2, guest_phys_addr: TABLES, memory_size: 4 * PAGE, userspace_addr: memT });
      const tables = new Uint8Array(4 * PAGE);
      const t = new DataView(tables.buffer);
      for (let level = 0; level < 3; level++) t.setBigUint64(level * PAGE, BigInt(TABLES + (level + 1) * PAGE) | 0x23n, true);
      for (let p = 0; p < 2 * PAGES; p++) t.setBigUint64(3 * PAGE + p * 8, BigInt(p * PAGE) | 0x63n, true);
      kvm.write(memT, tables);
      for (const fd of cpus) kvm.ioctl(fd, K.KVM_SET_SREGS, { cr0: 0x8001_0001n, cr3: BigInt(TABLES), cr4: 0x20n, efer: 0xd00n, cs: { l: 1 } });
      x.stats_reset();

      const control = new SharedArrayBuffer(8);
      const ctl = new Int32Array(control);
      const url = new URL('./mmu.worker.mjs', import.meta.url);
      const results = Array.from({ length: vcpus }, (_, vcpu) => new Promise<Seen>((resolve, reject) => {
        const w = new Worker(url, {
          workerData: { module: kvm.core.module, memory: kvm.core.memory, vcpu, control, pages: 2 * PAGES, seed: 0x2545f491 * (vcpu + 1), slice: 32 },
        });
        const timer = setTimeout(() => { void w.terminate(); reject(new Error(`vCPU worker ${vcpu} timed out: deadlock?`)); }, WORKER_TIMEOUT_MS);
        w.once('message', (r: Seen) => { clearTimeout(timer); resolve(r); void w.terminate(); });
        w.once('error', (e) => { clearTimeout(timer); reject(e); });
      }));
      const started = Date.now();
      while (Atomics.load(ctl, 0) < vcpus) {
        if (Date.now() - started > WORKER_TIMEOUT_MS) throw new Error('the vCPU workers did not start');
        await new Promise((r) => setTimeout(r, 1));
      }

      // A freed frame is the next one allocated (LIFO): a scratch page takes
      // it, with another index in it, before the guest's page gets a new one.
      // Two scratch addresses, fixed (mmap would otherwise place a page in
      // the hole the munmap just made in guest memory), used in turn: the
      // free one is mapped and touched first, so it is what takes the frame,
      // and only then does the other one go.
      const scratch = kvm.mmap(0, 2 * PAGE, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
      kvm.munmap(scratch, 2 * PAGE);
      let turn = 0;
      const takeFreedFrame = () => {
        const cur = scratch + BigInt((turn & 1) * PAGE);
        kvm.mmap(cur, PAGE, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS | K.MAP_FIXED, -1, 0);
        kvm.write(cur, pattern(0x60));
        turn++;
        kvm.munmap(scratch + BigInt((turn & 1) * PAGE), PAGE);
      };
      const rounds = 600;
      for (let round = 0; round < rounds; round++) {
        const p = (round * 7) % PAGES;
        const hva = memA + BigInt(p * PAGE);
        switch (round % 4) {
          case 0:
            kvm.munmap(hva, PAGE);
            takeFreedFrame();
            kvm.mmap(hva, PAGE, RW, K.MAP_PRIVATE | K.MAP_ANONYMOUS | K.MAP_FIXED, -1, 0);
            kvm.write(hva, pattern(p));
            break;
          case 1:
            kvm.fallocate(g, K.FALLOC_FL_PUNCH_HOLE | K.FALLOC_FL_KEEP_SIZE, p * PAGE, PAGE);
            takeFreedFrame();
            kvm.write(memG + BigInt(p * PAGE), pattern(PAGES + p));
            break;
          case 2:
            kvm.mprotect(hva, PAGE, K.PROT_READ);
            kvm.mprotect(hva, PAGE, RW);
            break;
          default:
            if (round % 32 === 3) {
              kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, { ...slotA, memory_size: 0 });
              kvm.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, slotA);
            }
        }
        // Let the workers run into the holes.
        if (round % 8 === 0) await new Promise((r) => setImmediate(r));
      }
      Atomics.store(ctl, 1, 1);
      const seen = await Promise.all(results);

      for (const s of seen) {
        expect(s.bad, `first bad read: ${JSON.stringify(s.firstBad)}`).toBe(0);
        expect(s.other).toBe(0);
        expect(s.reads).toBeGreaterThan(0);
      }
      const sum = (k: keyof Seen) => seen.reduce((a, s) => a + (s[k] as number), 0);
      expect(sum('fixed')).toBeGreaterThan(0);
      const c = readCounters(kvm.core) as Record<string, number>;
      expect(c.vcpu_ack_timeout).toBe(0);
      expect(c.mmu_zap_all).toBe(Math.ceil((rounds - 3) / 32));
      expect(x.mmu_invalidate_in_progress(x.vcpu_vm(0))).toBe(0);

      kvm.munmap(scratch, 2 * PAGE);
      for (const fd of cpus) kvm.close(fd);
      kvm.close(g);
      kvm.munmap(memG, PAGES * PAGE);
      kvm.munmap(memA, PAGES * PAGE);
      kvm.munmap(memT, 4 * PAGE);
      kvm.close(vm);
      expect(x.phys_free_frames()).toBe(free0);
    }, 120_000);
  }
});
