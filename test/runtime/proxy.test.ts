// Proxies through the real CLI: the PROXY protocol (v1 and v2) with proxy_allow_ips, in both worker
// classes and in front of TLS, and secure_scheme_headers only from forwarded_allow_ips.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { FIXTURES, Server, freePort, parseResponse, rawRequest, startServer, waitUntil } from '../helpers';
import { Pki, makePki } from '../pki';

const APPS = path.join(FIXTURES, 'apps');
const GET = 'GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n';

function v2(command: number, family: number, addresses: Buffer): Buffer {
  const head = Buffer.alloc(16);
  Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1').copy(head);
  head[12] = 0x20 | command;
  head[13] = family;
  head.writeUInt16BE(addresses.length, 14);
  return Buffer.concat([head, addresses]);
}

function ports(src: number, dst: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(src, 0);
  b.writeUInt16BE(dst, 2);
  return b;
}

const ipv4 = (a: string) => Buffer.from(a.split('.').map(Number));
function ipv6(a: string): Buffer {
  const [l, r] = a.split('::');
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]));
}

async function echo(port: number, data: Buffer | string): Promise<{ status: number; env: any; raw: string }> {
  const res = parseResponse(await rawRequest(port, data));
  return { status: res.status, env: res.status === 200 ? JSON.parse(res.body.toString('latin1')) : undefined, raw: res.raw.toString('latin1') };
}

