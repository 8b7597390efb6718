// Kernel probes: the one place that reads the limits gunicorn's README "Kernel Parameters" names
// (open files, listen queue, SYN queue, ephemeral ports) and turns them into findings with their fix.
//
// Pure: `probeKernel` reads the machine only through the `ProbeSource` it is given (runtime/src/
// kernel-probe.ts and the language server pass one made of node:fs and node:child_process; tests pass
// their own), and everything else is a function of a `KernelLimits` and the settings. The arbiter logs
// the findings at boot, `unicorn check` prints them, and the language server shows them as diagnostics.
//
// UNICORN_KERNEL_LIMITS overrides probed values with a JSON object, for tests and for machines the
// probe cannot read (another host, a container): e.g. {"somaxconn":128,"nofileSoft":256}. Keys are
// those of KernelLimits: platform ("linux", "darwin"), nofileSoft and nofileHard (whole numbers, null
// for unlimited), somaxconn, tcpMaxSynBacklog, portRange ([first, last]).
import type { execFileSync } from 'node:child_process';
import type { readFileSync } from 'node:fs';
import { CliError } from './errors';
import { parseAddress } from './address';
import { Settings, defaultValue, effectiveWorkerClass, getSetting, suggest } from './settings';

export interface KernelLimits {
  platform: 'linux' | 'darwin' | (string & {});
  /** RLIMIT_NOFILE of this process: soft (what open() is held to) and hard (how far soft may rise); null is unlimited. */
  nofileSoft?: number | null;
  nofileHard?: number | null;
  /** Most connections the kernel queues for accept() on one listener (net.core.somaxconn, kern.ipc.somaxconn). */
  somaxconn?: number;
  /** Most half-open (SYN received) connections queued (net.ipv4.tcp_max_syn_backlog); Linux only. */
  tcpMaxSynBacklog?: number;
  /** First and last port the kernel picks for outgoing connections. */
  portRange?: [number, number];
}

export type Severity = 'error' | 'warning' | 'info';
export type FindingId = 'somaxconn' | 'syn-backlog' | 'nofile' | 'nofile-arbiter' | 'port-range' | 'port-reserved';

export interface Finding {
  id: FindingId;
  severity: Severity;
  /** The setting that outgrows the limit, when one does. */
  setting?: string;
  /** What is wrong and what it leads to, with the numbers. */
  message: string;
  /** How to fix it on this platform, for a person: the commands, how to keep the change, the alternatives. */
  fix: string;
  /**
   * The one shell command that applies the immediate fix on this platform, runnable as it stands (no
   * prose, no `;`-joined alternatives); absent when no single command is honest (e.g. Linux's hard
   * open-files limit, which takes a unit or limits.conf edit and a new login).
   */
  command?: string;
}

export const LIMITS_ENV = 'UNICORN_KERNEL_LIMITS';

// --- Thresholds ------------------------------------------------------------------------------

/** Warn at this share of the nofile soft limit: the need is an estimate and apps open more than we count. */
const NOFILE_WARN_SHARE = 0.8;
/** A worker's own descriptors: stdio, control pipe, wake-up pipe pair, epoll, slack (7 measured with test:app). */
const WORKER_OWN_FDS = 8;
/** The app's own files and sockets per worker (database pool, log files, upstream clients): a guess, kept generous. */
const APP_FDS = 64;
/** The arbiter's own descriptors: Node's stdio, epoll, eventfds, signal pipes, the error log (20 measured). */
const ARBITER_OWN_FDS = 24;
/** The arbiter holds one control pipe per worker. */
const ARBITER_FDS_PER_WORKER = 1;
/** Fewer ephemeral ports than this run out at ~170 new connections a second to one upstream (10000 / 60 s TIME_WAIT). */
const MIN_EPHEMERAL_PORTS = 10000;
/** The range suggested when it is too narrow: starts above the common service ports (5432, 6379, 8000, 8080). */
const SUGGESTED_PORT_RANGE: [number, number] = [10000, 65535];

// --- Reading the machine ---------------------------------------------------------------------

