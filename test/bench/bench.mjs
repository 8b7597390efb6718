// `npm run bench`: unicorn against gunicorn 20.1 (Debian python3-gunicorn) in both worker classes,
// side by side in one run, loaded by wrk, with uWSGI (Debian uwsgi + uwsgi-plugin-python3,
// --http-socket) for reference. Not a test: it prints numbers and exits 0 unless a server could
// not be started or measured.
//
// Groups (each at every -c, each server started fresh per group and run, 2 workers everywhere,
// access log off everywhere):
//   sync GET      hello world (examples/test.py), wrk -H 'Connection: close'
//   gthread GET   the same app, threads=4, keep-alive (wrk's default)
//   sync POST     16 KiB body echoed (test/bench/apps/echo.py), Connection: close
//   gthread POST  the same, threads=4, keep-alive
//   asgi hello    raw ASGI hello world (test/bench/apps/asgi_hello.py), keep-alive: unicorn -k asgi against
//                 uvicorn (Debian, --loop uvloop --http httptools: its fastest) and hypercorn (Debian)
//                 Debian's hypercorn 0.13.2 closes the connection after each response when the app never
//                 calls receive() (as these apps and FastAPI's GET routes do not): wrk counts each close as a
//                 read error and reconnects, hence its thousands of socket errors; an app that calls receive()
//                 first keeps the connection but is answered in ~45 ms a request (measured by hand, c=4)
//   asgi fastapi  a FastAPI JSON route (test/bench/apps/fastapi_json.py), the same three servers
//   asgi ws       websocket echo, messages/s: python3-websockets clients (test/bench/apps/ws_load.py),
//                 unicorn against uvicorn
//   metrics-sync / metrics-gthread   what the metrics cost on the hot path: the sync-get / gthread-get load on
//                 unicorn three ways, interleaved — `unicorn-norecord` (the worker's per-request counter update,
//                 scoreboard.counter's recorder, patched out through a sitecustomize: the baseline), `unicorn` (as shipped,
//                 the counters on, no --metrics-bind) and `unicorn+metrics` (--metrics-bind, /metrics scraped
//                 every second during the load). Target: ≥ 0.98× the baseline (under 2 %).
//
//   node test/bench/bench.mjs [--duration 5] [--runs 3] [--connections 16,64] [--threads 2] [--no-uwsgi]
//                             [--groups sync-get,gthread-get,sync-post,gthread-post,asgi-hello,asgi-fastapi,asgi-ws,metrics-sync,metrics-gthread]
//                             [--interleave ROUNDS] [--base-tree DIR]
//
// --interleave ROUNDS: a group's servers are all started once and stay up; each round loads every one of them
//   in turn (the order alternating) for --duration seconds at each -c. Every server is then compared with the
//   group's baseline round by round (paired: both measured within seconds of each other), which cancels the
//   minutes-long drift of a shared machine; the median of those per-round ratios is reported with its spread.
//   Use it for small differences (the metrics' cost, a regression check), with short --duration and many rounds.
// --base-tree DIR: another checkout of this project (built: DIR/dist), served as `unicorn-base` in the WSGI and
//   ASGI groups beside `unicorn` — to show a change costs nothing. With it, `unicorn` is also judged against
//   `unicorn-base` (target ≥ 0.98×).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, option } from './common.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SYSTEM_PYTHON = '/usr/bin/python3';
const WORKERS = 2;
const THREADS = 4;
const POST_BYTES = 16 * 1024;
const BOOT_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

const DURATION_S = Number(option('duration', '5'));
const RUNS = Number(option('runs', '3'));
const CONNECTIONS = option('connections', '16,64').split(',').map(Number);
const WRK_THREADS = Number(option('threads', '2'));
const GROUP_NAMES = option('groups', 'sync-get,gthread-get,sync-post,gthread-post,asgi-hello,asgi-fastapi,asgi-ws').split(',');
const WITH_UWSGI = !process.argv.includes('--no-uwsgi');
const INTERLEAVE = Number(option('interleave', '0'));
const BASE_TREE = option('base-tree', undefined) && path.resolve(option('base-tree'));

