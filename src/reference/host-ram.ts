// Host RAM as a plain byte view, for the reference walker: the Wasm core's
// RAM region (memory.buffer from ram_base() on), a dumped image, or a test's
// own buffer. HPA 0 is the view's first byte; words are little-endian.

import type { Hpa } from '../core/addr.js';
import { referenceWalk } from './guest-walk.js';
import type { WalkState } from './guest-walk.js';
import type { GuestAccess, HostMemory, WalkResult } from './types.js';

/** Wraps a view of host RAM. With `writable` false, A/D updates are reported but not stored. */
export function hostRam(ram: Uint8Array | DataView, writable = true): HostMemory {
  const view = ram instanceof DataView ? ram : new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const mem: HostMemory = {
    size: BigInt(view.byteLength),
    read64: (hpa: Hpa) => view.getBigUint64(Number(hpa), true),
  };
  if (!writable) return mem;
  return { ...mem, write64: (hpa: Hpa, value: bigint) => view.setBigUint64(Number(hpa), value, true) };
}

/** One access walked by the reference walker over a byte view of host RAM. */
export function referenceWalkInRam(ram: Uint8Array | DataView, state: WalkState, access: GuestAccess): WalkResult {
  return referenceWalk(hostRam(ram), state, access);
}
