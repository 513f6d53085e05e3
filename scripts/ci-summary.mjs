// Prints vitest's totals from its JSON report as one plain line: "tests: N passed, N failed, N skipped".
import { readFileSync, existsSync } from 'node:fs';

const file = process.argv[2] ?? '.cache/vitest-report.json';
if (!existsSync(file)) {
  console.log(`ci-summary: no report at ${file} (the test run stopped before vitest finished)`);
  process.exit(0);
}
const r = JSON.parse(readFileSync(file, 'utf8'));
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
// A file that fails before its tests run (a hook, an import) has no failed test; count it as one.
const brokenFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed, ${skipped} skipped`);
