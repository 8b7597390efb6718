// Shared test plumbing: start the real CLI in its own process group, find free ports, talk raw HTTP.
import { spawn, ChildProcess, SpawnOptions as NodeSpawnOptions } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { request } from '../runtime/src/control';
import type { ControlCommand, ControlRequest, ControlResults } from '../runtime/src/core/control-protocol';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'runtime', 'bin', 'unicorn.js');
export const DJANGO_CLI = path.join(ROOT, 'runtime', 'bin', 'unicorn-django.js');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const EXAMPLES = path.join(ROOT, 'examples');
/** Debian's interpreter: the one that sees python3-flask, python3-django, python3-debugpy. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Interpreter for the workers, passed as --python unless args already name one. */
  python?: string;
  /** Which CLI: `unicorn` (default) or `unicorn-django`. */
  /** Which CLI: `unicorn` (default), `unicorn-django`, or the path of a copy of runtime/bin/unicorn.js. */
  bin?: 'unicorn' | 'unicorn-django' | string;
  timeoutMs?: number;
}

function cliArgs(args: string[], opts: SpawnOptions): string[] {
  const bin = opts.bin === 'unicorn-django' ? DJANGO_CLI : opts.bin && opts.bin !== 'unicorn' ? opts.bin : CLI;
  const extra = opts.python && !args.some((a) => a.startsWith('--python')) ? ['--python', opts.python] : [];
  return [bin, ...extra, ...args];
}

function childEnv(opts: SpawnOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Tests must not pick up the developer's own settings.
  delete env.UNICORN_CMD_ARGS;
  delete env.GUNICORN_CMD_ARGS;
  delete env.WEB_CONCURRENCY;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

// Every process group the helpers start dies with the test process. A group is SIGKILLed when the
// test process exits or is ended by a signal; the CLI is also started with an IPC channel, so that a
// test process that dies by SIGKILL (or any way that runs no handler) still takes its servers along:
// the arbiter stops gracefully when its parent disconnects (see parent-disconnect.test.ts).
const groups = new Set<number>();
process.on('exit', () => {
  for (const pid of groups) killGroup(pid, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const pid of groups) killGroup(pid, 'SIGKILL');
    process.kill(process.pid, signal); // the default action now that this handler is gone
  });
}

/**
 * spawn() in a new process group that is killed when the test process ends; a Node command (the
 * CLI) also gets an IPC channel as its parent tie. The group is forgotten once killGroup has
 * SIGKILLed it (runCli and Server.stop do when the leader exits).
 */
export function spawnGroup(cmd: string, args: string[], opts: Omit<NodeSpawnOptions, 'stdio' | 'detached'> & { stdio?: Array<'ignore' | 'pipe' | number> } = {}): ChildProcess {
  const tie = cmd === process.execPath;
  const stdio = [...(opts.stdio ?? ['ignore', 'pipe', 'pipe']), ...(tie ? ['ipc' as const] : [])];
  const proc = spawn(cmd, args, { ...opts, stdio, detached: true });
  if (proc.pid === undefined) return proc; // spawn failed: the 'error' event says why
  const pid = proc.pid;
  groups.add(pid);
  proc.channel?.unref(); // the tie must not keep the test process alive
  return proc;
}

/** Runs the CLI to completion (for --check-config, --help, errors). Kills the group on timeout. */
export function runCli(args: string[], opts: SpawnOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawnGroup(process.execPath, cliArgs(args, opts), {
      cwd: opts.cwd ?? ROOT,
      env: childEnv(opts),
    });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d) => (stdout += d));
    proc.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      killGroup(proc.pid!, 'SIGKILL');
      reject(new Error(`unicorn ${args.join(' ')} did not exit within ${opts.timeoutMs ?? 20000} ms\n${stdout}${stderr}`));
    }, opts.timeoutMs ?? 20000);
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(proc.pid!, 'SIGKILL'); // anything left in the group
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (signal === 'SIGKILL') groups.delete(pid);
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

export interface Server {
  proc: ChildProcess;
  pid: number;
  port: number;
  host: string;
  url: string;
  /** stdout + stderr so far, interleaved. */
  output(): string;
  waitForOutput(re: RegExp, ms?: number, from?: number): Promise<RegExpMatchArray>;
  /** Resolves when the arbiter exits (it is not signalled). */
  exited(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Signals the arbiter (default TERM), waits for its exit, then kills whatever is left of its group. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions extends SpawnOptions {
  /** Do not add `-b 127.0.0.1:PORT` (the args bind themselves); pass the port to wait on. */
  port?: number;
  noBind?: boolean;
  /** Wait until this appears in the output instead of an HTTP answer. */
  readyPattern?: RegExp;
}

/** Starts `unicorn ARGS -b 127.0.0.1:PORT` in its own process group and waits until it answers HTTP. */
export async function startServer(args: string[], opts: StartOptions = {}): Promise<Server> {
  const host = '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const full = opts.noBind ? args : ['-b', `${host}:${port}`, ...args];
  const proc = spawnGroup(process.execPath, cliArgs(full, opts), {
    cwd: opts.cwd ?? ROOT,
    env: childEnv(opts),
  });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      exit = { code, signal };
      for (const w of waiters.splice(0)) w();
      resolve(exit);
    });
  });

  const waitForOutput = (re: RegExp, ms = 15000, from = 0): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${re}; output:\n${out}`)), ms);
      const check = () => {
        const m = out.slice(from).match(re);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        } else if (exit) {
          clearTimeout(timer);
          reject(new Error(`server exited (${exit.code ?? exit.signal}) before ${re}; output:\n${out}`));
        } else waiters.push(check);
      };
      check();
    });

  const exited = (ms = 15000) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`arbiter ${proc.pid} still running after ${ms} ms; output:\n${out}`)), ms);
      exitPromise.then((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });

  const server: Server = {
    proc,
    pid: proc.pid!,
    port,
    host,
    url: `http://${host}:${port}`,
    output: () => out,
    waitForOutput,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 15000) {
      if (!exit) {
        try {
          proc.kill(signal);
        } catch {
          /* gone */
        }
      }
      try {
        return await exited(ms);
      } finally {
        killGroup(proc.pid!, 'SIGKILL');
      }
    },
  };

  try {
    if (opts.readyPattern) await waitForOutput(opts.readyPattern, opts.timeoutMs ?? 20000);
    else await waitForHttp(port, host, opts.timeoutMs ?? 20000, () => exit !== undefined, () => out);
  } catch (e) {
    await server.stop('SIGKILL', 5000).catch(() => undefined);
    throw e;
  }
  return server;
}

