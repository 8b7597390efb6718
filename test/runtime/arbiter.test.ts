// The arbiter through the real CLI: binding, workers, signals, boot failures, orphans.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CLI, FIXTURES, childPids, ctlRequest, freePort, get, isAlive, killGroup, parseResponse, rawRequest, runCli, sleep, spawnGroup, startServer,
  waitUntil, Server,
} from '../helpers';

const APPS = path.join(FIXTURES, 'arbiter');
const base = ['--chdir', APPS];

const started: Server[] = [];
async function start(args: string[], opts: Parameters<typeof startServer>[1] = {}): Promise<Server> {
  const s = await startServer([...base, ...args], opts);
  started.push(s);
  return s;
}
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

function bootedPids(s: Server): number[] {
  return [...s.output().matchAll(/Booting worker with pid: (\d+)/g)].map((m) => Number(m[1]));
}

describe('serving', () => {
  test('2 workers share the listener; gunicorn-style log lines', async () => {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-share-')), 'c.sock');
    const s = await start(['-w', '2', '--control-socket', sock, 'app:app']);
    await waitUntil(() => bootedPids(s).length === 2, 10000, 'two workers');
    // Both booted (past importing the app), not only spawned: until then one worker takes every connection.
    await waitUntil(async () => (await ctlRequest(sock, { command: 'status' })).workers.filter((w) => w.state === 'idle' || w.state === 'busy').length === 2,
      20000, 'both workers booted');
    const res = await get(s.port, '/');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'hello no-lib');
    const out = s.output();
    assert.match(out, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] Starting unicorn \d+\.\d+\.\d+$/m);
    assert.match(out, new RegExp(`\\[INFO\\] Listening at: http://127\\.0\\.0\\.1:${s.port} \\(${s.pid}\\)`));
    assert.match(out, /\[INFO\] Using worker: sync/);
    await waitUntil(() => childPids(s.pid).length === 2, 5000, 'two worker processes');
    // Both workers answer over time: the kernel balances accept() between them.
    const seen = new Set<string>();
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add((await get(s.port, '/pid')).body.toString());
    assert.equal(seen.size, 2, 'both workers served requests');
    assert.deepEqual([...seen].map(Number).sort(), bootedPids(s).sort());
    const r = await s.stop('SIGTERM');
    assert.equal(r.code, 0);
    assert.match(s.output(), /Handling signal: term/);
    assert.match(s.output(), /Shutting down: Master/);
  });

  test('--chdir, --pythonpath, -e and a factory with literal arguments', async () => {
    const s = await start(['--pythonpath', 'lib', '-e', 'GREETING=bonjour', 'app:app']);
    assert.equal((await get(s.port, '/')).body.toString(), 'hello from-lib');
    assert.equal((await get(s.port, '/env?GREETING')).body.toString(), 'bonjour');
    assert.equal((await get(s.port, '/cwd')).body.toString(), APPS);
    await s.stop();
    const f = await start(['app:create_app("hey", times=2)']);
    assert.equal((await get(f.port, '/')).body.toString(), 'heyhey');
    await f.stop();
  });

  test('unix:PATH serves, and the socket file is removed at exit; a stale file is replaced', async () => {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-sock-')), 'app.sock');
    // A stale socket file left by a server that died without cleaning up.
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
    assert.ok(fs.statSync(sock).isSocket());
    const s = await start(['-b', `unix:${sock}`, 'app:app'], { noBind: true, readyPattern: /Booting worker/ });
    const res = parseResponse(
      await (async () => {
        for (;;) {
          try {
            return await rawRequest(sock, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
          } catch {
            await sleep(50);
          }
        }
      })(),
    );
    assert.equal(res.status, 200);
    assert.match(s.output(), new RegExp(`Listening at: unix:${sock}`));
    assert.ok(fs.statSync(sock).isSocket());
    await s.stop();
    assert.equal(fs.existsSync(sock), false, 'socket file removed at exit');
  });

  test('IPv6 loopback [::1]:PORT', async () => {
    const port = await freePort('::1');
    const s = await start(['-b', `[::1]:${port}`, 'app:app'], { noBind: true, readyPattern: /Booting worker/ });
    await waitUntil(async () => {
      try {
        return parseResponse(await rawRequest(port, 'GET / HTTP/1.0\r\n\r\n', { host: '::1' })).status === 200;
      } catch {
        return false;
      }
    }, 10000, 'an answer on [::1]');
    assert.match(s.output(), new RegExp(`Listening at: http://\\[::1\\]:${port}`));
    await s.stop();
  });

  test('several binds at once, port 0 resolved in the log, duplicates bound once', async () => {
    const port = await freePort();
    const s = await start(['-b', `127.0.0.1:${port}`, '-b', `127.0.0.1:${port}`, '-b', '127.0.0.1:0', 'app:app'], {
      noBind: true,
      port,
    });
    const listening = [...s.output().matchAll(/Listening at: http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    assert.equal(listening.length, 2);
    assert.equal(listening[0], port);
    assert.notEqual(listening[1], 0);
    assert.equal((await get(listening[1], '/')).status, 200);
    await s.stop();
  });

  test('fd://N serves on a socket inherited from the parent', async () => {
    const handle = (net as any)._createServerHandle('127.0.0.1', 0, 4);
    const name: { port?: number } = {};
    handle.getsockname(name);
    const proc = spawnGroup(process.execPath, [CLI, ...base, '-b', 'fd://3', 'app:app'], { stdio: ['ignore', 'pipe', 'pipe', handle.fd] });
    handle.close();
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    try {
      await waitUntil(async () => {
        try {
          return (await get(name.port!, '/')).status === 200;
        } catch {
          return false;
        }
      }, 10000, 'an answer on the inherited socket');
      assert.match(out, new RegExp(`Listening at: http://127\\.0\\.0\\.1:${name.port} `));
    } finally {
      killGroup(proc.pid!, 'SIGKILL');
    }
  });

  test('systemd socket activation: LISTEN_FDS sockets are served, bind is ignored, workers do not see the variables', async () => {
    const tcp = (net as any)._createServerHandle('127.0.0.1', 0, 4);
    const name: { port?: number } = {};
    tcp.getsockname(name);
    const sockPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-sd-')), 'sd.sock');
    const unix = (net as any)._createServerHandle(sockPath, -1, -1);
    // systemd sets LISTEN_PID to the pid of the process it execs: the shell execs node, keeping its pid.
    const proc = spawnGroup('/bin/sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=2 exec "${process.execPath}" "${CLI}" "$@"`, 'sh',
      ...base, '-b', '127.0.0.1:1', 'app:app'], { stdio: ['ignore', 'pipe', 'pipe', tcp.fd, unix.fd] });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    try {
      await waitUntil(async () => {
        try {
          return (await get(name.port!, '/env?LISTEN_FDS')).body.toString() === '<unset>';
        } catch {
          return false;
        }
      }, 10000, 'an answer on the activated TCP socket');
      const viaUnix = parseResponse(await rawRequest(sockPath, 'GET /env?LISTEN_PID HTTP/1.0\r\n\r\n'));
      assert.equal(viaUnix.body.toString(), '<unset>');
      assert.match(out, /Using 2 socket\(s\) from systemd socket activation; bind is ignored/);
      assert.match(out, new RegExp(`Listening at: http://127\\.0\\.0\\.1:${name.port} `));
      assert.match(out, new RegExp(`Listening at: unix:${sockPath} `));
      assert.doesNotMatch(out, /127\.0\.0\.1:1\b/);
    } finally {
      killGroup(proc.pid!, 'SIGKILL');
      tcp.close();
      unix.close();
    }
  });

  test('pidfile is written at start and removed at exit; process titles carry proc_name', async () => {
    const pidfile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-pid-')), 'u.pid');
    const s = await start(['-p', pidfile, '-n', 'shopfront', 'app:app']);
    assert.equal(fs.readFileSync(pidfile, 'utf8').trim(), String(s.pid));
    assert.match(fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8'), /unicorn: master \[shopfront\]/);
    await s.stop();
    assert.equal(fs.existsSync(pidfile), false);
  });

  test('a pidfile naming a live process refuses to start', async () => {
    const pidfile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-pid-')), 'u.pid');
    fs.writeFileSync(pidfile, `${process.pid}\n`);
    const r = await runCli([...base, '-p', pidfile, '-b', '127.0.0.1:0', 'app:app']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`pidfile ${pidfile}: already running as pid ${process.pid} — stop it first`));
  });
});

