// Drop-in gunicorn configs (issue 10): config files in the shapes real deployments use, each through
// the CLI (--check-config, --print-config, a real start and request), compared with gunicorn's own
// --check-config on the same file, and through the language server with its exact diagnostics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { DiagnosticSeverity } from 'vscode-languageserver-protocol/node';
import { CLI, FIXTURES, SYSTEM_PYTHON, Server, freePort, get, rawRequest, runCli, startServer, waitUntil } from '../helpers';
import { Pki, makePki } from '../pki';
import { LspServer } from '../server/lsp-client';
import { DIRTY_HOOKS, HOOKS, getSetting, nameHint } from '../../runtime/src/core/settings';

const CONFIGS = path.join(FIXTURES, 'configs');
const python = SYSTEM_PYTHON;

let pki: Pki;
let work: string;
before(() => {
  pki = makePki();
});
after(() => {
  fs.rmSync(pki.dir, { recursive: true, force: true });
});

/** A fresh copy of the fixture folder: configs may write files (a log, accesslog = "stdout") where they run. */
function copy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-configs-'));
  fs.cpSync(CONFIGS, dir, { recursive: true });
  return dir;
}

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { TLS_CERT: pki.serverCert, TLS_KEY: pki.serverKey, TLS_CA: pki.caCert, WEB_CONCURRENCY: '1', ...extra };
}

const FILES = fs.readdirSync(CONFIGS).filter((f) => f.endsWith('.conf.py')).sort();

/** Unicorn's verdict where gunicorn's differs on purpose, and why. */
const EXPECTED_DIFFERENCE: Record<string, { unicorn: number; why: RegExp }> = {
  'refused.conf.py': { unicorn: 2, why: /dirty_workers: not supported: Unicorn has no dirty arbiter/ },
};

/** The warnings --check-config prints for each file (file:line: message), exactly. */
function expectedWarnings(dir: string): Record<string, string[]> {
  const at = (file: string, line: number, message: string) => `unicorn: warning: ${path.join(dir, file)}:${line}: ${message}`;
  const r = 'retired.conf.py';
  return {
    'retired.conf.py': [
      at(r, 6, "logfile: gunicorn's retired setting, which is ignored — use errorlog"),
      at(r, 7, "access_logfile: gunicorn's retired setting, which is ignored — use accesslog"),
      at(r, 8, 'debug: gunicorn\'s retired setting, which is ignored — use loglevel = "debug" (and reload = True for restarts on code changes)'),
      at(r, 9, "preload: gunicorn's retired setting, which is ignored — use preload_app"),
      at(r, 10, "command: supervisor's program setting (the command that starts the server), not a gunicorn setting, so it is ignored"),
      at(r, 11, 'log_level: not a setting, so it is ignored — the setting for --log-level is loglevel'),
      at(r, 12, 'acceslogformat: not a setting, so it is ignored — did you mean access_log_format?'),
      at(r, 13, 'pid_file: not a setting, so it is ignored — did you mean pidfile?'),
      at(r, 14, 'limit_request_field: not a setting, so it is ignored — did you mean limit_request_fields?'),
      at(r, 15, 'access_log_format: %(asctime)s is not an atom and print "-" — use h, t, r, s, b, f, a, D, L, {header}i, {header}o, {variable}e …'),
      at(r, 16, 'accesslog: "stdout" writes a file named stdout — "-" means standard output'),
      at(r, 5, 'workers: an annotation assigns nothing, so workers keeps its default — write workers = …'),
      at(r, 22, "after_fork: gunicorn 0.x's hook name, which nothing calls — rename it to post_fork(server, worker)"),
    ],
  };
}

