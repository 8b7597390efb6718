// Worker signals only set flags and the loop acts; arbiter commands are read by one control-reader thread,
// so `unicorn ctl debug` reaches a sync worker that is busy inside a long request (issue 14, item 4).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, rawRequest, parseResponse, runCli, waitUntil, childPids, FIXTURES, SYSTEM_PYTHON, Server } from '../helpers';

const APPS = path.join(FIXTURES, 'apps');
const servers: Server[] = [];
after(async () => {
  for (const s of servers) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

async function status(sock: string): Promise<any> {
  const r = await runCli(['ctl', '--socket', sock, '--json', 'status']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('worker signals and the control channel', () => {
  test('ctl debug reaches a sync worker busy in a request: the port comes back while the request runs', async () => {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-signals-')), 'ctl.sock');
    const s = await startServer(['--chdir', APPS, '-w', '1', '--control-socket', sock, 'framing_app:app'], { python: SYSTEM_PYTHON });
    servers.push(s);
    let answered = false;
    const pending = rawRequest(s.port, 'GET /sleep?30 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 60000 }).then((raw) => {
      answered = true;
      return raw;
    });
    await waitUntil(async () => (await status(sock)).workers[0]?.state === 'busy', 10000, 'the worker to be busy');
    const pid = (await status(sock)).workers[0].pid;
    const dbg = await runCli(['ctl', '--socket', sock, '--json', 'debug', String(pid)]);
    assert.equal(dbg.code, 0, dbg.stderr);
    assert.ok(JSON.parse(dbg.stdout).port > 0, dbg.stdout);
    // Acted on by the control reader while the loop is still inside the app.
    assert.equal(answered, false);
    assert.equal((await status(sock)).workers[0].state, 'busy');
    await s.stop('SIGKILL', 5000);
    await pending.catch(() => undefined);
  });

  test('USR1 to a worker reopens its logs from the loop, and it keeps serving', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-signals-'));
    const log = path.join(dir, 'error.log');
    const s = await startServer(['--chdir', APPS, '-w', '1', '--error-logfile', log, 'framing_app:app']);
    servers.push(s);
    const [worker] = childPids(s.pid);
    fs.renameSync(log, `${log}.1`);
    process.kill(worker, 'SIGUSR1');
    // The worker writes its next lines to a new file at the old path.
    await waitUntil(() => fs.existsSync(log), 10000, 'the reopened error log');
    const res = parseResponse(await rawRequest(s.port, 'GET /sleep?0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    assert.equal(res.status, 200);
    assert.ok(childPids(s.pid).includes(worker), 'the worker was replaced');
    await s.stop();
  });
});