describe('worker supervision', () => {
  test('a worker killed with SIGKILL is replaced and the server keeps answering', async () => {
    const s = await start(['-w', '2', 'app:app']);
    await waitUntil(() => childPids(s.pid).length === 2, 10000, 'two workers');
    const [victim] = childPids(s.pid);
    process.kill(victim, 'SIGKILL');
    await s.waitForOutput(new RegExp(`Worker \\(pid:${victim}\\) was sent SIGKILL!`));
    await waitUntil(() => bootedPids(s).length === 3 && childPids(s.pid).length === 2, 10000, 'a replacement worker');
    assert.ok(!childPids(s.pid).includes(victim));
    for (let i = 0; i < 10; i++) assert.equal((await get(s.port, '/')).status, 200);
    await s.stop();
  });

  test('TERM ends every process; a request in flight finishes first', async () => {
    const s = await start(['-w', '2', 'app:app']);
    await waitUntil(() => childPids(s.pid).length === 2, 10000, 'two workers');
    const workers = childPids(s.pid);
    const slow = rawRequest(s.port, 'GET /sleep?1 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 10000 });
    await sleep(300);
    const r = await s.stop('SIGTERM');
    assert.equal(r.code, 0);
    const res = parseResponse(await slow);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'slept');
    for (const w of workers) assert.equal(isAlive(w), false, `worker ${w} gone`);
  });

  test('TERM kills workers still busy after graceful_timeout', async () => {
    const s = await start(['--graceful-timeout', '1', 'app:app']);
    rawRequest(s.port, 'GET /sleep?30 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 20000 }).catch(() => undefined);
    await sleep(300);
    const t0 = Date.now();
    const r = await s.stop('SIGTERM', 10000);
    assert.equal(r.code, 0);
    assert.ok(Date.now() - t0 < 5000, `stopped after ${Date.now() - t0} ms`);
  });

  for (const sig of ['SIGINT', 'SIGQUIT'] as const) {
    test(`${sig} stops at once, even with a request in flight`, async () => {
      const s = await start(['-w', '2', 'app:app']);
      await waitUntil(() => childPids(s.pid).length === 2, 10000, 'two workers');
      const workers = childPids(s.pid);
      rawRequest(s.port, 'GET /sleep?30 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 20000 }).catch(() => undefined);
      await sleep(300);
      const t0 = Date.now();
      const r = await s.stop(sig, 10000);
      assert.equal(r.code, 0);
      assert.ok(Date.now() - t0 < 3000, `stopped after ${Date.now() - t0} ms`);
      for (const w of workers) assert.equal(isAlive(w), false);
    });
  }

  test('SIGKILL of the master: every worker is gone within 5 s', async () => {
    const s = await start(['-w', '3', 'app:app']);
    await waitUntil(() => childPids(s.pid).length === 3, 10000, 'three workers');
    const workers = childPids(s.pid);
    process.kill(s.pid, 'SIGKILL');
    await waitUntil(() => workers.every((w) => !isAlive(w) || fs.readFileSync(`/proc/${w}/stat`, 'utf8').includes(') Z')), 5000, 'orphaned workers to exit');
  });

  test('max_requests recycles a worker', async () => {
    const s = await start(['--max-requests', '3', 'app:app']);
    for (let i = 0; i < 7; i++) assert.equal((await get(s.port, '/')).status, 200);
    await waitUntil(() => bootedPids(s).length >= 3, 10000, 'two recycled workers');
    await s.stop();
  });
});

// Independent runs (port 0, their own blockers), two of them waiting out gunicorn's five bind retries:
// run side by side.
describe('boot failures stop the server instead of respawning', { concurrency: true }, () => {
  test('an app that fails to import: traceback, exit 4', async () => {
    const r = await runCli([...base, '-w', '2', '-b', '127.0.0.1:0', 'broken_import:app']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /Traceback \(most recent call last\)/);
    assert.match(r.stderr, /ModuleNotFoundError: No module named 'a_module_that_does_not_exist'/);
    assert.match(r.stderr, /Reason: App failed to load\./);
    assert.ok([...r.stderr.matchAll(/Booting worker/g)].length <= 2, 'no respawn loop');
  });

  test('a module without the callable: exit 4, says which name is missing', async () => {
    const r = await runCli([...base, '-b', '127.0.0.1:0', 'no_callable:app']);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /no_callable/);
    assert.match(r.stderr, /\bapp\b/);
    const m = await runCli([...base, '-b', '127.0.0.1:0', 'no_such_module_anywhere:app']);
    assert.equal(m.code, 4);
    assert.match(m.stderr, /no_such_module_anywhere/);
  });

  test('workers that die before they boot: exit 3 after a few tries, no spin', async () => {
    const r = await runCli([...base, '--python', '/bin/false', '-b', '127.0.0.1:0', 'app:app']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /Reason: Worker failed to boot: 5 workers in a row died before they were ready\./);
  });

  test('address in use: retried, then one error naming the address, exit 1', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli([...base, '-b', `127.0.0.1:${port}`, 'app:app'], { timeoutMs: 30000 });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`Connection in use: 127\\.0\\.0\\.1:${port}`));
      assert.match(r.stderr, /Retrying in 1 second\./);
      const last = r.stderr.trim().split('\n').pop()!;
      assert.equal(last, `unicorn: error: bind "127.0.0.1:${port}": address already in use — stop the other server on it or choose another port with -b`);
    } finally {
      blocker.close();
    }
  });

  test('a unix socket another server is listening on is not stolen', async () => {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-sock-')), 'busy.sock');
    const other = net.createServer().listen(sock);
    await new Promise((r) => other.once('listening', r));
    try {
      const r = await runCli([...base, '-b', `unix:${sock}`, 'app:app'], { timeoutMs: 30000 });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /address already in use/);
    } finally {
      other.close();
    }
  });
});

