// The arbiter: owns the listening sockets and the worker processes. Signal handlers only queue;
// one loop (run) reaps dead workers, acts on the next signal, keeps the worker count and sleeps.
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Socket } from 'node:net';
import { Resolved } from './config';
import { EXIT } from './errors';
import { Listener } from './listeners';
import { Logger } from './log';
import { PYTHON_DIR } from './python';
import { SETTINGS, VERSION } from './settings';

/** A worker process as the arbiter tracks it. */
interface Worker {
  pid: number;
  id: number;
  proc: ChildProcess;
  control: Socket;
  booted: boolean;
  startedAt: number;
}

interface Exit {
  worker: Worker;
  code: number | null;
  signal: NodeJS.Signals | null;
}

type Stop = { graceful: boolean; deadline: number };

/** Signals the arbiter handles; the handler only queues the name. */
const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** Worker exits before a successful boot, in a row, that stop the server instead of respawning. */
const MAX_BOOT_CRASHES = 5;

export class Arbiter {
  private readonly workers = new Map<number, Worker>();
  private readonly signalQueue: NodeJS.Signals[] = [];
  private readonly exits: Exit[] = [];
  private wake: () => void = () => undefined;
  private stopping: Stop | undefined;
  private exitCode: number = EXIT.OK;
  private haltReason: string | undefined;
  private workerCount: number;
  private nextId = 1;
  private bootCrashes = 0;
  private readonly settings: Record<string, unknown>;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();

  constructor(
    private readonly config: Resolved,
    private readonly listeners: Listener[],
    private readonly log: Logger,
  ) {
    this.settings = config.settings;
    this.workerCount = this.settings.workers as number;
  }

  /** Runs until the server stops; resolves to the process exit code. */
  async run(): Promise<number> {
    this.installSignals();
    const name = (this.settings.proc_name as string | null) ?? this.config.app ?? 'unicorn';
    process.title = `unicorn: master [${name}]`;
    this.writePidfile();
    this.log.info(`Starting unicorn ${VERSION}`);
    for (const l of this.listeners) this.log.info(`Listening at: ${l.url} (${process.pid})`);
    this.log.info(`Using worker: ${this.settings.worker_class}`);
    try {
      for (;;) {
        this.reap();
        const signal = this.signalQueue.shift();
        if (signal) this.handleSignal(signal);
        if (this.stopping) {
          if (this.workers.size === 0) break;
          if (Date.now() >= this.stopping.deadline) this.killAll('SIGKILL');
        } else {
          this.manageWorkers();
        }
        if (!this.signalQueue.length && !this.exits.length) await this.sleep(this.stopping ? 100 : 1000);
      }
    } finally {
      this.cleanup();
    }
    this.log.info('Shutting down: Master');
    if (this.haltReason) this.log.info(`Reason: ${this.haltReason}`);
    return this.exitCode;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private installSignals(): void {
    for (const sig of SIGNALS) {
      const handler = () => {
        this.signalQueue.push(sig);
        this.wake();
      };
      this.handlers.set(sig, handler);
      process.on(sig, handler);
    }
  }

  private handleSignal(signal: NodeJS.Signals): void {
    const short = signal.slice(3).toLowerCase();
    this.log.info(`Handling signal: ${short}`);
    switch (signal) {
      case 'SIGTERM':
        this.stop(true);
        break;
      case 'SIGINT':
      case 'SIGQUIT':
        this.stop(false);
        break;
      case 'SIGTTIN':
        this.workerCount += 1;
        break;
      case 'SIGTTOU':
        this.workerCount = Math.max(1, this.workerCount - 1);
        break;
      case 'SIGUSR1':
        this.log.reopen();
        break;
      default:
        this.log.warning(`SIG${short.toUpperCase()} is not supported yet; ignored`);
    }
  }

  /** Begins stopping: TERM lets workers finish within graceful_timeout, INT/QUIT ends them now. */
  private stop(graceful: boolean): void {
    if (this.stopping && (!graceful || !this.stopping.graceful)) {
      if (!graceful && this.stopping.graceful) this.stopping.graceful = false;
      else return;
    }
    const seconds = graceful ? (this.settings.graceful_timeout as number) : Math.min(this.settings.graceful_timeout as number, 5);
    this.stopping = { graceful, deadline: Date.now() + seconds * 1000 };
    this.killAll(graceful ? 'SIGTERM' : 'SIGQUIT');
  }

  /** Stops the server because it cannot run (the app does not load, workers do not boot). */
  private halt(code: number, reason: string): void {
    if (this.haltReason) return;
    this.haltReason = reason;
    this.exitCode = code;
    this.stop(false);
  }

  private killAll(signal: NodeJS.Signals): void {
    for (const w of this.workers.values()) this.kill(w, signal);
  }

  private kill(worker: Worker, signal: NodeJS.Signals): void {
    try {
      process.kill(worker.pid, signal);
    } catch {
      /* already exited; reap will see it */
    }
  }

  private reap(): void {
    for (let exit = this.exits.shift(); exit; exit = this.exits.shift()) {
      const { worker, code, signal } = exit;
      this.workers.delete(worker.pid);
      worker.control.destroy();
      if (code === EXIT.APP_LOAD) {
        this.halt(EXIT.APP_LOAD, 'App failed to load.');
        continue;
      }
      if (code === EXIT.WORKER_BOOT) {
        this.halt(EXIT.WORKER_BOOT, 'Worker failed to boot.');
        continue;
      }
      if (signal && !this.stopping) this.log.warning(`Worker (pid:${worker.pid}) was sent ${signal}!`);
      else if (code && !this.stopping) this.log.error(`Worker (pid:${worker.pid}) exited with code ${code}`);
      if (!worker.booted && !this.stopping && (code || signal)) {
        this.bootCrashes += 1;
        if (this.bootCrashes >= MAX_BOOT_CRASHES) {
          this.halt(EXIT.WORKER_BOOT, `Worker failed to boot: ${this.bootCrashes} workers in a row died before they were ready.`);
        }
      }
    }
  }

  private manageWorkers(): void {
    while (this.workers.size < this.workerCount) this.spawnWorker();
    if (this.workers.size > this.workerCount) {
      // The oldest workers go first, as in gunicorn.
      const excess = [...this.workers.values()].sort((a, b) => a.id - b.id).slice(0, this.workers.size - this.workerCount);
      for (const w of excess) this.kill(w, 'SIGTERM');
    }
  }

  private workerSettings(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const s of SETTINGS) if (s.side === 'worker' && !s.unsupported) out[s.name] = this.settings[s.name];
    Object.assign(out, {
      chdir: this.config.chdir,
      pythonpath: this.config.pythonpath,
      accesslog: this.settings.accesslog,
      errorlog: this.settings.errorlog,
      loglevel: this.settings.loglevel,
      proc_name: this.settings.proc_name,
      graceful_timeout: this.settings.graceful_timeout,
    });
    const max = this.settings.max_requests as number;
    const jitter = this.settings.max_requests_jitter as number;
    out.max_requests = max > 0 ? max + Math.floor(Math.random() * (jitter + 1)) : 0;
    return out;
  }

