// Issue 16, through the real processes: the pid file and symlinks, the runtime directory and spoofed
// control sockets, files left in /dev/shm, workers outliving a killed master, preloaded boot failures,
// and a gthread client that does not read its response.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES, Server, get, isAlive, killGroup, parseResponse, rawRequest, runCli, startServer, waitUntil } from '../helpers';

const APPS = path.join(FIXTURES, 'harden');
const started: Server[] = [];
const helpers: ChildProcess[] = [];
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
  for (const h of helpers) if (h.pid) killGroup(h.pid, 'SIGKILL');
});

function tmp(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `unicorn-${tag}-`));
}

async function serve(args: string[], env: Record<string, string> = {}): Promise<Server> {
  const s = await startServer(['--chdir', APPS, ...args, 'app:app'], { env });
  started.push(s);
  return s;
}

/** A second local user for the test, removed again afterwards (the suite runs as root). */
function withOtherUser(): { uid: number; gid: number; remove: () => void } {
  const name = `ucnh${process.pid}`;
  execFileSync('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
  const entry = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))!.split(':');
  return { uid: Number(entry[2]), gid: Number(entry[3]), remove: () => execFileSync('userdel', [name]) };
}

const root = process.geteuid?.() === 0;

describe('the pid file', () => {
  test('a pid path that is a symlink is replaced, its target untouched; the file goes at exit', async () => {
    const dir = tmp('pidlink');
    const target = path.join(dir, 'precious.txt');
    fs.writeFileSync(target, 'not yours\n');
    const pidfile = path.join(dir, 'server.pid');
    fs.symlinkSync(target, pidfile);
    const s = await serve(['--pid', pidfile]);
    assert.equal(fs.readFileSync(target, 'utf8'), 'not yours\n', 'the symlink target is untouched');
    const st = fs.lstatSync(pidfile);
    assert.ok(st.isFile() && !st.isSymbolicLink(), 'the pid file is a file of its own');
    assert.equal(fs.readFileSync(pidfile, 'utf8'), `${s.pid}\n`);
    assert.equal((st.mode & 0o777).toString(8), '644');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['precious.txt', 'server.ctl', 'server.pid'], 'no temporary file left');
    assert.equal((await s.stop()).code, 0);
    assert.ok(!fs.existsSync(pidfile), 'removed at exit');
    assert.equal(fs.readFileSync(target, 'utf8'), 'not yours\n');
  });

  test('a pid file that no longer holds our pid is left alone at exit', async () => {
    const pidfile = path.join(tmp('pidother'), 'server.pid');
    const s = await serve(['--pid', pidfile]);
    fs.writeFileSync(pidfile, '1\n'); // another server took the name meanwhile
    assert.equal((await s.stop()).code, 0);
    assert.equal(fs.readFileSync(pidfile, 'utf8'), '1\n');
  });
});

