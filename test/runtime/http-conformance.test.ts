// HTTP/1.1 conformance and smuggling defences at gunicorn 26's level (issue 11), table-driven, over real
// sockets through every worker class (sync, gthread, gevent, asgi): each case asserts the status and whether the
// app was called. The asgi worker runs conformance_app.py's ASGI twin, which answers with the same
// environ names mapped from the scope (the mapping is documented there); where a name cannot be the
// same, the table says what each kind of app sees with by(wsgi, asgi).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, parseResponse, FIXTURES, SYSTEM_PYTHON, Server } from '../helpers';

const APPS = path.join(FIXTURES, 'apps');
const H = 'Host: x\r\n';
const get = (target: string, extra = '', version = 'HTTP/1.1') => `GET ${target} ${version}\r\n${H}${extra}\r\n`;
const post = (headers: string, body = '') => `POST /p HTTP/1.1\r\n${H}${headers}\r\n${body}`;
const chunked = (body: string) => post('Transfer-Encoding: chunked\r\n', body);
const line = (n: number) => `X-Big: ${'b'.repeat(n - 'X-Big: '.length)}`;

/** Sends `data`, half-closes, and returns everything the server sends until it closes (empty: no answer). */
function exchange(port: number, data: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close from the server within 10 s; got: ${Buffer.concat(chunks)}`));
    }, 10000);
    sock.on('connect', () => sock.end(Buffer.from(data, 'latin1')));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => undefined); // a reset after the answer still leaves the answer
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

type Kind = 'wsgi' | 'asgi';
type PerKind = { wsgi: string | undefined; asgi: string | undefined };
type Expect = Record<string, string | undefined | PerKind>;
/** An environ value that differs between a WSGI app's environ and the ASGI twin's scope mapping. */
const by = (wsgi: string | undefined, asgi: string | undefined): PerKind => ({ wsgi, asgi });
const expected = (value: string | undefined | PerKind, kind: Kind) =>
  value !== null && typeof value === 'object' ? value[kind] : value;
/** [class of issue 11, name, raw request, status (0: closed without an answer), app called, environ expected] */
type Case = [string, string, string, number, boolean | { wsgi: boolean; asgi: boolean }, Expect?];

const DEFAULT_CASES: Case[] = [
  // 1. Method token: gunicorn's conventional form by default.
  ['method', 'lower-case method', `get / HTTP/1.1\r\n${H}\r\n`, 400, false],
  ['method', 'method starting with a dash', `-bl / HTTP/1.1\r\n${H}\r\n`, 400, false],
  ['method', 'two-letter method', `GE / HTTP/1.1\r\n${H}\r\n`, 400, false],
  ['method', 'method with #', `M#M / HTTP/1.1\r\n${H}\r\n`, 400, false],
  ['method', 'method longer than 20', `${'A'.repeat(21)} / HTTP/1.1\r\n${H}\r\n`, 400, false],
  ['method', 'unknown conventional method', `PROPFIND / HTTP/1.1\r\n${H}\r\n`, 200, true, { REQUEST_METHOD: 'PROPFIND' }],
  // 2. Limits: a field line counts with its CRLF.
  ['limits', 'field line of 8188 bytes + CRLF', get('/', `${line(8188)}\r\n`), 200, true],
  ['limits', 'field line of 8189 bytes + CRLF', get('/', `${line(8189)}\r\n`), 431, false],
  ['limits', 'one 9 KiB field', get('/', `${line(9216)}\r\n`), 431, false],
  ['limits', '100 fields', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 99 }, (_, i) => `X-F${i}: v\r\n`).join('')}\r\n`, 200, true],
  ['limits', '101 fields', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 100 }, (_, i) => `X-F${i}: v\r\n`).join('')}\r\n`, 431, false],
  ['limits', 'request line of 4095 bytes', get(`/${'a'.repeat(4095 - 'GET / HTTP/1.1'.length)}`), 414, false],
  // 3. Fields that must be unique.
  ['unique fields', 'two Content-Type', post('Content-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\n'), 400, false],
  ['unique fields', 'two Host', `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 400, false],
  ['unique fields', 'two equal Content-Length', post('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc'), 400, false],
  ['unique fields', 'Content-Length list', post('Content-Length: 3, 3\r\n', 'abc'), 400, false],
  ['unique fields', 'Content-Length with a sign', post('Content-Length: +3\r\n', 'abc'), 400, false],
  // 4. Transfer-Encoding lists.
  ['transfer-encoding', 'gzip, chunked: chunked decoded, the rest passed on',
    post('Transfer-Encoding: gzip, chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'), 200, true,
    { body: 'hello', HTTP_TRANSFER_ENCODING: 'gzip, chunked' }],
  ['transfer-encoding', 'gzip and chunked on two lines',
    post('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'), 200, true, { body: 'hello' }],
  ['transfer-encoding', 'identity with a Content-Length', post('Transfer-Encoding: identity\r\nContent-Length: 3\r\n', 'abc'), 200, true, { body: 'abc' }],
  ['transfer-encoding', 'identity, chunked', post('Transfer-Encoding: identity, chunked\r\n', '3\r\nabc\r\n0\r\n\r\n'), 200, true, { body: 'abc' }],
  ['transfer-encoding', 'chunked not last', post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n'), 400, false],
  ['transfer-encoding', 'chunked, identity', post('Transfer-Encoding: chunked, identity\r\n', '0\r\n\r\n'), 400, false],
  ['transfer-encoding', 'chunked twice', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400, false],
  ['transfer-encoding', 'gzip without chunked', post('Transfer-Encoding: gzip\r\n', 'x'), 400, false],
  ['transfer-encoding', 'chunked on HTTP/1.0', 'POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, false],
  ['transfer-encoding', 'chunked with Content-Length', post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '0\r\n\r\n'), 400, false],
  ['transfer-encoding', 'an unknown coding', post('Transfer-Encoding: br, chunked\r\n', '0\r\n\r\n'), 501, false],
  // 5. Chunk framing.
  ['chunk framing', 'size with trailing whitespace and no extension', chunked('5 \r\nhello\r\n0\r\n\r\n'), 400, false],
  ['chunk framing', 'last chunk with trailing whitespace', chunked('0 \r\n\r\n'), 400, false],
  ['chunk framing', 'whitespace before an extension is fine', chunked('5 ;ext=1\r\nhello\r\n0\r\n\r\n'), 200, true, { body: 'hello' }],
  ['chunk framing', 'bare CR in an extension', chunked('5;a\rb\r\nhello\r\n0\r\n\r\n'), 400, false],
  ['chunk framing', 'bare LF in an extension', chunked('5;a\nb\r\nhello\r\n0\r\n\r\n'), 400, false],
  ['chunk framing', 'size that overflows 64 bits', chunked('1ffffffffffffffff\r\nx\r\n0\r\n\r\n'), 400, false],
  // The WSGI workers decode up to 1 MiB of a chunked body before the app runs; the asgi worker decodes what
  // came with the head and then calls the app (waiting for more would stall a client that streams both ways):
  // its app sees http.disconnect before the body is complete, never a truncated body as complete.
  ['chunk framing', 'missing final CRLF, then EOF', chunked('5\r\nhello\r\n0\r\n'), 0, { wsgi: false, asgi: true }],
  ['chunk framing', 'data longer than its size', chunked('3\r\nhello\r\n0\r\n\r\n'), 400, false],
  // A framing error past what was decoded ahead ends the body: the app has been called but never sees a
  // complete body, and the client gets the 400.
  ['chunk framing', 'bad chunk size after 2 MiB of body', chunked(`200000\r\n${'a'.repeat(0x200000)}\r\nzz\r\n\r\n`), 400, true],
  // 6. Trailers.
  ['trailers', 'an ordinary trailer', chunked('5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n'), 200, true, { body: 'hello', HTTP_X_CHECKSUM: undefined }],
  ...['Content-Length: 5', 'Transfer-Encoding: chunked', 'Host: evil', 'Authorization: x', 'Content-Type: a/b', 'Trailer: x', 'Expect: 100-continue']
    .map((t): Case => ['trailers', `forbidden trailer ${t.split(':')[0]}`, chunked(`5\r\nhello\r\n0\r\n${t}\r\n\r\n`), 400, false]),
  // 7. Request-target forms (RFC 9112 §3.2), PATH_INFO and RAW_URI as gunicorn 26 gives them.
  ['target', 'OPTIONS *', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, 200, true, { PATH_INFO: '*', RAW_URI: '*' }],
  ['target', '* for GET', get('*'), 400, false],
  ['target', 'CONNECT authority-form', `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`, 200, true,
    { RAW_URI: 'example.com:443', PATH_INFO: '443' }],
  ['target', 'CONNECT IPv6 authority-form', `CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n`, 200, true,
    { RAW_URI: '[::1]:443', PATH_INFO: '[::1]:443' }],
  ['target', 'CONNECT with an origin-form target', `CONNECT /x HTTP/1.1\r\n${H}\r\n`, 400, false],
  ['target', 'CONNECT with an absolute-form target', `CONNECT http://x/ HTTP/1.1\r\n${H}\r\n`, 400, false],
  ['target', 'authority-form for GET', get('example.com:443'), 400, false],
  ['target', 'absolute-form', get('http://example.test:8080/a/b?q=1'), 200, true,
    { PATH_INFO: '/a/b', QUERY_STRING: 'q=1', RAW_URI: by('http://example.test:8080/a/b?q=1', '/a/b?q=1') }],
  ['target', 'absolute-form with a percent-encoded path', get('http://example.test/a%20b'), 200, true,
    { PATH_INFO: '/a b', RAW_URI: by('http://example.test/a%20b', '/a%20b') }],
  ['target', 'absolute-form without a path', get('http://example.test'), 200, true,
    { PATH_INFO: '', RAW_URI: by('http://example.test', '') }],
  ['target', 'relative target', get('a/b'), 400, false],
  // 8. Field syntax, header_map, versions.
  ['fields', 'NUL in a value', get('/', 'X-A: a\x00b\r\n'), 400, false],
  ['fields', 'bare CR in a value', get('/', 'X-A: a\rb\r\n'), 400, false],
  ['fields', 'bare LF in a value', get('/', 'X-A: a\nb\r\n'), 400, false],
  ['fields', 'other control character in a value', get('/', 'X-A: a\x1fb\r\n'), 400, false],
  ['fields', 'tab in a value is fine', get('/', 'X-A: a\tb\r\n'), 200, true, { HTTP_X_A: 'a\tb' }],
  ['fields', 'space before the colon', get('/', 'X-A : 1\r\n'), 400, false],
  ['fields', 'tab before the colon', get('/', 'X-A\t: 1\r\n'), 400, false],
  ['fields', 'obsolete line folding', get('/', 'X-A: a\r\n b\r\n'), 400, false],
  ['header_map', 'underscore name dropped (default drop)', get('/', 'X_Under: 1\r\n'), 200, true, { HTTP_X_UNDER: undefined }],
  ['version', 'HTTP/1.2 is served as 1.1', get('/', '', 'HTTP/1.2'), 200, true, { SERVER_PROTOCOL: by('HTTP/1.2', 'HTTP/1.1') }],
  ['version', 'HTTP/2.0', get('/', '', 'HTTP/2.0'), 400, false],
  ['version', 'HTTP/0.9', get('/', '', 'HTTP/0.9'), 400, false],
  ['version', 'two-digit minor version', get('/', '', 'HTTP/1.10'), 400, false],
  ['body', 'a body shorter than its Content-Length, then EOF', post('Content-Length: 10\r\n', 'abc'), 0, true],
];