const HELLO = { dir: 'examples', module: 'test', callable: 'app' };
const ECHO = { dir: path.join('test', 'bench', 'apps'), module: 'echo', callable: 'app' };
const ASGI_HELLO = { dir: path.join('test', 'bench', 'apps'), module: 'asgi_hello', callable: 'app' };
const FASTAPI_JSON = { dir: path.join('test', 'bench', 'apps'), module: 'fastapi_json', callable: 'app' };

/** How each server is started for an app in a worker class: [command, args]. */
const COMMANDS = {
  unicorn: (port, app, klass, opts = {}) => [
    process.execPath,
    [path.join(opts.tree ?? ROOT, 'runtime', 'bin', 'unicorn.js'), '-w', String(WORKERS), '-b', `127.0.0.1:${port}`,
      ...(klass === 'gthread' ? ['-k', 'gthread', '--threads', String(THREADS)] : klass === 'asgi' ? ['-k', 'asgi'] : []),
      ...(opts.metricsPort ? ['--metrics-bind', `127.0.0.1:${opts.metricsPort}`] : []),
      '--chdir', app.dir, '--python', SYSTEM_PYTHON, `${app.module}:${app.callable}`],
  ],
  'unicorn+metrics': (port, app, klass, opts) => COMMANDS.unicorn(port, app, klass, opts),
  'unicorn-norecord': (port, app, klass) => COMMANDS.unicorn(port, app, klass),
  // The app paths stay this checkout's (the server runs with cwd ROOT): the same app, the other tree's server.
  'unicorn-base': (port, app, klass) => COMMANDS.unicorn(port, app, klass, { tree: BASE_TREE }),
  uvicorn: (port, app) => [
    SYSTEM_PYTHON,
    ['-m', 'uvicorn', '--workers', String(WORKERS), '--host', '127.0.0.1', '--port', String(port), '--loop', 'uvloop',
      '--http', 'httptools', '--no-access-log', '--log-level', 'warning', '--app-dir', app.dir, `${app.module}:${app.callable}`],
  ],
  hypercorn: (port, app) => [
    SYSTEM_PYTHON,
    ['-m', 'hypercorn', '-w', String(WORKERS), '-b', `127.0.0.1:${port}`, '--log-level', 'warning',
      `${path.join(app.dir, app.module)}.py:${app.callable}`],
  ],
  gunicorn: (port, app, klass) => [
    SYSTEM_PYTHON,
    ['-m', 'gunicorn', '-w', String(WORKERS), '-b', `127.0.0.1:${port}`,
      ...(klass === 'gthread' ? ['-k', 'gthread', '--threads', String(THREADS)] : []),
      '--chdir', app.dir, `${app.module}:${app.callable}`],
  ],
  // One configuration for every group: 2 processes, no threads, --http-socket (which closes each connection).
  uwsgi: (port, app) => [
    'uwsgi',
    ['--plugin', 'python3', '--http-socket', `127.0.0.1:${port}`, '--master', '--processes', String(WORKERS),
      '--chdir', path.join(ROOT, app.dir), '--wsgi-file', `${app.module}.py`, '--callable', app.callable,
      '--disable-logging', '--die-on-term', '--need-app'],
  ],
};

const METRICS_SERVERS = ['unicorn-norecord', 'unicorn', 'unicorn+metrics'];

let noRecordDir;
/**
 * A PYTHONPATH directory whose sitecustomize makes the worker's per-request recorder a no-op (every worker class
 * builds it with scoreboard.counter): the metrics groups' baseline, the same server without the counting.
 */
function noRecordPath() {
  if (!noRecordDir) {
    noRecordDir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-norecord-'));
    fs.writeFileSync(path.join(noRecordDir, 'sitecustomize.py'), [
      'import sys',
      `sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'dist', 'runtime', 'python'))})`,
      'from unicorn_worker import scoreboard',
      'scoreboard.counter = lambda get_tally: (lambda code, seconds, sent: None)',
      '',
    ].join('\n'));
    process.on('exit', () => fs.rmSync(noRecordDir, { recursive: true, force: true }));
  }
  return noRecordDir;
}

