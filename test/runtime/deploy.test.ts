// The deployment recipes of examples/deploy, run as far as this machine allows: the systemd service's
// command under Debian's systemd-socket-activate, the nginx site in front of Unicorn on a unix socket,
// and the timings of the Kubernetes manifest, the systemd unit and the Dockerfile checked against the
// shared config as Unicorn itself reads it (--print-config).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, EXAMPLES, FIXTURES, SYSTEM_PYTHON, freePort, get, killGroup, rawRequest, parseResponse, runCli, spawnGroup, waitUntil } from '../helpers';

const DEPLOY = path.join(EXAMPLES, 'deploy');
const CONF = path.join(DEPLOY, 'unicorn.conf.py');
const APPS = path.join(FIXTURES, 'ops');
const groups: number[] = [];
after(() => {
  for (const pid of groups) killGroup(pid, 'SIGKILL');
});

/** The shared config's settings, as Unicorn resolves them. */
async function settings(): Promise<Record<string, unknown>> {
  const r = await runCli(['--print-config', '-c', CONF, '--chdir', APPS, 'gate_app:app'], { python: SYSTEM_PYTHON });
  assert.equal(r.code, 0, r.stderr);
  const out: Record<string, unknown> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(\w+)\s+= (.*)$/.exec(line);
    if (!m) continue;
    const literal: Record<string, unknown> = { None: null, True: true, False: false };
    if (m[2] in literal) out[m[1]] = literal[m[2]];
    else {
      try {
        out[m[1]] = JSON.parse(m[2]);
      } catch {
        out[m[1]] = m[2]; // a Python literal these tests do not read
      }
    }
  }
  return out;
}

function portOf(address: string): number {
  return Number(/:(\d+)$/.exec(address)![1]);
}

/** `Key=value` lines of a systemd unit (the last one of a key wins, as in systemd). */
function unit(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(DEPLOY, 'systemd', file), 'utf8').split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** A process in its own group, its output collected. */
function launch(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { proc: ChildProcess; output: () => string } {
  const proc = spawnGroup(cmd, args, { env });
  groups.push(proc.pid!);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (proc.exitCode !== null ? resolve(proc.exitCode) : proc.once('exit', (code) => resolve(code))));
}