describe('gunicorn configs through the CLI', () => {
  before(() => {
    work = copy();
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  for (const file of FILES) {
    test(`${file}: --check-config gives gunicorn's verdict (Debian's gunicorn 20.1 as the reference)`, async () => {
      const ours = await runCli(['-c', file, '--check-config', 'app:app'], { cwd: work, python, env: env() });
      const theirs = spawnSync(python, ['-m', 'gunicorn', '-c', file, '--check-config', 'app:app'],
        { cwd: work, env: { ...process.env, ...env() }, encoding: 'utf8', timeout: 30000 });
      // gunicorn 20.1 predates the 23–26 names and ignores them as it ignores any module-level name:
      // every file here passes its check, refused.conf.py included.
      assert.equal(theirs.status, 0, `gunicorn --check-config ${file}: ${theirs.stderr}`);
      const differs = EXPECTED_DIFFERENCE[file];
      if (differs) {
        assert.equal(ours.code, differs.unicorn, ours.stderr);
        assert.match(ours.stderr, differs.why);
        assert.equal(ours.stderr.trim().split('\n').length, 1, 'one line naming the setting');
        return;
      }
      assert.equal(ours.code, 0, ours.stderr);
      assert.match(ours.stdout, new RegExp(`configuration OK: .*${file.replace(/\./g, '\\.')}, app app:app imports`));
      const warnings = ours.stderr.split('\n').filter((l) => l.startsWith('unicorn: warning:'));
      assert.deepEqual(warnings, expectedWarnings(work)[file] ?? [], ours.stderr);
    });
  }

  test('--print-config shows what the helpers computed', async () => {
    const print = async (file: string, extra: Record<string, string> = {}) => {
      const r = await runCli(['-c', file, '--print-config', 'app:app'], { cwd: work, python, env: env(extra) });
      assert.equal(r.code, 0, r.stderr);
      return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]));
    };
    const docker = await print('docker_env.conf.py', { PORT: '8123', KEEP_ALIVE: '7' });
    assert.equal(docker.workers, '1');
    assert.equal(docker.bind, '["0.0.0.0:8123"]');
    assert.equal(docker.keepalive, '7');
    assert.equal(docker.graceful_timeout, '120');
    assert.equal(docker.accesslog, '"-"');
    assert.equal(docker.wsgi_app, '"app:app"');
    const dotenv = await print('dotenv_if.conf.py');
    assert.equal(dotenv.workers, '2', 'APP_WORKERS from .env');
    assert.equal(dotenv.preload_app, 'True', 'the production branch of the if');
    assert.equal(dotenv.max_requests, '1000');
    assert.equal(dotenv.bind, '["127.0.0.1:8000"]');
    const g26 = await print('gunicorn26.conf.py');
    assert.equal(g26.root_path, '"/shop"');
    assert.equal(g26.forwarder_headers, '["SCRIPT_NAME", "PATH_INFO", "REMOTE_USER"]');
    assert.equal(g26.control_socket_mode, String(0o660));
    const logging = await print('logging_dict.conf.py', { APP_LOG_FILE: '/tmp/x.log' });
    assert.match(logging.logconfig_dict, /^\{"version": 1, .*"filename": "\/tmp\/x\.log"/);
  });
});

