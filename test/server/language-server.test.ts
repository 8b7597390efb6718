// The language server, driven over stdio by a real LSP client: diagnostics for every check, hover,
// completion and quick fixes, broken Python, and kernel limits injected through UNICORN_KERNEL_LIMITS.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import fs from 'node:fs';
import path from 'node:path';
import { CodeAction, CompletionItem, DiagnosticSeverity, MarkupContent, TextEdit } from 'vscode-languageserver-protocol/node';
import { CliError } from '../../runtime/src/core/errors';
import { parseAddress } from '../../runtime/src/core/address';
import { HOOKS, SettingError, coerce, getSetting, ignoredWarning, nameHint } from '../../runtime/src/core/settings';
import { Diag, LSP_FIXTURES, LspServer, ROOMY_KERNEL, fixture } from './lsp-client';

/** The runtime's own message for a value, so that the test proves the server says the same words. */
function runtimeError(name: string, raw: unknown): string {
  try {
    coerce(getSetting(name)!, raw);
  } catch (e) {
    if (e instanceof SettingError) return e.message;
  }
  throw new Error(`${name} = ${JSON.stringify(raw)} was accepted by coerce`);
}

function bindError(entry: string): string {
  try {
    parseAddress(entry);
  } catch (e) {
    if (e instanceof CliError) return e.message;
  }
  throw new Error(`${entry} was accepted by parseAddress`);
}

const span = (d: Diag) => `${d.range.start.line}:${d.range.start.character}-${d.range.end.line}:${d.range.end.character}`;
const onLine = (ds: Diag[], line: number) => ds.filter((d) => d.range.start.line === line);
const uriOf = (...parts: string[]) => pathToFileURL(path.join(LSP_FIXTURES, ...parts)).href;

function only(ds: Diag[], line: number): Diag {
  const found = onLine(ds, line);
  assert.equal(found.length, 1, `one diagnostic on line ${line}, got ${JSON.stringify(found)}`);
  return found[0];
}