/** The notify socket stand-in: the messages it has received so far, with their senders' pids. */
async function notifySocket(where: string): Promise<() => Array<{ pid: number; message: string }>> {
  const reader = launch(SYSTEM_PYTHON, [path.join(APPS, 'notify_reader.py'), where]);
  await waitUntil(() => /^bound$/m.test(reader.output()), 15000, 'the notify socket');
  return () => reader.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

/** Index of the first message after `from` that has all these lines (waits for it). */
async function nextMessage(messages: () => Array<{ message: string }>, lines: RegExp[], from = 0): Promise<number> {
  let at = -1;
  await waitUntil(() => {
    at = messages().findIndex((m, i) => i >= from && lines.every((re) => re.test(m.message)));
    return at >= 0;
  }, 30000, `a notify message with ${lines.join(' ')}; got ${JSON.stringify(messages())}`);
  return at;
}

/** Children of `pid` whose command line matches `re` (the arbiter's helper processes). */
function childPidsWith(pid: number, re: RegExp): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((child) => {
    try {
      const stat = fs.readFileSync(`/proc/${child}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid && re.test(fs.readFileSync(`/proc/${child}/cmdline`, 'utf8'));
    } catch {
      return false;
    }
  });
}

describe('systemd recipe', () => {
  test('the service command serves the socket unit\'s socket (LISTEN_FDS) and stops cleanly on TERM', async () => {
    const socket = unit('unicorn.socket');
    const service = unit('unicorn.service');
    assert.equal(portOf(socket.ListenStream), portOf(((await settings()).bind as string[])[0]));
    // ExecStart's arguments with the recipe's paths pointed at this checkout.
    const args = service.ExecStart.split(/\s+/).slice(1).map((a) => (a === '/etc/unicorn/unicorn.conf.py' ? CONF : a === 'app:app' ? 'gate_app:app' : a));
    const port = await freePort();
    const metrics = await freePort();
    const notify = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-notify-')), 'notify');
    const messages = await notifySocket(notify);
    const { proc, output } = launch('systemd-socket-activate', [
      '-l', `127.0.0.1:${port}`, '-E', 'PATH', '-E', 'HOME', '-E', `NOTIFY_SOCKET=${notify}`,
      process.execPath, CLI, '--python', SYSTEM_PYTHON, ...args, '--chdir', APPS, '-w', '2', '--metrics-bind', `127.0.0.1:${metrics}`,
    ]);
    // systemd-socket-activate starts Unicorn on the first connection, which waits in the queue meanwhile.
    await waitUntil(() => /Listening on 127\.0\.0\.1:\d+ as 3/.test(output()), 15000, 'systemd-socket-activate to listen');
    const first = parseResponse(await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeoutMs: 30000 }));
    assert.equal(first.status, 200);
    assert.match(output(), /Using 1 socket\(s\) from systemd socket activation/);
    assert.match(output(), /^\{.*"s":200.*\}$/m, 'the JSON access log on standard output');
    const unicornPid = proc.pid!; // systemd-socket-activate execs the command: the same pid
    await waitUntil(async () => (await get(metrics, '/readyz').catch(() => ({ status: 0 }))).status === 200, 20000, '/readyz');
    await nextMessage(messages, [/^READY=1$/m]);
    assert.equal((await get(metrics, '/metrics')).status, 200); // starts the listen-queue helper
    // The arbiter's helpers (listen queues, sd_notify) hold no copy of the socket unit's socket, which
    // the arbiter inherited without close-on-exec: a copy would outlive the drain and keep the port open.
    const socketOf = (pid: number, fd: string) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    const listener = socketOf(unicornPid, '3');
    const helpers = childPidsWith(unicornPid, /unicorn_(sockdiag|sdnotify)\.py/);
    assert.equal(helpers.length, 2, 'both helpers running');
    for (const pid of helpers) assert.ok(!fs.readdirSync(`/proc/${pid}/fd`).some((fd) => socketOf(pid, fd) === listener), `helper ${pid} holds ${listener}`);
    process.kill(unicornPid, 'SIGTERM');
    await waitUntil(() => /Shutdown delay: serving 10 s more/.test(output()), 15000, 'the shutdown delay to begin');
    assert.equal((await get(metrics, '/readyz')).status, 503);
    assert.equal((await get(port, '/')).status, 200); // still serving during the delay
    process.kill(unicornPid, 'SIGTERM'); // a second TERM ends the delay
    assert.equal(await exited(proc), 0);
  });

  for (const kind of ['path', 'abstract'] as const) {
    test(`Type=notify (${kind} NOTIFY_SOCKET): READY=1 with MAINPID once the workers boot, RELOADING=1 … READY=1 around HUP, STOPPING=1 at TERM`, async () => {
      const service = unit('unicorn.service');
      assert.equal(service.Type, 'notify');
      assert.equal(service.NotifyAccess, 'all'); // the unit runs Unicorn as www-data: the helper sends as itself
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-notify-'));
      const where = kind === 'path' ? path.join(dir, 'notify') : `@unicorn-test-notify-${process.pid}-${Date.now()}`;
      const messages = await notifySocket(where);
      const args = service.ExecStart.split(/\s+/).slice(1).map((a) => (a === '/etc/unicorn/unicorn.conf.py' ? CONF : a === 'app:app' ? 'gate_app:app' : a));
      const port = await freePort();
      const { proc, output } = launch(process.execPath, [CLI, '--python', SYSTEM_PYTHON, ...args, '--chdir', APPS, '-w', '2',
        '-b', `127.0.0.1:${port}`, '--metrics-bind', '127.0.0.1:0'], { ...process.env, NOTIFY_SOCKET: where });
      const ready = await nextMessage(messages, [/^READY=1$/m, new RegExp(`^MAINPID=${proc.pid}$`, 'm'), /^STATUS=2 of 2 workers booted, 0 busy$/m]);
      // As root the datagram carries the arbiter's own pid (NotifyAccess=main would accept it); else the helper's.
      if (process.getuid?.() === 0) assert.equal(messages()[ready].pid, proc.pid);
      assert.equal((await get(port, '/')).status, 200);
      if (kind === 'path') {
        proc.kill('SIGHUP');
        const reloading = await nextMessage(messages, [/^RELOADING=1$/m, /^MONOTONIC_USEC=\d+$/m], ready + 1);
        await nextMessage(messages, [/^READY=1$/m], reloading + 1);
        await waitUntil(() => /Reload complete/.test(output()), 30000, 'the reload');
      }
      proc.kill('SIGTERM');
      await nextMessage(messages, [/^STOPPING=1$/m], ready + 1);
      proc.kill('SIGTERM'); // ends the config's shutdown delay
      assert.equal(await exited(proc), 0, output());
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  test('TimeoutStopSec covers shutdown_delay + graceful_timeout', async () => {
    const s = await settings();
    const service = unit('unicorn.service');
    assert.ok(Number(service.TimeoutStopSec) > (s.shutdown_delay as number) + (s.graceful_timeout as number));
    assert.equal(service.KillMode, 'mixed');
    assert.equal(service.KillSignal, 'SIGTERM');
  });
});

describe('nginx recipe', () => {
  test('Debian\'s nginx with the site proxies to Unicorn on a unix socket with the forwarding headers', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-nginx-'));
    fs.chmodSync(dir, 0o755);
    const sock = path.join(dir, 'app.sock');
    const port = await freePort();
    const site = fs
      .readFileSync(path.join(DEPLOY, 'nginx', 'unicorn-site.conf'), 'utf8')
      .replace('listen 80;', `listen 127.0.0.1:${port};`)
      .replaceAll('/run/unicorn/app.sock', sock);
    assert.ok(site.includes(`listen 127.0.0.1:${port};`) && site.includes(`server unix:${sock} `), 'the site names its listen port and socket as expected');
    fs.writeFileSync(path.join(dir, 'site.conf'), site);
    const user = process.getuid?.() === 0 ? 'user root;\n' : '';
    fs.writeFileSync(path.join(dir, 'nginx.conf'), `${user}worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\n` +
      `events { worker_connections 64; }\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n` +
      `  fastcgi_temp_path ${dir}/fcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n  include ${dir}/site.conf;\n}\n`);
    const metrics = await freePort();
    const unicorn = launch(process.execPath, [CLI, '--python', SYSTEM_PYTHON, '-c', CONF, '-b', `unix:${sock}`, '-w', '1', '--shutdown-delay', '0',
      '--metrics-bind', `127.0.0.1:${metrics}`, '--chdir', APPS, 'gate_app:environ']);
    await waitUntil(async () => (await get(metrics, '/readyz').catch(() => ({ status: 0 }))).status === 200, 20000, 'Unicorn ready');
    const nginx = launch('/usr/sbin/nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;']);
    try {
      await waitUntil(async () => (await get(port, '/').catch(() => ({ status: 0 }))).status === 200, 20000, 'nginx to answer');
      // A client's own X-Forwarded-Proto is replaced by nginx's $scheme, which Unicorn trusts from its unix socket peer.
      const res = parseResponse(await rawRequest(port, 'GET /through HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n'));
      assert.equal(res.status, 200);
      const env = JSON.parse(res.body.toString());
      assert.equal(env.HTTP_HOST, 'shop.example');
      assert.equal(env.HTTP_X_FORWARDED_FOR, '127.0.0.1');
      assert.equal(env.HTTP_X_FORWARDED_PROTO, 'http');
      assert.equal(env['wsgi.url_scheme'], 'http');
      assert.equal(env.PATH_INFO, '/through');
    } finally {
      nginx.proc.kill('SIGQUIT');
      await exited(nginx.proc);
      unicorn.proc.kill('SIGTERM');
      await exited(unicorn.proc);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Kubernetes and Docker recipes', () => {
  function manifests(): any[] {
    const file = path.join(DEPLOY, 'kubernetes', 'unicorn.yaml');
    const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  test('the manifests are valid Kubernetes objects (kubernetes-models\' JSON schemas)', async () => {
    // kubernetes-models is ESM only; this file is compiled as CommonJS.
    const { Deployment } = await import('kubernetes-models/apps/v1');
    const { Service } = await import('kubernetes-models/v1');
    const models: Record<string, (doc: any) => { validate(): void }> = {
      Deployment: (doc) => new Deployment(doc),
      Service: (doc) => new Service(doc),
    };
    const docs = manifests();
    assert.deepEqual(docs.map((d) => d.kind).sort(), Object.keys(models).sort());
    for (const doc of docs) models[doc.kind](doc).validate();
    // The schemas do catch a wrong type: a port given as a string is refused.
    const broken = structuredClone(docs.find((d) => d.kind === 'Deployment'));
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    assert.throws(() => new Deployment(broken).validate(), /containerPort must be integer/);
  });

  test('probes, ports and the stop timings agree with the config', async () => {
    const s = await settings();
    const docs = manifests();
    const deployment = docs.find((d) => d.kind === 'Deployment');
    const service = docs.find((d) => d.kind === 'Service');
    assert.ok(deployment && service, 'a Deployment and a Service');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    const ports: Record<string, number> = Object.fromEntries(container.ports.map((p: any) => [p.name, p.containerPort]));
    assert.equal(ports.http, portOf((s.bind as string[])[0]));
    assert.equal(ports.metrics, portOf(s.metrics_bind as string));
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) assert.equal(probe.httpGet.port, 'metrics');
    // The grace period outlasts the delay and the drain; the delay outlasts the readiness probe's verdict.
    assert.ok(pod.terminationGracePeriodSeconds > (s.shutdown_delay as number) + (s.graceful_timeout as number));
    assert.ok(container.readinessProbe.periodSeconds * container.readinessProbe.failureThreshold <= (s.shutdown_delay as number));
    assert.equal(container.lifecycle?.preStop, undefined, 'no preStop hook: shutdown_delay does its job');
    assert.deepEqual(deployment.spec.selector.matchLabels, service.spec.selector);
    for (const p of service.spec.ports) assert.ok(p.targetPort in ports, `Service port ${p.name} targets a container port`);
    assert.equal(container.args[container.args.indexOf('-c') + 1], '/etc/unicorn/unicorn.conf.py');
  });

  test('the Dockerfile exposes the config\'s ports, stops with TERM and checks /healthz', async () => {
    const s = await settings();
    const docker = fs.readFileSync(path.join(DEPLOY, 'docker', 'Dockerfile'), 'utf8');
    const exposed = /^EXPOSE (.*)$/m.exec(docker)![1].split(/\s+/).map(Number).sort();
    assert.deepEqual(exposed, [portOf((s.bind as string[])[0]), portOf(s.metrics_bind as string)].sort());
    assert.match(docker, /^STOPSIGNAL SIGTERM$/m);
    assert.match(docker, new RegExp(`HEALTHCHECK .*:${portOf(s.metrics_bind as string)}/healthz`));
    assert.match(docker, /^COPY unicorn\.conf\.py \/etc\/unicorn\/unicorn\.conf\.py$/m);
  });
});
