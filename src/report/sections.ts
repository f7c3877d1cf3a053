// Everything one study shows, in order, for every output format: its tables
// and its plots (the study's own, then those of its sensitivity sweep).

import type { PlotSpec } from './plot.js';
import { sensitivityPlots, sensitivityTable } from './sensitivity-plots.js';
import { costEventsTable, countsTable, resultsTable } from './study-tables.js';
import type { StudyResult } from './study.js';
import type { Table } from './table.js';

export function studyTables(s: StudyResult): Table[] {
  const tables: Table[] = [];
  const results = resultsTable(s);
  if (results) tables.push(results);
  tables.push(countsTable(s), costEventsTable(s), ...(s.tables ?? []));
  if (s.sensitivity) tables.push(sensitivityTable(s.sensitivity, s.sensitivity.metric));
  return tables;
}

export function studyPlots(s: StudyResult): PlotSpec[] {
  const plots = [...(s.plots ?? []), ...(s.sensitivity ? sensitivityPlots(s.sensitivity, s.sensitivity.metric) : [])];
  const ids = new Set<string>();
  for (const p of plots) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(p.id)) throw new RangeError(`study ${s.study}: plot id "${p.id}" must be lower-case letters, digits and dashes`);
    if (ids.has(p.id)) throw new RangeError(`study ${s.study}: two plots have the id "${p.id}"`);
    ids.add(p.id);
  }
  return plots;
}
