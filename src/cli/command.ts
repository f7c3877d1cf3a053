// What every `gmemu` subcommand provides to the dispatcher in cli.ts.

export interface Command {
  /** One line for `gmemu --help`. */
  readonly summary: string;
  /** Parses its own arguments, does its work, and returns the exit code. */
  run(args: string[]): Promise<number>;
}
