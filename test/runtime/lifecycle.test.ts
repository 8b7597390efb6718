// The arbiter's lifecycle through real processes and signals: reloads and upgrades under load,
// worker count signals, log reopening, the watchdog, a worker paused in a debugger, the control socket.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FIXTURES, SYSTEM_PYTHON, Server, childPids, ctlRequest, get, isAlive, loadLoop, rawRequest, parseResponse, runCli, sleep,
  startServer, waitUntil,
} from '../helpers';
import { DapClient } from '../dap';

const APPS = path.join(FIXTURES, 'arbiter');
const started: Server[] = [];
async function start(args: string[], opts: Parameters<typeof startServer>[1] = {}): Promise<Server> {
  const s = await startServer(['--chdir', APPS, ...args], opts);
  started.push(s);
  return s;
}
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-life-'));
}

/**
 * An interpreter of our own that cannot import debugpy, whatever python3 the machine puts first on
 * PATH: a venv without pip and without the system's site-packages (where Debian's debugpy lives).
 */
function bareInterpreter(): string {
  const dir = path.join(tmpdir(), 'bare');
  execFileSync(SYSTEM_PYTHON, ['-m', 'venv', '--without-pip', dir]);
  const python = path.join(dir, 'bin', 'python');
  assert.notEqual(spawnSync(python, ['-c', 'import debugpy']).status, 0, 'the bare interpreter has no debugpy');
  return python;
}

function bootedPids(out: string, master?: number): number[] {
  return [...out.matchAll(/\[(\d+)\] \[INFO\] Booting worker with pid: (\d+)/g)]
    .filter((m) => master === undefined || Number(m[1]) === master)
    .map((m) => Number(m[2]));
}

