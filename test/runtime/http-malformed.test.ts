// Malformed and ambiguous requests through the real CLI: each gets its exact 4xx/5xx and the app never runs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, rawRequest, parseResponse, FIXTURES, Server } from '../helpers';
import { Client } from '../http-client';

const APPS = path.join(FIXTURES, 'apps');
const H = 'Host: x\r\n';
const post = (headers: string, body = '') => `POST /p HTTP/1.1\r\n${H}${headers}\r\n${body}`;
const chunked = (body: string) => post('Transfer-Encoding: chunked\r\n', body);

/** The one response to `request` on a fresh connection, read whole (Content-Length) without waiting for a close. */
async function answer(port: number, request: string) {
  const c = await Client.connect(port);
  try {
    c.send(request);
    return await c.response();
  } finally {
    c.destroy();
  }
}

/** [name, raw request, expected status] */
const CASES: Array<[string, string, number]> = [
  // Smuggling: two framings, or one framing said twice.
  ['Content-Length then Transfer-Encoding', post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400],
  ['Transfer-Encoding then Content-Length', post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '0\r\n\r\n'), 400],
  ['two differing Content-Lengths', post('Content-Length: 3\r\nContent-Length: 5\r\n', 'abcde'), 400],
  ['two identical Content-Lengths', post('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc'), 400],
  ['Content-Length list', post('Content-Length: 3, 3\r\n', 'abc'), 400],
  ['negative Content-Length', post('Content-Length: -1\r\n'), 400],
  ['non-digit Content-Length', post('Content-Length: abc\r\n'), 400],
  ['Content-Length with a plus sign', post('Content-Length: +3\r\n', 'abc'), 400],
  ['hex Content-Length', post('Content-Length: 0x3\r\n', 'abc'), 400],
  ['huge Content-Length', post('Content-Length: 99999999999999999999\r\n'), 400],
  ['empty Content-Length', post('Content-Length: \r\n'), 400],
  ['Content-Length with an inner space', post('Content-Length: 1 2\r\n'), 400],
  ['Transfer-Encoding gzip only', post('Transfer-Encoding: gzip\r\n', 'x'), 400],
  ['chunked not last', post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n'), 400],
  ['chunked twice in one field', post('Transfer-Encoding: chunked, chunked\r\n', '0\r\n\r\n'), 400],
  ['chunked in two fields', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400],
  // gunicorn 26 decodes chunked only and passes gzip/deflate/compress on; any other coding is 501.
  ['unknown coding before chunked', post('Transfer-Encoding: br, chunked\r\n', '0\r\n\r\n'), 501],
  ['xchunked', post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'), 501],
  ['empty Transfer-Encoding', post('Transfer-Encoding: \r\n'), 400],
  ['Transfer-Encoding on HTTP/1.0', 'POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  // Chunked framing.
  ['non-hex chunk size', chunked('zz\r\nhello\r\n0\r\n\r\n'), 400],
  ['chunk size overflow', chunked('10000000000000000\r\nx\r\n0\r\n\r\n'), 400],
  ['0x chunk size', chunked('0x5\r\nhello\r\n0\r\n\r\n'), 400],
  ['negative chunk size', chunked('-5\r\nhello\r\n0\r\n\r\n'), 400],
  ['chunk size with leading space', chunked(' 5\r\nhello\r\n0\r\n\r\n'), 400],
  ['empty chunk size', chunked('\r\nhello\r\n0\r\n\r\n'), 400],
  ['chunk data without CRLF', chunked('5\r\nhelloXX0\r\n\r\n'), 400],
  ['chunk size line with bare LF', chunked('5\nhello\r\n0\r\n\r\n'), 400],
  ['chunk extension too long', chunked(`5;${'e'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`), 400],
  ['NUL in a chunk extension', chunked('5;a=\x00\r\nhello\r\n0\r\n\r\n'), 400],
  ['obs-fold in a trailer', chunked('5\r\nhello\r\n0\r\nX-T: 1\r\n folded\r\n\r\n'), 400],
  ['invalid trailer name', chunked('5\r\nhello\r\n0\r\nX T: 1\r\n\r\n'), 400],
  // Limits.
  ['request line over limit_request_line', `GET /${'a'.repeat(5000)} HTTP/1.1\r\n${H}\r\n`, 414],
  ['request line over the limit, no CRLF yet', `GET /${'a'.repeat(9000)}`, 414],
  ['101 header fields', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 100 }, (_, i) => `X-F${i}: v\r\n`).join('')}\r\n`, 431],
  ['one header field over limit_request_field_size', `GET / HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(8200)}\r\n\r\n`, 431],
  // Header syntax.
  ['NUL in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, 400],
  ['bare CR in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 400],
  ['bare LF line ending', `GET / HTTP/1.1\r\n${H}X-A: a\nX-B: b\r\n\r\n`, 400],
  ['control character in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n`, 400],
  ['DEL in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, 400],
  ['obs-fold', `GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, 400],
  ['obs-fold with a tab', `GET / HTTP/1.1\r\n${H}X-A: a\r\n\tb\r\n\r\n`, 400],
  ['space before the colon', `GET / HTTP/1.1\r\nHost : x\r\n\r\n`, 400],
  ['header line without a colon', `GET / HTTP/1.1\r\n${H}NoColon\r\n\r\n`, 400],
  ['empty header name', `GET / HTTP/1.1\r\n${H}: value\r\n\r\n`, 400],
  ['separator in a header name', `GET / HTTP/1.1\r\n${H}X<Y: 1\r\n\r\n`, 400],
  ['two Host headers', `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 400],
  ['contradictory scheme headers from a trusted peer', `GET / HTTP/1.1\r\n${H}X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n`, 400],
  // Request line.
  // gunicorn answers versions other than 1.x with 400 (permit_unconventional_http_version lets them in).
  ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 400],
  ['HTTP/0.9 style (no version)', 'GET /\r\n\r\n', 400],
  ['garbage version', `GET / HTTP/1.1x\r\n${H}\r\n`, 400],
  ['lowercase protocol name', `GET / http/1.1\r\n${H}\r\n`, 400],
  ['version without minor', `GET / HTTP/1\r\n${H}\r\n`, 400],
  ['separator in the method', `G(T / HTTP/1.1\r\n${H}\r\n`, 400],
  ['two spaces after the method', `GET  / HTTP/1.1\r\n${H}\r\n`, 400],
  ['tab as a separator', `GET\t/ HTTP/1.1\r\n${H}\r\n`, 400],
  ['trailing space after the version', `GET / HTTP/1.1 \r\n${H}\r\n`, 400],
  ['NUL in the target', `GET /a\x00b HTTP/1.1\r\n${H}\r\n`, 400],
  ['control character in the target', `GET /a\x01b HTTP/1.1\r\n${H}\r\n`, 400],
  ['relative target', `GET foo HTTP/1.1\r\n${H}\r\n`, 400],
  ['* for GET', `GET * HTTP/1.1\r\n${H}\r\n`, 400],
  ['absolute URI without a host', `GET http:///x HTTP/1.1\r\n${H}\r\n`, 400],
  ['NUL as the method', `\x00 / HTTP/1.1\r\n${H}\r\n`, 400],
];

