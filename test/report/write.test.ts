import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STUDY_SCHEMA, type StudyResult } from '../../src/report/study.js';
import { writeReport } from '../../src/report/write.js';
import { fixtureStudy } from './fixture.js';
import { xmlProblems } from './xml.js';

let study: StudyResult;
let dir: string;
const made: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'gmemu-report-'));
  made.push(d);
  return d;
};
let files: string[];
const read = (name: string) => readFileSync(join(dir, name), 'utf8');

beforeAll(async () => {
  study = await fixtureStudy();
  dir = tempDir();
  files = writeReport(dir, [study]);
});

afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

describe('writeReport', () => {
  it('writes report.md, report.html, one JSON per study and the plots', () => {
    expect(files).toEqual([
      'report.md',
      'report.html',
      'sample.json',
      'plots/sample-throughput.svg',
      'plots/sample-sensitivity-figures.svg',
      'plots/sample-sensitivity-cpus.svg',
    ]);
    expect(readdirSync(join(dir, 'plots')).sort()).toEqual(['sample-sensitivity-cpus.svg', 'sample-sensitivity-figures.svg', 'sample-throughput.svg']);
  });

  it('the JSON carries the versioned schema, the variants with counts and modelled time, and the verdict', () => {
    const j = JSON.parse(read('sample.json'));
    expect(Object.keys(j)).toEqual(['schema', 'study', 'title', 'thread', 'params', 'variants', 'verdict', 'per_io', 'sensitivity']);
    expect(j.schema).toBe(STUDY_SCHEMA);
    expect(Object.keys(j.variants)).toEqual(['flush', 'noflush']);
    expect(j.variants.flush.counts.dmap_flush_cpa).toBe(40);
    expect(j.variants.noflush.counts.dmap_flush_cpa).toBeUndefined();
    expect(j.variants.flush.modelled.total_ns).toBe(study.variants.flush.modelled.total_ns);
    expect(j.variants.flush.throughput_mbps).toBeLessThan(j.variants.noflush.throughput_mbps);
    expect(j.verdict).toEqual({ claim: 'flushes cost throughput', agrees: true, line: 'the flush variant is slower' });
    expect(j.sensitivity.metric).toBe('modelled throughput, MB/s');
    expect(j.sensitivity.by_cpus.map((p: { cpus: number }) => p.cpus)).toEqual([1, 4, 16, 64]);
  });

  it('every SVG file is well-formed, namespaced, titled and has drawn marks', () => {
    for (const f of files.filter((n) => n.endsWith('.svg'))) {
      const svg = read(f);
      expect(xmlProblems(svg), f).toEqual([]);
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*><title>/);
      expect(svg).toMatch(/<(path|rect|line)\b/);
    }
    expect(read('plots/sample-sensitivity-figures.svg')).toContain('tlb.shootdown.idle_wakeup 2,000-100,000 ns');
  });

  it('report.html is one self-contained page with the plots inline', () => {
    const html = read('report.html');
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).not.toMatch(/<script|<link|src=|href="http/);
    const body = html.slice(html.indexOf('<body>'), html.indexOf('</body>') + 7);
    expect(xmlProblems(body)).toEqual([]);
    // Text is escaped: the title's markup characters stay text.
    expect(html).toContain('A sample | study &lt;with&gt; &quot;markup&quot;');
    expect(html).toContain('<p class="verdict agrees">Agrees with thread 000');
    expect(html).toContain('<caption>Counts (exact) and the modelled time they carry (µs)</caption>');
  });

  it('report.md has the verdict, the tables and links to plot files that exist', () => {
    const md = read('report.md');
    expect(md).toContain('**Verdict.** Agrees with thread 000 ("flushes cost throughput"): the flush variant is slower');
    expect(md).toContain('Parameters: ios=20, host\\_cpus=64, seed=123456');
    expect(md).toContain('| count | flush | flush µs | noflush | noflush µs |');
    // Markup in a study's text stays text.
    expect(md).toContain('## A sample | study &lt;with&gt; "markup" (`sample`, thread 000)');
    expect(md).toContain('| dmap\\_flush\\_cpa | 40 |');
    const links = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
    expect(links).toEqual(['plots/sample-throughput.svg', 'plots/sample-sensitivity-figures.svg', 'plots/sample-sensitivity-cpus.svg']);
  });

  it('never shows wall-clock time', () => {
    for (const f of ['report.md', 'report.html']) {
      expect(read(f)).not.toMatch(/wall(?!-clock time)|elapsed|\bms\b|seconds|\d{4}-\d\d-\d\dT/);
      expect(read(f)).toContain('No wall-clock time.');
    }
  });

  it('is the same bytes for the same studies', () => {
    const again = tempDir();
    writeReport(again, [study]);
    for (const f of files) expect(readFileSync(join(again, f), 'utf8'), f).toBe(read(f));
  });

  it('refuses a bad or repeated study name and a data field that would replace a schema field', () => {
    const d = tempDir();
    expect(() => writeReport(d, [{ ...study, study: 'Bad Name' }])).toThrow(/study name "Bad Name"/);
    expect(() => writeReport(d, [study, study])).toThrow(/appears twice/);
    expect(() => writeReport(d, [{ ...study, data: { verdict: 1 } }])).toThrow(/data field "verdict"/);
    expect(() => writeReport(d, [{ ...study, plots: [...study.plots!, study.plots![0]] }])).toThrow(/two plots have the id "throughput"/);
    expect(readdirSync(d)).toEqual([]);
  });
});
