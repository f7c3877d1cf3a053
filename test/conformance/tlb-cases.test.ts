// The TLB scenarios (conformance/TLB.md): 69 hand-computed cases of stale
// entries, PCIDs, global pages, INVLPG/INVPCID, CR3/CR4 effects, LA57,
// protection keys and SMAP, run through the core-level vCPU entry points on
// one vCPU whose TLB carries over from step to step. Guest-physical =
// host-physical without EPT; a data page outside host RAM still translates
// (its address is the answer) but has no memory behind it.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allFeatures, makeFixture } from '../assembly/mmu-fixture.js';

const CASES = fileURLToPath(new URL('../../../shared/conformance/tlb-cases.json', import.meta.url));

type Expect = { pa: string } | { fault: { vector: number; err?: number; cr2?: string } };
interface Step {
  op: string;
  la?: string; type?: string; cpl?: number; ac?: number; implicit?: number;
  gpa?: string; value?: string; pcid?: string;
  expect?: Expect; expect_gp?: boolean;
}
interface Case {
  id: string;
  maxphyaddr: number;
  init: { cr0: string; cr3: string; cr4: string; efer: string; pkru: string; pkrs?: string };
  qwords: [string, string][];
  steps: Step[];
}

const KIND: Record<string, number> = { r: 0, w: 1, x: 2 };
const RAM_FRAMES = (64 << 20) / 4096;

describe('conformance: TLB scenarios', () => {
  const cases: Case[] = JSON.parse(readFileSync(CASES, 'utf8'));

  it('agrees with every expectation of every scenario', async () => {
    const f = await makeFixture(RAM_FRAMES);
    const { x } = f;
    const S = x.AccessStatus;
    const failures: string[] = [];
    let checked = 0;
    for (const c of cases) {
      const touched = new Set<bigint>();
      const put = (gpa: bigint, v: bigint) => { touched.add(gpa & ~0xfffn); f.write64(gpa, v); };
      for (const [a, v] of c.qwords) put(BigInt(a), BigInt(v));
      x.vcpu_set_features(0, allFeatures(x, c.maxphyaddr));
      x.vcpu_set_ept(0, 0n, 0, 0);
      x.vcpu_set_cpl(0, 0);
      x.vcpu_set_rflags(0, 2n);
      x.vcpu_set_pkeys(0, Number(BigInt(c.init.pkru)), Number(BigInt(c.init.pkrs ?? '0')));
      x.vcpu_set_state(0, BigInt(c.init.cr0), BigInt(c.init.cr3), BigInt(c.init.cr4), BigInt(c.init.efer));
      c.steps.forEach((s, i) => {
        const id = `${c.id}/s${i}`;
        let status: number;
        switch (s.op) {
          case 'access':
            status = x.vcpu_access(0, BigInt(s.la!), KIND[s.type!], s.cpl!, s.ac!, s.implicit === 1);
            break;
          case 'write_pte':
            put(BigInt(s.gpa!), BigInt(s.value!));
            return;
          case 'invlpg': status = x.invlpg(0, BigInt(s.la!)); break;
          case 'invpcid': status = x.invpcid(0, BigInt(s.type!), BigInt(s.pcid!), BigInt(s.la!)); break;
          case 'mov_cr3': status = x.mov_cr3(0, BigInt(s.value!)); break;
          case 'mov_cr4': status = x.mov_cr4(0, BigInt(s.value!)); break;
          case 'wrpkru': status = x.wrpkru(0, Number(BigInt(s.value!))); break;
          case 'wrmsr_pkrs': status = x.wrmsr_pkrs(0, BigInt(s.value!)); break;
          default:
            failures.push(`${id}: unknown op ${s.op}`);
            return;
        }
        const r = f.res();
        if (s.op !== 'access') {
          checked++;
          const gp = status === S.GeneralProtection;
          if (gp !== (s.expect_gp === true)) failures.push(`${id} ${s.op}: want gp=${s.expect_gp === true} got status ${status}`);
          return;
        }
        if (!s.expect) {
          failures.push(`${id}: access without an expectation`);
          return;
        }
        checked++;
        let got: string;
        if (status === S.Ok || (status === S.NoMemory && r.level === 0)) got = `pa 0x${r.gpa.toString(16)}`;
        else if (status === S.PageFault) got = `#PF err=${r.err} cr2=0x${r.cr2.toString(16)}`;
        else if (status === S.GeneralProtection) got = `#GP err=${r.err}`;
        else got = `status ${status}`;
        const e = s.expect;
        const want = 'pa' in e ? `pa 0x${BigInt(e.pa).toString(16)}`
          : e.fault.vector === 14 ? `#PF err=${e.fault.err} cr2=0x${BigInt(e.fault.cr2!).toString(16)}`
          : `#GP err=${e.fault.err ?? 0}`;
        if (got !== want) failures.push(`${id}: want ${want} got ${got}`);
      });
      for (const page of touched) f.zero(page, 4096);
    }
    console.log(`tlb cases: ${cases.length} scenarios, ${checked} expectations, ${failures.length} disagreements`);
    expect(failures.slice(0, 20)).toEqual([]);
  });
});
