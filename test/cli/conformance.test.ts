// `gmemu conformance` as a user runs it: the built CLI on case files written
// here, its exit status (0 pass, 1 fail, 2 usage) and its JSON shape.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

/** Whether some src/ file is newer than its compiled form (or has none). */
function distStale(dir = join(ROOT, 'src')): boolean {
  return readdirSync(dir, { withFileTypes: true }).some((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return distStale(p);
    if (!e.name.endsWith('.ts')) return false;
    const out = join(ROOT, 'dist', p.slice(ROOT.length).replace(/\.ts$/, '.js'));
    return !existsSync(out) || statSync(out).mtimeMs < statSync(p).mtimeMs;
  });
}

function gmemu(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--no-liftoff', CLI, 'conformance', ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// One TLB scenario: a 4 KiB page at LA 0x400000 -> 0x5000, then an instruction step.
const scenario = (pa: string) => JSON.stringify([{
  id: 'cli', area: 'mine', maxphyaddr: 46,
  init: { cr0: '0x80010001', cr3: '0x10000', cr4: '0x20', efer: '0xd00', pkru: '0x0' },
  qwords: [['0x10000', '0x11027'], ['0x11000', '0x12027'], ['0x12010', '0x13027'], ['0x13000', '0x5067']],
  steps: [{ op: 'access', la: '0x400010', type: 'r', cpl: 0, ac: 0, expect: { pa } }, { op: 'invlpg', la: '0x400000' }],
}]);

let dir: string;

describe('gmemu conformance', () => {
  beforeAll(() => {
    if (distStale()) execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'ignore' });
    dir = mkdtempSync(join(tmpdir(), 'gmemu-conformance-'));
    writeFileSync(join(dir, 'good.json'), scenario('0x5010'));
    writeFileSync(join(dir, 'bad.json'), scenario('0x6010'));
    writeFileSync(join(dir, 'junk.txt'), 'not a case file\n');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and prints the table when every item passes', () => {
    const r = gmemu('good.json');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('good.json: TLB scenarios, 2 items');
    expect(r.stdout).toMatch(/^tlb\.mine +2 +0$/m);
    expect(r.stdout).not.toContain('FAIL');
  });

  it('exits 1 and prints each failure with expected and actual', () => {
    const r = gmemu('good.json', 'bad.json', 'junk.txt');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^total +3 +2$/m);
    expect(r.stdout).toContain('FAIL cli/s0\n  expected {"pa":"0x6010"}\n  actual   {"pa":"0x5010"}');
    expect(r.stdout).toContain('FAIL junk.txt\n');
  });

  it('prints schema 1 JSON with --json', () => {
    const r = gmemu('--json', 'bad.json');
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      schema: 1,
      summary: { pass: 1, fail: 1 },
      cases: [
        { id: 'cli/s0', status: 'fail', expected: { pa: '0x6010' }, actual: { pa: '0x5010' } },
        { id: 'cli/s1', status: 'pass', expected: { gp: false }, actual: { gp: false } },
      ],
    });
  });

  it('exits 2 for a bad option or a FILE it cannot read', () => {
    expect(gmemu('--frobnicate', 'good.json').status).toBe(2);
    const r = gmemu('missing.json');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot read missing.json: ENOENT');
  });

  it('documents the default set in --help', () => {
    const r = gmemu('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Without FILE it runs the three core corpora');
  });

  it('runs the three core corpora without FILE, and they pass', () => {
    const r = gmemu('--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.summary).toEqual({ pass: 4500 + 7828 + 11045 + 317, fail: 0 });
  });
});
