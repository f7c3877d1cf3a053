// A table as data, and its three renderings: the terminal (cli-table3, with
// colour only where the caller enables it), Markdown and HTML.

import Table3 from 'cli-table3';
import type { Colors } from './colors.js';
import { escapeHtml } from './html-escape.js';
import { markdownText } from './markdown-escape.js';

export interface Table {
  readonly title: string;
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** Per column; numbers read best right-aligned (default: first column left, the rest right). */
  readonly align?: readonly ('left' | 'right')[];
  /** A line under the table (e.g. what a unit means). */
  readonly note?: string;
}

const alignOf = (t: Table, i: number): 'left' | 'right' => t.align?.[i] ?? (i === 0 ? 'left' : 'right');

export function renderTerminalTable(t: Table, colors: Colors): string {
  const table = new Table3({
    head: t.head.map((h) => colors.bold(h)),
    colAligns: t.head.map((_, i) => alignOf(t, i)),
    // cli-table3's own colouring is off: picocolors decides, from the caller's stream.
    style: { head: [], border: [] },
    // No rule between body rows: long tables stay readable on one screen.
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const r of t.rows) table.push([...r]);
  // The head keeps a rule under it: the top border with the junctions of a middle line.
  const drawn = table.toString().split('\n');
  const rule = drawn[0].replace('┌', '├').replace(/┬/g, '┼').replace('┐', '┤');
  const lines = [colors.bold(t.title), drawn[0], drawn[1], rule, ...drawn.slice(2)];
  if (t.note) lines.push(colors.dim(t.note));
  return lines.join('\n');
}

const mdCell = (s: string): string => markdownText(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdownTable(t: Table): string {
  const lines = [
    `**${mdCell(t.title)}**`,
    '',
    `| ${t.head.map(mdCell).join(' | ')} |`,
    `|${t.head.map((_, i) => (alignOf(t, i) === 'right' ? '--:' : '---')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
  ];
  if (t.note) lines.push('', `_${mdCell(t.note)}_`);
  return lines.join('\n');
}

export function renderHtmlTable(t: Table): string {
  const cell = (tag: string, s: string, i: number) => `<${tag}${alignOf(t, i) === 'right' ? ' class="num"' : ''}>${escapeHtml(s)}</${tag}>`;
  const lines = [
    '<table>',
    `<caption>${escapeHtml(t.title)}</caption>`,
    `<thead><tr>${t.head.map((h, i) => cell('th', h, i)).join('')}</tr></thead>`,
    '<tbody>',
    ...t.rows.map((r) => `<tr>${r.map((c, i) => cell('td', c, i)).join('')}</tr>`),
    '</tbody>',
    '</table>',
  ];
  if (t.note) lines.push(`<p class="note">${escapeHtml(t.note)}</p>`);
  return lines.join('\n');
}