async function ctl(socket: string, ...args: string[]): Promise<any> {
  const r = await runCli(['ctl', '--socket', socket, '--json', ...args]);
  assert.equal(r.code, 0, `ctl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `status` through the protocol itself: for polling, where a CLI process per poll only adds waiting. */
function statusOf(socket: string) {
  return ctlRequest(socket, { command: 'status' });
}

async function workerPids(socket: string): Promise<number[]> {
  return (await statusOf(socket)).workers.filter((w) => w.state !== 'exiting').map((w) => w.pid);
}

describe('HUP: reload under load', () => {
  test('every request of a bounded client loop succeeds across a HUP; new config applied', async () => {
    const dir = tmpdir();
    const conf = path.join(dir, 'unicorn.conf.py');
    fs.writeFileSync(conf, 'workers = 2\n');
    const sock = path.join(dir, 'ctl.sock');
    const s = await start(['-c', conf, '--control-socket', sock, 'app:app']);
    await waitUntil(async () => (await workerPids(sock)).length === 2, 10000, 'two workers');
    const before = await workerPids(sock);
    fs.writeFileSync(conf, 'workers = 3\n');
    // The load spans the whole reload: HUP after 300 requests, and 300 more once it is complete.
    let sent = false;
    let completeAt = Infinity;
    let done = 0;
    const load = await loadLoop(s.port, {
      requests: 20000,
      concurrency: 8,
      onProgress: (n) => {
        done = n;
        if (done >= 300 && !sent) {
          sent = true;
          process.kill(s.pid, 'SIGHUP');
        }
        if (completeAt === Infinity && /Reload complete: 3 new workers serving/.test(s.output())) completeAt = done;
      },
      enough: () => done >= completeAt + 300,
    });
    assert.equal(load.failed, 0, `failures during HUP: ${load.errors.slice(0, 5).join('; ')}`);
    assert.ok(completeAt < Infinity && load.ok >= completeAt + 300, `${load.ok} requests, the reload complete after ${completeAt}`);
    await s.waitForOutput(/Reload complete: 3 new workers serving/);
    await waitUntil(async () => (await workerPids(sock)).length === 3, 10000, 'three new workers');
    const now = await workerPids(sock);
    assert.ok(now.every((p) => !before.includes(p)), 'every worker was replaced');
    await waitUntil(() => before.every((p) => !isAlive(p)), 10000, 'old workers to exit');
    assert.match(s.output(), /Hang up: Master/);
    await s.stop();
  });

  test('a config that fails to load on HUP keeps the old workers serving', async () => {
    const dir = tmpdir();
    const conf = path.join(dir, 'unicorn.conf.py');
    fs.writeFileSync(conf, 'workers = 2\n');
    const sock = path.join(dir, 'ctl.sock');
    const s = await start(['-c', conf, '--control-socket', sock, 'app:app']);
    await waitUntil(async () => (await workerPids(sock)).length === 2, 10000, 'two workers');
    const before = await workerPids(sock);
    fs.writeFileSync(conf, 'workers = 0\n');
    const mark = s.output().length;
    process.kill(s.pid, 'SIGHUP');
    await s.waitForOutput(/Reload failed: .*unicorn\.conf\.py:1: workers: 0 is below the minimum 1 — .*; the old workers keep serving/, 10000, mark);
    fs.writeFileSync(conf, 'workers = (\n');
    process.kill(s.pid, 'SIGHUP');
    await s.waitForOutput(/Reload failed: .*syntax error/, 10000, mark);
    assert.deepEqual((await workerPids(sock)).sort(), before.sort());
    assert.equal((await get(s.port, '/')).status, 200);
    await s.stop();
  });

  test('an app that no longer imports on HUP keeps the old workers serving', async () => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'hupapp.py'), 'def app(e, r):\n    r("200 OK", [])\n    return [b"v1"]\n');
    const sock = path.join(dir, 'ctl.sock');
    const s = await startServer(['--chdir', dir, '-w', '2', '--control-socket', sock, 'hupapp:app']);
    started.push(s);
    await waitUntil(async () => (await workerPids(sock)).length === 2, 10000, 'two workers');
    const before = await workerPids(sock);
    fs.writeFileSync(path.join(dir, 'hupapp.py'), 'import no_such_dependency\n');
    const mark = s.output().length;
    process.kill(s.pid, 'SIGHUP');
    await s.waitForOutput(/Reload failed: the app failed to load in the new workers; the old workers keep serving/, 15000, mark);
    assert.match(s.output().slice(mark), /No module named 'no_such_dependency'/);
    await sleep(500);
    assert.deepEqual((await workerPids(sock)).sort(), before.sort());
    assert.equal((await get(s.port, '/')).body.toString(), 'v1');
    // A later good reload still works.
    fs.writeFileSync(path.join(dir, 'hupapp.py'), 'def app(e, r):\n    r("200 OK", [])\n    return [b"v2"]\n');
    process.kill(s.pid, 'SIGHUP');
    await s.waitForOutput(/Reload complete/, 15000, mark);
    await waitUntil(async () => (await get(s.port, '/')).body.toString() === 'v2', 10000, 'the new code to serve');
    await s.stop();
  });
});

describe('USR2: a new master on the same sockets', () => {
  test('zero-downtime upgrade: USR2, then TERM to the old master; every request succeeds', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    const s = await start(['-w', '2', '-p', pidfile, 'app:app']);
    let newMaster = 0;
    let phase = 0;
    // The load spans the upgrade: USR2 after 300 requests, and 300 more once the old master is gone.
    let done = 0;
    let goneAt = Infinity;
    s.proc.once('exit', () => (goneAt = done));
    const load = loadLoop(s.port, { requests: 20000, concurrency: 8, onProgress: (n) => {
      done = n;
      if (done >= 300 && phase === 0) {
        phase = 1;
        process.kill(s.pid, 'SIGUSR2');
      }
    }, enough: () => done >= goneAt + 300 });
    await waitUntil(() => fs.existsSync(`${pidfile}.2`), 10000, 'the new master\'s pid file');
    newMaster = Number(fs.readFileSync(`${pidfile}.2`, 'utf8'));
    assert.notEqual(newMaster, s.pid);
    await waitUntil(() => bootedPids(s.output(), newMaster).length === 2, 10000, 'the new master\'s workers');
    await sleep(300);
    process.kill(s.pid, 'SIGTERM');
    const result = await load;
    assert.equal(result.failed, 0, `failures during USR2: ${result.errors.slice(0, 5).join('; ')}`);
    assert.ok(result.ok >= goneAt + 300, `${result.ok} requests, the old master gone after ${goneAt}`);
    await s.exited(15000);
    // The new master writes to the same pipe; it outlives the old master whose exit the harness saw.
    await waitUntil(() => /Master has been promoted\./.test(s.output()), 5000, 'the promotion');
    await waitUntil(() => fs.existsSync(pidfile) && Number(fs.readFileSync(pidfile, 'utf8')) === newMaster, 5000, 'pidfile renamed');
    assert.equal(fs.existsSync(`${pidfile}.2`), false);
    assert.equal((await get(s.port, '/')).status, 200);
    assert.match(s.output(), /Started a new master with pid \d+ on the same sockets/);
    // The promoted master answers its control socket under the old name and stops cleanly.
    const status = await ctl(path.join(dir, 'app.ctl'), 'status');
    assert.equal(status.master.pid, newMaster);
    process.kill(newMaster, 'SIGTERM');
    await waitUntil(() => !isAlive(newMaster), 15000, 'the new master to exit');
    assert.equal(fs.existsSync(pidfile), false);
  });

  test('rollback: USR2, WINCH the old master, HUP it back, TERM the new one', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    const s = await start(['-w', '2', '-p', pidfile, 'app:app']);
    await waitUntil(() => childPids(s.pid).length === 2, 10000, 'old workers');
    const oldWorkers = childPids(s.pid);
    process.kill(s.pid, 'SIGUSR2');
    await waitUntil(() => fs.existsSync(`${pidfile}.2`), 10000, 'the new master');
    const newMaster = Number(fs.readFileSync(`${pidfile}.2`, 'utf8'));
    await waitUntil(() => bootedPids(s.output(), newMaster).length === 2, 10000, 'the new master\'s workers');
    process.kill(s.pid, 'SIGWINCH');
    await waitUntil(() => oldWorkers.every((p) => !isAlive(p)), 10000, 'the old workers to stop');
    assert.equal((await get(s.port, '/')).status, 200, 'the new generation serves alone');
    // The new version is bad: bring the old workers back and stop the new master.
    process.kill(s.pid, 'SIGHUP');
    await waitUntil(() => bootedPids(s.output(), s.pid).length === 4, 10000, 'old master respawns workers');
    process.kill(newMaster, 'SIGTERM');
    await waitUntil(() => !isAlive(newMaster), 15000, 'the new master to exit');
    const load = await loadLoop(s.port, { requests: 200, concurrency: 4 });
    assert.equal(load.failed, 0);
    assert.equal(Number(fs.readFileSync(pidfile, 'utf8')), s.pid, 'the old master still owns the pid file');
    assert.equal(fs.existsSync(`${pidfile}.2`), false);
    await s.stop();
  });

  test('a second USR2 while a new master runs is ignored', async () => {
    const s = await start(['-p', path.join(tmpdir(), 'x.pid'), 'app:app']);
    process.kill(s.pid, 'SIGUSR2');
    await s.waitForOutput(/Started a new master/);
    process.kill(s.pid, 'SIGUSR2');
    await s.waitForOutput(/USR2 signal ignored\. Child exists\./);
    await s.stop();
  });
});

describe('worker count, logs and kills', () => {
  test('TTIN adds a worker, TTOU removes one (never below 1)', async () => {
    const sock = path.join(tmpdir(), 'c.sock');
    const s = await start(['-w', '1', '--control-socket', sock, 'app:app']);
    // One signal at a time: the kernel merges a signal sent again before the first is handled.
    for (const n of [2, 3]) {
      process.kill(s.pid, 'SIGTTIN');
      await waitUntil(async () => (await workerPids(sock)).length === n, 10000, `${n} workers`);
    }
    for (const n of [2, 1, 1]) {
      process.kill(s.pid, 'SIGTTOU');
      await s.waitForOutput(/Handling signal: ttou/g, 5000, s.output().lastIndexOf('Handling signal: ttou') + 1);
      await waitUntil(async () => (await workerPids(sock)).length === n, 10000, `${n} workers`);
    }
    await waitUntil(async () => (await workerPids(sock)).length === 1 && childPids(s.pid).length === 1, 10000, 'one worker');
    assert.match(s.output(), /Number of workers: 3 -> 2/);
    await s.stop();
  });

  test('USR1 reopens the error and access logs in the master and every worker', async () => {
    const dir = tmpdir();
    const errlog = path.join(dir, 'error.log');
    const acclog = path.join(dir, 'access.log');
    const srv = await start(['-w', '2', '--error-logfile', errlog, '--access-logfile', acclog, 'app:app']);
    assert.equal((await get(srv.port, '/first')).status, 200);
    await waitUntil(() => fs.readFileSync(acclog, 'utf8').includes('/first'), 5000, 'first access line');
    fs.renameSync(errlog, `${errlog}.1`);
    fs.renameSync(acclog, `${acclog}.1`);
    process.kill(srv.pid, 'SIGUSR1');
    await waitUntil(() => fs.existsSync(errlog) && fs.readFileSync(errlog, 'utf8').includes('Reopened the log files'), 5000, 'new error log');
    await sleep(300);
    for (let i = 0; i < 20; i++) await get(srv.port, '/second');
    await waitUntil(() => fs.existsSync(acclog) && fs.readFileSync(acclog, 'utf8').includes('/second'), 5000, 'new access log');
    assert.doesNotMatch(fs.readFileSync(`${acclog}.1`, 'utf8'), /\/second/);
    await srv.stop();
  });

  test('max_requests with max_requests_jitter: each worker recycles after N + 0..jitter requests', async () => {
    const s = await start(['-w', '1', '--max-requests', '3', '--max-requests-jitter', '2', 'app:app']);
    await waitUntil(() => bootedPids(s.output()).length === 1, 10000, 'a worker');
    // Count requests per worker pid until three workers have been used up.
    const perWorker = new Map<string, number>();
    for (let i = 0; i < 40 && perWorker.size < 4; i++) {
      const pid = (await get(s.port, '/pid')).body.toString();
      perWorker.set(pid, (perWorker.get(pid) ?? 0) + 1);
    }
    const counts = [...perWorker.values()].slice(0, 3);
    assert.equal(counts.length, 3);
    // The readiness probe of startServer was the first worker's first request.
    counts[0] += 1;
    for (const n of counts) assert.ok(n >= 3 && n <= 5, `a worker served ${n} requests (3 + 0..2 expected): ${counts}`);
    assert.match(s.output(), /Autorestarting worker after current request\./);
    await s.stop();
  });

  test('kill -9 of random workers under load: the server keeps answering', async () => {
    const s = await start(['-w', '3', 'app:app']);
    await waitUntil(() => childPids(s.pid).length === 3, 10000, 'three workers');
    let kills = 0;
    // The load runs until 300 requests after the last kill (3000 at most).
    let done = 0;
    let lastKillAt = Infinity;
    const killer = (async () => {
      for (let i = 0; i < 5; i++) {
        await sleep(150);
        const pids = childPids(s.pid);
        if (pids.length) {
          process.kill(pids[Math.floor(Math.random() * pids.length)], 'SIGKILL');
          kills++;
        }
      }
      lastKillAt = done;
    })();
    const load = await loadLoop(s.port, { requests: 3000, concurrency: 8, onProgress: (n) => (done = n), enough: () => done >= lastKillAt + 300 });
    await killer;
    assert.equal(kills, 5);
    // Only a request in flight on a killed worker can fail.
    assert.ok(load.failed <= kills, `${load.failed} failures for ${kills} kills: ${load.errors.slice(0, 5).join('; ')}`);
    await waitUntil(() => childPids(s.pid).length === 3, 10000, 'three workers again');
    assert.equal((await get(s.port, '/')).status, 200);
    await s.stop();
  });
});

describe('the watchdog', () => {
  test('a hung worker is killed after timeout, with its stack in the error log', async (t) => {
    // --preload, as in the tests below: the replacement is forked, not booted from a fresh interpreter,
    // which on a busy machine may need longer than the timeout (boot counts against it, as in gunicorn).
    const s = await start(['-w', '1', '-t', '2', '--preload', 'app:app']);
    const victim = Number((await s.waitForOutput(/Booting worker with pid: (\d+)/, 10000))[1]);
    const t0 = Date.now();
    const res = rawRequest(s.port, 'GET /sleep?60 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 20000 }).catch((e) => e);
    await s.waitForOutput(new RegExp(`\\[CRITICAL\\] WORKER TIMEOUT \\(pid:${victim}\\)`), 10000);
    await waitUntil(() => !isAlive(victim), 5000, 'the hung worker to die');
    // Not before the timeout (the worker was alive and beating when the request began); how long after it
    // depends on the machine's load, which the test does not control, so it is only reported.
    const latency = Date.now() - t0;
    assert.ok(latency >= 2000, `killed ${latency} ms after the request began, before its 2 s timeout`);
    const out = s.output();
    assert.match(out, /Current thread 0x[0-9a-f]+ \(most recent call first\):/);
    assert.match(out, /File ".*app\.py", line 15 in app/);
    assert.match(out, /File ".*sync\.py", line \d+ in serve/);
    await res;
    await s.waitForOutput(new RegExp(`Booting worker with pid: (?!${victim}\\b)\\d+`), 10000);
    assert.equal((await get(s.port, '/')).status, 200);
    t.diagnostic(`watchdog kill latency: ${latency} ms for timeout 2 s`);
    await s.stop();
  });

  // --preload in the watchdog tests: a worker forked from the preloaded app boots in milliseconds, where a
  // fresh interpreter may need over a second on a busy machine (boot counts against timeout, as in gunicorn).
  test('a timeout shorter than the arbiter\'s one-second tick still kills a hung worker', async () => {
    const s = await start(['-w', '1', '-t', '1', '--preload', 'app:app']);
    // The master's children are the preloading process and the worker forked from it: take the worker.
    const victim = Number((await s.waitForOutput(/Booting worker with pid: (\d+)/, 10000))[1]);
    const res = rawRequest(s.port, 'GET /sleep?60 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 20000 }).catch((e) => e);
    await s.waitForOutput(new RegExp(`\\[CRITICAL\\] WORKER TIMEOUT \\(pid:${victim}\\)`), 10000);
    await waitUntil(() => !isAlive(victim), 5000, 'the hung worker to die');
    await res;
    await s.stop();
  });

  test('an idle worker is never killed, however long it waits', async () => {
    const s = await start(['-w', '1', '-t', '1', '--preload', 'app:app']);
    const w = Number((await s.waitForOutput(/Booting worker with pid: (\d+)/, 10000))[1]);
    await sleep(3500);
    assert.ok(isAlive(w));
    assert.doesNotMatch(s.output(), /WORKER TIMEOUT/);
    await s.stop();
  });

  test('a worker paused at a breakpoint under debugpy is not killed past timeout', async () => {
    const dir = tmpdir();
    const sock = path.join(dir, 'c.sock');
    const s = await start(['-w', '1', '-t', '2', '--control-socket', sock, 'app:app'], { python: SYSTEM_PYTHON });
    await waitUntil(async () => (await workerPids(sock)).length === 1, 10000, 'a worker');
    const [pid] = await workerPids(sock);
    const { port } = await ctl(sock, 'debug', String(pid));
    assert.ok(port > 0);
    // The kernel tells an open debug port from one with a client (sock_diag): none yet.
    const before = (await ctl(sock, 'status')).workers[0];
    assert.deepEqual({ port: before.debug_port, attached: before.debugger_attached }, { port, attached: false });
    const dap = await DapClient.connect(port);
    try {
      await dap.request('initialize', { adapterID: 'python', clientID: 'unicorn-test', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
      const attached = dap.request('attach', { justMyCode: false });
      await dap.event('initialized');
      const bp = await dap.request('setBreakpoints', { source: { path: path.join(APPS, 'app.py') }, breakpoints: [{ line: 15 }] });
      assert.equal((bp.body!.breakpoints as Array<{ verified: boolean }>)[0].verified, true);
      await dap.request('configurationDone');
      await attached;
      const response = rawRequest(s.port, 'GET /sleep?0 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 30000 });
      const stopped = await dap.event('stopped');
      assert.equal(stopped.body!.reason, 'breakpoint');
      const status = await ctl(sock, 'status');
      assert.equal(status.workers[0].state, 'busy');
      assert.equal(status.workers[0].request.path, '/sleep');
      assert.equal(status.workers[0].debugger_attached, true);
      // Paused, the worker's heartbeat stops: the watchdog finds it silent past timeout and spares it.
      await s.waitForOutput(new RegExp(`Worker \\(pid:${pid}\\) is silent for over 2s but a debugger is attached: not killing it`), 20000);
      assert.ok(isAlive(pid), 'the paused worker survived');
      assert.doesNotMatch(s.output(), /WORKER TIMEOUT/);
      await dap.request('continue', { threadId: stopped.body!.threadId });
      const res = parseResponse(await response);
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'slept');
    } finally {
      dap.close();
    }
    await waitUntil(async () => (await ctl(sock, 'status')).workers[0].debugger_attached === false, 10000, 'the detach to show');
    await s.stop();
  });
});

describe('the control socket', () => {
  for (const workerClass of ['sync', 'gthread']) {
    test(`focus (${workerClass}): only the focused worker accepts, so it serves every new connection; unfocus resumes all`, async () => {
      const dir = tmpdir();
      const sock = path.join(dir, 'f.sock');
      // --preload: the workers added and replaced below are forked in milliseconds instead of booting an
      // interpreter each. The protocol goes straight over the socket; `unicorn ctl` prints the unfocus answer below.
      const s = await start(['-w', '3', '-k', workerClass, '--preload', '--control-socket', sock, 'app:app']);
      await waitUntil(async () => (await statusOf(sock)).workers.filter((w: any) => w.state === 'idle').length === 3, 15000, 'three idle workers');
      const pids = await workerPids(sock);
      const target = pids[1];
      assert.deepEqual(await ctlRequest(sock, { command: 'focus', pid: target }), { focus: [target], accepting: [target] });
      const status = await statusOf(sock);
      assert.deepEqual(status.master.focus, [target]);
      assert.deepEqual(status.workers.filter((w: any) => w.accepting).map((w: any) => w.pid), [target]);
      // Separate connections, each a fresh accept(): every one lands on the focused worker.
      for (let i = 0; i < 12; i++) assert.equal((await get(s.port, '/pid')).body.toString(), String(target), `request ${i}`);
      const human = await runCli(['ctl', '--socket', sock, 'unfocus']);
      assert.equal(human.stdout, `focus: none; accepting: ${[...pids].sort((a, b) => a - b).join(', ')}\n`);
      assert.deepEqual((await statusOf(sock)).workers.filter((w: any) => w.accepting).map((w: any) => w.pid).sort(), [...pids].sort());
      // Two debug sessions ending together (the extension unfocuses each): the second unfocus comes while
      // the worker the first one turned off has yet to confirm, and must still leave every worker accepting.
      await ctlRequest(sock, { command: 'focus', pid: pids[0] });
      await ctlRequest(sock, { command: 'focus', pid: pids[1] });
      const [, last] = await Promise.all([ctlRequest(sock, { command: 'unfocus', pid: pids[0] }), ctlRequest(sock, { command: 'unfocus', pid: pids[1] })]);
      assert.deepEqual(last.focus, []);
      assert.deepEqual([...last.accepting].sort(), [...pids].sort(), 'the last unfocus answers once every worker accepts again');
      assert.deepEqual((await statusOf(sock)).workers.filter((w: any) => w.accepting).map((w: any) => w.pid).sort(), [...pids].sort());
      // Remove Worker spares the focused one, though it is not the newest.
      await ctlRequest(sock, { command: 'focus', pid: pids[0] });
      await ctlRequest(sock, { command: 'remove', count: 2 });
      await waitUntil(async () => (await workerPids(sock)).length === 1, 15000, 'one worker left');
      assert.deepEqual(await workerPids(sock), [pids[0]]);
      await ctlRequest(sock, { command: 'add', count: 2 });
      await waitUntil(async () => (await statusOf(sock)).workers.filter((w: any) => w.state === 'idle').length === 3, 15000, 'three idle workers again');
      await ctlRequest(sock, { command: 'unfocus' });
      // A focused worker that exits takes its focus with it: the others accept again.
      await ctlRequest(sock, { command: 'focus', pid: pids[0] });
      await ctlRequest(sock, { command: 'kill', pid: pids[0] });
      await waitUntil(async () => {
        const st = await statusOf(sock);
        return st.master.focus.length === 0 && st.workers.length === 3 && st.workers.every((w: any) => w.state === 'idle' && w.accepting);
      }, 15000, 'the focus to go with the killed worker and all three to accept');
      assert.match((await runCli(['ctl', '--socket', sock, 'focus'])).stderr, /ctl: focus needs a worker pid/);
    });
  }

  test('status: each listener\'s accept queue, counting connections no worker has taken yet', async () => {
    const dir = tmpdir();
    const sock = path.join(dir, 'q.sock');
    // --preload: the replacement for the worker killed below is forked at once.
    const s = await start(['-w', '1', '--preload', '--backlog', '64', '--control-socket', sock, 'app:app']);
    await waitUntil(async () => (await statusOf(sock)).workers.some((w: any) => w.state === 'idle'), 10000, 'an idle worker');
    assert.deepEqual((await statusOf(sock)).master.listen_queue, [{ url: s.url, queued: 0, backlog: 64 }]);
    // The only worker sleeps on one request until it is killed; three more connections wait in the queue.
    const request = (p: string) => rawRequest(s.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { timeoutMs: 60000 });
    const slow = request('/sleep?60').catch(() => undefined);
    await waitUntil(async () => (await statusOf(sock)).workers[0].state === 'busy', 10000, 'the worker busy');
    const [sleeper] = await workerPids(sock);
    const waiting = [1, 2, 3].map(() => request('/'));
    await waitUntil(async () => (await statusOf(sock)).master.listen_queue[0].queued === 3, 10000, 'three connections queued');
    await ctlRequest(sock, { command: 'kill', pid: sleeper });
    for (const raw of await Promise.all(waiting)) assert.equal(parseResponse(raw).status, 200, 'served by the replacement');
    await slow;
    assert.equal((await statusOf(sock)).master.listen_queue[0].queued, 0);
  });

  test('mode 0600; status, add, remove, kill, debug, reload and stop; errors are clear', async () => {
    const dir = tmpdir();
    const sock = path.join(dir, 'c.sock');
    const s = await start(['-w', '2', '--control-socket', sock, '--python', bareInterpreter(), 'app:app']);
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
    await waitUntil(async () => (await workerPids(sock)).length === 2, 10000, 'two workers');
    const status = await ctl(sock, 'status');
    assert.equal(status.master.pid, s.pid);
    assert.equal(status.master.app, 'app:app');
    assert.equal(status.master.workers, 2);
    assert.deepEqual(status.master.listeners, [s.url]);
    assert.ok(status.master.rss > 0);
    for (const w of status.workers) {
      assert.equal(w.state, 'idle');
      assert.ok(w.rss > 0 && w.uptime >= 0 && w.heartbeat_age < 3);
      assert.equal(w.debug_port, null);
    }
    const served = async () => (await statusOf(sock)).workers.reduce((n: number, w: any) => n + w.requests, 0);
    const before0 = await served();
    await get(s.port, '/');
    await waitUntil(async () => (await served()) === before0 + 1, 5000, 'the request counted');

    assert.deepEqual(await ctl(sock, 'add', '2'), { workers: 4 });
    await waitUntil(async () => (await workerPids(sock)).length === 4, 10000, 'four workers');
    assert.deepEqual(await ctl(sock, 'remove'), { workers: 3 });
    await waitUntil(async () => (await workerPids(sock)).length === 3, 10000, 'three workers');

    const [victim] = await workerPids(sock);
    assert.deepEqual(await ctl(sock, 'kill', String(victim)), { killed: victim });
    await waitUntil(async () => !(await workerPids(sock)).includes(victim) && (await workerPids(sock)).length === 3, 10000, 'a replacement');

    // The workers' interpreter has no debugpy (bareInterpreter makes sure): the error says how to get it.
    const [w] = await workerPids(sock);
    const dbg = await runCli(['ctl', '--socket', sock, 'debug', String(w)]);
    assert.equal(dbg.code, 1);
    assert.match(dbg.stderr, /^unicorn: error: ctl: debug: debugpy is not importable by .*python.* — install it for that interpreter \(python -m pip install debugpy, or on Debian: apt install python3-debugpy\)/);

    const bad = await runCli(['ctl', '--socket', sock, 'remove', '9']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /ctl: remove: cannot remove 9: 3 running and at least 1 must stay/);
    const none = await runCli(['ctl', '--socket', sock, 'kill', '1']);
    assert.match(none.stderr, /no worker with pid 1 — see "status" for the workers' pids/);
    assert.match((await runCli(['ctl', '--socket', sock, 'dance'])).stderr, /ctl: unknown command "dance" — use one of status, add, remove, reload, stop, kill, debug/);
    assert.match((await runCli(['ctl', '--socket', sock, 'kill'])).stderr, /ctl: kill needs a worker pid/);
    assert.match((await runCli(['ctl', '--socket', sock, 'add', 'x'])).stderr, /ctl: count "x" is not a positive whole number/);

    const human = await runCli(['ctl', '--socket', sock, 'status']);
    assert.match(human.stdout, new RegExp(`^master ${s.pid}  app:app  up \\S+  rss [\\d.]+ MiB  sync workers 3/3  ${s.url}\n(  worker \\d+  idle  \\d+ requests  up \\S+  rss [\\d.]+ MiB\n){3}$`));

    const before = await workerPids(sock);
    await ctl(sock, 'reload');
    await s.waitForOutput(/Reload complete/);
    await waitUntil(async () => (await workerPids(sock)).every((p) => !before.includes(p)), 10000, 'reloaded workers');
    await ctl(sock, 'stop');
    const r = await s.exited(15000);
    assert.equal(r.code, 0);
    assert.equal(fs.existsSync(sock), false, 'socket removed at exit');
  });

  test('unicorn ctl finds the one server of this user without --socket', async () => {
    const runtime = tmpdir();
    const s = await start(['app:app'], { env: { XDG_RUNTIME_DIR: runtime } });
    const r = await runCli(['ctl', 'status'], { env: { XDG_RUNTIME_DIR: runtime } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^master ${s.pid} `));
    assert.ok(fs.existsSync(path.join(runtime, 'unicorn', `${s.pid}.ctl`)));
    await s.stop();
    const gone = await runCli(['ctl', 'status'], { env: { XDG_RUNTIME_DIR: runtime } });
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /ctl: no running unicorn server found in .* — start one, or give --socket PATH or -p PIDFILE/);
  });
});
