// Kernel probes: the real probe against /proc, findings() on injected limits, and `unicorn check`
// through the real CLI with UNICORN_KERNEL_LIMITS, in both output forms.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, SYSTEM_PYTHON } from '../helpers';
import {
  Finding, KernelLimits, LIMITS_ENV, ProbeSource, findings, kernelLimits, limitsFromEnv, probeKernel,
} from '../../runtime/src/core/kernel';
import { logFindings, machineLimits, probeMachine } from '../../runtime/src/kernel-probe';
import { Logger } from '../../runtime/src/log';
import { defaults } from '../../runtime/src/core/settings';

/** Limits no default setting comes near. */
const AMPLE = { platform: 'linux', nofileSoft: 65536, nofileHard: 65536, somaxconn: 4096, tcpMaxSynBacklog: 4096, portRange: [10000, 65535] };

/** The registry's defaults (not the developer's environment) with some settings changed. */
function settings(changes: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...defaults({}), ...changes };
}

function limits(changes: Partial<KernelLimits> = {}): KernelLimits {
  return { ...(AMPLE as KernelLimits), ...changes };
}

function only(found: Finding[], id: string): Finding {
  const hits = found.filter((f) => f.id === id);
  assert.equal(hits.length, 1, `one ${id} finding expected, got ${JSON.stringify(found, null, 2)}`);
  return hits[0];
}

/** Reads /proc the way a person would, independently of the module's own parser. */
function procTruth(): KernelLimits {
  const row = fs.readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\S+)\s+(\S+)/m)!;
  const lim = (s: string) => (s === 'unlimited' ? null : Number(s));
  const range = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  return {
    platform: 'linux',
    nofileSoft: lim(row[1]),
    nofileHard: lim(row[2]),
    somaxconn: Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8')),
    tcpMaxSynBacklog: Number(fs.readFileSync('/proc/sys/net/ipv4/tcp_max_syn_backlog', 'utf8')),
    portRange: [range[0], range[1]],
  };
}

/** What macOS itself says, through the same tools a person would use (sysctl, the shell's ulimit). */
function darwinTruth(): KernelLimits {
  const sysctl = (name: string) => Number(execFileSync('sysctl', ['-n', name], { encoding: 'utf8' }).trim());
  const [soft, hard] = execFileSync('/bin/sh', ['-c', 'ulimit -n; ulimit -Hn'], { encoding: 'utf8' }).trim().split(/\s+/);
  const lim = (s: string) => (s === 'unlimited' ? null : Number(s));
  return {
    platform: 'darwin',
    nofileSoft: lim(soft),
    nofileHard: lim(hard),
    somaxconn: sysctl('kern.ipc.somaxconn'),
    portRange: [sysctl('net.inet.ip.portrange.first'), sysctl('net.inet.ip.portrange.last')],
  };
}

/** The machine's own answer on the platforms the probe reads; elsewhere the probe must know nothing. */
function machineTruth(): KernelLimits {
  if (process.platform === 'linux') return procTruth();
  if (process.platform === 'darwin') return darwinTruth();
  return { platform: process.platform };
}

describe('probeKernel on this machine', () => {
  test('returns what the machine says (/proc on Linux, sysctl on macOS), and the numbers are sane', () => {
    const probed = probeMachine();
    const truth = machineTruth();
    assert.equal(probed.platform, process.platform);
    assert.deepEqual({ ...probed, platform: undefined }, { ...truth, platform: undefined });
    if (probed.somaxconn !== undefined) assert.ok(probed.somaxconn > 0);
    if (probed.tcpMaxSynBacklog !== undefined) assert.ok(probed.tcpMaxSynBacklog > 0);
    if (probed.nofileSoft !== undefined) {
      assert.ok(probed.nofileHard === null || (probed.nofileSoft !== null && probed.nofileSoft <= probed.nofileHard!));
    }
    if (probed.portRange !== undefined) assert.ok(probed.portRange[0] < probed.portRange[1]);
  });

  test('without UNICORN_KERNEL_LIMITS, kernelLimits is the probe', () => {
    assert.deepEqual(machineLimits({}), probeMachine());
  });
});

