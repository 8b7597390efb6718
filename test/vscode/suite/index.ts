// The suite's entry point (`extensionTestsPath`): VS Code loads this module in the extension host
// and calls run(); it runs the bundled *.test.js beside it with mocha (tdd: suite/test, imported
// from 'mocha') and writes the results to $UNICORN_VSCODE_RESULTS. Both launchers
// (code-server, @vscode/test-electron) load it.
import fs from 'node:fs';
import path from 'node:path';
import Mocha from 'mocha';
import { recordResults, SuiteResults, TestResult } from './harness';

function errorText(err: unknown): string {
  if (err instanceof Error) return err.stack || err.message;
  return String(err);
}

export async function run(): Promise<void> {
  const mocha = new Mocha({
    ui: 'tdd',
    color: false,
    // Starting servers and debuggers in a real editor is slow; a hung step still ends the run.
    timeout: Number(process.env.UNICORN_VSCODE_TEST_TIMEOUT_MS ?? 120_000),
    grep: process.env.UNICORN_VSCODE_GREP || undefined,
  });
  // The launcher's --trusted=false run (Restricted Mode) runs only *.untrusted.test.js; the
  // normal run (Workspace Trust off) runs every other *.test.js.
  // UNICORN_VSCODE_SUITE=django (run.mjs's third run, on a fresh startproject site) runs only *.django.test.js.
  const untrusted = process.env.UNICORN_VSCODE_TRUSTED === '0';
  const django = process.env.UNICORN_VSCODE_SUITE === 'django';
  const files = fs.readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js') && f.endsWith('.untrusted.test.js') === untrusted && f.endsWith('.django.test.js') === django)
    .sort();
  for (const file of files) mocha.addFile(path.join(__dirname, file));

  const results: SuiteResults = { passed: 0, failed: 0, pending: 0, tests: [] };
  const add = (result: TestResult): void => {
    results.tests.push(result);
    results[result.state] += 1;
    recordResults(results); // after each test, so a run that hangs later still shows what passed
  };

  try {
    await mocha.loadFilesAsync();
  } catch (e) {
    add({ title: 'loading the suite', state: 'failed', error: errorText(e) });
    throw e;
  }

  await new Promise<void>((resolve) => {
    const runner = mocha.run(() => resolve());
    runner.on('pass', (t) => add({ title: t.fullTitle(), state: 'passed', durationMs: t.duration }));
    runner.on('pending', (t) => add({ title: t.fullTitle(), state: 'pending' }));
    // Also fires for failing hooks (before/after all), which have no test of their own.
    runner.on('fail', (t, err) => add({ title: t.fullTitle(), state: 'failed', durationMs: t.duration, error: errorText(err) }));
  });
  recordResults(results);

  if (results.failed > 0) throw new Error(`${results.failed} of ${results.passed + results.failed} tests failed`);
  if (results.passed === 0) throw new Error('no test ran');
}
