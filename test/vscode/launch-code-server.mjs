#!/usr/bin/env node
// Runs the in-VS-Code suite (dist/test/vscode/suite/index.js) in code-server driven by Debian's
// Chromium: the launcher for machines that cannot download VS Code (these, and CI). It prints each
// test's result and ends with `N passed, M failed`; it exits non-zero on a failure, on no test, or
// on a timeout, and always ends code-server's process group and Chromium. Recipe and reasons:
// ../shared/VSCODE_TESTING.md. Install first with test/vscode/setup-code-server.sh.
//
//   node test/vscode/launch-code-server.mjs [options]
//     --workspace DIR     folder to open (default test/fixtures/vscode-workspace); the suite gets a
//                         fresh copy of it, so what tests write (settings, __pycache__) never
//                         reaches the repository and concurrent runs do not share it
//     --in-place          open the folder itself instead of a copy
//     --env KEY=VALUE     extra environment for code-server and so the extension host (repeatable),
//                         e.g. --env UNICORN_KERNEL_LIMITS='{"somaxconn":128}'
//     --env UNICORN_VSCODE_SUITE=window  the window suite: it reloads its window and asks this
//                         launcher to close it; a new window (on another copy of the workspace)
//                         runs the suite again, with the first window's notes in $UNICORN_VSCODE_STATE
//     --trusted=false     Workspace Trust on: the folder opens in Restricted Mode (no prompt);
//                         the suite sees UNICORN_VSCODE_TRUSTED=0
//     --grep PATTERN      run only the tests whose full title matches (mocha grep)
//     --artifacts DIR     screenshots and logs (default $UNICORN_VSCODE_ARTIFACTS or .test-artifacts/vscode)
//     --timeout MS        bound on the whole run (default $UNICORN_VSCODE_TIMEOUT_MS or 600000)
//     --keep              keep the temporary user-data/extensions dirs and print where they are
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { printTests, readResults, runProblem, summaryLine } from './report.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CODE_SERVER_VERSION = '4.100.3';
const CODE_SERVER_ENTRY = path.join(ROOT, '.vscode-test', 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const CHROMIUM = process.env.UNICORN_CHROMIUM || '/usr/bin/chromium';
// Keep Chromium off the closed network: no background requests, every host but loopback unresolvable.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];
// What a fresh VS Code would otherwise fetch or nag about; trust prompts off so the untrusted run
// simply opens in Restricted Mode.
const USER_SETTINGS = {
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'update.showReleaseNotes': false,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'git.autofetch': false,
  'github.gitAuthentication': false,
  'json.schemaDownload.enable': false,
  'npm.fetchOnlinePackageInfo': false,
  'typescript.disableAutomaticTypeAcquisition': true,
  'workbench.enableExperiments': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'window.restoreWindows': 'none',
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.banner': 'never',
};

const { values: opts } = parseArgs({
  options: {
    workspace: { type: 'string', default: path.join(ROOT, 'test', 'fixtures', 'vscode-workspace') },
    env: { type: 'string', multiple: true, default: [] },
    trusted: { type: 'string', default: 'true' },
    grep: { type: 'string' },
    artifacts: { type: 'string', default: process.env.UNICORN_VSCODE_ARTIFACTS || path.join(ROOT, '.test-artifacts', 'vscode') },
    timeout: { type: 'string', default: process.env.UNICORN_VSCODE_TIMEOUT_MS || '600000' },
    keep: { type: 'boolean', default: false },
    'in-place': { type: 'boolean', default: false },
  },
});

const log = (msg) => console.log(`vscode: ${msg}`);
function fail(msg) {
  console.error(`vscode: ${msg}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const trusted = opts.trusted !== 'false';
const timeoutMs = Number(opts.timeout);
const workspaceSource = path.resolve(opts.workspace);
const artifacts = path.resolve(opts.artifacts);
const suiteEntry = path.join(ROOT, 'dist', 'test', 'vscode', 'suite', 'index.js');
const extraEnv = {};
for (const pair of opts.env) {
  const eq = pair.indexOf('=');
  if (eq <= 0) fail(`--env "${pair}": expected KEY=VALUE`);
  extraEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
}
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fail(`--timeout "${opts.timeout}": expected milliseconds`);
if (!fs.existsSync(CODE_SERVER_ENTRY)) fail(`code-server ${CODE_SERVER_VERSION} is not installed — run bash test/vscode/setup-code-server.sh`);
if (!fs.existsSync(CHROMIUM)) fail(`${CHROMIUM} not found — run bash test/vscode/setup-code-server.sh (it installs Debian's chromium)`);
if (!fs.existsSync(suiteEntry)) fail(`${path.relative(ROOT, suiteEntry)} not found — run npm run build`);
if (!fs.statSync(workspaceSource, { throwIfNoEntry: false })?.isDirectory()) fail(`workspace folder ${workspaceSource} does not exist`);

/** A port nothing listens on right now (the OS picks it; we close it again). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForHealthz(port, codeServer, deadline) {
  for (;;) {
    if (codeServer.exitCode !== null || codeServer.signalCode !== null) {
      throw new Error(`code-server exited (${codeServer.signalCode ?? `code ${codeServer.exitCode}`}) before it answered /healthz`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('code-server did not answer /healthz within 60 s');
    await sleep(200);
  }
}

/** Ends a process group: TERM, a grace period, then KILL whatever is left. */
async function killGroup(pid, graceMs = 5000) {
  const alive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await sleep(100);
  try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const started = Date.now();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-vscode-'));
const userDataDir = path.join(tmp, 'user-data');
const extensionsDir = path.join(tmp, 'extensions');
const resultsFile = path.join(tmp, 'results.json');
const screenshotRequests = path.join(tmp, 'screenshot-requests');
const runtimeDir = path.join(tmp, 'run');
fs.mkdirSync(runtimeDir, { mode: 0o700 });
fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
fs.mkdirSync(extensionsDir, { recursive: true });
fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(USER_SETTINGS, null, 2));
// Same folder name as the fixture, so the window title and the tests read the same.
const workspace = opts['in-place'] ? workspaceSource : path.join(tmp, 'workspace', path.basename(workspaceSource));
if (!opts['in-place']) {
  fs.cpSync(workspaceSource, workspace, { recursive: true, filter: (src) => !/(^|\/)(__pycache__|\.pytest_cache)$/.test(src) });
}
fs.mkdirSync(artifacts, { recursive: true });
fs.mkdirSync(screenshotRequests);
const codeServerLog = path.join(artifacts, trusted ? 'code-server.log' : 'code-server-untrusted.log');
const consoleLog = path.join(artifacts, trusted ? 'browser-console.log' : 'browser-console-untrusted.log');

let codeServer;
let browser;
let browserPid;
let cleaning;
async function cleanup() {
  cleaning ??= (async () => {
    if (browser) await Promise.race([browser.close().catch(() => {}), sleep(10_000)]);
    if (browserPid) {
      // Playwright starts Chromium in its own process group; end it whole if close() left anything.
      try { process.kill(-browserPid, 'SIGKILL'); } catch { try { process.kill(browserPid, 'SIGKILL'); } catch { /* gone */ } }
    }
    if (codeServer?.pid) await killGroup(codeServer.pid);
    if (opts.keep) log(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`vscode: ${signal}, stopping code-server and Chromium`);
    cleanup().finally(() => process.exit(1));
  });
}

/**
 * Starts Chromium ourselves (own process group, fresh profile, its pid known for the cleanup) and
 * connects Playwright to it over the DevTools protocol.
 */
async function launchChromium() {
  const profile = path.join(tmp, 'chromium');
  const args = ['--headless', ...CHROMIUM_ARGS, `--user-data-dir=${profile}`, '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', 'about:blank'];
  const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  browserPid = child.pid;
  const endpoint = await new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`Chromium did not start within 30 s:\n${stderr}`)), 30_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`Chromium exited (${signal ?? `code ${code}`}):\n${stderr}`)); });
    // Keeps draining after the endpoint is known, or Chromium would block on a full pipe.
    child.stderr.setEncoding('utf8').on('data', (text) => {
      if (stderr === null) return;
      stderr += text;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (m) { stderr = null; clearTimeout(timer); resolve(m[1]); }
    });
  });
  child.removeAllListeners('exit');
  const { chromium } = await import('playwright-core');
  return chromium.connectOverCDP(endpoint);
}

