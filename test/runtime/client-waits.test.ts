// A sync worker waiting on its client over TLS, a unix socket or raw TCP: a silent client is dropped at the timeout
// with the worker's own word for it, and the watchdog (the same timeout) never takes the waiting worker for a
// hung one; a client that is slow but steady gets its answer however long it takes in all.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { FIXTURES, Server, ctlRequest, freePort, startServer, waitUntil } from '../helpers';
import { Pki, makePki } from '../pki';

const APPS = path.join(FIXTURES, 'apps');
// Short, so the waits are short; --preload, so a worker's boot (which counts against it) takes milliseconds.
const TIMEOUT = 2;
const COMMON = ['-k', 'sync', '-w', '1', '--timeout', String(TIMEOUT), '--preload', '--log-level', 'debug', '--chdir', APPS];

let dir: string;
let pki: Pki;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-waits-'));
  pki = makePki();
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(pki.dir, { recursive: true, force: true });
});

async function workerPids(control: string): Promise<number[]> {
  return (await ctlRequest(control, { command: 'status' })).workers.map((w) => w.pid);
}

/** Waits for the close and returns what the server sent before it. */
function collect(sock: net.Socket): { closed: Promise<unknown>; received: () => Buffer } {
  const chunks: Buffer[] = [];
  sock.on('data', (d) => chunks.push(d));
  sock.on('error', () => {});
  return { closed: once(sock, 'close'), received: () => Buffer.concat(chunks) };
}

function tlsConnect(port: number): Promise<tls.TLSSocket> {
  const sock = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(pki.caCert), servername: 'localhost' });
  return once(sock, 'secureConnect').then(() => sock);
}

