// The control socket as a protocol, through a real server: requests are checked against the typed
// protocol (core/control-protocol.ts) before anything acts on them, and every state-changing
// request runs in the arbiter's loop, one after another, answering with the state it left.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from '../../runtime/src/control';
import { COMMANDS } from '../../runtime/src/core/control-protocol';
import { FIXTURES, Server, startServer, waitUntil } from '../helpers';

const APPS = path.join(FIXTURES, 'arbiter');
const started: Server[] = [];
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

/** Sends one raw line and returns the one answer line, parsed. */
function rawLine(socketPath: string, line: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = net.connect({ path: socketPath });
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(line + '\n'));
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        conn.destroy();
        resolve(JSON.parse(buf.slice(0, nl)));
      }
    });
    conn.on('error', reject);
  });
}

async function serverWithSocket(): Promise<{ s: Server; sock: string }> {
  const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-control-')), 'ctl.sock');
  const s = await startServer(['--chdir', APPS, '-w', '1', '--control-socket', sock, 'app:app']);
  started.push(s);
  return { s, sock };
}

describe('the control protocol', () => {
  test('concurrent add requests run one after another in the loop, each answering the count it left', async () => {
    const { s, sock } = await serverWithSocket();
    const answers = await Promise.all([request(sock, { command: 'add' }), request(sock, { command: 'add', count: 2 })]);
    for (const a of answers) assert.ok(a.ok, JSON.stringify(a));
    const counts = answers.map((a) => (a.ok ? a.result.workers : 0)).sort();
    // 1 + 1 = 2 then 2 + 2 = 4, or 1 + 2 = 3 then 3 + 1 = 4: never two answers computed from the same start.
    assert.ok(JSON.stringify(counts) === '[2,4]' || JSON.stringify(counts) === '[3,4]', `answers ${JSON.stringify(counts)}`);
    await waitUntil(async () => {
      const st = await request(sock, { command: 'status' });
      return st.ok && st.result.master.workers === 4 && st.result.workers.filter((w) => w.state === 'idle').length === 4;
    }, 20000, 'four idle workers');
    const removed = await Promise.all([request(sock, { command: 'remove', count: 2 }), request(sock, { command: 'remove', count: 2 })]);
    // The second runs after the first left 2 workers: removing 2 more would leave none, so it is refused.
    const ok = removed.filter((a) => a.ok);
    const refused = removed.filter((a) => !a.ok);
    assert.equal(ok.length, 1, JSON.stringify(removed));
    assert.deepEqual(ok[0], { ok: true, result: { workers: 2 } });
    assert.deepEqual(refused, [{ ok: false, error: 'cannot remove 2: 2 running and at least 1 must stay' }]);
    await s.stop();
  });

  test('requests are checked against the protocol before anything acts on them', async () => {
    const { s, sock } = await serverWithSocket();
    assert.deepEqual(await rawLine(sock, '{"command": "dance"}'),
      { ok: false, error: `unknown command "dance" — use ${COMMANDS.slice(0, -1).join(', ')} or ${COMMANDS[COMMANDS.length - 1]}` });
    assert.deepEqual(await rawLine(sock, 'status please'), { ok: false, error: 'not JSON: status please' });
    assert.deepEqual(await rawLine(sock, '[1]'),
      { ok: false, error: 'a request is a JSON object with a "command", e.g. {"command": "status"}' });
    assert.deepEqual(await rawLine(sock, '{"command": "add", "count": 0}'),
      { ok: false, error: 'count must be a whole number of at least 1, got 0' });
    assert.deepEqual(await rawLine(sock, '{"command": "kill", "pid": 1}'),
      { ok: false, error: 'no worker with pid 1 — see "status" for the workers\' pids' });
    const status = await rawLine(sock, '{"command": "status"}') as { ok: boolean; result: { master: { workers: number } } };
    assert.equal(status.ok, true);
    assert.equal(status.result.master.workers, 1, 'nothing above changed the server');
    await s.stop();
  });
});
