// report.md: every study's verdict, parameters, tables and plots. Markdown
// viewers do not render inline SVG, so each plot is a file beside the report
// (plots/STUDY-ID.svg), written by write.ts.

import { markdownText as md } from './markdown-escape.js';
import { studyPlots, studyTables } from './sections.js';
import { paramsLine, verdictLine } from './study-tables.js';
import type { StudyResult } from './study.js';
import { renderMarkdownTable } from './table.js';

export const REPORT_TITLE = 'gmemu design studies';

export function plotFileName(study: string, plotId: string): string {
  return `plots/${study}-${plotId}.svg`;
}

export function reportMarkdown(studies: readonly StudyResult[]): string {
  const out = [
    `# ${REPORT_TITLE}`,
    '',
    'Counts are exact events of the emulator; times are modelled (counts x the cost model of src/cost), never measured.',
    '',
    ...studies.map((s) => `- [${md(s.title)}](#${s.study}): ${s.verdict.agrees ? 'agrees' : 'disagrees'}`),
  ];
  for (const s of studies) {
    out.push('', `<a id="${s.study}"></a>`, '', `## ${md(s.title)} (\`${s.study}\`, thread ${md(s.thread)})`, '');
    out.push(`**Verdict.** ${md(verdictLine(s))}`, '', `Parameters: ${md(paramsLine(s))}`);
    for (const t of studyTables(s)) out.push('', renderMarkdownTable(t));
    for (const p of studyPlots(s)) {
      out.push('', `![${md(p.title)}](${plotFileName(s.study, p.id)})`);
      if (p.caption) out.push('', `_${md(p.caption)}_`);
    }
  }
  return out.join('\n') + '\n';
}
