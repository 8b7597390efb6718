// Response framing, app errors, iterable close(), the access and error log formats, and worker recycling.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, rawRequest, parseResponse, runCli, waitUntil, childPids, isAlive, sleep, FIXTURES, Server } from '../helpers';

const APPS = path.join(FIXTURES, 'apps');
const STATIC = fs.readFileSync(path.join(APPS, 'static.txt'));

/** Decodes a chunked body; `complete` is false when the terminating zero chunk never came. */
function dechunk(body: Buffer): { data: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) return { data: Buffer.concat(parts), complete: false };
    const size = parseInt(body.subarray(at, eol).toString(), 16);
    if (size === 0) return { data: Buffer.concat(parts), complete: body.subarray(eol).toString() === '\r\n\r\n' };
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

const req = (p: string, method = 'GET', version = '1.1', extra = '') =>
  `${method} ${p} HTTP/${version}\r\nHost: x\r\nUser-Agent: ua-marker\r\n${extra}\r\n`;

describe('response framing and errors', () => {
  let server: Server;
  let record: string;
  const recorded = () => fs.readFileSync(record, 'utf8');
  const ask = async (p: string, method = 'GET', version = '1.1', extra = '') =>
    parseResponse(await rawRequest(server.port, req(p, method, version, extra)));

  before(async () => {
    record = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-framing-')), 'calls.txt');
    server = await startServer(['--chdir', APPS, '--access-logfile', '-', 'framing_app:app'], {
      env: { UNICORN_TEST_RECORD: record },
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('unknown length on HTTP/1.1: chunked, terminated, and close() called', async () => {
    const res = await ask('/stream');
    assert.equal(res.status, 200);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(res.headers.connection, 'close');
    assert.deepEqual(dechunk(res.body), { data: Buffer.from('one,two,three'), complete: true });
    assert.match(recorded(), /close stream/);
  });

  test('unknown length on HTTP/1.0: close-delimited', async () => {
    const res = await ask('/stream', 'GET', '1.0');
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(res.body.toString(), 'one,two,three');
  });

  test('a one-piece body gets a Content-Length, headers and body in one segment', async () => {
    const res = await ask('/single');
    assert.equal(res.headers['content-length'], '11');
    assert.equal(res.body.toString(), 'single body');
  });

  test('the write() callable', async () => {
    const res = await ask('/write');
    assert.equal(dechunk(res.body).data.toString(), 'written,returned');
  });

  test('HEAD: no body, and the iterable is still closed', async () => {
    fs.writeFileSync(record, '');
    const res = await ask('/stream', 'HEAD');
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 0);
    assert.match(recorded(), /close stream/);
  });

  test('204 and 304 carry no body', async () => {
    const a = await ask('/no-content');
    assert.equal(a.status, 204);
    assert.equal(a.body.length, 0);
    assert.equal(a.headers['content-length'], undefined);
    assert.equal(a.headers['transfer-encoding'], undefined);
    assert.match(recorded(), /close no-content/);
    const b = await ask('/not-modified');
    assert.equal(b.status, 304);
    assert.equal(b.body.length, 0);
    assert.equal(b.headers.etag, '"x"');
  });

  test('wsgi.file_wrapper serves a file, whole or from its position up to the declared length', async () => {
    const whole = await ask('/file');
    assert.equal(whole.headers['content-length'], String(STATIC.length));
    assert.deepEqual(whole.body, STATIC);
    const part = await ask('/file-range');
    assert.equal(part.body.toString(), STATIC.subarray(6, 11).toString());
    const head = await ask('/file', 'HEAD');
    assert.equal(head.body.length, 0);
  });

  test('Content-Length is never exceeded; a short body ends the connection and is logged', async () => {
    const long = await ask('/long');
    assert.equal(long.headers['content-length'], '3');
    assert.equal(long.body.toString(), '123');
    const short = await ask('/short');
    assert.equal(short.headers['content-length'], '10');
    assert.equal(short.body.toString(), '12345');
    await server.waitForOutput(/sent 5 of the 10 bytes/);
    assert.match(recorded(), /close long[\s\S]*close short/);
  });

  test("the app's hop-by-hop headers are replaced by ours", async () => {
    const res = await ask('/hop');
    assert.equal(res.headers.connection, 'close');
    assert.equal(res.headers['keep-alive'], undefined);
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(res.body.toString(), 'hop');
  });

  test('CR/LF in a header value → 500, never written as given', async () => {
    for (const p of ['/bad-header', '/bad-header-swallowed', '/bad-status']) {
      const raw = await rawRequest(server.port, req(p));
      const res = parseResponse(raw);
      assert.equal(res.status, 500, p);
      assert.doesNotMatch(raw.toString('latin1'), /Injected|must not be sent|X-Bad/);
    }
    await server.waitForOutput(/invalid value for response header 'X-Bad'/);
  });

  test('an app that raises → 500 and its traceback in the error log', async () => {
    const res = await ask('/raise');
    assert.equal(res.status, 500);
    assert.equal(res.headers.connection, 'close');
    await server.waitForOutput(/\[ERROR\] Error handling request \/raise\nTraceback[\s\S]*RuntimeError: app failure marker-raise/);
  });

  test('an exception after the headers: truncated response, close() called, logged', async () => {
    const res = await ask('/raise-after');
    assert.equal(res.status, 200);
    assert.deepEqual(dechunk(res.body), { data: Buffer.from('first,'), complete: false });
    await server.waitForOutput(/marker-raise-after/);
    assert.match(recorded(), /close raise-after/);
  });

  test('start_response with exc_info before the headers replaces the status', async () => {
    const res = await ask('/exc-info');
    assert.equal(res.status, 503);
    assert.equal(res.body.toString(), 'replaced by exc_info');
  });

  test('close() is called when the client disconnects mid-body', async () => {
    fs.writeFileSync(record, '');
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect({ port: server.port, host: '127.0.0.1' }, () => sock.write(req('/slow-gen')));
      sock.once('data', () => {
        sock.destroy();
        resolve();
      });
      sock.on('error', reject);
    });
    await waitUntil(() => /close slow-gen/.test(recorded()), 5000, 'close() after a disconnect');
  });

  test('wsgi.errors writes to the error log', async () => {
    await ask('/errors');
    await server.waitForOutput(/wsgi\.errors marker line/);
  });

  test("the app's Date header is kept instead of ours", async () => {
    const res = await ask('/headers-out');
    assert.equal(res.headers.date, 'Mon, 01 Jan 2024 00:00:00 GMT');
  });

  test("access log: gunicorn's default format", async () => {
    await ask('/single', 'GET', '1.1', 'Referer: http://ref.test/\r\n');
    await server.waitForOutput(
      /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/single HTTP\/1\.1" 200 11 "http:\/\/ref\.test\/" "ua-marker"$/m,
    );
  });

  test('error log lines use gunicorn\'s format', () => {
    const lines = server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('['));
    assert.ok(lines.length > 3);
    for (const line of lines) {
      assert.match(line, /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}\] \[\d+\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] /);
    }
  });
});

