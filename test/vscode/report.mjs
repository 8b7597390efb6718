// How both launchers print the suite's results file: one line per test, errors indented, and a
// last line `N passed, M failed` that counts a broken run (no results, a timeout) as a failure.
import fs from 'node:fs';

/** Reads the JSON that test/vscode/suite/index.ts wrote; undefined when there is none. */
export function readResults(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Prints each test, then `problem` if any; returns [passed, failed, skipped] for the summary line. */
export function printTests(results, problem) {
  for (const t of results?.tests ?? []) {
    const mark = t.state === 'passed' ? '✔' : t.state === 'failed' ? '✖' : '-';
    const ms = t.durationMs === undefined ? '' : ` (${t.durationMs} ms)`;
    console.log(`  ${mark} ${t.title}${ms}`);
    if (t.error) console.log(t.error.split('\n').map((l) => `      ${l}`).join('\n'));
  }
  if (problem) console.log(`vscode: ${problem}`);
  const passed = results?.passed ?? 0;
  const failed = results?.failed ?? 0;
  // A broken run never reads green, even when every test that ran passed.
  return [passed, failed + (problem && failed === 0 ? 1 : 0), results?.pending ?? 0];
}

/** What is wrong with a run that the exit code and the results say; undefined when it passed. */
export function runProblem(exitCode, results) {
  if (!results) return exitCode !== 0 ? `the extension host exited with code ${exitCode} and the suite wrote no results` : 'the suite wrote no results';
  if (results.passed + results.failed === 0) return 'no test ran';
  if (exitCode !== 0 && !results.failed) return `the extension host exited with code ${exitCode}`;
  return undefined;
}

export function summaryLine([passed, failed, skipped]) {
  return `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
}