describe('gunicorn configs serve requests', () => {
  let dir: string;
  before(() => {
    dir = copy();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function start(file: string, extra: Record<string, string> = {}, args: string[] = []): Promise<Server> {
    return startServer(['-c', file, ...args, 'app:app'], { cwd: dir, python, env: env(extra) });
  }

  /** Starts the config's server, runs `check` against it, and stops it whatever happens. */
  async function serving(file: string, extra: Record<string, string>, check: (server: Server) => Promise<void>, args: string[] = []): Promise<void> {
    const server = await start(file, extra, args);
    try {
      await check(server);
    } finally {
      await server.stop();
    }
  }

  test('docker_env: env-driven helpers, a printed dict, -b on the command line over the f-string bind', async () => {
    await serving('docker_env.conf.py', {}, async (server) => {
      const r = await get(server.port, '/x');
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body.toString()).PATH_INFO, '/x');
      assert.match(server.output(), /"workers_per_core": 1\.0/, 'what the config prints is shown, not taken for a setting');
    });
  });

  test('dotenv_if: .env read by python-dotenv, settings inside if, preloaded', async () => {
    await serving('dotenv_if.conf.py', {}, async (server) => {
      assert.equal((await get(server.port, '/')).status, 200);
      await server.waitForOutput(/Booting worker with pid: \d+[\s\S]*Booting worker with pid: \d+/);
    });
  });

  test('hooks_elsewhere: hooks imported from another module are called', async () => {
    const marker = path.join(dir, 'hooks.txt');
    await serving('hooks_elsewhere.conf.py', { HOOK_MARKER: marker }, async (server) => {
      assert.equal((await get(server.port, '/')).status, 200);
      await server.waitForOutput(/deploy_hooks: ready/);
      await waitUntil(() => (fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8').match(/post_fork \d+/g)?.length === 2 : false),
        10000, 'post_fork in both workers');
      assert.match(fs.readFileSync(marker, 'utf8'), /^on_starting\n/);
    });
  });

  test('prometheus: child_exit marks the dead worker with prometheus_client', async () => {
    const marker = path.join(dir, 'child_exit.txt');
    const multiproc = fs.mkdtempSync(path.join(dir, 'prom-'));
    await serving('prometheus.conf.py', { HOOK_MARKER: marker, PROMETHEUS_MULTIPROC_DIR: multiproc }, async (server) => {
      assert.equal((await get(server.port, '/')).status, 200);
      await server.waitForOutput(/Booting worker with pid: \d+[\s\S]*Booting worker with pid: \d+/);
      process.kill(server.pid, 'SIGTTOU');
      await waitUntil(() => fs.existsSync(marker) && /^child_exit \d+\n$/.test(fs.readFileSync(marker, 'utf8')), 10000, 'child_exit');
    });
  });

  test('logging_dict: dictConfig sends gunicorn.error, gunicorn.access and the app\'s logger to a file in a custom format; the arbiter follows', async () => {
    const logFile = path.join(dir, 'app.log');
    const server = await start('logging_dict.conf.py', { APP_LOG_FILE: logFile });
    let text = '';
    try {
      assert.equal((await get(server.port, '/orders/log')).status, 200);
      await waitUntil(() => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('gunicorn.access'), 10000, 'the access line');
    } finally {
      await server.stop();
      text = fs.readFileSync(logFile, 'utf8');
    }
    assert.match(text, new RegExp(`^APP INFO gunicorn\\.error \\[${server.pid}\\] Starting unicorn `, 'm'), 'the arbiter\'s line, in the dict\'s format');
    assert.match(text, /^APP WARNING shop\.views \[\d+\] app logger line from \/orders\/log$/m, 'the app\'s own logger');
    assert.match(text, /^APP INFO gunicorn\.access \[\d+\] 127\.0\.0\.1 "GET \/orders\/log HTTP\/1\.1" 200 \d+$/m);
    assert.match(text, /^APP INFO gunicorn\.error \[\d+\] Booting worker with pid/m);
    assert.doesNotMatch(server.output(), /Starting unicorn/, 'nothing left on standard error');
  });

  test('logging_dict with access_log_json: the JSON access lines go through gunicorn.access too', async () => {
    const logFile = path.join(dir, 'json-access.log');
    await serving('logging_dict.conf.py', { APP_LOG_FILE: logFile }, async (server) => {
      assert.equal((await get(server.port, '/json')).status, 200);
      await waitUntil(() => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('GET /json'), 10000, 'the access line');
    }, ['--access-log-json']);
    const line = fs.readFileSync(logFile, 'utf8').split('\n').find((l) => l.startsWith('APP INFO gunicorn.access') && l.includes('/json'))!;
    const json = JSON.parse(line.replace(/^APP INFO gunicorn\.access \[\d+\] /, ''));
    assert.equal(json.r, 'GET /json HTTP/1.1');
    assert.equal(json.s, 200);
  });

  test('logconfig_json and logconfig (fileConfig, with gunicorn\'s %(here)s default): the workers\' loggers; an .ini leaves the arbiter on errorlog', async () => {
    const json = path.join(dir, 'logging.json');
    const jsonLog = path.join(dir, 'json.log');
    fs.writeFileSync(json, JSON.stringify({
      version: 1,
      formatters: { j: { format: 'JSON %(levelname)s %(name)s %(message)s' } },
      handlers: { f: { class: 'logging.FileHandler', filename: jsonLog, formatter: 'j' } },
      loggers: { 'gunicorn.error': { level: 'INFO', handlers: ['f'], propagate: false }, 'gunicorn.access': { level: 'INFO', handlers: ['f'], propagate: false },
        shop: { level: 'INFO', handlers: ['f'], propagate: false } },
      // Merged over gunicorn's defaults with dict.update, as gunicorn does: handlers replaces the default
      // ones, so root (which names the default console handler) must be given too.
      root: { level: 'WARNING', handlers: [] },
    }));
    const ini = path.join(dir, 'logging.ini');
    fs.writeFileSync(ini, [
      '[loggers]', 'keys=root,error,access,shop', '', '[handlers]', 'keys=file', '', '[formatters]', 'keys=ini', '',
      '[logger_root]', 'level=WARNING', 'handlers=', '',
      '[logger_error]', 'level=INFO', 'handlers=file', 'propagate=0', 'qualname=gunicorn.error', '',
      '[logger_access]', 'level=INFO', 'handlers=file', 'propagate=0', 'qualname=gunicorn.access', '',
      '[logger_shop]', 'level=INFO', 'handlers=file', 'propagate=0', 'qualname=shop', '',
      '[handler_file]', 'class=FileHandler', 'formatter=ini', "args=('%(here)s/ini.log', 'a')", '',
      '[formatter_ini]', 'format=INI %(levelname)s %(name)s %(message)s', '',
    ].join('\n'));
    for (const [flag, file, log, prefix, arbiterFollows] of [
      ['--log-config-json', json, jsonLog, 'JSON', true], ['--log-config', ini, path.join(dir, 'ini.log'), 'INI', false],
    ] as const) {
      const server = await startServer([flag, path.basename(file), 'app:app'], { cwd: dir, python, env: env() });
      try {
        assert.equal((await get(server.port, '/j/log')).status, 200);
        await waitUntil(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes(`${prefix} INFO gunicorn.access`), 10000, `${flag}: the access line`);
      } finally {
        await server.stop();
      }
      const text = fs.readFileSync(log, 'utf8');
      assert.match(text, new RegExp(`^${prefix} WARNING shop\\.views app logger line from /j/log$`, 'm'));
      assert.match(text, new RegExp(`^${prefix} INFO gunicorn\\.access 127\\.0\\.0\\.1 - - \\[.*\\] "GET /j/log HTTP/1\\.1" 200 `, 'm'));
      assert.equal(/ gunicorn\.error Starting unicorn/.test(text), arbiterFollows, `${flag}: the arbiter's line in the file`);
      assert.equal(server.output().includes('Starting unicorn'), !arbiterFollows, `${flag}: the arbiter's line on errorlog`);
    }
  });

  test('syslog over UDP: the workers\' error and access lines and the arbiter\'s, as gunicorn formats them', async () => {
    const sock = dgram.createSocket('udp4');
    const packets: string[] = [];
    sock.on('message', (m) => packets.push(m.toString()));
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const server = await start('syslog.conf.py', { SYSLOG_ADDR: `udp://127.0.0.1:${sock.address().port}` });
    try {
      assert.equal((await get(server.port, '/s')).status, 200);
      // local3 (19) * 8 + info (6) = 158; the program name is gunicorn.PREFIX.error / .access.
      await waitUntil(() => packets.some((p) => p.startsWith('<158>gunicorn.shop.access: [')), 10000, 'the access line by syslog');
      assert.ok(packets.includes(`<158>gunicorn.shop.error: [${server.pid}] Listening at: http://127.0.0.1:${server.port} (${server.pid})\0`), packets.join('\n'));
      assert.ok(packets.some((p) => /^<158>gunicorn\.shop\.access: \[\d+\] 127\.0\.0\.1 - - \[.*\] "GET \/s HTTP\/1\.1" 200 \d+ "-" "-"\0$/.test(p)), packets.join('\n'));
      assert.match(server.output(), /"GET \/s HTTP\/1\.1" 200/, 'accesslog = "-" still writes standard output');
    } finally {
      await server.stop();
      sock.close();
    }
  });

  test('syslog to a unix datagram socket (/dev/log style): the workers\' and the arbiter\'s lines; the access log kept out when asked', async () => {
    // Node has no unix datagram sockets: the listener is a Python one.
    const sockPath = path.join(dir, 'log.sock');
    const got = path.join(dir, 'unix-syslog.txt');
    const py = 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("ready",flush=True)\n' +
      'with open(sys.argv[2],"ab") as f:\n    while True:\n        f.write(s.recv(65536)+b"\\n"); f.flush()\n';
    const recv = spawn(python, ['-c', py, sockPath, got], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => recv.stdout!.once('data', () => resolve()));
      const server = await start('syslog.conf.py', { SYSLOG_ADDR: `unix://${sockPath}#dgram` }, ['--disable-redirect-access-to-syslog']);
      try {
        assert.equal((await get(server.port, '/u')).status, 200);
      } finally {
        await server.stop();
      }
      await waitUntil(() => fs.existsSync(got) && fs.readFileSync(got, 'utf8').includes('Worker exiting'), 10000, 'the worker\'s exit line by syslog');
      const text = fs.readFileSync(got, 'utf8');
      assert.match(text, /^<158>gunicorn\.shop\.error: \[\d+\] Worker exiting \(pid: \d+\)\0$/m);
      assert.match(text, /^<158>gunicorn\.shop\.error: \[\d+\] Listening at: http:\/\/127\.0\.0\.1:\d+ \(\d+\)\0$/m, 'the arbiter\'s lines, through its relay');
      assert.doesNotMatch(text, /gunicorn\.shop\.access/);
    } finally {
      recv.kill('SIGKILL');
    }
  });

  test('tls_required: ssl.CERT_REQUIRED, and the ssl_context hook is called (TLS 1.3 only)', async () => {
    const port = await freePort();
    const server = await startServer(['-c', 'tls_required.conf.py', '-b', `127.0.0.1:${port}`, 'app:app'],
      { cwd: dir, python, env: env(), noBind: true, port, readyPattern: /Listening at: https:/ });
    const ca = fs.readFileSync(pki.caCert);
    const client = { cert: fs.readFileSync(pki.clientCert), key: fs.readFileSync(pki.clientKey) };
    const fetch = (opts: https.RequestOptions) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: '/t', ca, agent: false, timeout: 5000, ...opts }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end();
    });
    try {
      await waitUntil(async () => (await fetch(client).catch(() => ({ status: 0 }))).status === 200, 20000, 'an HTTPS answer');
      const ok = await fetch(client);
      assert.equal(JSON.parse(ok.body).url_scheme, 'https');
      await assert.rejects(fetch({}), 'no client certificate: the handshake fails');
      await assert.rejects(fetch({ ...client, maxVersion: 'TLSv1.2' }), 'TLS 1.2: refused by the context the hook returned');
      const version = await new Promise<string | null>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca, ...client, servername: 'localhost' }, () => {
          resolve(s.getProtocol());
          s.end();
        });
        s.on('error', reject);
      });
      assert.equal(version, 'TLSv1.3');
    } finally {
      await server.stop();
    }
  });

  test('gunicorn26: root_path mounts the app, forwarder headers from the trusted proxy (a network: 127.0.0.0/8), the control socket at its path and mode', async () => {
    const ctl = path.join(dir, 'shop.ctl');
    await serving('gunicorn26.conf.py', { CONTROL_SOCKET: ctl }, async (server) => {
      const mounted = JSON.parse((await get(server.port, '/shop/items')).body.toString());
      assert.deepEqual([mounted.SCRIPT_NAME, mounted.PATH_INFO], ['/shop', '/items']);
      const raw = await rawRequest(server.port,
        'GET /api/v1/orders HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /api\r\nREMOTE_USER: bob\r\nX_Other: y\r\nConnection: close\r\n\r\n');
      const body = JSON.parse(raw.toString().split('\r\n\r\n')[1]);
      assert.deepEqual([body.SCRIPT_NAME, body.PATH_INFO, body.REMOTE_USER], ['/api', '/v1/orders', 'bob']);
      await waitUntil(() => fs.existsSync(ctl), 10000, 'the control socket');
      assert.equal(fs.statSync(ctl).mode & 0o777, 0o660);
      const answer = await new Promise<string>((resolve, reject) => {
        const c = net.createConnection(ctl, () => c.write('{"command":"status"}\n'));
        let buf = '';
        c.on('data', (d) => {
          buf += d;
          if (buf.includes('\n')) {
            resolve(buf);
            c.end();
          }
        });
        c.on('error', reject);
      });
      assert.match(answer, /"workers"/);
    });
  });

  test('control_socket_disable (--no-control-socket): no control socket at all', async () => {
    const ctl = path.join(dir, 'none.ctl');
    await serving('gunicorn26.conf.py', { CONTROL_SOCKET: ctl }, async (server) => {
      assert.equal((await get(server.port, '/shop/')).status, 200);
      await server.waitForOutput(/Booting worker/);
      assert.equal(fs.existsSync(ctl), false);
    }, ['--no-control-socket']);
  });

  test('enable_stdio_inheritance (-R): a daemon keeps writing to the terminal\'s streams; without it, to /dev/null', async () => {
    for (const inherit of [true, false]) {
      const pidfile = path.join(dir, `daemon-${inherit}.pid`);
      const port = await freePort();
      const proc = spawn(process.execPath, [CLI, '--python', python, '-D', ...(inherit ? ['-R'] : []), '--pid', pidfile,
        '-b', `127.0.0.1:${port}`, 'app:app'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env() } });
      let out = '';
      proc.stdout!.on('data', (d) => (out += d));
      proc.stderr!.on('data', (d) => (out += d));
      const launcher = await new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
      assert.equal(launcher, 0, 'the launching process returns at once');
      let daemon = 0;
      try {
        await waitUntil(() => fs.existsSync(pidfile), 20000, 'the daemon\'s pid file');
        daemon = Number(fs.readFileSync(pidfile, 'utf8'));
        await waitUntil(async () => (await get(port, '/d').catch(() => undefined))?.status === 200, 20000, 'an answer from the daemon');
        if (inherit) await waitUntil(() => out.includes(`Listening at: http://127.0.0.1:${port}`), 10000, 'the daemon\'s log on the inherited stderr');
        else assert.equal(out, '', 'standard streams on /dev/null');
      } finally {
        if (daemon) process.kill(daemon, 'SIGTERM');
        await waitUntil(() => !fs.existsSync(pidfile), 15000, 'the daemon to stop');
      }
    }
  });

  test('retired: an old config with retired and misspelt names starts, saying what each one is', async () => {
    await serving('retired.conf.py', {}, async (server) => {
      assert.equal((await get(server.port, '/')).status, 200);
      const warning = /\[WARNING\] .*retired\.conf\.py:12: acceslogformat: not a setting, so it is ignored — did you mean access_log_format\?/;
      await server.waitForOutput(warning);
      await waitUntil(() => fs.existsSync(path.join(dir, 'stdout')), 10000, 'accesslog = "stdout" writes a file named stdout');
      assert.doesNotMatch(server.output(), /spew|tmp_upload_dir/, 'spew = False and tmp_upload_dir = None ask for nothing');
      // HUP reads the file again, and says it again.
      const from = server.output().length;
      process.kill(server.pid, 'SIGHUP');
      await server.waitForOutput(warning, 15000, from);
    });
  });
});

