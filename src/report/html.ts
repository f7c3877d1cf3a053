// report.html: one self-contained page (inline CSS, plots as inline SVG, no
// script, nothing fetched) with the same content as report.md.

import { escapeHtml } from './html-escape.js';
import { REPORT_TITLE } from './markdown.js';
import { renderPlotSvg } from './plot.js';
import { studyPlots, studyTables } from './sections.js';
import { paramsLine, verdictLine } from './study-tables.js';
import type { StudyResult } from './study.js';
import { renderHtmlTable } from './table.js';

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1, h2 { font-weight: 600; } h2 { border-top: 1px solid #ccc; padding-top: 1em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: .3em; }
th, td { border: 1px solid #ddd; padding: .2em .6em; } th { background: #f4f4f4; }
.num { text-align: right; } .note { color: #666; font-size: 90%; margin-top: -.5em; }
.verdict { padding: .5em .8em; border-left: 4px solid; } .agrees { border-color: #2a7; background: #efe; } .disagrees { border-color: #c33; background: #fee; }
figure { margin: 1.5em 0; } figcaption { color: #555; }
`;

export function reportHtml(studies: readonly StudyResult[]): string {
  const out = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeHtml(REPORT_TITLE)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(REPORT_TITLE)}</h1>`,
    '<p>Counts are exact events of the emulator; times are modelled (counts x the cost model of src/cost), never measured.</p>',
    '<ul>',
    ...studies.map((s) => `<li><a href="#${escapeHtml(s.study)}">${escapeHtml(s.title)}</a>: ${s.verdict.agrees ? 'agrees' : 'disagrees'}</li>`),
    '</ul>',
  ];
  for (const s of studies) {
    out.push(`<section id="${escapeHtml(s.study)}">`, `<h2>${escapeHtml(s.title)} (<code>${escapeHtml(s.study)}</code>, thread ${escapeHtml(s.thread)})</h2>`);
    out.push(`<p class="verdict ${s.verdict.agrees ? 'agrees' : 'disagrees'}">${escapeHtml(verdictLine(s))}</p>`);
    out.push(`<p>Parameters: ${escapeHtml(paramsLine(s))}</p>`);
    for (const t of studyTables(s)) out.push(renderHtmlTable(t));
    for (const p of studyPlots(s)) {
      out.push('<figure>', renderPlotSvg(p), `<figcaption>${escapeHtml(p.title)}${p.caption ? `. ${escapeHtml(p.caption)}` : ''}</figcaption>`, '</figure>');
    }
    out.push('</section>');
  }
  out.push('</body>', '</html>');
  return out.join('\n') + '\n';
}
