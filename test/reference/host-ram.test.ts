// The byte-view adapter the benchmark and the property tests walk through.

import { describe, expect, it } from 'vitest';
import type { Gva, Hpa } from '../../src/core/addr.js';
import { hostRam, referenceWalkInRam } from '../../src/reference/host-ram.js';
import { EFER_LMA, EFER_LME, X86_CR0_PG, X86_CR4_PAE } from '../../src/uapi.js';

describe('hostRam', () => {
  it('reads and writes little-endian words at an offset inside a larger buffer', () => {
    const backing = new Uint8Array(0x3000);
    const ram = backing.subarray(0x1000);
    const mem = hostRam(ram);
    expect(mem.size).toBe(0x2000n);
    mem.write64!(0x8n as Hpa, 0x0102030405060708n);
    expect(backing[0x1008]).toBe(0x08);
    expect(backing[0x100f]).toBe(0x01);
    expect(mem.read64(0x8n as Hpa)).toBe(0x0102030405060708n);
    expect(hostRam(ram, false).write64).toBeUndefined();
  });

  it('walks a tree laid out in the view and stores its A bits there', () => {
    const ram = new DataView(new ArrayBuffer(0x6000));
    const put = (a: number, v: bigint) => ram.setBigUint64(a, v, true);
    put(0x1000, 0x2007n);
    put(0x2000, 0x3007n);
    put(0x3000, 0x4007n);
    put(0x4000, 0x5007n);
    const guest = {
      cr0: X86_CR0_PG, cr3: 0x1000n, cr4: X86_CR4_PAE, efer: EFER_LME | EFER_LMA,
      pkru: 0, pkrs: 0, maxPhyAddr: 46, vendor: 'intel' as const, gbpages: true,
    };
    const r = referenceWalkInRam(ram, { guest, ept: null }, { la: 0x123n as Gva, kind: 'read', cpl: 0, ac: false, implicit: false });
    expect(r.outcome).toMatchObject({ kind: 'ok', hpa: 0x5123n });
    expect(ram.getBigUint64(0x4000, true)).toBe(0x5027n);
    // A table entry beyond the view is not host memory.
    put(0x4000, 0x7007n);
    put(0x3000, 0x9000n | 7n);
    const far = referenceWalkInRam(ram, { guest, ept: null }, { la: 0x123n as Gva, kind: 'read', cpl: 0, ac: false, implicit: false });
    expect(far.outcome).toEqual({ kind: 'no-memory', gpa: 0x9000n });
  });
});
