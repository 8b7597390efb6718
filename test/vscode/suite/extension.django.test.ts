// A new user's Django project: a stock `django startproject` site (made here, in the launcher's copy
// of test/fixtures/vscode-django) starts from "Start Unicorn Server" as the Django project, and as
// its ASGI entry (mysite.asgi:application on -k asgi), each with no Problems entry and the kernel
// check run; the app pick says plainly when it is dismissed. Every server started here is stopped here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import type { UnicornApi } from '../../../client/src/extension';
import { alive, chooseInAppPick, screenshot, waitFor } from './harness';

const EXTENSION_ID = 'unicorn-dev.unicorn';

function folder(): vscode.WorkspaceFolder {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'the launcher opens a copy of test/fixtures/vscode-django as the folder');
  return f;
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

suite('Unicorn extension on a stock Django project', () => {
  let api: UnicornApi;

  /** Problems anywhere in the workspace, as text. */
  const problems = () => vscode.languages.getDiagnostics().filter(([, ds]) => ds.length).map(([uri, ds]) => `${uri.fsPath}: ${ds.map((d) => d.message).join('; ')}`);

  suiteSetup(async () => {
    const root = folder().uri.fsPath;
    if (!fs.existsSync(path.join(root, 'manage.py'))) execFileSync('/usr/bin/python3', ['-m', 'django', 'startproject', 'mysite', root]);
    const ext = vscode.extensions.getExtension<UnicornApi>(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not loaded`);
    api = await ext.activate();
  });

  suiteTeardown(async () => {
    const s = api?.server();
    if (s?.running) {
      const pid = s.pid!;
      await vscode.commands.executeCommand('unicorn.stop');
      await waitFor(() => !alive(pid), 40_000, `the master ${pid} to exit at teardown`);
    }
  });

  test('the app pick offers the Django project, its ASGI entry and WSGI modules; dismissing it says so plainly', async () => {
    const extra = path.join(folder().uri.fsPath, 'extra_app.py');
    fs.writeFileSync(extra, 'def app(environ, start_response):\n    start_response("200 OK", [])\n    return [b"extra"]\n');
    try {
      const before = api.messages().length;
      const started = vscode.commands.executeCommand<number | undefined>('unicorn.start');
      let done = false;
      void started.then(() => (done = true), () => (done = true));
      // The pick is up once Start asked; close it as a user pressing Escape would, until Start gives up.
      await waitFor(async () => {
        if (!done && api.lastPickLabels().length) await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
        return done;
      }, 30_000, 'Start to end after the pick was dismissed');
      assert.equal(await started, undefined, 'nothing started');
      assert.deepEqual([...api.lastPickLabels()].sort(), ['Django project', 'extra_app:app', 'mysite.asgi:application']);
      const said = api.messages().slice(before);
      assert.ok(said.some((m) => /nothing started — the list of apps was closed without a choice/.test(m)), said.join(' | '));
    } finally {
      fs.rmSync(extra, { force: true });
    }
  });

  test('the ASGI entry starts the ASGI worker: picked, it serves the stock site with -k asgi, the tree says asgi, no Problems entry', async function () {
    this.timeout(120_000);
    const started = vscode.commands.executeCommand<number | undefined>('unicorn.start');
    await chooseInAppPick(api, 'mysite.asgi:application');
    const pid = await started;
    assert.ok(pid, `unicorn.start returned no pid; log:\n${api.logText()}`);
    const s = api.server()!;
    assert.equal(s.invocation.cli, 'unicorn');
    assert.equal(s.invocation.what, 'mysite.asgi:application (ASGI)');
    assert.deepEqual(s.invocation.args.slice(-3), ['--worker-class', 'asgi', 'mysite.asgi:application']);
    const url = await waitFor(() => s.url, 30_000, 'the server to report its address');
    assert.equal(await get(`${url}/`), 200, "Django's welcome page through the ASGI worker");
    const master = await waitFor(async () => {
      await api.processTree.refresh();
      const m = api.processTree.masterItems.find((x) => x.status.pid === pid);
      return m && api.processTree.workersOf(m).some((w) => w.status.state === 'idle') ? m : undefined;
    }, 30_000, 'the server with an idle worker in the tree');
    assert.equal(master.status.worker_class, 'asgi');
    assert.match(String(master.description), /^127\.0\.0\.1:\d+ · 1 asgi worker$/, 'the row names the worker class');
    assert.match((master.tooltip as vscode.MarkdownString).value, /- app: `mysite\.asgi:application`\n.*\n- worker class: asgi,/);
    const check = api.lastCheck();
    assert.ok(check, 'the check at Start ran');
    assert.equal(check.error, undefined, `the check was refused: ${check.error}`);
    assert.deepEqual(check.findings, []);
    assert.deepEqual(problems(), [], 'the ASGI entry of a stock project has nothing in Problems');
    await vscode.commands.executeCommand('notifications.clearAll'); // the dismissed pick's message is old news
    await vscode.commands.executeCommand('workbench.action.closePanel');
    await api.treeView.reveal(master, { expand: true, select: true, focus: true });
    const shownAt = Date.now();
    await waitFor(() => Date.now() - shownAt > 1500, 5000, 'the view to be painted'); // no API says when it is
    await screenshot('tree-django-asgi');
    const workers = api.processTree.workersOf(master).map((w) => w.status.pid);
    await vscode.commands.executeCommand('unicorn.stop');
    await waitFor(() => [pid, ...workers].every((p) => !alive(p)), 40_000, `the master ${pid} and its workers to exit`);
  });

  test('Choose the App to Serve asks again; Start then serves the stock site as the Django project: 200, the kernel check ran, and no Problems entry', async function () {
    this.timeout(120_000);
    // The ASGI entry was remembered: Start would run it again without asking.
    const chose = vscode.commands.executeCommand<string | undefined>('unicorn.chooseApp');
    await chooseInAppPick(api, 'Django project');
    assert.equal(await chose, 'Django project');
    assert.match(api.messages()[api.messages().length - 1], /^Unicorn: chose Django project\.$/);
    const pid = await vscode.commands.executeCommand<number | undefined>('unicorn.start');
    assert.ok(pid, `unicorn.start returned no pid; log:\n${api.logText()}`);
    const s = api.server()!;
    assert.equal(s.invocation.cli, 'unicorn-django');
    assert.equal(s.invocation.what, 'Django project');
    const url = await waitFor(() => s.url, 30_000, 'the server to report its address');
    assert.equal(await get(`${url}/`), 200);
    const check = api.lastCheck();
    assert.ok(check, 'the check at Start ran');
    assert.equal(check.error, undefined, `the check was refused: ${check.error}`);
    assert.equal(check.limits?.somaxconn, 4096, 'the check compared with the limits this run injects');
    assert.deepEqual(check.findings, []);
    assert.deepEqual(problems(), [], 'a stock Django project has nothing in Problems');
    await vscode.commands.executeCommand('unicorn.stop');
    await waitFor(() => !alive(pid), 40_000, `the master ${pid} to exit`);
  });
});
