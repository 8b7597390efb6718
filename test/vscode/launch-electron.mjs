#!/usr/bin/env node
// Runs the in-VS-Code suite (dist/test/vscode/suite/index.js) in a desktop VS Code downloaded by
// @vscode/test-electron: the launcher for a developer machine that can reach VS Code's download
// servers (these machines and CI cannot: they use launch-code-server.mjs, which runs the same
// suite). Prints the same per-test lines and `N passed, M failed` summary. Screenshots are
// skipped here (the suite's screenshot() is a no-op without the code-server launcher).
//
//   npm run build && node test/vscode/launch-electron.mjs [--workspace DIR] [--env KEY=VALUE]...
//       [--trusted=false] [--grep PATTERN] [--vscode-version 1.100.3]
// The Django run (test/vscode/run.mjs's third): --workspace test/fixtures/vscode-django
//   --env UNICORN_VSCODE_SUITE=django --env UNICORN_KERNEL_LIMITS='{"somaxconn":4096}'.
// As with code-server, the suite runs in a copy of the workspace (it writes files there) with a
// runtime directory of its own (the tree discovers the servers whose sockets are there).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runTests } from '@vscode/test-electron';
import { printTests, readResults, runProblem, summaryLine } from './report.mjs';
import { SUITE_ENV } from './suite-env.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const { values: opts } = parseArgs({
  options: {
    workspace: { type: 'string', default: path.join(ROOT, 'test', 'fixtures', 'vscode-workspace') },
    env: { type: 'string', multiple: true, default: [] },
    trusted: { type: 'string', default: 'true' },
    grep: { type: 'string' },
    artifacts: { type: 'string', default: process.env.UNICORN_VSCODE_ARTIFACTS || path.join(ROOT, '.test-artifacts', 'vscode') },
    // The VS Code that code-server 4.100.3 embeds, and the newest engines.vscode allows.
    'vscode-version': { type: 'string', default: '1.100.3' },
  },
});

const trusted = opts.trusted !== 'false';
const extraEnv = {};
for (const pair of opts.env) {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new Error(`--env "${pair}": expected KEY=VALUE`);
  extraEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
}
const suiteEntry = path.join(ROOT, 'dist', 'test', 'vscode', 'suite', 'index.js');
if (!fs.existsSync(suiteEntry)) {
  console.error(`vscode: ${path.relative(ROOT, suiteEntry)} not found — run npm run build`);
  process.exit(1);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-vscode-electron-'));
const resultsFile = path.join(tmp, 'results.json');
const workspace = path.join(tmp, 'workspace', path.basename(path.resolve(opts.workspace)));
fs.cpSync(path.resolve(opts.workspace), workspace, { recursive: true, filter: (src) => !/(^|\/)(__pycache__|\.pytest_cache)$/.test(src) });
const runtimeDir = path.join(tmp, 'run');
fs.mkdirSync(runtimeDir, { mode: 0o700 });
// VS Code's terminals (the task's server) inherit this process's environment, the extension host too.
process.env.XDG_RUNTIME_DIR = runtimeDir;
let exitCode = 1;
let problem;
try {
  exitCode = await runTests({
    version: opts['vscode-version'],
    extensionDevelopmentPath: ROOT,
    extensionTestsPath: suiteEntry,
    launchArgs: [
      workspace,
      '--disable-extensions', // only the extension under development
      '--skip-welcome',
      '--skip-release-notes',
      `--user-data-dir=${path.join(tmp, 'user-data')}`,
      `--extensions-dir=${path.join(tmp, 'extensions')}`,
      ...(trusted ? ['--disable-workspace-trust'] : []),
    ],
    extensionTestsEnv: {
      UNICORN_VSCODE_RESULTS: resultsFile,
      UNICORN_VSCODE_ARTIFACTS: path.resolve(opts.artifacts),
      UNICORN_VSCODE_TRUSTED: trusted ? '1' : '0',
      XDG_RUNTIME_DIR: runtimeDir,
      ...SUITE_ENV,
      ...(opts.grep ? { UNICORN_VSCODE_GREP: opts.grep } : {}),
      ...extraEnv,
    },
  });
} catch (e) {
  // runTests rejects when VS Code exits non-zero (a failing suite) or cannot be downloaded.
  exitCode = 1;
  problem = `VS Code: ${e.message ?? e}`;
}
const results = readResults(resultsFile);
const counts = printTests(results, results?.failed ? undefined : problem ?? runProblem(exitCode, results));
fs.rmSync(tmp, { recursive: true, force: true });
console.log(summaryLine(counts));
process.exit(counts[1] > 0 ? 1 : 0);
