// Every server the user can reach, not only the one this window started: control sockets beside
// pid files in the workspace (where `unicorn -p app.pid` puts them) and in the per-user runtime
// directory (where a server without a pid file puts its own), each shown with the same actions.
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { ControlCommand, ControlRequest, ControlResults, ServerStatus, exchange, runtimeDir } from '../../runtime/src/core/control-protocol';
import type { ServerHandle } from './arbiter-process';

/**
 * Whether a directory or socket is safe to talk to: owned by this user, and (for a directory) not
 * writable by others — a socket there could be anybody's otherwise. The one place discovery asks;
 * `unicorn ctl`'s own ownership check can replace it when it lands in the runtime.
 */
export function ownedByUser(file: string, dir = false): boolean {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) return false;
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (st.uid !== uid) return false;
  return !dir || (st.mode & 0o022) === 0;
}

/** Sends one control request to the server at `socket`; throws with the arbiter's error text. */
export async function controlAt<C extends ControlCommand>(socket: string, req: ControlRequest & { command: C }, timeoutMs?: number): Promise<ControlResults[C]> {
  const answer = await exchange(net.connect({ path: socket }), req, socket, timeoutMs);
  if (!answer.ok) throw new Error(answer.error);
  return answer.result;
}

function isSocket(file: string): boolean {
  return fs.statSync(file, { throwIfNoEntry: false })?.isSocket() ?? false;
}

/**
 * The control sockets worth asking for status, in a stable order: `*.ctl` beside each pid file
 * given (found by the caller in the workspace), then every `*.ctl` in the runtime directory. Only
 * sockets (and a runtime directory) this user owns; dead ones are dropped by the status request.
 */
export function discoverControlSockets(pidFiles: readonly string[], runtime: string = runtimeDir()): string[] {
  const found = new Set<string>();
  for (const pidFile of pidFiles) {
    const socket = path.resolve(pidFile.replace(/\.pid$/, '') + '.ctl');
    if (isSocket(socket) && ownedByUser(socket)) found.add(socket);
  }
  if (ownedByUser(runtime, true)) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(runtime).filter((n) => n.endsWith('.ctl')).sort();
    } catch {
      /* gone meanwhile */
    }
    for (const name of names) {
      const socket = path.join(runtime, name);
      if (isSocket(socket) && ownedByUser(socket)) found.add(socket);
    }
  }
  return [...found];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A server this window did not start (the CLI's, a task's, another window's): known by its control socket only. */
export class DiscoveredServer implements ServerHandle {
  readonly origin = 'discovered';
  lastStatus: ServerStatus | undefined;
  private gone = false;

  constructor(readonly controlSocket: string) {}

  get pid(): number | undefined {
    return this.lastStatus?.master.pid;
  }

  get running(): boolean {
    return !this.gone;
  }

  get url(): string | undefined {
    return this.lastStatus?.master.listeners.find((l) => l.startsWith('http'));
  }

  control<C extends ControlCommand>(req: ControlRequest & { command: C }, timeoutMs?: number): Promise<ControlResults[C]> {
    return controlAt(this.controlSocket, req, timeoutMs);
  }

  /** Status, or undefined (and not running from then on) when the socket no longer answers. */
  async refreshStatus(): Promise<ServerStatus | undefined> {
    if (this.gone) return undefined;
    try {
      this.lastStatus = await this.control({ command: 'status' }, 3000);
    } catch {
      this.gone = true;
      this.lastStatus = undefined;
    }
    return this.lastStatus;
  }

  /** Graceful stop through the socket, then KILL when the master is still there after graceMs. */
  async stop(graceMs = 35000): Promise<void> {
    const pid = this.pid;
    await this.control({ command: 'stop' }, 3000).catch(() => (pid ? process.kill(pid, 'SIGTERM') : undefined));
    const deadline = Date.now() + graceMs;
    while (pid && alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    this.gone = true;
    this.lastStatus = undefined;
  }
}
