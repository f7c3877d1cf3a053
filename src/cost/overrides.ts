// A user's own costs: a JSON object mapping cost keys to nanoseconds
// (`--cost FILE`). Every key must be a cost event and every value a finite
// number >= 0; anything else is refused with the file and the key named, and
// nothing of the file is used.

import { readFileSync } from 'node:fs';
import { COST_KEYS, defaultCosts, isCostKey, type CostKey, type Costs } from './events.js';

export class CostOverrideError extends Error {
  constructor(
    readonly file: string,
    /** The offending key, when one is to blame. */
    readonly key: string | undefined,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'CostOverrideError';
  }
}

/** `base` with the overrides of `json` (parsed from `file`) applied. */
export function applyCostOverrides(json: unknown, file: string, base: Costs = defaultCosts()): Costs {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CostOverrideError(file, undefined, 'must hold a JSON object of cost event -> nanoseconds');
  }
  const out: Record<CostKey, number> = { ...base };
  for (const [key, value] of Object.entries(json)) {
    if (!isCostKey(key)) {
      const near = nearestKey(key);
      throw new CostOverrideError(file, key, `unknown cost event "${key}"${near ? ` (did you mean "${near}"?)` : ''}`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new CostOverrideError(file, key, `"${key}" must be a number of nanoseconds, not ${JSON.stringify(value)}`);
    }
    if (value < 0) throw new CostOverrideError(file, key, `"${key}" must be >= 0 nanoseconds, not ${value}`);
    out[key] = value;
  }
  return out;
}

/** The defaults, with the overrides of the JSON file at `path` when one is given. */
export function loadCosts(path?: string): Costs {
  if (path === undefined) return defaultCosts();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CostOverrideError(path, undefined, `cannot read the cost file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CostOverrideError(path, undefined, `not valid JSON (${(e as Error).message})`);
  }
  return applyCostOverrides(json, path);
}

/** The cost key closest to a misspelt one, when it is close enough to be a likely typo. */
function nearestKey(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1;
  for (const k of COST_KEYS) {
    const d = editDistance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}
