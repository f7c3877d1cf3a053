// A study on the terminal: its verdict, parameters, tables, and a text chart
// of its sensitivity to the host CPU count when it has one.

import type { Colors } from './colors.js';
import { terminalChart } from './chart.js';
import { studyTables } from './sections.js';
import { paramsLine, verdictLine } from './study-tables.js';
import type { StudyResult } from './study.js';
import { renderTerminalTable } from './table.js';

export function formatStudyTerminal(s: StudyResult, colors: Colors): string {
  const out = [
    colors.bold(colors.underline(`${s.title} (${s.study}, thread ${s.thread})`)),
    (s.verdict.agrees ? colors.green : colors.red)(verdictLine(s)),
    colors.dim(`parameters: ${paramsLine(s)}`),
  ];
  for (const t of studyTables(s)) out.push('', renderTerminalTable(t, colors));
  const sens = s.sensitivity;
  if (sens && sens.by_cpus.length > 1) {
    const series = [{ label: 'figures in force', values: sens.by_cpus.map((p) => p.value) }];
    // The figure the result depends on most, at both ends of its range.
    const top = sens.figures[0];
    if (top) {
      for (const level of ['low', 'high'] as const) {
        const values = sens.curves.filter((r) => r.key === top.key && r.level === level).map((r) => r.value);
        if (values.length === sens.by_cpus.length) series.push({ label: `${top.key} at its ${level} end`, values });
      }
    }
    out.push('', terminalChart(`${sens.metric} against host CPU count`, sens.by_cpus.map((p) => String(p.cpus)), series, colors));
  }
  return out.join('\n');
}
