// The asgi worker through the real CLI and real sockets: HTTP/1.1 (keep-alive, pipelining, streaming
// both ways, disconnects), lifespan, websockets driven by python3-websockets' client, the frameworks
// (Starlette, FastAPI, Quart, Django), the arbiter's side (scoreboard, watchdog, TERM, HUP), and the
// worker class names.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import https from 'node:https';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, rawRequest, parseResponse, runCli, waitUntil, get, childPids, freePort, isAlive, FIXTURES, EXAMPLES, SYSTEM_PYTHON, Server,
  ctlRequest,
} from '../helpers';
import { Client, destroyClients } from '../http-client';
import { makePki } from '../pki';
import { DapClient } from '../dap';

const DIR = path.join(FIXTURES, 'asgi');
const WS_CLIENT = path.join(DIR, 'ws_client.py');
const GET = (p: string, extra = '') => `GET ${p} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

const servers: Server[] = [];
after(async () => {
  destroyClients();
  for (const s of servers) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

function tmp(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-asgi-')), name);
}

async function serve(args: string[], env: Record<string, string> = {}): Promise<Server> {
  const s = await startServer(['--chdir', DIR, ...args], { python: SYSTEM_PYTHON, env });
  servers.push(s);
  return s;
}

/** Runs a websocket scenario of ws_client.py; resolves to its JSON answer. */
function wsClient(scenario: string, port: number, ...args: string[]): Promise<Record<string, unknown>> {
  return wsClientProcess(scenario, port, ...args).result;
}

function wsClientProcess(scenario: string, port: number, ...args: string[]) {
  const proc = spawn(SYSTEM_PYTHON, [WS_CLIENT, scenario, String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let notify = () => undefined as void;
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => {
    stderr += d;
    notify();
  });
  const opened = new Promise<void>((resolve) => {
    notify = () => {
      if (stderr.includes('open\n')) resolve();
    };
  });
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60000);
    proc.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(stdout) as Record<string, unknown>);
      else reject(new Error(`ws_client ${scenario} exited ${code}: ${stderr}`));
    });
  });
  return { proc, opened, result };
}

function workerPids(s: Server): number[] {
  return childPids(s.pid);
}

describe('asgi: HTTP/1.1', () => {
  let s: Server;
  const notes = tmp('notes');

  test('start', async () => {
    s = await serve(['-k', 'asgi', '-w', '1', '--keep-alive', '30', '--access-logfile', '-', 'raw_app:app'],
      { ASGI_LIFESPAN_LOG: notes });
    assert.match(s.output(), /Using worker: asgi/);
  });

  test('keep-alive and pipelining: answers in order on one connection', async () => {
    const c = await Client.connect(s.port);
    c.send(GET('/hello'));
    const first = await c.response();
    assert.equal(first.status, 200);
    assert.equal(first.headers.connection, 'keep-alive');
    assert.equal(first.body.toString(), 'Hello, world!');
    c.send(GET('/scope?a=1') + GET('/hello') + GET('/missing'));
    const answers = [await c.response(), await c.response(), await c.response()];
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 404]);
    assert.equal(JSON.parse(answers[0].body.toString()).query_string, 'a=1');
    // A chunked body that came whole with its head (decoded before the app runs), then the next request.
    c.send('POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' + GET('/hello') + GET('/missing'));
    const more = [await c.response(), await c.response(), await c.response()];
    assert.deepEqual(more.map((r) => r.status), [200, 200, 404]);
    assert.deepEqual([more[0].body.toString().split(' ')[0], more[1].body.toString()], ['5', 'Hello, world!']);
    c.send(GET('/scope?after=1'));
    const after = await c.response();
    assert.equal(JSON.parse(after.body.toString()).query_string, 'after=1', 'the next answer is to the next request: nothing was read twice');
    c.destroy();
  });

  test('the scope: http 1.1, path, raw path, query, client, server, scheme, and lifespan state', async () => {
    const res = await get(s.port, '/sc%C3%B6pe/../scope?x=%20y');
    assert.equal(res.status, 404); // the path is not normalised: that is the app's business
    const ok = await get(s.port, '/scope?x=%20y');
    const scope = JSON.parse(ok.body.toString());
    assert.deepEqual(
      { type: scope.type, v: scope.http_version, method: scope.method, path: scope.path, raw: scope.raw_path, q: scope.query_string, scheme: scope.scheme },
      { type: 'http', v: '1.1', method: 'GET', path: '/scope', raw: '/scope', q: 'x=%20y', scheme: 'http' },
    );
    assert.deepEqual(scope.server, ['127.0.0.1', s.port]);
    assert.equal(scope.client[0], '127.0.0.1');
    assert.deepEqual(workerPids(s), [Number(ok.headers['x-state-pid'])]);
  });

  test('a large body (8 MiB, Content-Length) reaches the app whole', async () => {
    const body = crypto.randomBytes(8 << 20);
    let sum = 0;
    for (const b of body) sum = (sum + b) % 1000000007;
    const res = parseResponse(await rawRequest(s.port, Buffer.concat([
      Buffer.from(`POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body,
    ]), { timeoutMs: 30000 }));
    assert.equal(res.body.toString(), `${body.length} ${sum}`);
  });

  test('streaming both ways: each chunk sent is echoed before the next one is written', async () => {
    const c = await Client.connect(s.port);
    c.send('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let i = 0; i < 5; i++) {
      const piece = `piece-${i}-${'z'.repeat(1000)}`;
      c.send(`${piece.length.toString(16)}\r\n${piece}\r\n`);
      await c.received(`piece-${i}-`); // the answer streams: this piece is back while the request is still open
    }
    c.send('0\r\n\r\n');
    const res = await c.response();
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    c.destroy();
  });

  test('bad chunk framing after the app started answering: the connection closes, the answer left unterminated', async () => {
    const c = await Client.connect(s.port);
    c.send('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    c.send('7\r\npiece-0\r\n');
    await c.received('piece-0'); // the 200 head and the first chunk are out
    c.send('zz\r\nmore\r\n0\r\n\r\n');
    await c.closedWithin(5000);
    // No last chunk: the client cannot take the answer as complete; nothing after the bad framing, no second answer.
    await assert.rejects(c.response(), (e: Error) => {
      assert.match(e.message, /connection closed; got "HTTP\/1\.1 200 /);
      assert.doesNotMatch(e.message, /more|HTTP\/1\.1 [45]00/);
      return true;
    });
    assert.equal((await get(s.port, '/hello')).status, 200);
  });

  test('bad chunk framing while an app that ignores http.disconnect reads: one 400, then the close', async () => {
    // /count takes http.disconnect as the end of the body and answers 200: that answer must never go out.
    // (Whether the bad line arrives with the head or after the app ran, the client sees the same.)
    const c = await Client.connect(s.port);
    c.send('POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    c.send('zz\r\n');
    const res = await c.response();
    assert.equal(res.status, 400);
    await c.closedWithin(5000);
    await assert.rejects(c.response(), /connection closed; got ""/, 'nothing after the 400');
    assert.equal((await get(s.port, '/hello')).status, 200);
  });

  test('a client that leaves mid-body: the app gets http.disconnect', async () => {
    const before = fs.existsSync(notes) ? fs.readFileSync(notes, 'utf8') : '';
    const c = await Client.connect(s.port);
    c.send(`POST /wait-disconnect HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n${'a'.repeat(1000)}`);
    await waitUntil(() => fs.readFileSync(notes, 'utf8').slice(before.length).includes('got-body'), 10000, 'the app to read a part');
    c.destroy();
    await waitUntil(() => fs.readFileSync(notes, 'utf8').slice(before.length).includes('disconnect'), 10000, 'the app to see http.disconnect');
    assert.equal((await get(s.port, '/hello')).status, 200);
  });

  test('a client that leaves mid-stream: the app\'s next send raises OSError, the worker serves on', async () => {
    const before = fs.readFileSync(notes, 'utf8');
    const c = await Client.connect(s.port);
    c.send(GET('/stream?100000'));
    await c.received('chunk 3\n');
    c.destroy();
    await waitUntil(() => fs.readFileSync(notes, 'utf8').slice(before.length).includes('send-after-disconnect'), 10000, 'send() to raise');
    assert.equal((await get(s.port, '/hello')).status, 200);
  });

  test('the WSGI workers\' parser: smuggling-shaped and malformed heads are refused before the app', async () => {
    for (const [request, status] of [
      ['POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
      ['POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 400],
      ['GET /hello HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n', 400],
      [`GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
      ['GET /hello HTTP/2.0\r\nHost: x\r\n\r\n', 400], // the parser's rule (gunicorn 26's)
      ['POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 400],
    ] as Array<[string, number]>) {
      const res = parseResponse(await rawRequest(s.port, request));
      assert.equal(res.status, status, request);
    }
  });

  test('an app that raises gets a 500 and its traceback in the error log', async () => {
    const res = await get(s.port, '/error');
    assert.equal(res.status, 500);
    await s.waitForOutput(/RuntimeError: boom from the app/);
  });

  test('the access log uses gunicorn\'s atoms', async () => {
    await get(s.port, '/hello?q=1', { 'User-Agent': 'asgi-test' });
    await s.waitForOutput(/127\.0\.0\.1 - - \[[^\]]+\] "GET \/hello\?q=1 HTTP\/1\.1" 200 13 "-" "asgi-test"/);
  });

  test('HEAD, 204 and 304 answers carry no body; keep-alive survives them', async () => {
    const head = parseResponse(await rawRequest(s.port, 'HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    // The Content-Length a GET would get, and no body.
    assert.deepEqual([head.status, head.headers['content-length'], head.body.length], [200, '13', 0]);
    const c = await Client.connect(s.port);
    c.send(GET('/status?204') + GET('/status?304') + GET('/status?201'));
    const rest = [await c.response(), await c.response(), await c.response()];
    assert.deepEqual(rest.map((r) => [r.status, r.body.toString(), r.headers['x-code']]), [[204, '', '204'], [304, '', '304'], [201, 'body', '201']]);
    assert.equal(rest[2].headers.connection, 'keep-alive');
    c.destroy();
  });

  test('statsd: the per-request counters and timer, as the WSGI workers send them', async () => {
    const udp = dgram.createSocket('udp4');
    const lines: string[] = [];
    udp.on('message', (m) => lines.push(...m.toString('ascii').split('\n')));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    try {
      const st = await serve(['-k', 'asgi', '--statsd-host', `127.0.0.1:${udp.address().port}`, '--statsd-prefix', 'asgi', 'raw_app:app']);
      await get(st.port, '/hello');
      await get(st.port, '/missing');
      await waitUntil(() => lines.includes('asgi.gunicorn.request.status.404:1|c|@1.0'), 5000, 'the 404 counter');
      assert.ok(lines.includes('asgi.gunicorn.request.status.200:1|c|@1.0'), lines.join('\n'));
      assert.ok(lines.filter((l) => l === 'asgi.gunicorn.requests:1|c|@1.0').length >= 2, lines.join('\n'));
      assert.ok(lines.some((l) => /^asgi\.gunicorn\.request\.duration:[\d.e-]+\|ms$/.test(l)), lines.join('\n'));
      await st.stop();
    } finally {
      udp.close();
    }
  });

  test('pre_request and post_request hooks from a config file run around each request, on the loop, as for WSGI', async () => {
    const record = tmp('hooks.jsonl');
    const conf = path.join(FIXTURES, 'worker-hooks', 'gunicorn.conf.py'); // the WSGI workers' hooks test's config file
    const hs = await serve(['-c', conf, '-k', 'asgi', 'raw_app:app'], { HOOK_RECORD: record });
    const calls = () => fs.readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const res = await get(hs.port, '/hello?x=1', { 'X-Hook-Test': 'yes' });
    assert.deepEqual([res.status, res.body.toString()], [200, 'Hello, world!']);
    assert.equal((await get(hs.port, '/refused-by-hook')).status, 500, 'pre_request raising: a 500, the app never runs (it would 404)');
    await hs.waitForOutput(/Error handling request \/refused-by-hook\nTraceback[\s\S]*RuntimeError: pre_request says no/);
    assert.equal((await get(hs.port, '/post-fails')).status, 404, 'post_request raising: the answer stands');
    await hs.waitForOutput(/\[ERROR\] Exception in post_request hook\nTraceback[\s\S]*RuntimeError: post_request says no/);
    await waitUntil(() => calls().some((c) => c.hook === 'post_request' && c.path === '/post-fails'), 5000, 'post_request for /post-fails');

    const pre = calls().find((c) => c.hook === 'pre_request' && c.path === '/hello')!;
    assert.deepEqual(
      { method: pre.method, uri: pre.uri, query: pre.query, version: pre.version, header: pre.header, thread: pre.thread },
      { method: 'GET', uri: '/hello?x=1', query: 'x=1', version: [1, 1], header: 'yes', thread: 'MainThread' },
    );
    const post = calls().find((c) => c.hook === 'post_request' && c.path === '/hello')!;
    assert.deepEqual(
      { status: post.status, status_code: post.status_code, sent: post.sent, headers: post.headers, environ_path: post.environ_path, same_req: post.same_req },
      { status: '200 OK', status_code: 200, sent: 13, headers: [['content-type', 'text/plain']], environ_path: '/hello', same_req: true },
    );
    const refused = calls().find((c) => c.hook === 'post_request' && c.path === '/refused-by-hook')!;
    assert.deepEqual([refused.status, refused.status_code], ['500 Internal Server Error', 500], 'post_request sees the 500');
    assert.equal((await hs.stop()).code, 0);
  });

  test('Expect: 100-continue is answered when the app first reads', async () => {
    const c = await Client.connect(s.port);
    c.send('POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    const interim = await c.response();
    assert.equal(interim.status, 100);
    c.send('hello');
    assert.equal((await c.response()).body.toString().split(' ')[0], '5');
    c.destroy();
  });

  test('stop', async () => {
    assert.equal((await s.stop()).code, 0);
  });
});

describe('asgi: TLS, PROXY protocol and trusted scheme headers (the WSGI workers\' setup)', () => {
  test('https, with the scope saying so', async () => {
    const pki = makePki();
    const port = await freePort();
    const s = await startServer(['--chdir', DIR, '-k', 'asgi', '-b', `127.0.0.1:${port}`, '--certfile', pki.serverCert,
      '--keyfile', pki.serverKey, 'raw_app:app'], { python: SYSTEM_PYTHON, noBind: true, port, readyPattern: /Booting worker/ });
    servers.push(s);
    const fetchScope = () => new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/scope', ca: fs.readFileSync(pki.caCert), agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(JSON.parse(body)));
      });
      req.on('error', reject);
    });
    let scope: Record<string, unknown> = {};
    await waitUntil(async () => {
      scope = await fetchScope().catch(() => ({}));
      return scope.type === 'http';
    }, 20000, 'an HTTPS answer');
    assert.equal(scope.scheme, 'https');
    await s.stop();
    fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  test('PROXY v1 in clear text: the scope\'s client is the proxied one; forwarded headers set the scheme when trusted', async () => {
    const s = await serve(['-k', 'asgi', '--proxy-protocol', '--proxy-allow-from', '127.0.0.1', 'raw_app:app']);
    const res = parseResponse(await rawRequest(s.port,
      'PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\nGET /scope HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n'));
    const scope = JSON.parse(res.body.toString());
    assert.deepEqual({ client: scope.client, scheme: scope.scheme }, { client: ['203.0.113.7', 40000], scheme: 'https' });
    const refused = parseResponse(await rawRequest(s.port, 'PROXY TCP4 nonsense\r\nGET / HTTP/1.1\r\n\r\n'));
    assert.equal(refused.status, 400);
    await s.stop();
  });
});

describe('asgi: lifespan', () => {
  test('startup and shutdown run once in each worker', async () => {
    const notes = tmp('lifespan');
    const s = await serve(['-k', 'asgi', '-w', '2', 'raw_app:app'], { ASGI_LIFESPAN_LOG: notes });
    await waitUntil(() => workerPids(s).length === 2, 10000, 'two workers');
    await waitUntil(() => fs.readFileSync(notes, 'utf8').split('\n').filter((l) => l.startsWith('startup')).length === 2, 10000, 'two startups');
    const pids = workerPids(s).sort();
    const started = fs.readFileSync(notes, 'utf8').trim().split('\n').map((l) => l.split(' '));
    assert.deepEqual(started.map(([what]) => what), ['startup', 'startup']);
    assert.deepEqual(started.map(([, pid]) => Number(pid)).sort(), pids);
    assert.equal((await s.stop()).code, 0);
    const lines = fs.readFileSync(notes, 'utf8').trim().split('\n').map((l) => l.split(' '));
    assert.deepEqual(lines.filter(([what]) => what === 'shutdown').map(([, pid]) => Number(pid)).sort(), pids);
  });

  test('lifespan.startup.failed stops the boot with the app\'s message', async () => {
    const r = await runCli(['--chdir', DIR, '-k', 'asgi', '-b', '127.0.0.1:0', 'raw_app:app'], {
      python: SYSTEM_PYTHON, env: { ASGI_STARTUP_FAIL: 'database unreachable at db:5432' },
    });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /Application startup failed: database unreachable at db:5432/);
  });

  test('auto serves an app whose lifespan raises; on refuses to boot with its error', async () => {
    const s = await serve(['-k', 'asgi', 'broken_lifespan:app']);
    assert.equal((await get(s.port, '/')).body.toString(), 'served without lifespan');
    assert.match(s.output(), /lifespan' protocol appears unsupported/);
    await s.stop();
    const r = await runCli(['--chdir', DIR, '-k', 'asgi', '--asgi-lifespan', 'on', '-b', '127.0.0.1:0', 'broken_lifespan:app'], { python: SYSTEM_PYTHON });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /Application startup failed: the app raised RuntimeError: no lifespan here/);
  });

  test('off never sends the lifespan scope', async () => {
    const notes = tmp('off');
    const s = await serve(['-k', 'asgi', '--asgi-lifespan', 'off', 'raw_app:app'], { ASGI_LIFESPAN_LOG: notes });
    const res = await get(s.port, '/scope');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-state-pid'], 'None');
    assert.equal(fs.existsSync(notes), false);
    await s.stop();
  });
});

describe('asgi: websockets (python3-websockets client)', () => {
  let s: Server;

  test('start', async () => {
    s = await serve(['-k', 'asgi', '-w', '1', 'raw_app:app']);
  });

  test('handshake with a subprotocol, text, a 3 MiB binary message, fragmentation, ping/pong, close 1000', async () => {
    assert.deepEqual(await wsClient('echo', s.port), {
      subprotocol: 'chat', text: 'héllo', binary_ok: true, fragmented: 'fragmented message', pong: true, close_code: 1000,
    });
  });

  test('close codes from the app reach the client', async () => {
    assert.deepEqual(await wsClient('close-code', s.port), { code: 4001, reason: 'bye' });
    assert.deepEqual(await wsClient('app-close', s.port), { code: 4002, reason: 'asked' });
  });

  test('websocket.close before accept is a 403; websocket.http.response is the app\'s own answer', async () => {
    assert.deepEqual(await wsClient('deny', s.port, '/ws/deny'), { status: 403 });
    assert.deepEqual(await wsClient('deny', s.port, '/ws/http-deny'), { status: 401 });
  });

  test('protocol errors close with their RFC 6455 codes', async () => {
    for (const [kind, code] of [
      ['unmasked', 1002], ['bad-utf8', 1007], ['too-big', 1009], ['bad-close-code', 1002], ['orphan-continuation', 1002],
    ] as Array<[string, number]>) {
      assert.deepEqual(await wsClient('protocol-error', s.port, kind), { status: 'HTTP/1.1 101 Switching Protocols', code }, kind);
    }
    assert.deepEqual(await wsClient('bad-version', s.port), { status_line: 'HTTP/1.1 426 Upgrade Required', version_header: true });
  });

  test('websocket_max_message_size: a message over it, whole or fragmented, closes with 1009; 0 means no limit', async () => {
    const small = await serve(['-k', 'asgi', '--asgi-lifespan', 'off', '--websocket-max-message-size', '1000', 'raw_app:app']);
    assert.deepEqual(await wsClient('sizes', small.port, '1000'), { echoed: 1000, whole: 1009, fragmented: 1009 });
    await small.stop();
    const unlimited = await serve(['-k', 'asgi', '--asgi-lifespan', 'off', '--websocket-max-message-size', '0', 'raw_app:app']);
    assert.deepEqual(await wsClient('sizes', unlimited.port, '0'), { echoed: (16 << 20) + 1 });
    await unlimited.stop();
  });

  test('before the app accepts, reading pauses after one largest message (websocket_max_message_size); nothing is lost', async () => {
    const limit = 100000;
    const gated = await serve(['-k', 'asgi', '-w', '1', '--asgi-lifespan', 'off', '--log-level', 'debug',
      '--websocket-max-message-size', String(limit), 'raw_app:app']);
    // 40 messages of the largest size: 4 MB, far under the fixed 16 MiB the pause used to wait for.
    const client = wsClientProcess('pre-accept', gated.port, String(limit), '40');
    const paused = await gated.waitForOutput(
      /websocket from [^:]+:\d+: (\d+) bytes before the app accepted, over the (\d+) of one largest message: reading paused/, 30000);
    assert.equal(Number(paused[2]), limit + 14); // one message and its longest frame header
    assert.ok(Number(paused[1]) <= limit + 14 + (1 << 18), `paused at ${paused[1]} bytes: within one read of the limit`);
    assert.equal((await get(gated.port, '/open-gate')).body.toString(), 'open');
    assert.deepEqual(await client.result, { status: 'HTTP/1.1 101 Switching Protocols', echoed: 40, intact: true });
    await gated.stop();
  });

  test('messages the app does not receive yet: reading pauses at 256 KiB of them (not only at 64 messages); nothing is lost', async () => {
    const lazy = await serve(['-k', 'asgi', '-w', '1', '--asgi-lifespan', 'off', '--log-level', 'debug', 'raw_app:app']);
    // 40 messages of 1 MiB (under the 16 MiB maximum), to an app that accepted but does not receive: 40 MiB held
    // for one connection when the queue was bounded by its count alone.
    const size = 1 << 20;
    const client = wsClientProcess('unread', lazy.port, String(size), '40');
    const paused = await lazy.waitForOutput(
      /websocket from [^:]+:\d+: (\d+) messages, (\d+) bytes waiting for the app to receive them: reading paused/, 30000);
    assert.equal(Number(paused[1]), 1, `${paused[1]} messages queued at the pause`); // one message is over 256 KiB
    assert.equal(Number(paused[2]), size);
    assert.equal((await get(lazy.port, '/open-gate')).body.toString(), 'open');
    assert.deepEqual(await client.result, { status: 'HTTP/1.1 101 Switching Protocols', echoed: 40, intact: true });
    await lazy.stop();
  });

  test('a websocket refused before accept that its client keeps open is closed after the linger, freeing its slot', async () => {
    const one = await serve(['-k', 'asgi', '-w', '1', '--worker-connections', '1', 'raw_app:app']);
    // allowHalfOpen: the client keeps its side open after the server's FIN (Node's default would end it at once).
    const refused = net.createConnection({ port: one.port, host: '127.0.0.1', allowHalfOpen: true });
    let answer = '';
    const ended = new Promise<void>((resolve) => refused.on('end', resolve));
    refused.on('data', (d) => (answer += d));
    refused.write('GET /ws/deny HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await ended;
    assert.match(answer, /^HTTP\/1\.1 403 /);
    const next = await Client.connect(one.port); // waits in the listen queue while the refused one holds the only slot
    next.send(GET('/hello'));
    assert.equal((await next.response(30000)).body.toString(), 'Hello, world!');
    refused.destroy();
    next.destroy();
    await one.stop();
  });

  test('a graceful stop (TERM) closes open websockets with 1001', async () => {
    const held = wsClientProcess('hold', s.port);
    await held.opened;
    const stopped = s.stop('SIGTERM');
    assert.deepEqual(await held.result, { code: 1001, reason: 'server shutting down' });
    assert.equal((await stopped).code, 0);
  });
});

describe('asgi: frameworks', () => {
  test('Starlette: routes, lifespan state, streaming upload and download, a websocket', async () => {
    const s = await serve(['-k', 'asgi', '-w', '1', 'starlette_app:app']);
    assert.equal((await get(s.port, '/')).body.toString(), 'Hello from Starlette');
    const info = JSON.parse((await get(s.port, '/info?a=b')).body.toString());
    assert.deepEqual({ ...info, state_pid: undefined }, {
      path: '/info', query: { a: 'b' }, method: 'GET', client: '127.0.0.1', scheme: 'http', root_path: '', state_pid: undefined,
    });
    assert.deepEqual(workerPids(s), [info.state_pid]);
    const body = crypto.randomBytes(3 << 20);
    const up = parseResponse(await rawRequest(s.port, Buffer.concat([
      Buffer.from(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body,
    ]), { timeoutMs: 30000 }));
    assert.deepEqual(JSON.parse(up.body.toString()), { size: body.length });
    const c = await Client.connect(s.port);
    c.send(GET('/download?n=500'));
    const down = await c.response(15000);
    assert.equal(down.headers['transfer-encoding'], 'chunked');
    c.destroy();
    assert.deepEqual(await wsClient('upper', s.port, '/ws'), { reply: 'ABC' });
    await s.stop();
  });

  test('FastAPI: JSON routes, path and query parameters, a validated body, startup state', async () => {
    const s = await serve(['-k', 'uvicorn.workers.UvicornWorker', '-w', '1', 'fastapi_app:app']);
    assert.match(s.output(), /Using worker: asgi/);
    assert.deepEqual(JSON.parse((await get(s.port, '/json')).body.toString()), { message: 'Hello, world!' });
    assert.deepEqual(JSON.parse((await get(s.port, '/items/5?q=x')).body.toString()), { item_id: 5, q: 'x' });
    const payload = '{"name": "pen", "price": 1.5}';
    const created = parseResponse(await rawRequest(s.port,
      `POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n${payload}`));
    assert.deepEqual(JSON.parse(created.body.toString()), { name: 'pen', price: 1.5, pid: workerPids(s)[0] });
    const invalid = parseResponse(await rawRequest(s.port,
      'POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'));
    assert.equal(invalid.status, 422);
    await s.stop();
  });

  test('Quart: a route, a request body, a websocket', async () => {
    const s = await serve(['-k', 'asgi', '-w', '1', 'quart_app:app']);
    assert.equal((await get(s.port, '/')).body.toString(), 'Hello from Quart');
    const echoed = parseResponse(await rawRequest(s.port,
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello quart'));
    assert.deepEqual(JSON.parse(echoed.body.toString()), { length: 11, head: 'hello quar' });
    assert.deepEqual(await wsClient('upper', s.port, '/ws'), { reply: 'quart:abc' });
    await s.stop();
  });

  test('Django: unicorn-django -k asgi serves get_asgi_application()', async () => {
    const s = await startServer(['-k', 'asgi', '-w', '1'], { python: SYSTEM_PYTHON, bin: 'unicorn-django', cwd: path.join(EXAMPLES, 'djangoproject') });
    servers.push(s);
    const res = await get(s.port, '/');
    assert.equal(res.body.toString(), 'Hello from Django on Unicorn!\n');
    const info = JSON.parse((await get(s.port, '/api/info?q=asgi')).body.toString());
    assert.deepEqual({ path: info.path, query: info.query }, { path: '/api/info', query: { q: 'asgi' } });
    await s.stop();
  });
});

describe('asgi: under the arbiter', () => {
  test('the scoreboard: busy with the request in progress, open connections counted, then idle', async () => {
    const sock = tmp('ctl.sock');
    // --asgi-disconnect-grace-period 0: the abandoned request below is cancelled as soon as its client leaves.
    const s = await serve(['-k', 'asgi', '-w', '1', '--keep-alive', '30', '--asgi-disconnect-grace-period', '0', '--control-socket', sock, 'raw_app:app']);
    const status = async () => (await ctlRequest(sock, { command: 'status' })).workers[0];
    await waitUntil(async () => (await status()).state === 'idle', 5000, 'idle after boot');
    const idle = [await Client.connect(s.port), await Client.connect(s.port)];
    for (const c of idle) {
      c.send(GET('/hello'));
      await c.response();
    }
    const c = await Client.connect(s.port);
    c.send(GET('/slow?30'));
    await waitUntil(async () => (await status()).state === 'busy', 5000, 'busy');
    const busy = await status();
    assert.deepEqual({ method: busy.request?.method, path: busy.request?.path, connections: busy.connections }, { method: 'GET', path: '/slow', connections: 3 });
    c.destroy();
    // The disconnect grace period (none here) ends the abandoned request: the worker is idle again.
    await waitUntil(async () => {
      const w = await status();
      return w.state === 'idle' && w.connections === 2;
    }, 10000, 'idle with two open connections');
    for (const x of idle) x.destroy();
    await waitUntil(async () => (await status()).connections === 0, 5000, 'no connection');
    await s.stop();
  });

  test('a loop blocked past timeout is killed after a dump of its threads and pending tasks', async () => {
    const s = await serve(['-k', 'asgi', '-w', '1', '--timeout', '2', 'raw_app:app']);
    const [first] = workerPids(s);
    const c = await Client.connect(s.port);
    c.send(GET('/block?60'));
    await s.waitForOutput(/Pending asyncio tasks \(\d+\):[\s\S]*raw_app\.py", line \d+, in app[\s\S]*Worker timed out/, 20000);
    // faulthandler's dump of the thread, from its C handler, comes first.
    assert.match(s.output(), /Current thread 0x[0-9a-f]+ \(most recent call first\):\n\s+File "[^"]*raw_app\.py", line \d+ in app[\s\S]*Pending asyncio tasks/);
    c.destroy();
    await waitUntil(() => workerPids(s).length === 1 && workerPids(s)[0] !== first, 15000, 'a replacement worker');
    assert.equal((await get(s.port, '/hello')).status, 200);
    await s.stop();
  });

  test('debugger attach: a breakpoint in an async route stops there, and the paused worker is not killed', async () => {
    const sock = tmp('ctl.sock');
    const s = await serve(['-k', 'asgi', '-w', '1', '-t', '2', '--control-socket', sock, 'raw_app:app']);
    const [pid] = workerPids(s);
    const { port } = await ctlRequest(sock, { command: 'debug', pid });
    const dap = await DapClient.connect(port);
    const line = fs.readFileSync(path.join(DIR, 'raw_app.py'), 'utf8').split('\n')
      .findIndex((l) => l.includes('await asyncio.sleep(float(scope["query_string"]')) + 1;
    try {
      await dap.request('initialize', { adapterID: 'python', clientID: 'unicorn-test', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
      const attached = dap.request('attach', { justMyCode: false });
      await dap.event('initialized');
      const bp = await dap.request('setBreakpoints', { source: { path: path.join(DIR, 'raw_app.py') }, breakpoints: [{ line }] });
      assert.equal((bp.body!.breakpoints as Array<{ verified: boolean }>)[0].verified, true);
      await dap.request('configurationDone');
      await attached;
      const response = rawRequest(s.port, 'GET /slow?0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeoutMs: 60000 });
      const stopped = await dap.event('stopped');
      assert.equal(stopped.body!.reason, 'breakpoint');
      const status = await ctlRequest(sock, { command: 'status' });
      assert.deepEqual({ state: status.workers[0].state, path: status.workers[0].request?.path, attached: status.workers[0].debugger_attached },
        { state: 'busy', path: '/slow', attached: true });
      // The loop is paused, so its heartbeat stops: the watchdog notices and spares it.
      await s.waitForOutput(new RegExp(`Worker \\(pid:${pid}\\) is silent for over 2s but a debugger is attached: not killing it`), 20000);
      assert.ok(isAlive(pid), 'the paused worker survived');
      assert.doesNotMatch(s.output(), /WORKER TIMEOUT/);
      await dap.request('continue', { threadId: stopped.body!.threadId });
      const res = parseResponse(await response);
      assert.equal(res.body.toString(), 'slow done');
    } finally {
      dap.close();
    }
    await s.stop();
  });

  test('a graceful stop (TERM) finishes the request in progress, answering Connection: close', async () => {
    const notes = tmp('slow');
    const s = await serve(['-k', 'asgi', '-w', '1', '--keep-alive', '2', 'raw_app:app'], { ASGI_LIFESPAN_LOG: notes });
    const idle = await Client.connect(s.port);
    idle.send(GET('/hello'));
    await idle.response();
    const c = await Client.connect(s.port);
    c.send(GET('/slow?1.5'));
    await waitUntil(() => fs.readFileSync(notes, 'utf8').includes('slow'), 10000, 'the request to be in the app');
    const stopped = s.stop('SIGTERM', 20000);
    const res = await c.response(15000);
    assert.deepEqual([res.status, res.body.toString(), res.headers.connection], [200, 'slow done', 'close']);
    await idle.closedWithin(10000); // the idle keep-alive connection ends at its keep-alive deadline
    assert.equal((await stopped).code, 0);
  });

  test('a websocket the app accepts after TERM is closed with 1001 too, not held to graceful_timeout', async () => {
    // The handshake is in the app (which accepts a second later) when TERM arrives: the drain's 1001 went
    // to the websockets open at that moment, and this one, opened during the drain, must get it as well
    // (as must a reconnect taken from the listen queue by the drain). Held, it would be aborted at the 20 s
    // graceful timeout instead, with that logged.
    const notes = tmp('gated');
    const s = await serve(['-k', 'asgi', '-w', '1', '--graceful-timeout', '20', 'raw_app:app'], { ASGI_LIFESPAN_LOG: notes });
    const sock = net.connect({ port: s.port, host: '127.0.0.1' });
    await once(sock, 'connect');
    let got = Buffer.alloc(0);
    sock.on('data', (d) => (got = Buffer.concat([got, d])));
    const ended = once(sock, 'close');
    sock.write('GET /ws/gated?1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await waitUntil(() => fs.existsSync(notes) && fs.readFileSync(notes, 'utf8').includes('ws-gated'), 10000, 'the handshake to be in the app');
    const stopped = s.stop('SIGTERM', 30000);
    await ended; // the server closes after its close frame (our side answers nothing: it times the close out)
    const head = got.indexOf('\r\n\r\n');
    assert.match(got.subarray(0, head).toString(), /^HTTP\/1\.1 101 /);
    const frame = got.subarray(head + 4);
    assert.equal(frame[0], 0x88, 'a close frame');
    assert.equal(frame.readUInt16BE(2), 1001);
    assert.equal((await stopped).code, 0);
    assert.doesNotMatch(s.output(), /graceful timeout: closing/);
  });

  test('max_requests recycles the worker', async () => {
    const s = await serve(['-k', 'asgi', '-w', '1', '--max-requests', '3', 'raw_app:app']);
    const [first] = workerPids(s);
    for (let i = 0; i < 3; i++) assert.equal((await get(s.port, '/hello')).status, 200);
    await waitUntil(() => workerPids(s).length === 1 && workerPids(s)[0] !== first, 15000, 'a fresh worker');
    await s.waitForOutput(/Autorestarting worker after current request/);
    await s.stop();
  });

  test('HUP under websocket load: every websocket ends with 1001 or its own close, no connect fails, none lost', async () => {
    const sock = tmp('ctl.sock');
    const s = await serve(['-k', 'asgi', '-w', '2', '--control-socket', sock, 'raw_app:app']);
    const old = workerPids(s).sort();
    // The load's 8 clients run until the stop file exists (60 s at most).
    const stop = tmp('stop');
    const load = wsClientProcess('load', s.port, '60', stop);
    const open = async () => (await ctlRequest(sock, { command: 'status' })).workers.reduce((n, w) => n + w.connections, 0);
    await waitUntil(async () => (await open()) === 8, 20000, 'the 8 websockets open');
    process.kill(s.pid, 'SIGHUP');
    await waitUntil(() => {
      const now = workerPids(s);
      return now.length === 2 && now.every((p) => !old.includes(p));
    }, 30000, 'two new workers');
    // Every client, closed with 1001 by an old worker, has connected again to a new one: the load ends.
    await waitUntil(async () => (await open()) === 8, 20000, 'the 8 websockets open on the new workers');
    fs.writeFileSync(stop, '');
    const stats = (await load.result) as { echoed: number; ends: Record<string, number>; connect_errors: number; lost: number };
    assert.equal(stats.connect_errors, 0);
    assert.equal(stats.lost, 0);
    assert.ok(stats.echoed > 0);
    for (const end of Object.keys(stats.ends)) assert.ok(['1001', 'client-close'].includes(end), `a websocket ended with ${end}`);
    await s.stop();
  });
});

describe('asgi: loops and the connection cap', () => {
  test('asgi_loop: auto takes uvloop when importable, asyncio when not; uvloop insists', async () => {
    const s = await serve(['-k', 'asgi', 'raw_app:app']);
    assert.equal((await get(s.port, '/loop')).body.toString(), 'uvloop');
    await s.stop();
    const a = await serve(['-k', 'asgi', '--asgi-loop', 'asyncio', 'raw_app:app']);
    assert.match((await get(a.port, '/loop')).body.toString(), /^asyncio/);
    await a.stop();
    const bare = pythonWithoutGevent(); // a venv of its own: no uvloop either
    const r = await runCli(['--chdir', DIR, '-k', 'asgi', '--asgi-loop', 'uvloop', '-b', '127.0.0.1:0', 'raw_app:app'], { python: bare });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /asgi_loop = uvloop but uvloop is not importable by .* — install it \(apt install python3-uvloop, or pip install uvloop\) or use asgi_loop = asyncio/);
  });

  test('worker_connections caps the open connections: one more waits in the listen queue until one closes', async () => {
    const s = await serve(['-k', 'asgi', '-w', '1', '--worker-connections', '2', '--keep-alive', '30', 'raw_app:app']);
    const a = await Client.connect(s.port);
    const b = await Client.connect(s.port);
    for (const x of [a, b]) {
      x.send(GET('/hello'));
      assert.equal((await x.response()).status, 200);
    }
    const c = await Client.connect(s.port);
    c.send(GET('/hello'));
    await assert.rejects(c.response(800), /nothing within 800 ms/);
    a.destroy();
    assert.equal((await c.response(5000)).body.toString(), 'Hello, world!');
    b.send(GET('/hello'));
    assert.equal((await b.response()).status, 200);
    b.destroy();
    c.destroy();
    await s.stop();
  });
});

describe('worker classes: names, app kinds, gevent', () => {
  test('a WSGI app under -k asgi, or an ASGI app under sync, is refused naming the class to use (run and --check-config)', async () => {
    let r = await runCli(['--chdir', DIR, '-k', 'asgi', '-b', '127.0.0.1:0', 'wsgi_app:app'], { python: SYSTEM_PYTHON });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /wsgi_app:app is a WSGI app but worker_class asgi serves ASGI apps — run it with -k gthread/);
    r = await runCli(['--chdir', DIR, '-b', '127.0.0.1:0', 'raw_app:app'], { python: SYSTEM_PYTHON });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /raw_app:app is an ASGI app but worker_class sync serves WSGI apps — run it with -k asgi/);
    r = await runCli(['--chdir', DIR, '-k', 'asgi', '--check-config', 'wsgi_app:app'], { python: SYSTEM_PYTHON });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /is a WSGI app but worker_class asgi serves ASGI apps/);
    r = await runCli(['--chdir', DIR, '-k', 'gthread', '--check-config', 'starlette_app:app'], { python: SYSTEM_PYTHON });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /starlette_app:app is an ASGI app but worker_class gthread serves WSGI apps — run it with -k asgi/);
    r = await runCli(['--chdir', DIR, '-k', 'uvicorn.workers.UvicornH11Worker', '--check-config', 'quart_app:app'], { python: SYSTEM_PYTHON });
    assert.equal(r.code, 0, r.stderr);
  });

  test('gunicorn and uvicorn class names map to Unicorn\'s classes; eventlet, tornado and custom classes are refused', async () => {
    for (const [name, klass] of [
      ['uvicorn.workers.UvicornWorker', 'asgi'], ['uvicorn.workers.UvicornH11Worker', 'asgi'],
      ['gunicorn.workers.gasgi.ASGIWorker', 'asgi'], ['egg:gunicorn#gevent', 'gevent'], ['ggevent', 'gevent'],
      ['gunicorn.workers.ggevent.GeventWorker', 'gevent'], ['gunicorn.workers.sync.SyncWorker', 'sync'],
      ['gunicorn.workers.gthread.ThreadWorker', 'gthread'], ['egg:gunicorn#gthread', 'gthread'],
    ]) {
      const r = await runCli(['-k', name, '--print-config', 'x:app']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^worker_class\\s*=\\s*['"]?${klass}['"]?$`, 'm'), name);
    }
    for (const [name, why] of [
      ['eventlet', /eventlet is not supported \(gunicorn 26 removed its eventlet worker.*— use -k gevent/],
      ['tornado', /tornado is not supported .*— run a Tornado app with its own server/],
      ['myproject.workers.CustomWorker', /"myproject\.workers\.CustomWorker" looks like a custom gunicorn Worker subclass.*— use one of sync, gthread, asgi, gevent/],
    ] as Array<[string, RegExp]>) {
      const r = await runCli(['-k', name, '--check-config', 'x:app']);
      assert.equal(r.code, 2, name);
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  test('gevent: worker_connections requests at once in one worker, and keep-alive', async () => {
    const s = await serve(['-k', 'gevent', '-w', '1', '--worker-connections', '20', '--keep-alive', '30', 'gevent_app:app']);
    // Each request waits until 8 have arrived: only concurrent requests can all be answered.
    const answers = await Promise.all(Array.from({ length: 8 }, () => get(s.port, '/barrier?8')));
    assert.deepEqual(answers.map((r) => r.body.toString()), Array(8).fill('8 arrived'));
    const c = await Client.connect(s.port);
    c.send(GET('/hello'));
    const first = await c.response();
    assert.equal(first.headers.connection, 'keep-alive');
    c.send(GET('/hello'));
    assert.equal((await c.response()).body.toString(), 'hello from gevent');
    c.destroy();
    await s.stop();
  });

  test('gevent without gevent installed: a one-line error naming how to install it', async () => {
    const bare = pythonWithoutGevent();
    const r = await runCli(['--chdir', DIR, '-k', 'gevent', '-b', '127.0.0.1:0', 'gevent_app:app'], { python: bare });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /worker_class gevent needs the gevent package, which .* cannot import — install it \(apt-get install python3-gevent, or pip install gevent\)/);
  });
});

/** Sends `requests` over TLS (after `proxyLine` in clear text, when given) and reads until the server closes. */
function tlsExchange(port: number, ca: Buffer, requests: string, proxyLine = ''): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ port, host: '127.0.0.1' }, () => {
      if (proxyLine) raw.write(proxyLine);
      const sock = tls.connect({ socket: raw, ca, servername: 'localhost' }, () => sock.write(requests));
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no close from the server within 20 s; got: ${Buffer.concat(chunks)}`));
      }, 20000);
      sock.on('data', (d) => chunks.push(d));
      sock.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
    });
    raw.on('error', reject);
  });
}

/** Responses with Content-Length, one after the other in `raw`. */
function splitResponses(raw: Buffer<ArrayBufferLike>): Array<ReturnType<typeof parseResponse>> {
  const out = [];
  while (raw.length) {
    const res = parseResponse(raw);
    const length = Number(res.headers['content-length']);
    out.push({ ...res, body: res.body.subarray(0, length) });
    raw = res.body.subarray(length);
  }
  return out;
}

describe('gevent: TLS, PROXY protocol, graceful stop', () => {
  test('TLS (certfile/keyfile) with keep-alive, and a PROXY v1 header in front of the handshake', async () => {
    const pki = makePki();
    const ca = fs.readFileSync(pki.caCert);
    const port = await freePort();
    const s = await startServer(['--chdir', DIR, '-k', 'gevent', '-w', '1', '-b', `127.0.0.1:${port}`, '--certfile', pki.serverCert,
      '--keyfile', pki.serverKey, '--proxy-protocol', '--proxy-allow-from', '127.0.0.1', 'gevent_app:app'],
    { python: SYSTEM_PYTHON, noBind: true, port, readyPattern: /Booting worker/ });
    servers.push(s);
    const requests = `${GET('/environ')}GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    let raw: Buffer<ArrayBufferLike> = Buffer.alloc(0);
    await waitUntil(async () => {
      raw = await tlsExchange(port, ca, requests, 'PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n').catch(() => Buffer.alloc(0));
      return raw.length > 0;
    }, 20000, 'an HTTPS answer');
    const [first, second] = splitResponses(raw);
    assert.deepEqual(JSON.parse(first.body.toString()), { REMOTE_ADDR: '203.0.113.7', REMOTE_PORT: '40000', 'wsgi.url_scheme': 'https' });
    assert.equal(first.headers.connection, 'keep-alive');
    assert.deepEqual([second.status, second.body.toString()], [200, 'hello from gevent']);
    // Without a PROXY header (optional, as in gunicorn) the handshake goes ahead and the peer is the real one.
    const direct = parseResponse(await tlsExchange(port, ca, GET('/environ', 'Connection: close\r\n')));
    assert.deepEqual(JSON.parse(direct.body.toString())['REMOTE_ADDR'], '127.0.0.1');
    await s.stop();
    fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  test('PROXY v1 in clear text: REMOTE_ADDR is the proxied client; a malformed header is answered 400', async () => {
    const s = await serve(['-k', 'gevent', '-w', '1', '--proxy-protocol', '--proxy-allow-from', '127.0.0.1', 'gevent_app:app']);
    const res = parseResponse(await rawRequest(s.port,
      'PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\nGET /environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(JSON.parse(res.body.toString()), { REMOTE_ADDR: '203.0.113.7', REMOTE_PORT: '40000', 'wsgi.url_scheme': 'http' });
    const refused = parseResponse(await rawRequest(s.port, 'PROXY TCP4 nonsense\r\nGET / HTTP/1.1\r\n\r\n'));
    assert.equal(refused.status, 400);
    await s.stop();
  });

  test('a graceful stop (TERM) closes idle keep-alive connections and finishes the request in progress (Connection: close)', async () => {
    const gate = tmp('gate');
    const s = await serve(['-k', 'gevent', '-w', '1', '--keep-alive', '60', 'gevent_app:app'], { GATE_FILE: gate });
    const idle = await Client.connect(s.port);
    idle.send(GET('/hello'));
    assert.equal((await idle.response()).status, 200);
    const c = await Client.connect(s.port);
    c.send(GET('/gate'));
    await waitUntil(() => fs.existsSync(`${gate}.entered`), 10000, 'the request to be in the app');
    const stopped = s.stop('SIGTERM', 30000);
    // The idle connection closing (long before its keep-alive deadline) shows the worker is stopping.
    await idle.closedWithin(20000);
    fs.writeFileSync(gate, '');
    const res = await c.response(20000);
    assert.deepEqual([res.status, res.body.toString(), res.headers.connection], [200, 'passed', 'close']);
    await c.closedWithin(10000);
    assert.equal((await stopped).code, 0);
  });
});

/** An interpreter without gevent: a venv without system site packages. */
function pythonWithoutGevent(): string {
  const dir = tmp('venv');
  const made = spawnSync(SYSTEM_PYTHON, ['-m', 'venv', '--without-pip', dir]);
  assert.equal(made.status, 0, String(made.stderr));
  return path.join(dir, 'bin', 'python3');
}
