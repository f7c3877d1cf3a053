// Numbers for people: exact counts with thousands separators, modelled time
// in microseconds, results to four significant digits. Fixed to en-US so a
// report is the same bytes on every machine.

const COUNT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
const MICROS = new Intl.NumberFormat('en-US', { minimumFractionDigits: 3, maximumFractionDigits: 3 });
const VALUE = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4 });

export function formatCount(n: number): string {
  return COUNT.format(n);
}

/** Nanoseconds shown as microseconds with three decimals (a nanosecond is the last digit). */
export function formatMicros(ns: number): string {
  if (ns > 0 && ns < 0.5) return '<0.001';
  return MICROS.format(ns / 1000);
}

export function formatValue(v: number): string {
  return Number.isFinite(v) ? VALUE.format(v) : String(v);
}
