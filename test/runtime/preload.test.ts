// preload_app through the real server: the app is imported once and workers are forked from it.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES, Server, ctlRequest, get, isAlive, runCli, startServer, waitUntil } from '../helpers';

const APPS = path.join(FIXTURES, 'preload');
const started: Server[] = [];
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

function recordFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-preload-')), 'imports.txt');
}

/** The pids in the record, one complete line each (a line still being appended is not one yet). */
function imports(file: string): number[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(0, -1).filter(Boolean).map(Number) : [];
}

function ppid(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Workers that have booted and not begun to exit. */
async function workers(sock: string): Promise<number[]> {
  const status = await ctlRequest(sock, { command: 'status' });
  return status.workers.filter((w) => w.state === 'idle' || w.state === 'busy').map((w) => w.pid);
}

/** One wrk run; resolves to its exit code and output. */
function wrk(port: number, seconds: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', ['-t', '2', '-c', '16', '-d', `${seconds}s`, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
  });
}

async function start(args: string[], record: string, env: Record<string, string> = {}): Promise<{ s: Server; sock: string }> {
  const sock = path.join(path.dirname(record), 'ctl.sock');
  const s = await startServer(['--chdir', APPS, '--control-socket', sock, ...args, 'preapp:app'], { env: { IMPORT_RECORD: record, ...env } });
  started.push(s);
  return { s, sock };
}

describe('preload_app', () => {
  test('the app is imported once, by one process, and every worker is forked from it', async () => {
    const record = recordFile();
    const { s, sock } = await start(['--preload', '-w', '3'], record);
    await waitUntil(async () => (await workers(sock)).length === 3, 10000, 'three workers');
    const [zygote] = imports(record);
    assert.equal(imports(record).length, 1, 'imported once');
    assert.match(s.output(), new RegExp(`Preloading the app in pid: ${zygote}`));
    for (const w of await workers(sock)) assert.equal(ppid(w), zygote, `worker ${w} is a child of the preloading process`);
    // Three slow requests at once keep three sync workers busy: each must be served by another worker.
    const answers = await Promise.all([1, 2, 3].map(() => get(s.port, '/sleep?0.5')));
    assert.equal(new Set(answers.map((a) => a.body.toString().split(' ')[1])).size, 3, 'all three workers serve');

    // Without --preload every worker imports the app itself.
    const plain = recordFile();
    const p = await start(['-w', '3'], plain);
    await waitUntil(() => imports(plain).length === 3, 10000, 'three imports');
    await p.s.stop();
    await s.stop();
  });

  test('a killed worker is replaced from the same preloaded app; the watchdog and max_requests work', async () => {
    const record = recordFile();
    const { s, sock } = await start(['--preload', '-w', '2', '-t', '2', '--max-requests', '5'], record);
    await waitUntil(async () => (await workers(sock)).length === 2, 10000, 'two workers');
    const [victim] = await workers(sock);
    process.kill(victim, 'SIGKILL');
    await s.waitForOutput(new RegExp(`Worker \\(pid:${victim}\\) was sent SIGKILL!`));
    await waitUntil(async () => (await workers(sock)).length === 2 && !(await workers(sock)).includes(victim), 10000, 'a replacement');
    for (let i = 0; i < 12; i++) assert.equal((await get(s.port, '/')).status, 200);
    await s.waitForOutput(/Autorestarting worker after current request/);
    get(s.port, '/sleep?30').catch(() => undefined);
    await s.waitForOutput(/WORKER TIMEOUT \(pid:\d+\)/, 10000);
    await waitUntil(async () => (await workers(sock)).length === 2, 10000, 'two workers again');
    assert.equal(imports(record).length, 1, 'never imported again');
    await s.stop();
  });

  test('recycling under load: --preload -w 4 --max-requests 20 with wrk until 100 recycles, the server never exits', async () => {
    // A forked worker says hello on the worker socket at once; the zygote's "spawned" report may come
    // after it. Hundreds of recycles under load make that order happen; the server must take both.
    // wrk runs in short rounds until the recycles are counted (not for a fixed time, which a busy
    // machine fills with fewer of them).
    const record = recordFile();
    const { s } = await start(['--preload', '-w', '4', '--max-requests', '20'], record);
    const recycles = () => s.output().match(/Autorestarting worker after current request/g)?.length ?? 0;
    for (let round = 0; round < 30 && recycles() < 100; round++) {
      const run = await wrk(s.port, 1);
      assert.equal(run.code, 0, run.out);
      assert.ok(isAlive(s.pid), `the server is still running; output:\n${s.output().slice(-3000)}`);
    }
    assert.ok(recycles() >= 100, `workers were recycled under load (${recycles()} times)`);
    assert.doesNotMatch(s.output(), /failed to boot|Shutting down/);
    assert.equal((await get(s.port, '/')).status, 200);
    assert.equal(imports(record).length, 1, 'never imported again');
    assert.equal((await s.stop()).code, 0);
  });

  test('an app that fails to import under --preload: traceback, exit 4', async () => {
    const r = await runCli(['--chdir', APPS, '--preload', '-b', '127.0.0.1:0', 'preapp:app'], { env: { IMPORT_RECORD: '/no/such/dir/x' } });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /FileNotFoundError/);
    assert.match(r.stderr, /Reason: App failed to load\./);
  });

  test('HUP imports the new code in a new preloading process; a failing import keeps the old workers', async () => {
    const record = recordFile();
    const conf = path.join(path.dirname(record), 'unicorn.conf.py');
    fs.writeFileSync(conf, 'raw_env = ["APP_VERSION=v1"]\n');
    const { s, sock } = await start(['--preload', '-w', '2', '-c', conf], record);
    assert.match((await get(s.port, '/')).body.toString(), /^v1 /);
    fs.writeFileSync(conf, 'raw_env = ["APP_VERSION=v2"]\n');
    process.kill(s.pid, 'SIGHUP');
    await s.waitForOutput(/Reload complete/);
    await waitUntil(async () => (await get(s.port, '/')).body.toString().startsWith('v2 '), 10000, 'v2 served');
    assert.equal(imports(record).length, 2, 'one import per preloading process');
    const [, second] = imports(record);
    await waitUntil(() => !isAlive(imports(record)[0]), 10000, 'the first preloading process to retire');
    const before = await workers(sock);
    fs.writeFileSync(conf, 'raw_env = ["APP_VERSION=v3", "IMPORT_RECORD=/no/such/dir/x"]\n');
    const mark = s.output().length;
    process.kill(s.pid, 'SIGHUP');
    await s.waitForOutput(/Reload failed: the new preloaded app did not load \(App failed to load\.\); the old workers keep serving/, 15000, mark);
    assert.deepEqual((await workers(sock)).sort(), before.sort(), s.output().slice(mark));
    assert.match((await get(s.port, '/')).body.toString(), /^v2 /);
    assert.ok(isAlive(second), 'the serving workers\' preloading process stays');
    await s.stop();
    await waitUntil(() => !isAlive(second), 10000, 'the preloading process to stop with the server');
  });

  test('SIGKILL of the master: the preloading process and every worker are gone within 5 s', async () => {
    const record = recordFile();
    const { s, sock } = await start(['--preload', '-w', '2'], record);
    await waitUntil(async () => (await workers(sock)).length === 2, 10000, 'two workers');
    const pids = [...(await workers(sock)), imports(record)[0]];
    process.kill(s.pid, 'SIGKILL');
    await waitUntil(() => pids.every((p) => !isAlive(p) || fs.readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z')), 5000, 'everything to exit');
  });
});