describe('gunicorn configs in the language server', () => {
  let server: LspServer;
  before(async () => {
    server = await LspServer.start();
  });
  after(() => server.stop());

  const open = async (file: string) => {
    const full = path.join(CONFIGS, file);
    return server.open(pathToFileURL(full).href, fs.readFileSync(full, 'utf8'));
  };

  test('no error on any config gunicorn accepts; the real-world shapes get no diagnostic at all', async () => {
    for (const file of FILES) {
      const ds = await open(file);
      assert.deepEqual(ds.filter((d) => d.severity === DiagnosticSeverity.Error), [], file);
      if (!['retired.conf.py', 'refused.conf.py'].includes(file)) assert.deepEqual(ds, [], file);
    }
  });

  test('retired.conf.py: each likely mistake, as a warning on its line (the accesslog file name as a hint)', async () => {
    const ds = await open('retired.conf.py');
    const got = ds.map((d) => [d.range.start.line + 1, d.severity, d.code, d.message]).sort((a, b) => (a[0] as number) - (b[0] as number));
    const W = DiagnosticSeverity.Warning;
    assert.deepEqual(got, [
      [5, W, 'annotation-only', 'workers: an annotation assigns nothing, so workers keeps its default — write workers = …'],
      [6, W, 'retired-setting', "logfile: gunicorn's retired setting, which is ignored — use errorlog"],
      [7, W, 'retired-setting', "access_logfile: gunicorn's retired setting, which is ignored — use accesslog"],
      [8, W, 'retired-setting', 'debug: gunicorn\'s retired setting, which is ignored — use loglevel = "debug" (and reload = True for restarts on code changes)'],
      [9, W, 'retired-setting', "preload: gunicorn's retired setting, which is ignored — use preload_app"],
      [10, W, 'unknown-setting', "command: supervisor's program setting (the command that starts the server), not a gunicorn setting, so it is ignored"],
      [11, W, 'unknown-setting', 'log_level: not a setting, so it is ignored — the setting for --log-level is loglevel'],
      [12, W, 'unknown-setting', 'acceslogformat: not a setting, so it is ignored — did you mean access_log_format?'],
      [13, W, 'unknown-setting', 'pid_file: not a setting, so it is ignored — did you mean pidfile?'],
      [14, W, 'unknown-setting', 'limit_request_field: not a setting, so it is ignored — did you mean limit_request_fields?'],
      [15, W, 'access-log-atom', 'access_log_format: %(asctime)s is not an atom and print "-" — use h, t, r, s, b, f, a, D, L, {header}i, {header}o, {variable}e …'],
      [16, DiagnosticSeverity.Information, 'std-stream-name', 'accesslog: "stdout" writes a file named stdout — "-" means standard output'],
      [22, W, 'old-hook', "after_fork: gunicorn 0.x's hook name, which nothing calls — rename it to post_fork(server, worker)"],
    ]);
  });

  test('refused.conf.py: settings Unicorn refuses are warnings that say the start will stop', async () => {
    const ds = await open('refused.conf.py');
    assert.deepEqual(ds.map((d) => [d.range.start.line + 1, d.severity, d.code]), [
      [3, DiagnosticSeverity.Warning, 'not-supported'],
      [4, DiagnosticSeverity.Warning, 'not-supported'],
    ]);
    assert.match(ds[0].message, /^dirty_workers: not supported: Unicorn has no dirty arbiter .* \(unicorn refuses to start with it\)$/);
  });

  test('a logging dict that replaces handlers gunicorn\'s default root still uses: a warning, in the editor and at start', async () => {
    const text = 'logconfig_dict = {\n    "version": 1,\n    "handlers": {"file": {"class": "logging.FileHandler", "filename": "x.log"}},\n' +
      '    "loggers": {"gunicorn.error": {"handlers": ["file"]}},\n}\n';
    const uri = pathToFileURL(path.join(CONFIGS, 'gap.conf.py')).href;
    const [d, ...rest] = await server.open(uri, text);
    assert.deepEqual(rest, []);
    assert.equal(d.severity, DiagnosticSeverity.Warning);
    assert.equal(d.code, 'logconfig-gap');
    assert.match(d.message, /^logconfig_dict: gunicorn's defaults, which this dict is merged over, use the handler console, which it replaces — /);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-gap-'));
    try {
      fs.writeFileSync(path.join(dir, 'gunicorn.conf.py'), text);
      const r = await runCli(['--print-config', 'app:app'], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, `unicorn: warning: ${path.join(dir, 'gunicorn.conf.py')}:1: ${d.message}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('wsgi_app is found from the workspace folder when chdir names a folder there', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-ws-'));
    try {
      fs.mkdirSync(path.join(folder, 'deploy'));
      fs.mkdirSync(path.join(folder, 'src'));
      fs.writeFileSync(path.join(folder, 'src', 'shop.py'), 'def app(environ, start_response):\n    pass\n');
      const ws = await LspServer.start(undefined, {}, folder);
      try {
        const cfg = pathToFileURL(path.join(folder, 'deploy', 'gunicorn.conf.py')).href;
        assert.deepEqual(await ws.open(cfg, 'chdir = "src"\nwsgi_app = "shop:app"\n'), [], 'src is taken from the workspace folder');
        const [d] = await ws.change(cfg, 'chdir = "src"\nwsgi_app = "shop:nope"\n');
        assert.match(d.message, /^wsgi_app: "nope" is not defined at the top level of /);
        const [missing] = await ws.change(cfg, 'wsgi_app = "nowhere:app"\n');
        assert.match(missing.message, new RegExp(`^wsgi_app: no module "nowhere" in ${folder}, ${folder}/deploy — `));
      } finally {
        await ws.stop();
      }
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('every setting name gunicorn 26.1 knows', () => {
  // From gunicorn 26.1's settings reference. The HTTP-parsing ones (casefold_http_method, header_map,
  // permit_*, http_parser) and the ASGI ones (asgi_*) come with the HTTP-conformance and worker-class work.
  const GUNICORN_26 = `config wsgi_app control_socket control_socket_mode control_socket_disable reload reload_engine
    reload_extra_files spew check_config print_config dirty_apps dirty_workers dirty_timeout dirty_threads
    dirty_graceful_timeout http_protocols http2_max_concurrent_streams http2_initial_window_size http2_max_frame_size
    http2_max_header_list_size accesslog disable_redirect_access_to_syslog access_log_format errorlog loglevel
    capture_output logger_class logconfig logconfig_dict logconfig_json syslog_addr syslog syslog_prefix syslog_facility
    enable_stdio_inheritance statsd_host dogstatsd_tags statsd_prefix enable_backlog_metric proc_name default_proc_name
    keyfile certfile ssl_version cert_reqs ca_certs suppress_ragged_eofs do_handshake_on_connect ciphers
    limit_request_line limit_request_fields limit_request_field_size preload_app sendfile reuse_port chdir daemon
    raw_env pidfile worker_tmp_dir user group umask initgroups tmp_upload_dir secure_scheme_headers
    forwarded_allow_ips pythonpath paste proxy_protocol proxy_allow_ips protocol uwsgi_allow_ips raw_paste_global_conf
    strip_header_spaces forwarder_headers root_path bind backlog workers worker_class threads worker_connections
    max_requests max_requests_jitter timeout graceful_timeout keepalive`.split(/\s+/);
  const GUNICORN_26_HOOKS = `on_starting on_reload when_ready pre_fork post_fork post_worker_init worker_int worker_abort
    pre_exec pre_request post_request child_exit worker_exit nworkers_changed on_exit ssl_context on_dirty_starting
    dirty_post_fork dirty_worker_init dirty_worker_exit`.split(/\s+/);

  test('each is a setting (built, ignored or refused by name) or a hook', () => {
    assert.deepEqual(GUNICORN_26.filter((n) => !getSetting(n)), []);
    assert.deepEqual(GUNICORN_26_HOOKS.filter((n) => !(n in HOOKS) && !(DIRTY_HOOKS as readonly string[]).includes(n)), []);
    for (const n of GUNICORN_26) assert.equal(nameHint(n), undefined, n);
  });

  test('user and group as numbers, as gunicorn takes a uid and a gid', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-ids-'));
    try {
      const me = os.userInfo();
      fs.writeFileSync(path.join(dir, 'gunicorn.conf.py'), `user = ${me.uid}\ngroup = ${me.gid}\n`);
      const r = await runCli(['--print-config', 'app:app'], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^user +=  ?"${me.uid}"$`, 'm'));
      assert.match(r.stdout, new RegExp(`^group +=  ?"${me.gid}"$`, 'm'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('loglevel "warn" and "fatal" (Python\'s other names, which gunicorn takes) mean warning and critical', async () => {
    for (const [word, level] of [['warn', 'warning'], ['FATAL', 'critical']]) {
      const r = await runCli(['--print-config', '--log-level', word, 'app:app']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^loglevel +=  ?"${level}"$`, 'm'));
    }
  });

  test('gunicorn 24\'s proxy_protocol words are read as the switch they amount to', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-pp-'));
    try {
      for (const [word, value] of [['v2', 'True'], ['auto', 'True'], ['off', 'False']]) {
        fs.writeFileSync(path.join(dir, 'gunicorn.conf.py'), `proxy_protocol = "${word}"\n`);
        const r = await runCli(['--print-config', 'app:app'], { cwd: dir });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^proxy_protocol +=  ?${value}$`, 'm'));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
