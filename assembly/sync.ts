// Locks over shared memory, built on Wasm atomics.
//
// The critical sections guarded here (the frame allocator, the direct map's
// cpa_lock) are a few hundred instructions long, so a lock is a spinlock, as
// the kernel's are. A spinlock also works on a browser's main thread, which
// may not block in memory.atomic.wait32.

import { lock_ptr } from './layout';

export function spin_lock(lock: u32): void {
  const p = lock_ptr(lock);
  while (atomic.cmpxchg<u32>(p, 0, 1) != 0) {
    // Read until free before retrying the exchange, so waiters do not keep
    // the line in exclusive state.
    while (atomic.load<u32>(p) != 0) {}
  }
}

export function spin_unlock(lock: u32): void {
  atomic.store<u32>(lock_ptr(lock), 0);
}
