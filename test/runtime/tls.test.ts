// TLS through the real CLI: HTTPS with a certificate the tests make, client certificates, bad input.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { FIXTURES, Server, childPids, freePort, rawRequest, runCli, startServer, waitUntil } from '../helpers';
import { Pki, makePki } from '../pki';

const APPS = path.join(FIXTURES, 'apps');

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function request(port: number, pki: Pki, opts: https.RequestOptions & { body?: string; client?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: '/', method: 'GET', ca: fs.readFileSync(pki.caCert), agent: false, timeout: 5000,
      ...(opts.client ? { cert: fs.readFileSync(pki.clientCert), key: fs.readFileSync(pki.clientKey) } : {}),
      ...opts,
    }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(opts.body);
  });
}

/** startServer waits for plain HTTP; a TLS server is ready once an HTTPS request succeeds. */
async function startTls(args: string[], pki: Pki, client = false): Promise<Server> {
  const port = await freePort();
  const server = await startServer(['-b', `127.0.0.1:${port}`, ...args], { noBind: true, port, readyPattern: /Listening at: https:/ });
  await waitUntil(async () => {
    try {
      return (await request(port, pki, { client })).status === 200;
    } catch {
      return false;
    }
  }, 20000, 'an HTTPS answer');
  return server;
}

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => {
  fs.rmSync(pki.dir, { recursive: true, force: true });
});

for (const klass of ['sync', 'gthread']) {
  describe(`TLS with the ${klass} worker`, () => {
    let server: Server;
    let accessLog: string;

    before(async () => {
      accessLog = path.join(pki.dir, `access-${klass}.log`);
      server = await startTls(['-k', klass, '--threads', '2', '--certfile', pki.serverCert, '--keyfile', pki.serverKey,
        '--access-logfile', accessLog, '--access-logformat', '%(h)s %(H)s %({wsgi.url_scheme}e)s %(s)s',
        '--log-level', 'debug', '--chdir', APPS, 'echo_app'], pki);
    });
    after(async () => {
      await server?.stop();
    });

    test('GET and POST over HTTPS: wsgi.url_scheme is https, the log says https', async () => {
      const got = await request(server.port, pki, { path: '/a?x=1' });
      assert.equal(got.status, 200);
      const env = JSON.parse(got.body);
      assert.equal(env['wsgi.url_scheme'], 'https');
      assert.equal(env.PATH_INFO, '/a');
      const body = 'x'.repeat(100000);
      const posted = await request(server.port, pki, { method: 'POST', body, headers: { 'Content-Length': String(body.length) } });
      assert.equal(JSON.parse(posted.body).body, body);
      assert.match(server.output(), new RegExp(`Listening at: https://127\\.0\\.0\\.1:${server.port} `));
      await waitUntil(() => fs.existsSync(accessLog) && fs.readFileSync(accessLog, 'utf8').includes('127.0.0.1 HTTP/1.1 https 200'), 5000, 'the access log line');
    });

    test('plain HTTP on the TLS port costs that connection only, never the worker', async () => {
      const before = childPids(server.pid).sort();
      // Closed (or reset: the request was never read) without an answer from the app.
      const res = await rawRequest(server.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeoutMs: 5000 })
        .catch((e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? Buffer.alloc(0) : Promise.reject(e)));
      assert.ok(!res.toString('latin1').includes('"wsgi.url_scheme"'), 'no app answer over plain HTTP');
      // Garbage that is neither HTTP nor TLS, and a client that leaves in the middle of the handshake.
      await rawRequest(server.port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3]), { timeoutMs: 5000 }).catch(() => undefined);
      assert.equal((await request(server.port, pki)).status, 200);
      assert.deepEqual(childPids(server.pid).sort(), before, 'the same workers serve');
      await server.waitForOutput(/\[DEBUG\] (TLS handshake with|socket error with) 127\.0\.0\.1:\d+/);
    });

    test('keep-alive and pipelined requests on one TLS connection', async () => {
      const head = (n: number) => `GET /p${n} HTTP/1.1\r\nHost: x\r\n${n === 3 ? 'Connection: close\r\n' : ''}\r\n`;
      const got = await new Promise<string>((resolve, reject) => {
        const sock = tls.connect({ host: '127.0.0.1', port: server.port, ca: fs.readFileSync(pki.caCert) }, () => {
          sock.write(head(1) + head(2) + head(3)); // one write: several requests may sit in one TLS record
        });
        let data = '';
        sock.setEncoding('latin1');
        sock.on('data', (d) => (data += d));
        sock.on('end', () => resolve(data));
        sock.on('error', reject);
        sock.setTimeout(5000, () => sock.destroy(new Error(`timeout; got ${data}`)));
      });
      const paths = [...got.matchAll(/"PATH_INFO": "([^"]*)"/g)].map((m) => m[1]);
      assert.deepEqual(paths, ['/p1', '/p2', '/p3']);
    });
  });
}

