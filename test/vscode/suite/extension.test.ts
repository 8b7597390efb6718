// The extension in a real editor, on test/fixtures/vscode-workspace: Start Server and a 200 from
// the app, the process tree following Add/Remove/Kill/Reload, the log in the output channel, the
// somaxconn problem from the language server and from the check at Start, a debugger attached to
// workers stopping at a breakpoint while the watchdog spares the paused worker, the `unicorn`
// launch and task types, and Stop. Every server started here is stopped here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import type { UnicornApi } from '../../../client/src/extension';
import type { WorkerStatus } from '../../../runtime/src/core/control-protocol';
// Types only: the suite is bundled apart from the extension, so its classes are not the extension's.
import type { MasterItem, WorkerItem } from '../../../client/src/process-tree';
import { ROOT, alive, chooseInAppPick, screenshot, treeRowLayout, waitFor } from './harness';
import { ChildProcess, spawn } from 'node:child_process';

const EXTENSION_ID = 'unicorn-dev.unicorn';
/** The line of `body = ...` in the fixture's app.py (1-based), where the debugger test breaks. */
const BREAKPOINT_LINE = 6;

function folder(): vscode.WorkspaceFolder {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'the launcher opens test/fixtures/vscode-workspace as the folder');
  return f;
}

function fixture(...parts: string[]): vscode.Uri {
  return vscode.Uri.joinPath(folder().uri, ...parts);
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** The injected somaxconn the problem tests depend on (the launcher passes UNICORN_KERNEL_LIMITS). */
function injectedSomaxconn(): number {
  const raw = process.env.UNICORN_KERNEL_LIMITS;
  assert.ok(raw, 'run the suite with --env UNICORN_KERNEL_LIMITS=\'{"somaxconn":128}\': the fixture\'s backlog must exceed an injected limit');
  const somaxconn = (JSON.parse(raw) as { somaxconn?: number }).somaxconn;
  assert.ok(somaxconn !== undefined && somaxconn < 2048, `UNICORN_KERNEL_LIMITS must set somaxconn below the fixture's backlog 2048, got ${raw}`);
  return somaxconn;
}

suite('Unicorn extension', () => {
  let api: UnicornApi;
  /** DAP messages the debug adapters sent, per session id. */
  const sent = new Map<string, Array<{ type: string; event?: string; body?: Record<string, unknown> }>>();
  const disposables: vscode.Disposable[] = [];
  /** What VS Code asked the adapters, for failure messages. */
  const received: string[] = [];

  const server = () => {
    const s = api.server();
    assert.ok(s?.running, 'no server is running');
    return s;
  };
  /** Workers that are serving (not booting or on their way out). */
  const liveWorkers = (): WorkerStatus[] => (api.server()?.lastStatus?.workers ?? []).filter((w) => w.state === 'idle' || w.state === 'busy');
  const treeWorkers = async (): Promise<WorkerItem[]> => {
    const [master] = await api.processTree.getChildren();
    return master ? ((await api.processTree.getChildren(master)) as WorkerItem[]) : [];
  };
  const workerCountIs = (n: number) => async () => {
    await api.processTree.refresh();
    const items = await treeWorkers();
    return items.length === n && items.every((w) => w.status.state === 'idle') ? items : undefined;
  };

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<UnicornApi>(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not loaded`);
    api = await ext.activate();
    disposables.push(
      vscode.debug.registerDebugAdapterTrackerFactory('*', {
        createDebugAdapterTracker(session) {
          const list = sent.get(session.id) ?? [];
          sent.set(session.id, list);
          return {
            onDidSendMessage: (m: { type: string; event?: string; body?: Record<string, unknown> }) => list.push(m),
            onWillReceiveMessage: (m: { command?: string; arguments?: unknown }) => received.push(`${session.name}: ${m.command} ${JSON.stringify(m.arguments ?? {}).slice(0, 300)}`),
          };
        },
      }),
    );
  });

  suiteTeardown(async () => {
    for (const s of [...sessions]) await vscode.debug.stopDebugging(s);
    vscode.debug.removeBreakpoints(vscode.debug.breakpoints);
    const s = api?.server();
    if (s?.running) {
      const pid = s.pid!;
      await vscode.commands.executeCommand('unicorn.stop');
      await waitFor(() => !alive(pid), 40_000, `the master ${pid} to exit at teardown`);
    }
    for (const d of disposables) d.dispose();
  });

  const sessions = new Set<vscode.DebugSession>();
  disposables.push(
    vscode.debug.onDidStartDebugSession((s) => sessions.add(s)),
    vscode.debug.onDidTerminateDebugSession((s) => sessions.delete(s)),
  );

  test('the trust decision: an untrusted workspace starts nothing and says why', () => {
    const refused = api.canStart(false);
    assert.equal(refused.ok, false);
    assert.match(!refused.ok ? refused.reason : '', /not trusted.*no server starts/);
    assert.deepEqual(api.canStart(true), { ok: true });
    assert.equal(vscode.workspace.isTrusted, true, 'this run has Workspace Trust off; the untrusted run checks the command itself');
  });

  test('the language server reports backlog over the injected somaxconn on unicorn.conf.py', async () => {
    const somaxconn = injectedSomaxconn();
    const conf = fixture('unicorn.conf.py');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(conf));
    const diagnostic = await waitFor(
      () => vscode.languages.getDiagnostics(conf).find((d) => /somaxconn/.test(d.message)),
      30_000,
      'a somaxconn diagnostic on unicorn.conf.py',
    );
    const text = (await vscode.workspace.openTextDocument(conf)).getText();
    const backlogLine = text.split('\n').findIndex((l) => l.startsWith('backlog'));
    assert.equal(diagnostic.range.start.line, backlogLine, 'the problem sits on the backlog line');
    assert.match(diagnostic.message, new RegExp(String(somaxconn)));
  });

  test('Start Unicorn Server serves the app: 200, and the master and 2 workers in the tree', async () => {
    const pid = await vscode.commands.executeCommand<number | undefined>('unicorn.start');
    assert.ok(pid, `unicorn.start returned no pid; log:\n${api.logText()}`);
    // Start shows the view (in its own container in the activity bar) and names the workers' Python first.
    await waitFor(() => api.treeView.visible, 10_000, 'Start to reveal the Unicorn view');
    assert.match(api.logText(), /^unicorn: workers run \/usr\/bin\/python3 \(unicorn\.python\)\n\$ unicorn /m);
    const url = await waitFor(() => api.server()?.url, 30_000, 'the server to report its address');
    await waitFor(workerCountIs(2), 30_000, 'two idle workers in the tree');
    const res = await get(`${url}/hello`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'Hello from /hello\n');

    const [master] = (await api.processTree.getChildren()) as MasterItem[];
    assert.equal(master?.contextValue, 'master');
    assert.equal(master.status.pid, server().pid, 'the tree shows the process the extension started');
    const workers = await treeWorkers();
    assert.deepEqual(workers.map((w) => w.contextValue), ['worker', 'worker']);
    for (const w of workers) {
      assert.equal(api.processTree.getParent(w), master, 'getParent leads back to the master (for reveal)');
      assert.match(String(w.description), /^idle · \d+ req · [\d.]+ MB$/, 'short: the rest is in the tooltip');
      assert.match((w.tooltip as vscode.MarkdownString).value, /requests served: \d+\n- RSS: [\d.]+ MB, up /);
    }
    await waitFor(() => /Unicorn: 127\.0\.0\.1:\d+ · 2 workers/.test(api.statusBarText()), 10_000, `the status bar to show the address and 2 workers (has "${api.statusBarText()}")`);
    assert.match(String(master.label), /^master \d+$/);
    assert.match(String(master.description), /^127\.0\.0\.1:\d+ · 2 sync workers$/, 'the address, and the count with the worker class');
    assert.match((master.tooltip as vscode.MarkdownString).value, /- python: `\/usr\/bin\/python3`/, "the workers' interpreter in the tooltip");

    // The picture: the view where Start put it, at the default sidebar width, with the panel closed.
    await vscode.commands.executeCommand('workbench.action.closePanel');
    await api.treeView.reveal(master, { expand: true, select: true, focus: true });
    await api.treeView.reveal(workers[1], { select: false, focus: false });
    // The workbench lays the view out and paints it after these commands return, and no API says
    // when it has: a picture taken at once shows an empty pane.
    const shownAt = Date.now();
    await waitFor(() => Date.now() - shownAt > 1500, 5000, 'the view to be painted');
    await screenshot('process-tree');
    // What that picture shows, read from the window: the selected master row keeps its label and
    // address whole (one inline action, the rest in its context menu and the view's title bar), the worker rows fit at the default width,
    // and the view has the sidebar's height, not a strip at the bottom of the Explorer.
    const row = await treeRowLayout(String(master.label));
    if (row !== undefined) { // undefined: a launcher that cannot read the window (@vscode/test-electron)
      assert.ok(row, `no row "${master.label}" drawn in the window`);
      assert.ok(row.labelVisible, `the master row's label is cut: ${JSON.stringify(row)}`);
      assert.deepEqual(row.actions, ['Stop Server'], 'the selected master row shows its main action only');
      // ...and its address, the first thing a user looks for there (the rest is in the tooltip).
      const address = String(master.description).split(' · ')[0];
      assert.ok(row.descriptionShown.startsWith(address), `the master row shows "${row.descriptionShown}", not its whole address ${address}`);
      assert.ok(row.viewHeight >= row.sidebarHeight * 0.6, `the Unicorn view is ${row.viewHeight} px of the sidebar's ${row.sidebarHeight}`);
      for (const w of workers) {
        const wr = await treeRowLayout(String(w.label));
        assert.ok(wr?.labelVisible && wr.descriptionVisible, `the worker row is cut at the default sidebar width: ${JSON.stringify(wr)}`);
      }
    }
  });

  test('the log reaches the output channel: boot lines and the access line', async () => {
    await waitFor(() => /\[INFO\] Listening at: http:\/\/127\.0\.0\.1:\d+/.test(api.logText()), 10_000, 'the "Listening at" line');
    await waitFor(() => /"GET \/hello HTTP\/1\.1" 200 /.test(api.logText()), 10_000, 'the access line of GET /hello');
    assert.match(api.logText(), /^\$ unicorn .*--control-socket /m, 'the command line the extension ran comes first');
    // The kernel finding of unicorn.args' backlog: one short line (the fix is in Problems and hover).
    const line = api.logText().split('\n').find((l) => /\[WARNING\] backlog 4096 is above/.test(l));
    assert.match(line ?? '', /\[WARNING\] backlog 4096 is above net\.core\.somaxconn \d+ — "unicorn check" shows the fix \[somaxconn\]$/);
    assert.ok(api.logText().split('\n').every((l) => l.length < 300 || !/somaxconn/.test(l)), 'no long kernel lines');
  });

  test('the check at Start puts the backlog that unicorn.args sets on .vscode/settings.json', async () => {
    const somaxconn = injectedSomaxconn();
    const settings = fixture('.vscode', 'settings.json');
    const diagnostic = await waitFor(
      () => vscode.languages.getDiagnostics(settings).find((d) => d.code === 'somaxconn'),
      20_000,
      'the somaxconn finding on .vscode/settings.json',
    );
    assert.equal(diagnostic.source, 'unicorn check');
    assert.match(diagnostic.message, new RegExp(`4096.*${somaxconn}|${somaxconn}.*4096`));
    const text = fs.readFileSync(settings.fsPath, 'utf8');
    const line = text.split('\n')[diagnostic.range.start.line];
    assert.equal(line.slice(diagnostic.range.start.character, diagnostic.range.end.character), '"--backlog"');
    // The config file's own backlog is the language server's to report, not reported twice.
    assert.equal(api.problems.get(fixture('unicorn.conf.py'))?.length ?? 0, 0);
  });

  test('Add Worker and Remove Worker change the tree', async () => {
    await vscode.commands.executeCommand('unicorn.addWorker', api.processTree.masterItems[0]);
    await waitFor(workerCountIs(3), 30_000, 'three idle workers after Add Worker');
    await vscode.commands.executeCommand('unicorn.removeWorker', api.processTree.masterItems[0]);
    await waitFor(workerCountIs(2), 30_000, 'two idle workers after Remove Worker');
    await waitFor(() => /· 2 workers/.test(api.statusBarText()), 10_000, 'the status bar to follow');
  });

  test('Kill on a worker replaces it', async () => {
    const [victim] = await treeWorkers();
    await vscode.commands.executeCommand('unicorn.killWorker', victim);
    const after = await waitFor(async () => {
      const items = await workerCountIs(2)();
      return items && !items.some((w) => w.status.pid === victim.status.pid) ? items : undefined;
    }, 30_000, `worker ${victim.status.pid} to be replaced`);
    assert.equal(after.length, 2);
    assert.equal(alive(victim.status.pid), false);
  });

  test('a debugger attached to each worker stops at a breakpoint; the paused worker outlives the timeout; continue answers', async function () {
    this.timeout(120_000);
    const workers = liveWorkers();
    assert.equal(workers.length, 2);
    const attached: Array<{ pid: number; port: number }> = [];
    for (const w of workers) {
      const a = await vscode.commands.executeCommand<{ pid: number; port: number } | undefined>('unicorn.attachDebugger', w.pid);
      assert.ok(a, `attach to worker ${w.pid} failed; log:\n${api.logText().slice(-2000)}`);
      attached.push(a);
    }
    assert.notEqual(attached[0].port, attached[1].port, 'each worker has its own debug port, picked by the OS');
    const workerSessions = attached.map((a) => api.debuggers.sessionFor(a.pid)!);
    assert.ok(workerSessions.every(Boolean), 'a debug session per attached worker');
    assert.deepEqual(workerSessions.map((s) => s.type), ['unicorn-worker', 'unicorn-worker'], 'without the Python Debugger extension, our own debug type');
    // Attached means the watchdog's probe sees the client.
    await waitFor(async () => (await server().refreshStatus())?.workers.filter((w) => w.debugger_attached).length === 2, 20_000, 'both workers to report a debugger attached');

    const appPy = fixture('app.py');
    const bp = new vscode.SourceBreakpoint(new vscode.Location(appPy, new vscode.Position(BREAKPOINT_LINE - 1, 0)));
    vscode.debug.addBreakpoints([bp]);
    // Breakpoints reach debugpy asynchronously: wait until each worker's debugpy has verified it.
    await waitFor(
      () => workerSessions.every((s) => (sent.get(s.id) ?? []).some((m) => {
        const r = m as { type: string; command?: string; body?: { breakpoints?: Array<{ verified: boolean; line?: number }> } };
        return r.type === 'response' && r.command === 'setBreakpoints' && r.body?.breakpoints?.some((b) => b.verified && b.line === BREAKPOINT_LINE);
      })),
      20_000,
      'debugpy in both workers to verify the breakpoint',
    );
    const pending = get(`${server().url}/paused`);
    const stop = await waitFor(() => {
      for (const s of workerSessions) {
        const m = (sent.get(s.id) ?? []).find((x) => x.type === 'event' && x.event === 'stopped');
        if (m) return { session: s, body: m.body as { reason: string; threadId: number } };
      }
      return undefined;
    }, 30_000, 'a worker to stop at the breakpoint').catch((e: Error) => {
      throw new Error(`${e.message}\nrequests to the adapters:\n${received.join('\n')}\nfrom the adapters:\n${workerSessions.map((s) => JSON.stringify(sent.get(s.id)).slice(0, 3000)).join('\n')}`);
    });
    assert.equal(stop.body.reason, 'breakpoint');
    const trace = (await stop.session.customRequest('stackTrace', { threadId: stop.body.threadId, startFrame: 0 })) as {
      stackFrames: Array<{ line: number; name: string; source?: { path?: string } }>;
    };
    assert.equal(trace.stackFrames[0].line, BREAKPOINT_LINE);
    assert.equal(path.basename(trace.stackFrames[0].source?.path ?? ''), 'app.py');
    // The worker loop under the app (accept, parse, handle_request) is the server's code, not the user's: not in the stack.
    const serverFrames = trace.stackFrames.filter((f) => /unicorn_worker/.test(f.source?.path ?? ''));
    assert.deepEqual(serverFrames.map((f) => `${f.name} ${f.source?.path}`), [], 'no frame of the worker itself');
    // Its threads are the app's: the worker's control reader is the server's, neither listed nor paused.
    const threads = (await stop.session.customRequest('threads')) as { threads: Array<{ name: string }> };
    assert.deepEqual(threads.threads.map((t) => t.name).filter((n) => /unicorn/.test(n)), [], `threads: ${threads.threads.map((t) => t.name).join(', ')}`);
    // Both workers attached: they share the new connections, and the second attach says so.
    assert.ok(api.messages().some((m) => m.includes(`worker ${attached[1].pid} is attached; new connections go to the workers being debugged (${attached[1].pid}, ${attached[0].pid})`)), api.messages().join(' | '));
    const pausedPid = attached[workerSessions.indexOf(stop.session)].pid;
    await screenshot('paused-worker');

    // The fixture's timeout is 3 s: watch the paused worker for longer than that, checking every poll that it lives.
    const timeout = server().lastStatus!.master.timeout;
    assert.equal(timeout, 3);
    const pausedAt = Date.now();
    await waitFor(async () => {
      assert.ok(alive(pausedPid), `the paused worker ${pausedPid} was killed while a debugger held it`);
      const status = await server().refreshStatus();
      const w = status?.workers.find((x) => x.pid === pausedPid);
      assert.ok(w, `worker ${pausedPid} left the status while paused`);
      return Date.now() - pausedAt > (timeout + 2) * 1000 && w.state === 'busy' && w.request?.path === '/paused';
    }, (timeout + 15) * 1000, `the paused worker to stay busy with /paused past the ${timeout} s timeout`);
    assert.doesNotMatch(api.logText(), new RegExp(`WORKER TIMEOUT \\(pid:${pausedPid}\\)`));
    await api.processTree.refresh();
    const pausedItem = (await treeWorkers()).find((w) => w.status.pid === pausedPid);
    assert.match(String(pausedItem?.description), /busy: GET \/paused .*debugging/);

    vscode.debug.removeBreakpoints([bp]);
    await stop.session.customRequest('continue', { threadId: stop.body.threadId });
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(res.body, 'Hello from /paused\n');

    for (const s of workerSessions) await vscode.debug.stopDebugging(s);
    await waitFor(() => attached.every((a) => !api.debuggers.sessionFor(a.pid)), 20_000, 'the worker sessions to end');
  });

  test('with 3 workers, attach sends the traffic to the attached worker: the first request stops at the breakpoint; detach resumes the others', async function () {
    this.timeout(120_000);
    await vscode.commands.executeCommand('unicorn.addWorker', api.processTree.masterItems[0]);
    const three = await waitFor(workerCountIs(3), 30_000, 'three idle workers after Add Worker').catch((e: Error) => {
      const st = api.server()?.lastStatus;
      throw new Error(`${e.message}; master: ${JSON.stringify({ workers: st?.master.workers, focus: st?.master.focus })}; the workers: ${JSON.stringify(st?.workers.map((w) => [w.pid, w.state, w.request, w.accepting, w.debugger_attached]))}; messages: ${api.messages().slice(-3).join(' | ')}\nlog:\n${api.logText().slice(-3000)}`);
    });
    const target = three[1];
    const a = await vscode.commands.executeCommand<{ pid: number; port: number; focused: boolean } | undefined>('unicorn.attachDebugger', target);
    assert.ok(a, `attach failed; messages: ${api.messages().join(' | ')}`);
    assert.equal(a.focused, true, 'with several workers, attach gives the worker the focus');
    assert.ok(api.messages().some((m) => m.includes(`worker ${a.pid} is attached and now takes every new connection`)), api.messages().join(' | '));
    const status = await server().refreshStatus();
    assert.deepEqual(status?.master.focus, [a.pid]);
    assert.deepEqual(status?.workers.filter((w) => w.accepting).map((w) => w.pid), [a.pid], 'only the attached worker accepts');
    // The row offers Detach instead of Attach, and the others say they are not accepting.
    await api.processTree.refresh();
    const rows = await treeWorkers();
    assert.equal(rows.find((w) => w.status.pid === a.pid)?.contextValue, 'worker-attached');
    assert.ok(rows.filter((w) => w.status.pid !== a.pid).every((w) => /not accepting/.test(String(w.description))));

    const session = api.debuggers.sessionFor(a.pid)!;
    const appPy = fixture('app.py');
    const bp = new vscode.SourceBreakpoint(new vscode.Location(appPy, new vscode.Position(BREAKPOINT_LINE - 1, 0)));
    vscode.debug.addBreakpoints([bp]);
    await waitFor(() => (sent.get(session.id) ?? []).some((m) => {
      const r = m as { type: string; command?: string; body?: { breakpoints?: Array<{ verified: boolean; line?: number }> } };
      return r.type === 'response' && r.command === 'setBreakpoints' && r.body?.breakpoints?.some((b) => b.verified && b.line === BREAKPOINT_LINE);
    }), 20_000, 'debugpy to verify the breakpoint');
    const stoppedBefore = (sent.get(session.id) ?? []).filter((x) => x.type === 'event' && x.event === 'stopped').length;
    const pending = get(`${server().url}/first`); // one request, the first since attach
    const stop = await waitFor(() => (sent.get(session.id) ?? []).filter((x) => x.type === 'event' && x.event === 'stopped')[stoppedBefore], 30_000,
      `the attached worker ${a.pid} to stop at the breakpoint on the first request`);
    assert.equal((stop.body as { reason: string }).reason, 'breakpoint');
    await screenshot('paused-worker-focus');
    vscode.debug.removeBreakpoints([bp]);
    await session.customRequest('continue', { threadId: (stop.body as { threadId: number }).threadId });
    assert.equal((await pending).status, 200);

    await vscode.commands.executeCommand('unicorn.detachDebugger', (await treeWorkers()).find((w) => w.status.pid === a.pid));
    await waitFor(async () => {
      const s = await server().refreshStatus();
      return s && s.master.focus?.length === 0 && s.workers.every((w) => w.accepting) ? s : undefined;
    }, 20_000, 'every worker to accept again after Detach').catch((e: Error) => {
      const st = api.server()?.lastStatus;
      throw new Error(`${e.message}; session of ${a.pid} still known: ${Boolean(api.debuggers.sessionFor(a.pid))}; master: ${JSON.stringify({ focus: st?.master.focus })}; the workers: ${JSON.stringify(st?.workers.map((w) => [w.pid, w.state, w.accepting, w.debugger_attached]))}; messages: ${api.messages().slice(-3).join(' | ')}\nlog:\n${api.logText().slice(-2000)}`);
    });
    await vscode.commands.executeCommand('unicorn.removeWorker', api.processTree.masterItems[0]);
    await waitFor(workerCountIs(2), 30_000, 'two idle workers again');
  });

  test('Reload replaces every worker; after Add Worker it says the count returns to the configuration\'s', async () => {
    await vscode.commands.executeCommand('unicorn.addWorker', api.processTree.masterItems[0]);
    await waitFor(workerCountIs(3), 30_000, 'three idle workers after Add Worker');
    const before = liveWorkers().map((w) => w.pid);
    await vscode.commands.executeCommand('unicorn.reload');
    assert.ok(api.messages().some((m) => /worker count returns to the configuration's 2 /.test(m)), api.messages().join(' | '));
    await waitFor(async () => {
      const items = await workerCountIs(2)();
      return items && items.every((w) => !before.includes(w.status.pid));
    }, 40_000, 'two new workers after Reload');
  });

  test('the live view draws requests/s, busy state and memory per worker and the listen queue, updating live', async function () {
    this.timeout(90_000);
    assert.equal(await vscode.commands.executeCommand('unicorn.showLiveView', api.processTree.masterItems[0]), true);
    const view = api.liveView();
    assert.ok(view, 'a live view is open');
    assert.equal(view.server, server(), "the row's server");
    // Traffic while it watches: a request every poll, until the webview has drawn a rate above zero.
    const url = server().url!;
    const report = await waitFor(async () => {
      await get(`${url}/live`);
      const r = view.lastRendered;
      // Ten samples at least, so that the picture shows lines over time.
      return r && r.workers === 2 && r.rps > 0 && r.queue !== null && (view.snapshot?.times.length ?? 0) >= 10 ? r : undefined;
    }, 60_000, 'the webview to draw a rate above zero for the 2 workers').catch(async (e: Error) => {
      await screenshot('live-view-failed');
      throw new Error(`${e.message} (last drawn: ${JSON.stringify(view.lastRendered)}, snapshot: ${JSON.stringify(view.snapshot?.now)})`);
    });
    assert.equal(report.master, server().pid);
    assert.ok(report.lines >= 5, `2 rate lines, 2 memory lines and the queue, drew ${report.lines}`);
    // Every chart in view without scrolling (the queue, the last one, was below the fold), as laid out in the webview.
    assert.deepEqual(report.belowFold, [], `charts below the fold of the ${report.viewport.join('×')} panel`);
    const snap = view.snapshot!;
    assert.ok(snap.times.length >= 2);
    assert.ok(snap.workers.every((w) => w.rssMb.some((v) => v !== null && v > 0)), 'memory for every worker');
    await screenshot('live-view');
    view.dispose();
    assert.equal(api.liveView(), undefined);
  });

  test('Stop Server ends the master and its workers', async () => {
    const s = server();
    const pids = [s.pid!, ...liveWorkers().map((w) => w.pid)];
    await vscode.commands.executeCommand('unicorn.stop');
    await waitFor(() => pids.every((p) => !alive(p)), 40_000, `the master and workers (${pids.join(', ')}) to exit`);
    assert.equal(api.server()?.running ?? false, false);
    assert.deepEqual(await api.processTree.getChildren(), [], 'the tree is empty again');
    assert.match(api.logText(), /unicorn exited \(code 0\)/);
    assert.equal(vscode.languages.getDiagnostics(fixture('.vscode', 'settings.json')).filter((d) => d.source === 'unicorn check').length, 0,
      'the check at Start was about that run: Stop clears it');
  });

  test('a Starlette app in the workspace is offered as ASGI and starts on the ASGI worker (-k asgi)', async function () {
    this.timeout(120_000);
    // A config that names no app, so that Start asks (this workspace's unicorn.conf.py names app:app).
    const cfg = vscode.workspace.getConfiguration('unicorn', folder().uri);
    await cfg.update('configFile', 'pick.conf.py', vscode.ConfigurationTarget.Workspace);
    try {
      const started = vscode.commands.executeCommand<number | undefined>('unicorn.start');
      await chooseInAppPick(api, 'asgi_app:app');
      const pid = await started;
      assert.ok(pid, `unicorn.start returned no pid; log:\n${api.logText()}`);
      assert.deepEqual([...api.lastPickLabels()], ['app:app', 'asgi_app:app', 'broken:app'], 'every app in the workspace, WSGI and ASGI');
      const s = server();
      assert.equal(s.invocation.what, 'asgi_app:app (ASGI)');
      assert.deepEqual(s.invocation.args.slice(-3), ['--worker-class', 'asgi', 'asgi_app:app']);
      const url = await waitFor(() => s.url, 30_000, 'the server to report its address');
      const res = await get(`${url}/hello`);
      assert.equal(res.status, 200);
      assert.equal(res.body, 'Hello from Starlette at /hello\n');
      const master = await waitFor(async () => {
        await api.processTree.refresh();
        const m = api.processTree.masterItems.find((x) => x.status.pid === pid);
        return m && api.processTree.workersOf(m).filter((w) => w.status.state === 'idle').length === 2 ? m : undefined;
      }, 30_000, 'the ASGI server with 2 idle workers in the tree');
      assert.match(String(master.description), /^127\.0\.0\.1:\d+ · 2 asgi workers$/);
      const pids = [pid, ...api.processTree.workersOf(master).map((w) => w.status.pid)];
      await vscode.commands.executeCommand('unicorn.stop');
      await waitFor(() => pids.every((p) => !alive(p)), 40_000, `the ASGI server's master and workers (${pids.join(', ')}) to exit`);
    } finally {
      await cfg.update('configFile', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('a start that fails on a missing module names the module and the interpreter, and offers the fix', async () => {
    const pid = await vscode.commands.executeCommand<number | undefined>('unicorn.start', { app: 'broken:app' });
    if (pid) await waitFor(() => !alive(pid), 30_000, `the server ${pid} to give up on the app that cannot load`);
    const message = await waitFor(() => api.messages().find((m) => /has no module "unicorn_missing_dependency"/.test(m)), 30_000,
      `the missing-module message (have: ${api.messages().join(' | ')})`);
    assert.match(message, /\/usr\/bin\/python3/);
    assert.match(message, /unicorn\.python/);
  });

  /** A server started from the command line in the workspace, as a user would (own process group). */
  function startCli(args: string[]): ChildProcess {
    const child = spawn(process.execPath, [path.join(ROOT, 'runtime', 'bin', 'unicorn.js'), '--python', '/usr/bin/python3', '-c', 'unicorn.conf.py', ...args], {
      cwd: folder().uri.fsPath, stdio: 'ignore', detached: true,
    });
    cliServers.push(child);
    return child;
  }
  const cliServers: ChildProcess[] = [];
  disposables.push({ dispose: () => cliServers.forEach((c) => alive(c.pid!) && process.kill(c.pid!, 'SIGKILL')) });

  const masterWithPid = (pid: number) => async () => {
    await api.processTree.refresh();
    return api.processTree.masterItems.find((m) => m.status.pid === pid);
  };

  test('servers started from the CLI (a pid file in the workspace; the runtime directory) appear in the tree with the same actions', async function () {
    this.timeout(120_000);
    const withPidFile = startCli(['--pid', 'cli-server.pid']);
    const plain = startCli([]);
    const a = await waitFor(masterWithPid(withPidFile.pid!), 40_000, `the CLI server ${withPidFile.pid} (pid file) in the tree`);
    const b = await waitFor(masterWithPid(plain.pid!), 40_000, `the CLI server ${plain.pid} (runtime directory) in the tree`);
    assert.equal(a.server.controlSocket, fixture('cli-server.ctl').fsPath);
    assert.equal(path.dirname(b.server.controlSocket), path.join(process.env.XDG_RUNTIME_DIR!, 'unicorn'));
    assert.match(String(a.description), /not started here/);
    for (const child of [withPidFile, plain]) {
      await waitFor(async () => {
        const m = await masterWithPid(child.pid!)();
        return m && api.processTree.workersOf(m).filter((w) => w.status.state === 'idle').length === 2;
      }, 40_000, `two idle workers in the CLI server ${child.pid}`);
    }
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('workbench.action.closePanel');
    for (const pid of [withPidFile.pid!, plain.pid!]) await api.treeView.reveal((await masterWithPid(pid)())!, { expand: true, select: false, focus: false });
    const shownAt = Date.now();
    await waitFor(() => Date.now() - shownAt > 1500, 5000, 'the view to be painted'); // no API says when it is
    await screenshot('tree-cli-servers');
    // The same actions as for the extension's own server: Add Worker on that row, then Stop.
    await vscode.commands.executeCommand('unicorn.addWorker', a);
    await waitFor(async () => {
      const m = await masterWithPid(withPidFile.pid!)();
      const ws = m ? api.processTree.workersOf(m) : [];
      return ws.length === 3 && ws.every((w) => w.status.state === 'idle');
    }, 30_000, 'three workers in the CLI server after Add Worker on its row');
    for (const [item, child] of [[a, withPidFile], [b, plain]] as const) {
      const workers = api.processTree.workersOf(item).map((w) => w.status.pid);
      await vscode.commands.executeCommand('unicorn.stop', item);
      await waitFor(() => [child.pid!, ...workers].every((p) => !alive(p)), 40_000, `the CLI server ${child.pid} and its workers to exit after Stop on its row`);
    }
    await api.processTree.refresh();
    assert.deepEqual(api.processTree.masterItems.map((m) => m.status.pid), [], 'the tree is empty again');
  });

  /** Runs the workspace's unicorn task and waits for its server in the tree: [execution, master pid, worker pids]. */
  async function runTask(): Promise<{ execution: vscode.TaskExecution; terminal: vscode.Terminal | undefined; pids: number[] }> {
    const [task] = await vscode.tasks.fetchTasks({ type: 'unicorn' });
    assert.ok(task, 'no unicorn task');
    let terminal: vscode.Terminal | undefined;
    const sub = vscode.window.onDidOpenTerminal((t) => (terminal ??= t));
    const execution = await vscode.tasks.executeTask(task);
    const master = await waitFor(async () => {
      await api.processTree.refresh();
      const m = api.processTree.masterItems.find((x) => x.server.origin === 'discovered');
      return m && api.processTree.workersOf(m).filter((w) => w.status.state === 'idle').length === 2 ? m : undefined;
    }, 60_000, "the task's server with 2 idle workers in the tree");
    sub.dispose();
    return { execution, terminal, pids: [master.status.pid, ...api.processTree.workersOf(master).map((w) => w.status.pid)] };
  }

  test('a task owns its server: closing its terminal stops it (no process left)', async function () {
    this.timeout(120_000);
    const { terminal, pids } = await runTask();
    assert.ok(terminal, "the task's terminal");
    terminal.dispose();
    await waitFor(() => pids.every((p) => !alive(p)), 60_000, `the task's master and workers (${pids.join(', ')}) to exit when its terminal closes`);
  });

  test('a task owns its server: Terminate Task stops it (no process left)', async function () {
    this.timeout(120_000);
    const { execution, pids } = await runTask();
    execution.terminate();
    await waitFor(() => pids.every((p) => !alive(p)), 60_000, `the task's master and workers (${pids.join(', ')}) to exit on Terminate Task`);
  });

  test('quick fixes: "did you mean gthread" edits the value; the backlog warning offers "lower backlog to <somaxconn>"; the terminal fix waits for the prompt', async () => {
    const somaxconn = injectedSomaxconn();
    const dir = path.join(folder().uri.fsPath, 'quickfix');
    fs.mkdirSync(dir, { recursive: true });
    const file = vscode.Uri.file(path.join(dir, 'gunicorn.conf.py'));
    fs.writeFileSync(file.fsPath, 'worker_class = "gthred"\nbacklog = 2048\n');
    const doc = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(doc);
    const typo = await waitFor(() => vscode.languages.getDiagnostics(file).find((d) => d.code === 'invalid-value'), 30_000, 'the worker_class problem');
    assert.match(typo.message, /^worker_class: "gthred" is not one of [\w, ]+ — did you mean gthread\?$/);
    assert.equal((typo.message.match(/gthread/g) ?? []).length, 2, `the choices once, then the suggestion: ${typo.message}`);
    const fixes = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', file, typo.range);
    const change = fixes.find((f) => f.title === 'Change to "gthread"');
    assert.ok(change?.edit, fixes.map((f) => f.title).join(' | '));
    assert.equal(await vscode.workspace.applyEdit(change.edit), true);
    assert.equal(doc.lineAt(0).text, 'worker_class = "gthread"');

    const backlog = await waitFor(() => vscode.languages.getDiagnostics(file).find((d) => d.code === 'kernel-somaxconn'), 30_000, 'the somaxconn warning');
    const backlogFixes = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', file, backlog.range);
    const lower = backlogFixes.find((f) => f.title.startsWith(`Lower backlog to ${somaxconn}`));
    assert.ok(lower?.edit, backlogFixes.map((f) => f.title).join(' | '));
    assert.equal(await vscode.workspace.applyEdit(lower.edit), true);
    assert.equal(doc.lineAt(1).text, `backlog = ${somaxconn}`);
    await waitFor(() => !vscode.languages.getDiagnostics(file).some((d) => d.code === 'kernel-somaxconn'), 30_000, 'the warning to go once backlog fits');
    await doc.save();

    const terminalFix = backlogFixes.find((f) => f.title.startsWith('Open a terminal with the command'));
    assert.ok(terminalFix?.command, backlogFixes.map((f) => f.title).join(' | '));
    const waited = await vscode.commands.executeCommand<string>(terminalFix.command.command, ...(terminalFix.command.arguments ?? []));
    assert.equal(waited, 'prompt', 'the command is typed once the shell reported its prompt');
    vscode.window.terminals.find((t) => t.name === 'Unicorn: kernel fix')?.dispose();
  });

  test('the unicorn task type offers the workspace server', async () => {
    const tasks = await vscode.tasks.fetchTasks({ type: 'unicorn' });
    const task = tasks.find((t) => t.definition.type === 'unicorn');
    assert.ok(task, 'no unicorn task provided');
    assert.ok(task.execution instanceof vscode.ProcessExecution);
    const args = (task.execution as vscode.ProcessExecution).args;
    assert.ok(args.some((a) => a.endsWith(path.join('runtime', 'bin', 'unicorn.js'))), args.join(' '));
    assert.ok(args.includes('--python') && args.includes('/usr/bin/python3'), args.join(' '));
  });

  test('the unicorn launch type starts the server with every worker as a child session; stopping it stops the server', async function () {
    this.timeout(120_000);
    const started = vscode.debug.startDebugging(folder(), { type: 'unicorn', request: 'launch', name: 'Unicorn (test)' });
    assert.equal(await started, true);
    const parent = await waitFor(() => [...sessions].find((s) => s.type === 'unicorn'), 30_000, 'the parent session');
    const s = await waitFor(() => (api.server()?.running ? api.server() : undefined), 30_000, 'the server the launch started');
    const children = await waitFor(() => {
      const kids = [...sessions].filter((x) => x.parentSession?.id === parent.id);
      return kids.length === 2 && kids.every((k) => k.type === 'unicorn-worker') ? kids : undefined;
    }, 40_000, 'a child session for each of the 2 workers');
    assert.equal(children.length, 2);
    const pid = s.pid!;
    await vscode.debug.stopDebugging(parent);
    await waitFor(() => !alive(pid), 40_000, `the master ${pid} to exit when the launch session stops`);
    await waitFor(() => ![...sessions].some((x) => x.id === parent.id || x.parentSession?.id === parent.id), 20_000, 'the sessions to end');
  });
});
