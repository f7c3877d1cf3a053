// Reading a vCPU's results and walk trace from shared memory: the values the
// core wrote for that vCPU, and not another's.

import { describe, expect, it } from 'vitest';
import { VcpuRecord } from '../../src/core/vcpu-record.js';
import { createCore } from '../../src/core/wasm.js';

const LONG_MODE = { cr0: 0x8001_0001n, cr4: 0x20n, efer: 0xd00n };

describe('VcpuRecord', () => {
  it("reads the status, error code and CR2 of the vCPU's last access", async () => {
    const core = await createCore({ ramFrames: 64, maxVcpus: 2, hostCpus: 1 });
    const x = core.exports;
    const [v0, v1] = [new VcpuRecord(core, 0), new VcpuRecord(core, 1)];
    x.vcpu_set_features(1, 46 | x.CpuFeat.Nx);
    // CR3 names a zeroed table: the PML4E is not present.
    x.vcpu_set_state(1, LONG_MODE.cr0, 0x20000n, LONG_MODE.cr4, LONG_MODE.efer);
    expect(x.vcpu_access(1, 0x1234n, x.AccessKind.Write, 3, 0, false)).toBe(x.AccessStatus.PageFault);
    expect(v1.result()).toMatchObject({ status: x.AccessStatus.PageFault, err: 0b110, cr2: 0x1234n, level: 4 });
    expect(v0.result().status).toBe(x.AccessStatus.Ok);
    expect(x.vcpu_access(1, 0x8000_0000_0000n, x.AccessKind.Read, 0, 0, false)).toBe(x.AccessStatus.GeneralProtection);
    expect(v1.result()).toMatchObject({ status: x.AccessStatus.GeneralProtection, err: 0 });
  });

  it('reads the references of a traced EPT walk in order, with its A/D updates', async () => {
    const core = await createCore({ ramFrames: 64, maxVcpus: 2, hostCpus: 1 });
    const x = core.exports;
    const root = x.ept_root_alloc(1);
    expect(x.ept_map(root, 0x5000n, 0x7000n, 12, 7 | (6 << 3), 1)).toBe(0);
    const v1 = new VcpuRecord(core, 1);
    x.trace_begin(1);
    expect(x.ept_walk(x.ept_make_eptp(root, true), 0x5008n, x.AccessKind.Write, false, true, 46 | x.EptCap.Page1g)).toBe(x.AccessStatus.Ok);
    x.trace_end();
    const refs = v1.trace();
    expect(v1.traceCount()).toBe(refs.length);
    const E = x.TraceKind.EptEntry;
    const AD = x.TraceKind.EptAdUpdate;
    expect(refs.filter((r) => r.kind === E).map((r) => r.level)).toEqual([4, 3, 2, 1]);
    const updates = refs.filter((r) => r.kind === AD);
    expect(updates.length).toBeGreaterThan(0);
    for (const u of updates) expect(u.newValue & ~u.value).not.toBe(0n);
    const leaf = refs.filter((r) => r.kind === E && r.level === 1)[0];
    expect(leaf.value & 0x000f_ffff_ffff_f000n).toBe(0x7000n);
    expect(new VcpuRecord(core, 0).traceCount()).toBe(0);
  });
});