const LENIENT_ARGS = [
  '--permit-unconventional-http-method', '--casefold-http-method', '--permit-obsolete-folding',
  '--permit-unconventional-http-version', '--header-map', 'dangerous',
];
const LENIENT_CASES: Case[] = [
  ['method', 'lower-case method, casefolded', `get / HTTP/1.1\r\n${H}\r\n`, 200, true, { REQUEST_METHOD: 'GET' }],
  ['method', 'method with #', `M#M / HTTP/1.1\r\n${H}\r\n`, 200, true, { REQUEST_METHOD: 'M#M' }],
  ['method', 'still a token: no separators', `G(T / HTTP/1.1\r\n${H}\r\n`, 400, false],
  ['fields', 'obsolete line folding joined with a space', get('/', 'X-A: a\r\n  b\r\n'), 200, true, { HTTP_X_A: 'a b' }],
  ['header_map', 'underscore name mapped (dangerous)', get('/', 'X_Under: 1\r\n'), 200, true, { HTTP_X_UNDER: '1' }],
  ['version', 'HTTP/2.0 permitted', get('/', '', 'HTTP/2.0'), 200, true, { SERVER_PROTOCOL: by('HTTP/2.0', 'HTTP/1.1') }],
  ['version', 'HTTP/0.9 permitted', get('/', '', 'HTTP/0.9'), 200, true],
  ['version', 'still HTTP/d.d', get('/', '', 'HTTP/1.10'), 400, false],
];
const REFUSE_CASES: Case[] = [
  ['header_map', 'underscore name refused (refuse)', get('/', 'X_Under: 1\r\n'), 400, false],
  ['header_map', 'dash names still fine', get('/', 'X-Under: 1\r\n'), 200, true, { HTTP_X_UNDER: '1' }],
];

