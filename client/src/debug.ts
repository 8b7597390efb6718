// Debugging workers: attach to one worker's debugpy (the Python Debugger's `debugpy` type when
// installed, else our `unicorn-worker` type that connects VS Code straight to it), and the
// `unicorn` launch type: one parent session owning the server, every worker a child session.
import * as vscode from 'vscode';
import type { WorkerStatus } from '../../runtime/src/core/control-protocol';
import { ArbiterProcess, ServerHandle } from './arbiter-process';
import { bundledDebugpyPath } from './invocation';

export const WORKER_DEBUG_TYPE = 'unicorn-worker';
export const LAUNCH_DEBUG_TYPE = 'unicorn';
const PYTHON_DEBUGGER_ID = 'ms-python.debugpy';

/** What the user can do about a worker without debugpy (the worker's error text, plus the fix). */
export function missingDebugpyAdvice(error: string, pythonDebuggerInstalled: boolean, bundledInServerEnv: boolean): string {
  if (!/not importable/.test(error)) return error;
  if (pythonDebuggerInstalled && !bundledInServerEnv) {
    return `${error}. The Python Debugger extension has its own copy: restart the server (Unicorn: Stop Server, then Start) and Unicorn puts it on the workers' PYTHONPATH.`;
  }
  return error;
}

/**
 * The server's own frames (the worker loop under the app: accept, parse, handle_request) are not the
 * user's code: left out of call stacks and stepping, as gunicorn's would be, wherever the worker runs from.
 */
export const WORKER_FRAMES_EXCLUDED = [
  { module: 'unicorn_worker', include: false },
  { path: '**/unicorn_worker_main.py', include: false },
];

/** The debug configuration that attaches to one worker's debugpy port. */
export function workerAttachConfig(pid: number, port: number, pythonDebugger: boolean): vscode.DebugConfiguration {
  const name = `Unicorn worker ${pid}`;
  const common = { request: 'attach', name, justMyCode: false, rules: WORKER_FRAMES_EXCLUDED };
  if (pythonDebugger) return { ...common, type: 'debugpy', connect: { host: '127.0.0.1', port }, unicornWorkerPid: pid };
  return { ...common, type: WORKER_DEBUG_TYPE, host: '127.0.0.1', port, pid };
}

/** `unicorn-worker` sessions talk DAP straight to the worker's debugpy: no adapter process. */
export class WorkerAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.DebugAdapterDescriptor {
    const { port, host } = session.configuration as { port?: unknown; host?: unknown };
    if (typeof port !== 'number') throw new Error('a unicorn-worker configuration needs "port": the port `unicorn ctl debug PID` printed');
    return new vscode.DebugAdapterServer(port, typeof host === 'string' ? host : '127.0.0.1');
  }
}

export interface Attachment {
  pid: number;
  port: number;
  session: vscode.DebugSession;
  /** True when the other workers stopped accepting so that this one gets every new connection. */
  focused: boolean;
  /** Workers that still accept although asked not to (their worker class cannot pause accepting). */
  othersAccepting: number[];
  /** Every worker that has the focus now (this one and others being debugged). */
  focus: number[];
}

export interface AttachOptions {
  /** The `unicorn` launch session whose child this one is (every worker attached: no focus then). */
  parentSession?: vscode.DebugSession;
  /** Send every new connection to this worker while it is attached (the server's focus command). */
  focus?: boolean;
}

