// The gthread worker through the real CLI and real sockets: keep-alive, pipelining, timeouts, the
// connection cap, slow clients, graceful stop, recycling and the scoreboard.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, rawRequest, parseResponse, runCli, waitUntil, sleep, FIXTURES, Server, ParsedResponse } from '../helpers';
import { Client, destroyClients } from '../http-client';

const APPS = path.join(FIXTURES, 'apps');
const GET = (p: string, extra = '', version = '1.1') => `GET ${p} HTTP/${version}\r\nHost: x\r\n${extra}\r\n`;

const servers: Server[] = [];
after(async () => {
  destroyClients();
  for (const s of servers) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

async function serve(args: string[]): Promise<Server> {
  const s = await startServer(['--chdir', APPS, '-k', 'gthread', ...args, 'gthread_app:app']);
  servers.push(s);
  return s;
}


const pidOf = (res: ParsedResponse) => Number(/pid=(\d+)/.exec(res.body.toString())![1]);

describe('gthread: keep-alive and pipelining', () => {
  let server: Server;
  test('start', async () => {
    server = await serve(['-w', '1', '--threads', '2', '--keep-alive', '1']);
  });

  test('several requests on one connection, each answered keep-alive by a pool thread', async () => {
    const c = await Client.connect(server.port);
    for (const p of ['/one', '/two', '/three']) {
      c.send(GET(p));
      const res = await c.response();
      assert.equal(res.status, 200);
      assert.equal(res.headers.connection, 'keep-alive');
      assert.match(res.body.toString(), new RegExp(`^${p} pid=\\d+ thread=unicorn-pool-\\d multithread=True$`));
      assert.equal(c.closed, false);
    }
    c.destroy();
  });

  test('three pipelined requests in one write are answered in order, the slow first one too', async () => {
    const c = await Client.connect(server.port);
    c.send(GET('/sleep?0.3') + GET('/b') + GET('/c', 'Connection: close\r\n'));
    const bodies = [];
    for (let i = 0; i < 3; i++) bodies.push((await c.response()).body.toString().split(' ')[0]);
    assert.deepEqual(bodies, ['/sleep', '/b', '/c']);
    await c.closedWithin(2000);
  });

  test('a pipelined request after a malformed one is never answered: 400 and close', async () => {
    const c = await Client.connect(server.port);
    c.send(GET('/ok') + 'GET / HTTP/1.1\r\nHost : x\r\n\r\n' + GET('/never'));
    assert.equal((await c.response()).status, 200);
    const bad = await c.response();
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.connection, 'close');
    await c.closedWithin(3000);
  });

  test('an idle connection is closed after keepalive seconds', async () => {
    const c = await Client.connect(server.port);
    c.send(GET('/'));
    await c.response();
    const idleSince = Date.now();
    await c.closedWithin(4000);
    const idle = c.closedAt - idleSince;
    assert.ok(idle >= 900 && idle < 2500, `closed after ${idle} ms idle, keepalive is 1 s`);
  });

  test('HTTP/1.0: closed by default, kept with Connection: keep-alive', async () => {
    const plain = await Client.connect(server.port);
    plain.send(GET('/', '', '1.0'));
    const res = await plain.response();
    assert.equal(res.headers.connection, 'close');
    await plain.closedWithin(2000);

    const kept = await Client.connect(server.port);
    kept.send(GET('/', 'Connection: keep-alive\r\n', '1.0'));
    assert.equal((await kept.response()).headers.connection, 'keep-alive');
    kept.send(GET('/again', 'Connection: keep-alive\r\n', '1.0'));
    assert.equal((await kept.response()).body.toString().split(' ')[0], '/again');
    // A body without a length ends with the connection, keep-alive asked or not.
    kept.send(GET('/stream', 'Connection: keep-alive\r\n', '1.0'));
    const stream = await kept.response();
    assert.equal(stream.headers.connection, 'close');
    assert.equal(stream.body.toString(), 'one,two');
    await kept.closedWithin(2000);
  });

  test('HTTP/1.1 Connection: close is honoured', async () => {
    const c = await Client.connect(server.port);
    c.send(GET('/', 'Connection: close\r\n'));
    assert.equal((await c.response()).headers.connection, 'close');
    await c.closedWithin(2000);
  });

  test('a body the app leaves unread is skipped, and the connection serves the next request', async () => {
    const c = await Client.connect(server.port);
    c.send(`POST /ignored HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello` + GET('/after'));
    assert.equal((await c.response()).body.toString().split(' ')[0], '/ignored');
    assert.equal((await c.response()).body.toString().split(' ')[0], '/after');
    c.send(`POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`);
    assert.equal((await c.response()).body.toString(), 'abc');
    c.destroy();
  });

  test('Expect: 100-continue: the body is sent when the app reads it; a body never asked for closes', async () => {
    const c = await Client.connect(server.port);
    c.send(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n`);
    assert.equal((await c.response()).status, 100);
    c.send('abc');
    const echoed = await c.response();
    assert.equal(echoed.body.toString(), 'abc');
    assert.equal(echoed.headers.connection, 'keep-alive');
    c.send(`POST /ignored HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n`);
    const ignored = await c.response();
    assert.equal(ignored.status, 200);
    assert.equal(ignored.headers.connection, 'close');
    await c.closedWithin(3000);
  });

  test('stop', async () => {
    assert.equal((await server.stop()).code, 0);
  });
});

describe('gthread: capacity', () => {
  test('worker_connections caps the open connections: one more waits until one closes', async () => {
    const s = await serve(['-w', '1', '--threads', '2', '--worker-connections', '2', '--keep-alive', '30']);
    const a = await Client.connect(s.port);
    const b = await Client.connect(s.port);
    a.send(GET('/a'));
    b.send(GET('/b'));
    assert.equal((await a.response()).status, 200);
    assert.equal((await b.response()).status, 200);
    // Both stay open (keep-alive), so the worker holds its 2 connections: a third waits in the listen queue.
    const c = await Client.connect(s.port);
    c.send(GET('/c'));
    await assert.rejects(c.response(800), /nothing within 800 ms/);
    a.destroy();
    const res = await c.response(3000);
    assert.equal(res.body.toString().split(' ')[0], '/c');
    // b is still served too: it was never dropped to make room.
    b.send(GET('/b2'));
    assert.equal((await b.response()).body.toString().split(' ')[0], '/b2');
    // (An idle keep-alive connection would hold a graceful stop for its keepalive of 30 s.)
    b.destroy();
    c.destroy();
    await s.stop();
  });

  test('64 clients trickling their heads one byte at a time do not delay a fast client (1 worker × 2 threads)', async () => {
    const s = await serve(['-w', '1', '--threads', '2']);
    const slow = await Promise.all(Array.from({ length: 64 }, () => Client.connect(s.port)));
    // Each slow head is sent one byte per round; its blank line only comes after the fast answer.
    const head = `GET /slow HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(4000)}\r\n`;
    let fast: ParsedResponse | undefined;
    const fastDone = (async () => {
      // Start once every slow client has begun its head, so the fast one arrives among them.
      await new Promise<void>((resolve) => setImmediate(resolve));
      fast = parseResponse(await rawRequest(s.port, GET('/fast', 'Connection: close\r\n'), { timeoutMs: 60000 }));
    })();
    let round = 0;
    for (; round < head.length && fast === undefined; round++) {
      for (const c of slow) c.send(head[round]);
      await new Promise<void>((resolve) => setImmediate(resolve));
      await sleep(1);
    }
    // The fast client was answered while no slow head was complete (a thread held by one would have
    // kept it waiting until the blank lines below): the selector thread parks partial heads.
    assert.ok(fast !== undefined, `the fast client was not answered while ${slow.length} heads trickled (${round} bytes each)`);
    await fastDone;
    assert.equal(fast!.status, 200);
    assert.equal(fast!.body.toString().split(' ')[0], '/fast');
    assert.ok(slow.every((c) => !c.closed), 'a trickling client was dropped');
    // The trickling clients are served once their heads are complete.
    for (const c of slow) c.send(head.slice(round) + '\r\n');
    for (const c of slow) assert.equal((await c.response(30000)).body.toString().split(' ')[0], '/slow');
    await s.stop();
  });
});

describe('gthread: graceful stop and recycling', () => {
  test('TERM lets in-flight requests finish, then the worker exits', async () => {
    const s = await serve(['-w', '1', '--threads', '2']);
    const c1 = await Client.connect(s.port);
    const c2 = await Client.connect(s.port);
    c1.send(GET('/sleep?1', 'Connection: close\r\n'));
    c2.send(GET('/sleep?0.6'));
    await sleep(300);
    s.proc.kill('SIGTERM');
    const [r1, r2] = await Promise.all([c1.response(5000), c2.response(5000)]);
    assert.equal(r1.status, 200);
    assert.equal(r2.status, 200);
    assert.equal(r2.headers.connection, 'close', 'no keep-alive once stopping');
    await c2.closedWithin(2000);
    const exit = await s.exited(10000);
    assert.equal(exit.code, 0);
    assert.doesNotMatch(s.output(), /Traceback|ERROR/);
  });

  test('during a graceful stop, a keep-alive client gets its next request answered with Connection: close', async () => {
    const s = await serve(['-w', '1', '--threads', '2', '--keep-alive', '10']);
    const c = await Client.connect(s.port);
    c.send(GET('/first'));
    assert.equal((await c.response()).headers.connection, 'keep-alive');
    s.proc.kill('SIGTERM');
    await s.waitForOutput(/Handling signal: term/i);
    await sleep(300);
    c.send(GET('/second'));
    const res = await c.response();
    assert.equal(res.status, 200);
    assert.equal(res.body.toString().split(' ')[0], '/second');
    assert.equal(res.headers.connection, 'close');
    await c.closedWithin(2000);
    assert.equal((await s.exited(10000)).code, 0);
  });

  test('max_requests recycles a gthread worker', async () => {
    const s = await serve(['-w', '1', '--threads', '2', '--max-requests', '3']);
    const pid = async () => pidOf(parseResponse(await rawRequest(s.port, GET('/', 'Connection: close\r\n'))));
    // The readiness probe was the first request.
    const first = await pid();
    assert.equal(await pid(), first);
    await s.waitForOutput(/Autorestarting worker after current request/);
    await waitUntil(async () => (await pid().catch(() => first)) !== first, 10000, 'a fresh worker');
    await s.stop();
  });

  test('--threads above 1 with the sync class runs gthread (gunicorn\'s rule)', async () => {
    const s = await startServer(['--chdir', APPS, '--threads', '2', 'gthread_app:app']);
    servers.push(s);
    const c = await Client.connect(s.port);
    c.send(GET('/'));
    const res = await c.response();
    assert.equal(res.headers.connection, 'keep-alive');
    assert.match(res.body.toString(), /thread=unicorn-pool-\d multithread=True/);
    c.destroy();
    await s.stop();
  });
});

describe('gthread: scoreboard', () => {
  test('unicorn ctl status shows the worker busy with the current request, then idle with it counted', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-gthread-'));
    const sock = path.join(dir, 'ctl.sock');
    const s = await serve(['-w', '1', '--threads', '2', '--control-socket', sock]);
    const status = async () => {
      const r = await runCli(['ctl', '--socket', sock, '--json', 'status']);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout).workers[0];
    };
    await waitUntil(async () => (await status()).state === 'idle', 5000, 'idle after boot');
    const before = (await status()).requests;
    const c = await Client.connect(s.port);
    c.send(GET('/sleep?1.5'));
    // The status that said busy is the one checked: a second read could come after the request ended.
    let busy: any;
    await waitUntil(async () => (busy = await status()).state === 'busy', 5000, 'busy');
    assert.deepEqual({ method: busy.request.method, path: busy.request.path }, { method: 'GET', path: '/sleep' });
    assert.equal((await c.response()).status, 200);
    await waitUntil(async () => {
      const w = await status();
      return w.state === 'idle' && w.requests === before + 1;
    }, 5000, 'idle with the request counted');
    const w = await status();
    assert.ok(w.heartbeat_age < 2, `heartbeat ${w.heartbeat_age} s old`);
    c.destroy();
    await s.stop();
  });
});

describe('gthread: chosen by --threads, as in gunicorn', () => {
  test('sync with --threads 2 runs the gthread worker and says so', async () => {
    const s = await startServer(['--chdir', path.join(FIXTURES, 'arbiter'), '--threads', '2', 'app:app']);
    servers.push(s);
    assert.match(s.output(), /\[INFO\] Using worker: gthread/);
    // Keep-alive is the gthread worker's: two requests on one connection.
    const res = await rawRequest(s.port, `${GET('/')}${GET('/', 'Connection: close\r\n')}`);
    assert.equal(res.toString('latin1').match(/HTTP\/1\.1 200/g)!.length, 2);
    await s.stop();
  });
});
