// The sync worker end to end through the real CLI: a wsgiref.validate-wrapped echo app sees a correct PEP 3333 environ.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, rawRequest, parseResponse, FIXTURES, SYSTEM_PYTHON, Server } from '../helpers';


const APPS = path.join(FIXTURES, 'apps');

/** Sends the head, waits for `100 Continue`, then sends the body; returns everything until close. */
function expectContinue(port: number, head: string, body: string, ms = 5000): Promise<{ interim: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let got = Buffer.alloc(0);
    let interim = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer in ${ms} ms: ${got}`));
    }, ms);
    sock.on('connect', () => sock.write(head));
    sock.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (!interim) {
        const end = got.indexOf('\r\n\r\n');
        if (end >= 0) {
          interim = got.subarray(0, end).toString('latin1');
          got = got.subarray(end + 4);
          sock.write(body);
        }
      }
    });
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ interim, rest: got });
    });
  });
}

for (const python of ['python3', SYSTEM_PYTHON]) {
  describe(`echo app under wsgiref.validate (${python})`, () => {
    let server: Server;
    let record: string;

    before(async () => {
      record = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-echo-')), 'calls.txt');
      server = await startServer(['--chdir', APPS, 'echo_app'], { python, env: { UNICORN_TEST_RECORD: record } });
    });
    after(async () => {
      await server?.stop();
    });

    async function echo(data: string | Buffer): Promise<{ status: number; headers: Record<string, string>; env: any }> {
      const res = parseResponse(await rawRequest(server.port, data));
      assert.equal(res.status, 200, res.raw.toString('latin1'));
      return { status: res.status, headers: res.headers, env: JSON.parse(res.body.toString('latin1')) };
    }

    test('GET: the PEP 3333 variables', async () => {
      const { headers, env } = await echo('GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\n\r\n');
      assert.equal(env.REQUEST_METHOD, 'GET');
      assert.equal(env.SCRIPT_NAME, '');
      assert.equal(env.PATH_INFO, '/a/b');
      assert.equal(env.QUERY_STRING, 'x=1&y=%20');
      assert.equal(env.RAW_URI, '/a/b?x=1&y=%20');
      assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(env.SERVER_NAME, '127.0.0.1');
      assert.equal(env.SERVER_PORT, String(server.port));
      assert.equal(env.REMOTE_ADDR, '127.0.0.1');
      assert.match(env.REMOTE_PORT, /^\d+$/);
      assert.equal(env.HTTP_HOST, 'example.test');
      assert.equal(env.HTTP_USER_AGENT, 't');
      assert.equal(env['wsgi.url_scheme'], 'http');
      assert.deepEqual(env['wsgi.version'], [1, 0]);
      assert.equal(env['wsgi.multithread'], false);
      assert.equal(env['wsgi.multiprocess'], true);
      assert.equal(env['wsgi.run_once'], false);
      assert.equal(env.body, '');
      assert.equal(headers.connection, 'close');
      assert.equal(headers.server, 'unicorn');
      assert.match(headers.date, /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
    });

    test('non-ASCII percent-encoded path: PATH_INFO is the UTF-8 bytes as latin-1', async () => {
      const { env } = await echo('GET /caf%C3%A9/%2Fslash HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(env.PATH_INFO, '/caf\u00c3\u00a9//slash');
      assert.equal(env.RAW_URI, '/caf%C3%A9/%2Fslash');
    });

    test('absolute-form target', async () => {
      // (OPTIONS * gives PATH_INFO "*" as in gunicorn, which wsgiref.validate refuses: http-conformance tests it.)
      const a = await echo('GET http://example.test:8080/p/q?z=9 HTTP/1.1\r\nHost: example.test:8080\r\n\r\n');
      assert.equal(a.env.PATH_INFO, '/p/q');
      assert.equal(a.env.QUERY_STRING, 'z=9');
      assert.equal(a.env.RAW_URI, 'http://example.test:8080/p/q?z=9');
    });

    test('HTTP/1.0 request', async () => {
      const { env, headers } = await echo('GET /old HTTP/1.0\r\n\r\n');
      assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.0');
      assert.equal(headers.connection, 'close');
    });

    test('duplicate headers are joined with ", " (cookies with "; "); CONTENT_TYPE has no HTTP_ prefix', async () => {
      const { env } = await echo(
        'POST /h HTTP/1.1\r\nHost: x\r\nX-Multi: a\r\nX-Multi: b\r\nCookie: c=1\r\nCookie: d=2\r\n' +
          'Content-Type: text/plain\r\nContent-Length: 0\r\nX_Underscore: dropped\r\n\r\n',
      );
      assert.equal(env.HTTP_X_MULTI, 'a, b');
      assert.equal(env.HTTP_COOKIE, 'c=1; d=2');
      assert.equal(env.CONTENT_TYPE, 'text/plain');
      assert.equal(env.CONTENT_LENGTH, '0');
      assert.equal(env.HTTP_CONTENT_TYPE, undefined);
      assert.equal(env.HTTP_X_UNDERSCORE, undefined);
    });

    test('POST with Content-Length: read(), readlines(), iteration, small reads', async () => {
      const body = 'line one\nline two\nlast';
      for (const how of ['read', 'lines', 'iter', 'small']) {
        const { env } = await echo(
          `POST /p HTTP/1.1\r\nHost: x\r\nX-Read: ${how}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
        assert.equal(env.body, body, how);
        assert.equal(env.CONTENT_LENGTH, String(body.length));
      }
    });

    test('POST with a chunked body, extensions and trailers', async () => {
      const { env } = await echo(
        'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '5;name=value\r\nhello\r\n7\r\n, world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n',
      );
      assert.equal(env.body, 'hello, world0123456789');
      assert.equal(env.CONTENT_LENGTH, undefined);
      assert.equal(env.HTTP_TRANSFER_ENCODING, 'chunked');
    });

    test('a body larger than one receive arrives whole', async () => {
      const big = 'x'.repeat(300_000);
      const { env } = await echo(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n${big}`);
      assert.equal(env.body.length, big.length);
      const chunked = `POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(100000).toString(16)}\r\n${'y'.repeat(100000)}\r\n0\r\n\r\n`;
      const r = await echo(chunked);
      assert.equal(r.env.body, 'y'.repeat(100000));
    });

    test('Expect: 100-continue gets the interim response before the body is sent', async () => {
      const { interim, rest } = await expectContinue(
        server.port,
        'POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
        'abcde',
      );
      assert.equal(interim, 'HTTP/1.1 100 Continue');
      const res = parseResponse(rest);
      assert.equal(res.status, 200);
      assert.equal(JSON.parse(res.body.toString()).body, 'abcde');
    });

    test('HEAD: headers only, the Content-Length the app gave', async () => {
      const res = parseResponse(await rawRequest(server.port, 'HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n'));
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 0);
      assert.ok(Number(res.headers['content-length']) > 0);
    });

    test('the validator never complained', async () => {
      const out = server.output();
      assert.doesNotMatch(out, /AssertionError|WSGIWarning|Traceback/);
      assert.match(fs.readFileSync(record, 'utf8'), /call POST \/e/);
    });
  });
}

describe('listener and proxy facts in the environ', () => {
  const echoOn = async (port: number | string, data: string) => {
    const res = parseResponse(await rawRequest(port, data));
    assert.equal(res.status, 200, res.raw.toString('latin1'));
    return JSON.parse(res.body.toString('latin1'));
  };

  test('a Unix socket listener: SERVER_NAME is its path, ports are empty', async () => {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-unix-')), 'u.sock');
    const server = await startServer(['-b', `unix:${sock}`, '--chdir', APPS, 'echo_app'], {
      noBind: true,
      readyPattern: /Booting worker/,
    });
    try {
      let env: any;
      for (let i = 0; i < 100 && !env; i++) {
        env = await echoOn(sock, 'GET /u HTTP/1.1\r\nHost: x\r\n\r\n').catch(() => undefined);
        if (!env) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(env.SERVER_NAME, sock);
      assert.equal(env.SERVER_PORT, '');
      assert.equal(env.REMOTE_ADDR, '');
      assert.equal(env.REMOTE_PORT, undefined);
      assert.equal(env.PATH_INFO, '/u');
    } finally {
      await server.stop();
    }
  });

  test('wsgi.url_scheme is https only for a trusted peer that says so', async () => {
    const trusted = await startServer(['--chdir', APPS, 'echo_app']);
    try {
      const env = await echoOn(trusted.port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\n\r\n');
      assert.equal(env['wsgi.url_scheme'], 'https');
      const plain = await echoOn(trusted.port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: http\r\n\r\n');
      assert.equal(plain['wsgi.url_scheme'], 'http');
    } finally {
      await trusted.stop();
    }
    const untrusted = await startServer(['--chdir', APPS, '--forwarded-allow-ips', '10.9.9.9', 'echo_app']);
    try {
      const env = await echoOn(untrusted.port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\n\r\n');
      assert.equal(env['wsgi.url_scheme'], 'http');
    } finally {
      await untrusted.stop();
    }
  });

  test('SCRIPT_NAME from the environment is stripped from PATH_INFO', async () => {
    const server = await startServer(['--chdir', APPS, 'echo_app'], { env: { SCRIPT_NAME: '/mount' } });
    try {
      const env = await echoOn(server.port, 'GET /mount/inner?q=1 HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(env.SCRIPT_NAME, '/mount');
      assert.equal(env.PATH_INFO, '/inner');
    } finally {
      await server.stop();
    }
  });
});
