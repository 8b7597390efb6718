// A server forked with an IPC channel (as the VS Code extension starts it) stops gracefully when
// its parent disconnects, so it never outlives the editor's extension host.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { test } from 'node:test';
import { CLI, EXAMPLES, SYSTEM_PYTHON, childPids, get, isAlive, waitUntil } from '../helpers';

test('the arbiter stops gracefully when the parent that forked it disconnects', async () => {
  const child = fork(CLI, ['--python', SYSTEM_PYTHON, '--chdir', EXAMPLES, '-w', '2', '-b', '127.0.0.1:0', 'test:app'], { silent: true, execArgv: [] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    let port = 0;
    await waitUntil(() => {
      const m = /Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      port = m ? Number(m[1]) : 0;
      return port > 0 && childPids(child.pid!).length === 2;
    }, 20000, 'the server to listen with two workers');
    // Answers once a worker has imported the app and listens.
    await waitUntil(async () => (await get(port, '/').catch(() => undefined))?.status === 200, 20000, 'a 200 from the app');
    const workers = childPids(child.pid!);

    child.disconnect();
    assert.equal(await exited, 0, `exit code; output:\n${output}`);
    assert.match(output, /Handling signal: term/);
    assert.ok(workers.every((pid) => !isAlive(pid)), 'the workers went with the arbiter');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