for (const klass of ['sync', 'gthread']) {
  describe(`PROXY protocol with the ${klass} worker`, () => {
    let server: Server;
    let record: string;
    const calls = () => (fs.existsSync(record) ? fs.readFileSync(record, 'utf8').split('\n').filter(Boolean).length : 0);

    before(async () => {
      record = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-proxy-')), 'calls.txt');
      server = await startServer(['-k', klass, '--proxy-protocol', '--chdir', APPS, 'echo_app'], { env: { UNICORN_TEST_RECORD: record } });
    });
    after(async () => {
      await server?.stop();
    });

    test('v1 TCP4 and TCP6: REMOTE_ADDR/REMOTE_PORT from the header, and gunicorn\'s PROXY_* keys', async () => {
      let { env } = await echo(server.port, `PROXY TCP4 203.0.113.7 192.0.2.1 5555 443\r\n${GET}`);
      assert.equal(env.REMOTE_ADDR, '203.0.113.7');
      assert.equal(env.REMOTE_PORT, '5555');
      assert.equal(env.PROXY_PROTOCOL, 'TCP4');
      assert.equal(env.PROXY_ADDR, '192.0.2.1');
      assert.equal(env.PROXY_PORT, '443');
      ({ env } = await echo(server.port, `PROXY TCP6 2001:db8::7 2001:db8::1 6000 8443\r\n${GET}`));
      assert.equal(env.REMOTE_ADDR, '2001:db8::7');
      assert.equal(env.REMOTE_PORT, '6000');
      assert.equal(env.PROXY_PROTOCOL, 'TCP6');
    });

    test('v2 TCP4, TCP6 and LOCAL; v1 UNKNOWN keeps the connection\'s addresses', async () => {
      let { env } = await echo(server.port, Buffer.concat([v2(1, 0x11, Buffer.concat([ipv4('198.51.100.9'), ipv4('192.0.2.1'), ports(4321, 80)])), Buffer.from(GET)]));
      assert.equal(env.REMOTE_ADDR, '198.51.100.9');
      assert.equal(env.REMOTE_PORT, '4321');
      assert.equal(env.PROXY_PORT, '80');
      ({ env } = await echo(server.port, Buffer.concat([v2(1, 0x21, Buffer.concat([ipv6('2001:db8::9'), ipv6('::1'), ports(7, 8), Buffer.from([1, 0, 1, 0x41])])), Buffer.from(GET)])));
      assert.equal(env.REMOTE_ADDR, '2001:db8::9');
      assert.equal(env.PROXY_PROTOCOL, 'TCP6');
      ({ env } = await echo(server.port, Buffer.concat([v2(0, 0x00, Buffer.alloc(0)), Buffer.from(GET)])));
      assert.equal(env.REMOTE_ADDR, '127.0.0.1');
      assert.equal(env.PROXY_PROTOCOL, 'LOCAL');
      ({ env } = await echo(server.port, `PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n${GET}`));
      assert.equal(env.REMOTE_ADDR, '127.0.0.1');
      assert.equal(env.PROXY_PROTOCOL, 'UNKNOWN');
    });

    test('the header is optional, and a header that trickles in byte by byte still counts', async () => {
      let { env } = await echo(server.port, GET);
      assert.equal(env.REMOTE_ADDR, '127.0.0.1');
      assert.equal(env.PROXY_PROTOCOL, undefined);
      const got = await new Promise<string>((resolve, reject) => {
        const sock = net.connect({ port: server.port, host: '127.0.0.1' });
        const bytes = Buffer.from(`PROXY TCP4 203.0.113.8 192.0.2.1 1 2\r\n${GET}`);
        let data = '';
        sock.on('connect', async () => {
          for (let i = 0; i < 40; i++) {
            sock.write(bytes.subarray(i, i + 1));
            await new Promise((r) => setTimeout(r, 5));
          }
          sock.write(bytes.subarray(40));
        });
        sock.setEncoding('latin1');
        sock.on('data', (d) => (data += d));
        sock.on('close', () => resolve(data));
        sock.on('error', reject);
      });
      env = JSON.parse(parseResponse(Buffer.from(got, 'latin1')).body.toString('latin1'));
      assert.equal(env.REMOTE_ADDR, '203.0.113.8');
    });

    test('malformed headers get 400 and never reach the app', async () => {
      const before = calls();
      for (const bad of [
        `PROXY TCP4 203.0.113.300 192.0.2.1 1 2\r\n${GET}`,
        `PROXY TCP4 203.0.113.3 192.0.2.1 1 65536\r\n${GET}`,
        `PROXY TCP5 203.0.113.3 192.0.2.1 1 2\r\n${GET}`,
        `PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n${GET}`,
        `PROXY TCP4 203.0.113.3 192.0.2.1 1\r\n${GET}`,
        `PROXY ${'x'.repeat(120)}\r\n${GET}`,
        Buffer.concat([v2(1, 0x11, Buffer.alloc(4)), Buffer.from(GET)]), // too short for its addresses
        Buffer.concat([v2(3, 0x11, Buffer.alloc(12)), Buffer.from(GET)]), // unknown command
        Buffer.concat([v2(1, 0x55, Buffer.alloc(12)), Buffer.from(GET)]), // unknown family
      ]) {
        const { status, raw } = await echo(server.port, bad);
        assert.equal(status, 400, `${JSON.stringify(bad.toString())} → ${raw}`);
      }
      assert.equal(calls(), before, 'the app was not called');
    });

    if (klass === 'gthread') {
      test('keep-alive: only the first request carries the header; it holds for the whole connection', async () => {
        const keep = 'GET /1 HTTP/1.1\r\nHost: t\r\n\r\n';
        const raw = (await rawRequest(server.port, `PROXY TCP4 203.0.113.9 192.0.2.1 9 80\r\n${keep}${GET}`)).toString('latin1');
        const addrs = [...raw.matchAll(/"REMOTE_ADDR": "([^"]*)"/g)].map((m) => m[1]);
        assert.deepEqual(addrs, ['203.0.113.9', '203.0.113.9']);
        const second = (await rawRequest(server.port, `PROXY TCP4 203.0.113.9 192.0.2.1 9 80\r\n${keep}PROXY TCP4 1.2.3.4 192.0.2.1 9 80\r\n${GET}`)).toString('latin1');
        assert.match(second, /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 400 /, 'a second header is not a header any more');
      });
    }
  });
}

