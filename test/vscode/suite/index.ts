// The suite's entry point (`extensionTestsPath`): VS Code loads this module in the extension host
// and calls run(); it runs the bundled *.test.js beside it with mocha (tdd: suite/test, imported
// from 'mocha') and writes the results to $UNICORN_VSCODE_RESULTS. Both launchers
// (code-server, @vscode/test-electron) load it.
import fs from 'node:fs';
import path from 'node:path';
import Mocha from 'mocha';
import * as vscode from 'vscode';
import { askLauncherToCloseWindow, readResults, recordResults, SuiteResults, takeWindowAction, TestResult } from './harness';

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
  // The launcher's --trusted=false run (Restricted Mode) runs only *.untrusted.test.js;
  // UNICORN_VSCODE_SUITE=NAME runs only *.NAME.test.js (django: on a fresh startproject site;
  // window: the window reloaded and closed under running servers); the normal run (Workspace
  // Trust off) runs every other *.test.js.
  const kind = process.env.UNICORN_VSCODE_TRUSTED === '0' ? 'untrusted' : process.env.UNICORN_VSCODE_SUITE || '';
  const files = fs.readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js') && (/\.(untrusted|django|window)\.test\.js$/.exec(f)?.[1] ?? '') === kind)
    .sort();
  for (const file of files) mocha.addFile(path.join(__dirname, file));

  // A window reloaded by the suite runs it again: the results of the runs before the reload stay.
  const results: SuiteResults = readResults() ?? { passed: 0, failed: 0, pending: 0, tests: [] };
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

  // A test asked for the window to be reloaded or closed under it (windowAction()): do it now that
  // the results are written; this extension host ends with it, and the next window runs the suite again.
  const action = takeWindowAction();
  if (action && !results.failed) {
    // The web workbench has no Close Window command: the launcher closes the page, as a user closes the tab.
    if (action === 'reload') await vscode.commands.executeCommand('workbench.action.reloadWindow');
    else askLauncherToCloseWindow();
    await new Promise(() => undefined);
  }

  if (results.failed > 0) throw new Error(`${results.failed} of ${results.passed + results.failed} tests failed`);
  if (results.passed === 0) throw new Error('no test ran');
}