describe('probeKernel parsing', () => {
  const fake = (files: Record<string, string>, commands: Record<string, string>): ProbeSource => ({
    readFile: (p) => files[p],
    run: (file, args) => commands[[file, ...args].join(' ')],
  });

  test('Linux: unlimited nofile is null; unreadable files leave the field out', () => {
    const src = fake({ '/proc/self/limits': 'Limit  Soft Limit  Hard Limit  Units\nMax open files            unlimited            unlimited            files\n' }, {});
    assert.deepEqual(probeKernel('linux', src), { platform: 'linux', nofileSoft: null, nofileHard: null });
  });

  test('macOS: ulimit through /bin/sh and sysctl; no SYN backlog', () => {
    const src = fake({}, {
      '/bin/sh -c ulimit -n; ulimit -Hn': '256\nunlimited\n',
      '/usr/sbin/sysctl -n kern.ipc.somaxconn': '128\n',
      '/usr/sbin/sysctl -n net.inet.ip.portrange.first': '49152\n',
      '/usr/sbin/sysctl -n net.inet.ip.portrange.last': '65535\n',
    });
    assert.deepEqual(probeKernel('darwin', src), { platform: 'darwin', nofileSoft: 256, nofileHard: null, somaxconn: 128, portRange: [49152, 65535] });
  });

  test('macOS: launchctl limit maxfiles when the shell cannot say', () => {
    const src = fake({}, { '/bin/launchctl limit maxfiles': '\tmaxfiles    256            unlimited      \n' });
    assert.deepEqual(probeKernel('darwin', src), { platform: 'darwin', nofileSoft: 256, nofileHard: null });
  });

  test('garbage and a throwing source: nothing known, no exception', () => {
    const garbage = fake({ '/proc/sys/net/core/somaxconn': 'lots', '/proc/sys/net/ipv4/ip_local_port_range': '5 4' }, {});
    assert.deepEqual(probeKernel('linux', garbage), { platform: 'linux' });
    const throwing: ProbeSource = { readFile: () => { throw new Error('boom'); }, run: () => { throw new Error('boom'); } };
    assert.deepEqual(probeKernel('linux', throwing), { platform: 'linux' });
    assert.deepEqual(probeKernel('sunos', throwing), { platform: 'sunos' });
  });
});

