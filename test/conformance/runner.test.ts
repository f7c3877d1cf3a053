// The runner over many files: formats detected per file, results gathered in
// order, a file it cannot judge reported as a failure, the default corpora.

import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultCorpusFiles, DEFAULT_CORPORA, runConformance, runConformanceFiles, sharedCorpusDir } from '../../src/conformance/runner.js';

const quietPaging = JSON.stringify({
  id: 1, vendor: 'intel', maxphyaddr: 46, gbpages: 0, cr0: '0x80010001', cr3: '0x1000', cr4: '0x20', efer: '0xd00',
  fills: [], qwords: [], translate: [], exec: [],
});
const tlb = JSON.stringify([{
  id: 'one', maxphyaddr: 46,
  init: { cr0: '0x80010001', cr3: '0x1000', cr4: '0x20', efer: '0xd00', pkru: '0x0' },
  qwords: [],
  steps: [{ op: 'access', la: '0x1000', type: 'r', cpl: 0, ac: 0, expect: { fault: { vector: 14, err: 0, cr2: '0x1000' } } }, { op: 'invlpg', la: '0x0' }],
}]);

describe('runConformance', () => {
  it('runs each source in its own format and sums the items', async () => {
    const uapi = JSON.stringify([{ id: 'u', area: 'caps', steps: [{ op: 'KVM_CHECK_EXTENSION' }], expect: { ret: 1 } }]);
    const run = await runConformance([{ name: 'a', text: tlb }, { name: 'b', text: uapi }]);
    expect(run.files).toEqual([{ name: 'a', format: 'tlb', items: 2 }, { name: 'b', format: 'uapi', items: 1 }]);
    expect(run.items.map((r) => [r.id, r.area, r.status])).toEqual([['one/s0', 'tlb.case', 'pass'], ['one/s1', 'tlb.case', 'pass'], ['u', 'uapi.caps', 'fail']]);
    expect(run.summary).toEqual({ pass: 2, fail: 1 });
  });

  it('fails a file in no known format, a line that is not JSON, and a file with nothing to judge', async () => {
    const run = await runConformance([
      { name: 'junk', text: 'hello' },
      { name: 'broken', text: `${quietPaging}\n{"id": 2,\n` },
      { name: 'empty', text: '[{"id": "e", "init": {}, "steps": []}]' },
    ]);
    expect(run.items.map((r) => [r.id, r.area, r.status])).toEqual([
      ['junk', 'file', 'fail'], ['broken:2', 'paging', 'fail'], ['e', 'tlb', 'fail'],
    ]);
    expect(run.items[0].expected).toMatch(/paging corpus/);
    const quiet = await runConformance([{ name: 'quiet', text: quietPaging }]);
    expect(quiet.items).toEqual([{ id: 'quiet', area: 'paging', status: 'fail', expected: 'at least one expectation to judge', actual: 'none in the file' }]);
  });

  it('reads files, and throws the system error for one it cannot read', async () => {
    await expect(runConformanceFiles(['/nonexistent/cases.json'])).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
  });

  it('finds the three core corpora beside the package, never the uAPI files', () => {
    expect(DEFAULT_CORPORA).toEqual(['paging-corpus.jsonl', 'ept-corpus.jsonl', 'tlb-cases.json']);
    expect(existsSync(sharedCorpusDir())).toBe(true);
    expect(defaultCorpusFiles().map((f) => basename(f))).toEqual([...DEFAULT_CORPORA]);
  });
});
