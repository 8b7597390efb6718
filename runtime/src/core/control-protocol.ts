// The control protocol, typed once for its three parties: the arbiter serves it (control.ts,
// arbiter-control.ts), `unicorn ctl` and the extension are its clients. A Unix socket (mode 0600)
// speaking JSON lines: one request line in, one answer line out.
//
// Pure: the socket-path rules compute paths, `exchange` talks over a socket its caller opened.
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';

/** The commands, in the order `unicorn ctl --help` lists them. */
export const COMMANDS = ['status', 'add', 'remove', 'reload', 'stop', 'kill', 'debug', 'focus', 'unfocus', 'metrics'] as const;
export type ControlCommand = (typeof COMMANDS)[number];

export interface ControlRequest {
  command: ControlCommand;
  /** add / remove: how many workers (default 1). */
  count?: number;
  /** kill / debug / focus: which worker; unfocus: which (default: all). */
  pid?: number;
}

/** What each command answers when it succeeds. */
export interface ControlResults {
  status: ServerStatus;
  add: { workers: number };
  remove: { workers: number };
  reload: { reloading: true };
  stop: { stopping: true };
  kill: { killed: number };
  debug: { pid: number; port: number };
  /** The figures of /metrics, and `text`: the same in Prometheus' text format. */
  metrics: MetricsSnapshot & { text: string };
  /** focus / unfocus: the focused workers now, and those that take new connections. */
  focus: FocusResult;
  unfocus: FocusResult;
}

/**
 * While some workers have the focus (a debugger is on them), only they accept new connections, so
 * the kernel hands every new one to them; the others resume when the focus is gone.
 */
export interface FocusResult {
  focus: number[];
  accepting: number[];
}
export type ControlResult = ControlResults[ControlCommand];

export type ControlAnswer<C extends ControlCommand = ControlCommand> =
  | { ok: true; result: ControlResults[C] }
  | { ok: false; error: string };

/** A worker's states as its scoreboard slot holds them (index = the byte in the slot). */
export const WORKER_STATES = ['free', 'booting', 'idle', 'busy', 'exiting'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/** The `status` answer: the master and every worker. */
export interface ServerStatus {
  master: {
    pid: number;
    /** "Master", or "Master.2" in a master started by USR2 until it is promoted. */
    name: string;
    app: string | null;
    python: string;
    worker_class: string;
    /** The worker count the arbiter keeps (may differ from workers.length while it adjusts). */
    workers: number;
    listeners: string[];
    uptime: number;
    rss: number | null;
    timeout: number;
    reloading: boolean;
    /** Workers being debugged that get every new connection (empty: all accept). */
    focus: number[];
    /** Each listener's accept queue now (queued: null where the platform does not say). */
    listen_queue: Array<{ url: string; queued: number | null; backlog: number }>;
  };
  workers: WorkerStatus[];
}

export interface WorkerStatus {
  pid: number;
  id: number;
  slot: number;
  /** The slot's state; `exiting` once the arbiter asked the worker to stop, `booting` before its slot is written. */
  state: WorkerState;
  requests: number;
  /** Connections the worker holds open (keep-alive, websockets); 0 for the sync loop. */
  connections: number;
  heartbeat_age: number | null;
  uptime: number;
  rss: number | null;
  /** The request in progress while busy; age in seconds. */
  request: { method: string; path: string; age: number } | null;
  debug_port: number | null;
  debugger_attached: boolean;
  /** False while another worker has the focus (or before the worker booted). */
  accepting: boolean;
}

/** Why a worker was replaced (unicorn_worker_restarts_total's `reason`). */
export const RESTART_REASONS = ['timeout', 'crash', 'max_requests', 'reload'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

/** What a worker counted over its life (the per-request figures of its scoreboard slot), or a sum of those. */
export interface Counters {
  /** Responses by status class: index 0 is 1xx … 4 is 5xx. */
  byStatus: number[];
  /** Requests by duration bucket (upper bounds DURATION_BUCKETS in scoreboard.ts, then +Inf), not cumulative. */
  byDuration: number[];
  seconds: number;
  bytesSent: number;
}

/** Everything /metrics and `unicorn ctl metrics` show, gathered by the arbiter at the moment of the request. */
export interface MetricsSnapshot {
  version: string;
  workerClass: string;
  ready: boolean;
  workers: Array<{ pid: number; state: WorkerState; rss: number | null; connections: number; requests: number }>;
  /** Every worker's counters, the exited ones' included. */
  totals: Counters;
  restarts: Record<RestartReason, number>;
  /** Per TCP listener: connections waiting in its accept queue. */
  listenQueues: Array<{ listener: string; queued: number }>;
}

/** A request line as the server received it, checked; throws with the message the client is sent back. */
export function parseControlRequest(line: string): ControlRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`not JSON: ${line.slice(0, 100)}`);
  }
  const req = value as Partial<ControlRequest> | null;
  if (typeof req !== 'object' || req === null || typeof req.command !== 'string') {
    throw new Error('a request is a JSON object with a "command", e.g. {"command": "status"}');
  }
  if (!(COMMANDS as readonly string[]).includes(req.command)) {
    throw new Error(`unknown command "${req.command}" — use ${COMMANDS.slice(0, -1).join(', ')} or ${COMMANDS[COMMANDS.length - 1]}`);
  }
  if (req.count !== undefined && (!Number.isInteger(req.count) || req.count < 1)) {
    throw new Error(`count must be a whole number of at least 1, got ${JSON.stringify(req.count)}`);
  }
  return req as ControlRequest;
}

// --- where sockets go ------------------------------------------------------------------------------

/** The per-user directory for control sockets of servers that have no pid file. */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'unicorn') : path.join(os.tmpdir(), `unicorn-${uid}`);
}

/** Where a server's control socket goes: the setting, else beside the pid file, else the runtime dir. */
export function controlSocketPath(setting: string | null, pidfile: string | null, pid = process.pid): string {
  if (setting) return path.resolve(setting);
  if (pidfile) return path.resolve(pidfile.replace(/\.pid$/, '') + '.ctl');
  return path.join(runtimeDir(), `${pid}.ctl`);
}

// --- the client side ---------------------------------------------------------------------------------

/**
 * Sends one request over `conn` (a socket the caller has opened to a control socket) and resolves to
 * the answer; `label` names the socket in errors.
 */
export function exchange<C extends ControlCommand>(
  conn: Duplex,
  req: ControlRequest & { command: C },
  label: string,
  timeoutMs = 20000,
): Promise<ControlAnswer<C>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer from ${label} within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.write(JSON.stringify(req) + '\n');
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        conn.destroy();
        try {
          resolve(JSON.parse(buf.slice(0, nl)));
        } catch {
          reject(new Error(`unreadable answer from ${label}`));
        }
      }
    });
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

// --- the language server's quick fixes (server/ offers them, client/ registers them) ------------------

/** Copies a finding's fix to the clipboard; argument: the text. */
export const COPY_FIX = 'unicorn.copyFix';
/** Opens a terminal with a finding's command typed in (not run); argument: the command. */
export const RUN_FIX_IN_TERMINAL = 'unicorn.runFixInTerminal';