describe('language server diagnostics', () => {
  let server: LspServer;
  before(async () => {
    server = await LspServer.start();
  });
  after(() => server.stop());

  test('a config with every kind of value spelt correctly has no diagnostics', async () => {
    const fx = fixture('valid', 'unicorn.conf.py');
    assert.deepEqual(await server.open(fx.uri, fx.text), []);
  });

  test('names that are not settings: likely typos are warnings with did-you-mean; helper variables get nothing', async () => {
    const fx = fixture('unknown.conf.py');
    const ds = await server.open(fx.uri, fx.text);
    assert.equal(ds.length, 3, JSON.stringify(ds));
    const wrkers = only(ds, 0);
    assert.equal(span(wrkers), '0:0-0:6');
    assert.equal(wrkers.message, nameHint('wrkers')!.message);
    assert.equal(wrkers.message, 'wrkers: not a setting, so it is ignored — did you mean workers?');
    assert.equal(wrkers.severity, DiagnosticSeverity.Warning);
    assert.equal(wrkers.source, 'unicorn');
    assert.equal(onLine(ds, 1).length, 0, 'frobnicate is a helper variable, as gunicorn takes it');
    assert.equal(onLine(ds, 2).length, 0, 'MAX_WORKERS is an UPPER_CASE helper');
    assert.equal(onLine(ds, 3).length, 0, '_private is a helper');
    assert.equal(only(ds, 4).message, 'bnid: not a setting, so it is ignored — did you mean bind?');
    assert.match(only(ds, 5).message, /^config: a config file cannot name another config file/);
  });

  test('wrong types, ranges and enum values, in the words of the registry\'s coerce(), on the value', async () => {
    const fx = fixture('values.conf.py');
    const ds = await server.open(fx.uri, fx.text);
    const cases: Array<[number, string, unknown, string]> = [
      [1, 'workers', 'four', '1:10-1:16'],
      [2, 'workers', 0, '2:10-2:11'],
      [3, 'timeout', -1, '3:10-3:12'],
      [4, 'worker_class', 'eventlet', '4:15-4:25'],
      [5, 'loglevel', 'verbose', '5:11-5:20'],
      [10, 'raw_env', ['NOEQUALS'], '10:10-10:22'],
      [11, 'secure_scheme_headers', { 'X-FORWARDED-PROTO': 1 }, '11:24-11:48'],
      [13, 'max_requests', 2.5, '13:15-13:18'],
      [14, 'pidfile', 42, '14:10-14:12'],
    ];
    for (const [line, name, raw, range] of cases) {
      const d = only(ds, line);
      assert.equal(d.message, runtimeError(name, raw), `line ${line}`);
      assert.equal(d.severity, DiagnosticSeverity.Error, `line ${line}`);
      assert.equal(span(d), range, `line ${line}`);
    }
    // A list with one bad entry: on that entry.
    assert.equal(only(ds, 12).message, runtimeError('forwarded_allow_ips', ['127.0.0.1', 5]));
    assert.equal(span(only(ds, 12)), '12:36-12:37');
    assert.equal(ds.length, 13, JSON.stringify(ds.map((d) => d.message)));
  });

  test('a number written as a string is accepted by the runtime, so it is a warning that says how to write it', async () => {
    const fx = fixture('values.conf.py');
    const ds = await server.open(fx.uri, fx.text);
    const four = only(ds, 0);
    assert.equal(four.severity, DiagnosticSeverity.Warning);
    assert.equal(four.message, 'workers: "4" is a string — write workers = 4');
    assert.equal(span(four), '0:10-0:13');
    const yes = only(ds, 9);
    assert.equal(yes.severity, DiagnosticSeverity.Warning);
    assert.equal(yes.message, 'check_config: "yes" is a string — write check_config = True');
  });

  test('a gunicorn setting with no effect here is a warning in the runtime\'s words; gthread and threads are supported', async () => {
    const fx = fixture('values.conf.py');
    const ds = await server.open(fx.uri, fx.text);
    assert.deepEqual(onLine(ds, 6), [], 'worker_class = "gthread" is accepted');
    assert.deepEqual(onLine(ds, 7), [], 'threads = 4 is accepted');
    const d = only(ds, 8);
    assert.equal(d.message, ignoredWarning(getSetting('spew')!, true));
    assert.match(d.message, /^spew: has no effect in Unicorn and is ignored — /);
    assert.equal(d.code, 'no-effect');
    assert.equal(d.severity, DiagnosticSeverity.Warning);
    assert.equal(span(d), '8:0-8:4');
  });

  test('each malformed bind entry is reported on its own range with parseAddress\'s message', async () => {
    const fx = fixture('bind.conf.py');
    const ds = await server.open(fx.uri, fx.text);
    const bad = ['localhost:http', '[::1', 'unix:', 'fd://x', '1.2.3.4:99999', '::1:8000'];
    assert.equal(ds.length, bad.length, JSON.stringify(ds.map((d) => d.message)));
    bad.forEach((entry, i) => {
      const d = only(ds, i + 2);
      assert.equal(d.message, bindError(entry));
      assert.equal(span(d), `${i + 2}:4-${i + 2}:${4 + entry.length + 2}`);
    });
    assert.equal(onLine(ds, 1).length, 0, '127.0.0.1:8000 is fine');
    const one = fixture('bind-string.conf.py');
    const [d] = await server.open(one.uri, one.text);
    assert.equal(d.message, bindError('0.0.0.0:80000'));
    assert.equal(span(d), '0:7-0:22');
  });

  test('master-side and worker-side hooks are accepted, as the runtime accepts them', async () => {
    const fx = fixture('hooks.conf.py');
    assert.deepEqual(await server.open(fx.uri, fx.text), []);
  });

  test('computed values are not guessed at', async () => {
    const fx = fixture('computed.conf.py');
    assert.deepEqual(await server.open(fx.uri, fx.text), []);
  });

  test('wsgi_app: a module that is not on chdir / pythonpath', async () => {
    const fx = fixture('app', 'missing-module.conf.py');
    const [d, ...rest] = await server.open(fx.uri, fx.text);
    assert.deepEqual(rest, []);
    assert.equal(span(d), '0:11-0:29');
    assert.match(d.message, /^wsgi_app: no module "nosuchmodule" in .*, .*fixtures\/lsp\/app — set chdir or pythonpath/);
    const moved = fixture('app', 'chdir-missing.conf.py');
    const [d2] = await server.open(moved.uri, moved.text);
    assert.match(d2.message, /^wsgi_app: no module "hello" in .*fixtures\/lsp\/app\/src — /);
    assert.equal(d2.range.start.line, 1);
  });

  test('wsgi_app: a callable the module does not define at its top level (parsed, never imported)', async () => {
    const fx = fixture('app', 'missing-callable.conf.py');
    const [d, ...rest] = await server.open(fx.uri, fx.text);
    assert.deepEqual(rest, []);
    assert.equal(d.message, 'wsgi_app: "nope" is not defined at the top level of hello.py — define it there or name the right callable after the colon');
    assert.equal(d.severity, DiagnosticSeverity.Error);
    assert.equal(span(d), '0:11-0:23');
    const other = fixture('app', 'pythonpath-nocallable.conf.py');
    const [d2] = await server.open(other.uri, other.text);
    assert.match(d2.message, /^wsgi_app: "app" is not defined at the top level of src\/inner\.py/);
  });

  test('wsgi_app: found through chdir, pythonpath, packages, factories, imports and star imports', async () => {
    for (const name of ['found', 'default-callable', 'factory', 'chdir', 'pythonpath', 'star-import']) {
      const fx = fixture('app', `${name}.conf.py`);
      assert.deepEqual(await server.open(fx.uri, fx.text), [], name);
    }
  });

  test('wsgi_app: the app kind the worker class serves (ASGI under asgi, WSGI under the others)', async () => {
    const sync = fixture('app', 'asgi-under-sync.conf.py');
    const [d, ...rest] = await server.open(sync.uri, sync.text);
    assert.deepEqual(rest, []);
    assert.equal(d.message, 'wsgi_app: "api" is an ASGI app but worker_class sync serves WSGI apps — set worker_class = "asgi"');
    assert.equal(d.severity, DiagnosticSeverity.Error);
    assert.equal(span(d), '0:11-0:26');
    const asgi = fixture('app', 'wsgi-under-asgi.conf.py');
    const [d2] = await server.open(asgi.uri, asgi.text);
    assert.match(d2.message, /^wsgi_app: "site" is a WSGI app but worker_class asgi serves ASGI apps — set worker_class = "gthread"/);
    assert.equal(d2.range.start.line, 1);
    for (const name of ['asgi-under-uvicorn', 'wsgi-under-gevent']) {
      const fx = fixture('app', `${name}.conf.py`);
      assert.deepEqual(await server.open(fx.uri, fx.text), [], name);
    }
  });

  test('wsgi_app: a value that is not MODULE:CALLABLE', async () => {
    const fx = fixture('app', 'malformed.conf.py');
    const [d] = await server.open(fx.uri, fx.text);
    assert.match(d.message, /^wsgi_app: "hello:app:extra" is not MODULE:CALLABLE/);
  });

  test('broken Python: no crash and no spurious setting errors; the server keeps answering', async () => {
    const fx = fixture('broken.conf.py');
    assert.deepEqual(await server.open(fx.uri, fx.text), []);
    assert.equal(await server.hover(fx.uri, 1, 2), null);
    await server.completion(fx.uri, 4, 7);
    // Fixed, it is checked again.
    assert.equal((await server.change(fx.uri, 'wrkers = 4\n'))[0]?.code, 'unknown-setting');
    for (const text of ['\0\0\0', '"""', 'def', ')))(((', 'x = [' + '['.repeat(2000), 'workers = 4 if', 'bind = f"{', 'workers = (\n']) {
      assert.deepEqual(await server.change(fx.uri, text), [], JSON.stringify(text));
    }
  });

  test('random edits of a real config never stop the server, and every range stays inside the document', async () => {
    const fx = fixture('valid', 'unicorn.conf.py');
    const uri = uriOf('fuzz.conf.py');
    let text = fx.text;
    await server.open(uri, text);
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ['(', ')', '[', ']', '"', "'", ':', '=', '\n', ' ', '#', '\\', 'x', '0', ',', 'def ', 'f"{', '😀'];
    for (let i = 0; i < 300; i++) {
      const at = rand(text.length + 1);
      text = rand(2) ? text.slice(0, at) + alphabet[rand(alphabet.length)] + text.slice(at) : text.slice(0, at) + text.slice(at + 1 + rand(5));
      const ds = await server.change(uri, text);
      const lines = text.split('\n');
      for (const d of ds) {
        assert.ok(d.range.end.line < lines.length, `range ${span(d)} past the end (round ${i})`);
        assert.ok(d.range.end.character <= lines[d.range.end.line].length, `range ${span(d)} past the line end (round ${i})`);
      }
    }
    assert.equal(server.proc.exitCode, null);
    await server.close(uri);
  });

  test('the server never runs the config file or imports the app (safe in an untrusted workspace)', async () => {
    const fx = fixture('app', 'side-effects.conf.py');
    const markers = ['config-was-run.marker', 'app-was-imported.marker'].map((m) => path.join(LSP_FIXTURES, 'app', m));
    for (const m of markers) fs.rmSync(m, { force: true });
    assert.deepEqual(await server.open(fx.uri, fx.text), [], 'side_effects:app is found by parsing');
    for (const m of markers) assert.equal(fs.existsSync(m), false, `${path.basename(m)} exists: workspace code ran`);
  });

  test('typing a line key by key reports nothing until the line is complete, then the real problem', async () => {
    const uri = uriOf('typing.conf.py');
    await server.open(uri, 'workers = 2\n');
    const line = 'timeout = -5';
    for (let i = 1; i < line.length; i++) {
      const ds = await server.edit(uri, { start: { line: 1, character: i - 1 }, end: { line: 1, character: i - 1 } }, line[i - 1]);
      // `timeout = -` is a complete statement only once the number is there.
      assert.deepEqual(ds, [], `after typing ${JSON.stringify(line.slice(0, i))}`);
    }
    const ds = await server.edit(uri, { start: { line: 1, character: line.length - 1 }, end: { line: 1, character: line.length - 1 } }, '5');
    assert.equal(ds.length, 1);
    assert.equal(ds[0].message, runtimeError('timeout', -5));
    await server.close(uri);
  });

  test('ranges are in UTF-16 code units, as LSP counts them', async () => {
    const uri = uriOf('unicode.conf.py');
    const ds = await server.open(uri, 'proc_name = "😀é"; wrkers = 2\n');
    assert.equal(span(only(ds, 0)), '0:19-0:25'); // 😀 is two code units
  });
});