describe('PROXY protocol: peers outside proxy_allow_ips, and in front of TLS', () => {
  let pki: Pki;
  before(() => {
    pki = makePki();
  });
  after(() => fs.rmSync(pki.dir, { recursive: true, force: true }));

  test('a header from a peer that is not allowed gets 403 (gunicorn\'s ForbiddenProxyRequest); plain requests still work', async () => {
    const server = await startServer(['--proxy-protocol', '--proxy-allow-from', '10.9.9.9', '--chdir', APPS, 'echo_app']);
    try {
      const { status, raw } = await echo(server.port, `PROXY TCP4 203.0.113.7 192.0.2.1 5555 443\r\n${GET}`);
      assert.equal(status, 403, raw);
      assert.equal((await echo(server.port, GET)).env.REMOTE_ADDR, '127.0.0.1');
    } finally {
      await server.stop();
    }
  });

  for (const klass of ['sync', 'gthread']) {
    test(`${klass}: the header comes in clear before the TLS handshake`, async () => {
      const port = await freePort();
      const server = await startServer(['-b', `127.0.0.1:${port}`, '-k', klass, '--proxy-protocol', '--certfile', pki.serverCert,
        '--keyfile', pki.serverKey, '--chdir', APPS, 'echo_app'], { noBind: true, port, readyPattern: /Booting worker/ });
      try {
        const viaTls = (header: Buffer | string) => new Promise<string>((resolve, reject) => {
          const raw = net.connect({ port, host: '127.0.0.1' }, () => {
            raw.write(header);
            const sock = tls.connect({ socket: raw, ca: fs.readFileSync(pki.caCert), servername: 'localhost' }, () => sock.write(GET));
            let data = '';
            sock.setEncoding('latin1');
            sock.on('data', (d) => (data += d));
            sock.on('end', () => resolve(data));
            sock.on('error', reject);
          });
          raw.on('error', reject);
        });
        let answer = '';
        await waitUntil(async () => {
          answer = await viaTls(`PROXY TCP4 203.0.113.70 192.0.2.1 7000 443\r\n`).catch(() => '');
          return answer !== '';
        }, 20000, 'an answer over TLS');
        const env = JSON.parse(parseResponse(Buffer.from(answer, 'latin1')).body.toString('latin1'));
        assert.equal(env.REMOTE_ADDR, '203.0.113.70');
        assert.equal(env['wsgi.url_scheme'], 'https');
        const v2env = JSON.parse(parseResponse(Buffer.from(await viaTls(v2(1, 0x11, Buffer.concat([ipv4('198.51.100.1'), ipv4('192.0.2.1'), ports(1, 2)]))), 'latin1')).body.toString('latin1'));
        assert.equal(v2env.REMOTE_ADDR, '198.51.100.1');
        const none = JSON.parse(parseResponse(Buffer.from(await viaTls(''), 'latin1')).body.toString('latin1'));
        assert.equal(none.REMOTE_ADDR, '127.0.0.1');
        const bad = (await rawRequest(port, `PROXY TCP4 nope 192.0.2.1 1 2\r\n`)).toString('latin1');
        assert.match(bad, /^HTTP\/1\.1 400 /, 'a bad header before TLS is answered in clear');
      } finally {
        await server.stop();
      }
    });
  }
});

describe('secure_scheme_headers count only from forwarded_allow_ips', () => {
  test('trusted: the header sets the scheme; untrusted: ignored; REMOTE_ADDR never comes from X-Forwarded-For', async () => {
    const fwd = 'GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 203.0.113.1\r\nConnection: close\r\n\r\n';
    const trusted = await startServer(['--chdir', APPS, 'echo_app']);
    const untrusted = await startServer(['--forwarded-allow-ips', '10.9.9.9', '--chdir', APPS, 'echo_app']);
    try {
      const t = (await echo(trusted.port, fwd)).env;
      assert.equal(t['wsgi.url_scheme'], 'https');
      assert.equal(t.REMOTE_ADDR, '127.0.0.1');
      const u = (await echo(untrusted.port, fwd)).env;
      assert.equal(u['wsgi.url_scheme'], 'http');
      assert.equal(u.REMOTE_ADDR, '127.0.0.1');
    } finally {
      await trusted.stop();
      await untrusted.stop();
    }
  });
});
