// The extension's app detection and trust decision: pure logic, no editor needed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AppCandidate, appProtocol, candidateId, configNamesApp, describeCandidate, detectApps, moduleFor, topLevelWsgiNames } from '../../client/src/app-detection';
import { canStart } from '../../client/src/trust';

test('topLevelWsgiNames finds app / application bound at the top level only', () => {
  assert.deepEqual(topLevelWsgiNames('from flask import Flask\napp = Flask(__name__)\n'), ['app']);
  assert.deepEqual(topLevelWsgiNames('def application(environ, start_response):\n    pass\n'), ['application']);
  assert.deepEqual(topLevelWsgiNames('app: Flask = make()\napplication = app\n'), ['app', 'application']);
  assert.deepEqual(topLevelWsgiNames('from .wsgi import application as application\n'), ['application']);
  assert.deepEqual(topLevelWsgiNames('from x import (app, other)\n'), ['app']);
  assert.deepEqual(topLevelWsgiNames('def f():\n    app = 1\nif app == 2: pass\napp2 = 3\n'), [], 'indented, comparisons and other names do not count');
});

test('appProtocol tells ASGI apps (Django asgi.py, async def, FastAPI/Starlette/Quart) from WSGI ones', () => {
  assert.equal(appProtocol('from django.core.asgi import get_asgi_application\napplication = get_asgi_application()\n'), 'asgi');
  assert.equal(appProtocol('async def app(scope, receive, send):\n    pass\n'), 'asgi');
  assert.equal(appProtocol('from fastapi import FastAPI\napp = FastAPI()\n'), 'asgi');
  assert.equal(appProtocol('import starlette.applications\napp = starlette.applications.Starlette(routes=[])\n'), 'asgi');
  assert.equal(appProtocol('from quart import Quart\napp = make_app(Quart)\n'), 'asgi', 'an ASGI framework imported and no WSGI one');
  assert.equal(appProtocol('from flask import Flask\napp = Flask(__name__)\n'), 'wsgi');
  assert.equal(appProtocol('from flask import Flask\nfrom starlette.middleware.wsgi import WSGIMiddleware\napp = Flask(__name__)\n'), 'wsgi', 'a WSGI framework wins when both are imported');
  assert.equal(appProtocol('def app(environ, start_response):\n    return []\n'), 'wsgi');
  assert.equal(appProtocol('def f():\n    async def app(scope, receive, send): pass\n'), 'wsgi', 'only top-level definitions count');
});

test('configNamesApp sees a top-level wsgi_app', () => {
  assert.equal(configNamesApp('bind = "x"\nwsgi_app = "app:app"\n'), true);
  assert.equal(configNamesApp('# wsgi_app = "app:app"\n'), false);
  assert.equal(configNamesApp('if x:\n    wsgi_app = "a:b"\n'), false);
});

test('detectApps: Django via manage.py, modules inside packages, choices in a stable order', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-detect-'));
  try {
    const write = (rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    };
    write('site/manage.py', 'import django\n');
    write('site/site/__init__.py', '');
    write('site/site/wsgi.py', 'from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n');
    // ASGI entries are offered too, marked ASGI (Start runs them with -k asgi): Django's asgi.py, an `async def app(scope, ...)`.
    write('site/site/asgi.py', 'from django.core.asgi import get_asgi_application\napplication = get_asgi_application()\n');
    write('tools/asgi_hello.py', 'async def app(scope, receive, send):\n    pass\n');
    write('pkg/__init__.py', '');
    write('pkg/web.py', 'app = object()\n');
    write('tools/hello.py', 'def app(environ, start_response):\n    return []\n');
    write('unicorn.conf.py', 'app = "not served"\n');
    write('lib.py', 'x = 1\n');
    const files = ['site/manage.py', 'site/site/wsgi.py', 'site/site/asgi.py', 'tools/asgi_hello.py', 'pkg/__init__.py', 'pkg/web.py', 'tools/hello.py', 'unicorn.conf.py', 'lib.py'].map((f) => path.join(dir, f));
    const found = detectApps(dir, files, (f) => fs.readFileSync(f, 'utf8'));
    assert.deepEqual(found.map(candidateId), ['django:site', 'module:site:site.asgi:application', 'module:tools:asgi_hello:app', 'module::pkg.web:app', 'module:tools:hello:app']);
    const protocols = found.map((c) => (c.kind === 'module' ? c.protocol : 'django'));
    assert.deepEqual(protocols, ['django', 'asgi', 'asgi', 'wsgi', 'wsgi']);
    const asgiEntry = found[1] as Extract<AppCandidate, { kind: 'module' }>;
    assert.deepEqual(describeCandidate(asgiEntry), { label: 'site.asgi:application', description: 'ASGI, runs with -k asgi · in site' });
    assert.deepEqual(moduleFor(dir, path.join(dir, 'pkg', 'web.py')), { module: 'pkg.web', chdir: '' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('canStart: only a trusted workspace starts a server, and the refusal says why', () => {
  assert.deepEqual(canStart(true), { ok: true });
  const no = canStart(false);
  assert.equal(no.ok, false);
  assert.match(no.ok ? '' : no.reason, /not trusted/);
});
