// preload_app: the arbiter's handle on a Python process that imported the app once and forks workers
// from it (runtime/python/unicorn_worker/zygote.py), and the Unix socket those workers report on.
import { ChildProcess, StdioOptions, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PYTHON_DIR } from './python';
import { serverFileName } from './scoreboard';

export interface ZygoteExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Why a zygote could not get ready: its exit code (4: the app did not import, 3: it could not boot). */
export class ZygoteFailed extends Error {
  constructor(readonly code: number | null) {
    super(`the preloading process exited (${code}) before the app was ready`);
  }
}

export class Zygote {
  readonly proc: ChildProcess;
  private buffered = '';
  private readonly spawnWaiters = new Map<number, (pid: number) => void>();
  readonly ready: Promise<void>;
  exited = false;

  constructor(opts: {
    python: string;
    cwd: string;
    env: NodeJS.ProcessEnv;
    stdio: StdioOptions;
    controlFd: number;
    config: object;
    onWorkerExit: (exit: ZygoteExit) => void;
  }) {
    this.proc = spawn(opts.python, [path.join(PYTHON_DIR, 'unicorn_worker_main.py'), '--zygote', '--control-fd', String(opts.controlFd)], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: opts.stdio,
    });
    const control = this.proc.stdio[opts.controlFd] as net.Socket;
    let markReady: () => void = () => undefined;
    let fail: (e: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      fail = reject;
    });
    this.ready.catch(() => undefined); // observed by whoever awaits it
    this.proc.on('error', () => undefined);
    this.proc.on('exit', (code) => {
      this.exited = true;
      fail(new ZygoteFailed(code));
      for (const waiter of this.spawnWaiters.values()) waiter(0);
      this.spawnWaiters.clear();
    });
    control.setEncoding('utf8');
    control.on('error', () => undefined);
    control.on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const msg = JSON.parse(this.buffered.slice(0, nl)) as { event: string; worker_id?: number; pid?: number; code?: number | null; signal?: string | null };
        this.buffered = this.buffered.slice(nl + 1);
        if (msg.event === 'ready') markReady();
        else if (msg.event === 'spawned') {
          this.spawnWaiters.get(msg.worker_id!)?.(msg.pid!);
          this.spawnWaiters.delete(msg.worker_id!);
        } else if (msg.event === 'exit') {
          opts.onWorkerExit({ pid: msg.pid!, code: msg.code ?? null, signal: (msg.signal ?? null) as NodeJS.Signals | null });
        }
      }
    });
    control.write(JSON.stringify(opts.config) + '\n');
    this.control = control;
  }

  private readonly control: net.Socket;

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /**
   * Forks a worker; resolves to its pid (0 when the zygote died first). `onSpawned` runs as soon as
   * the report is read, before any later line of the zygote (such as that worker's exit) is handled.
   */
  spawn(worker: { worker_id: number } & Record<string, unknown>, socketPath: string, onSpawned: (pid: number) => void): Promise<number> {
    return new Promise((resolve) => {
      if (this.exited) return resolve(0);
      this.spawnWaiters.set(worker.worker_id, (pid) => {
        if (pid) onSpawned(pid);
        resolve(pid);
      });
      this.control.write(JSON.stringify({ command: 'spawn', worker, socket: socketPath }) + '\n');
    });
  }

  stop(): void {
    if (!this.exited) this.proc.kill('SIGTERM');
  }
}

/**
 * The socket workers forked by a zygote connect to: their first line says which worker they are,
 * and the connection is their control channel from then on (mode 0600, beside the scoreboard).
 */
export class WorkerSocket {
  private readonly server: net.Server;

  private constructor(
    readonly path: string,
    server: net.Server,
  ) {
    this.server = server;
  }

  static async listen(dir: string, onHello: (workerId: number, pid: number, conn: net.Socket, rest: string) => void): Promise<WorkerSocket> {
    const socketPath = path.join(dir, serverFileName('workers.sock'));
    const server = net.createServer((conn) => {
      let buf = '';
      conn.setEncoding('utf8');
      conn.on('error', () => undefined);
      const onData = (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        conn.off('data', onData);
        conn.pause(); // a held hello's later lines (its "booted") wait in the stream, not dropped, until attached
        try {
          const hello = JSON.parse(buf.slice(0, nl)) as { worker_id: number; pid: number };
          onHello(hello.worker_id, hello.pid, conn, buf.slice(nl + 1));
        } catch {
          conn.destroy();
        }
      };
      conn.on('data', onData);
    });
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => resolve());
      });
    } finally {
      process.umask(old);
    }
    server.unref();
    return new WorkerSocket(socketPath, server);
  }

  close(): void {
    this.server.close();
    try {
      fs.unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}
