// Formats are told apart by content: the record fields of JSON lines, the
// shape and step ops of a JSON array. File names play no part.

import { describe, expect, it } from 'vitest';
import { detectFormat } from '../../src/conformance/detect.js';

const lines = (...records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('detectFormat', () => {
  it('tells the two JSON-lines corpora apart by their fields', () => {
    expect(detectFormat(lines({ id: 1, eptp: '0x1e', accesses: [] }, { id: 2 }))).toMatchObject({ format: 'ept', records: [{ id: 1 }, { id: 2 }] });
    expect(detectFormat(lines({ id: 1, translate: [] }))).toMatchObject({ format: 'paging' });
    expect(detectFormat(lines({ id: 1, exec: [] }))).toMatchObject({ format: 'paging' });
  });

  it('keeps the lines that are not JSON, with their line numbers', () => {
    const d = detectFormat('{"translate": []}\n\nnot json\n{"translate": []}\n');
    expect(d).toMatchObject({ format: 'paging', records: [{}, {}], badLines: [{ line: 3 }] });
  });

  it('tells TLB scenarios from uAPI cases by their steps', () => {
    const tlb = [{ id: 'a', init: {}, steps: [{ op: 'access' }] }];
    expect(detectFormat(JSON.stringify(tlb))).toMatchObject({ format: 'tlb', records: tlb });
    const uapi = [{ id: 'a', steps: [{ op: 'mmap' }] }, { id: 'b', steps: [{ op: 'KVM_CREATE_VM' }] }];
    expect(detectFormat(JSON.stringify(uapi, null, 2))).toMatchObject({ format: 'uapi', records: uapi });
  });

  it('gives a reason for anything else', () => {
    for (const text of ['', '  \n', '[]', '[1, 2]', '[{"steps": []}]', '[not json', '{"a": 1}', '1\n2\n', 'x\n']) {
      const d = detectFormat(text);
      expect(d.format, text).toBeNull();
      expect(d).toHaveProperty('reason', expect.any(String));
    }
  });
});
