// Loading the Wasm core and binding it to a machine's shared memory.
//
// Every thread compiles (or receives) the same WebAssembly.Module and
// instantiates it over the same shared WebAssembly.Memory through the
// compiler's raw bindings (build/gmemu.js): they give the exports TypeScript
// types, lift u32 results to unsigned numbers and u64 to bigint, and expose
// the core's enums as objects, with no runtime of their own.

import { readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import type { instantiate as InstantiateFn } from '../../build/gmemu.js';
import { errnoName } from '../kvm/errno.js';
import { KvmError } from '../kvm/error.js';

export type CoreExports = Awaited<ReturnType<typeof InstantiateFn>>;

export interface Core {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly debug: boolean;
}

export interface MachineGeometry {
  /** Host RAM in 4 KiB frames. */
  ramFrames: number;
  /** vCPU records laid out in the memory. */
  maxVcpus: number;
  /** Host CPUs: a remote flush interrupts every one of them. */
  hostCpus: number;
}

const WASM_PAGE = 65536;
/** The module's declared minimum memory: asconfig.json's initialMemory (a test keeps them equal). */
export const CORE_MIN_PAGES = 32;

/** The directory of gmemu's package.json (the installed package, or the repository). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'gmemu') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('gmemu: cannot find the package root (package.json)');
    dir = up;
  }
}

const compiled = new Map<boolean, Promise<WebAssembly.Module>>();

/**
 * Node 20's baseline compiler (Liftoff) miscomputes loops that contain
 * memory.atomic.wait32; the optimising compiler is right. The flag must be set
 * before the module is compiled, in every thread that compiles it.
 */
export function disableLiftoff(): void {
  v8.setFlagsFromString('--no-liftoff');
}

/** Compiles the release (or debug) core once per process. */
export function compileCore(debug = false): Promise<WebAssembly.Module> {
  let m = compiled.get(debug);
  if (!m) {
    disableLiftoff();
    const file = join(packageRoot(), 'build', debug ? 'gmemu.debug.wasm' : 'gmemu.wasm');
    m = readFile(file).then((bytes) => WebAssembly.compile(bytes));
    compiled.set(debug, m);
  }
  return m;
}

async function bindings(debug: boolean): Promise<typeof InstantiateFn> {
  const file = join(packageRoot(), 'build', debug ? 'gmemu.debug.js' : 'gmemu.js');
  return (await import(pathToFileURL(file).href)).instantiate;
}

async function instantiateOver(module: WebAssembly.Module, memory: WebAssembly.Memory, debug: boolean): Promise<CoreExports> {
  const instantiate = await bindings(debug);
  return instantiate(module, { env: { memory } } as Parameters<typeof InstantiateFn>[1]);
}

/** A failed core call (a negative errno) as a KvmError. */
function coreError(ret: number, call: string, detail: string): Error {
  const code = errnoName(ret);
  return code ? new KvmError(code, call, detail) : new Error(`gmemu: ${call} returned ${ret}: ${detail}`);
}

/** Creates a machine: a new shared memory, laid out and initialised. */
export async function createCore(geometry: MachineGeometry, debug = false): Promise<Core> {
  const module = await compileCore(debug);
  // A throwaway instance over a minimal memory answers how big the real one must be.
  const probe = await instantiateOver(module, new WebAssembly.Memory({ initial: CORE_MIN_PAGES, maximum: CORE_MIN_PAGES, shared: true }), debug);
  const bytes = probe.layout_bytes_needed(geometry.ramFrames, geometry.maxVcpus);
  const pages = Math.max(CORE_MIN_PAGES, Math.ceil(bytes / WASM_PAGE));
  if (pages > 65536) throw new RangeError(`gmemu: ${geometry.ramFrames} frames do not fit in a 4 GiB Wasm memory`);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const exports = await instantiateOver(module, memory, debug);
  const ret = exports.machine_init(geometry.ramFrames, geometry.maxVcpus, geometry.hostCpus);
  if (ret !== 0) throw coreError(ret, 'machine_init', `cannot lay out ${geometry.ramFrames} frames for ${geometry.maxVcpus} vCPUs`);
  return { exports, memory, module, debug };
}

/** Binds a new instance (another thread, or the same one) to an existing machine. */
export async function attachCore(module: WebAssembly.Module, memory: WebAssembly.Memory, debug = false): Promise<Core> {
  const exports = await instantiateOver(module, memory, debug);
  const ret = exports.machine_attach();
  if (ret !== 0) throw coreError(ret, 'machine_attach', 'the memory holds no gmemu machine of this version');
  return { exports, memory, module, debug };
}
