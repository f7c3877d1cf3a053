import { describe, expect, it } from 'vitest';
import { colorsFor } from '../../src/report/colors.js';
import { renderHtmlTable, renderMarkdownTable, renderTerminalTable, type Table } from '../../src/report/table.js';

const t: Table = {
  title: 'Flushes | per <I/O>',
  head: ['variant', 'flushes', 'µs'],
  rows: [['flush', '4', '111.200'], ['no_flush', '0', '0.150']],
  note: 'modelled',
};
const ANSI = /\x1b\[/;
const plain = colorsFor({ isTTY: false }, {});
const colored = colorsFor({ isTTY: true }, {});

describe('tables', () => {
  it('on a terminal: boxed, numbers right-aligned, no colour codes when colour is off', () => {
    const out = renderTerminalTable(t, plain);
    expect(out.split('\n')).toEqual([
      'Flushes | per <I/O>',
      '┌──────────┬─────────┬─────────┐',
      '│ variant  │ flushes │      µs │',
      '├──────────┼─────────┼─────────┤',
      '│ flush    │       4 │ 111.200 │',
      '│ no_flush │       0 │   0.150 │',
      '└──────────┴─────────┴─────────┘',
      'modelled',
    ]);
    expect(out).not.toMatch(ANSI);
  });

  it('on a colour terminal: the same table with colour codes, no wider', () => {
    const out = renderTerminalTable(t, colored);
    expect(out).toMatch(ANSI);
    expect(out.replace(/\x1b\[[0-9;]*m/g, '')).toBe(renderTerminalTable(t, plain));
  });

  it('in Markdown: escaped cells, alignment row, the note in italics', () => {
    expect(renderMarkdownTable(t)).toBe(
      [
        '**Flushes \\| per &lt;I/O&gt;**',
        '',
        '| variant | flushes | µs |',
        '|---|--:|--:|',
        '| flush | 4 | 111.200 |',
        '| no\\_flush | 0 | 0.150 |',
        '',
        '_modelled_',
      ].join('\n'),
    );
  });

  it('in HTML: escaped text, numeric cells marked', () => {
    const html = renderHtmlTable({ ...t, align: ['left', 'left', 'right'] });
    expect(html).toContain('<caption>Flushes | per &lt;I/O&gt;</caption>');
    expect(html).toContain('<tr><td>flush</td><td>4</td><td class="num">111.200</td></tr>');
    expect(html).toContain('<p class="note">modelled</p>');
  });
});
