import { beforeAll, describe, expect, it } from 'vitest';
import { colorsFor } from '../../src/report/colors.js';
import type { StudyResult } from '../../src/report/study.js';
import { formatStudyTerminal } from '../../src/report/terminal.js';
import { fixtureStudy } from './fixture.js';

let study: StudyResult;
beforeAll(async () => {
  study = await fixtureStudy();
});

describe('a study on the terminal', () => {
  it('shows the verdict, the parameters, every table and a chart over CPU counts', () => {
    const out = formatStudyTerminal(study, colorsFor({ isTTY: false }, {}));
    const lines = out.split('\n');
    expect(lines[0]).toBe('A sample | study <with> "markup" (sample, thread 000)');
    expect(lines[1]).toBe('Agrees with thread 000 ("flushes cost throughput"): the flush variant is slower');
    expect(lines[2]).toBe('parameters: ios=20, host_cpus=64, seed=123456');
    for (const title of ['Results (from the modelled time)', 'Counts (exact) and the modelled time they carry (µs)', 'Modelled time by cost event (µs)', 'Per I/O']) {
      expect(lines).toContain(title);
    }
    expect(out).toMatch(/│ dmap_flush_cpa +│ +40 │ +[\d,.]+ │ +│ +│/);
    expect(out).toContain('modelled throughput, MB/s against host CPU count');
    expect(out).toContain('[2] tlb.shootdown.idle_wakeup at its low end');
    expect(out).not.toMatch(/\x1b\[/);
  });

  it('colours the verdict by agreement when colour is on', () => {
    const c = colorsFor({ isTTY: true }, {});
    expect(formatStudyTerminal(study, c)).toContain('\x1b[32mAgrees with thread 000');
    const against = { ...study, verdict: { ...study.verdict, agrees: false } };
    expect(formatStudyTerminal(against, c)).toContain('\x1b[31mDisagrees with thread 000');
  });
});
