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
let passed = r.numPassedTests;
let failed = r.numFailedTests + brokenFiles;
let skippedAll = skipped;
// The VM tier (test/vm/tier.sh) runs after vitest and leaves its own counts.
const vmFile = new URL('../.cache/vm-report.json', import.meta.url);
if (existsSync(vmFile)) {
  const vm = JSON.parse(readFileSync(vmFile, 'utf8'));
  console.log(`vitest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  console.log(`vm tier: ${vm.passed} passed, ${vm.failed} failed, ${vm.skipped} skipped${vm.reason ? ` (${vm.reason})` : ''}`);
  passed += vm.passed;
  failed += vm.failed;
  skippedAll += vm.skipped;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skippedAll} skipped`);
