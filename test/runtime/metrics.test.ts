// Operations endpoints through real sockets and processes: /metrics parsed by Debian's
// python3-prometheus-client, figures that move with the load, counters that survive a worker kill,
// /healthz and /readyz (and --shutdown-delay), `unicorn ctl metrics`, the JSON access log.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FIXTURES, SYSTEM_PYTHON, Server, childPids, freePort, get, loadLoop, rawRequest, parseResponse, runCli, startServer, waitUntil,
} from '../helpers';

const APPS = path.join(FIXTURES, 'ops');
const started: Server[] = [];
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

type Families = Record<string, { type: string; samples: Array<[string, Record<string, string>, number]> }>;

/** GET /metrics and parse it with prometheus_client's parser (a format error fails the test there). */
async function scrape(port: number): Promise<Families> {
  const res = await get(port, '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const parsed = spawnSync(SYSTEM_PYTHON, [path.join(APPS, 'parse_metrics.py')], { input: res.body, encoding: 'utf8' });
  assert.equal(parsed.status, 0, parsed.stderr);
  return JSON.parse(parsed.stdout);
}

function value(f: Families, family: string, sample: string, labels: Record<string, string> = {}): number {
  const found = f[family]?.samples.find(([name, l]) => name === sample && Object.entries(labels).every(([k, v]) => l[k] === v));
  assert.ok(found, `${sample}${JSON.stringify(labels)} missing from /metrics`);
  return found[2];
}

/**
 * /metrics once the workers have published at least `n` finished requests: a worker counts in its own memory
 * and publishes at its tick (README "Metrics"), so a scrape right after an answer may not show it yet.
 */
async function scrapeCounted(port: number, n: number): Promise<Families> {
  let f: Families = {};
  await waitUntil(async () => (f = await scrape(port)) && value(f, 'unicorn_request_duration_seconds', 'unicorn_request_duration_seconds_count') >= n, 20000, `${n} requests counted in /metrics`);
  return f;
}

/** Starts a server with metrics on a port of its own; ready once /readyz says so (the app is never probed). */
async function start(args: string[], env: Record<string, string> = {}): Promise<{ s: Server; metrics: number }> {
  const metrics = await freePort();
  const s = await startServer(['--chdir', APPS, '--metrics-bind', `127.0.0.1:${metrics}`, ...args], {
    python: SYSTEM_PYTHON, env, readyPattern: /Metrics at: /,
  });
  started.push(s);
  await waitUntil(async () => (await get(metrics, '/readyz')).status === 200, 20000, '/readyz to say 200');
  return { s, metrics };
}

describe('/metrics', () => {
  test('parses with prometheus_client; requests by status class, the histogram and the families are there', async () => {
    const { s, metrics } = await start(['-w', '2', 'gate_app:app']);
    await waitUntil(async () => value(await scrape(metrics), 'unicorn_workers', 'unicorn_workers', { state: 'idle' }) === 2, 20000, 'two idle workers');
    for (const code of [200, 200, 204, 302, 404, 503]) assert.equal((await get(s.port, `/?status=${code}`)).status, code);
    const f = await scrapeCounted(metrics, 6);
    assert.equal(value(f, 'unicorn_up', 'unicorn_up'), 1);
    assert.equal(value(f, 'unicorn_build_info', 'unicorn_build_info', { worker_class: 'sync' }), 1);
    assert.equal(f.unicorn_requests.type, 'counter');
    assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '2xx' }), 3);
    assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '3xx' }), 1);
    assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '4xx' }), 1);
    assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '5xx' }), 1);
    assert.equal(f.unicorn_request_duration_seconds.type, 'histogram');
    assert.equal(value(f, 'unicorn_request_duration_seconds', 'unicorn_request_duration_seconds_count'), 6);
    assert.equal(value(f, 'unicorn_request_duration_seconds', 'unicorn_request_duration_seconds_bucket', { le: '+Inf' }), 6);
    assert.equal(value(f, 'unicorn_response_body_bytes', 'unicorn_response_body_bytes_total'), 6 * 'hello\n'.length - 'hello\n'.length);
    assert.equal(value(f, 'unicorn_workers', 'unicorn_workers', { state: 'idle' }), 2);
    assert.equal(value(f, 'unicorn_ready', 'unicorn_ready'), 1);
    const pids = childPids(s.pid);
    for (const pid of pids) assert.ok(value(f, 'unicorn_worker_resident_memory_bytes', 'unicorn_worker_resident_memory_bytes', { pid: String(pid) }) > 0);
    // Only on metrics_bind: the app's own port still answers with the app.
    assert.equal((await get(s.port, '/metrics')).body.toString(), 'hello\n');
    assert.equal((await get(metrics, '/healthz')).status, 200);
    assert.equal((await get(metrics, '/readyz')).status, 200);
    assert.equal((await get(metrics, '/other')).status, 404);
  });

  for (const [name, classArgs] of [['sync', []], ['gthread', ['--threads', '2']]] as Array<[string, string[]]>) {
    test(`${name}: requests refused by the parser count under their status class`, async () => {
      const { s, metrics } = await start(['-w', '1', ...classArgs, 'gate_app:app']);
      const bad = parseResponse(await rawRequest(s.port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'));
      assert.equal(bad.status, 400);
      const f = await scrapeCounted(metrics, 1);
      assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '4xx' }), 1);
      assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '2xx' }), 0);
    });
  }

  test('busy workers and the listen queue move with the load', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-metrics-'));
    const gate = path.join(dir, 'open');
    const { s, metrics } = await start(['-w', '2', 'gate_app:gate'], { GATE_FILE: gate });
    const held = Array.from({ length: 5 }, () => rawRequest(s.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 60000 }));
    // Two requests busy in the workers, three waiting in the kernel's accept queue.
    await waitUntil(async () => {
      const f = await scrape(metrics);
      return value(f, 'unicorn_workers', 'unicorn_workers', { state: 'busy' }) === 2 &&
        value(f, 'unicorn_listen_queue', 'unicorn_listen_queue', { listener: s.url }) === 3;
    }, 20000, '2 busy workers and 3 queued connections in /metrics');
    fs.writeFileSync(gate, '');
    for (const raw of await Promise.all(held)) assert.equal(parseResponse(raw).status, 200);
    await waitUntil(async () => {
      const f = await scrape(metrics);
      return value(f, 'unicorn_workers', 'unicorn_workers', { state: 'idle' }) === 2 &&
        value(f, 'unicorn_listen_queue', 'unicorn_listen_queue', { listener: s.url }) === 0;
    }, 20000, 'idle workers and an empty queue');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the listen queue of a unix socket listener too, beside the TCP one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-metrics-'));
    const gate = path.join(dir, 'open');
    const sock = path.join(dir, 'app.sock');
    const { s, metrics } = await start(['-w', '1', '-b', `unix:${sock}`, 'gate_app:gate'], { GATE_FILE: gate });
    const ask = (target: number | string) => rawRequest(target, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 60000 });
    // The only worker holds one request; then 2 connections wait on the unix socket and 3 on the TCP port.
    const first = ask(s.port);
    await waitUntil(async () => value(await scrape(metrics), 'unicorn_workers', 'unicorn_workers', { state: 'busy' }) === 1, 20000, 'the worker busy');
    const held = [first, ask(sock), ask(sock), ask(s.port), ask(s.port), ask(s.port)];
    await waitUntil(async () => {
      const f = await scrape(metrics);
      return value(f, 'unicorn_listen_queue', 'unicorn_listen_queue', { listener: `unix:${sock}` }) === 2 &&
        value(f, 'unicorn_listen_queue', 'unicorn_listen_queue', { listener: s.url }) === 3;
    }, 20000, '2 connections queued on the unix socket and 3 on the TCP port in /metrics');
    fs.writeFileSync(gate, '');
    for (const raw of await Promise.all(held)) assert.equal(parseResponse(raw).status, 200);
    const f = await scrape(metrics);
    assert.equal(value(f, 'unicorn_listen_queue', 'unicorn_listen_queue', { listener: `unix:${sock}` }), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('gthread reports the connections it holds open', async () => {
    const { s, metrics } = await start(['-w', '1', '--threads', '2', '--keep-alive', '30', 'gate_app:app']);
    const net = await import('node:net');
    const socks = await Promise.all(Array.from({ length: 3 }, () => new Promise<import('node:net').Socket>((resolve) => {
      const c = net.connect(s.port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      c.once('data', () => resolve(c));
    })));
    const pid = childPids(s.pid)[0];
    await waitUntil(async () => value(await scrape(metrics), 'unicorn_worker_connections', 'unicorn_worker_connections', { pid: String(pid) }) === 3, 20000, '3 open connections');
    for (const c of socks) c.destroy();
    await waitUntil(async () => value(await scrape(metrics), 'unicorn_worker_connections', 'unicorn_worker_connections', { pid: String(pid) }) === 0, 20000, 'no open connection');
  });

  test('gthread counts every request its pool threads finish concurrently', async () => {
    const { s, metrics } = await start(['-w', '1', '--threads', '4', 'gate_app:app']);
    const load = await loadLoop(s.port, { requests: 300, concurrency: 16 });
    assert.equal(load.failed, 0, load.errors.join('\n'));
    const f = await scrapeCounted(metrics, 300);
    assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '2xx' }), 300);
    assert.equal(value(f, 'unicorn_request_duration_seconds', 'unicorn_request_duration_seconds_count'), 300);
  });

  test('counters survive a worker kill; the restart is counted as a crash, a reload as reload', async () => {
    const { s, metrics } = await start(['-w', '1', 'gate_app:app']);
    for (let i = 0; i < 5; i++) assert.equal((await get(s.port, '/')).status, 200);
    // What a worker published survives it (a SIGKILL takes what it counted since its last tick).
    await scrapeCounted(metrics, 5);
    const [first] = childPids(s.pid);
    process.kill(first, 'SIGKILL');
    await waitUntil(() => {
      const now = childPids(s.pid);
      return now.length === 1 && now[0] !== first;
    }, 20000, 'a replacement worker');
    assert.equal((await get(s.port, '/')).status, 200);
    let f = await scrapeCounted(metrics, 6);
    assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '2xx' }), 6);
    assert.equal(value(f, 'unicorn_worker_restarts', 'unicorn_worker_restarts_total', { reason: 'crash' }), 1);
    const from = s.output().length;
    s.proc.kill('SIGHUP');
    await s.waitForOutput(/Reload complete/, 30000, from);
    await waitUntil(async () => value(await scrape(metrics), 'unicorn_worker_restarts', 'unicorn_worker_restarts_total', { reason: 'reload' }) === 1, 20000, 'the reload counted');
    f = await scrape(metrics);
    assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '2xx' }), 6);
    assert.equal(value(f, 'unicorn_worker_restarts', 'unicorn_worker_restarts_total', { reason: 'timeout' }), 0);
  });

  test('a worker replaced after max_requests is counted as such', async () => {
    const { s, metrics } = await start(['-w', '1', '--max-requests', '2', 'gate_app:app']);
    const [first] = childPids(s.pid);
    for (let i = 0; i < 2; i++) assert.equal((await get(s.port, '/')).status, 200);
    await waitUntil(async () => value(await scrape(metrics), 'unicorn_worker_restarts', 'unicorn_worker_restarts_total', { reason: 'max_requests' }) === 1, 20000, 'the max_requests restart counted');
    assert.ok(!childPids(s.pid).includes(first));
    const f = await scrape(metrics);
    assert.equal(value(f, 'unicorn_worker_restarts', 'unicorn_worker_restarts_total', { reason: 'crash' }), 0);
    assert.equal(value(f, 'unicorn_requests', 'unicorn_requests_total', { status: '2xx' }), 2);
  });

  test('a worker the watchdog kills is counted as a timeout', async () => {
    const { s, metrics } = await start(['-w', '1', '--timeout', '2', 'gate_app:app']);
    await get(s.port, '/?sleep=30').catch(() => undefined); // the worker is killed under this request
    await waitUntil(async () => value(await scrape(metrics), 'unicorn_worker_restarts', 'unicorn_worker_restarts_total', { reason: 'timeout' }) === 1, 20000, 'the timeout counted');
    assert.equal(value(await scrape(metrics), 'unicorn_worker_restarts', 'unicorn_worker_restarts_total', { reason: 'crash' }), 0);
  });

  test('unicorn ctl metrics shows the same figures', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-metrics-'));
    const sock = path.join(dir, 'ctl.sock');
    const { s, metrics } = await start(['-w', '1', '--control-socket', sock, 'gate_app:app']);
    for (let i = 0; i < 3; i++) await get(s.port, '/?status=404');
    await scrapeCounted(metrics, 3);
    const r = await runCli(['ctl', '--socket', sock, 'metrics']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^unicorn_requests_total\{status="4xx"\} 3$/m);
    const http = (await get(metrics, '/metrics')).body.toString();
    const line = (t: string) => t.split('\n').find((l) => l.startsWith('unicorn_requests_total{status="4xx"}'));
    assert.equal(line(r.stdout), line(http));
    const json = await runCli(['ctl', '--socket', sock, '--json', 'metrics']);
    assert.equal(JSON.parse(json.stdout).totals.byStatus[3], 3);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a bad --metrics-bind is refused with the setting named', async () => {
    const r = await runCli(['--check-config', '--metrics-bind', 'nowhere', '--chdir', APPS, 'gate_app:app'], { python: SYSTEM_PYTHON });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /metrics_bind.*nowhere.*127\.0\.0\.1:9100/);
  });
});