/** How the probe reads the machine; tests pass their own to exercise the other platform's parsing. */
export interface ProbeSource {
  readFile(path: string): string | undefined;
  run(file: string, args: string[]): string | undefined;
}

/** The real machine, through the functions the caller hands in (this module imports neither fs nor child_process). */
export function systemSource(io: { readFileSync: typeof readFileSync; execFileSync: typeof execFileSync }): ProbeSource {
  return {
    readFile(path) {
      try {
        return io.readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    run(file, args) {
      try {
        return io.execFileSync(file, args, { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        return undefined;
      }
    },
  };
}

/** A positive whole number, or undefined for anything else. */
function count(text: string | undefined): number | undefined {
  const t = text?.trim();
  return t && /^\d+$/.test(t) && Number(t) > 0 ? Number(t) : undefined;
}

/** A resource limit: a number, null for "unlimited", undefined when unreadable. */
function rlimit(text: string | undefined): number | null | undefined {
  return text?.trim() === 'unlimited' ? null : count(text);
}

/** The "Max open files" row of /proc/self/limits. */
export function parseProcLimits(text: string | undefined): { soft?: number | null; hard?: number | null } {
  const row = text?.split('\n').find((l) => l.startsWith('Max open files'));
  if (!row) return {};
  const [soft, hard] = row.slice('Max open files'.length).trim().split(/\s+/);
  return { soft: rlimit(soft), hard: rlimit(hard) };
}

/** Two port numbers, first and last, as ip_local_port_range or two sysctl lines hold them. */
export function parsePortRange(text: string | undefined): [number, number] | undefined {
  const parts = text?.trim().split(/\s+/) ?? [];
  if (parts.length !== 2) return undefined;
  const [first, last] = parts.map(count);
  return first !== undefined && last !== undefined && first <= last && last <= 65535 ? [first, last] : undefined;
}

/** `launchctl limit maxfiles` prints "maxfiles  256  unlimited". */
export function parseLaunchctlMaxfiles(text: string | undefined): { soft?: number | null; hard?: number | null } {
  const m = text?.match(/maxfiles\s+(\S+)\s+(\S+)/);
  return m ? { soft: rlimit(m[1]), hard: rlimit(m[2]) } : {};
}

/** Drops undefined fields, so that spreading and JSON output show only what is known. */
function known<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function probeLinux(src: ProbeSource): KernelLimits {
  const nofile = parseProcLimits(src.readFile('/proc/self/limits'));
  return known({
    platform: 'linux',
    nofileSoft: nofile.soft,
    nofileHard: nofile.hard,
    somaxconn: count(src.readFile('/proc/sys/net/core/somaxconn')),
    tcpMaxSynBacklog: count(src.readFile('/proc/sys/net/ipv4/tcp_max_syn_backlog')),
    portRange: parsePortRange(src.readFile('/proc/sys/net/ipv4/ip_local_port_range')),
  });
}

/** This process's nofile limits via the shell (no getrlimit in Node); a child shell inherits them. */
function shellNofile(src: ProbeSource): { soft?: number | null; hard?: number | null } {
  const lines = src.run('/bin/sh', ['-c', 'ulimit -n; ulimit -Hn'])?.trim().split('\n') ?? [];
  return lines.length === 2 ? { soft: rlimit(lines[0]), hard: rlimit(lines[1]) } : {};
}

function sysctl(src: ProbeSource, name: string): string | undefined {
  return src.run('/usr/sbin/sysctl', ['-n', name]);
}

// macOS has no tcp_max_syn_backlog: half-open connections count against the listen queue itself.
function probeDarwin(src: ProbeSource): KernelLimits {
  let nofile = shellNofile(src);
  // launchd's limit is what new processes start with; second best when the shell cannot say.
  if (nofile.soft === undefined) nofile = parseLaunchctlMaxfiles(src.run('/bin/launchctl', ['limit', 'maxfiles']));
  const first = sysctl(src, 'net.inet.ip.portrange.first');
  const last = sysctl(src, 'net.inet.ip.portrange.last');
  return known({
    platform: 'darwin',
    nofileSoft: nofile.soft,
    nofileHard: nofile.hard,
    somaxconn: count(sysctl(src, 'kern.ipc.somaxconn')),
    portRange: first !== undefined && last !== undefined ? parsePortRange(`${first} ${last}`) : undefined,
  });
}

/** Reads the machine through `src`. Values it cannot read stay undefined; it never throws. */
export function probeKernel(platform: string, src: ProbeSource): KernelLimits {
  try {
    if (platform === 'linux') return probeLinux(src);
    if (platform === 'darwin') return probeDarwin(src);
    const nofile = shellNofile(src);
    return known({ platform, nofileSoft: nofile.soft, nofileHard: nofile.hard });
  } catch {
    return { platform };
  }
}

// --- UNICORN_KERNEL_LIMITS -------------------------------------------------------------------

const EXAMPLE = `${LIMITS_ENV}='{"somaxconn":128,"nofileSoft":256}'`;

function badLimits(problem: string): never {
  throw new CliError(`${LIMITS_ENV}: ${problem} — give a JSON object such as ${EXAMPLE}, or unset ${LIMITS_ENV} to use the probed values`);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
const isPort = (v: unknown): v is number => isCount(v) && v <= 65535;

/** Each key's check, and what it must be (for the error). */
const OVERRIDES: Record<keyof KernelLimits, [(v: unknown) => boolean, string]> = {
  platform: [(v) => typeof v === 'string' && v !== '', 'a platform name such as "linux" or "darwin"'],
  nofileSoft: [(v) => v === null || isCount(v), 'a whole number above 0, or null for unlimited'],
  nofileHard: [(v) => v === null || isCount(v), 'a whole number above 0, or null for unlimited'],
  somaxconn: [isCount, 'a whole number above 0'],
  tcpMaxSynBacklog: [isCount, 'a whole number above 0'],
  portRange: [(v) => Array.isArray(v) && v.length === 2 && isPort(v[0]) && isPort(v[1]) && v[0] <= v[1], '[first, last], two ports with first <= last'],
};

/** The overrides in `env[UNICORN_KERNEL_LIMITS]`; throws CliError (exit 2) naming the variable when they are bad. */
export function limitsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<KernelLimits> {
  const text = env[LIMITS_ENV];
  if (text === undefined || text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    badLimits(`not valid JSON (${(e as Error).message.replace(/\s+/g, ' ')})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) badLimits(`${JSON.stringify(value)} is not a JSON object`);
  for (const [key, v] of Object.entries(value as object)) {
    const rule = OVERRIDES[key as keyof KernelLimits] as [(v: unknown) => boolean, string] | undefined;
    if (!rule) {
      const hint = suggest(key, Object.keys(OVERRIDES));
      badLimits(`unknown key "${key}"${hint ? ` (did you mean ${hint}?)` : ''}; keys are ${Object.keys(OVERRIDES).join(', ')}`);
    }
    if (!rule[0](v)) badLimits(`${key}: ${JSON.stringify(v)} is not ${rule[1]}`);
  }
  const limits = value as Partial<KernelLimits>;
  const { nofileSoft: soft, nofileHard: hard } = limits;
  if (typeof hard === 'number' && (soft === null || (typeof soft === 'number' && soft > hard))) {
    badLimits(`nofileSoft ${soft ?? 'null (unlimited)'} is above nofileHard ${hard}, which no kernel allows`);
  }
  return limits;
}

/** The probed limits with UNICORN_KERNEL_LIMITS applied on top. Throws CliError when the variable is bad. */
export function kernelLimits(env: NodeJS.ProcessEnv, probe: () => KernelLimits): KernelLimits {
  const overrides = limitsFromEnv(env); // first: bad input fails before any probing
  const probed = probe();
  // Another platform's values are all given or unknown: this machine's would mislead.
  if (overrides.platform !== undefined && overrides.platform !== probed.platform) return { ...overrides, platform: overrides.platform };
  return { ...probed, ...overrides };
}

// --- From settings to needs ------------------------------------------------------------------

/** A setting's value, or the registry's default when the caller's settings lack it (the language server's partial view). */
function settingValue(settings: Settings, name: string): unknown {
  if (settings[name] !== undefined) return settings[name];
  const setting = getSetting(name);
  return setting ? defaultValue(setting) : undefined;
}

/** A whole-number setting; raw text from an editor's view of a config file counts too. */
function intSetting(settings: Settings, name: string, fallback: number): number {
  const v = settingValue(settings, name);
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return Number(v);
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** The bind entries; a config file may give a single string, as gunicorn allows. */
function bindSetting(settings: Settings): string[] {
  const v = settingValue(settings, 'bind');
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** Open descriptors one worker and the arbiter may hold at once, and what the estimate is made of. */
export interface OpenFilesNeed {
  worker: number;
  arbiter: number;
  workers: number;
  listeners: number;
  connectionsPerWorker: number;
  /** The setting that sets connectionsPerWorker (absent for sync: one connection, whatever the settings). */
  connectionsSetting?: string;
}

export function openFilesNeed(settings: Settings): OpenFilesNeed {
  const workers = intSetting(settings, 'workers', 1);
  const listeners = Math.max(1, bindSetting(settings).length);
  let connectionsPerWorker = 1; // sync: one connection at a time, closed after the response
  let connectionsSetting: string | undefined;
  // threads > 1 turns sync into gthread, as in gunicorn.
  const klass = effectiveWorkerClass({ worker_class: settingValue(settings, 'worker_class'), threads: intSetting(settings, 'threads', 1) });
  if (klass === 'gthread') {
    // gthread keeps up to worker_connections open (idle keep-alive ones too); threads is the floor.
    const threads = intSetting(settings, 'threads', 1);
    const connections = intSetting(settings, 'worker_connections', 1000);
    connectionsPerWorker = Math.max(threads, connections);
    connectionsSetting = connections >= threads ? 'worker_connections' : 'threads';
  }
  return {
    worker: WORKER_OWN_FDS + listeners + connectionsPerWorker + APP_FDS,
    arbiter: ARBITER_OWN_FDS + listeners + workers * ARBITER_FDS_PER_WORKER,
    workers,
    listeners,
    connectionsPerWorker,
    connectionsSetting,
  };
}

// --- Fix commands ----------------------------------------------------------------------------

/** A finding's fix: the explanation, and the single runnable command when there is one. */
interface Fix {
  fix: string;
  command?: string;
}

/** The fields of a Finding for a Fix: `command` only when there is one, so that JSON shows only what exists. */
function fixFields({ fix, command }: Fix): Fix {
  return command === undefined ? { fix } : { fix, command };
}

/** Where Linux sysctls persist; -a so that several findings add to one file. */
const SYSCTL_FILE = '/etc/sysctl.d/60-unicorn.conf';

function linuxSysctlFix(name: string, value: string): Fix {
  const arg = value.includes(' ') ? `"${value}"` : value;
  const command = `sudo sysctl -w ${name}=${arg}`;
  return {
    fix:
      `${command}; to keep it after a reboot: echo '${name} = ${value}' | sudo tee -a ${SYSCTL_FILE}` +
      ` (in a container, where the host's value does not apply: docker run --sysctl ${name}=${arg})`,
    command,
  };
}

function darwinSysctlFix(name: string, value: string): Fix {
  const command = `sudo sysctl -w ${name}=${value}`;
  return { fix: `${command}; to keep it after a reboot, add the line ${name}=${value} to /etc/sysctl.conf`, command };
}

/** The fix for a sysctl by platform; other systems get the Linux name to look up, and no command. */
function sysctlFix(platform: string, linuxName: string, darwinName: string | undefined, value: string): Fix {
  if (platform === 'darwin' && darwinName) return darwinSysctlFix(darwinName, value);
  if (platform === 'linux') return linuxSysctlFix(linuxName, value);
  return { fix: `raise the equivalent of Linux's ${linuxName} to ${value} with this system's sysctl` };
}

/** Rounded up to a power of two: limits people set and recognise. */
function roundLimit(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(n, 1024)));
}

function raiseSoftNofileFix(platform: string, to: number): Fix {
  const unit = platform === 'linux' ? `; under systemd, LimitNOFILE=${to} in the unit's [Service] section` : '';
  // ulimit is a POSIX shell builtin: it raises the limit of the shell it runs in and what that shell starts.
  const command = platform === 'win32' ? undefined : `ulimit -n ${to}`;
  return { fix: `ulimit -n ${to} in the shell that starts unicorn (no root needed: the hard limit allows it)${unit}`, command };
}

function raiseHardNofileFix(platform: string, to: number): Fix {
  if (platform === 'darwin') {
    // launchd's limit is what new processes start with: the one root step; the new shell's ulimit needs no root.
    const command = `sudo launchctl limit maxfiles ${to} ${to}`;
    return {
      fix:
        `${command} (until reboot; a LaunchDaemon running it at boot keeps it), then in a new shell ` +
        `ulimit -n ${to}; if it is still capped, sudo sysctl -w kern.maxfilesperproc=${to}`,
      command,
    };
  }
  if (platform === 'linux') {
    // No command: the hard limit rises only through the unit or limits.conf, and a restart or new login.
    return {
      fix:
        `under systemd, LimitNOFILE=${to} in the unit's [Service] section, then sudo systemctl daemon-reload and restart it; ` +
        `from a login shell, add "<user> soft nofile ${to}" and "<user> hard nofile ${to}" to /etc/security/limits.d/unicorn.conf, ` +
        `log in again and run ulimit -n ${to}; in Docker, docker run --ulimit nofile=${to}:${to}`,
    };
  }
  return { fix: `raise the open-files limit (soft and hard) to ${to}, then ulimit -n ${to}` };
}

// --- Rules -----------------------------------------------------------------------------------

function names(platform: string) {
  const darwin = platform === 'darwin';
  return {
    somaxconn: darwin ? 'kern.ipc.somaxconn' : 'net.core.somaxconn',
    portRange: darwin ? 'net.inet.ip.portrange.first/last' : 'net.ipv4.ip_local_port_range',
    /** How long a closed outgoing connection keeps its port: 2 x MSL (Linux 60 s; macOS msl 15 s). */
    timeWait: darwin ? '30 s' : '60 s',
  };
}

// The accept queue: listen(backlog) is silently capped at somaxconn.
function listenQueue(limits: KernelLimits, settings: Settings): Finding[] {
  const backlog = intSetting(settings, 'backlog', 2048);
  if (limits.somaxconn === undefined || backlog <= limits.somaxconn) return [];
  const name = names(limits.platform).somaxconn;
  const { fix, command } = sysctlFix(limits.platform, 'net.core.somaxconn', 'kern.ipc.somaxconn', String(backlog));
  return [{
    id: 'somaxconn',
    severity: 'warning',
    setting: 'backlog',
    message:
      `backlog ${backlog} is above ${name} ${limits.somaxconn}: the kernel silently caps each listener's accept queue at ` +
      `${limits.somaxconn}, so in a burst while every worker is busy, connections beyond it are refused or dropped.`,
    ...fixFields({ fix: `${fix}; or lower --backlog to ${limits.somaxconn}`, command }),
  }];
}

// The SYN queue (Linux): half-open connections wait here before they reach the accept queue.
function synQueue(limits: KernelLimits, settings: Settings): Finding[] {
  const backlog = intSetting(settings, 'backlog', 2048);
  if (limits.tcpMaxSynBacklog === undefined || backlog <= limits.tcpMaxSynBacklog) return [];
  return [{
    id: 'syn-backlog',
    severity: 'warning',
    setting: 'backlog',
    message:
      `backlog ${backlog} is above net.ipv4.tcp_max_syn_backlog ${limits.tcpMaxSynBacklog}: in a burst of new connections, ` +
      `half-open ones beyond it are dropped (or answered with SYN cookies when net.ipv4.tcp_syncookies is on), and clients wait for a retransmit.`,
    ...fixFields(sysctlFix(limits.platform, 'net.ipv4.tcp_max_syn_backlog', undefined, String(backlog))),
  }];
}

/** One process's need against RLIMIT_NOFILE (a per-process limit). `who` and `parts` word the message. */
function nofileFinding(
  limits: KernelLimits,
  id: FindingId,
  need: number,
  who: string,
  parts: string,
  consequence: string,
  setting: string | undefined,
): Finding[] {
  const { nofileSoft: soft, nofileHard: hard } = limits;
  if (soft === undefined || soft === null || need <= soft * NOFILE_WARN_SHARE) return [];
  const target = roundLimit(need / NOFILE_WARN_SHARE);
  const hardSuffices = hard === null || (hard !== undefined && hard > soft && need <= hard * NOFILE_WARN_SHARE);
  if (hardSuffices) {
    const to = hard ?? target;
    return [{
      id, severity: 'info', setting,
      message:
        `open files: ${who} may hold about ${need} descriptors (${parts}), near or above the soft limit ${soft}, but the hard limit ` +
        `${hard ?? 'unlimited'} allows enough; unicorn's Node arbiter raises its soft limit toward the hard one at start and the ` +
        `workers inherit it, so this only matters if something lowers it in between.`,
      ...fixFields(raiseSoftNofileFix(limits.platform, to)),
    }];
  }
  const over = need > soft;
  return [{
    id, severity: over ? 'error' : 'warning', setting,
    message:
      `open files: ${who} may hold about ${need} descriptors (${parts}), ` +
      (over ? `above the soft limit ${soft}` : `over ${Math.round(NOFILE_WARN_SHARE * 100)}% of the soft limit ${soft}`) +
      ` (hard ${hard === undefined ? 'unknown' : hard ?? 'unlimited'}); ${consequence}`,
    ...fixFields(raiseHardNofileFix(limits.platform, target)),
  }];
}

function openFiles(limits: KernelLimits, settings: Settings): Finding[] {
  const need = openFilesNeed(settings);
  const connections = need.connectionsSetting
    ? `${need.connectionsPerWorker} connections (${need.connectionsSetting})`
    : '1 connection with the sync worker';
  const listeners = `${need.listeners} listener${need.listeners === 1 ? '' : 's'}`;
  return [
    ...nofileFinding(
      limits, 'nofile', need.worker, 'each worker',
      `${connections}, ${listeners}, ${WORKER_OWN_FDS} of its own, ${APP_FDS} for the app's files and sockets`,
      'past it, accept() and the app\'s open() and connect() fail with EMFILE ("Too many open files").',
      need.connectionsSetting,
    ),
    ...nofileFinding(
      limits, 'nofile-arbiter', need.arbiter, 'the arbiter',
      `${need.workers} workers with a control pipe each, ${listeners}, ${ARBITER_OWN_FDS} of Node's own`,
      'past it, starting a worker fails with EMFILE ("Too many open files").',
      'workers',
    ),
  ];
}

// Ephemeral ports: every outgoing connection (database, upstream) holds one, and keeps it through TIME_WAIT.
function portRange(limits: KernelLimits): Finding[] {
  if (!limits.portRange) return [];
  const [first, last] = limits.portRange;
  const ports = last - first + 1;
  if (ports >= MIN_EPHEMERAL_PORTS) return [];
  const n = names(limits.platform);
  const [low, high] = SUGGESTED_PORT_RANGE;
  const darwinCommand = `sudo sysctl -w net.inet.ip.portrange.first=${low} net.inet.ip.portrange.last=${high}`;
  const fix: Fix = limits.platform === 'darwin'
    ? { fix: `${darwinCommand}; to keep it after a reboot, add both lines to /etc/sysctl.conf`, command: darwinCommand }
    : sysctlFix(limits.platform, 'net.ipv4.ip_local_port_range', undefined, `${low} ${high}`);
  return [{
    id: 'port-range',
    severity: 'warning',
    message:
      `ephemeral ports: ${n.portRange} ${first}-${last} leaves ${ports} ports (fewer than ${MIN_EPHEMERAL_PORTS}) for outgoing ` +
      `connections to one database or upstream; closed ones keep their port for ${n.timeWait} in TIME_WAIT, so under load ` +
      `connect() fails with EADDRNOTAVAIL ("Cannot assign requested address").`,
    ...fixFields(fix),
  }];
}

/** TCP ports the settings bind, port 0 (the kernel's pick) excluded; bad entries are the CLI's to report. */
function boundPorts(settings: Settings): number[] {
  const ports: number[] = [];
  for (const text of bindSetting(settings)) {
    try {
      const a = parseAddress(text);
      if (a.kind === 'tcp' && a.port > 0) ports.push(a.port);
    } catch {
      /* reported by the CLI, not here */
    }
  }
  return ports;
}

// A listener port inside the ephemeral range can be taken by an outgoing connection while unicorn is down.
function reservedPorts(limits: KernelLimits, settings: Settings): Finding[] {
  if (!limits.portRange) return [];
  const [first, last] = limits.portRange;
  const inRange = [...new Set(boundPorts(settings).filter((p) => p >= first && p <= last))];
  if (!inRange.length) return [];
  const list = inRange.join(',');
  const outside = first > 1024 ? `below ${first}` : `above ${last}`;
  // Elsewhere the fix is a config change (another port), not a command.
  let fix: Fix = { fix: `bind a port ${outside}` };
  if (limits.platform === 'linux') {
    const reserve = linuxSysctlFix('net.ipv4.ip_local_reserved_ports', list);
    fix = { fix: `${reserve.fix}; or bind a port ${outside}`, command: reserve.command };
  }
  return [{
    id: 'port-reserved',
    severity: 'info',
    setting: 'bind',
    message:
      `bind: port${inRange.length === 1 ? '' : 's'} ${inRange.join(', ')} ${inRange.length === 1 ? 'lies' : 'lie'} in the ephemeral range ` +
      `${first}-${last}, from which the kernel picks ports for outgoing connections; while unicorn is stopped or restarting one ` +
      `may take it, and the next start fails with "Address already in use".`,
    ...fixFields(fix),
  }];
}

/** Every limit the settings outgrow, most basic first. Missing limits give no finding. */
export function findings(limits: KernelLimits, settings: Settings): Finding[] {
  return [
    ...listenQueue(limits, settings),
    ...synQueue(limits, settings),
    ...openFiles(limits, settings),
    ...portRange(limits),
    ...reservedPorts(limits, settings),
  ];
}

// --- Presenting ------------------------------------------------------------------------------

/** Rows of "what, value" describing the limits, with a word for what is unknown or absent. */
export function describeLimits(limits: KernelLimits): Array<[string, string]> {
  const n = names(limits.platform);
  const unknown = 'unknown (could not be read)';
  const lim = (v: number | null | undefined) => (v === undefined ? 'unknown' : v === null ? 'unlimited' : String(v));
  const nofile = limits.nofileSoft === undefined && limits.nofileHard === undefined
    ? unknown
    : `soft ${lim(limits.nofileSoft)}, hard ${lim(limits.nofileHard)}`;
  const syn = limits.tcpMaxSynBacklog !== undefined
    ? String(limits.tcpMaxSynBacklog)
    : limits.platform === 'darwin' ? 'none on macOS (half-open connections count against the listen queue)' : unknown;
  const range = limits.portRange
    ? `${limits.portRange[0]}-${limits.portRange[1]} (${limits.portRange[1] - limits.portRange[0] + 1} ports)`
    : unknown;
  return [
    ['open files (RLIMIT_NOFILE)', nofile],
    [`listen queue (${n.somaxconn})`, limits.somaxconn !== undefined ? String(limits.somaxconn) : unknown],
    ['SYN queue (net.ipv4.tcp_max_syn_backlog)', syn],
    [`ephemeral ports (${n.portRange})`, range],
  ];
}

/** A finding's message down to what is wrong with its numbers: no parentheses, up to the first clause past a short prefix. */
export function shortFinding(message: string): string {
  const plain = message.replace(/\s*\([^()]*\)/g, '');
  const head = /^(.{20,}?)(?::\s|;\s|\.\s|\.$)/.exec(plain)?.[1] ?? plain;
  return head.length > 140 ? `${head.slice(0, 139)}…` : head;
}