describe('language server kernel-limit diagnostics (limits injected through UNICORN_KERNEL_LIMITS)', () => {
  let linux: LspServer;
  let darwin: LspServer;
  before(async () => {
    [linux, darwin] = await Promise.all([
      LspServer.start({ ...ROOMY_KERNEL, somaxconn: 128 }),
      LspServer.start({ platform: 'darwin', somaxconn: 128, nofileSoft: 64, nofileHard: 64, portRange: [50000, 50100] }),
    ]);
  });
  after(() => Promise.all([linux.stop(), darwin.stop()]));

  test('backlog above somaxconn: a warning on the backlog line, with the sysctl fix', async () => {
    const fx = fixture('kernel', 'backlog.conf.py');
    const ds = await linux.open(fx.uri, fx.text);
    const d = only(ds, 2);
    assert.equal(ds.length, 1);
    assert.equal(d.severity, DiagnosticSeverity.Warning);
    assert.equal(d.code, 'kernel-somaxconn');
    assert.equal(span(d), '2:0-2:14');
    assert.match(d.message, /^backlog 4096 is above net\.core\.somaxconn 128: the kernel silently caps/);
    assert.match(d.message, /Fix: sudo sysctl -w net\.core\.somaxconn=4096/);
  });

  test('the default backlog above somaxconn: on the first line, saying the default applies', async () => {
    const fx = fixture('kernel', 'default.conf.py');
    const [d, ...rest] = await linux.open(fx.uri, fx.text);
    assert.deepEqual(rest, []);
    assert.equal(span(d), `0:0-0:${fx.text.split('\n')[0].length}`);
    assert.match(d.message, /^backlog 2048 is above net\.core\.somaxconn 128/);
    assert.match(d.message, /backlog is not set in this file, so its default applies/);
  });

  test('a computed backlog is not guessed at', async () => {
    const fx = fixture('kernel', 'computed.conf.py');
    assert.deepEqual(await linux.open(fx.uri, fx.text), []);
  });

  test('macOS: the fix names kern.ipc.somaxconn', async () => {
    const fx = fixture('kernel', 'backlog.conf.py');
    const ds = await darwin.open(fx.uri, fx.text);
    const d = ds.find((x) => x.code === 'kernel-somaxconn')!;
    assert.equal(d.range.start.line, 2);
    assert.match(d.message, /kern\.ipc\.somaxconn 128/);
    assert.match(d.message, /Fix: sudo sysctl -w kern\.ipc\.somaxconn=4096/);
  });

  test('workers near the open-files limit (on the workers line) and a narrow ephemeral port range (first line)', async () => {
    const fx = fixture('kernel', 'nofile.conf.py');
    const ds = await darwin.open(fx.uri, fx.text);
    const arbiter = ds.find((d) => d.code === 'kernel-nofile-arbiter')!;
    assert.equal(span(arbiter), '1:0-1:12');
    assert.equal(arbiter.severity, DiagnosticSeverity.Error);
    assert.match(arbiter.message, /64 workers/);
    const ports = ds.find((d) => d.code === 'kernel-port-range')!;
    assert.equal(ports.range.start.line, 0);
    assert.equal(ports.severity, DiagnosticSeverity.Warning);
    assert.match(ports.message, /50000-50100 leaves 101 ports/);
    assert.ok(ds.find((d) => d.code === 'kernel-nofile'), 'each worker\'s need too');
  });

  /** The client commands a diagnostic's quick fixes call, with their one argument. */
  async function fixCommands(server: LspServer, uri: string, d: Diag): Promise<Array<[string, unknown]>> {
    const actions = (await server.codeActions(uri, [d])).filter((a) => !a.edit); // the edit (lower the setting) is checked apart
    assert.ok(actions.every((a) => a.kind === 'quickfix' && a.diagnostics?.length === 1 && a.command?.arguments?.length === 1));
    return actions.map((a) => [a.command!.command, a.command!.arguments![0]]);
  }

  test('kernel findings offer to copy the command or open a terminal with it (Linux)', async () => {
    const fx = fixture('kernel', 'backlog.conf.py');
    const [d] = await linux.open(fx.uri, fx.text);
    const command = 'sudo sysctl -w net.core.somaxconn=4096';
    const lower = { setting: 'backlog', value: 128, range: { start: { line: 2, character: 10 }, end: { line: 2, character: 14 } } };
    assert.deepEqual(d.data, { kind: 'command', fix: d.message.slice(d.message.indexOf(' Fix: ') + 6), command, lower });
    assert.deepEqual(await fixCommands(linux, fx.uri, d), [['unicorn.copyFix', command], ['unicorn.runFixInTerminal', command]]);
    const actions = await linux.codeActions(fx.uri, [d]);
    assert.deepEqual(actions.map((a) => a.title), [
      "Lower backlog to 128 (the kernel's limit)", `Copy the command to the clipboard: ${command}`, `Open a terminal with the command: ${command}`,
    ]);
    // The edit needs no root: backlog down to the limit, on the value.
    assert.deepEqual(actions[0].edit, { changes: { [fx.uri]: [{ range: lower.range, newText: '128' }] } });
    assert.equal(actions[0].isPreferred, true);
  });

  test('macOS: the commands are the macOS ones; port-reserved has none, so only the fix is copied', async () => {
    const nofile = fixture('kernel', 'nofile.conf.py');
    const ds = await darwin.open(nofile.uri, nofile.text);
    const byCode = (code: string) => ds.find((d) => d.code === code)!;
    const expected: Array<[string, string]> = [
      ['kernel-somaxconn', 'sudo sysctl -w kern.ipc.somaxconn=2048'],
      ['kernel-nofile', 'sudo launchctl limit maxfiles 1024 1024'],
      ['kernel-nofile-arbiter', 'sudo launchctl limit maxfiles 1024 1024'],
      ['kernel-port-range', 'sudo sysctl -w net.inet.ip.portrange.first=10000 net.inet.ip.portrange.last=65535'],
    ];
    assert.deepEqual(ds.map((d) => d.code).sort(), expected.map(([code]) => code).sort());
    for (const [code, command] of expected) {
      assert.equal((byCode(code).data as { command?: string }).command, command, code);
      assert.deepEqual(await fixCommands(darwin, nofile.uri, byCode(code)), [['unicorn.copyFix', command], ['unicorn.runFixInTerminal', command]], code);
    }
    const uri = uriOf('kernel', 'reserved.conf.py');
    const reserved = (await darwin.open(uri, 'bind = "127.0.0.1:50050"\n')).find((d) => d.code === 'kernel-port-reserved')!;
    const data = reserved.data as { fix: string; command?: string };
    assert.equal(data.command, undefined);
    assert.equal(data.fix, 'bind a port below 50000');
    assert.deepEqual(await fixCommands(darwin, uri, reserved), [['unicorn.copyFix', 'bind a port below 50000']], 'no terminal without a command');
    assert.deepEqual((await darwin.codeActions(uri, [reserved])).map((a) => a.title), ['Copy the fix to the clipboard']);
  });

  test('Linux, hard open-files limit: no single command, so copy offers the fix and there is no terminal', async () => {
    const tight = await LspServer.start({ ...ROOMY_KERNEL, nofileSoft: 64, nofileHard: 64 });
    try {
      const fx = fixture('kernel', 'default.conf.py');
      const [d, ...rest] = await tight.open(fx.uri, fx.text);
      assert.deepEqual(rest, []);
      assert.equal(d.code, 'kernel-nofile');
      const data = d.data as { fix: string; command?: string };
      assert.ok(!('command' in data));
      assert.match(data.fix, /^under systemd, LimitNOFILE=1024/);
      assert.deepEqual(await fixCommands(tight, fx.uri, d), [['unicorn.copyFix', data.fix]]);
    } finally {
      await tight.stop();
    }
  });

  test('bad UNICORN_KERNEL_LIMITS: the server still runs, without kernel diagnostics', async () => {
    const bad = await LspServer.start('{"somaxcon": 1');
    try {
      const fx = fixture('kernel', 'default.conf.py');
      assert.deepEqual(await bad.open(fx.uri, fx.text), []);
      const values = fixture('unknown.conf.py');
      assert.equal((await bad.open(values.uri, values.text)).length, 3);
    } finally {
      await bad.stop();
    }
  });
});

