// uAPI cases need the KVM uAPI, which is not built yet: each one is a
// failure that says so, never a skip and never a crash.

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runConformanceFiles } from '../../src/conformance/runner.js';
import { UAPI_NOT_BUILT } from '../../src/conformance/uapi.js';

const dir = (f: string) => fileURLToPath(new URL(`../../../shared/conformance/${f}`, import.meta.url));

describe('uAPI cases', () => {
  it('fail one by one with the reason and the case expectation', async () => {
    const run = await runConformanceFiles([dir('kvm-cases.json'), dir('kvm-random.json')]);
    expect(run.files.map((f) => [f.format, f.items])).toEqual([['uapi', 84], ['uapi', 150]]);
    expect(run.summary).toEqual({ pass: 0, fail: 234 });
    expect(run.items.every((r) => r.actual === UAPI_NOT_BUILT)).toBe(true);
    expect(UAPI_NOT_BUILT).toMatch(/uAPI cases need the KVM uAPI: not built yet/);
    expect(run.items.find((r) => r.id === 'gmem.mmap.no_flag')).toMatchObject({
      area: 'uapi.guest_memfd.mmap', status: 'fail', expected: { errno: 'ENODEV' },
    });
    expect(run.items.filter((r) => r.area === 'uapi.random')).toHaveLength(150);
  });
});