/** Attaches debug sessions to workers, one per worker, and remembers which are attached. */
export class WorkerDebugger implements vscode.Disposable {
  private readonly sessions = new Map<number, vscode.DebugSession>();
  /** Workers given the focus at attach, by session id: it is taken off when the session ends. */
  private readonly focused = new Map<string, { server: ServerHandle; pid: number }>();
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a session starts or ends (the tree's Attach/Detach follows). */
  readonly onDidChange = this.changed.event;

  constructor() {
    this.subscriptions.push(
      this.changed,
      vscode.debug.onDidTerminateDebugSession((s) => {
        for (const [pid, session] of this.sessions) if (session.id === s.id) this.sessions.delete(pid);
        const focus = this.focused.get(s.id);
        this.focused.delete(s.id);
        // Detached: the other workers take connections again.
        if (focus?.server.running) void focus.server.control({ command: 'unfocus', pid: focus.pid }).catch(() => undefined).then(() => this.changed.fire());
        else this.changed.fire();
      }),
    );
  }

  sessionFor(pid: number): vscode.DebugSession | undefined {
    return this.sessions.get(pid);
  }

  /** Starts debugpy in the worker (through the arbiter) and a session attached to it. */
  async attach(server: ServerHandle, pid: number, folder: vscode.WorkspaceFolder | undefined, options: AttachOptions = {}): Promise<Attachment> {
    const { parentSession } = options;
    const existing = this.sessions.get(pid);
    if (existing) throw new Error(`worker ${pid} already has a debugger attached (${existing.name})`);
    let port: number;
    try {
      ({ port } = await server.control({ command: 'debug', pid }, 25000));
    } catch (e) {
      const pythonDebugger = Boolean(vscode.extensions.getExtension(PYTHON_DEBUGGER_ID));
      const bundled = bundledDebugpyPath();
      const inEnv = Boolean(bundled && server instanceof ArbiterProcess && server.invocation.env.PYTHONPATH?.includes(bundled));
      throw new Error(missingDebugpyAdvice((e as Error).message, pythonDebugger, inEnv));
    }
    const config = workerAttachConfig(pid, port, Boolean(vscode.extensions.getExtension(PYTHON_DEBUGGER_ID)));
    const started = new Promise<vscode.DebugSession>((resolve) => {
      const sub = vscode.debug.onDidStartDebugSession((s) => {
        if (s.configuration.name === config.name) {
          sub.dispose();
          resolve(s);
        }
      });
    });
    const sessionOptions: vscode.DebugSessionOptions = parentSession ? { parentSession, lifecycleManagedByParent: true, compact: true } : {};
    const ok = await vscode.debug.startDebugging(folder, config, sessionOptions);
    if (!ok) throw new Error(`could not start a debug session for worker ${pid} (port ${port})`);
    const session = await started;
    this.sessions.set(pid, session);
    let focused = false;
    let othersAccepting: number[] = [];
    let focus: number[] = [];
    if (options.focus) {
      const answer = await server.control({ command: 'focus', pid }, 10000);
      this.focused.set(session.id, { server, pid });
      // A worker class that cannot stop accepting on request keeps taking connections.
      othersAccepting = answer.accepting.filter((p) => !answer.focus.includes(p));
      focused = othersAccepting.length === 0;
      focus = answer.focus;
    }
    this.changed.fire();
    return { pid, port, session, focused, othersAccepting, focus };
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}

/**
 * The `unicorn` launch type's parent session: a small DAP adapter in the extension host. Launch
 * starts the server; every worker gets a child session (new ones too, after a reload or Add
 * Worker); disconnecting stops the server, and the children go with their parent.
 */
export class LaunchAdapter implements vscode.DebugAdapter {
  private readonly sent = new vscode.EventEmitter<vscode.DebugProtocolMessage>();
  readonly onDidSendMessage = this.sent.event;
  private seq = 1;
  private server: ArbiterProcess | undefined;
  private watch: vscode.Disposable | undefined;
  private readonly attaching = new Set<number>();

  constructor(
    private readonly session: vscode.DebugSession,
    private readonly startServer: (config: vscode.DebugConfiguration) => Promise<ArbiterProcess | undefined>,
    private readonly stopServer: (server: ArbiterProcess) => Promise<void>,
    private readonly debuggers: WorkerDebugger,
  ) {}

  handleMessage(message: vscode.DebugProtocolMessage): void {
    const req = message as { type: string; seq: number; command: string; arguments?: unknown };
    if (req.type !== 'request') return;
    void this.handle(req).catch((e: Error) => this.respond(req, false, undefined, e.message));
  }

  private async handle(req: { seq: number; command: string }): Promise<void> {
    switch (req.command) {
      case 'initialize':
        this.respond(req, true, { supportsConfigurationDoneRequest: true, supportTerminateDebuggee: true });
        this.event('initialized');
        return;
      case 'launch': {
        const server = await this.startServer(this.session.configuration);
        if (!server) throw new Error('the server did not start — see the Unicorn output');
        this.server = server;
        this.watch = server.onDidChange(() => this.onStatus());
        this.respond(req, true);
        this.onStatus();
        return;
      }
      case 'disconnect':
      case 'terminate':
        this.watch?.dispose();
        if (this.server) await this.stopServer(this.server);
        this.respond(req, true);
        this.event('terminated');
        return;
      case 'threads':
        this.respond(req, true, { threads: [] });
        return;
      default:
        this.respond(req, true);
    }
  }

  /** Attaches a child session to every booted worker that has none. */
  private onStatus(): void {
    const server = this.server;
    if (!server) return;
    if (!server.running) {
      this.watch?.dispose();
      this.event('terminated');
      return;
    }
    for (const w of server.lastStatus?.workers ?? []) {
      if (!isAttachable(w) || this.attaching.has(w.pid) || this.debuggers.sessionFor(w.pid)) continue;
      this.attaching.add(w.pid);
      this.debuggers.attach(server, w.pid, server.invocation.folder, { parentSession: this.session }).catch((e: Error) => {
        this.event('output', { category: 'stderr', output: `Unicorn: could not attach to worker ${w.pid}: ${e.message}\n` });
      });
    }
  }

  private respond(req: { seq: number; command: string }, success: boolean, body?: unknown, message?: string): void {
    this.sent.fire({ type: 'response', seq: this.seq++, request_seq: req.seq, command: req.command, success, body, message } as vscode.DebugProtocolMessage);
  }

  private event(event: string, body?: unknown): void {
    this.sent.fire({ type: 'event', seq: this.seq++, event, body } as vscode.DebugProtocolMessage);
  }

  dispose(): void {
    this.watch?.dispose();
    this.sent.dispose();
  }
}

function isAttachable(w: WorkerStatus): boolean {
  return w.state === 'idle' || w.state === 'busy';
}