describe('language server hover, completion and quick fixes', () => {
  let server: LspServer;
  before(async () => {
    server = await LspServer.start();
  });
  after(() => server.stop());

  const markdown = (h: { contents: unknown } | null) => (h?.contents as MarkupContent).value;

  test('hover on a setting: its doc, default and command-line flags from the registry', async () => {
    const fx = fixture('valid', 'unicorn.conf.py');
    await server.open(fx.uri, fx.text);
    const line = fx.text.split('\n').findIndex((l) => l.startsWith('workers ='));
    const h = await server.hover(fx.uri, line, 3);
    const text = markdown(h);
    assert.ok(text.includes(getSetting('workers')!.doc));
    assert.ok(text.includes('Default: `$WEB_CONCURRENCY, else 1`'));
    assert.ok(text.includes('`-w INT`, `--workers INT`'));
    assert.deepEqual(h!.range, { start: { line, character: 0 }, end: { line, character: 7 } });
    const bindLine = fx.text.split('\n').findIndex((l) => l.startsWith('bind ='));
    assert.ok(markdown(await server.hover(fx.uri, bindLine, 0)).includes('Default: `["127.0.0.1:8000"]`'));
    const headers = fx.text.split('\n').findIndex((l) => l.startsWith('secure_scheme_headers'));
    assert.ok(markdown(await server.hover(fx.uri, headers, 2)).includes('config file only'));
  });

  test('hover on a hook shows its signature; on a helper or a value, nothing', async () => {
    const fx = fixture('hooks.conf.py');
    await server.open(fx.uri, fx.text);
    const text = markdown(await server.hover(fx.uri, 5, 6));
    assert.ok(text.includes('def post_fork(server, worker):'));
    assert.ok(text.includes('Runs in each worker process'));
    assert.ok(!text.includes('Not supported yet'));
    assert.ok(markdown(await server.hover(fx.uri, 0, 6)).includes('Runs on the arbiter\'s behalf'), 'on_starting');
    assert.equal(await server.hover(fx.uri, 12, 6), null, 'my_helper');
    const valid = fixture('valid', 'unicorn.conf.py');
    const line = valid.text.split('\n').findIndex((l) => l.startsWith('workers ='));
    assert.equal(await server.hover(valid.uri, line, 10), null, 'the value');
  });

  test('hover on a gunicorn setting that is ignored or refused says so, and why', async () => {
    const fx = fixture('values.conf.py');
    await server.open(fx.uri, fx.text);
    const text = markdown(await server.hover(fx.uri, 8, 3));
    assert.ok(text.includes(`**Accepted and ignored:** ${getSetting('spew')!.ignored}.`), text);
    await server.open(uriOf('refused.conf.py'), 'dirty_workers = 2\n');
    const refused = markdown(await server.hover(uriOf('refused.conf.py'), 0, 3));
    assert.ok(refused.includes(`**Refused unless at gunicorn's default:** ${getSetting('dirty_workers')!.unsupported}.`), refused);
  });

  async function completeAt(text: string, line: number, character: number): Promise<CompletionItem[]> {
    const uri = uriOf('completion.conf.py');
    await server.open(uri, text);
    try {
      return await server.completion(uri, line, character);
    } finally {
      await server.close(uri);
    }
  }

  test('completion of setting names, with their docs, and of hooks at the start of a line', async () => {
    const items = await completeAt('workers = 2\nwor\n', 1, 3);
    const workers = items.find((i) => i.label === 'workers')!;
    assert.ok(workers, 'workers offered');
    assert.ok((workers.documentation as MarkupContent).value.includes(getSetting('workers')!.doc));
    assert.deepEqual((workers.textEdit as TextEdit).range, { start: { line: 1, character: 0 }, end: { line: 1, character: 3 } });
    assert.ok(items.find((i) => i.label === 'worker_class'));
    assert.ok(!items.find((i) => i.label === 'spew'), 'settings not supported yet are not offered');
    assert.ok(!items.find((i) => i.label === 'config'), 'config cannot be set in a config file');
    const hook = items.find((i) => i.label === 'post_fork')!;
    assert.equal(hook.detail, 'def post_fork(server, worker)');
    assert.match((hook.textEdit as TextEdit).newText, /^def post_fork\(server, worker\):\n/);
    assert.ok((await completeAt('\n', 0, 0)).find((i) => i.label === 'bind'), 'on an empty line');
  });

  test('completion after def offers hook names with their signatures', async () => {
    const items = await completeAt('def on_\n', 0, 7);
    assert.deepEqual(items.map((i) => i.label).sort(), Object.keys(HOOKS).sort());
    const item = items.find((i) => i.label === 'on_starting')!;
    assert.equal((item.textEdit as TextEdit).newText.split('\n')[0], 'on_starting(server):');
    assert.deepEqual((item.textEdit as TextEdit).range, { start: { line: 0, character: 4 }, end: { line: 0, character: 7 } });
  });

  test('completion of enum values: bare inside quotes, quoted after =; True/False for bools', async () => {
    const inQuotes = await completeAt('worker_class = "sy\n', 0, 18);
    assert.deepEqual(inQuotes.map((i) => (i.textEdit as TextEdit).newText), ['sync', 'gthread', 'asgi', 'gevent']);
    assert.deepEqual((inQuotes[0].textEdit as TextEdit).range, { start: { line: 0, character: 16 }, end: { line: 0, character: 18 } });
    assert.equal(inQuotes[1].detail, 'worker_class value', 'gthread is supported');
    const closed = await completeAt('loglevel = "deb"\n', 0, 14);
    assert.ok(closed.find((i) => (i.textEdit as TextEdit).newText === 'debug'));
    const bare = await completeAt('loglevel = \n', 0, 11);
    assert.deepEqual(bare.map((i) => (i.textEdit as TextEdit).newText), ['"debug"', '"info"', '"warning"', '"error"', '"critical"']);
    const bool = await completeAt('check_config = \n', 0, 15);
    assert.deepEqual(bool.map((i) => i.label), ['True', 'False']);
    assert.deepEqual(await completeAt('workers = \n', 0, 10), [], 'no values to offer for an int');
  });

  test('no completion inside function bodies or after other code', async () => {
    assert.deepEqual(await completeAt('def f():\n    wor\n', 1, 7), []);
    assert.deepEqual(await completeAt('x = foo(wor\n', 0, 11), []);
  });

  async function applyFix(uri: string, text: string, action: CodeAction): Promise<string> {
    const edits = action.edit!.changes![uri];
    assert.equal(edits.length, 1);
    const lines = text.split('\n');
    const { range, newText } = edits[0];
    assert.equal(range.start.line, range.end.line);
    const l = lines[range.start.line];
    lines[range.start.line] = l.slice(0, range.start.character) + newText + l.slice(range.end.character);
    return lines.join('\n');
  }

  test('quick fix: replace an unknown name by the suggestion, after which the diagnostic is gone', async () => {
    const uri = uriOf('quickfix.conf.py');
    const text = 'wrkers = 4\nacces_log = "-"\n';
    const ds = await server.open(uri, text);
    const [action, ...rest] = await server.codeActions(uri, [ds[0]]);
    assert.deepEqual(rest, []);
    assert.equal(action.title, 'Change to workers');
    assert.equal(action.kind, 'quickfix');
    assert.equal(action.isPreferred, true);
    const fixed = await applyFix(uri, text, action);
    assert.equal(fixed, 'workers = 4\nacces_log = "-"\n');
    const after = await server.change(uri, fixed);
    assert.deepEqual(after.map((d) => d.range.start.line), [1]);
    const [second] = await server.codeActions(uri, [after[0]]);
    assert.equal(second.title, 'Change to accesslog');
    assert.deepEqual(await server.change(uri, await applyFix(uri, fixed, second)), []);
    await server.close(uri);
  });

  test('quick fix: write a number given as a string as a number', async () => {
    const uri = uriOf('quickfix-number.conf.py');
    const text = 'workers = "4"\n';
    const ds = await server.open(uri, text);
    const [action] = await server.codeActions(uri, ds);
    assert.equal(action.title, 'Write 4');
    const fixed = await applyFix(uri, text, action);
    assert.equal(fixed, 'workers = 4\n');
    assert.deepEqual(await server.change(uri, fixed), []);
    await server.close(uri);
  });

  test('quick fix: a mistyped choice becomes the nearest one; the message lists the choices once', async () => {
    const uri = uriOf('quickfix-choice.conf.py');
    const text = 'worker_class = "gthred"\nloglevel = "loud"\n';
    const ds = await server.open(uri, text);
    assert.match(ds[0].message, /^worker_class: "gthred" is not one of [\w, ]+ — did you mean gthread\?$/);
    assert.equal((ds[0].message.match(/gthread/g) ?? []).length, 2, ds[0].message);
    const [action] = await server.codeActions(uri, [ds[0]]);
    assert.equal(action.title, 'Change to "gthread"');
    const fixed = await applyFix(uri, text, action);
    assert.equal(fixed, 'worker_class = "gthread"\nloglevel = "loud"\n');
    assert.deepEqual(await server.codeActions(uri, [ds[1]]), [], 'nothing near "loud": no fix');
    assert.deepEqual((await server.change(uri, fixed)).map((d) => d.range.start.line), [1]);
    await server.close(uri);
  });

  test('closing a document clears its diagnostics', async () => {
    const uri = uriOf('closing.conf.py');
    await server.open(uri, 'wrkers = 1\n');
    await server.close(uri);
    await server.cleared(uri);
  });
});