/** One whole request over TLS; resolves to the status and the body. */
async function tlsRequest(port: number, request: string): Promise<{ status: number; body: string }> {
  const sock = await tlsConnect(port);
  const got = collect(sock);
  sock.write(request); // (Connection: close: the server closes)
  await got.closed;
  const text = got.received().toString('latin1');
  return { status: Number(text.split(' ')[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

/**
 * POSTs 8 pieces, one every quarter timeout: never silent for long, 2 timeouts in all (the pace is the client's
 * behaviour, not something asserted). The answer comes, from the same worker, and no WORKER TIMEOUT.
 */
async function steadyUpload(sock: net.Socket, server: Server, control: string): Promise<void> {
  const pids = await workerPids(control);
  const pieces = 8;
  const piece = 'x'.repeat(1000);
  const got = collect(sock);
  sock.write(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${pieces * piece.length}\r\nConnection: close\r\n\r\n`);
  for (let i = 0; i < pieces; i++) {
    await new Promise((r) => setTimeout(r, (TIMEOUT * 1000) / 4));
    sock.write(piece);
    if (i === pieces / 2) {
      // Busy on this request, the worker has beaten since it began: the watchdog sees it alive.
      const w = (await ctlRequest(control, { command: 'status' })).workers[0];
      assert.equal(w.request?.path, '/up');
      assert.ok(w.heartbeat_age !== null && w.heartbeat_age < w.request!.age, JSON.stringify(w));
    }
  }
  await got.closed;
  const text = got.received().toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.equal(text.slice(text.indexOf('\r\n\r\n') + 4), String(pieces * piece.length));
  assert.deepEqual(await workerPids(control), pids);
  assert.doesNotMatch(server.output(), /WORKER TIMEOUT/);
}

/** A file of `size` pseudo-random bytes in the test directory. */
function bigFile(name: string, size: number): { path: string; data: Buffer } {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7919 + (i >> 10)) & 0xff;
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return { path: file, data };
}

/**
 * Reads a little, then stops reading for three quarters of the timeout (longer than a slice: the worker's send
 * waits a silent slice and goes on from where it stopped), then reads the rest. (The pause is the client's
 * behaviour, not something asserted.)
 */
async function readerPausing(sock: net.Socket, control: string): Promise<void> {
  await once(sock, 'data');
  sock.pause();
  await new Promise((r) => setTimeout(r, TIMEOUT * 750));
  const w = (await ctlRequest(control, { command: 'status' })).workers[0];
  assert.equal(w.request?.path, '/file', 'the worker is still sending');
  sock.resume();
}

/** GET /file of a 3 MiB file over `sock`, read by a client that pauses: the body is the file, byte for byte. */
async function fileArrivesWhole(sock: net.Socket, name: string, control: string): Promise<void> {
  const file = bigFile(name, 3 * 1024 * 1024 + 123);
  const got = collect(sock);
  sock.write(`GET /file?${file.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  await readerPausing(sock, control);
  await got.closed;
  const raw = got.received();
  assert.match(raw.subarray(0, 12).toString('latin1'), /^HTTP\/1\.1 200/);
  assert.ok(raw.subarray(raw.indexOf('\r\n\r\n') + 4).equals(file.data), 'the body is the file');
}

describe('TLS: the sync worker waits on its client in slices', () => {
  let server: Server;
  let control: string;

  before(async () => {
    control = path.join(dir, 'tls.ctl');
    const port = await freePort();
    server = await startServer(['-b', `127.0.0.1:${port}`, ...COMMON, '--control-socket', control,
      '--certfile', pki.serverCert, '--keyfile', pki.serverKey, 'waits_app:app'], { noBind: true, port, readyPattern: /Booting worker/ });
    await waitUntil(async () => {
      try {
        return (await tlsRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status === 200;
      } catch {
        return false;
      }
    }, 20000, 'an HTTPS answer');
  });
  after(async () => {
    await server?.stop();
  });

  test('a client silent after the handshake and part of a head is dropped at the timeout; the worker lives on', async () => {
    const pids = await workerPids(control);
    const from = server.output().length;
    const sock = await tlsConnect(server.port);
    const got = collect(sock);
    sock.write('GET / HTTP/1.1\r\n');
    await server.waitForOutput(new RegExp(`\\[DEBUG\\] client 127\\.0\\.0\\.1:${sock.localPort} timed out`), 20000, from);
    await got.closed;
    assert.equal(got.received().length, 0);
    assert.equal((await tlsRequest(server.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status, 200);
    // Waiting on a silent client is not hanging: the same worker, and no WORKER TIMEOUT.
    assert.deepEqual(await workerPids(control), pids);
    assert.doesNotMatch(server.output(), /WORKER TIMEOUT/);
  });

  test('a client silent before the handshake is dropped at the timeout; the worker lives on', async () => {
    const pids = await workerPids(control);
    const from = server.output().length;
    const sock = net.connect({ port: server.port, host: '127.0.0.1' });
    await once(sock, 'connect');
    const got = collect(sock);
    await server.waitForOutput(new RegExp(`\\[DEBUG\\] client 127\\.0\\.0\\.1:${sock.localPort} timed out before its request`), 20000, from);
    await got.closed;
    assert.equal(got.received().length, 0);
    assert.deepEqual(await workerPids(control), pids);
    assert.doesNotMatch(server.output(), /WORKER TIMEOUT/);
  });

  test('a slow but steady upload that takes longer than the timeout in all gets its answer', async () => {
    await steadyUpload(await tlsConnect(server.port), server, control);
  });

  test('a file answered through wsgi.file_wrapper arrives whole over TLS', async () => {
    await fileArrivesWhole(await tlsConnect(server.port), 'tls.bin', control);
  });
});

describe('unix socket: the sync worker waits on its client in slices', () => {
  let server: Server;
  let control: string;
  let sockPath: string;

  before(async () => {
    control = path.join(dir, 'unix.ctl');
    sockPath = path.join(dir, 'app.sock');
    server = await startServer(['-b', `unix:${sockPath}`, ...COMMON, '--control-socket', control, 'waits_app:app'],
      { noBind: true, readyPattern: /Booting worker/ });
    await waitUntil(() => fs.existsSync(sockPath), 20000, 'the unix socket');
  });
  after(async () => {
    await server?.stop();
  });

  test('a client silent after part of a head is dropped at the timeout; the worker lives on', async () => {
    const pids = await workerPids(control);
    const from = server.output().length;
    const sock = net.connect({ path: sockPath });
    await once(sock, 'connect');
    const got = collect(sock);
    sock.write('GET / HTTP/1.1\r\n');
    await server.waitForOutput(/\[DEBUG\] client unix socket timed out/, 20000, from);
    await got.closed;
    assert.equal(got.received().length, 0);
    // The worker serves the next client; same worker, no WORKER TIMEOUT.
    const next = net.connect({ path: sockPath });
    const answer = collect(next);
    next.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await answer.closed;
    assert.match(answer.received().toString('latin1'), /^HTTP\/1\.1 200 /);
    assert.deepEqual(await workerPids(control), pids);
    assert.doesNotMatch(server.output(), /WORKER TIMEOUT/);
  });

  test('a file answered through wsgi.file_wrapper (sendfile) arrives whole', async () => {
    await fileArrivesWhole(net.connect({ path: sockPath }), 'unix.bin', control);
  });
});

describe('raw TCP: the sync worker waits on its client in slices', () => {
  let server: Server;
  let control: string;

  before(async () => {
    control = path.join(dir, 'tcp.ctl');
    server = await startServer([...COMMON, '--control-socket', control, 'waits_app:app']);
  });
  after(async () => {
    await server?.stop();
  });

  test('a slow but steady upload that takes longer than the timeout in all gets its answer', async () => {
    const sock = net.connect({ port: server.port, host: '127.0.0.1' });
    await once(sock, 'connect');
    await steadyUpload(sock, server, control);
  });

  test('a head that trickles in is dropped once it took longer than the timeout; the worker lives on', async () => {
    const pids = await workerPids(control);
    const from = server.output().length;
    const sock = net.connect({ port: server.port, host: '127.0.0.1' });
    await once(sock, 'connect');
    const port = sock.localPort;
    const got = collect(sock);
    let open = true;
    got.closed.then(() => (open = false));
    sock.write('GET / HTTP/1.1\r\n');
    // A header byte every quarter timeout, never silent for long, until the worker gives up (bounded).
    for (let i = 0; open && i < 200; i++) {
      await new Promise((r) => setTimeout(r, (TIMEOUT * 1000) / 4));
      if (open) sock.write('X');
    }
    await got.closed;
    assert.equal(got.received().length, 0);
    await server.waitForOutput(new RegExp(`\\[DEBUG\\] client 127\\.0\\.0\\.1:${port} timed out`), 20000, from);
    assert.deepEqual(await workerPids(control), pids);
    assert.doesNotMatch(server.output(), /WORKER TIMEOUT/);
  });
});
