// A stop that loses nothing: connections waiting in the kernel's listen queue when TERM arrives, or when
// workers are retired (HUP's reload, TTOU), are answered, for the sync, gthread, gevent and asgi workers. Real
// sockets, real signals.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES, SYSTEM_PYTHON, Server, childPids, parseResponse, rawRequest, runCli, startServer, waitUntil } from '../helpers';
import { listenQueues } from '../../runtime/src/procinfo';

const APPS = path.join(FIXTURES, 'ops');
const started: Server[] = [];
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

/** Connections waiting in the accept queue of the listener on `port`, as the kernel reports them. */
export function queuedOn(port: number): number {
  for (const q of listenQueues().values()) if (q.port === port) return q.queued;
  return -1;
}

/** Whether `pid` has a signal pending that its handlers have not yet taken (SigPnd/ShdPnd of /proc). */
function signalPending(pid: number): boolean {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return /^(SigPnd|ShdPnd):\s*0*[1-9a-f]/m.test(status);
  } catch {
    return false;
  }
}

const CLASSES: Array<[string, string[], string]> = [
  ['sync', [], 'gate_app:gate'],
  // One thread and one connection per worker: the rest wait in the kernel, as with sync.
  ['gthread', ['--worker-class', 'gthread', '--threads', '1', '--worker-connections', '1'], 'gate_app:gate'],
  // One greenlet, or one asyncio connection, per worker (the gates' sleeps yield): the same queueing.
  ['gevent', ['--worker-class', 'gevent', '--worker-connections', '1'], 'gate_app:gate'],
  ['asgi', ['--worker-class', 'asgi', '--worker-connections', '1'], 'gate_app:asgi_gate'],
];

for (const [name, classArgs, app] of CLASSES) {
  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGTTOU'] as const) {
    describe(`${name} worker, ${signal}`, () => {
      test('every connection queued in the kernel when the workers are told to stop is answered', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-drain-'));
        const gateFile = path.join(dir, 'open');
        const sock = path.join(dir, 'ctl.sock');
        const s = await startServer(['--chdir', APPS, '-w', '2', '--graceful-timeout', '60', '--control-socket', sock, ...classArgs, app], {
          python: SYSTEM_PYTHON,
          env: { GATE_FILE: gateFile },
          readyPattern: /Booting worker[\s\S]*Booting worker/,
        });
        started.push(s);
        await waitUntil(() => queuedOn(s.port) === 0 && childPids(s.pid).length === 2, 15000, 'two workers listening');
        const workers = childPids(s.pid);
        // Two requests occupy the workers (held at the gate); QUEUED more wait in the listen queue.
        const QUEUED = 16;
        const answers = Array.from({ length: QUEUED + 2 }, () =>
          rawRequest(s.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeoutMs: 90000 }).then(
            (raw) => (raw.length ? parseResponse(raw).status : 'closed without an answer'),
            (e: Error) => e.message,
          ),
        );
        await waitUntil(() => queuedOn(s.port) === QUEUED, 15000, `${QUEUED} connections in the listen queue`);
        let old = workers;
        if (signal === 'SIGTERM') {
          s.proc.kill('SIGTERM');
          await s.waitForOutput(/Handling signal: term/);
        } else if (signal === 'SIGHUP') {
          const from = s.output().length;
          s.proc.kill('SIGHUP');
          await s.waitForOutput(/Reload complete/, 30000, from);
        } else {
          // One worker fewer: the arbiter retires the oldest (its state turns "exiting" as it sends TERM).
          s.proc.kill('SIGTTOU');
          let exiting: number[] = [];
          await waitUntil(async () => {
            const r = await runCli(['ctl', '--socket', sock, '--json', 'status']);
            exiting = r.code === 0 ? JSON.parse(r.stdout).workers.filter((w: any) => w.state === 'exiting').map((w: any) => w.pid) : [];
            return exiting.length === 1;
          }, 15000, 'one worker retired');
          old = exiting;
        }
        // The old workers have taken their TERM (none pending) while their requests still wait at the gate.
        await waitUntil(() => old.every((pid) => !signalPending(pid)), 15000, 'the workers to take TERM');
        fs.writeFileSync(gateFile, '');
        const results = await Promise.all(answers);
        const failed = results.filter((r) => r !== 200);
        assert.deepEqual(failed, [], `${failed.length} of ${results.length} requests failed`);
        if (signal === 'SIGTERM') {
          assert.equal((await s.exited(30000)).code, 0);
        } else {
          await waitUntil(() => old.every((pid) => !childPids(s.pid).includes(pid)), 30000, 'the retired workers to exit');
          await s.stop();
        }
        fs.rmSync(dir, { recursive: true, force: true });
      });
    });
  }
}

// What README "Stopping" promises about a connection that arrives after the drain: refused, never reset.
describe('after the stop', () => {
  test('a connection to a stopped server is refused', async () => {
    const s = await startServer(['--chdir', APPS, '-w', '1', 'gate_app:app'], { python: SYSTEM_PYTHON });
    started.push(s);
    assert.equal((await s.stop('SIGTERM', 30000)).code, 0);
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const c = net.connect({ port: s.port, host: '127.0.0.1' });
      c.on('error', resolve);
      c.on('connect', () => resolve(Object.assign(new Error('connected'), { code: 'CONNECTED' })));
    });
    assert.equal(err.code, 'ECONNREFUSED');
  });
});
