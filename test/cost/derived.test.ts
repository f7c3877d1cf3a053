import { describe, expect, it } from 'vitest';
import { readCounters } from '../../src/core/stats.js';
import { createCore } from '../../src/core/wasm.js';
import { cr3SwitchNoPcid, eptFaultAlloc, setDirectMapNoflush, setMemoryPresence, shootdown, syscall, vmexit } from '../../src/cost/derived.js';
import { defaultCosts } from '../../src/cost/events.js';
import { DEFAULT_HOST, type HostModel } from '../../src/cost/host.js';
import { countsDelta, modelledTime } from '../../src/cost/model.js';

const c = defaultCosts();
const host = (cpus: number, more: Partial<HostModel> = {}): HostModel => ({ ...DEFAULT_HOST, cpus, ...more });

describe('derived costs', () => {
  it('a shootdown is base + per_cpu x (N - 1) + the idle wake-up, nothing on one CPU', () => {
    expect(shootdown(c, host(1))).toBe(0);
    expect(shootdown(c, host(2))).toBe(1500 + 100 + 20000);
    expect(shootdown(c, host(64))).toBe(1500 + 100 * 63 + 20000);
    expect(shootdown(c, host(128, { idleTargets: false }))).toBe(1500 + 100 * 127);
    expect(shootdown(c, host(64), 8)).toBe(1500 + 700 + 20000);
  });

  it('grows with the CPU count', () => {
    let last = -1;
    for (let n = 1; n <= 256; n *= 2) {
      expect(shootdown(c, host(n))).toBeGreaterThan(last);
      last = shootdown(c, host(n));
    }
  });

  it('set_memory_np/p pays the purge, the PTE, the shootdown and its own INVLPG; the _noflush form only the PTE', () => {
    expect(setMemoryPresence(c, host(64))).toBe(500 + 150 + 27800 + 100);
    expect(setMemoryPresence(c, host(1))).toBe(500 + 150 + 100);
    expect(setDirectMapNoflush(c)).toBe(150);
    expect(setMemoryPresence({ ...c, 'tlb.shootdown.per_cpu': 250 }, host(64)) - setMemoryPresence(c, host(64))).toBe(150 * 63);
  });

  it('ept.fault.4k.alloc, cr3.switch.nopcid, exits and syscalls follow costs.md', () => {
    expect(eptFaultAlloc(c)).toBe(3500);
    expect(cr3SwitchNoPcid(c)).toBe(540);
    expect(vmexit({ ...c, 'vmexit.svm.roundtrip': 450 }, host(1, { exits: 'svm' }))).toBe(450);
    expect(vmexit(c, host(1))).toBe(500);
    expect(syscall(c, host(1, { pti: true }))).toBe(250);
    expect(syscall(c, host(1))).toBe(100);
  });
});

describe('the counter mapping prices an emulated direct-map change as the formula does', () => {
  for (const cpus of [1, 2, 64, 128]) {
    it(`on ${cpus} host CPU${cpus === 1 ? '' : 's'}`, async () => {
      const core = await createCore({ ramFrames: 16384, maxVcpus: 1, hostCpus: cpus });
      const x = core.exports;
      const h = host(cpus);
      const pfn = 5000;
      const run = (op: () => number) => {
        const before = readCounters(core);
        expect(op()).toBe(0);
        return countsDelta(readCounters(core), before);
      };
      // The first change splits the 2 MiB (and 1 GiB) mapping; the steady state comes after.
      const first = run(() => x.set_memory_np(pfn, 1));
      expect(first.dmap_split2m).toBe(1);
      const restore = run(() => x.set_memory_p(pfn, 1));
      expect(modelledTime(restore, c, h).total_ns).toBeCloseTo(setMemoryPresence(c, h), 6);
      const again = run(() => x.set_memory_np(pfn, 1));
      expect(modelledTime(again, c, h).total_ns).toBeCloseTo(setMemoryPresence(c, h), 6);
      const noflush = run(() => x.set_direct_map_invalid_noflush(pfn + 1));
      expect(modelledTime(noflush, c, h).total_ns).toBe(setDirectMapNoflush(c));
      // The split itself: its page-table work plus the kernel-wide flush it forces.
      const split = modelledTime(first, c, h);
      expect(split.by_event['cpa.split_2m']).toBe(1500 * first.dmap_split2m);
      expect(split.total_ns).toBeGreaterThan(setMemoryPresence(c, h));
    });
  }
});