describe('access log atoms and log level', () => {
  test('every atom of a custom access_log_format', async () => {
    const fmt =
      '%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%({x-in}i)s|%({x-out}o)s|%({wsgi.url_scheme}e)s|%(p)s|%(L)s|%(T)s|%(D)s|%(M)s|%(u)s|%(r)s|%(nope)s';
    const server = await startServer(['--chdir', APPS, '--access-logfile', '-', '--access-logformat', fmt, 'framing_app:app']);
    try {
      await rawRequest(
        server.port,
        'GET /headers-out?k=v HTTP/1.1\r\nHost: x\r\nX-In: "quoted"\r\nAuthorization: Basic dXNlcjpwdw==\r\n\r\n',
      );
      const m = await server.waitForOutput(/^GET\|\/headers-out\|.*$/m);
      const f = m[0].split('|');
      assert.deepEqual(f.slice(0, 11), [
        'GET', '/headers-out', 'k=v', 'HTTP/1.1', '200', '2', '2', '\\"quoted\\"', 'out-value', 'http', `<${f[10].slice(1, -1)}>`,
      ]);
      assert.match(f[10], /^<\d+>$/);
      assert.match(f[11], /^\d+\.\d{6}$/);
      assert.match(f[12], /^\d+$/);
      assert.match(f[13], /^\d+$/);
      assert.match(f[14], /^\d+$/);
      assert.equal(f[15], 'user');
      assert.equal(f[16], 'GET /headers-out?k=v HTTP/1.1');
      assert.equal(f[17], '-');
    } finally {
      await server.stop();
    }
  });

  test('no access log by default; --log-level warning hides info lines', async () => {
    const server = await startServer(['--chdir', APPS, '--log-level', 'warning', 'framing_app:app']);
    try {
      await rawRequest(server.port, req('/single'));
      await rawRequest(server.port, req('/raise'));
      await server.waitForOutput(/marker-raise/);
      assert.doesNotMatch(server.output(), /"GET \/single/);
      assert.doesNotMatch(server.output(), /\[\d+\] \[INFO\] Worker exiting/);
    } finally {
      await server.stop();
    }
    assert.doesNotMatch(server.output(), /\[INFO\] Worker exiting/);
  });
});

describe('worker lifecycle', () => {
  test('max_requests recycles the worker', async () => {
    const server = await startServer(['--chdir', APPS, '--max-requests', '2', 'framing_app:app']);
    try {
      const pids = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const res = parseResponse(await rawRequest(server.port, req('/pid'), { timeoutMs: 5000 }).catch(async () => {
          // The old worker may have just closed its listener copy; ask again.
          return rawRequest(server.port, req('/pid'));
        }));
        pids.add(res.body.toString());
      }
      assert.ok(pids.size >= 2, `one worker served everything: ${[...pids]}`);
      await server.waitForOutput(/Autorestarting worker after current request/);
      assert.ok((server.output().match(/Booting worker with pid/g) ?? []).length >= 2);
    } finally {
      await server.stop();
    }
  });

  test('TERM to a busy worker: the current request finishes, then it exits 0', async () => {
    const server = await startServer(['--chdir', APPS, 'framing_app:app']);
    try {
      const [worker] = childPids(server.pid);
      const pending = rawRequest(server.port, req('/sleep', 'GET', '1.1').replace('/sleep', '/sleep?0.8'), { timeoutMs: 5000 });
      await sleep(300);
      process.kill(worker, 'SIGTERM');
      const res = parseResponse(await pending);
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'slept');
      await waitUntil(() => !isAlive(worker), 5000, 'the worker to exit');
      await server.waitForOutput(new RegExp(`\\[${worker}\\] \\[INFO\\] Worker exiting \\(pid: ${worker}\\)`));
    } finally {
      await server.stop();
    }
  });

  test('INT to a busy worker: it exits at once', async () => {
    const server = await startServer(['--chdir', APPS, 'framing_app:app']);
    try {
      const [worker] = childPids(server.pid);
      const pending = rawRequest(server.port, req('/sleep?5'), { timeoutMs: 8000 });
      await sleep(300);
      const t = Date.now();
      process.kill(worker, 'SIGINT');
      await waitUntil(() => !isAlive(worker), 3000, 'the worker to exit');
      assert.ok(Date.now() - t < 2000);
      assert.equal((await pending).length, 0);
    } finally {
      await server.stop();
    }
  });

  test('a worker whose arbiter dies exits within a second or so (control channel EOF)', async () => {
    const server = await startServer(['--chdir', APPS, 'framing_app:app']);
    const workers = childPids(server.pid);
    assert.equal(workers.length, 1);
    try {
      process.kill(server.pid, 'SIGKILL');
      await waitUntil(() => workers.every((w) => !isAlive(w)), 3000, 'the orphaned worker to exit');
    } finally {
      await server.stop('SIGKILL');
    }
  });

  test('the worker names its process (proc_name)', async () => {
    const server = await startServer(['--chdir', APPS, '-n', 'shop', 'framing_app:app']);
    try {
      const [worker] = childPids(server.pid);
      assert.equal(fs.readFileSync(`/proc/${worker}/comm`, 'utf8').trim(), 'shop: worker');
    } finally {
      await server.stop();
    }
  });

  test('USR1 makes the worker reopen its log files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-logs-'));
    const access = path.join(dir, 'access.log');
    const server = await startServer(['--chdir', APPS, '--access-logfile', access, 'framing_app:app']);
    try {
      const [worker] = childPids(server.pid);
      await rawRequest(server.port, req('/single?before'));
      await waitUntil(() => fs.existsSync(access) && /before/.test(fs.readFileSync(access, 'utf8')), 5000, 'first line');
      fs.renameSync(access, `${access}.1`);
      process.kill(worker, 'SIGUSR1');
      await sleep(200);
      await rawRequest(server.port, req('/single?after'));
      await waitUntil(() => fs.existsSync(access) && /after/.test(fs.readFileSync(access, 'utf8')), 5000, 'a new file');
      assert.doesNotMatch(fs.readFileSync(`${access}.1`, 'utf8'), /after/);
      assert.ok(isAlive(worker));
    } finally {
      await server.stop();
    }
  });

  test('TERM lets the worker log its exit', async () => {
    const server = await startServer(['--chdir', APPS, 'framing_app:app']);
    const { code } = await server.stop('SIGTERM');
    assert.equal(code, 0);
    assert.match(server.output(), /\[INFO\] Worker exiting \(pid: \d+\)/);
  });

  test('an app that fails to import stops the server with exit 4 and the traceback', async () => {
    const r = await runCli(['-b', '127.0.0.1:0', '--chdir', APPS, 'no_such_module_here:app'], { timeoutMs: 15000 });
    assert.equal(r.code, 4);
    assert.match(r.stderr + r.stdout, /ModuleNotFoundError: No module named 'no_such_module_here'/);
    const missing = await runCli(['-b', '127.0.0.1:0', '--chdir', APPS, 'framing_app:nothing'], { timeoutMs: 15000 });
    assert.equal(missing.code, 4);
    assert.match(missing.stderr + missing.stdout, /Failed to find attribute 'nothing' in 'framing_app'/);
  });
});