/** Fetches /metrics once a second (a harsh Prometheus) until stopped; its own process, not the server's CPU. */
function startScraper(metricsPort) {
  const code = 'import sys, time, urllib.request\nwhile True:\n' +
    `    urllib.request.urlopen("http://127.0.0.1:${metricsPort}/metrics", timeout=5).read()\n    time.sleep(1)\n`;
  const child = spawn(SYSTEM_PYTHON, ['-c', code], { detached: true, stdio: 'ignore' });
  liveGroups.add(child.pid);
  return child;
}

const GROUPS = {
  'sync-get': { label: 'sync GET (Connection: close)', klass: 'sync', app: HELLO, close: true, post: false },
  'gthread-get': { label: `gthread GET (threads=${THREADS}, keep-alive)`, klass: 'gthread', app: HELLO, close: false, post: false },
  'sync-post': { label: 'sync POST 16 KiB echo (Connection: close)', klass: 'sync', app: ECHO, close: true, post: true },
  'gthread-post': { label: `gthread POST 16 KiB echo (threads=${THREADS}, keep-alive)`, klass: 'gthread', app: ECHO, close: false, post: true },
  // ASGI: against uvicorn (the target: ≥ 1.0×, p99 no worse) and hypercorn.
  'asgi-hello': { label: 'asgi raw ASGI hello (keep-alive)', klass: 'asgi', app: ASGI_HELLO, close: false, post: false, servers: ['unicorn', 'uvicorn', 'hypercorn'], baseline: 'uvicorn', target: 1.0 },
  'asgi-fastapi': { label: 'asgi FastAPI JSON route (keep-alive)', klass: 'asgi', app: FASTAPI_JSON, close: false, post: false, servers: ['unicorn', 'uvicorn', 'hypercorn'], baseline: 'uvicorn', target: 1.0 },
  'metrics-sync': { label: 'sync GET (Connection: close): the cost of the per-request metrics', klass: 'sync', app: HELLO, close: true, post: false, servers: METRICS_SERVERS, baseline: 'unicorn-norecord', target: 0.98, judge: ['unicorn', 'unicorn+metrics'] },
  'metrics-gthread': { label: `gthread GET (threads=${THREADS}, keep-alive): the cost of the per-request metrics`, klass: 'gthread', app: HELLO, close: false, post: false, servers: METRICS_SERVERS, baseline: 'unicorn-norecord', target: 0.98, judge: ['unicorn', 'unicorn+metrics'] },
  'asgi-ws': { label: 'asgi websocket echo, 64-byte messages/s (python3-websockets clients)', klass: 'asgi', app: ASGI_HELLO, close: false, post: false, ws: true, servers: ['unicorn', 'uvicorn'], baseline: 'uvicorn', target: 1.0 },
};

