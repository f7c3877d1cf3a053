import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COUNTER_DOCS, STATS_SCHEMA, counterNames, readCounters, statsJson } from '../../src/core/stats.js';
import { createCore } from '../../src/core/wasm.js';

const schemaFile = new URL(`../schema/stats.v${STATS_SCHEMA}.json`, import.meta.url);

describe('counters', async () => {
  const core = await createCore({ ramFrames: 1024, maxVcpus: 2, hostCpus: 4 });

  it('every counter of the core has a name and a description, and nothing else does', () => {
    const names = counterNames(core);
    expect(names.length).toBe(core.exports.stats_count());
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual(Object.keys(COUNTER_DOCS).sort());
  });

  it('keeps the versioned schema: names are only ever appended', () => {
    const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as { schema: number; counters: string[] };
    expect(schema.schema).toBe(STATS_SCHEMA);
    // A rename or removal breaks readers of version 1: bump STATS_SCHEMA and add a new file.
    expect(counterNames(core).slice(0, schema.counters.length)).toEqual(schema.counters);
    // An addition is compatible, but the file must list it.
    expect(counterNames(core)).toEqual(schema.counters);
  });

  it('counts into the block of the thread that selected it', () => {
    const x = core.exports;
    x.stats_reset();
    x.frame_alloc(x.FrameKind.Anon, 1);
    x.stats_select(2); // vCPU 1
    const pfn = x.frame_alloc(x.FrameKind.Anon, 1);
    x.frame_put(pfn);
    x.stats_select(0);
    expect(readCounters(core, { kind: 'host' }).frame_alloc).toBe(1);
    expect(readCounters(core, { kind: 'vcpu', vcpu: 1 })).toMatchObject({ frame_alloc: 1, frame_free: 1 });
    expect(readCounters(core, { kind: 'vcpu', vcpu: 0 }).frame_alloc).toBe(0);
    expect(statsJson(core)).toMatchObject({ schema: 1, counters: { frame_alloc: 2, frame_free: 1 } });
  });
});
