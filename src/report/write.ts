// `--out DIR`: report.md with its plots as SVG files, the self-contained
// report.html, and STUDY.json per study. The same studies always give the
// same bytes, so a test can compare whole files.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { reportHtml } from './html.js';
import { plotFileName, reportMarkdown } from './markdown.js';
import { renderPlotSvg } from './plot.js';
import { studyPlots } from './sections.js';
import { studyJson, type StudyResult } from './study.js';

/** Writes the report into `dir` (created if needed); returns the files written, relative to it. */
export function writeReport(dir: string, studies: readonly StudyResult[]): string[] {
  const names = new Set<string>();
  for (const s of studies) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(s.study)) throw new RangeError(`study name "${s.study}" must be lower-case letters, digits and dashes`);
    if (names.has(s.study)) throw new RangeError(`study "${s.study}" appears twice`);
    names.add(s.study);
  }
  const files = new Map<string, string>();
  files.set('report.md', reportMarkdown(studies));
  files.set('report.html', reportHtml(studies));
  for (const s of studies) {
    files.set(`${s.study}.json`, JSON.stringify(studyJson(s), null, 2) + '\n');
    for (const p of studyPlots(s)) files.set(plotFileName(s.study, p.id), renderPlotSvg(p) + '\n');
  }
  for (const [name, text] of files) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return [...files.keys()];
}
