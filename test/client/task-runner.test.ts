// The `unicorn` task's runner (dist/client/task-runner.js): the server is the task's. A HUP (the
// terminal closing) or TERM (Terminate Task) stops it gracefully; a server that does not finish
// within the grace is killed with its workers; the server is in its own session, so the
// terminal's own HUP to the foreground group never reaches it as "reload".
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from '../../runtime/src/control';
import { after, test } from 'node:test';
import { CLI, FIXTURES, ROOT, SYSTEM_PYTHON, childPids, get, isAlive, waitUntil } from '../helpers';

const RUNNER = path.join(ROOT, 'dist', 'client', 'task-runner.js');
const running: ChildProcess[] = [];
after(() => {
  for (const r of running) {
    for (const pid of [r.pid!, ...childPids(r.pid!)]) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
});

async function startTask(env: NodeJS.ProcessEnv = {}): Promise<{ runner: ChildProcess; output: () => string; master: number; workers: number[]; port: number; socket: string }> {
  const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-task-')), 'c.sock');
  const runner = spawn(process.execPath, [RUNNER, CLI, '--python', SYSTEM_PYTHON, '--chdir', path.join(FIXTURES, 'arbiter'), '-w', '2', '-b', '127.0.0.1:0',
    '--graceful-timeout', '30', '--control-socket', socket, 'app:app'], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(runner);
  let out = '';
  runner.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  runner.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitUntil(() => (out.match(/Booting worker with pid/g) ?? []).length === 2 && /Listening at: http:\/\/127\.0\.0\.1:(\d+) \(/.test(out), 20000, 'the server to boot under the runner');
  const [master] = childPids(runner.pid!);
  // The workers listen() on the socket the master bound: connections are taken once they booted.
  await waitUntil(async () => {
    const answer = await request(socket, { command: 'status' }).catch(() => undefined);
    return Boolean(answer?.ok && (answer.result as { workers: Array<{ state: string }> }).workers.filter((w) => w.state === 'idle').length === 2);
  }, 20000, 'two idle workers');
  return { runner, output: () => out, master, workers: childPids(master), port: Number(/Listening at: http:\/\/127\.0\.0\.1:(\d+) \(/.exec(out)![1]), socket };
}

function exited(p: ChildProcess): Promise<number | null> {
  return p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((resolve) => p.once('exit', (code) => resolve(code)));
}

test('HUP to the runner (its terminal closed) stops the server gracefully, not a reload; nothing is left', async () => {
  const t = await startTask();
  const session = (pid: number) => Number(execFileSync('ps', ['-o', 'sid=', '-p', String(pid)], { encoding: 'utf8' }).trim());
  assert.notEqual(session(t.master), session(t.runner.pid!), 'the server runs in its own session: a terminal\'s HUP reaches the runner only');
  t.runner.kill('SIGHUP');
  assert.equal(await exited(t.runner), 0);
  await waitUntil(() => [t.master, ...t.workers].every((p) => !isAlive(p)), 20000, 'the master and workers to exit');
  assert.match(t.output(), /Handling signal: term/);
  assert.doesNotMatch(t.output(), /Handling signal: hup/);
});

test('a server still busy after the grace is killed, workers included (TERM, as Terminate Task sends)', async () => {
  const t = await startTask({ UNICORN_TASK_GRACE_MS: '1500' });
  const slow = get(t.port, '/sleep?60').catch(() => undefined); // ends when the server is killed // keeps a worker (and so the graceful stop) busy
  await waitUntil(async () => {
    const answer = await request(t.socket, { command: 'status' });
    return answer.ok && (answer.result as { workers: Array<{ state: string }> }).workers.some((w) => w.state === 'busy');
  }, 10000, 'a worker busy with /sleep');
  t.runner.kill('SIGTERM');
  await exited(t.runner);
  await waitUntil(() => [t.master, ...t.workers].every((p) => !isAlive(p)), 20000, 'the master and workers to be gone');
  assert.match(t.output(), /still running 1\.5 s after SIGTERM — killing it/, t.output());
  await slow;
});
