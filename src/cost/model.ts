// Modelled time: exact event counts times nanoseconds per event. Nothing here
// reads a clock; the same counts and costs always give the same answer.

import { COUNTER_COSTS, STUDY_COUNTS, chargeOf } from './counters.js';
import { COST_KEYS, type CostKey, type Costs } from './events.js';
import { checkHost, type HostModel } from './host.js';

/** Counted events by name: core counters (readCounters) and study counts. */
export type Counts = Readonly<Record<string, number>>;

export interface Modelled {
  /** Sum over every event, in nanoseconds. */
  readonly total_ns: number;
  /** Nanoseconds per cost event, table order, events that cost something only. */
  readonly by_event: Readonly<Partial<Record<CostKey, number>>>;
  /** Nanoseconds per counted name given, in mapping order (0 for a free one). */
  readonly by_count: Readonly<Record<string, number>>;
}

/** Every countable name in mapping order: the core's counters, then study counts. */
const COUNT_ORDER = [...Object.keys(COUNTER_COSTS), ...Object.keys(STUDY_COUNTS)];

export function modelledTime(counts: Counts, costs: Costs, host: HostModel): Modelled {
  checkHost(host);
  for (const [name, n] of Object.entries(counts)) {
    if (!chargeOf(name)) {
      throw new RangeError(`modelledTime: unknown count "${name}" (neither a counter of src/core/stats.ts nor a study count of src/cost/counters.ts)`);
    }
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      throw new RangeError(`modelledTime: count "${name}" must be a finite number >= 0, not ${String(n)}`);
    }
  }
  const perEvent = new Map<CostKey, number>();
  const byCount: Record<string, number> = {};
  for (const name of COUNT_ORDER) {
    const n = counts[name];
    if (n === undefined) continue;
    const charge = chargeOf(name)!;
    let ns = 0;
    if ('terms' in charge) {
      for (const t of charge.terms) {
        const part = n * t.per(host) * costs[t.event];
        if (part !== 0) perEvent.set(t.event, (perEvent.get(t.event) ?? 0) + part);
        ns += part;
      }
    }
    byCount[name] = ns;
  }
  const byEvent: Partial<Record<CostKey, number>> = {};
  let total = 0;
  for (const k of COST_KEYS) {
    const ns = perEvent.get(k);
    if (ns === undefined) continue;
    byEvent[k] = ns;
    total += ns;
  }
  return { total_ns: total, by_event: byEvent, by_count: byCount };
}

/** Counts minus counts: what happened between two readings of the counters. */
export function countsDelta(after: Counts, before: Counts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) {
    const d = n - (before[name] ?? 0);
    if (d < 0) throw new RangeError(`countsDelta: "${name}" went down (${before[name]} -> ${n}); counters only grow`);
    out[name] = d;
  }
  return out;
}

/** The sum of several counts, name by name (e.g. core counters plus a study's own counts). */
export function addCounts(...parts: Counts[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of parts) for (const [name, n] of Object.entries(p)) out[name] = (out[name] ?? 0) + n;
  return out;
}
