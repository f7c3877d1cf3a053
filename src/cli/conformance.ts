// `gmemu conformance [FILE...] [--json]`: runs case files against the
// emulator and judges every expectation; exit 1 when any fails.

import { parseArgs } from 'node:util';
import { defaultCorpusFiles, DEFAULT_CORPORA, runConformanceFiles, sharedCorpusDir } from '../conformance/runner.js';
import { conformanceJson } from '../conformance/result.js';
import { formatConformance } from '../conformance/text-report.js';
import type { Command } from './command.js';

const HELP = `usage: gmemu conformance [FILE...] [--json]

Runs conformance case files against the emulator and judges every
expectation in them. The format of each file is read from its content:
  paging corpus   JSON lines with translate/exec items (paging-corpus.jsonl)
  EPT corpus      JSON lines with eptp and accesses (ept-corpus.jsonl)
  TLB scenarios   a JSON array of cases with init and steps (tlb-cases.json)
  uAPI cases      a JSON array of cases whose steps are KVM_* ioctls
                  (kvm-cases.json, kvm-random.json), each run on a fresh
                  KVM (tag verified: shadow-paging host; source: TDP host);
                  a case with a KVM_RUN step fails until KVM_RUN is built
A field or op the format does not define is a failure, never a skip.

Without FILE it runs the three core corpora (${DEFAULT_CORPORA.join(', ')})
from ../shared/conformance beside the package, when present; the uAPI files
are left out, so that run is expected to pass.

Prints a pass/fail table per area and every failure with the expected and the
actual answer (the first 50; --json lists every item).

  --json    print the result as JSON (schema 1):
            { schema, summary: { pass, fail }, cases: [ { id, status, expected, actual } ] }
  --help    show this help

Exit status: 0 when every item passes, 1 when any fails, 2 for a usage error
(a bad option, a FILE that cannot be read, no FILE and no shared corpora).`;

export const conformanceCommand: Command = {
  summary: 'run conformance case files (paging, EPT, TLB, uAPI) against the emulator',
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
      args,
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(HELP + '\n');
      return 0;
    }
    const files = positionals.length ? positionals : defaultCorpusFiles();
    if (files.length === 0) {
      process.stderr.write(`gmemu conformance: no FILE given and no shared corpora in ${sharedCorpusDir()}\n`);
      return 2;
    }
    let run;
    try {
      run = await runConformanceFiles(files);
    } catch (err) {
      // A file system error (it has a syscall) is a bad FILE argument; anything else is a bug.
      const e = err as { syscall?: string; code?: string; path?: string };
      if (e.syscall === undefined) throw err;
      process.stderr.write(`gmemu conformance: cannot read ${e.path ?? 'a FILE'}: ${e.code}\n`);
      return 2;
    }
    process.stdout.write((values.json ? JSON.stringify(conformanceJson(run), null, 2) : formatConformance(run)) + '\n');
    return run.summary.fail === 0 ? 0 : 1;
  },
};
