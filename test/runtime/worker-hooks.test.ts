// Worker-side server hooks from a config file written as for gunicorn, through the real server:
// sync, gthread and --preload, and what happens when a hook raises.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES, Server, childPids, get, isAlive, rawRequest, runCli, startServer, waitUntil } from '../helpers';

const HOOKS = path.join(FIXTURES, 'worker-hooks');
const APPS = path.join(FIXTURES, 'arbiter');
const started: Server[] = [];
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

type Call = Record<string, unknown> & { hook: string; pid: number };

function recordFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-worker-hooks-')), 'calls.jsonl');
}

function records(file: string): Call[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Call);
}

/** The live workers: children of the arbiter, or of its zygote under --preload. */
function workers(s: Server, preload: boolean): number[] {
  const children = childPids(s.pid);
  if (!preload) return children;
  return children.flatMap((zygote) => childPids(zygote));
}

const MODES: Array<[string, string[]]> = [
  ['sync', []],
  ['gthread', ['-k', 'gthread', '--threads', '2']],
  ['--preload', ['--preload']],
];

describe('worker-side hooks', () => {
  for (const [mode, extra] of MODES) {
    test(`every hook is called where gunicorn calls it (${mode})`, async () => {
      const record = recordFile();
      const preload = mode === '--preload';
      const s = await startServer(['-c', path.join(HOOKS, 'gunicorn.conf.py'), '--chdir', APPS, ...extra, 'app:app'], {
        env: { HOOK_RECORD: record },
      });
      started.push(s);
      await waitUntil(() => records(record).some((c) => c.hook === 'post_worker_init'), 10000, 'post_worker_init');
      const [worker] = workers(s, preload);

      const res = await get(s.port, '/pid?x=1', { 'X-Hook-Test': 'yes' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), String(worker));
      assert.equal((await get(s.port, '/refused-by-hook')).status, 500, 'pre_request raising: a 500');
      await s.waitForOutput(/Error handling request \/refused-by-hook\nTraceback[\s\S]*RuntimeError: pre_request says no/);
      assert.equal((await get(s.port, '/post-fails')).status, 200, 'post_request raising: the answer stands');
      await s.waitForOutput(/\[ERROR\] Exception in post_request hook\nTraceback[\s\S]*RuntimeError: post_request says no/);
      assert.equal((await get(s.port, '/pid')).body.toString(), String(worker), 'the same worker carries on');

      let calls = records(record);
      const mine = calls.filter((c) => c.pid === worker);
      assert.deepEqual(mine.slice(0, 2).map((c) => c.hook), ['post_fork', 'post_worker_init']);
      const fork = mine[0];
      assert.deepEqual(
        { server_pid: fork.server_pid, worker_pid: fork.worker_pid, ppid: fork.ppid, age: fork.age, workers: fork.workers },
        { server_pid: s.pid, worker_pid: worker, ppid: s.pid, age: 1, workers: 1 },
      );
      assert.equal(fork.app_loaded, preload, 'post_fork runs before the app is imported, unless it was preloaded');
      assert.match(s.output(), new RegExp(`\\[${worker}\\] \\[INFO\\] post_fork hook ran in worker ${worker}`));
      assert.deepEqual(
        { ...mine[1], pid: 0 },
        { hook: 'post_worker_init', pid: 0, app_loaded: true, kept: true, timeout: 30, worker_class: extra.includes('gthread') ? 'gthread' : 'sync', alive: true, booted: false },
      );
      const pre = mine.find((c) => c.hook === 'pre_request' && c.path === '/pid' && c.query === 'x=1')!;
      assert.deepEqual(
        { method: pre.method, uri: pre.uri, version: pre.version, header: pre.header },
        { method: 'GET', uri: '/pid?x=1', version: [1, 1], header: 'yes' },
      );
      assert.match(String(pre.thread), mode === 'gthread' ? /^unicorn-pool-\d$/ : /^MainThread$/);
      const post = mine.find((c) => c.hook === 'post_request' && c.path === '/pid')!;
      assert.deepEqual(
        { status: post.status, status_code: post.status_code, sent: post.sent, environ_path: post.environ_path, same_req: post.same_req },
        { status: '200 OK', status_code: 200, sent: String(worker).length, environ_path: '/pid', same_req: true },
      );
      assert.deepEqual(post.headers, [['Content-Type', 'text/plain'], ['Content-Length', String(String(worker).length)]]);
      const refused = mine.find((c) => c.hook === 'post_request' && c.path === '/refused-by-hook')!;
      assert.equal(refused.status_code, 500, 'post_request sees the 500');

      // INT: worker_int, then worker_exit; the arbiter replaces the worker, whose hooks run again.
      process.kill(worker, 'SIGINT');
      await waitUntil(() => records(record).some((c) => c.hook === 'worker_exit' && c.pid === worker), 10000, 'worker_exit');
      await waitUntil(() => records(record).some((c) => c.hook === 'post_worker_init' && c.pid !== worker), 10000, 'a replacement');
      calls = records(record);
      const end = calls.filter((c) => c.pid === worker).slice(-2);
      assert.deepEqual(end.map((c) => c.hook), ['worker_int', 'worker_exit']);
      assert.equal(end[0].alive, false);
      assert.deepEqual({ server_pid: end[1].server_pid, booted: end[1].booted }, { server_pid: s.pid, booted: true });
      assert.equal(calls.find((c) => c.hook === 'post_fork' && c.pid !== worker)!.age, 2);
      assert.equal((await get(s.port, '/')).status, 200);

      const [second] = workers(s, preload);
      assert.equal((await s.stop()).code, 0);
      assert.ok(records(record).some((c) => c.hook === 'worker_exit' && c.pid === second), 'worker_exit on a graceful stop');
      assert.ok(!records(record).some((c) => c.hook === 'worker_int' && c.pid === second), 'TERM is not INT');
    });
  }

  test('the watchdog\'s timeout: the stacks are dumped, then worker_abort and worker_exit run', async () => {
    const record = recordFile();
    const s = await startServer(['-c', path.join(HOOKS, 'gunicorn.conf.py'), '--chdir', APPS, '-t', '2', 'app:app'], {
      env: { HOOK_RECORD: record },
    });
    started.push(s);
    await waitUntil(() => childPids(s.pid).length === 1, 10000, 'a worker');
    const [victim] = childPids(s.pid);
    const res = rawRequest(s.port, 'GET /sleep?60 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 20000 }).catch((e) => e);
    await waitUntil(() => records(record).some((c) => c.hook === 'worker_exit' && c.pid === victim), 15000, 'worker_exit');
    await waitUntil(() => !isAlive(victim), 5000, 'the hung worker to die');
    assert.deepEqual(records(record).filter((c) => c.pid === victim).slice(-2).map((c) => c.hook), ['worker_abort', 'worker_exit']);
    assert.match(s.output(), /Current thread 0x[0-9a-f]+ \(most recent call first\):/);
    assert.match(s.output(), new RegExp(`\\[CRITICAL\\] WORKER TIMEOUT \\(pid:${victim}\\)`));
    await res;
    await s.stop();
  });
});

// Independent servers (port 0) that mostly wait on a worker's boot or its watchdog: a few at a time.
describe('worker-side hooks that raise', { concurrency: 4 }, () => {
  const failing = path.join(HOOKS, 'failing.conf.py');

  for (const hook of ['post_fork', 'post_worker_init']) {
    for (const preload of [false, true]) {
      test(`${hook} raising is a boot failure: the server stops with exit 3${preload ? ' (--preload)' : ''}`, async () => {
        const r = await runCli(['-c', failing, '--chdir', APPS, '-b', '127.0.0.1:0', ...(preload ? ['--preload'] : []), 'app:app'], {
          env: { FAIL: hook },
        });
        assert.equal(r.code, 3, r.stderr);
        assert.match(r.stderr, new RegExp(`\\[ERROR\\] Exception in ${hook} hook: the worker cannot boot\\nTraceback[\\s\\S]*RuntimeError: ${hook} says no`));
        assert.match(r.stderr, /Reason: Worker failed to boot\./);
      });
    }
  }

  test('worker_int and worker_exit raising are logged; the worker still exits and is replaced', async () => {
    for (const hook of ['worker_int', 'worker_exit']) {
      const s = await startServer(['-c', failing, '--chdir', APPS, '-k', 'gthread', 'app:app'], { env: { FAIL: hook } });
      started.push(s);
      await waitUntil(() => childPids(s.pid).length === 1, 10000, 'a worker');
      const [victim] = childPids(s.pid);
      process.kill(victim, 'SIGINT');
      await s.waitForOutput(new RegExp(`\\[${victim}\\] \\[ERROR\\] Exception in ${hook} hook\\nTraceback[\\s\\S]*RuntimeError: ${hook} says no`));
      await waitUntil(() => !isAlive(victim), 5000, 'the worker to exit');
      await waitUntil(() => childPids(s.pid).length === 1 && !childPids(s.pid).includes(victim), 10000, 'a replacement');
      assert.equal((await get(s.port, '/')).status, 200);
      assert.equal((await s.stop()).code, 0);
    }
  });

  test('worker_abort raising is logged; the hung worker still goes', async () => {
    const s = await startServer(['-c', failing, '--chdir', APPS, '-t', '2', 'app:app'], { env: { FAIL: 'worker_abort' } });
    started.push(s);
    await waitUntil(() => childPids(s.pid).length === 1, 10000, 'a worker');
    const [victim] = childPids(s.pid);
    const res = rawRequest(s.port, 'GET /sleep?60 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 20000 }).catch((e) => e);
    await s.waitForOutput(/Exception in worker_abort hook\nTraceback[\s\S]*RuntimeError: worker_abort says no/, 15000);
    await waitUntil(() => !isAlive(victim), 5000, 'the hung worker to die');
    await res;
    await waitUntil(() => childPids(s.pid).length === 1 && !childPids(s.pid).includes(victim), 10000, 'a replacement');
    await s.stop();
  });
});
