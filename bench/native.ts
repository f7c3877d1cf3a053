// The native baseline: bench/native/walk2d.c, compiled with the host's C
// compiler at bench time and run on a dump of the same host RAM the Wasm core
// walks. When there is no compiler the baseline is reported as missing,
// never estimated.

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The u64 header fields of a walk image, in the order walk2d.c's ImageField lists them. */
export const IMAGE_FIELDS = [
  'magic', 'version', 'ramBytes',
  'cr0', 'cr3', 'cr4', 'efer', 'pkru', 'pkrs',
  'guestMaxPhyAddr', 'gbpages', 'eptp', 'hostMaxPhyAddr', 'eptExecOnly', 'eptPage1g',
  'walkBase', 'walkPages', 'walkIters', 'walkSeed', 'walkReps',
  'copyDst', 'copySrc', 'copyLen', 'copyReps',
] as const;
export type ImageField = (typeof IMAGE_FIELDS)[number];

const IMAGE_MAGIC = 0x4b4c4157554d4d47n; // "GMMUWALK"
const IMAGE_VERSION = 1n;
/** Host RAM starts one page into the image. */
const IMAGE_RAM_OFFSET = 4096;

export interface NativeResult {
  walk2dNs: number;
  /** Sum of the HPAs the walks produced (mod 2^64): must equal the Wasm kernel's. */
  walkChecksum: bigint;
  copyGbps: number;
  /** Whether the native copy left every destination byte equal to its source. */
  copyOk: boolean;
}

/** The compiler exists but could not build walk2d.c: the baseline is missing, not wrong. */
export class NativeBuildError extends Error {}

export interface Compiler {
  command: string;
  /** First line of `cc --version`. */
  version: string;
}

/** The C compiler named by $CC, else `cc`, or null when none runs. */
export function findCompiler(): Compiler | null {
  const command = process.env.CC || 'cc';
  const r = spawnSync(command, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return { command, version: r.stdout.split('\n')[0].trim() };
}

function walk2dSource(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // From bench/ when run from source, from dist/bench/ when compiled.
  for (const candidate of [join(here, 'native', 'walk2d.c'), join(here, '..', '..', 'bench', 'native', 'walk2d.c')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('gmemu bench: bench/native/walk2d.c is missing');
}

/** Writes the header and host RAM where walk2d.c reads them. */
function writeImage(file: string, ram: Uint8Array, fields: Omit<Record<ImageField, bigint>, 'magic' | 'version' | 'ramBytes'>): void {
  const header = new DataView(new ArrayBuffer(IMAGE_RAM_OFFSET));
  const all: Record<ImageField, bigint> = { magic: IMAGE_MAGIC, version: IMAGE_VERSION, ramBytes: BigInt(ram.byteLength), ...fields };
  IMAGE_FIELDS.forEach((name, i) => header.setBigUint64(i * 8, all[name], true));
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, new Uint8Array(header.buffer));
    // A Buffer over the shared memory writes it without a copy.
    writeSync(fd, Buffer.from(ram.buffer, ram.byteOffset, ram.byteLength));
  } finally {
    closeSync(fd);
  }
}

/**
 * Compiles walk2d.c with `cc -O2`, dumps `ram` and the walk parameters, runs
 * the program and parses its answer. Everything lives in a temporary
 * directory removed afterwards.
 */
export function runNative(compiler: Compiler, ram: Uint8Array, fields: Omit<Record<ImageField, bigint>, 'magic' | 'version' | 'ramBytes'>): NativeResult {
  const dir = mkdtempSync(join(tmpdir(), 'gmemu-bench-'));
  try {
    const exe = join(dir, 'walk2d');
    try {
      execFileSync(compiler.command, ['-O2', '-std=c11', '-o', exe, walk2dSource()], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new NativeBuildError(`${compiler.command} could not build walk2d.c${stderr ? `: ${stderr.split('\n')[0]}` : ''}`);
    }
    const image = join(dir, 'walk.img');
    writeImage(image, ram, fields);
    const out = execFileSync(exe, [image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 20 });
    const j = JSON.parse(out) as { walk2d_ns: number; walk_checksum: string; copy64_gbps: number; copy_ok: boolean };
    return { walk2dNs: j.walk2d_ns, walkChecksum: BigInt(j.walk_checksum), copyGbps: j.copy64_gbps, copyOk: j.copy_ok };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
