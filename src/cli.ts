#!/usr/bin/env node
// The `gmemu` command: picks a subcommand and hands it the rest of the
// arguments. Each subcommand lives in its own file under cli/ and parses its
// own options, so adding one is one import and one table row.

import { benchCommand } from './cli/bench.js';
import { conformanceCommand } from './cli/conformance.js';
import type { Command } from './cli/command.js';

const COMMANDS: Record<string, Command> = {
  bench: benchCommand,
  conformance: conformanceCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return ['usage: gmemu <command> [options]', '', 'commands:', ...rows, '', 'gmemu <command> --help shows its options.'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`gmemu: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`gmemu: ${err instanceof Error ? err.message : String(err)}\n`);
    // A bad option (node:util parseArgs) is a usage error, like an unknown command.
    const code = (err as { code?: unknown }).code;
    process.exitCode = typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  },
);
