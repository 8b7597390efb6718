// The CLI through its real interface: flags, config precedence, --print-config, and every bad input.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inParallel, runCli } from '../helpers';
import { SETTINGS, getSetting, ignoredWarning, isBuilt } from '../../runtime/src/core/settings';

function tmpdir(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-cli-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

// The CLI runs below are one-shot and independent of each other (each in its own temporary
// directory): the suites run two tests at a time, and the long lists of refusals three runs at a time.

/** --print-config output as name → Python literal text. */
async function effective(args: string[], opts: Parameters<typeof runCli>[1] = {}): Promise<Record<string, string>> {
  const r = await runCli(['--print-config', ...args], opts);
  assert.equal(r.code, 0, r.stderr);
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const i = line.indexOf('=');
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** Runs a command that must fail: exit 2 (unless given), one line on stderr, nothing on stdout. */
async function refused(args: string[], expected: RegExp, opts: Parameters<typeof runCli>[1] & { code?: number } = {}) {
  const r = await runCli(args, opts);
  assert.equal(r.code, opts.code ?? 2, `exit code for ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0], expected);
  return lines[0];
}

describe('help and version', () => {
  test('--help lists every supported option with its default', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: unicorn \[OPTIONS\] \[APP_MODULE\]/);
    for (const s of SETTINGS) {
      if (!isBuilt(s) || !s.flags.length) continue;
      for (const f of s.flags) assert.ok(r.stdout.includes(f), `--help lacks ${f}`);
    }
    assert.match(r.stdout, /-w, --workers INT\n .*\[default: \$WEB_CONCURRENCY, else 1\]/);
    assert.match(r.stdout, /--host HOST, --port PORT/);
  });

  test('-h, -v and --version', async () => {
    assert.match((await runCli(['-h'])).stdout, /usage:/);
    assert.match((await runCli(['-v'])).stdout, /^unicorn \(unicorn\) \d+\.\d+\.\d+\n$/);
    assert.match((await runCli(['--version'])).stdout, /\d+\.\d+\.\d+/);
    assert.match((await runCli(['--help'], { bin: 'unicorn-django' })).stdout, /^usage: unicorn-django \[OPTIONS\]/);
  });
});

describe('settings from the command line', { concurrency: 2 }, () => {
  test('gunicorn flags set their settings', async () => {
    const cfg = await effective([
      '-w', '3', '-k', 'sync', '-t', '45', '--graceful-timeout', '7', '--keep-alive', '5', '--backlog', '64',
      '-b', '127.0.0.1:9001', '--bind', 'unix:/tmp/x.sock', '-e', 'A=1', '--env', 'B=two=2', '--chdir', os.tmpdir(),
      '--pythonpath', 'lib,src', '--access-logfile', '-', '--error-logfile', '/tmp/err.log', '--log-level', 'DEBUG',
      '--max-requests', '100', '--max-requests-jitter', '10', '-n', 'shop', '-p', '/tmp/u.pid',
      '--limit-request-line', '100', '--limit-request-fields', '10', '--limit-request-field_size', '200',
      '--forwarded-allow-ips', '10.0.0.1, 10.0.0.2', '--access-logformat', '%(h)s', '--python', '/usr/bin/python3', 'app:x',
    ]);
    assert.equal(cfg.workers, '3');
    assert.equal(cfg.worker_class, '"sync"');
    assert.equal(cfg.timeout, '45');
    assert.equal(cfg.graceful_timeout, '7');
    assert.equal(cfg.keepalive, '5');
    assert.equal(cfg.backlog, '64');
    assert.equal(cfg.bind, '["127.0.0.1:9001", "unix:/tmp/x.sock"]');
    assert.equal(cfg.raw_env, '["A=1", "B=two=2"]');
    assert.equal(cfg.chdir, JSON.stringify(path.resolve(os.tmpdir())));
    assert.equal(cfg.pythonpath, '"lib,src"');
    assert.equal(cfg.accesslog, '"-"');
    assert.equal(cfg.errorlog, '"/tmp/err.log"');
    assert.equal(cfg.loglevel, '"debug"');
    assert.equal(cfg.max_requests, '100');
    assert.equal(cfg.max_requests_jitter, '10');
    assert.equal(cfg.proc_name, '"shop"');
    assert.equal(cfg.pidfile, '"/tmp/u.pid"');
    assert.equal(cfg.limit_request_line, '100');
    assert.equal(cfg.limit_request_fields, '10');
    assert.equal(cfg.limit_request_field_size, '200');
    assert.equal(cfg.forwarded_allow_ips, '["10.0.0.1", "10.0.0.2"]');
    assert.equal(cfg.access_log_format, '"%(h)s"');
    assert.equal(cfg.python, '"/usr/bin/python3"');
    assert.equal(cfg.wsgi_app, '"app:x"');
  });

  test('--host and --port combine into one bind', async () => {
    assert.equal((await effective(['--host', '0.0.0.0', '--port', '9000', 'a:b'])).bind, '["0.0.0.0:9000"]');
    assert.equal((await effective(['--port=9001', 'a:b'])).bind, '["127.0.0.1:9001"]');
    assert.equal((await effective(['--host=::1', 'a:b'])).bind, '["[::1]:8000"]');
  });

  test('defaults match gunicorn, workers from $WEB_CONCURRENCY', async () => {
    const cfg = await effective(['a:b'], { cwd: tmpdir() });
    assert.equal(cfg.workers, '1');
    assert.equal(cfg.bind, '["127.0.0.1:8000"]');
    assert.equal(cfg.backlog, '2048');
    assert.equal(cfg.timeout, '30');
    assert.equal(cfg.graceful_timeout, '30');
    assert.equal(cfg.keepalive, '2');
    assert.equal(cfg.accesslog, 'None');
    assert.equal(cfg.errorlog, '"-"');
    assert.equal(cfg.loglevel, '"info"');
    assert.equal(cfg.limit_request_line, '4094');
    assert.equal(cfg.limit_request_fields, '100');
    assert.equal(cfg.limit_request_field_size, '8190');
    assert.equal(cfg.access_log_format, '"%(h)s %(l)s %(u)s %(t)s \\"%(r)s\\" %(s)s %(b)s \\"%(f)s\\" \\"%(a)s\\""');
    assert.equal(cfg.secure_scheme_headers, '{"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"}');
    assert.equal((await effective(['a:b'], { env: { WEB_CONCURRENCY: '5' } })).workers, '5');
  });
});

describe('config precedence: defaults < config file < UNICORN_CMD_ARGS < command line', { concurrency: 2 }, () => {
  const conf = 'workers = 3\ntimeout = 11\nbind = "127.0.0.1:9100"\nloglevel = "warning"\nwsgi_app = "conf:app"\n';

  test('the config file beats the defaults', async () => {
    const cfg = await effective([], { cwd: tmpdir({ 'unicorn.conf.py': conf }) });
    assert.equal(cfg.workers, '3');
    assert.equal(cfg.timeout, '11');
    assert.equal(cfg.bind, '["127.0.0.1:9100"]');
    assert.equal(cfg.wsgi_app, '"conf:app"');
    assert.match(cfg.config, /unicorn\.conf\.py"$/);
  });

  test('UNICORN_CMD_ARGS beats the config file; the command line beats both', async () => {
    const cwd = tmpdir({ 'unicorn.conf.py': conf });
    let cfg = await effective([], { cwd, env: { UNICORN_CMD_ARGS: '-w 5 --log-level "error"' } });
    assert.equal(cfg.workers, '5');
    assert.equal(cfg.loglevel, '"error"');
    assert.equal(cfg.timeout, '11');
    cfg = await effective(['-w', '7', 'cli:app'], { cwd, env: { UNICORN_CMD_ARGS: '-w 5 -t 12' } });
    assert.equal(cfg.workers, '7');
    assert.equal(cfg.timeout, '12');
    assert.equal(cfg.wsgi_app, '"cli:app"');
  });

  test('GUNICORN_CMD_ARGS works when UNICORN_CMD_ARGS is unset', async () => {
    assert.equal((await effective(['a:b'], { env: { GUNICORN_CMD_ARGS: '--workers=4' } })).workers, '4');
    assert.equal((await effective(['a:b'], { env: { GUNICORN_CMD_ARGS: '-w 4', UNICORN_CMD_ARGS: '-w 6' } })).workers, '6');
  });

  test('-c names the file; else unicorn.conf.py; else gunicorn.conf.py unchanged', async () => {
    const cwd = tmpdir({
      'gunicorn.conf.py': 'import multiprocessing\nworkers = 2\nbind = ["127.0.0.1:9200", "unix:/tmp/g.sock"]\n',
      'other.py': 'workers = 9\n',
    });
    let cfg = await effective(['a:b'], { cwd });
    assert.equal(cfg.workers, '2');
    assert.equal(cfg.bind, '["127.0.0.1:9200", "unix:/tmp/g.sock"]');
    fs.writeFileSync(path.join(cwd, 'unicorn.conf.py'), 'workers = 4\n');
    assert.equal((await effective(['a:b'], { cwd })).workers, '4');
    cfg = await effective(['-c', 'other.py', 'a:b'], { cwd });
    assert.equal(cfg.workers, '9');
    assert.equal((await effective(['a:b'], { cwd, env: { UNICORN_CMD_ARGS: '-c other.py' } })).workers, '9');
  });

  test('a config file may use Python: imports, helpers, computed values, print', async () => {
    const cwd = tmpdir({
      'unicorn.conf.py': [
        'import os, multiprocessing',
        '_port = 9300 + 1',
        'BASE_DIR = os.path.dirname(__file__)',
        'bind = "127.0.0.1:%d" % _port',
        'workers = multiprocessing.cpu_count() * 0 + 2',
        'raw_env = ["BASE=" + BASE_DIR]',
        'def _helper(): return 1',
        'print("config says hi")',
        'forwarded_allow_ips = "1.1.1.1,2.2.2.2"',
        'secure_scheme_headers = {"X-SCHEME": "https"}',
        'max_requests = "50"',
      ].join('\n'),
    });
    const r = await runCli(['--print-config', 'a:b'], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /config says hi/);
    const cfg = await effective(['a:b'], { cwd });
    assert.equal(cfg.bind, '["127.0.0.1:9301"]');
    assert.equal(cfg.workers, '2');
    assert.equal(cfg.raw_env, `["BASE=${cwd}"]`);
    assert.equal(cfg.forwarded_allow_ips, '["1.1.1.1", "2.2.2.2"]');
    assert.equal(cfg.secure_scheme_headers, '{"X-SCHEME": "https"}');
    assert.equal(cfg.max_requests, '50', 'numeric strings are accepted, as gunicorn accepts them');
  });
});

describe('bad input: one line naming the culprit and the fix, exit 2, nothing started', { concurrency: 2 }, () => {
  test('unknown option, with a suggestion', async () => {
    await refused(['--wrkers', '3', 'a:b'], /^unicorn: error: command line: unknown option '--wrkers' \(did you mean --workers\?\) — see unicorn --help$/);
  });

  test('bad values on the command line', async () => {
    await inParallel([
      () => refused(['-w', '0', 'a:b'], /^unicorn: error: command line: workers: 0 is below the minimum 1 — give a number of at least 1$/),
      () => refused(['-w', 'four', 'a:b'], /workers: "four" is not a whole number — give a whole number of at least 1, e\.g\. --workers 4$/),
      () => refused(['-t', '-5', 'a:b'], /timeout: -5 is below the minimum 0/),
      () => refused(['-k', 'eventlet', 'a:b'], /worker_class: eventlet is not supported \(gunicorn 26 removed its eventlet worker; eventlet is unmaintained\) — use -k gevent for greenlets, or -k asgi for an async app$/),
      () => refused(['-k', 'gthred', 'a:b'], /worker_class: "gthred" is not one of sync, gthread, asgi, gevent — did you mean gthread\?$/),
      () => refused(['--log-level', 'loud', 'a:b'], /loglevel: "loud" is not one of debug, info, warning, error, critical/),
      () => refused(['-e', 'NOEQUALS', 'a:b'], /raw_env: "NOEQUALS" is not KEY=VALUE — write it as -e NAME=value$/),
      () => refused(['-w'], /option '-w, --workers <INT>' argument missing/),
      () => refused(['a:b', 'c:d'], /too many arguments/),
      () => refused(['--port', 'http', 'a:b'], /--port "http" is not a port number/),
      () => refused(['-b', '127.0.0.1:1', '--port', '2', 'a:b'], /both --bind and --host\/--port given — use one of them$/),
    ]);
  });

  test('gthread, threads and worker_connections are accepted', async () => {
    const cfg = await effective(['-k', 'gthread', '--threads', '4', '--worker-connections', '50', 'a:b']);
    assert.equal(cfg.worker_class, '"gthread"');
    assert.equal(cfg.threads, '4');
    assert.equal(cfg.worker_connections, '50');
  });

  test('gunicorn settings not built are refused by name unless left at gunicorn\'s default', async () => {
    await inParallel([
      () => refused(['--paste', 'x.ini', 'a:b'], /^unicorn: error: command line: paste: not supported: PasteDeploy \.ini apps are not loaded/),
      () => refused(['--logger-class', 'x.Logger', 'a:b'], /logger_class: not supported: Unicorn's log is not a gunicorn Logger class/),
      () => refused(['--dirty-workers', '2', 'a:b'], /dirty_workers: not supported: Unicorn has no dirty arbiter/),
      () => refused(['--protocol', 'uwsgi', 'a:b'], /protocol: not supported: the uWSGI binary protocol is not built/),
      () => refused(['--http-protocols', 'h2', 'a:b'], /http_protocols: not supported: Unicorn speaks HTTP\/1\.1 only and this list leaves out h1 — add h1/),
      () => refused(['a:b'], /unicorn\.conf\.py:2: dirty_apps: not supported/, { cwd: tmpdir({ 'unicorn.conf.py': 'workers = 2\ndirty_apps = ["m:App"]\n' }) }),
    ]);
    // gunicorn's own defaults ask for nothing: accepted silently.
    const r = await runCli(['--print-config', '--logger-class', 'gunicorn.glogging.Logger', '--dirty-workers', '0', '--protocol', 'http', 'a:b'],
      { cwd: tmpdir({ 'unicorn.conf.py': 'paste = None\nlogger_class = "simple"\nstrip_header_spaces = False\n' }) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
  });

  test('gunicorn settings with no effect here are accepted, with a warning when set to something else than gunicorn\'s default', async () => {
    const dir = tmpdir({ 'unicorn.conf.py': 'spew = False\ntmp_upload_dir = None\nworkers = 2\nsendfile = False\nhttp2_max_frame_size = 32768\n' });
    const r = await runCli(['--print-config', '--spew', 'a:b'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stderr.trim().split('\n'), [
      `unicorn: warning: ${dir}/unicorn.conf.py:4: sendfile: has no effect in Unicorn and is ignored — ${getSetting('sendfile')!.ignored}`,
      `unicorn: warning: ${dir}/unicorn.conf.py:5: http2_max_frame_size: has no effect in Unicorn and is ignored — HTTP/2 is not built`,
      `unicorn: warning: command line: ${ignoredWarning(getSetting('spew')!, true)}`,
    ]);
    assert.doesNotMatch(r.stdout, /^(spew|sendfile|http2_max_frame_size) /m, '--print-config shows only what is built');
    assert.match(r.stdout, /^workers +=  ?2$/m);
  });

  test('every gunicorn server hook, worker-side ones included, is accepted in a config file', async () => {
    const hooks = ['post_fork(server, worker)', 'post_worker_init(worker)', 'worker_int(worker)', 'worker_abort(worker)',
      'pre_request(worker, req)', 'post_request(worker, req, environ, resp)', 'worker_exit(server, worker)', 'on_starting(server)'];
    const cfg = await effective(['a:b'], { cwd: tmpdir({ 'unicorn.conf.py': `workers = 3\n${hooks.map((h) => `def ${h}:\n    pass\n`).join('')}` }) });
    assert.equal(cfg.workers, '3');
  });

  test('bad config files name the file, the line, the setting and the fix', async () => {
    const cases: Array<[string, RegExp]> = [
      ['workers = 0\n', /unicorn\.conf\.py:1: workers: 0 is below the minimum 1/],
      ['workers = "many"\n', /unicorn\.conf\.py:1: workers: "many" is not a whole number/],
      ['bind = 8000\n', /unicorn\.conf\.py:1: bind: 8000 is not a list of strings — write it as bind = \["\.\.\."\]$/],
      ['loglevel = "verbose"\n', /unicorn\.conf\.py:1: loglevel: "verbose" is not one of/],
      ['secure_scheme_headers = ["X"]\n', /secure_scheme_headers: \["X"\] is not a dict of strings/],
      ['workers = (\n', /unicorn\.conf\.py:1: syntax error: .* — fix the config file/],
      ['import os\nworkers = 1\nraise RuntimeError("no db")\n', /unicorn\.conf\.py:3: RuntimeError: no db — fix the config file/],
      ['import no_such_module_here\n', /unicorn\.conf\.py:1: ModuleNotFoundError: No module named 'no_such_module_here'/],
      ['timeout = object()\n', /unicorn\.conf\.py:1: timeout: a object object is not a valid value/],
      ['config = "other.py"\n', /config: a config file cannot name another config file/],
    ];
    await inParallel(cases.map(([text, re]) => () => refused(['a:b'], re, { cwd: tmpdir({ 'unicorn.conf.py': text }) })));
  });

  test('missing config file, bad environment, bad app, bad chdir, missing interpreter', async () => {
    await inParallel([
      () => refused(['-c', 'nope.py', 'a:b'], /^unicorn: error: config file nope\.py not found — check the path given to -c$/, { cwd: tmpdir() }),
      () => refused(['a:b'], /^unicorn: error: UNICORN_CMD_ARGS: workers: 0 is below the minimum 1/, { env: { UNICORN_CMD_ARGS: '-w 0' } }),
      () => refused(['a:b'], /UNICORN_CMD_ARGS: unknown option '--bogus'/, { env: { UNICORN_CMD_ARGS: '--bogus' } }),
      () => refused(['a:b'], /WEB_CONCURRENCY="lots" is not a positive whole number/, { env: { WEB_CONCURRENCY: 'lots' } }),
      () => refused([], /no app to serve — give APP_MODULE \(e\.g\. unicorn test:app\) or set wsgi_app in the config file$/, { cwd: tmpdir() }),
      () => refused(['not an app'], /app "not an app" is not MODULE:CALLABLE/),
      () => refused(['--chdir', '/no/such/dir', 'a:b'], /chdir: \/no\/such\/dir is not a directory — give an existing directory to --chdir$/),
      () => refused(['--python', '/no/python3', '-b', '127.0.0.1:0', 'a:b'], /python interpreter "\/no\/python3" not found — install Python 3\.8\+ or name one with --python PATH$/),
      () => refused(['-b', 'unix:', 'a:b'], /bind "unix:": no path after unix:/),
      () => refused(['-b', '127.0.0.1:http', 'a:b'], /bind "127\.0\.0\.1:http": port "http" is not a number from 0 to 65535/),
      () => refused(['-b', '::1:8000', 'a:b'], /bind "::1:8000": an IPv6 address needs brackets — write \[::1:8000\]:8000/),
      () => refused(['-b', 'fd://x', 'a:b'], /bind "fd:\/\/x": the descriptor is not a number/),
    ]);
  });

  test('unicorn-django outside a Django project', async () => {
    await Promise.all([
      refused([], /^unicorn-django: error: no manage\.py in .* — run unicorn-django in your Django project's directory, or pass --chdir PROJECT_DIR$/, {
        bin: 'unicorn-django',
        cwd: tmpdir(),
      }),
      refused([], /manage\.py: manage\.py does not set DJANGO_SETTINGS_MODULE — set DJANGO_SETTINGS_MODULE in the environment/, {
        bin: 'unicorn-django',
        cwd: tmpdir({ 'manage.py': 'print(1)\n' }),
      }),
    ]);
  });
});

describe('--check-config', () => {
  const apps = path.join(__dirname, '..', 'fixtures', 'arbiter');

  test('valid settings and an importable app: exit 0, nothing started', async () => {
    const r = await runCli(['--check-config', '--chdir', apps, '--pythonpath', 'lib', 'app:app']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^configuration OK: no config file, app app:app imports with /);
    assert.doesNotMatch(r.stderr, /Booting worker/);
  });

  test('an app that does not import: traceback and exit 4', async () => {
    const r = await runCli(['--check-config', '--chdir', apps, 'broken_import:app']);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /Traceback[\s\S]*ModuleNotFoundError: No module named 'a_module_that_does_not_exist'/);
    assert.match(r.stderr.trim().split('\n').pop()!, /^unicorn: error: app "broken_import:app" failed to load: ModuleNotFoundError: .* — fix the import, or the app name$/);
  });

  test('a bad setting is found before the app is imported: exit 2', async () => {
    await refused(['--check-config', '--chdir', apps, '-w', '-1', 'app:app'], /workers: -1 is below the minimum 1/);
  });
});
