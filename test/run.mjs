// `npm test` after build + typecheck: ensure the Debian test dependencies and code-server, run
// every node:test file under test/ with tsx, then the in-VS-Code suite in code-server
// (test/vscode/run.mjs). Prints node:test's summary, the VS Code suite's, and last one line
// `total: N passed, M failed` over both; exits non-zero if either failed.
//
//   node test/run.mjs                      every suite
//   node test/run.mjs test/runtime/cli     only files whose path contains one of the arguments
//   node test/run.mjs test/vscode          only the in-VS-Code suite
//
// Environment: TEST_TIMEOUT_MS (--test-timeout, default 300000; Node 20 applies it to each file as
// a whole as well as to each test), TEST_TOTAL_TIMEOUT_MS (the whole run, default 50 minutes),
// TEST_CONCURRENCY (files in parallel, default node's own choice).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TEST_DIR = path.join(ROOT, 'test');
// Not node:test files: the in-VS-Code suite, test data, and the benchmark.
const EXCLUDED = new Set(['vscode', 'fixtures', 'bench', 'node_modules']);
const TEST_TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? 300_000);
const TOTAL_TIMEOUT_MS = Number(process.env.TEST_TOTAL_TIMEOUT_MS ?? 50 * 60_000);

function findTests(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (dir === TEST_DIR && EXCLUDED.has(entry.name)) continue;
      found.push(...findTests(full));
    } else if (entry.isFile() && entry.name.endsWith('.test.ts')) {
      found.push(full);
    }
  }
  return found.sort();
}

const setup = spawnSync('bash', [path.join(TEST_DIR, 'setup-deps.sh')], { stdio: 'inherit' });
if (setup.status !== 0) {
  console.error(`test: test/setup-deps.sh failed (${setup.signal ?? `exit ${setup.status}`}) — the tests need those packages`);
  process.exit(1);
}

// code-server and Chromium for the in-VS-Code suite (and the .vsix install check in test/runtime).
const setupCodeServer = spawnSync('bash', [path.join(TEST_DIR, 'vscode', 'setup-code-server.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
if (setupCodeServer.status !== 0) {
  console.error(`test: test/vscode/setup-code-server.sh failed (${setupCodeServer.signal ?? `exit ${setupCodeServer.status}`}) — the VS Code tests need code-server and Chromium`);
  process.exit(1);
}

const filters = process.argv.slice(2);
const runVscode = !filters.length || filters.some((x) => x.includes('vscode'));
const files = findTests(TEST_DIR)
  .map((f) => path.relative(ROOT, f))
  .filter((f) => !filters.length || filters.some((x) => f.includes(x.replace(/^\.\//, ''))));
if (!files.length && !runVscode) {
  console.error(`test: no test files found under test/${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
/** [passed, failed, skipped]; a run that broke without a summary counts as one failure. */
const nodeCounts = files.length ? await runNodeTests() : [0, 0, 0];
const vscodeCounts = runVscode ? await runVscodeSuite() : [0, 0, 0];
const total = nodeCounts.map((n, i) => n + vscodeCounts[i]);
console.log(`total: ${total[0]} passed, ${total[1]} failed${total[2] ? `, ${total[2]} skipped` : ''}`);
process.exitCode = total[1] > 0 || process.exitCode ? 1 : 0;

/** Every node:test file in one runner; passes its output through, summary last. */
function runNodeTests() {
  return new Promise((resolveRun) => {
    const args = ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-timeout=${TEST_TIMEOUT_MS}`];
    if (process.env.TEST_CONCURRENCY) args.push(`--test-concurrency=${process.env.TEST_CONCURRENCY}`);
    args.push(...files);

    // Own process group, so a run that outlives TOTAL_TIMEOUT_MS can be ended with everything it started.
    const runner = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      // No FORCE_COLOR for a TTY: every server the tests start would inherit it and colour its output.
      detached: true,
    });

    const killRunner = (signal) => {
      try {
        process.kill(-runner.pid, signal);
      } catch {
        // already gone
      }
    };
    for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => killRunner(signal));
    let timedOut = false;
    const guard = setTimeout(() => {
      timedOut = true;
      killRunner('SIGKILL');
    }, TOTAL_TIMEOUT_MS);

    // The spec reporter prints its summary (ℹ tests N …) and then re-lists the failures. Pass
    // everything through as it comes, but hold back from the summary on and print the summary last.
    let partial = '';
    let held = null; // lines from the summary on, once it started
    function onLine(line) {
      if (held === null && /^ℹ tests \d+/.test(stripAnsi(line))) held = [];
      if (held !== null) held.push(line);
      else process.stdout.write(line + '\n');
    }
    runner.stdout.setEncoding('utf8');
    runner.stdout.on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) onLine(line);
    });

    runner.on('close', (code, signal) => {
      clearTimeout(guard);
      if (partial) onLine(partial);
      if (timedOut) console.log(`test: the run exceeded ${TOTAL_TIMEOUT_MS} ms and was killed`);
      else if (signal) console.log(`test: the runner ended by ${signal}`);
      if (held) {
        const summaryEnd = held.findIndex((l) => !stripAnsi(l).startsWith('ℹ '));
        const summary = summaryEnd < 0 ? held : held.slice(0, summaryEnd);
        const rest = summaryEnd < 0 ? [] : held.slice(summaryEnd);
        while (rest.length && rest[rest.length - 1].trim() === '') rest.pop();
        if (rest.length) process.stdout.write(rest.join('\n') + '\n\n');
        process.stdout.write(summary.join('\n') + '\n');
      }
      const count = (name) => Number(/^ℹ \S+ (\d+)/.exec((held ?? []).map(stripAnsi).find((l) => l.startsWith(`ℹ ${name} `)) ?? '')?.[1] ?? 0);
      const counts = [count('pass'), count('fail') + count('cancelled'), count('skipped') + count('todo')];
      if (code !== 0 && counts[1] === 0) counts[1] = 1; // broke without counting a failure (timeout, signal)
      resolveRun(counts);
    });
  });
}

/** The in-VS-Code suite (test/vscode/run.mjs: both code-server runs); [passed, failed, skipped]. */
function runVscodeSuite() {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [path.join(TEST_DIR, 'vscode', 'run.mjs')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, UNICORN_VSCODE_SKIP_SETUP: '1' },
    });
    const forward = (signal) => child.kill(signal); // it stops code-server and Chromium itself
    process.on('SIGINT', forward).on('SIGTERM', forward);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (code) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      const m = /^vscode: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/m.exec(out.trimEnd().split('\n').pop() ?? '');
      const counts = m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [0, 0, 0];
      if (code !== 0 && counts[1] === 0) counts[1] = 1;
      resolveRun(counts);
    });
  });
}