async function waitForHttp(port: number, host: string, ms: number, gone: () => boolean, out: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (gone()) throw new Error(`server exited before answering; output:\n${out()}`);
    try {
      const res = await rawRequest(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, { timeoutMs: 2000, host });
      if (res.length > 0) return;
    } catch {
      /* not yet */
    }
    await sleep(50);
  }
  throw new Error(`server did not answer on ${host}:${port} within ${ms} ms; output:\n${out()}`);
}

/** Sends bytes and returns everything the server sends until it closes (or the timeout). */
export function rawRequest(
  port: number | string,
  data: Buffer | string,
  opts: { timeoutMs?: number; host?: string } = {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock =
      typeof port === 'string' ? net.connect({ path: port }) : net.connect({ port, host: opts.host ?? '127.0.0.1' });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close from the server within ${opts.timeoutMs ?? 5000} ms; got: ${Buffer.concat(chunks)}`));
    }, opts.timeoutMs ?? 5000);
    sock.on('connect', () => sock.write(data));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      // A reset after a complete answer still counts as the answer.
      if (chunks.length) resolve(Buffer.concat(chunks));
      else reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  raw: Buffer;
}

/** Splits a raw HTTP/1.x response (no chunked decoding) into status, headers (lower-cased) and body. */
export function parseResponse(raw: Buffer): ParsedResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`incomplete response: ${JSON.stringify(raw.toString('latin1'))}`);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers, body: raw.subarray(end + 4), raw };
}

/** GET path over a fresh connection; resolves to the parsed response. */
export async function get(port: number, pathname = '/', headers: Record<string, string> = {}): Promise<ParsedResponse> {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return parseResponse(
    await rawRequest(port, `GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`),
  );
}

/**
 * Pids of the direct children of `pid` (the workers of an arbiter), from /proc — leaving out the
 * arbiter's listen-queue helper (runtime/python/unicorn_sockdiag.py), which is no worker.
 */
export function childPids(pid: number): number[] {
  const fs = require('node:fs') as typeof import('node:fs');
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && !fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('unicorn_sockdiag.py')) out.push(Number(d));
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One request over a control socket, straight through the protocol's client (what `unicorn ctl
 * --json` prints, without starting a CLI process for each poll); throws on an error answer.
 */
export async function ctlRequest<C extends ControlCommand>(socket: string, req: ControlRequest & { command: C }): Promise<ControlResults[C]> {
  const answer = await request(socket, req);
  if (!answer.ok) throw new Error(`control request ${JSON.stringify(req)}: ${answer.error}`);
  return answer.result as ControlResults[C];
}

/**
 * Runs independent jobs `limit` at a time (CLI runs that each wait on their own process); resolves
 * to their results in order, or rejects with the first failure.
 */
export async function inParallel<T>(jobs: Array<() => Promise<T>>, limit = 3): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, lane));
  return results;
}

/** Polls `cond` every 50 ms until it is true or `ms` pass. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, ms = 10000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
}

/**
 * A bounded client loop: `requests` GETs over fresh connections, `concurrency` at a time, counting
 * every failure (connection error or non-200). `onProgress(done)` lets a test act mid-load;
 * `enough()`, when given, ends the loop early once it says so (`requests` stays the bound).
 */
export async function loadLoop(
  port: number,
  opts: { requests: number; concurrency: number; path?: string; onProgress?: (done: number) => void; enough?: () => boolean },
): Promise<LoadResult> {
  const result: LoadResult = { ok: 0, failed: 0, errors: [] };
  let next = 0;
  const one = async () => {
    while (next < opts.requests && !opts.enough?.()) {
      next++;
      try {
        const res = await get(port, opts.path ?? '/');
        if (res.status === 200) result.ok++;
        else {
          result.failed++;
          result.errors.push(`status ${res.status}`);
        }
      } catch (e) {
        result.failed++;
        result.errors.push((e as Error).message);
      }
      opts.onProgress?.(result.ok + result.failed);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, one));
  return result;
}
