// The README's cost-model example is run as written.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe("the README's cost model example", () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints the modelled time of one set_memory_p on 64 CPUs', async () => {
    const at = readme.indexOf('## Cost model');
    const code = readme.slice(at).match(/```ts\n([\s\S]*?)```/)?.[1];
    expect(code, 'README: no example under "## Cost model"').toBeDefined();
    const dir = new URL('../../test-results/readme/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    const file = new URL('cost-model.ts', dir);
    writeFileSync(file, code!.replace(/from 'gmemu'/g, `from '${fileURLToPath(new URL('../../src/index.ts', import.meta.url))}'`));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await import(file.href);
    expect(log.mock.calls).toEqual([[28550]]);
  });
});