// With keep-alive 0 every class closes after each answer, so every exchange ends with the server's close.
// (gevent runs with Debian's python3-gevent, so under /usr/bin/python3.)
const CLASSES: Array<[string, Kind, string[]]> = [
  ['sync', 'wsgi', ['conformance_app:app']],
  ['gthread', 'wsgi', ['-k', 'gthread', '--threads', '2', '--keep-alive', '0', 'conformance_app:app']],
  ['gevent', 'wsgi', ['-k', 'gevent', '--keep-alive', '0', 'conformance_app:app']],
  ['asgi', 'asgi', ['-k', 'asgi', '--keep-alive', '0', 'conformance_app:asgi_app']],
];
const pythonFor = (klass: string) => (klass === 'gevent' ? SYSTEM_PYTHON : undefined);
const VARIANTS: Array<[string, string[], Case[]]> = [
  ['defaults', [], DEFAULT_CASES],
  ['lenient settings', LENIENT_ARGS, LENIENT_CASES],
  ['header_map refuse', ['--header-map', 'refuse'], REFUSE_CASES],
];

for (const [klass, kind, classArgs] of CLASSES) {
  for (const [variant, args, cases] of VARIANTS) {
    describe(`conformance, ${variant} (${klass})`, () => {
      let server: Server;
      let record: string;
      const calls = () => fs.readFileSync(record, 'utf8').split('\n').filter(Boolean).length;

      before(async () => {
        record = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-conformance-')), 'calls.txt');
        server = await startServer(['--chdir', APPS, ...args, ...classArgs], {
          env: { UNICORN_TEST_RECORD: record }, python: pythonFor(klass),
        });
      });
      after(async () => {
        await server?.stop();
      });

      for (const [klassOfIssue, name, request, status, calledBy, env] of cases) {
        const called = typeof calledBy === 'boolean' ? calledBy : calledBy[kind];
        test(`${klassOfIssue}: ${name} → ${status || 'no answer'}${called ? ', app called' : ''}`, async () => {
          const before = calls();
          const raw = await exchange(server.port, request);
          if (status === 0) {
            assert.equal(raw.length, 0, raw.toString('latin1'));
          } else {
            const res = parseResponse(raw);
            assert.equal(res.status, status, raw.toString('latin1'));
            if (status >= 400) assert.equal(res.headers.connection, 'close');
            if (env) {
              const seen = JSON.parse(res.body.toString('latin1'));
              for (const [key, value] of Object.entries(env)) assert.equal(seen[key], expected(value, kind), key);
            }
          }
          assert.equal(calls() - before, called ? 1 : 0, called ? 'the app was not called' : 'the app was called');
        });
      }
    });
  }
}