describe('process settings', () => {
  test('umask sets the unix socket mode (0 by default, as gunicorn)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-umask-'));
    for (const [args, mode] of [[[], 0o777], [['-m', '0o077'], 0o700], [['--umask', '027'], 0o750]] as const) {
      const sock = path.join(dir, `u${mode.toString(8)}.sock`);
      const s = await start(['-b', `unix:${sock}`, ...args, 'app:app'], { noBind: true, readyPattern: /Booting worker/ });
      assert.equal(fs.statSync(sock).mode & 0o777, mode, `socket mode with ${args.join(' ') || 'the default umask'}`);
      await s.stop();
    }
    const r = await runCli([...base, '-m', '0o999', 'app:app']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /umask: "0o999" is not a file mode mask — give an octal mask such as 0o22 \(or 022\)/);
  });

  test('worker_tmp_dir holds the scoreboard; a missing one is refused', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-tmp-'));
    const s = await start(['--worker-tmp-dir', dir, 'app:app']);
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.scoreboard')).length, 1);
    await s.stop();
    assert.deepEqual(fs.readdirSync(dir), [], 'scoreboard removed at exit');
    const r = await runCli([...base, '--worker-tmp-dir', '/no/such/dir', 'app:app']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^unicorn: error: worker_tmp_dir: \/no\/such\/dir is not a writable directory — create it, or give another with --worker-tmp-dir\n$/);
  });

  test('capture_output sends what the app prints into the error log file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-cap-'));
    const errlog = path.join(dir, 'error.log');
    const s = await start(['--error-logfile', errlog, '--capture-output', 'app:app']);
    assert.equal((await get(s.port, '/print?captured')).status, 200);
    await waitUntil(() => fs.readFileSync(errlog, 'utf8').includes('printed by the app: captured'), 5000, 'the print in the error log');
    await s.stop();
    assert.doesNotMatch(s.output(), /printed by the app/);
    const plain = await start(['--error-logfile', errlog, 'app:app']);
    await get(plain.port, '/print?uncaptured');
    await plain.waitForOutput(/printed by the app: uncaptured/);
    await plain.stop();
  });

  test('daemon: -D returns at once and the server runs detached in its own session', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-daemon-'));
    const pidfile = path.join(dir, 'd.pid');
    const errlog = path.join(dir, 'error.log');
    const port = await freePort();
    const r = await runCli([...base, '-D', '-p', pidfile, '--error-logfile', errlog, '-b', `127.0.0.1:${port}`, 'app:app']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout + r.stderr, '');
    await waitUntil(() => fs.existsSync(pidfile), 10000, 'the daemon\'s pid file');
    const pid = Number(fs.readFileSync(pidfile, 'utf8'));
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
      assert.equal(session, pid, 'the daemon leads its own session');
      await waitUntil(async () => {
        try {
          return (await get(port, '/')).status === 200;
        } catch {
          return false;
        }
      }, 10000, 'the daemon to answer');
      assert.match(fs.readFileSync(errlog, 'utf8'), /Booting worker with pid/);
    } finally {
      process.kill(pid, 'SIGTERM');
    }
    await waitUntil(() => !isAlive(pid), 15000, 'the daemon to stop');
    assert.equal(fs.existsSync(pidfile), false);
  });
});

