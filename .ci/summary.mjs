// Prints the one summary line CI reads, from vitest's JSON reporter output.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const passed = report.numPassedTests ?? 0;
// A test file that fails to load fails no test of its own: count it once.
const failed = (report.numFailedTests ?? 0) || (report.success ? 0 : Math.max(1, report.numFailedTestSuites ?? 0));
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
if (passed + failed === 0) {
  console.log('vitest ran no test');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''));
process.exit(failed > 0 ? 1 : 0);
