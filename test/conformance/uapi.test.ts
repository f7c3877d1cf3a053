// The uAPI case executor on gmemu's KVM: cases that meet their expectations
// pass, and each kind of disagreement (wrong errno, wrong ret, a failed
// set-up step, a byte the VMM reads) or unknown op, field or expectation key
// fails with what was expected and what happened.

import { describe, expect, it } from 'vitest';
import { runConformance } from '../../src/conformance/runner.js';
import type { ItemResult } from '../../src/conformance/result.js';

type Step = { op: string; args?: Record<string, unknown>; as?: string; expect?: Record<string, unknown> };

const VM: Step = { op: 'KVM_CREATE_VM', args: { fd: '$kvm', type: 0 }, as: 'vm' };
const GMEM: Step = { op: 'KVM_CREATE_GUEST_MEMFD', args: { fd: '$vm', size: 8192, flags: 0 }, as: 'g' };
const ANON: Step = {
  op: 'mmap', args: { fd: -1, length: 8192, prot: ['PROT_READ', 'PROT_WRITE'], flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'], offset: 0 }, as: 'm',
};

async function run1(steps: Step[], caseExpect: Record<string, unknown>, tag = 'verified'): Promise<ItemResult> {
  const run = await runConformance([{ name: 'c.json', text: JSON.stringify([{ id: 'c', area: 'test', tag, steps, expect: caseExpect }]) }]);
  expect(run.items).toHaveLength(1);
  return run.items[0];
}

describe('uAPI cases that meet their expectations', () => {
  it('pass, with the observed value of each expectation', async () => {
    expect(await run1([VM, GMEM, { op: 'fstat', args: { fd: '$g' } }], { ret: 0, st_size: 8192, st_blocks: 0, S_ISREG: true })).toEqual({
      id: 'c', area: 'uapi.test', status: 'pass',
      expected: { ret: 0, st_size: 8192, st_blocks: 0, S_ISREG: true },
      actual: { ret: 0, st_size: 8192, st_blocks: 0, S_ISREG: true },
    });
  });

  it('run verified cases on the shadow host and source cases on the TDP host', async () => {
    const vmTypes: Step = { op: 'KVM_CHECK_EXTENSION', args: { fd: '$kvm', cap: 235 } };
    expect((await run1([vmTypes], { ret: 1 }, 'verified')).status).toBe('pass');
    expect((await run1([vmTypes], { ret: 3 }, 'source')).status).toBe('pass');
    expect((await run1([vmTypes], { ret: 3 }, 'verified'))).toMatchObject({ status: 'fail', expected: { step: 0, ret: 3 }, actual: { step: 0, ret: 1 } });
  });

  it('read the VMM byte at $name + offset after the step (host_NAME[OFF])', async () => {
    const write: Step = { op: 'mem_write_u8', args: { addr: '$m', offset: 1, value: 7 } };
    expect((await run1([VM, ANON, write], { ret: 0, 'host_m[1]': 7, 'host_m[0]': 0 })).status).toBe('pass');
    expect(await run1([VM, ANON, write], { 'host_m[1]': 8 })).toMatchObject({ status: 'fail', expected: { 'host_m[1]': 8 }, actual: { 'host_m[1]': 7 } });
  });

  it('give the executor its guest-code slot 32000 at 0xff000 with the first vCPU of a VM', async () => {
    const vcpu: Step = { op: 'KVM_CREATE_VCPU', args: { fd: '$vm', id: 0 } };
    const overCode: Step = {
      op: 'KVM_SET_USER_MEMORY_REGION', args: { fd: '$vm', slot: 1, flags: 0, guest_phys_addr: 0xf0000, memory_size: 0x10000, userspace_addr: 0 },
    };
    expect((await run1([VM, overCode], { ret: 0 })).status).toBe('pass');
    expect((await run1([VM, vcpu, overCode], { errno: 'EEXIST' })).status).toBe('pass');
  });

  it('build structs by field name, an array from a list or by elements (name[i])', async () => {
    const enableCap = (args: Record<string, unknown>): Step => ({ op: 'KVM_ENABLE_CAP', args: { fd: '$vm', cap: 201, ...args } });
    expect((await run1([VM, enableCap({ args: [4096, 0, 0, 0] })], { ret: 0 })).status).toBe('pass');
    expect((await run1([VM, enableCap({ 'args[0]': 4096 })], { ret: 0 })).status).toBe('pass');
    expect((await run1([VM, enableCap({ args: [8] })], { errno: 'EINVAL' })).status).toBe('pass');
    expect((await run1([VM, enableCap({ 'args[0]': 4096, 'args[0]x': 1 })], { ret: 0 })).actual).toMatch(/unknown field 'args\[0\]x'/);
    expect((await run1([VM, enableCap({ 'args[4]': 1 })], { ret: 0 })).actual).toBe('args[4]');
    expect((await run1([VM, enableCap({ args: [0, 0, 0, 0, 0] })], { ret: 0 })).expected).toMatch(/a list of at most 4 values/);
  });
});

describe('uAPI cases that do not', () => {
  const noMmap: Step = { op: 'mmap', args: { fd: '$g', length: 4096, prot: ['PROT_READ'], flags: ['MAP_SHARED'], offset: 0 } };

  it('fail on a wrong errno, showing the step, op and both errnos', async () => {
    expect((await run1([VM, GMEM, noMmap], { errno: 'ENODEV' })).status).toBe('pass');
    expect(await run1([VM, GMEM, noMmap], { errno: 'EINVAL' })).toEqual({
      id: 'c', area: 'uapi.test', status: 'fail',
      expected: { step: 2, op: 'mmap', errno: 'EINVAL' },
      actual: { step: 2, op: 'mmap', ret: -1, errno: 'ENODEV' },
    });
  });

  it('fail on a wrong ret, and on an errno when neither ret nor errno is expected', async () => {
    const cap: Step = { op: 'KVM_CHECK_EXTENSION', args: { fd: '$kvm', cap: 234 } };
    expect(await run1([cap], { ret: 2 })).toMatchObject({ status: 'fail', expected: { ret: 2 }, actual: { ret: 1 } });
    expect(await run1([VM, GMEM, noMmap], { ret: '>=0' })).toMatchObject({ status: 'fail', expected: { ret: '>=0' }, actual: { ret: -1, errno: 'ENODEV' } });
    const read: Step = { op: 'mem_read_u8', args: { addr: 4096 } };
    expect(await run1([VM, read], { value: 0 })).toMatchObject({ status: 'fail', expected: { value: 0, signal: null }, actual: { value: null, signal: 'SIGSEGV' } });
    expect((await run1([VM, read], { signal: 'SIGSEGV' })).status).toBe('pass');
  });

  it('fail when a set-up step (no expect) fails, at that step', async () => {
    const badGmem: Step = { op: 'KVM_CREATE_GUEST_MEMFD', args: { fd: '$vm', size: 4097, flags: 0 }, as: 'g' };
    expect(await run1([VM, badGmem, { op: 'fstat', args: { fd: '$kvm' } }], { ret: 0 })).toMatchObject({
      status: 'fail', expected: { step: 1, op: 'KVM_CREATE_GUEST_MEMFD', succeeds: true }, actual: { step: 1, succeeds: false, errno: 'EINVAL' },
    });
  });

  it('fail on a name no successful step bound', async () => {
    const badGmem: Step = { ...GMEM, args: { fd: '$vm', size: 4097, flags: 0 }, expect: { errno: 'EINVAL' } };
    expect(await run1([VM, badGmem, { op: 'fstat', args: { fd: '$g' } }], { ret: 0 })).toMatchObject({
      status: 'fail', actual: '$g is not bound',
    });
  });

  it('fail on an unknown op, arg field, struct field, expectation key or constant name', async () => {
    const cases: [Step[], Record<string, unknown>, RegExp][] = [
      [[{ op: 'KVM_FROB', args: { fd: '$kvm' } }], { ret: 0 }, /unknown op 'KVM_FROB'/],
      [[VM, { op: 'frob', args: {} }], { ret: 0 }, /unknown op 'frob'/],
      [[{ op: 'KVM_CREATE_VM', args: { fd: '$kvm', typ: 0 } }], { ret: '>=0' }, /unknown field 'typ'/],
      [[VM, { op: 'KVM_CREATE_GUEST_MEMFD', args: { fd: '$vm', size: 4096, flag: 0 } }], { ret: '>=0' }, /unknown field 'flag'/],
      [[VM], { retval: 3 }, /unknown key 'retval'/],
      [[VM, { ...GMEM, expect: { value: 1 } }], {}, /unknown key 'value'/],
      [[VM, { ...ANON, args: { ...ANON.args, prot: ['PROT_READ', 'PROT_FROB'] } }], { ret: '>=0' }, /PROT_FROB is not defined/],
    ];
    for (const [steps, exp, why] of cases) {
      const r = await run1(steps, exp);
      expect(r.status).toBe('fail');
      expect(String(r.actual)).toMatch(why);
    }
  });

  it('judge KVM_RUN steps on the exit, its fields and what the guest saw', async () => {
    const vcpu: Step = { op: 'KVM_CREATE_VCPU', args: { fd: '$vm', id: 0 }, as: 'vcpu' };
    const low: Step = { op: 'KVM_SET_USER_MEMORY_REGION', args: { fd: '$vm', slot: 0, flags: 0, guest_phys_addr: 0, memory_size: 8192, userspace_addr: '$m' } };
    const poke: Step = { op: 'mem_write_u8', args: { addr: '$m', offset: 0x1001, value: 0x5a } };
    const read = (gpa: number): Step => ({ op: 'KVM_RUN', args: { fd: '$vcpu', guest: 'read_u8', gpa } });
    expect(await run1([VM, ANON, low, poke, vcpu, read(0x1001)], { ret: 0, no_exit: true, guest_value: 0x5a })).toMatchObject({
      status: 'pass', actual: { ret: 0, no_exit: true, guest_value: 0x5a },
    });
    expect(await run1([VM, ANON, low, vcpu, read(0x9000)], { exit_reason: 'KVM_EXIT_MMIO', mmio: { phys_addr: 0x9000, len: 2 } })).toMatchObject({
      status: 'fail', expected: { mmio: { phys_addr: 0x9000, len: 2 } }, actual: { mmio: { phys_addr: 0x9000, len: 1 } },
    });
    expect(await run1([VM, ANON, low, vcpu, read(0x9000)], { exit_reason: 'KVM_EXIT_HLT' })).toMatchObject({
      status: 'fail', expected: { exit_reason: 'KVM_EXIT_HLT' }, actual: { exit_reason: 'KVM_EXIT_MMIO' },
    });
    const r = await run1([VM, vcpu, { op: 'KVM_RUN', args: { fd: '$vcpu', guest: 'jump' } }], { ret: 0 });
    expect(r).toMatchObject({ status: 'fail', actual: '"jump"' });
    expect(String(r.expected)).toMatch(/read_u8, write_u8, hypercall or report_rax/);
  });

  it('resume a hypercall exit with report_rax: the hypercall.ret that set_run_field wrote reaches rax', async () => {
    const vcpu: Step = { op: 'KVM_CREATE_VCPU', args: { fd: '$vm', id: 0 }, as: 'vcpu' };
    const hc: Step = { op: 'KVM_RUN', args: { fd: '$vcpu', guest: 'hypercall', nr: 12, a0: 0x10000, a1: 1, a2: 0, long_mode: true } };
    const enable: Step = { op: 'KVM_ENABLE_CAP', args: { fd: '$vm', cap: 201, args: [4096, 0, 0, 0] } };
    const steps: Step[] = [
      VM, vcpu, enable, hc,
      { op: 'set_run_field', args: { field: 'hypercall.ret', value: 7 } },
      { op: 'KVM_RUN', args: { fd: '$vcpu', guest: 'report_rax' } },
    ];
    expect(await run1(steps, { no_exit: true, guest_rax: 7 }, 'source')).toMatchObject({ status: 'pass' });
    const bad = await run1([...steps.slice(0, 4), { op: 'set_run_field', args: { field: 'hypercall.nr', value: 1 } }], { ret: 0 }, 'source');
    expect(bad).toMatchObject({ status: 'fail', actual: '"hypercall.nr"' });
    expect(String(bad.expected)).toMatch(/immediate_exit, hypercall.ret/);
  });
});
