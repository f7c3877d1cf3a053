// A small study built the way a real one is: core counters from running
// direct-map changes on cores of several host CPU counts, plus study counts,
// priced by the cost model.

import { readCounters } from '../../src/core/stats.js';
import { createCore } from '../../src/core/wasm.js';
import { defaultCosts } from '../../src/cost/events.js';
import { DEFAULT_HOST } from '../../src/cost/host.js';
import { addCounts, countsDelta, modelledTime, type Counts } from '../../src/cost/model.js';
import { sensitivity } from '../../src/cost/sensitivity.js';
import type { StudyResult, VariantResult } from '../../src/report/study.js';

const IO = 20;
const BYTES = IO * 4096;

async function run(cpus: number, flush: boolean): Promise<Counts> {
  const core = await createCore({ ramFrames: 16384, maxVcpus: 1, hostCpus: cpus });
  const x = core.exports;
  const before = readCounters(core);
  for (let i = 0; i < IO; i++) {
    if (flush) {
      x.set_memory_np(3000, 1);
      x.set_memory_p(3000, 1);
    } else {
      x.set_direct_map_invalid_noflush(3000);
      x.set_direct_map_default_noflush(3000);
    }
  }
  return addCounts(countsDelta(readCounters(core), before), { vmexit: 2 * IO, exit_userspace: 2 * IO, copy_bytes_dram: BYTES });
}

const nonzero = (c: Counts) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0));

export async function fixtureStudy(): Promise<StudyResult> {
  const costs = defaultCosts();
  const variant = (counts: Counts): VariantResult => {
    const modelled = modelledTime(counts, costs, DEFAULT_HOST);
    return { counts: nonzero(counts), modelled, throughput_mbps: (BYTES / modelled.total_ns) * 1000 };
  };
  const byCpus = new Map<number, Counts>();
  for (const n of [1, 4, 16, 64]) byCpus.set(n, await run(n, true));
  const flush = variant(byCpus.get(64)!);
  const noflush = variant(await run(64, false));
  const metric = 'modelled throughput, MB/s';
  return {
    study: 'sample',
    title: 'A sample | study <with> "markup"',
    thread: '000',
    params: { ios: IO, host_cpus: 64, seed: 123456 },
    variants: { flush, noflush },
    verdict: {
      claim: 'flushes cost throughput',
      agrees: (flush.throughput_mbps as number) < (noflush.throughput_mbps as number),
      line: 'the flush variant is slower',
    },
    data: { per_io: { flush: { tlb_flushes: 2 } } },
    sensitivity: { metric, ...sensitivity({ counts: byCpus, costs, host: DEFAULT_HOST, metric: (m) => (BYTES / m.total_ns) * 1000 }) },
    tables: [{ title: 'Per I/O', head: ['variant', 'flushes'], rows: [['flush', '2'], ['noflush', '0']] }],
    plots: [{ id: 'throughput', kind: 'bar', title: 'Throughput', data: [{ variant: 'flush', mbps: flush.throughput_mbps as number }, { variant: 'noflush', mbps: noflush.throughput_mbps as number }], x: 'variant', y: 'mbps' }],
  };
}
