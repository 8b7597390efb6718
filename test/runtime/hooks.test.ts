// Server hooks from a config file written as for gunicorn, through the real server.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES, Server, ctlRequest, get, runCli, startServer, waitUntil } from '../helpers';

const HOOKS = path.join(FIXTURES, 'hooks');
const APPS = path.join(FIXTURES, 'arbiter');
const started: Server[] = [];
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

/** The workers (the hook process is a child of the arbiter too, so /proc's children would count it). */
async function workers(sock: string): Promise<number[]> {
  return (await ctlRequest(sock, { command: 'status' })).workers.filter((w) => w.state !== 'exiting').map((w) => w.pid);
}

function ctlSocket(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-hookctl-')), 'c.sock');
}

function records(file: string): Array<Record<string, unknown>> {
  if (!fs.existsSync(file)) return [];
  // Complete lines only: the last one may still be being appended by a hook.
  return fs.readFileSync(file, 'utf8').split('\n').slice(0, -1).filter(Boolean).map((l) => JSON.parse(l));
}

describe('master-side hooks', () => {
  test('on_starting, nworkers_changed, when_ready, pre_fork, child_exit, on_reload, pre_exec, on_exit', async () => {
    const record = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-hooks-')), 'calls.jsonl');
    const sock = ctlSocket();
    const s = await startServer(['-c', path.join(HOOKS, 'gunicorn.conf.py'), '--chdir', APPS, '--control-socket', sock, 'app:app'], {
      env: { HOOK_RECORD: record },
    });
    started.push(s);
    await waitUntil(() => records(record).filter((r) => r.hook === 'pre_fork').length === 2, 10000, 'two pre_fork calls');
    let calls = records(record);
    assert.deepEqual(calls[0], { hook: 'on_starting', workers: 2, pid: s.pid });
    assert.match(s.output(), new RegExp(`\\[${s.pid}\\] \\[INFO\\] on_starting hook ran for 2 workers`));
    assert.deepEqual(calls.find((c) => c.hook === 'when_ready'), { hook: 'when_ready', address: [s.url], kept: true, pid: s.pid });
    assert.deepEqual(calls.find((c) => c.hook === 'nworkers_changed'), { hook: 'nworkers_changed', new: 2, old: null });
    assert.deepEqual(calls.filter((c) => c.hook === 'pre_fork'), [
      { hook: 'pre_fork', age: 1, pid: null },
      { hook: 'pre_fork', age: 2, pid: null },
    ]);

    process.kill(s.pid, 'SIGTTIN');
    await waitUntil(() => records(record).some((c) => c.hook === 'nworkers_changed' && c.new === 3 && c.old === 2), 10000, 'nworkers_changed 3');
    await waitUntil(async () => (await workers(sock)).length === 3, 10000, 'three workers');

    const [victim] = await workers(sock);
    process.kill(victim, 'SIGKILL');
    await waitUntil(() => records(record).some((c) => c.hook === 'child_exit' && c.pid === victim), 10000, 'child_exit');

    process.kill(s.pid, 'SIGHUP');
    await waitUntil(() => records(record).some((c) => c.hook === 'on_reload'), 10000, 'on_reload');
    await s.waitForOutput(/Reload complete/);

    process.kill(s.pid, 'SIGUSR2');
    await waitUntil(() => records(record).some((c) => c.hook === 'pre_exec'), 10000, 'pre_exec');
    await s.waitForOutput(/Started a new master with pid (\d+)/);
    const newMaster = Number(/Started a new master with pid (\d+)/.exec(s.output())![1]);
    // The new master runs the same hooks: its on_starting is recorded too. Once it is ready (when_ready,
    // the event that says it serves), stop it before the old one.
    await waitUntil(() => records(record).some((c) => c.hook === 'when_ready' && c.pid === newMaster), 10000, 'the new master\'s when_ready');
    assert.ok(records(record).some((c) => c.hook === 'on_starting' && c.pid === newMaster), 'the new master ran on_starting');
    process.kill(newMaster, 'SIGTERM');
    await waitUntil(() => records(record).filter((c) => c.hook === 'on_exit').length === 1, 15000, 'the new master\'s on_exit');

    assert.equal((await get(s.port, '/')).status, 200);
    assert.equal((await s.stop()).code, 0);
    calls = records(record);
    assert.equal(calls.filter((c) => c.hook === 'on_exit').length, 2);
    assert.equal(calls[calls.length - 1].hook, 'on_exit');
    assert.ok(calls.filter((c) => c.hook === 'child_exit').length >= 4, 'child_exit for the workers stopped at exit');
  });

  test('a TERM that arrives while on_starting runs waits for the loop: on_exit runs, nothing is left behind', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-hookterm-'));
    const record = path.join(dir, 'calls.jsonl');
    const gate = path.join(dir, 'gate');
    const shm = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-hookshm-'));
    const s = await startServer(['-c', path.join(HOOKS, 'gated.conf.py'), '--chdir', APPS, '--worker-tmp-dir', shm, 'app:app'], {
      env: { HOOK_RECORD: record, GATE: gate },
      readyPattern: /on_starting waits for the gate/,
    });
    started.push(s);
    process.kill(s.pid, 'SIGTERM'); // inside on_starting: before the arbiter exists
    fs.writeFileSync(gate, '');
    const end = await s.exited(20000);
    assert.deepEqual(end, { code: 0, signal: null }, s.output());
    assert.deepEqual(records(record).map((c) => c.hook), ['on_starting', 'on_exit']);
    assert.match(s.output(), /Handling signal: term/);
    assert.deepEqual(fs.readdirSync(shm), [], 'no scoreboard or socket file left');
  });

  test('on_starting that raises: nothing starts, the traceback is logged, exit 1', async () => {
    const r = await runCli(['-c', path.join(HOOKS, 'failing.conf.py'), '--chdir', APPS, '-b', '127.0.0.1:0', 'app:app'], {
      env: { FAIL: 'on_starting' },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERROR\] Exception in on_starting hook:\nTraceback \(most recent call last\):[\s\S]*RuntimeError: on_starting says no/);
    assert.match(r.stderr.trim().split('\n').pop()!, /^unicorn: error: the config file's on_starting hook raised an exception — see the traceback above$/);
    assert.doesNotMatch(r.stderr, /Booting worker/);
  });

  test('pre_fork that raises stops the server, as in gunicorn; child_exit that raises is only logged', async () => {
    const r = await runCli(['-c', path.join(HOOKS, 'failing.conf.py'), '--chdir', APPS, '-w', '3', '-b', '127.0.0.1:0', 'app:app'], {
      env: { FAIL: 'pre_fork' },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Exception in pre_fork hook:[\s\S]*RuntimeError: pre_fork says no/);
    assert.match(r.stderr, /Reason: The pre_fork hook raised an exception\./);

    const sock = ctlSocket();
    const s = await startServer(['-c', path.join(HOOKS, 'failing.conf.py'), '--chdir', APPS, '-w', '2', '--control-socket', sock, 'app:app'], {
      env: { FAIL: 'child_exit' },
    });
    started.push(s);
    await waitUntil(async () => (await workers(sock)).length === 2, 10000, 'two workers');
    const [victim] = await workers(sock);
    process.kill(victim, 'SIGKILL');
    await s.waitForOutput(/Exception in child_exit hook:[\s\S]*RuntimeError: child_exit says no/);
    await waitUntil(async () => (await workers(sock)).length === 2 && !(await workers(sock)).includes(victim), 10000, 'a replacement');
    assert.equal((await get(s.port, '/')).status, 200);
    await s.stop();
  });

  test('a config file whose hooks are defined but which fails to load on HUP keeps the old workers', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-hookhup-'));
    const conf = path.join(dir, 'unicorn.conf.py');
    fs.writeFileSync(conf, 'def on_reload(server):\n    raise ValueError("reload refused")\n');
    const sock = ctlSocket();
    const s = await startServer(['-c', conf, '--chdir', APPS, '--control-socket', sock, 'app:app']);
    started.push(s);
    await waitUntil(async () => (await workers(sock)).length === 1, 10000, 'a worker');
    const before = await workers(sock);
    process.kill(s.pid, 'SIGHUP');
    await s.waitForOutput(/Exception in on_reload hook:[\s\S]*ValueError: reload refused/);
    await s.waitForOutput(/Reload failed: the on_reload hook raised an exception; the old workers keep serving/);
    await waitUntil(async () => (await workers(sock)).length === 1, 10000, 'back to the old worker');
    assert.deepEqual(await workers(sock), before);
    await s.stop();
  });
});
