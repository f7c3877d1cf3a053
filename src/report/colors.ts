// Colour for the terminal (picocolors), on only for a terminal that wants it:
// never when the output is piped or written to a file, when NO_COLOR is set
// (no-color.org), or on a dumb terminal; FORCE_COLOR turns it on regardless.

import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

export function colorEnabled(stream: { isTTY?: boolean }, env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/** Colour functions for `stream`: identity functions when colour is off. */
export function colorsFor(stream: { isTTY?: boolean }, env?: Readonly<Record<string, string | undefined>>): Colors {
  return pc.createColors(colorEnabled(stream, env));
}
