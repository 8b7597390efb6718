#!/usr/bin/env node
// `npm run test:vscode`: installs code-server when missing, then runs the in-VS-Code suite in
// code-server — the normal run (Workspace Trust off), the --trusted=false run (Restricted Mode,
// only *.untrusted.test.js), the django run (*.django.test.js on a startproject site) and the window
// run (*.window.test.js: the window reloaded and closed) — and ends with one line
// `vscode: N passed, M failed` for all.
// Arguments are passed to every launch (e.g. --grep, --env KEY=VALUE) after SUITE_ARGS, so
// they can override them.
//   Environment: UNICORN_VSCODE_SKIP_SETUP=1 skips the install check (test/run.mjs has done it).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SUITE_ENV } from './suite-env.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const SUITE_ARGS = Object.entries(SUITE_ENV).flatMap(([key, value]) => ['--env', `${key}=${value}`]);
const SUMMARY = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/;

if (process.env.UNICORN_VSCODE_SKIP_SETUP !== '1') {
  const setup = spawnSync('bash', [path.join(HERE, 'setup-code-server.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (setup.status !== 0) {
    console.log(`vscode: test/vscode/setup-code-server.sh failed (${setup.signal ?? `exit ${setup.status}`})`);
    console.log('vscode: 0 passed, 1 failed');
    process.exit(1);
  }
}

/** One launch; its output passes through, its summary line is counted instead of printed. */
function launch(extraArgs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(HERE, 'launch-code-server.mjs'), ...SUITE_ARGS, ...extraArgs, ...process.argv.slice(2)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const counts = [0, 0, 0];
    let sawSummary = false;
    let partial = '';
    const onLine = (line) => {
      const m = SUMMARY.exec(line);
      if (m) {
        sawSummary = true;
        counts[0] += Number(m[1]);
        counts[1] += Number(m[2]);
        counts[2] += Number(m[3] ?? 0);
        console.log(`vscode: ${extraArgs.length ? extraArgs.join(' ').replace(/^.*UNICORN_VSCODE_SUITE=(\w+).*$/, '$1 run').replace('--trusted=false', 'untrusted run') : 'run'}: ${line}`);
      } else {
        console.log(line);
      }
    };
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      lines.forEach(onLine);
    });
    // Forwarded so a Ctrl-C still lets the launcher stop code-server and Chromium.
    const forward = (signal) => child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.on('close', (code) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      if (partial) onLine(partial);
      if (code !== 0 && counts[1] === 0) counts[1] = 1; // a launcher that failed without saying so
      if (!sawSummary && code === 0) counts[1] = 1;
      resolve(counts);
    });
  });
}

const total = [0, 0, 0];
const add = (c) => c.forEach((n, i) => { total[i] += n; });
add(await launch([]));
const suiteDir = path.join(ROOT, 'dist', 'test', 'vscode', 'suite');
if (fs.existsSync(suiteDir) && fs.readdirSync(suiteDir).some((f) => f.endsWith('.untrusted.test.js'))) {
  add(await launch(['--trusted=false']));
}
if (fs.existsSync(suiteDir) && fs.readdirSync(suiteDir).some((f) => f.endsWith('.django.test.js'))) {
  // A Django site the suite makes with `django startproject` in a copy of this folder.
  add(await launch(['--workspace', path.join(ROOT, 'test', 'fixtures', 'vscode-django'), '--env', 'UNICORN_VSCODE_SUITE=django',
    // Limits this site's default backlog (2048) fits, as on most machines: a stock project has nothing to report.
    '--env', 'UNICORN_KERNEL_LIMITS={"somaxconn":4096}']));
}
if (fs.existsSync(suiteDir) && fs.readdirSync(suiteDir).some((f) => f.endsWith('.window.test.js'))) {
  // The window reloaded and closed under running servers (the suite runs again in each new window;
  // closing needs this launcher, which closes the page as a user closes the tab).
  add(await launch(['--env', 'UNICORN_VSCODE_SUITE=window']));
}
console.log(`vscode: ${total[0]} passed, ${total[1]} failed${total[2] ? `, ${total[2]} skipped` : ''}`);
process.exit(total[1] > 0 ? 1 : 0);
