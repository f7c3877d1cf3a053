// Progress over a known number of steps: a cli-progress bar on a terminal,
// and one plain line per step otherwise (a log, CI, a pipe), so nothing is
// lost and no control characters land in a file.

import cliProgress from 'cli-progress';

export interface Progress {
  /** One step done; `label` says which. */
  step(label: string): void;
  stop(): void;
}

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): boolean;
}

export function createProgress(title: string, total: number, stream: ProgressStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${title} [{bar}] {value}/{total} {label}`, stream: stream as NodeJS.WritableStream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { label: '' });
    return { step: (label) => bar.increment(1, { label }), stop: () => bar.stop() };
  }
  let done = 0;
  return {
    step: (label) => {
      done++;
      stream.write(`${title}: ${done}/${total} ${label}\n`);
    },
    stop: () => {},
  };
}