/** Websocket echo load: messages/s and p99 of one echo, from test/bench/apps/ws_load.py. */
function runWsLoad(port, connections, seconds, leader) {
  const cpuBefore = leader ? cpuSeconds(leader) : 0;
  const out = spawnSync(SYSTEM_PYTHON, [path.join(ROOT, 'test', 'bench', 'apps', 'ws_load.py'), String(port), String(connections), String(seconds)],
    { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const cpu = leader ? cpuSeconds(leader) - cpuBefore : 0;
  if (out.error || out.status !== 0) fail(`ws_load.py failed: ${out.error?.message ?? out.stderr}`);
  const r = JSON.parse(out.stdout);
  return { rps: r.per_second, p99Ms: r.p99_ms, errors: r.errors, cpuUs: r.messages ? (cpu * 1e6) / r.messages : 0 };
}

/** Every server group this process started and has not yet seen end: killed on the way out. */
const liveGroups = new Set();

function fail(message) {
  console.error(`bench: ${message}`);
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  process.exit(1);
}

function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** One request as the load will send it; resolves to the status, or 0 when the echo is wrong or it failed. */
function probe(port, post) {
  return new Promise((resolve) => {
    const body = post ? Buffer.alloc(POST_BYTES, 'x') : undefined;
    const headers = { Connection: 'close', ...(body ? { 'Content-Length': String(body.length) } : {}) };
    const req = http.request({ host: '127.0.0.1', port, path: '/', method: post ? 'POST' : 'GET', agent: false, headers, timeout: 2000 }, (res) => {
      let n = 0;
      res.on('data', (d) => (n += d.length));
      res.on('end', () => resolve(post && n !== POST_BYTES ? 0 : res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

// ---- process accounting from /proc -------------------------------------------------------------

function procStat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** The server's processes: its process group, plus any descendants that left the group. */
function serverPids(leader) {
  const all = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  const stats = new Map();
  for (const pid of all) {
    const st = procStat(pid);
    if (st) stats.set(pid, st);
  }
  const found = new Set([...stats].filter(([, st]) => st.pgrp === leader).map(([pid]) => pid));
  if (stats.has(leader)) found.add(leader);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, st] of stats) {
      if (!found.has(pid) && found.has(st.ppid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found];
}

function rssKb(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function measureRss(leader) {
  const pids = serverPids(leader);
  return { processes: pids.length, kb: pids.reduce((sum, pid) => sum + rssKb(pid), 0) };
}

// ---- servers -----------------------------------------------------------------------------------

async function startServer(name, group) {
  const port = await freePort();
  const metricsPort = name === 'unicorn+metrics' ? await freePort() : undefined;
  const [cmd, args] = COMMANDS[name](port, group.app, group.klass, { metricsPort });
  const env = { ...process.env };
  // No server may pick up the developer's own settings.
  for (const k of ['UNICORN_CMD_ARGS', 'GUNICORN_CMD_ARGS', 'WEB_CONCURRENCY', 'PYTHONPATH']) delete env[k];
  if (name === 'unicorn-norecord') env.PYTHONPATH = noRecordPath();
  const started = process.hrtime.bigint();
  const child = spawn(cmd, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  liveGroups.add(child.pid);
  let log = '';
  const keep = (d) => {
    log = (log + d).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = signal ?? code))));

  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  let bootMs;
  while (bootMs === undefined) {
    if (exited !== null) fail(`${name} exited (${exited}) before answering:\n${log}`);
    if (Date.now() > deadline) fail(`${name} did not answer 200 on port ${port} within ${BOOT_TIMEOUT_MS} ms:\n${log}`);
    if ((await probe(port, false)) === 200) bootMs = Number(process.hrtime.bigint() - started) / 1e6;
    else await sleep(20);
  }
  if (group.post && (await probe(port, true)) !== 200) fail(`${name} did not echo a ${POST_BYTES}-byte POST:\n${log}`);
  // The first 200 needs one worker; wait (bounded) for master + every worker before counting RSS.
  const settle = Date.now() + 5000;
  while (measureRss(child.pid).processes < WORKERS + 1 && Date.now() < settle) await sleep(50);
  await sleep(300);
  const scraper = metricsPort ? startScraper(metricsPort) : undefined;
  return { name, port, child, exit, bootMs, bootRss: measureRss(child.pid), log: () => log, scraper };
}

async function stopServer(server) {
  if (server.scraper) {
    signalGroup(server.scraper.pid, 'SIGKILL');
    liveGroups.delete(server.scraper.pid);
  }
  const pgid = server.child.pid;
  signalGroup(pgid, 'SIGTERM');
  const ended = await Promise.race([server.exit.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
  if (!ended) console.log(`  ${server.name} ignored TERM for ${STOP_TIMEOUT_MS} ms; killing its group`);
  // The leader is gone (or about to be); end anything left in its group.
  signalGroup(pgid, 'SIGKILL');
  liveGroups.delete(pgid);
}

// ---- wrk ---------------------------------------------------------------------------------------

function toMs(value, unit) {
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit];
  if (scale === undefined) throw new Error(`wrk: unknown latency unit "${unit}"`);
  return Number(value) * scale;
}

let postScript;
/** A wrk Lua script that POSTs the 16 KiB body (written once per run, removed at exit). */
function wrkPostScript() {
  if (!postScript) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-'));
    postScript = path.join(dir, 'post.lua');
    fs.writeFileSync(postScript, `wrk.method = "POST"\nwrk.body = string.rep("x", ${POST_BYTES})\n` +
      'wrk.headers["Content-Type"] = "application/octet-stream"\n');
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return postScript;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * CPU time (seconds) the server's processes have used so far: the scheduler's own count of each thread's time
 * on a CPU (/proc/PID/task/TID/schedstat, nanoseconds), which is exact where utime + stime in /proc/PID/stat
 * are sampled at the clock tick; stat's figure where schedstat is missing (a kernel without schedstats).
 */
function cpuSeconds(leader) {
  let seconds = 0;
  for (const pid of serverPids(leader)) {
    try {
      let ns = 0;
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      seconds += ns / 1e9;
    } catch {
      try {
        const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
        seconds += (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
      } catch {
        /* exited */
      }
    }
  }
  return seconds;
}

/** Loads the server; `leader` (its process group) lets it count the server's CPU per request too. */
function runWrk(port, connections, seconds, group, leader) {
  const args = [`-t${Math.min(WRK_THREADS, connections)}`, `-c${connections}`, `-d${seconds}s`, '--latency',
    ...(group.close ? ['-H', 'Connection: close'] : []), ...(group.post ? ['-s', wrkPostScript()] : []),
    `http://127.0.0.1:${port}/`];
  const cpuBefore = leader ? cpuSeconds(leader) : 0;
  const out = spawnSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const cpu = leader ? cpuSeconds(leader) - cpuBefore : 0;
  if (out.error || out.status !== 0) fail(`wrk ${args.join(' ')} failed: ${out.error?.message ?? out.stderr}`);
  const text = out.stdout;
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(text);
  if (!rps || !p99) fail(`could not read wrk's output:\n${text}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const errors = (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  const requests = Number(/^\s*(\d+) requests in/m.exec(text)?.[1] ?? 0);
  return { rps: Number(rps[1]), p99Ms: toMs(p99[1], p99[2]), errors, cpuUs: requests ? (cpu * 1e6) / requests : 0 };
}

// ---- main --------------------------------------------------------------------------------------

function formatMs(ms) {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;
}
const formatMb = (kb) => `${(kb / 1024).toFixed(1)} MB`;

/** A plain-text table; the first `textColumns` columns are left-aligned, the numbers right-aligned. */
function table(header, rows, textColumns) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i < textColumns ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** uWSGI from Debian, installed on first use (bench only). False when it cannot be had. */
function ensureUwsgi() {
  const ok = () => spawnSync('uwsgi', ['--plugin', 'python3', '--version'], { encoding: 'utf8' }).status === 0;
  if (ok()) return true;
  console.log('installing uWSGI for the reference column: apt-get install -y uwsgi uwsgi-plugin-python3');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-q', 'uwsgi', 'uwsgi-plugin-python3'], { stdio: 'ignore', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore', env });
    r = spawnSync('apt-get', ['install', '-y', '-q', 'uwsgi', 'uwsgi-plugin-python3'], { stdio: 'ignore', env });
  }
  return ok();
}

/**
 * The metrics groups' wall-clock rows cannot resolve a cost of 1-2 % on a shared machine (their quartiles span
 * ±15 %): beside them, the recording's cost in machine instructions on the worker's request path, counted by
 * callgrind (test/bench/hotpath.py --instructions; Debian's valgrind, installed on first use as uWSGI is).
 */
function printRecordingCost() {
  const have = () => !spawnSync('valgrind', ['--version']).error;
  if (!have()) {
    console.log('\ninstalling valgrind for the metrics cost in instructions: apt-get install -y valgrind');
    spawnSync('apt-get', ['install', '-y', '-q', 'valgrind'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (!have()) {
    console.log('valgrind could not be installed: the metrics cost in instructions is skipped');
    return;
  }
  const r = spawnSync(SYSTEM_PYTHON, [path.join(ROOT, 'test', 'bench', 'hotpath.py'), '--instructions'], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) fail(`hotpath.py --instructions failed: ${r.stderr}`);
  console.log(`\nmetrics recording, in machine instructions (exact, unlike the rows above):\n${r.stdout.trim()}`);
}

async function main() {
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => fail(`interrupted by ${sig}`));
  if (spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error) fail('wrk not found — install it with: apt-get install -y wrk');
  if (!fs.existsSync(path.join(ROOT, 'dist', 'runtime', 'cli.js'))) fail('dist/runtime/cli.js is missing — run `npm run build` first');
  const unknown = GROUP_NAMES.filter((g) => !GROUPS[g]);
  if (unknown.length) fail(`unknown group ${unknown.join(', ')} — use ${Object.keys(GROUPS).join(', ')}`);

  const names = ['unicorn'];
  const gunicorn = spawnSync(SYSTEM_PYTHON, ['-c', 'import gunicorn; print(gunicorn.__version__)'], { encoding: 'utf8' });
  const gunicornVersion = gunicorn.status === 0 ? gunicorn.stdout.trim() : undefined;
  if (gunicornVersion) names.push('gunicorn');
  else console.log(`gunicorn is not installed for ${SYSTEM_PYTHON} (apt-get install -y python3-gunicorn) — the gunicorn rows are skipped`);
  const wsgiGroups = GROUP_NAMES.some((g) => !GROUPS[g].servers);
  if (WITH_UWSGI && wsgiGroups && ensureUwsgi()) names.push('uwsgi');
  else if (WITH_UWSGI && wsgiGroups) console.log('uWSGI could not be installed — the uwsgi rows are skipped');
  const uwsgiVersion = names.includes('uwsgi') ? spawnSync('uwsgi', ['--version'], { encoding: 'utf8' }).stdout.trim() : '';

  const python = spawnSync(SYSTEM_PYTHON, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).stdout.trim();
  const wrkVersion = (spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] || '').trim();
  console.log(`${WORKERS} workers · access log off · Python ${python} (${SYSTEM_PYTHON}) · Node ${process.versions.node}` +
    (gunicornVersion ? ` · gunicorn ${gunicornVersion}` : '') + (uwsgiVersion ? ` · uWSGI ${uwsgiVersion}` : ''));
  console.log(`${wrkVersion || 'wrk'} · -t${WRK_THREADS} · c=${CONNECTIONS.join(',')} · ${DURATION_S} s × ${RUNS} runs each · ` +
    `GET: hello world (examples/test.py) · POST: ${POST_BYTES} bytes echoed (test/bench/apps/echo.py)`);
  console.log(`note: wrk shares this machine's ${os.availableParallelism()} CPU cores with the server under test, ` +
    'so every number is lower than on a machine of its own.');
  if (names.includes('uwsgi')) console.log('uwsgi (reference): --http-socket, 2 processes, no threads; it closes every connection, keep-alive or not.');
  console.log('');

  const groups = GROUP_NAMES.map((g) => ({ id: g, ...GROUPS[g] }));
  // With --base-tree, the other checkout's server stands beside this one's in every group but the metrics ones.
  // (Not in the metrics groups, nor where that tree has no such worker class.)
  const baseServes = (g) => BASE_TREE && !g.judge && (g.klass !== 'asgi' || fs.existsSync(path.join(BASE_TREE, 'runtime', 'python', 'unicorn_worker', 'asgi.py')));
  const serversOf = (g) => (baseServes(g) ? ['unicorn-base', ...(g.servers ?? names)] : g.servers ?? names);
  const samples = {}; // group -> name -> c -> [{rps, p99Ms, errors, cpuUs}], index = run (or round)
  const boots = {}; // "name klass" -> [{bootMs, bootRss, loadRss}] (GET groups: the hello-world app)
  for (const g of groups) samples[g.id] = Object.fromEntries(serversOf(g).map((n) => [n, Object.fromEntries(CONNECTIONS.map((c) => [c, []]))]));

  const load = (g, server, c, seconds, counted) =>
    g.ws ? runWsLoad(server.port, c, seconds, counted && server.child.pid) : runWrk(server.port, c, seconds, g, counted && server.child.pid);
  const measure = (g, name, server, label) => {
    const parts = [];
    for (const c of CONNECTIONS) {
      const r = load(g, server, c, DURATION_S, true);
      samples[g.id][name][c].push(r);
      parts.push(`c=${c} ${r.rps.toFixed(0)} ${g.ws ? 'msg/s' : 'req/s'} p99 ${formatMs(r.p99Ms)} ${r.cpuUs.toFixed(0)} µs${r.errors ? ` (${r.errors} errors)` : ''}`);
    }
    console.log(`${label} ${g.id.padEnd(12)} ${name.padEnd(16)} boot ${formatMs(server.bootMs)} · ${parts.join(' · ')}`);
  };
  const noteBoot = (g, name, server) => {
    if (g.post || g.ws || g.judge) return;
    const key = name === 'uwsgi' ? 'uwsgi' : `${name} ${g.klass}`;
    (boots[key] ??= []).push({ bootMs: server.bootMs, bootRss: server.bootRss, loadRss: measureRss(server.child.pid) });
  };

  if (INTERLEAVE > 0) {
    for (const g of groups) {
      const up = [];
      try {
        for (const name of serversOf(g)) up.push(await startServer(name, g));
        for (const server of up) load(g, server, CONNECTIONS[0], 1, false); // warm-up: imports, caches, first forks
        for (let round = 0; round < INTERLEAVE; round++) {
          for (const server of round % 2 === 0 ? up : [...up].reverse()) measure(g, server.name, server, `round ${round + 1}/${INTERLEAVE}`);
        }
        for (const server of up) noteBoot(g, server.name, server);
      } finally {
        for (const server of up) await stopServer(server);
      }
    }
  } else {
    for (let run = 0; run < RUNS; run++) {
      for (const g of groups) {
        // Alternate which server goes first, so none always meets a warmer (or hotter) machine.
        const order = run % 2 === 0 ? serversOf(g) : [...serversOf(g)].reverse();
        for (const name of order) {
          const server = await startServer(name, g);
          try {
            load(g, server, CONNECTIONS[0], 1, false); // warm-up: imports, caches, first forks
            measure(g, name, server, `run ${run + 1}/${RUNS}`);
            noteBoot(g, name, server);
          } finally {
            await stopServer(server);
          }
        }
      }
    }
  }

  const rows = [];
  const verdicts = [];
  const quartiles = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return [s[Math.floor((s.length - 1) / 4)], s[Math.ceil(((s.length - 1) * 3) / 4)]];
  };
  for (const g of groups) {
    for (const c of CONNECTIONS) {
      const med = (name, key) => median(samples[g.id][name][c].map((r) => r[key]));
      /**
       * `name` against `other`: the ratio of the medians, or when interleaved the median of the per-round ratios
       * (req/s, and the baseline's CPU µs/req over this one's, so that > 1 is better in both) with their spread.
       */
      const against = (name, other) => {
        const mine = samples[g.id][name][c];
        const theirs = samples[g.id][other][c];
        if (!INTERLEAVE) return { rps: med(name, 'rps') / med(other, 'rps'), cpu: med(other, 'cpuUs') / med(name, 'cpuUs'), text: '' };
        const rps = mine.map((r, i) => r.rps / theirs[i].rps);
        const cpu = mine.map((r, i) => theirs[i].cpuUs / r.cpuUs);
        // p99 this/other per round (≤ 1: no worse): whether a p99 difference holds round after round or is noise.
        const p99 = mine.map((r, i) => r.p99Ms / theirs[i].p99Ms);
        const [lo, hi] = quartiles(cpu);
        const [plo, phi] = quartiles(p99);
        return { rps: median(rps), cpu: median(cpu), text: ` (paired over ${rps.length} rounds; CPU ${median(cpu).toFixed(3)}×, quartiles ${lo.toFixed(3)}–${hi.toFixed(3)}; ` +
          `p99 this/${other} ${median(p99).toFixed(3)}, quartiles ${plo.toFixed(3)}–${phi.toFixed(3)}, worse in ${p99.filter((x) => x > 1).length} of ${p99.length} rounds)` };
      };
      const baseline = g.baseline ?? 'gunicorn';
      const target = g.target ?? 1.5;
      const hasBase = serversOf(g).includes(baseline);
      for (const name of serversOf(g)) {
        const rps = med(name, 'rps');
        const p99 = med(name, 'p99Ms');
        const errors = samples[g.id][name][c].reduce((a, r) => a + r.errors, 0);
        const ratio = hasBase && name !== baseline ? `${against(name, baseline).rps.toFixed(2)}× ${baseline}` : '';
        const cpuUs = med(name, 'cpuUs');
        rows.push([g.id, name, c, rps.toFixed(0), formatMs(p99), cpuUs.toFixed(0), errors, ratio]);
        const judged = [];
        if ((g.judge ?? ['unicorn']).includes(name) && hasBase) judged.push([baseline, target]);
        if (name === 'unicorn' && serversOf(g).includes('unicorn-base')) judged.push(['unicorn-base', 0.98]);
        for (const [other, goal] of judged) {
          const r = against(name, other);
          const otherP99 = med(other, 'p99Ms');
          verdicts.push(`${g.id} c=${c}: ${name} ${r.rps.toFixed(2)}× ${other} ${r.rps >= goal ? `(≥ ${goal}× ✓)` : `(below ${goal}× ✗)`}, ` +
            `p99 ${formatMs(p99)} vs ${formatMs(otherP99)} ${p99 <= otherP99 ? '✓' : '✗'}${r.text}`);
        }
      }
    }
  }
  console.log('\n' + groups.map((g) => `${g.id}: ${g.label}`).join('\n'));
  console.log('\n' + table(['group', 'server', 'c', 'req/s (median)', 'p99 (median)', 'server CPU µs/req', 'errors', 'vs baseline'], rows, 2));
  if (groups.some((g) => g.ws)) console.log('asgi-ws: the req/s column is echoed messages/s, p99 the round trip of one message.');
  console.log("\nserver CPU µs/req: the time the master and its workers spent on a CPU during the load (the scheduler's own count), per request answered — " +
    'steadier than req/s when other processes share the machine.');
  if (names.includes('uwsgi')) console.log("uwsgi's errors are wrk's read errors: uWSGI closes every connection after its answer without saying " +
    "Connection: close, and wrk counts each such close as an error; the answers themselves are complete.");
  if (verdicts.length) console.log('\ntargets (WSGI: unicorn ≥ 1.5× gunicorn; ASGI: ≥ 1.0× uvicorn; metrics: ≥ 0.98× unicorn-norecord; unicorn-base: ≥ 0.98×; p99 no worse):\n  ' + verdicts.join('\n  '));

  if (groups.some((g) => g.judge)) printRecordingCost();

  const bootRows = Object.entries(boots).map(([key, b]) => [
    key,
    formatMs(median(b.map((x) => x.bootMs))),
    `${formatMb(median(b.map((x) => x.bootRss.kb)))} (${b[0].bootRss.processes} processes)`,
    `${formatMb(median(b.map((x) => x.loadRss.kb)))} (${b[0].loadRss.processes} processes)`,
  ]);
  if (bootRows.length) {
    console.log('\n' + table(['server', 'boot to first 200', 'RSS after boot', 'RSS after load'], bootRows, 1));
    console.log('\nBoot: spawn to the first 200 on the hello-world app. RSS: VmRSS summed over the master and its workers ' +
      '(shared pages counted in each process).');
  }
}

main().catch((e) => fail(e.stack ?? String(e)));
