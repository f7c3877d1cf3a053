// `gmemu bench [--json] [--quick]`: measures the core's own speed against a
// native C build and the TypeScript reference walker, run in the same process.

import { parseArgs } from 'node:util';
import { runBench } from '../../bench/metrics.js';
import { formatTable } from '../../bench/report.js';
import type { Command } from './command.js';

const HELP = `usage: gmemu bench [--json] [--quick]

Measures gmemu's hot paths (TLB-hit load, 2D walk, translated copy, direct-map
changes) with native C and TypeScript baselines measured in the same run.

  --json    print the result as JSON (schema 1) instead of a table
  --quick   fewer repetitions (CI); the sizes stay the same
  --help    show this help`;

export const benchCommand: Command = {
  summary: 'measure the core against native C and TypeScript baselines',
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({
      args,
      options: {
        json: { type: 'boolean', default: false },
        quick: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(HELP + '\n');
      return 0;
    }
    const report = await runBench({ quick: values.quick });
    process.stdout.write((values.json ? JSON.stringify(report, null, 2) : formatTable(report)) + '\n');
    return 0;
  },
};