/** Starts everything, runs the suite; resolves with the extension host's exit code, or throws. */
async function runSuite() {
  const port = await freePort();
  const closedPort = await freePort(); // nothing listens there: marketplace requests fail at once
  const gallery = `http://127.0.0.1:${closedPort}`;
  const env = { ...process.env };
  // Inherited from a VS Code terminal these would point the server at the wrong instance.
  for (const key of Object.keys(env)) if (key.startsWith('VSCODE_') || key === 'ELECTRON_RUN_AS_NODE') delete env[key];
  Object.assign(env, {
    EXTENSIONS_GALLERY: JSON.stringify({
      serviceUrl: `${gallery}/gallery`,
      itemUrl: `${gallery}/items`,
      resourceUrlTemplate: `${gallery}/resource/{publisher}/{name}/{version}/{path}`,
    }),
    UNICORN_VSCODE_RESULTS: resultsFile,
    UNICORN_VSCODE_ARTIFACTS: artifacts,
    UNICORN_VSCODE_SCREENSHOT_REQUESTS: screenshotRequests,
    // What the suite keeps across a reload or close of the window (harness.ts stateDir()).
    UNICORN_VSCODE_STATE: path.join(tmp, 'state'),
    UNICORN_VSCODE_TRUSTED: trusted ? '1' : '0',
    // A runtime directory of this run's own: the tree discovers the servers whose control sockets
    // are there, and must see only the ones this run starts, not other runs' on the machine.
    XDG_RUNTIME_DIR: runtimeDir,
    ...(opts.grep ? { UNICORN_VSCODE_GREP: opts.grep } : {}),
    ...extraEnv,
  });
  const args = [
    CODE_SERVER_ENTRY,
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--config', path.join(tmp, 'config.yaml'),
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--disable-proxy',
    '--ignore-last-opened',
    ...(trusted ? ['--disable-workspace-trust'] : []),
  ];
  const out = fs.openSync(codeServerLog, 'w');
  // Own process group: killing it also ends the extension host, the language server and any
  // server or debuggee the suite started.
  codeServer = spawn(process.execPath, args, { cwd: tmp, env, stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  const exited = new Promise((resolve) => codeServer.on('exit', (code, signal) => resolve(signal ?? code)));

  await waitForHealthz(port, codeServer, Date.now() + 60_000);
  log(`code-server ${CODE_SERVER_VERSION} on 127.0.0.1:${port} (${((Date.now() - started) / 1000).toFixed(1)} s)${trusted ? '' : ', Workspace Trust on'}`);

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });

  let onExit;
  const automationExit = new Promise((resolve) => { onExit = resolve; });
  // The workbench calls this with the extension host's exit code once run() settles.
  await context.exposeFunction('codeAutomationExit', (code) => onExit(Number(code)));
  const consoleOut = fs.createWriteStream(consoleLog);
  let onCrash;
  const crashed = new Promise((resolve) => { onCrash = resolve; });
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = [['extensionDevelopmentPath', remote(ROOT)], ['extensionTestsPath', remote(suiteEntry)]];
  const urlFor = (folder) => `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  let stopped = false;
  let page;
  let closing = false;
  let windows = 0;
  // The window. When the suite asks for it to be closed (harness.ts windowAction('close')), a new
  // one opens on another copy of the workspace and runs the suite again there: a user who closed
  // the window and went on with another folder (the same folder would get the old window's
  // terminals back, as a reload does).
  async function openWindow(folder) {
    windows += 1;
    page = await context.newPage();
    page.on('console', (msg) => consoleOut.write(`[${msg.type()}] ${msg.text()}\n`));
    page.on('pageerror', (err) => consoleOut.write(`[pageerror] ${err.stack || err.message}\n`));
    page.on('crash', () => onCrash('the page crashed'));
    // A "leave this page?" on close is answered yes, as a user closing the tab means it.
    page.on('dialog', (dialog) => void dialog.accept().catch(() => {}));
    page.on('close', () => {
      if (stopped) return;
      if (!closing) {
        onCrash('the window closed without the suite asking');
        return;
      }
      closing = false;
      const next = path.join(tmp, `workspace-${windows + 1}`, path.basename(workspaceSource));
      fs.cpSync(workspaceSource, next, { recursive: true, filter: (src) => !/(^|\/)(__pycache__|\.pytest_cache)$/.test(src) });
      log(`the window closed; opening a new one on ${path.relative(tmp, next)}`);
      openWindow(next).catch((e) => onCrash(`the new window did not open: ${e.message}`));
    });
    await page.goto(urlFor(folder));
  }
  await openWindow(workspace);

  // Requests from the suite: <name>.json naming a screenshot to write (harness.ts screenshot()), a
  // question about what the window shows (harness.ts probeUi()), or asking for the window to be closed ({"close": true}, harness.ts windowAction('close')).
  const screenshots = (async () => {
    while (!stopped) {
      for (const f of fs.readdirSync(screenshotRequests)) {
        if (!f.endsWith('.json')) continue;
        const request = path.join(screenshotRequests, f);
        try {
          const { png, close, probe, out } = JSON.parse(fs.readFileSync(request, 'utf8'));
          if (probe) {
            // harness.ts probeUi(): what the workbench shows, read from its DOM as a user's eyes
            // would (an expression evaluated in the page; its JSON value is written to `out`).
            await sleep(300); // as for a screenshot: let the workbench lay out what the test just changed
            let answer;
            try {
              answer = { value: await page.evaluate(probe) };
            } catch (e) {
              answer = { error: e.message };
            }
            fs.writeFileSync(`${out}.tmp`, JSON.stringify(answer));
            fs.renameSync(`${out}.tmp`, out);
            fs.rmSync(request, { force: true });
            continue;
          }
          if (close) {
            // The suite asked for its window to be closed as a user closes the tab: the page's
            // unload handlers run (the workbench shuts down); its 'close' handler opens a new one.
            fs.rmSync(request, { force: true });
            log('closing the window, as the suite asked');
            closing = true;
            await page.close({ runBeforeUnload: true });
            continue;
          }
          await sleep(300); // let the workbench paint what the test just changed
          const buffer = await page.screenshot({ type: 'png' });
          fs.writeFileSync(`${png}.tmp`, buffer);
          fs.renameSync(`${png}.tmp`, png);
          log(`screenshot ${path.relative(ROOT, png)}`);
        } catch (e) {
          log(`screenshot ${f} failed: ${e.message}`);
        }
        fs.rmSync(request, { force: true });
      }
      await sleep(200);
    }
  })();

  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs - (Date.now() - started))); });
  const outcome = await Promise.race([
    automationExit.then((code) => ({ code })),
    exited.then((how) => ({ error: `code-server exited (${how}) during the run` })),
    crashed.then((error) => ({ error })),
    timeout.then(() => ({ error: `the suite did not finish within ${timeoutMs} ms` })),
  ]);
  clearTimeout(timer);
  stopped = true;
  await screenshots;
  if (outcome.error) {
    try {
      await page.screenshot({ path: path.join(artifacts, trusted ? 'failure.png' : 'failure-untrusted.png') });
    } catch { /* the page may be gone */ }
  }
  consoleOut.end();
  return outcome;
}

let exitCode = 1;
try {
  const outcome = await runSuite();
  const results = readResults(resultsFile);
  const problem = outcome.error ?? runProblem(outcome.code, results);
  const counts = printTests(results, problem);
  if (problem) {
    const logTail = tail(codeServerLog, 20);
    if (logTail) console.log(`vscode: last lines of ${path.relative(ROOT, codeServerLog)}:\n${logTail}`);
    console.log(`vscode: the browser console (extension host output) is in ${path.relative(ROOT, consoleLog)}`);
  }
  exitCode = counts[1] > 0 ? 1 : 0;
  log(`${trusted ? '' : 'untrusted run, '}${((Date.now() - started) / 1000).toFixed(1)} s`);
  await cleanup();
  console.log(summaryLine(counts));
} catch (e) {
  console.error(`vscode: ${e.stack || e.message}`);
  const logTail = tail(codeServerLog, 20);
  if (logTail) console.error(`vscode: last lines of ${path.relative(ROOT, codeServerLog)}:\n${logTail}`);
  await cleanup();
  console.log('0 passed, 1 failed');
  exitCode = 1;
}
process.exit(exitCode);
