// The data accessors: 8-byte loads and stores (page-crossing included), copy
// and fill translated page by page, faults reported in Vcpu.ResStatus with
// nothing written, and the access counters.

import { describe, expect, it } from 'vitest';
import { allFeatures, makeFixture } from './mmu-fixture.js';
import { A, D, GuestTables, P, U, W } from './guest-tables.js';

async function setup() {
  const f = await makeFixture(4096);
  const t = new GuestTables(f, 0x10_0000n);
  f.x.vcpu_set_features(0, allFeatures(f.x, 46));
  f.x.vcpu_set_state(0, 0x8001_0001n, t.root, 0x20n, 0xd00n);
  // Two virtually contiguous pages on scattered frames, then a read-only one.
  t.map(0x40_0000n, 0x23_0000n, P | W | A | D);
  t.map(0x40_1000n, 0x21_0000n, P | W | A | D);
  t.map(0x40_2000n, 0x22_0000n, P | A | D);
  return { f, t, x: f.x };
}

describe('access: data accessors', () => {
  it('reads and writes 8 bytes, across a page boundary too', async () => {
    const { f, x } = await setup();
    x.guest_write64(0, 0x40_0010n, 0x1122_3344_5566_7788n);
    expect(f.read64(0x23_0010n)).toBe(0x1122_3344_5566_7788n);
    expect(x.guest_read64(0, 0x40_0010n)).toBe(0x1122_3344_5566_7788n);
    x.guest_write64(0, 0x40_0ffdn, 0x0102_0304_0506_0708n);
    expect(f.read64(0x23_0ff8n) >> 40n).toBe(0x06_0708n);
    expect(f.read64(0x21_0000n) & 0xff_ffff_ffffn).toBe(0x01_0203_0405n);
    expect(x.guest_read64(0, 0x40_0ffdn)).toBe(0x0102_0304_0506_0708n);
    expect(f.stat('GuestRead')).toBe(2n);
    expect(f.stat('GuestWrite')).toBe(2n);
  });

  it('a faulting store writes nothing, not even the part on the good page', async () => {
    const { f, x } = await setup();
    x.guest_write64(0, 0x40_1ffcn, 0xffff_ffff_ffff_ffffn);
    const r = f.res();
    expect(r.status).toBe(x.AccessStatus.PageFault);
    expect(r.err).toBe(0x3);
    expect(r.cr2).toBe(0x40_2000n);
    expect(f.read64(0x21_0ff8n)).toBe(0n);
    expect(x.guest_read64(0, 0x50_0000n)).toBe(0n);
    expect(f.res().status).toBe(x.AccessStatus.PageFault);
  });

  it('uses CPL and EFLAGS.AC of the vCPU', async () => {
    const { f, t, x } = await setup();
    t.map(0x60_0000n, 0x24_0000n, P | W | A | D); // supervisor page
    x.vcpu_set_cpl(0, 3);
    x.guest_read64(0, 0x60_0000n);
    expect(f.res().err).toBe(0x5);
    x.vcpu_set_cpl(0, 0);
    x.guest_read64(0, 0x60_0000n);
    expect(f.res().status).toBe(x.AccessStatus.Ok);
    t.map(0x61_0000n, 0x25_0000n, P | W | U | A | D);
    x.mov_cr4(0, 0x20n | (1n << 21n)); // SMAP
    x.guest_read64(0, 0x61_0000n);
    expect(f.res().err).toBe(0x1);
    x.vcpu_set_rflags(0, 2n | (1n << 18n));
    x.guest_read64(0, 0x61_0000n);
    expect(f.res().status).toBe(x.AccessStatus.Ok);
  });

  it('copies and fills page by page, and stops at the first fault', async () => {
    const { f, x } = await setup();
    new Uint8Array(f.core.memory.buffer, x.ram_base() + 0x23_0000, 4096).fill(0xab);
    new Uint8Array(f.core.memory.buffer, x.ram_base() + 0x21_0000, 4096).fill(0xcd);
    expect(x.guest_fill(0, 0x40_0ff0n, 0x5a, 0x20n)).toBe(x.AccessStatus.Ok);
    expect(f.read64(0x23_0ff8n)).toBe(0x5a5a_5a5a_5a5a_5a5an);
    expect(f.read64(0x21_0008n)).toBe(0x5a5a_5a5a_5a5a_5a5an);
    expect(f.read64(0x21_0010n)).toBe(0xcdcd_cdcd_cdcd_cdcdn);
    expect(x.guest_copy(0, 0x40_1800n, 0x40_0000n, 0x800n)).toBe(x.AccessStatus.Ok);
    expect(f.read64(0x21_1000n - 8n)).toBe(0xabab_abab_abab_ababn);
    expect(f.stat('GuestCopyBytes')).toBe(0x800n);
    expect(x.guest_copy(0, 0x40_1800n, 0x40_0000n, 0x1000n)).toBe(x.AccessStatus.PageFault);
    expect(f.res().cr2).toBe(0x40_2000n);
    expect(f.stat('GuestCopyBytes')).toBe(0x1000n); // the piece before the fault was copied
  });

  it('reports the translation of an access in the Res fields', async () => {
    const { f, x } = await setup();
    expect(x.vcpu_access(0, 0x40_1234n, x.AccessKind.Read, 0, 0, false)).toBe(x.AccessStatus.Ok);
    expect(f.res().hpa).toBe(0x21_0234n);
    expect(x.vcpu_access(0, 0x40_1234n, x.AccessKind.Fetch, 0, 0, false)).toBe(x.AccessStatus.Ok);
    expect(f.res().gpa).toBe(0x21_0234n);
    expect(f.res().pageShift).toBe(12);
    expect(f.stat('GuestFetch')).toBe(1n);
  });
});
