import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/report/progress.js';

function stream(isTTY: boolean) {
  const chunks: string[] = [];
  return { isTTY, chunks, write: (s: string) => (chunks.push(s), true), columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true, on: () => {}, removeListener: () => {} };
}

describe('progress', () => {
  it('writes one plain line per step when the stream is not a terminal', () => {
    const s = stream(false);
    const p = createProgress('studies', 3, s);
    p.step('direct-map');
    p.step('pfncache');
    p.stop();
    expect(s.chunks).toEqual(['studies: 1/3 direct-map\n', 'studies: 2/3 pfncache\n']);
  });

  it('draws a bar on a terminal', () => {
    const s = stream(true);
    const p = createProgress('studies', 2, s);
    p.step('direct-map');
    p.step('pfncache');
    p.stop();
    const out = s.chunks.join('');
    expect(out).toContain('studies [');
    expect(out).toContain('2/2 pfncache');
  });
});
