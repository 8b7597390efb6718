// One running server: the bundled runtime forked with the extension host's Node, its log, and
// the control socket the extension talks to it through.
import { ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import {
  ControlCommand, ControlRequest, ControlResults, ServerStatus, runtimeDir,
} from '../../runtime/src/core/control-protocol';
import { controlAt } from './discovery';
import { Invocation } from './invocation';

/** A server the tree shows and the commands act on: one this window started, or one found by discovery. */
export interface ServerHandle {
  readonly controlSocket: string;
  readonly origin: 'editor' | 'discovered';
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly url: string | undefined;
  lastStatus: ServerStatus | undefined;
  control<C extends ControlCommand>(req: ControlRequest & { command: C }, timeoutMs?: number): Promise<ControlResults[C]>;
  refreshStatus(): Promise<ServerStatus | undefined>;
  stop(graceMs?: number): Promise<void>;
}

/** Unix socket paths longer than this do not fit sockaddr_un (108 bytes on Linux, 104 on macOS). */
const MAX_SOCKET_PATH = 100;

let serial = 0;

/** Where this server's control socket goes: the extension's storage, else (path too long) the runtime dir. */
export function controlSocketFor(storageDir: string): string {
  const name = `unicorn-${process.pid}-${++serial}.ctl`;
  const preferred = path.join(storageDir, name);
  return Buffer.byteLength(preferred) <= MAX_SOCKET_PATH ? preferred : path.join(runtimeDir(), `vscode-${name}`);
}

export class ArbiterProcess implements ServerHandle, vscode.Disposable {
  readonly origin = 'editor';
  private readonly child: ChildProcess;
  private exitResult: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  /** Fires on exit and on every new status. */
  readonly onDidChange = this.changeEmitter.event;
  lastStatus: ServerStatus | undefined;

  constructor(
    readonly invocation: Invocation,
    readonly bin: string,
    readonly controlSocket: string,
    /** Where the log goes (the output channel, mirrored for the API). */
    private readonly write: (text: string) => void,
  ) {
    fs.mkdirSync(path.dirname(controlSocket), { recursive: true, mode: 0o700 });
    const args = [...invocation.args, '--control-socket', controlSocket];
    this.append(`$ ${invocation.cli} ${args.map(quote).join(' ')}   (in ${invocation.folder.uri.fsPath})\n`);
    // execArgv [] so that the host's own flags (--inspect, loaders) are not passed on. The IPC
    // channel fork opens lets the arbiter notice the extension host going away.
    this.child = fork(bin, args, { cwd: invocation.folder.uri.fsPath, env: invocation.env, silent: true, execArgv: [] });
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => this.append(text));
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => this.append(text));
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.append(`unicorn: could not start: ${e.message}\n`);
        this.exitResult ??= { code: null, signal: null };
        resolve();
      });
      this.child.on('exit', (code, signal) => {
        this.exitResult = { code, signal };
        this.append(`unicorn exited (${signal ? `signal ${signal}` : `code ${code}`})\n`);
        this.lastStatus = undefined;
        resolve();
        this.changeEmitter.fire();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitResult === undefined;
  }

  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exitResult;
  }

  /** The first listener's URL once the server reported it. */
  get url(): string | undefined {
    return this.lastStatus?.master.listeners.find((l) => l.startsWith('http'));
  }

  /** The last 20 kB of this server's own output (why it failed to start, for messages). */
  tail = '';

  private append(text: string): void {
    this.write(text);
    this.tail = (this.tail + text).slice(-20000);
  }

  /** Sends one control request; throws with the arbiter's error text. */
  async control<C extends ControlCommand>(req: ControlRequest & { command: C }, timeoutMs?: number): Promise<ControlResults[C]> {
    if (!this.running) throw new Error('the server is not running');
    return controlAt(this.controlSocket, req, timeoutMs);
  }

  /** Asks for `status`; undefined while the control socket is not up yet (booting) or after exit. */
  async refreshStatus(): Promise<ServerStatus | undefined> {
    if (!this.running) return undefined;
    try {
      this.lastStatus = await this.control({ command: 'status' }, 5000);
    } catch {
      return this.lastStatus; // not listening yet, or gone: the exit event tells the rest
    }
    this.changeEmitter.fire();
    return this.lastStatus;
  }

  /** Resolves when the process has exited (true), or false after the timeout. */
  async waitForExit(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const done = await Promise.race([this.exited.then(() => true), timeout]);
    clearTimeout(timer);
    return done;
  }

  /** Graceful stop through the control socket (TERM if it does not answer), then KILL if it hangs. */
  async stop(graceMs = 35000): Promise<void> {
    if (!this.running) return;
    try {
      await this.control({ command: 'stop' }, 3000);
    } catch {
      this.child.kill('SIGTERM');
    }
    if (await this.waitForExit(graceMs)) return;
    this.append(`unicorn: still running ${graceMs / 1000} s after stop — killing it\n`);
    this.child.kill('SIGKILL');
    await this.waitForExit(5000);
  }

  dispose(): void {
    if (this.running) this.child.kill('SIGTERM');
    this.changeEmitter.dispose();
  }
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