describe('listening at bind', () => {
  /** Connects (rejecting on a refusal) and sends a request; `reply`: everything the server sends until it closes. */
  function connectAndAsk(target: number | string): Promise<{ reply: Promise<Buffer> }> {
    return new Promise((resolve, reject) => {
      const sock = typeof target === 'string' ? net.connect({ path: target }) : net.connect({ port: target, host: '127.0.0.1' });
      const chunks: Buffer[] = [];
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        const reply = new Promise<Buffer>((done, fail) => {
          sock.on('data', (d) => chunks.push(d));
          sock.on('error', fail);
          sock.on('close', () => done(Buffer.concat(chunks)));
        });
        resolve({ reply });
      });
    });
  }

  for (const reusePort of [false, true]) {
    test(`a connection made once the pid file exists, while the only worker still imports the app, waits in the backlog and is served${reusePort ? ' (reuse_port)' : ''}`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-listen-'));
      const gate = path.join(dir, 'gate');
      const pidfile = path.join(dir, 'unicorn.pid');
      const sockPath = path.join(dir, 'app.sock');
      const port = await freePort();
      const s = await startServer(
        ['-w', '1', '-b', `127.0.0.1:${port}`, '-b', `unix:${sockPath}`, '--pid', pidfile, ...(reusePort ? ['--reuse-port'] : []),
          '--chdir', path.join(FIXTURES, 'ops'), 'slow_boot:app'],
        { noBind: true, port, readyPattern: /Booting worker with pid/, env: { BOOT_GATE: gate } },
      );
      started.push(s);
      await waitUntil(() => fs.existsSync(pidfile), 10000, 'the pid file');
      // The worker waits in its import until the gate exists: both connections are made during boot.
      const answers = [await connectAndAsk(port), await connectAndAsk(sockPath)];
      fs.writeFileSync(gate, '');
      for (const answer of answers) assert.equal(parseResponse(await answer.reply).status, 200);
      await s.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
});