  private spawnWorker(): void {
    const id = this.nextId++;
    const controlFd = 3 + this.listeners.length;
    const proc = spawn(this.config.python, [path.join(PYTHON_DIR, 'unicorn_worker_main.py'), '--control-fd', String(controlFd)], {
      cwd: this.config.chdir,
      env: { ...process.env, ...this.config.workerEnv, SERVER_SOFTWARE: `unicorn/${VERSION}` },
      stdio: ['ignore', 'inherit', 'inherit', ...this.listeners.map((l) => l.fd), 'pipe'],
    });
    const control = proc.stdio[controlFd] as Socket;
    if (proc.pid === undefined) {
      // spawn failed outright (the interpreter vanished since start-up); 'error' has the reason.
      proc.once('error', (e) => this.log.error(`cannot start worker with ${this.config.python}: ${e.message}`));
      control?.destroy();
      this.halt(EXIT.WORKER_BOOT, `Worker failed to boot: cannot run ${this.config.python}.`);
      return;
    }
    const worker: Worker = { pid: proc.pid, id, proc, control, booted: false, startedAt: Date.now() };
    this.workers.set(proc.pid, worker);
    this.log.info(`Booting worker with pid: ${proc.pid}`);
    proc.on('exit', (code, signal) => {
      this.exits.push({ worker, code, signal });
      this.wake();
    });
    proc.on('error', () => undefined); // exit follows
    let buffered = '';
    control.setEncoding('utf8');
    control.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.onWorkerMessage(worker, line);
      }
    });
    control.on('error', () => undefined); // a worker that dies mid-write is reaped, not fatal
    control.write(
      JSON.stringify({
        worker_id: id,
        ppid: process.pid,
        app: this.config.app,
        listeners: this.listeners.map((l, i) => ({
          fd: 3 + i,
          kind: l.address.kind,
          host: l.host,
          port: l.port,
          path: l.address.kind === 'unix' ? l.address.path : undefined,
          url: l.url,
        })),
        settings: this.workerSettings(),
      }) + '\n',
    );
  }

  private onWorkerMessage(worker: Worker, line: string): void {
    let msg: { event?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      this.log.warning(`worker ${worker.pid} sent an unreadable control message: ${line.slice(0, 200)}`);
      return;
    }
    if (msg.event === 'booted') {
      worker.booted = true;
      this.bootCrashes = 0;
    }
  }

  private writePidfile(): void {
    const file = this.settings.pidfile as string | null;
    if (file) fs.writeFileSync(file, `${process.pid}\n`);
  }

  private cleanup(): void {
    for (const [sig, handler] of this.handlers) process.off(sig, handler);
    const file = this.settings.pidfile as string | null;
    if (file) {
      try {
        if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
      } catch {
        /* already gone */
      }
    }
  }
}