// Both worker classes share the parser; gthread reads heads in its selector thread, so both are run.
// (gthread with --keep-alive 1: the well-formed requests below do not ask to close.)
const CLASSES: Array<[string, string[]]> = [
  ['sync', []],
  ['gthread', ['-k', 'gthread', '--threads', '2', '--keep-alive', '1']],
];

for (const [klass, classArgs] of CLASSES) describe(`malformed requests (${klass})`, () => {
  let server: Server;
  let record: string;

  before(async () => {
    record = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-malformed-')), 'calls.txt');
    server = await startServer(['--chdir', APPS, ...classArgs, 'echo_app'], { env: { UNICORN_TEST_RECORD: record } });
    fs.writeFileSync(record, ''); // forget the readiness probe's call
  });
  after(async () => {
    await server?.stop();
  });

  test(`there are at least 40 cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 40);
  });

  for (const [name, request, status] of CASES) {
    test(`${name} → ${status}`, async () => {
      const raw = await rawRequest(server.port, Buffer.from(request, 'latin1'));
      const res = parseResponse(raw);
      assert.equal(res.status, status, raw.toString('latin1'));
      assert.equal(res.headers.connection, 'close');
      assert.equal(res.body.length, Number(res.headers['content-length']));
    });
  }

  test('the app was never called', () => {
    assert.equal(fs.readFileSync(record, 'utf8'), '');
  });

  test('requests at the limits still reach the app', async () => {
    // (Their connections stay open after the answer: it is read whole, not waited out to the close.)
    const line = `GET /${'a'.repeat(4094 - 'GET / HTTP/1.1'.length)} HTTP/1.1`;
    assert.equal(line.length, 4094);
    assert.equal((await answer(server.port, `${line}\r\n${H}\r\n`)).status, 200);
    const fields = Array.from({ length: 99 }, (_, i) => `X-F${i}: v\r\n`).join('');
    assert.equal((await answer(server.port, `GET / HTTP/1.1\r\n${H}${fields}\r\n`)).status, 200);
    // limit_request_field_size counts the line with its CRLF, as gunicorn does.
    const big = `X-Big: ${'b'.repeat(8190 - 2 - 'X-Big: '.length)}`;
    assert.equal((await answer(server.port, `GET / HTTP/1.1\r\n${H}${big}\r\n\r\n`)).status, 200);
    // An unknown method of conventional form reaches the app.
    assert.equal((await answer(server.port, `PURGE / HTTP/1.1\r\n${H}\r\n`)).status, 200);
    // Leading empty lines before the request line are ignored (RFC 9112 §2.2).
    assert.equal((await answer(server.port, `\r\nGET / HTTP/1.1\r\n${H}\r\n`)).status, 200);
    assert.equal(fs.readFileSync(record, 'utf8').split('\n').filter(Boolean).length, 5);
  });

  test('a client that sends part of a head and then nothing is dropped at the timeout, and the worker serves again', async () => {
    // --preload: a worker forked from the preloaded app boots in milliseconds, where a fresh interpreter
    // may need over the one-second timeout on a busy machine (boot counts against timeout, as in gunicorn).
    const slow = await startServer(['--chdir', APPS, ...classArgs, '--timeout', '1', '--preload', '--log-level', 'debug', 'echo_app']);
    try {
      const client = net.connect({ port: slow.port, host: '127.0.0.1' });
      await once(client, 'connect');
      const chunks: Buffer[] = [];
      client.on('data', (d) => chunks.push(d));
      const closed = once(client, 'close');
      client.write('GET / HTTP/1.1\r\n');
      // The worker's own word that its timeout ended this connection (not a close at once, nor one
      // for another reason), then the close itself, with nothing sent.
      await slow.waitForOutput(new RegExp(`\\[DEBUG\\] client 127\\.0\\.0\\.1:${client.localPort} timed out`), 10000);
      await closed;
      assert.equal(Buffer.concat(chunks).length, 0);
      assert.equal(parseResponse(await rawRequest(slow.port, `GET / HTTP/1.1\r\n${H}\r\n`)).status, 200);
      // Waiting on a slow client is not hanging: the watchdog (the same timeout) left the worker alone.
      assert.doesNotMatch(slow.output(), /WORKER TIMEOUT/);
    } finally {
      await slow.stop();
    }
  });
});

describe('the lingering close after an error answer', () => {
  for (const [klass, classArgs] of CLASSES) {
    test(`${klass}: a client that keeps trickling bytes is cut off after the linger time, not served its 1 MiB`, async () => {
      // One worker (sync) or one pool thread (gthread): a linger that never ended would hold it for good.
      const s = await startServer(['--chdir', APPS, ...classArgs, '-w', '1', ...(klass === 'gthread' ? ['--threads', '1'] : []), 'echo_app']);
      const client = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true });
      let trickle: NodeJS.Timeout | undefined;
      try {
        await once(client, 'connect');
        const chunks: Buffer[] = [];
        client.on('data', (d) => chunks.push(d));
        const ended = once(client, 'end'); // the answer, then the server's half-close
        // The close: our next write after it is reset (or the socket just closes).
        const cut = new Promise<void>((resolve) => {
          client.on('error', () => resolve());
          client.on('close', () => resolve());
        });
        client.write('GET / HTTP/2.0\r\nHost: x\r\n\r\n');
        await ended;
        assert.equal(parseResponse(Buffer.concat(chunks)).status, 400);
        // A byte every 100 ms, for at most 60 s: each read of the linger gets one long before its 1 s.
        let sent = 0;
        const outlasted = new Promise<void>((resolve) => {
          trickle = setInterval(() => {
            if (++sent > 600) return resolve();
            client.write('x');
          }, 100);
        });
        const which = await Promise.race([cut.then(() => 'cut'), outlasted.then(() => 'outlasted')]);
        assert.equal(which, 'cut', 'the server kept reading the trickle for 60 s');
        // Cut off by the linger's own limit, not by the watchdog killing a worker held past timeout (30 s).
        assert.doesNotMatch(s.output(), /WORKER TIMEOUT/);
        // And the worker serves again.
        assert.equal(parseResponse(await rawRequest(s.port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)).status, 200);
      } finally {
        clearInterval(trickle);
        client.destroy();
        await s.stop();
      }
    });
  }
});
