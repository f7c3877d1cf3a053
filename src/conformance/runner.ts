// The conformance runner: reads case files, detects each one's format from
// its content, runs it against the emulator, and gathers every judged item.
//
// Users bring their own case files, so nothing here knows a case id: a file
// is judged only by what its format says. A file in no known format, a line
// that is not JSON, or a file with nothing to judge is a failure, never a skip.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { packageRoot } from '../core/wasm.js';
import { Kvm } from '../kvm/kvm.js';
import { detectFormat } from './detect.js';
import { runEptCorpus } from './ept.js';
import { runPagingCorpus } from './paging.js';
import { failed, summarise } from './result.js';
import type { CaseFormat, ConformanceRun, FileRun, ItemResult } from './result.js';
import { runTlbScenarios } from './tlb.js';
import { runUapiCases } from './uapi.js';

/** A case file's name (for messages) and text. */
export interface ConformanceSource {
  name: string;
  text: string;
}

const RUNNERS: Record<CaseFormat, (cases: readonly unknown[]) => Promise<ItemResult[]> | ItemResult[]> = {
  paging: runPagingCorpus,
  ept: runEptCorpus,
  tlb: runTlbScenarios,
  uapi: (cases) => runUapiCases(cases, (host) => Kvm.open({ host })),
};

const FORMAT_NAMES = 'a paging corpus, an EPT corpus, TLB scenarios or uAPI cases';

/** Runs case files given as text. */
export async function runConformance(sources: readonly ConformanceSource[]): Promise<ConformanceRun> {
  const items: ItemResult[] = [];
  const files: FileRun[] = [];
  for (const { name, text } of sources) {
    const found = detectFormat(text);
    if (found.format === null) {
      items.push(failed(name, 'file', FORMAT_NAMES, found.reason));
      files.push({ name, format: null, items: 1 });
      continue;
    }
    const start = items.length;
    for (const bad of found.badLines) items.push(failed(`${name}:${bad.line}`, found.format, 'a JSON object on each line', bad.message));
    items.push(...(await RUNNERS[found.format](found.records)));
    if (items.length === start) items.push(failed(name, found.format, 'at least one expectation to judge', 'none in the file'));
    files.push({ name, format: found.format, items: items.length - start });
  }
  return { summary: summarise(items), files, items };
}

/** Runs case files from disk; a file that cannot be read throws (a usage error, not a failed case). */
export async function runConformanceFiles(paths: readonly string[]): Promise<ConformanceRun> {
  const sources: ConformanceSource[] = [];
  for (const name of paths) sources.push({ name, text: await readFile(name, 'utf8') });
  return runConformance(sources);
}

/** The core corpora a run without FILE arguments uses, in ../shared/conformance beside the package. */
export const DEFAULT_CORPORA = ['paging-corpus.jsonl', 'ept-corpus.jsonl', 'tlb-cases.json'] as const;

/** Where the shared corpora live: ../shared/conformance relative to the package root. */
export function sharedCorpusDir(): string {
  return join(dirname(packageRoot()), 'shared', 'conformance');
}

/** The default corpora that are present (possibly none). */
export function defaultCorpusFiles(): string[] {
  const dir = sharedCorpusDir();
  return DEFAULT_CORPORA.map((f) => join(dir, f)).filter((p) => existsSync(p));
}
