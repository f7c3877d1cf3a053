// The README's API example is run as written, so it cannot drift from the code.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The first code block (```ts or ```js) that follows `marker` in the README. */
function example(marker: string): string {
  const at = readme.indexOf(marker);
  const code = at < 0 ? undefined : readme.slice(at).match(/```(?:ts|js)\n([\s\S]*?)```/)?.[1];
  if (!code) throw new Error(`README: no example after "${marker}"`);
  return code;
}

/** Runs an example as a module of its own, with 'gmemu' resolved to this checkout. */
async function run(name: string, code: string): Promise<void> {
  const dir = new URL('../../test-results/readme/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.ts`, dir);
  const entry = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
  const uapi = fileURLToPath(new URL('../../src/uapi.ts', import.meta.url));
  writeFileSync(file, code.replace(/from 'gmemu'/g, `from '${entry}'`).replace(/from 'gmemu\/uapi'/g, `from '${uapi}'`));
  await import(file.href);
}

describe('README', () => {
  afterEach(() => vi.restoreAllMocks());

  it('runs the "Using the core" example and prints what it says', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await run('using-the-core', example('## Using the core'));
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0][0]).toMatchObject({
      dmap_split2m: 1,
      dmap_flush_split: 1,
      dmap_invalid_noflush: 1,
      dmap_default_noflush: 1,
      dmap_flush_cpa: 0,
    });
  });

  it('runs the KVM uAPI example and prints what its comments say', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await run('kvm-uapi', example('## The KVM uAPI'));
    expect(log.mock.calls).toEqual([
      [{ linear_address: 0x12345, physical_address: 0x12345, valid: 1, writeable: 1, usermode: 0, pad: [0, 0, 0, 0, 0] }],
      [{ type: 'ept-violation', gpa: 4096n, qualification: 131n, level: 4 }],
      [true, 0x12345n, 2 << 20, 24],
      [3],
      ['EINVAL', -22, 'ioctl'],
    ]);
  });

  it('runs the conformance example: the default corpora pass', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await run('conformance', example('`gmemu conformance [FILE...]'));
    expect(log).toHaveBeenCalledTimes(2);
    expect(log.mock.calls[0][0]).toMatch(/paging/);
    expect(log.mock.calls[1][0]).toEqual({ pass: 23690, fail: 0 });
  });
});
