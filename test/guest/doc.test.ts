// docs/guest-isa.md's first example is run as written, so the manual cannot
// drift from the code.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

const doc = readFileSync(new URL('../../docs/guest-isa.md', import.meta.url), 'utf8');

describe('docs/guest-isa.md', () => {
  afterEach(() => vi.restoreAllMocks());

  it('runs "A first program" and prints what its comments say', async () => {
    const at = doc.indexOf('## A first program');
    const code = doc.slice(at).match(/```ts\n([\s\S]*?)```/)?.[1];
    expect(code).toBeDefined();
    const dir = new URL('../../test-results/guest-doc/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    const file = new URL('first-program.ts', dir);
    const entry = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
    const uapi = fileURLToPath(new URL('../../src/uapi.ts', import.meta.url));
    writeFileSync(file, (code as string).replace(/from 'gmemu'/g, `from '${entry}'`).replace(/from 'gmemu\/uapi'/g, `from '${uapi}'`));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await import(file.href);
    expect(log.mock.calls).toEqual([
      [true, 1016, Uint8Array.of(186, 19, 0, 0)],
      [true, 5050n],
    ]);
  });
});
