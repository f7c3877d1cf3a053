// The README's API example is run as written, so it cannot drift from the code.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function example(heading: string): string {
  const section = readme.split(/^## /m).find((s) => s.startsWith(heading));
  const code = section?.match(/```ts\n([\s\S]*?)```/)?.[1];
  if (!code) throw new Error(`README: no ts example under "## ${heading}"`);
  return code;
}

describe('README', () => {
  afterEach(() => vi.restoreAllMocks());

  it('runs the "Using the core" example and prints what it says', async () => {
    const dir = new URL('../../test-results/readme/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    const file = new URL('using-the-core.ts', dir);
    const entry = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
    writeFileSync(file, example('Using the core').replace(/from 'gmemu'/g, `from '${entry}'`));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await import(file.href);
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0][0]).toMatchObject({
      dmap_split2m: 1,
      dmap_flush_split: 1,
      dmap_invalid_noflush: 1,
      dmap_default_noflush: 1,
      dmap_flush_cpa: 0,
    });
  });
});