describe('the runtime directory and the control socket', { skip: !root && 'needs root to make a second user' }, () => {
  test('a runtime directory of another user, or open to others, is refused with the fix; a missing one is made 0700', async () => {
    const other = withOtherUser();
    try {
      const xdg = tmp('xdg');
      const dir = path.join(xdg, 'unicorn');
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.chownSync(dir, other.uid, other.gid);
      fs.writeFileSync(path.join(dir, '12345.ctl'), ''); // what a spoofer leaves for discovery
      const s = await serve([], { XDG_RUNTIME_DIR: xdg });
      await s.waitForOutput(new RegExp(`runtime directory ${dir} belongs to uid ${other.uid}, not to you \\(uid 0\\) — .*remove it \\(rm -r ${dir}\\) or set XDG_RUNTIME_DIR`));
      assert.deepEqual(fs.readdirSync(dir), ['12345.ctl'], 'no socket of ours in their directory');
      assert.equal((await get(s.port, '/')).status, 200, 'the server itself runs');
      const ctl = await runCli(['ctl', 'status'], { env: { XDG_RUNTIME_DIR: xdg } });
      assert.equal(ctl.code, 2, ctl.stderr);
      assert.match(ctl.stderr, new RegExp(`^unicorn: error: ctl: runtime directory ${dir} belongs to uid ${other.uid}, not to you`));
      await s.stop();

      fs.rmSync(dir, { recursive: true });
      fs.mkdirSync(dir, { mode: 0o755 });
      fs.chmodSync(dir, 0o755);
      const open = await serve([], { XDG_RUNTIME_DIR: xdg });
      await open.waitForOutput(new RegExp(`runtime directory ${dir} is open to others \\(mode 755\\) — make it private: chmod 700 ${dir}`));
      await open.stop();

      fs.rmSync(dir, { recursive: true });
      const fresh = await serve([], { XDG_RUNTIME_DIR: xdg });
      await waitUntil(() => fs.existsSync(path.join(dir, `${fresh.pid}.ctl`)), 10000, 'the control socket');
      assert.equal((fs.statSync(dir).mode & 0o777).toString(8), '700');
      const ok = await runCli(['ctl', '--json', 'status'], { env: { XDG_RUNTIME_DIR: xdg } });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(JSON.parse(ok.stdout).master.pid, fresh.pid);
      await fresh.stop();
    } finally {
      other.remove();
    }
  });

  test('ctl refuses a control socket served by another user, before it sends anything', async () => {
    const other = withOtherUser();
    let spoofer: ChildProcess | undefined;
    try {
      const dir = tmp('spoof');
      fs.chmodSync(dir, 0o777);
      const sock = path.join(dir, 'c.sock');
      const got = path.join(dir, 'received');
      // The spoofer: answers every connection at once with a fake status, and records what it was sent.
      const script = `
        const net = require('net'), fs = require('fs');
        net.createServer((c) => {
          c.write(JSON.stringify({ ok: true, result: { master: { pid: 1, app: 'SPOOFED', workers: 0, listeners: [], uptime: 0, rss: 0, python: '', worker_class: '' }, workers: [] } }) + '\\n');
          c.on('data', (d) => fs.appendFileSync(${JSON.stringify(got)}, d));
        }).listen(${JSON.stringify(sock)}, () => console.log('ready'));`;
      const proc = spawn(process.execPath, ['-e', script], { uid: other.uid, gid: other.gid, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
      spoofer = proc;
      helpers.push(proc);
      await new Promise<void>((resolve) => proc.stdout!.once('data', () => resolve()));
      assert.equal(fs.statSync(sock).uid, other.uid);
      const r = await runCli(['ctl', '--socket', sock, 'status']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /SPOOFED/);
      assert.match(r.stderr, new RegExp(`^unicorn: error: ctl: ${sock} is served by uid ${other.uid} \\(pid ${spoofer.pid}\\), not by you \\(uid 0\\) or root — refusing to trust it`));
      assert.ok(!fs.existsSync(got), 'the request never reached the spoofer');
    } finally {
      // The user can be removed only once no process of theirs is left.
      const p = spoofer;
      if (p?.pid) {
        const gone = new Promise((resolve) => (p.exitCode !== null || p.signalCode !== null ? resolve(null) : p.once('exit', resolve)));
        killGroup(p.pid, 'SIGKILL');
        await gone;
      }
      other.remove();
    }
  });
});

describe('files in /dev/shm (worker_tmp_dir)', () => {
  for (const preload of [false, true]) {
    test(`nothing is left after a clean TERM${preload ? ' with --preload' : ''}`, async () => {
      const dir = tmp('shm');
      const s = await serve(['--worker-tmp-dir', dir, '-w', '2', ...(preload ? ['--preload'] : [])]);
      assert.ok(fs.readdirSync(dir).some((n) => n.endsWith('.scoreboard')));
      if (preload) assert.ok(fs.readdirSync(dir).some((n) => n.endsWith('.workers.sock')));
      assert.equal((await s.stop()).code, 0);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  }

  test('the default place, /dev/shm: no file of the server is left after TERM with --preload', async () => {
    const s = await serve(['--preload']);
    const ours = () => fs.readdirSync('/dev/shm').filter((n) => n.startsWith(`unicorn-${s.pid}-`));
    assert.ok(ours().length >= 2, `scoreboard and worker socket in /dev/shm: ${ours()}`);
    assert.equal((await s.stop()).code, 0);
    assert.deepEqual(ours(), []);
  });

  test('the files of a killed server are removed by the next start; those of a live one stay', async () => {
    const dir = tmp('stale');
    const killed = await serve(['--worker-tmp-dir', dir, '--preload']);
    const left = fs.readdirSync(dir);
    assert.equal(left.length, 2, `scoreboard and worker socket: ${left}`);
    await killed.stop('SIGKILL');
    await waitUntil(() => !isAlive(killed.pid), 10000, 'the killed master to be gone');
    assert.deepEqual(fs.readdirSync(dir).sort(), left.sort(), 'SIGKILL leaves them');
    const live = `unicorn-${process.pid}-zzz.scoreboard`; // a running process's (this test's) file
    fs.writeFileSync(path.join(dir, live), '');
    const next = await serve(['--worker-tmp-dir', dir]);
    for (const name of left) assert.match(next.output(), new RegExp(`Removed ${path.join(dir, name).replace(/[.]/g, '\\.')}: its server is gone`));
    const now = fs.readdirSync(dir);
    assert.ok(now.includes(live), 'a live server\'s file stays');
    for (const name of left) assert.ok(!now.includes(name), `${name} removed`);
    await next.stop();
  });
});

describe('the master killed with SIGKILL', () => {
  for (const kind of ['sync', 'gthread']) {
    test(`${kind}: requests in flight are finished, then the workers exit`, async () => {
      const marks = tmp('inflight');
      const n = kind === 'sync' ? 3 : 4;
      const args = kind === 'sync' ? ['-w', '3'] : ['-k', 'gthread', '-w', '1', '--threads', '4'];
      const s = await serve([...args, '--graceful-timeout', '60'], { MARKS: marks });
      const answers = Array.from({ length: n }, (_, i) => get(s.port, `/slow?${i}`));
      await waitUntil(() => fs.readdirSync(marks).filter((m) => m.startsWith('started-')).length === n, 15000, 'every request in the app');
      const workers = [...new Set(fs.readdirSync(marks).map((m) => Number(fs.readFileSync(path.join(marks, m), 'utf8'))))];
      process.kill(s.pid, 'SIGKILL');
      await s.exited();
      fs.writeFileSync(path.join(marks, 'gate'), '');
      const done = await Promise.all(answers);
      assert.deepEqual(done.map((r) => [r.status, r.body.toString()]), Array.from({ length: n }, (_, i) => [200, `finished ${i}`]));
      // Exited: gone, or a zombie waiting for its new parent (init, not us) to reap it — its exit is done.
      const state = (w: number) => { try { return fs.readFileSync(`/proc/${w}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ').slice(0, 2).join(' ppid '); } catch { return 'gone'; } };
      const exited = (w: number) => !isAlive(w) || state(w).startsWith('Z');
      await waitUntil(() => workers.every(exited), 15000, 'the workers to exit').catch((e) => {
        throw new Error(`${e.message}: ${workers.map((w) => `${w}: ${state(w)}`).join(', ')}\n${s.output().slice(-3000)}`);
      });
    });
  }
});

describe('preloaded boot failures', () => {
  test('a preloaded worker that fails to boot logs the traceback, as a worker started on its own does', async () => {
    for (const preload of [true, false]) {
      const r = await runCli(['-c', path.join(APPS, 'boom.conf.py'), '--chdir', APPS, ...(preload ? ['--preload'] : []), '-b', '127.0.0.1:0', 'app:app']);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /Traceback \(most recent call last\):[\s\S]*in post_fork[\s\S]*Boom: post_fork gives up/, `preload ${preload}`);
      if (preload) assert.match(r.stderr, /Worker failed to boot from the preloaded app\nTraceback/);
    }
  });
});

describe('gthread and a client that does not read', () => {
  test('a client that takes its response a little at a time is freed at timeout: one deadline for the whole write', async () => {
    const s = await serve(['-k', 'gthread', '-w', '1', '--threads', '1', '-t', '2', '--log-level', 'debug']);
    const total = 64 << 20;
    const slow = net.connect({ port: s.port, host: '127.0.0.1' });
    let received = 0;
    let ended = false;
    const end = new Promise<void>((resolve) => slow.on('close', () => ((ended = true), resolve())));
    slow.on('error', () => undefined);
    slow.write('GET /big?64 HTTP/1.1\r\nHost: x\r\n\r\n');
    // Takes at most 16 KiB every 200 ms: each partial send makes progress, none finishes the write.
    let trickling = true;
    slow.pause();
    slow.on('data', (d: Buffer) => {
      received += d.length;
      if (trickling) slow.pause();
    });
    const trickle = setInterval(() => slow.resume(), 200);
    slow.setNoDelay(true);
    try {
      // Once the slow client's answer has begun, the only pool thread is its; another client's answer
      // comes only once that thread is free again.
      await waitUntil(() => received > 0, 15000, 'the first bytes of the big response');
      // (It waits out the 2 s deadline and the 1 s linger of the slow client's close: no tight client timeout.)
      const other = parseResponse(await rawRequest(s.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeoutMs: 60000 }));
      assert.equal(other.status, 200);
      clearInterval(trickle);
      trickling = false;
      slow.resume(); // now take whatever the kernel still holds, up to the server's close
      await end;
      assert.ok(ended);
      assert.ok(received < total, `the server gave up before the whole body (${received} of ${total} bytes)`);
      assert.match(s.output(), /client went away while handling \/big\?64: the client took less than the response within 2s/);
    } finally {
      clearInterval(trickle);
      slow.destroy();
    }
    await s.stop();
  });
});
