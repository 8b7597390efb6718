// Server hooks from the config file. Master-side hooks run in a Python process kept beside the
// arbiter (runtime/python/unicorn_hooks.py), called one at a time; worker-side hooks run in the workers.
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Resolved } from './config';
import { PYTHON_DIR } from './python';
import { MASTER_HOOKS } from './core/settings';

export type MasterHook = (typeof MASTER_HOOKS)[number];

export interface HookServer {
  cfg: Record<string, unknown>;
  num_workers: number;
  proc_name: string | null;
  address: string[];
  workers: Array<{ pid: number; age: number; booted: boolean }>;
}

export interface HookWorker {
  pid: number | null;
  age: number;
  booted?: boolean;
}

/** A hook raised: the Python traceback, for the error log. */
export class HookError extends Error {
  constructor(
    readonly hook: string,
    readonly traceback: string,
  ) {
    super(`Exception in ${hook} hook:\n${traceback}`);
  }
}

export class HookHost {
  private proc: ChildProcess | undefined;
  private nextId = 1;
  private buffered = '';
  private readonly pending = new Map<number, (answer: { ok?: boolean; error?: string }) => void>();
  private exited = false;

  private constructor(readonly defined: Set<string>) {}

  /** Starts the host when the config file defines any master-side hook; otherwise every call is a no-op. */
  static async start(opts: {
    python: string;
    configFile: string | null;
    callables: string[];
    errorlog: string;
    loglevel: string;
    env: NodeJS.ProcessEnv;
    cwd: string;
  }): Promise<HookHost> {
    const defined = new Set(opts.callables.filter((c) => (MASTER_HOOKS as readonly string[]).includes(c)));
    const host = new HookHost(defined);
    if (!defined.size || !opts.configFile) return host;
    const proc = spawn(
      opts.python,
      [path.join(PYTHON_DIR, 'unicorn_hooks.py'), opts.configFile, opts.errorlog, opts.loglevel, String(process.pid)],
      { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'ignore', 'inherit', 'pipe'] },
    );
    host.proc = proc;
    proc.on('exit', () => {
      host.exited = true;
      for (const waiter of host.pending.values()) waiter({ error: 'the hook process exited' });
      host.pending.clear();
    });
    proc.on('error', () => undefined);
    const answers = proc.stdio[3] as Readable;
    answers.setEncoding('utf8');
    answers.on('data', (chunk: string) => host.onData(chunk));
    // The host answers id 0 once the config file has been loaded.
    const ready = await new Promise<{ ok?: boolean; error?: string }>((resolve) => host.pending.set(0, resolve));
    if (ready.error) throw new HookError('config', ready.error);
    return host;
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const answer = JSON.parse(this.buffered.slice(0, nl)) as { id: number; ok?: boolean; error?: string };
      this.buffered = this.buffered.slice(nl + 1);
      this.pending.get(answer.id)?.(answer);
      this.pending.delete(answer.id);
    }
  }

  has(hook: MasterHook): boolean {
    return this.defined.has(hook);
  }

  /** Calls a hook and waits for it; throws HookError when it raised. A hook that is not defined is skipped. */
  async call(hook: MasterHook, server: HookServer, worker?: HookWorker, args: unknown[] = []): Promise<void> {
    if (!this.has(hook) || !this.proc || this.exited) return;
    const id = this.nextId++;
    const answer = await new Promise<{ ok?: boolean; error?: string }>((resolve) => {
      this.pending.set(id, resolve);
      this.proc!.stdin!.write(JSON.stringify({ id, hook, server, worker, args }) + '\n');
    });
    if (answer.error) throw new HookError(hook, answer.error);
  }

  close(): void {
    this.proc?.stdin?.end();
  }
}

/** The hook host for a resolved configuration (a no-op host when its config file defines no master hook). */
export function startHooks(config: Resolved, origin: { env: NodeJS.ProcessEnv; cwd: string }): Promise<HookHost> {
  return HookHost.start({
    python: config.python,
    configFile: config.configFile,
    callables: config.hooks,
    errorlog: config.settings.errorlog as string,
    loglevel: config.settings.loglevel as string,
    env: { ...origin.env, ...config.workerEnv },
    cwd: origin.cwd,
  });
}