describe('client certificates (cert_reqs 2 with ca_certs)', () => {
  let server: Server;
  before(async () => {
    server = await startTls(['-k', 'gthread', '--certfile', pki.serverCert, '--keyfile', pki.serverKey, '--ca-certs', pki.caCert,
      '--cert-reqs', '2', '--ssl-version', 'TLSv1_2', '--chdir', APPS, 'echo_app'], pki, true);
  });
  after(async () => {
    await server?.stop();
  });

  test('a client with a certificate from the CA is served; one without is refused; the worker lives on', async () => {
    assert.equal((await request(server.port, pki, { client: true })).status, 200);
    await assert.rejects(request(server.port, pki));
    assert.equal((await request(server.port, pki, { client: true })).status, 200);
  });

  test('ssl_version TLSv1_2 is a minimum: TLS 1.3 is still served, TLS 1.1 is not', async () => {
    assert.equal((await request(server.port, pki, { client: true, minVersion: 'TLSv1.3' })).status, 200);
    await assert.rejects(request(server.port, pki, { client: true, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
  });
});

describe('the sync worker with do_handshake_on_connect and cert_reqs 2', () => {
  test('serves a client with a certificate and refuses one without', async () => {
    const server = await startTls(['--certfile', pki.serverCert, '--keyfile', pki.serverKey, '--ca-certs', pki.caCert,
      '--cert-reqs', '2', '--do-handshake-on-connect', '--chdir', APPS, 'echo_app'], pki, true);
    try {
      await assert.rejects(request(server.port, pki));
      assert.equal((await request(server.port, pki, { client: true })).status, 200);
    } finally {
      await server.stop();
    }
  });
});

describe('bad TLS settings stop the CLI with one clear line (exit 2)', () => {
  test('a missing certfile, keyfile or ca_certs', async () => {
    const missing = path.join(pki.dir, 'nope.pem');
    for (const [flag, name] of [['--certfile', 'certfile'], ['--keyfile', 'keyfile'], ['--ca-certs', 'ca_certs']]) {
      const args = flag === '--certfile' ? [flag, missing] : ['--certfile', pki.serverCert, '--keyfile', pki.serverKey, flag, missing];
      const r = await runCli(['-b', '127.0.0.1:0', ...args, 'test:app']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^unicorn: error: ${name}: ${missing.replace(/[.]/g, '\\.')} does not exist — give the path of a PEM file with ${flag}\\n$`));
    }
  });

  test('a key that does not match the certificate, a key without a certificate, a bad cipher list, a bad version', async () => {
    let r = await runCli(['-b', '127.0.0.1:0', '--certfile', pki.serverCert, '--keyfile', pki.otherKey, 'test:app']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^unicorn: error: certfile .*server\.pem, keyfile .*other\.key: OpenSSL cannot load them \(.*\) — give a PEM certificate and its matching, unencrypted private key\n$/);
    r = await runCli(['-b', '127.0.0.1:0', '--keyfile', pki.serverKey, 'test:app']);
    assert.match(r.stderr, /keyfile: set without certfile/);
    r = await runCli(['-b', '127.0.0.1:0', '--certfile', pki.serverCert, '--keyfile', pki.serverKey, '--ciphers', 'NO-SUCH-CIPHER', 'test:app']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ciphers "NO-SUCH-CIPHER": .* — give an OpenSSL cipher list/);
    r = await runCli(['--ssl-version', 'SSLv3', 'test:app']);
    assert.match(r.stderr, /ssl_version: "SSLv3" is not one of TLS_SERVER, TLS, SSLv23, TLSv1, TLSv1_1, TLSv1_2, TLSv1_3/);
    r = await runCli(['--cert-reqs', '3', 'test:app']);
    assert.match(r.stderr, /cert_reqs: 3 is not 0, 1 or 2/);
  });

  test("gunicorn's ssl_version spellings, names and numbers", async () => {
    for (const [given, shown] of [['TLSv1_2', 'TLSv1_2'], ['tls_server', 'TLS_SERVER'], ['5', 'TLSv1_2'], ['PROTOCOL_TLS', 'TLS']]) {
      const r = await runCli(['--ssl-version', given, '--print-config', 'test:app']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^ssl_version += "${shown}"$`, 'm'));
    }
  });
});

describe('a listener added by a reload', () => {
  test('is bound for TLS like the first: https in the log, and it serves HTTPS', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-tlshup-'));
    const [first, second] = [await freePort(), await freePort()];
    const conf = path.join(dir, 'unicorn.conf.py');
    const tlsConf = `certfile = ${JSON.stringify(pki.serverCert)}\nkeyfile = ${JSON.stringify(pki.serverKey)}\n`;
    fs.writeFileSync(conf, `${tlsConf}bind = ["127.0.0.1:${first}"]\n`);
    const s = await startServer(['-c', conf, '--chdir', APPS, 'echo_app:application'], { noBind: true, port: first, readyPattern: /Booting worker/ });
    try {
      await waitUntil(async () => (await request(first, pki).catch(() => ({ status: 0 }))).status === 200, 20000, 'the first listener');
      fs.writeFileSync(conf, `${tlsConf}bind = ["127.0.0.1:${first}", "127.0.0.1:${second}"]\n`);
      process.kill(s.pid, 'SIGHUP');
      await s.waitForOutput(new RegExp(`Listening at: https://127\\.0\\.0\\.1:${second} `));
      await s.waitForOutput(/Reload complete/);
      assert.equal((await request(second, pki)).status, 200);
    } finally {
      await s.stop();
    }
  });
});
