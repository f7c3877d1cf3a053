import { describe, expect, it } from 'vitest';
import { terminalChart } from '../../src/report/chart.js';
import { colorsFor } from '../../src/report/colors.js';

const plain = colorsFor({ isTTY: false }, {});

describe('terminal charts', () => {
  it('draws each series over the x labels, with a legend and no colour when off', () => {
    const out = terminalChart('MB/s by CPUs', ['1', '4', '16', '64'], [{ label: 'flush', values: [500, 300, 120, 40] }, { label: 'noflush', values: [590, 590, 590, 590] }], plain, 6);
    const lines = out.split('\n');
    expect(lines[0]).toBe('MB/s by CPUs');
    expect(lines).toHaveLength(1 + 7 + 1 + 2);
    expect(lines.slice(-3)).toEqual(['x: 1, 4, 16, 64', '[1] flush', '[2] noflush']);
    expect(out).not.toMatch(/\x1b\[/);
    expect(lines[1]).toMatch(/^\s+590 [┤┼]/);
    expect(lines[7]).toMatch(/^\s+40 [┤┼]/);
  });

  it('colours the series when colour is on', () => {
    expect(terminalChart('t', ['a', 'b'], [{ label: 's', values: [1, 2] }], colorsFor({ isTTY: true }, {}))).toMatch(/\x1b\[/);
  });

  it('refuses series that do not match the x labels', () => {
    expect(() => terminalChart('t', ['a', 'b'], [{ label: 's', values: [1] }], plain)).toThrow(/one value per x label \(2\)/);
  });
});