describe('findings()', () => {
  test('ample limits: none, on Linux and macOS', () => {
    assert.deepEqual(findings(limits(), settings()), []);
    assert.deepEqual(findings(limits({ platform: 'darwin', tcpMaxSynBacklog: undefined }), settings({ workers: 64 })), []);
  });

  test('missing values: no finding and no crash, even with no settings at all', () => {
    assert.deepEqual(findings({ platform: 'linux' }, settings({ backlog: 100000, workers: 5000 })), []);
    assert.deepEqual(findings({ platform: 'linux' }, {}), []);
    assert.deepEqual(findings(limits(), {}), []); // missing settings read as the registry's defaults
    // An editor's partial, raw view: text numbers and a single bind string are understood, junk ignored.
    assert.deepEqual(findings(limits({ somaxconn: 128 }), { backlog: '100' }), []);
    assert.equal(findings(limits({ somaxconn: 128 }), { backlog: '4096' })[0].id, 'somaxconn');
    assert.equal(findings(limits({ portRange: [32768, 60999] }), { bind: '0.0.0.0:40000' })[0].id, 'port-reserved');
    assert.deepEqual(findings(limits({ nofileSoft: 64, nofileHard: 64 }), { workers: 'many', bind: 42, worker_class: 7 }).map((f) => f.id), ['nofile']);
  });

  test('backlog above somaxconn: warning with the Linux fix', () => {
    const f = only(findings(limits({ somaxconn: 128 }), settings()), 'somaxconn');
    assert.equal(f.severity, 'warning');
    assert.equal(f.setting, 'backlog');
    assert.match(f.message, /backlog 2048 is above net\.core\.somaxconn 128/);
    assert.match(f.message, /silently caps/);
    assert.match(f.fix, /^sudo sysctl -w net\.core\.somaxconn=2048; /);
    assert.match(f.fix, /echo 'net\.core\.somaxconn = 2048' \| sudo tee -a \/etc\/sysctl\.d\/60-unicorn\.conf/);
    assert.match(f.fix, /lower --backlog to 128/);
    assert.deepEqual(findings(limits({ somaxconn: 2048 }), settings()), [], 'equal is fine');
  });

  test('macOS fix commands', () => {
    const mac = limits({ platform: 'darwin', somaxconn: 128, tcpMaxSynBacklog: undefined, portRange: [60000, 65535] });
    const found = findings(mac, settings());
    assert.match(only(found, 'somaxconn').fix, /^sudo sysctl -w kern\.ipc\.somaxconn=2048; .*\/etc\/sysctl\.conf/);
    assert.match(only(found, 'somaxconn').message, /kern\.ipc\.somaxconn 128/);
    assert.match(only(found, 'port-range').fix, /^sudo sysctl -w net\.inet\.ip\.portrange\.first=10000 net\.inet\.ip\.portrange\.last=65535/);
    assert.match(only(found, 'port-range').message, /30 s in TIME_WAIT/);
    const nofile = only(findings({ platform: 'darwin', nofileSoft: 64, nofileHard: 64 }, settings()), 'nofile');
    assert.match(nofile.fix, /^sudo launchctl limit maxfiles 1024 1024 .* ulimit -n 1024/);
  });

  test('backlog above tcp_max_syn_backlog: warning', () => {
    const f = only(findings(limits({ tcpMaxSynBacklog: 512 }), settings()), 'syn-backlog');
    assert.equal(f.severity, 'warning');
    assert.match(f.message, /backlog 2048 is above net\.ipv4\.tcp_max_syn_backlog 512/);
    assert.match(f.fix, /^sudo sysctl -w net\.ipv4\.tcp_max_syn_backlog=2048; /);
  });

  test('open files, sync worker: warning above 80% of the soft limit, error above it', () => {
    // A sync worker with one listener: 1 connection + 1 listener + 8 own + 64 for the app = 74.
    const warn = only(findings(limits({ nofileSoft: 90, nofileHard: 90 }), settings()), 'nofile');
    assert.equal(warn.severity, 'warning');
    assert.equal(warn.setting, undefined);
    assert.match(warn.message, /about 74 descriptors .*over 80% of the soft limit 90/);
    assert.match(warn.fix, /LimitNOFILE=1024/);
    assert.match(warn.fix, /docker run --ulimit nofile=1024:1024/);
    const err = only(findings(limits({ nofileSoft: 64, nofileHard: 64 }), settings()), 'nofile');
    assert.equal(err.severity, 'error');
    assert.match(err.message, /above the soft limit 64 \(hard 64\).*EMFILE/);
    assert.deepEqual(findings(limits({ nofileSoft: 93, nofileHard: 93 }), settings()), [], '74 is within 80% of 93');
  });

  test('open files: info when raising the soft limit is enough', () => {
    const f = only(findings(limits({ nofileSoft: 64, nofileHard: 4096 }), settings()), 'nofile');
    assert.equal(f.severity, 'info');
    assert.match(f.fix, /^ulimit -n 4096 /);
    const unlimitedHard = only(findings(limits({ nofileSoft: 64, nofileHard: null }), settings()), 'nofile');
    assert.equal(unlimitedHard.severity, 'info');
    assert.match(unlimitedHard.message, /hard limit unlimited/);
  });

  test('open files: unlimited soft limit gives nothing', () => {
    assert.deepEqual(findings(limits({ nofileSoft: null, nofileHard: null }), settings({ workers: 100000 })), []);
  });

  test('open files, gthread: worker_connections outgrows the limit', () => {
    const f = only(findings(limits({ nofileSoft: 1024, nofileHard: 1024 }), settings({ worker_class: 'gthread', worker_connections: 1000, threads: 4 })), 'nofile');
    assert.equal(f.severity, 'error');
    assert.equal(f.setting, 'worker_connections');
    assert.match(f.message, /about 1073 descriptors \(1000 connections \(worker_connections\)/);
    assert.match(f.fix, /LimitNOFILE=2048/);
  });

  test('open files: the arbiter holds a pipe per worker', () => {
    const found = findings(limits({ nofileSoft: 1024, nofileHard: 1024 }), settings({ workers: 1000 }));
    const f = only(found, 'nofile-arbiter');
    assert.equal(f.severity, 'error');
    assert.equal(f.setting, 'workers');
    assert.match(f.message, /the arbiter may hold about 1025 descriptors \(1000 workers/);
    assert.equal(found.length, 1, 'a sync worker still fits');
  });

  test('a narrow ephemeral port range: warning with the numbers', () => {
    const f = only(findings(limits({ portRange: [40000, 44999] }), settings()), 'port-range');
    assert.equal(f.severity, 'warning');
    assert.match(f.message, /net\.ipv4\.ip_local_port_range 40000-44999 leaves 5000 ports .*60 s in TIME_WAIT/);
    assert.match(f.fix, /^sudo sysctl -w net\.ipv4\.ip_local_port_range="10000 65535"; .*echo 'net\.ipv4\.ip_local_port_range = 10000 65535'/);
    assert.deepEqual(findings(limits({ portRange: [32768, 60999] }), settings()), [], "Linux's default range is wide enough");
  });

  test('a listener port inside the ephemeral range: info with ip_local_reserved_ports', () => {
    const s = settings({ bind: ['127.0.0.1:40000', '[::1]:40000', '0.0.0.0:0', 'unix:/tmp/x.sock', '127.0.0.1:8000'] });
    const f = only(findings(limits({ portRange: [32768, 60999] }), s), 'port-reserved');
    assert.equal(f.severity, 'info');
    assert.equal(f.setting, 'bind');
    assert.match(f.message, /port 40000 lies in the ephemeral range 32768-60999/);
    assert.match(f.fix, /^sudo sysctl -w net\.ipv4\.ip_local_reserved_ports=40000; .*or bind a port below 32768$/);
  });

  test('other platforms: a fix that names the Linux setting to look for', () => {
    const f = only(findings({ platform: 'freebsd', somaxconn: 128 }, settings()), 'somaxconn');
    assert.match(f.fix, /equivalent of Linux's net\.core\.somaxconn to 2048/);
    assert.equal(f.command, undefined);
  });
});

describe('Finding.command: the one runnable command, per finding and platform', () => {
  const mac = (changes: Partial<KernelLimits>): KernelLimits => limits({ platform: 'darwin', tcpMaxSynBacklog: undefined, ...changes });
  const other = (changes: Partial<KernelLimits>): KernelLimits => ({ platform: 'freebsd', ...changes });
  const twoBinds = settings({ bind: ['127.0.0.1:40000', '127.0.0.1:41000'] });
  // [what, limits, settings, finding id, the exact command or undefined for none]
  const cases: Array<[string, KernelLimits, Record<string, unknown>, string, string | undefined]> = [
    ['linux somaxconn', limits({ somaxconn: 128 }), settings(), 'somaxconn', 'sudo sysctl -w net.core.somaxconn=2048'],
    ['linux syn-backlog', limits({ tcpMaxSynBacklog: 512 }), settings(), 'syn-backlog', 'sudo sysctl -w net.ipv4.tcp_max_syn_backlog=2048'],
    ['linux port-range', limits({ portRange: [40000, 44999] }), settings(), 'port-range', 'sudo sysctl -w net.ipv4.ip_local_port_range="10000 65535"'],
    ['linux port-reserved', limits({ portRange: [32768, 60999] }), twoBinds, 'port-reserved', 'sudo sysctl -w net.ipv4.ip_local_reserved_ports=40000,41000'],
    ['linux nofile, soft only', limits({ nofileSoft: 64, nofileHard: 4096 }), settings(), 'nofile', 'ulimit -n 4096'],
    ['linux nofile, unlimited hard', limits({ nofileSoft: 64, nofileHard: null }), settings(), 'nofile', 'ulimit -n 1024'],
    ['linux nofile, hard too', limits({ nofileSoft: 64, nofileHard: 64 }), settings(), 'nofile', undefined],
    ['linux nofile-arbiter, hard too', limits({ nofileSoft: 1024, nofileHard: 1024 }), settings({ workers: 1000 }), 'nofile-arbiter', undefined],
    ['darwin somaxconn', mac({ somaxconn: 128 }), settings(), 'somaxconn', 'sudo sysctl -w kern.ipc.somaxconn=2048'],
    ['darwin port-range', mac({ portRange: [60000, 65535] }), settings(), 'port-range',
      'sudo sysctl -w net.inet.ip.portrange.first=10000 net.inet.ip.portrange.last=65535'],
    ['darwin nofile, soft only', mac({ nofileSoft: 64, nofileHard: 4096 }), settings(), 'nofile', 'ulimit -n 4096'],
    ['darwin nofile, hard too', mac({ nofileSoft: 64, nofileHard: 64 }), settings(), 'nofile', 'sudo launchctl limit maxfiles 1024 1024'],
    ['darwin nofile-arbiter, hard too', mac({ nofileSoft: 1024, nofileHard: 1024 }), settings({ workers: 1000 }), 'nofile-arbiter',
      'sudo launchctl limit maxfiles 2048 2048'],
    ['darwin port-reserved (a config change)', mac({ portRange: [32768, 60999] }), twoBinds, 'port-reserved', undefined],
    ['darwin syn-backlog given by override (no such sysctl)', mac({ tcpMaxSynBacklog: 512 }), settings(), 'syn-backlog', undefined],
    ['other somaxconn', other({ somaxconn: 128 }), settings(), 'somaxconn', undefined],
    ['other nofile, soft only', other({ nofileSoft: 64, nofileHard: 4096 }), settings(), 'nofile', 'ulimit -n 4096'],
    ['other nofile, hard too', other({ nofileSoft: 64, nofileHard: 64 }), settings(), 'nofile', undefined],
  ];
  for (const [what, lim, set, id, command] of cases) {
    test(`${what}: ${command ?? 'none'}`, () => {
      const f = only(findings(lim, set), id);
      assert.equal(f.command, command);
      if (command === undefined) {
        assert.ok(!('command' in f), 'no command key when there is none (and none in the JSON)');
        return;
      }
      // One command, no prose or alternatives; the fix explains it and starts with it.
      assert.doesNotMatch(command, /;|\(|&&|\|\|/);
      assert.ok(f.fix.startsWith(command), `fix ${JSON.stringify(f.fix)} starts with the command`);
      assert.notEqual(f.fix, command, 'the fix keeps the explanation');
      execFileSync('/bin/sh', ['-n', '-c', command]); // parses as one shell command line
    });
  }
});

describe('UNICORN_KERNEL_LIMITS', () => {
  test('overrides probed fields and leaves the others', () => {
    const got = kernelLimits({ [LIMITS_ENV]: '{"somaxconn":128,"nofileSoft":256,"nofileHard":null}' }, () => limits());
    assert.deepEqual(got, { ...limits(), somaxconn: 128, nofileSoft: 256, nofileHard: null });
    assert.deepEqual(limitsFromEnv({ [LIMITS_ENV]: '  ' }), {}, 'empty is unset');
  });

  test('another platform: the probed values of this one are dropped', () => {
    assert.deepEqual(kernelLimits({ [LIMITS_ENV]: '{"platform":"darwin","somaxconn":128}' }, () => limits()), { platform: 'darwin', somaxconn: 128 });
  });

  for (const [text, expected] of [
    ['{somaxconn: 128}', /not valid JSON/],
    ['[1, 2]', /\[1,2\] is not a JSON object/],
    ['{"somaxconn":"128"}', /somaxconn: "128" is not a whole number above 0/],
    ['{"somaxconn":0}', /somaxconn: 0 is not a whole number above 0/],
    ['{"nofileSoft":"unlimited"}', /nofileSoft: "unlimited" is not a whole number above 0, or null for unlimited/],
    ['{"portRange":[5000,4000]}', /portRange: \[5000,4000\] is not \[first, last\]/],
    ['{"somaxcon":128}', /unknown key "somaxcon" \(did you mean somaxconn\?\)/],
    ['{"nofileSoft":2048,"nofileHard":1024}', /nofileSoft 2048 is above nofileHard 1024/],
  ] as Array<[string, RegExp]>) {
    test(`refused: ${text}`, () => {
      assert.throws(() => limitsFromEnv({ [LIMITS_ENV]: text }), (e: Error & { exitCode?: number }) => {
        assert.match(e.message, /^UNICORN_KERNEL_LIMITS: /);
        assert.match(e.message, expected);
        assert.match(e.message, / — give a JSON object such as UNICORN_KERNEL_LIMITS='\{"somaxconn":128,"nofileSoft":256\}', or unset UNICORN_KERNEL_LIMITS/);
        assert.equal(e.exitCode, 2);
        return true;
      });
    });
  }
});

test('logFindings: one short line per finding at its severity (the fix is unicorn check\'s)', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-kernel-')), 'error.log');
  const log = new Logger(file, 'info');
  logFindings(log, findings(limits({ somaxconn: 128, nofileSoft: 64, nofileHard: 64, portRange: [40000, 40999] }), settings()));
  log.close();
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /\[WARNING\] backlog 2048 is above net\.core\.somaxconn 128 — "unicorn check" shows the fix \[somaxconn\]$/);
  assert.match(lines[1], /\[ERROR\] open files: each worker may hold about \d+ descriptors, above the soft limit 64 — "unicorn check" shows the fix \[nofile\]$/);
  // Short: the fix and its commands are unicorn check's (and the editor's Problems and hover).
  for (const line of lines) assert.ok(line.length < 220, line); // was over 500
  assert.doesNotMatch(lines.join('\n'), /sysctl|LimitNOFILE/);
  assert.match(lines[2], /\[WARNING\] ephemeral ports: net\.ipv4\.ip_local_port_range 40000-40999 leaves 1000 ports for outgoing connections to one database or upstream — "unicorn check" shows the fix \[port-range\]$/);
});

// --- Through the real CLI -------------------------------------------------------------------

interface CheckJson {
  limits: KernelLimits;
  overridden: string[];
  openFiles: { worker: number; arbiter: number };
  findings: Finding[];
  ok: boolean;
  app: string | null;
}

const env = (limitsJson: object | string) => ({ [LIMITS_ENV]: typeof limitsJson === 'string' ? limitsJson : JSON.stringify(limitsJson) });
/** A directory without a config file, so that the repository's own files play no part. */
const EMPTY_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-check-'));

async function checkJson(args: string[], limitsJson: object, expectedCode: number, cwd = EMPTY_DIR): Promise<CheckJson> {
  const r = await runCli(['check', '--json', ...args], { env: env(limitsJson), cwd });
  assert.equal(r.code, expectedCode, `exit code of unicorn check ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  assert.equal(r.stderr, '');
  return JSON.parse(r.stdout) as CheckJson;
}

describe('unicorn check', () => {
  test('ample limits: no findings, exit 0, in both forms', async () => {
    const json = await checkJson([], AMPLE, 0);
    assert.deepEqual(json.findings, []);
    assert.equal(json.ok, true);
    assert.equal(json.app, null, 'the app may be absent');
    assert.deepEqual(json.limits, AMPLE);
    assert.deepEqual(json.overridden.sort(), Object.keys(AMPLE).sort());
    const r = await runCli(['check'], { env: env(AMPLE), cwd: EMPTY_DIR });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Kernel limits \(linux\):\n/);
    assert.match(r.stdout, /open files \(RLIMIT_NOFILE\)\s+soft 65536, hard 65536\n/);
    assert.match(r.stdout, /listen queue \(net\.core\.somaxconn\)\s+4096\n/);
    assert.match(r.stdout, /ephemeral ports \(net\.ipv4\.ip_local_port_range\)\s+10000-65535 \(55536 ports\)\n/);
    assert.match(r.stdout, /open files needed, estimated: 74 per worker, 26 for the arbiter/);
    assert.match(r.stdout, /No findings: the kernel limits fit these settings\.\n$/);
  });

  test('every finding, with its fix, and exit 1 for the error', async () => {
    const tight = { ...AMPLE, somaxconn: 128, tcpMaxSynBacklog: 256, nofileSoft: 1024, nofileHard: 1024, portRange: [40000, 44999] };
    const json = await checkJson(['-w', '1000', '-b', '127.0.0.1:41000', 'test:app'], tight, 1);
    assert.equal(json.app, 'test:app');
    assert.equal(json.ok, false);
    assert.deepEqual(json.findings.map((f) => [f.id, f.severity, f.setting]), [
      ['somaxconn', 'warning', 'backlog'],
      ['syn-backlog', 'warning', 'backlog'],
      ['nofile-arbiter', 'error', 'workers'],
      ['port-range', 'warning', undefined],
      ['port-reserved', 'info', 'bind'],
    ]);
    const fixes = Object.fromEntries(json.findings.map((f) => [f.id, f.fix]));
    assert.match(fixes.somaxconn, /^sudo sysctl -w net\.core\.somaxconn=2048; /);
    assert.match(fixes['syn-backlog'], /^sudo sysctl -w net\.ipv4\.tcp_max_syn_backlog=2048; /);
    assert.match(fixes['nofile-arbiter'], /LimitNOFILE=2048/);
    assert.match(fixes['port-range'], /^sudo sysctl -w net\.ipv4\.ip_local_port_range="10000 65535"/);
    assert.match(fixes['port-reserved'], /^sudo sysctl -w net\.ipv4\.ip_local_reserved_ports=41000; /);
    assert.deepEqual(Object.fromEntries(json.findings.map((f) => [f.id, f.command])), {
      somaxconn: 'sudo sysctl -w net.core.somaxconn=2048',
      'syn-backlog': 'sudo sysctl -w net.ipv4.tcp_max_syn_backlog=2048',
      'nofile-arbiter': undefined,
      'port-range': 'sudo sysctl -w net.ipv4.ip_local_port_range="10000 65535"',
      'port-reserved': 'sudo sysctl -w net.ipv4.ip_local_reserved_ports=41000',
    });
    assert.ok(!('command' in json.findings[2]), 'no command in the JSON when there is none');

    const r = await runCli(['check', '-w', '1000', '-b', '127.0.0.1:41000', 'test:app'], { env: env(tight), cwd: EMPTY_DIR });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^WARNING \[somaxconn, setting backlog\] backlog 2048 is above net\.core\.somaxconn 128: .*\n  fix: sudo sysctl -w net\.core\.somaxconn=2048; .*\n  run: sudo sysctl -w net\.core\.somaxconn=2048\n\n/m);
    assert.match(r.stdout, /\n  run: sudo sysctl -w net\.ipv4\.tcp_max_syn_backlog=2048\n\n/);
    assert.match(r.stdout, /^ERROR \[nofile-arbiter, setting workers\] open files: the arbiter may hold about 1025 descriptors .*\n  fix: under systemd, LimitNOFILE=2048[^\n]*\n\n/m);
    assert.match(r.stdout, /\n  run: sudo sysctl -w net\.ipv4\.ip_local_port_range="10000 65535"\n\n/);
    assert.match(r.stdout, /\n  run: sudo sysctl -w net\.ipv4\.ip_local_reserved_ports=41000\n\n/);
    assert.equal(r.stdout.match(/^  run: /gm)?.length, 4, 'one run line per finding with a command');
    assert.match(r.stdout, /^INFO \[port-reserved, setting bind\] /m);
    assert.match(r.stdout, /\n1 error, 3 warnings, 1 info\.\n$/);
  });

  test('warnings only: exit 0', async () => {
    const json = await checkJson(['--backlog', '8192'], AMPLE, 0);
    assert.deepEqual(json.findings.map((f) => [f.id, f.severity]), [['somaxconn', 'warning'], ['syn-backlog', 'warning']]);
    assert.match(json.findings[0].message, /^backlog 8192 is above net\.core\.somaxconn 4096: /);
    assert.equal(json.ok, true);
  });

  test('the worker nofile error and the info when the hard limit is enough', async () => {
    const err = await checkJson([], { ...AMPLE, nofileSoft: 64, nofileHard: 64 }, 1);
    assert.deepEqual(err.findings.map((f) => [f.id, f.severity]), [['nofile', 'error']]);
    assert.match(err.findings[0].message, /each worker may hold about 74 descriptors/);
    const info = await checkJson([], { ...AMPLE, nofileSoft: 64, nofileHard: 8192 }, 0);
    assert.deepEqual(info.findings.map((f) => [f.id, f.severity]), [['nofile', 'info']]);
    assert.match(info.findings[0].fix, /^ulimit -n 8192 /);
    assert.equal(info.findings[0].command, 'ulimit -n 8192');
    assert.equal(err.findings[0].command, undefined, 'Linux: no single command raises the hard limit');
  });

  test('macOS values give macOS fixes', async () => {
    const json = await checkJson([], { platform: 'darwin', somaxconn: 128, nofileSoft: 256, nofileHard: 10240, portRange: [49152, 65535] }, 0);
    assert.deepEqual(json.limits, { platform: 'darwin', somaxconn: 128, nofileSoft: 256, nofileHard: 10240, portRange: [49152, 65535] });
    assert.deepEqual(json.findings.map((f) => f.id), ['somaxconn']);
    assert.match(json.findings[0].fix, /^sudo sysctl -w kern\.ipc\.somaxconn=2048; .*\/etc\/sysctl\.conf/);
    assert.equal(json.findings[0].command, 'sudo sysctl -w kern.ipc.somaxconn=2048');
    const r = await runCli(['check'], { env: env({ platform: 'darwin', somaxconn: 128 }), cwd: EMPTY_DIR });
    assert.match(r.stdout, /\n  run: sudo sysctl -w kern\.ipc\.somaxconn=2048\n/);
    assert.match(r.stdout, /SYN queue \(net\.ipv4\.tcp_max_syn_backlog\)\s+none on macOS/);
    assert.match(r.stdout, /open files \(RLIMIT_NOFILE\)\s+unknown/);
  });

  test('settings are resolved as a run resolves them: config file, UNICORN_CMD_ARGS, command line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-check-conf-'));
    fs.writeFileSync(path.join(dir, 'unicorn.conf.py'), 'backlog = 3000\nworkers = 2\n');
    const base = { ...AMPLE, somaxconn: 1000 };
    const fromFile = await runCli(['check', '--json', '--python', SYSTEM_PYTHON], { env: env(base), cwd: dir });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match((JSON.parse(fromFile.stdout) as CheckJson).findings[0].message, /^backlog 3000 is above net\.core\.somaxconn 1000/);
    const fromEnv = await runCli(['check', '--json', '--python', SYSTEM_PYTHON], { env: { ...env(base), UNICORN_CMD_ARGS: '--backlog 3500' }, cwd: dir });
    assert.match((JSON.parse(fromEnv.stdout) as CheckJson).findings[0].message, /^backlog 3500 /);
    const fromCli = await runCli(['check', '--json', '--python', SYSTEM_PYTHON, '--backlog', '999'], { env: { ...env(base), UNICORN_CMD_ARGS: '--backlog 3500' }, cwd: dir });
    assert.deepEqual((JSON.parse(fromCli.stdout) as CheckJson).findings, []);
  });

  test('the real machine, without overrides: the probed values', async () => {
    const r = await runCli(['check', '--json'], { env: { [LIMITS_ENV]: undefined }, cwd: EMPTY_DIR });
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    const json = JSON.parse(r.stdout) as CheckJson;
    const truth = machineTruth();
    assert.deepEqual(json.overridden, []);
    assert.equal(json.limits.somaxconn, truth.somaxconn);
    assert.equal(json.limits.tcpMaxSynBacklog, truth.tcpMaxSynBacklog);
    assert.deepEqual(json.limits.portRange, truth.portRange);
    // Node raises its own soft limit to the hard one at start, so the CLI's equals this (Node) process's.
    assert.equal(json.limits.nofileHard, truth.nofileHard);
    assert.equal(json.limits.nofileSoft, truth.nofileSoft);
  });

  test('check:app is an app, not the subcommand', async () => {
    const r = await runCli(['check:app', '--print-config'], { cwd: EMPTY_DIR });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wsgi_app\s+= "check:app"$/m);
  });

  test('unicorn-django check --json resolves a stock startproject site as a run would', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-check-django-'));
    try {
      execFileSync(SYSTEM_PYTHON, ['-m', 'django', 'startproject', 'mysite', dir]);
      const r = await runCli(['check', '--json', '--python', SYSTEM_PYTHON, '--backlog', '4096'], { bin: 'unicorn-django', env: env({ ...AMPLE, somaxconn: 128 }), cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      const json = JSON.parse(r.stdout) as { app: string; findings: Array<{ id: string }> };
      assert.equal(json.app, 'django.core.wsgi:get_wsgi_application()');
      assert.deepEqual(json.findings.map((f) => f.id), ['somaxconn']);
      const help = await runCli(['check', '--help'], { bin: 'unicorn-django' });
      assert.match(help.stdout, /^usage: unicorn-django check \[--json\] \[OPTIONS\]\n/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--help explains the subcommand and lists the run options', async () => {
    const r = await runCli(['check', '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: unicorn check \[--json\] \[OPTIONS\] \[APP_MODULE\]\n/);
    assert.match(r.stdout, /UNICORN_KERNEL_LIMITS/);
    assert.match(r.stdout, /unicorn check:app/);
    assert.match(r.stdout, /--backlog INT/);
  });

  for (const [what, text, expected] of [
    ['not JSON', 'somaxconn=128', /not valid JSON/],
    ['a wrong type', '{"somaxconn":"lots"}', /somaxconn: "lots" is not a whole number above 0/],
    ['an unknown key', '{"maxconn":1}', /unknown key "maxconn"/],
  ] as Array<[string, string, RegExp]>) {
    test(`bad UNICORN_KERNEL_LIMITS (${what}): one line naming it and the fix, exit 2`, async () => {
      const r = await runCli(['check', '--json'], { env: env(text), cwd: EMPTY_DIR });
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^unicorn: error: UNICORN_KERNEL_LIMITS: /);
      assert.match(lines[0], expected);
      assert.match(lines[0], /— give a JSON object such as UNICORN_KERNEL_LIMITS='\{"somaxconn":128,"nofileSoft":256\}', or unset UNICORN_KERNEL_LIMITS to use the probed values$/);
    });
  }

  test('bad settings are refused as a run refuses them, exit 2', async () => {
    for (const [args, expected] of [
      [['-w', 'many'], /workers: "many" is not a whole number/],
      [['-b', 'a/b'], /bind "a\/b": not an address/],
      [['--frobnicate'], /unknown option '--frobnicate'/],
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(['check', ...args], { env: env(AMPLE), cwd: EMPTY_DIR });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr.trim(), expected);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});