describe('/readyz during a reload', () => {
  test('stays 200 while the new workers boot: the old ones still serve', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-readyz-'));
    const gate = path.join(dir, 'boot');
    fs.writeFileSync(gate, '');
    const { s, metrics } = await start(['-w', '1', 'slow_boot:app'], { BOOT_GATE: gate });
    fs.rmSync(gate); // the next workers wait in their import
    const from = s.output().length;
    s.proc.kill('SIGHUP');
    await s.waitForOutput(/Booting worker with pid/, 15000, from);
    await waitUntil(async () => value(await scrape(metrics), 'unicorn_workers', 'unicorn_workers', { state: 'booting' }) === 1, 20000, 'a new worker booting');
    assert.equal((await get(metrics, '/readyz')).status, 200);
    assert.equal((await get(s.port, '/')).status, 200);
    fs.writeFileSync(gate, '');
    await s.waitForOutput(/Reload complete/, 30000, from);
    assert.equal((await get(metrics, '/readyz')).status, 200);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('--shutdown-delay', () => {
  test('after TERM the server keeps serving while /readyz says 503; a second TERM ends the delay', async () => {
    const { s, metrics } = await start(['-w', '1', '--shutdown-delay', '600', 'gate_app:app']);
    assert.equal((await get(metrics, '/readyz')).status, 200);
    s.proc.kill('SIGTERM');
    await s.waitForOutput(/Shutdown delay: serving 600 s more/);
    assert.equal((await get(metrics, '/readyz')).status, 503);
    assert.equal((await get(metrics, '/healthz')).status, 200);
    assert.equal((await get(s.port, '/')).status, 200);
    assert.equal(value(await scrape(metrics), 'unicorn_ready', 'unicorn_ready'), 0);
    s.proc.kill('SIGTERM');
    assert.equal((await s.exited(30000)).code, 0);
  });
});

describe('--access-log-json', () => {
  test('each access line is a JSON object of gunicorn atoms, on standard output', async () => {
    const s = await startServer(['--chdir', APPS, '--access-logfile', '-', '--access-log-json',
      '--access-logformat', '%(h)s %({x-trace}i)s', 'gate_app:app'], { python: SYSTEM_PYTHON });
    started.push(s);
    await get(s.port, '/path?status=404', { 'X-Trace': 'abc"1', 'User-Agent': 'ua' });
    const m = await s.waitForOutput(/^\{.*"\/path".*\}$/m);
    const line = JSON.parse(m[0]);
    assert.equal(line.s, 404);
    assert.equal(line.b, 6);
    assert.equal(line.m, 'GET');
    assert.equal(line.U, '/path');
    assert.equal(line.q, 'status=404');
    assert.equal(line.a, 'ua');
    assert.equal(line.f, null);
    assert.equal(line['{x-trace}i'], 'abc"1');
    assert.equal(typeof line.D, 'number');
    assert.equal(line.r, 'GET /path?status=404 HTTP/1.1');
    await s.stop();
  });
});
