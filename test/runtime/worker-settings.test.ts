// The settings a worker receives are exactly the registry's worker-side settings, typed: a real
// server is started with every one of them at a value other than its default (from a config file,
// so each goes through the registry's coercion), and a worker-side hook in that config file writes
// back what the worker process holds. Adding a worker-side setting fails this test until it has a
// non-default value here.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pythonLiteral } from '../../runtime/src/config';
import { SETTINGS, defaultValue, getSetting, readBy, workerSettingNames } from '../../runtime/src/core/settings';
import { execFileSync } from 'node:child_process';
import { ROOT, SYSTEM_PYTHON, runCli } from '../helpers';
import { makePki } from '../pki';


// The hook: writes what this worker holds as its settings (the `settings` of its configuration line,
// as it parsed them), atomically, then asks the arbiter for a graceful stop, so the run ends by itself.
const HOOK = `
import json as _json
import os as _os
import signal as _signal


def post_worker_init(worker):
    target = _os.environ["READBACK_FILE"]
    with open(target + ".tmp", "w") as f:
        _json.dump(worker._boot.settings, f)
    _os.rename(target + ".tmp", target)
    _os.kill(worker.ppid, _signal.SIGTERM)
`;

// Every registry name the worker's Python reads from a settings mapping (`settings.get("x")`,
// `s["x"]`, `self.settings.get(...)`), found with Python's own parser.
const READS = `
import ast, json, pathlib, sys
names = set(json.loads(sys.argv[2]))
found = {}
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.py")):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        target = key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
            target, key = node.func.value, node.args[0]
        elif isinstance(node, ast.Subscript):
            # (Python 3.9+: the slice is the Constant itself; 3.8 wraps it in an ast.Index.)
            target, key = node.value, node.slice if isinstance(node.slice, ast.Constant) else getattr(node.slice, "value", node.slice)
        if target is None or not isinstance(key, ast.Constant) or key.value not in names:
            continue
        text = ast.get_source_segment(path.read_text(), target) or ""
        if text == "s" or text.endswith("settings"):
            found.setdefault(key.value, "%s:%d" % (path.name, node.lineno))
print(json.dumps(found))
`;

describe('the settings a worker receives', () => {
  test('the worker-side settings are exactly those the worker\'s Python reads', () => {
    const all = SETTINGS.map((x) => x.name);
    const reads = JSON.parse(execFileSync(SYSTEM_PYTHON, ['-c', READS, path.join(ROOT, 'runtime/python'), JSON.stringify(all)], { encoding: 'utf8' })) as Record<string, string>;
    const notSent = Object.keys(reads).filter((n) => !workerSettingNames().includes(n)).map((n) => `${n} (read at ${reads[n]})`);
    assert.deepEqual(notSent, [], 'read by the worker but not sent to it: add \'worker\' to their side in the registry');
    const unread = workerSettingNames().filter((n) => !(n in reads));
    assert.deepEqual(unread, [], 'sent to the worker but never read there: drop \'worker\' from their side');
  });

  test('every worker-side setting, at a non-default value, reaches the worker typed, and nothing else does', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-worker-settings-'));
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.mkdirSync(path.join(dir, 'more'));
    fs.writeFileSync(path.join(dir, 'app.py'), 'def app(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
    const pki = makePki();
    const me = os.userInfo();
    const readback = path.join(dir, 'readback.json');

    // What the config file sets; `sent` is what the worker must then hold, where the two differ.
    const given: Record<string, unknown> = {
      backlog: 512,
      worker_class: 'gthread',
      threads: 3,
      worker_connections: 77,
      max_requests: 1000, // max_requests_jitter stays 0, so no jitter is drawn
      timeout: 45,
      graceful_timeout: 12,
      keepalive: 7,
      limit_request_line: 2048,
      limit_request_fields: 50,
      limit_request_field_size: 4096,
      permit_unconventional_http_method: true,
      casefold_http_method: true,
      header_map: 'refuse',
      permit_obsolete_folding: true,
      permit_unconventional_http_version: true,
      asgi_loop: 'asyncio',
      asgi_lifespan: 'off',
      asgi_disconnect_grace_period: 5,
      websocket_max_message_size: 65536,
      keyfile: pki.serverKey,
      certfile: pki.serverCert,
      ca_certs: pki.caCert,
      cert_reqs: 1,
      ssl_version: 'TLSv1_2',
      ciphers: 'ECDHE+AESGCM',
      do_handshake_on_connect: true,
      suppress_ragged_eofs: false,
      chdir: dir,
      pythonpath: 'lib,more',
      forwarded_allow_ips: ['10.0.0.1', '10.0.0.2'],
      secure_scheme_headers: { 'X-SCHEME': 'https' },
      proxy_protocol: true,
      proxy_allow_ips: ['127.0.0.1'],
      reuse_port: true,
      user: me.username,
      group: String(me.gid),
      initgroups: true,
      accesslog: path.join(dir, 'access.log'),
      access_log_format: '%(h)s %(s)s',
      access_log_json: true,
      errorlog: path.join(dir, 'error.log'),
      loglevel: 'debug',
      statsd_host: '127.0.0.1:9',
      statsd_prefix: 'readback',
      dogstatsd_tags: 'suite:core',
      proc_name: 'readback',
      reload: true,
      // Logging: the dict wins over the JSON and .ini files (which must exist); it leaves gunicorn.error on errorlog.
      logconfig_dict: { version: 1, disable_existing_loggers: false, loggers: { readback: { level: 'INFO' } }, root: { level: 'INFO', handlers: [] } },
      logconfig_json: path.join(dir, 'logging.json'),
      logconfig: path.join(dir, 'logging.ini'),
      syslog: true,
      syslog_addr: 'udp://127.0.0.1:9',
      syslog_prefix: 'readback',
      syslog_facility: 'local1',
      disable_redirect_access_to_syslog: true,
      forwarder_headers: ['SCRIPT_NAME'],
      root_path: '/readback',
    };
    fs.writeFileSync(path.join(dir, 'logging.json'), '{"version": 1}\n');
    fs.writeFileSync(path.join(dir, 'logging.ini'), '[loggers]\nkeys=root\n');
    const sent: Record<string, unknown> = { ...given, pythonpath: [path.join(dir, 'lib'), path.join(dir, 'more')] };

    assert.deepEqual(Object.keys(given).sort(), workerSettingNames().sort(),
      'give each worker-side setting (and only those) a non-default value here');
    for (const [name, value] of Object.entries(given)) {
      const setting = getSetting(name)!;
      assert.ok(readBy(setting, 'worker'), name);
      assert.notDeepEqual(value, defaultValue(setting, {}), `${name}: the test value must differ from the default`);
    }

    const conf = path.join(dir, 'readback.conf.py');
    fs.writeFileSync(conf, Object.entries(given).map(([k, v]) => `${k} = ${pythonLiteral(v)}`).join('\n') + '\n' + HOOK);
    const run = await runCli(['-c', conf, '-b', '127.0.0.1:0', 'app:app'], { env: { READBACK_FILE: readback } });
    const log = fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
    assert.equal(run.code, 0, `the server stops cleanly once the hook has written; log:\n${log}${run.stdout}${run.stderr}`);
    assert.match(log, /Handling signal: term/i);
    const held = JSON.parse(fs.readFileSync(readback, 'utf8')) as Record<string, unknown>;

    assert.deepEqual(Object.keys(held).sort(), workerSettingNames().sort(), 'the worker holds exactly the worker-side settings');
    for (const name of Object.keys(sent)) assert.deepEqual(held[name], sent[name], `${name} as the worker holds it`);
  });
});