// After a framing error (or a framing the connection cannot safely go on from) no later request on the
// same connection is processed, also on a keep-alive gthread connection with the next request pipelined.
const PIPELINE_CLASSES: Array<[string, string[]]> = [
  ['sync', ['conformance_app:app']],
  ['gthread', ['-k', 'gthread', '--threads', '2', '--keep-alive', '5', 'conformance_app:app']],
  ['gevent', ['-k', 'gevent', '--keep-alive', '5', 'conformance_app:app']],
  ['asgi', ['-k', 'asgi', '--keep-alive', '5', 'conformance_app:asgi_app']],
];
const NEXT = `GET /second HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
const PIPELINES: Array<[string, string, number]> = [
  ['bad chunk size', chunked('zz\r\nhello\r\n0\r\n\r\n') + NEXT, 400],
  ['chunk data longer than its size', chunked('3\r\nhello\r\n0\r\n\r\n') + NEXT, 400],
  ['forbidden trailer', chunked('5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n') + NEXT, 400],
  ['Content-Length and chunked', post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n') + NEXT, 400],
  ['gzip, chunked: served, then the connection closes', post('Transfer-Encoding: gzip, chunked\r\n', '5\r\nhello\r\n0\r\n\r\n') + NEXT, 200],
];
for (const [klass, classArgs] of PIPELINE_CLASSES) {
  describe(`no request after a framing error on the same connection (${klass})`, () => {
    let server: Server;
    let record: string;
    before(async () => {
      record = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-conformance-')), 'calls.txt');
      server = await startServer(['--chdir', APPS, ...classArgs], { env: { UNICORN_TEST_RECORD: record }, python: pythonFor(klass) });
    });
    after(async () => {
      await server?.stop();
    });
    for (const [name, request, status] of PIPELINES) {
      test(`${name} → ${status}, and /second is never processed`, async () => {
        const raw = await exchange(server.port, request);
        const res = parseResponse(raw);
        assert.equal(res.status, status, raw.toString('latin1'));
        assert.equal(res.headers.connection, 'close');
        // One answer only: nothing follows the first response's body.
        assert.equal(res.body.length, Number(res.headers['content-length']), raw.toString('latin1'));
        assert.doesNotMatch(fs.readFileSync(record, 'utf8'), /\/second/);
      });
    }
  });
}
