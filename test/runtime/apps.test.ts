// The examples served for real: the classic test:app, Flask and Django (Debian packages, /usr/bin/python3).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { EXAMPLES, SYSTEM_PYTHON, Server, get, parseResponse, rawRequest, runCli, startServer } from '../helpers';

const started: Server[] = [];
async function start(...args: Parameters<typeof startServer>): Promise<Server> {
  const s = await startServer(...args);
  started.push(s);
  return s;
}
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

function json(body: Buffer): Record<string, unknown> {
  return JSON.parse(body.toString());
}

describe('examples/test.py as test:app', () => {
  for (const python of ['python3', SYSTEM_PYTHON]) {
    test(`served with 2 workers by ${python}`, async () => {
      const s = await start(['-w', '2', '--chdir', EXAMPLES, 'test:app'], { python });
      const res = await get(s.port, '/');
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'Hello, World!\n');
      assert.equal(res.headers['content-type'], 'text/plain');
      assert.equal(res.headers['content-length'], '14');
      assert.equal((await s.stop()).code, 0);
    });
  }
});

describe('Flask (python3-flask)', () => {
  test('text, JSON with a query string, a form POST and a 404', async () => {
    const s = await start(['-w', '2', '--chdir', path.join(EXAMPLES, 'flaskapp'), 'app:app'], { python: SYSTEM_PYTHON });
    let res = await get(s.port, '/');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'Hello from Flask on Unicorn!\n');
    res = await get(s.port, '/api/info?x=1&name=caf%C3%A9');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const info = json(res.body);
    assert.equal(info.framework, 'flask');
    assert.deepEqual(info.args, { x: '1', name: 'café' });
    const form = 'name=Ada+Lovelace';
    res = parseResponse(
      await rawRequest(
        s.port,
        `POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}`,
      ),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(json(res.body), { hello: 'Ada Lovelace' });
    // Flask reads a chunked body through wsgi.input just the same.
    res = parseResponse(
      await rawRequest(
        s.port,
        'POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '5\r\nname=\r\n3\r\nBob\r\n0\r\n\r\n',
      ),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(json(res.body), { hello: 'Bob' });
    assert.equal((await get(s.port, '/missing')).status, 404);
    await s.stop();
  });
});

describe('Django (python3-django)', () => {
  const project = path.join(EXAMPLES, 'djangoproject');

  test('unicorn-django finds manage.py and DJANGO_SETTINGS_MODULE', async () => {
    const s = await start(['-w', '2'], { python: SYSTEM_PYTHON, bin: 'unicorn-django', cwd: project });
    let res = await get(s.port, '/');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'Hello from Django on Unicorn!\n');
    res = await get(s.port, '/api/info?q=unicorn');
    const info = json(res.body);
    assert.equal(info.framework, 'django');
    assert.equal(info.method, 'GET');
    assert.equal(info.path, '/api/info');
    assert.deepEqual(info.query, { q: 'unicorn' });
    assert.equal((await get(s.port, '/nope')).status, 404);
    assert.match(s.output(), /Booting worker/);
    await s.stop();
  });

  test('unicorn-django with --chdir from elsewhere, and DJANGO_SETTINGS_MODULE from the environment', async () => {
    const s = await start(['--chdir', project], {
      python: SYSTEM_PYTHON,
      bin: 'unicorn-django',
      env: { DJANGO_SETTINGS_MODULE: 'mysite.settings' },
    });
    assert.equal((await get(s.port, '/')).status, 200);
    await s.stop();
  });

  test('a wrong DJANGO_SETTINGS_MODULE stops the server with the traceback, exit 4', async () => {
    const r = await runCli(['-b', '127.0.0.1:0', '--chdir', project], {
      python: SYSTEM_PYTHON,
      bin: 'unicorn-django',
      env: { DJANGO_SETTINGS_MODULE: 'mysite.no_such_settings' },
    });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /No module named 'mysite\.no_such_settings'/);
  });

  test('plain unicorn serves the project as mysite.wsgi:application', async () => {
    const s = await start(['--chdir', project, 'mysite.wsgi:application'], { python: SYSTEM_PYTHON });
    assert.equal((await get(s.port, '/')).body.toString(), 'Hello from Django on Unicorn!\n');
    await s.stop();
  });
});
