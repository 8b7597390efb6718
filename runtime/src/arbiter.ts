// The arbiter: owns the listening sockets and the worker processes. Signal handlers and control
// requests (arbiter-control.ts) only queue work; one loop (run) reaps dead workers, acts on the next
// queued signal or request, murders lazy workers, keeps the worker count and sleeps until woken —
// unicorn's `join` loop.
import { ChildProcess, StdioOptions, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Socket } from 'node:net';
import { CliName } from './core/args';
import { Resolved, resolveInvocation } from './config';
import { controlHandler } from './arbiter-control';
import { ControlServer } from './control';
import {
  Counters, FocusResult, MetricsSnapshot, RESTART_REASONS, RestartReason, ServerStatus, WorkerStatus, controlSocketPath,
} from './core/control-protocol';
import { CliError, EXIT } from './core/errors';
import { HookError, HookHost, HookServer, HookWorker, MasterHook, startHooks } from './hooks';
import { findings } from './core/kernel';
import { logFindings, machineLimits } from './kernel-probe';
import { Reloader } from './reloader';
import { parseAddress } from './core/address';
import { Listener, bindForSettings, closeAll, inheritable, releaseDescriptors } from './listeners';
import { Level, Logger } from './log';
import { arbiterLogSpec } from './logconfig';
import { SystemdNotifier } from './sdnotify';
import { SockDiagProbe, isAlive, rssBytes, socketInode } from './procinfo';
import { removePidfile, writePidfile } from './pidfile';
import { PYTHON_DIR } from './python';
import { MetricsServer, renderMetrics } from './metrics';
import { Scoreboard, Slot, addCounters, emptyCounters, removeStaleFiles } from './scoreboard';
import { SignalQueue } from './signals';
import { reportWorkers } from './statsd';
import { WorkerSocket, Zygote, ZygoteFailed } from './zygote';
import { VERSION, WORKER_HOOKS, effectiveWorkerClass, workerSettingNames } from './core/settings';

/** A worker process as the arbiter tracks it. */
interface Worker {
  pid: number;
  id: number;
  slot: number;
  /** Workers of an older generation are being replaced by a reload. */
  generation: number;
  /** The process when the arbiter spawned it; a preloaded worker is the zygote's child instead. */
  proc?: ChildProcess;
  zygote?: Zygote;
  /** The control channel; for a preloaded worker, once it has connected to the worker socket. */
  control?: Socket;
  /** Messages waiting for the control channel. */
  outbox: string[];
  exitReported?: boolean;
  booted: boolean;
  startedAt: number;
  /** Set once the arbiter asked it to stop (graceful or not). */
  stopping: boolean;
  /** Why it was asked to stop, when that makes it a restart (a reload replaces it). */
  retiredFor?: RestartReason;
  abortedAt?: number;
  sparedLogged?: boolean;
  debugWaiters: Array<(answer: { port?: number; error?: string }) => void>;
  /** What the worker last confirmed: it takes new connections (false while another worker has the focus). */
  accepting?: boolean;
  /** What the arbiter last asked of it ("accept" on/off), and whether the worker has yet to confirm it. */
  acceptRequested?: boolean;
  acceptUnconfirmed?: boolean;
  /** Resolved once the worker confirms the state last requested (or exits). */
  acceptWaiters?: Array<() => void>;
}

interface Exit {
  worker: Worker;
  code: number | null;
  signal: NodeJS.Signals | null;
}

type Stop = { graceful: boolean; deadline: number };

/** What a reload (HUP) needs to read the configuration again exactly as at start. */
export interface Origin {
  name: CliName;
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Set in a master started by USR2: the old master's pid, until it exits and we are promoted. */
  parentMasterPid: number;
}

/** A reload in progress: the new generation boots before the old one is told to stop. */
interface Reload {
  generation: number;
  previous: { config: Resolved; listeners: Listener[]; workerCount: number; hooks: HookHost; zygote: Zygote | undefined };
}

/** Worker exits before a successful boot, in a row, that stop the server instead of respawning. */
const MAX_BOOT_CRASHES = 5;
/** After SIGABRT (stack dump), how long a timed-out worker has before SIGKILL. */
const ABORT_GRACE_MS = 1000;

type Job = { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'call'; run: () => void | Promise<void> };

export class Arbiter {
  private readonly workers = new Map<number, Worker>();
  private readonly queue: Job[] = [];
  private readonly exits: Exit[] = [];
  private wake: () => void = () => undefined;
  private stopping: Stop | undefined;
  private exitCode: number = EXIT.OK;
  private haltReason: string | undefined;
  private workerCount: number;
  private nextId = 1;
  private generation = 1;
  private reloading: Reload | undefined;
  /** Workers being debugged that get every new connection: the others stop accepting until this is empty. */
  private readonly focus = new Set<number>();
  private reloadQueued = false;
  /** Generations of reloads that failed: their remaining workers are stopped and their exits ignored. */
  private readonly abandoned = new Set<number>();
  private bootCrashes = 0;
  private lastLoopAt = Date.now();
  /** How long the loop last asked to sleep: a turn that comes much later than that was suspended. */
  private sleptFor = 0;
  private reexecPid = 0;
  /** The worker count nworkers_changed last reported (null before the first report, as in gunicorn). */
  private reportedCount: number | null = null;
  private readonly startedAt = Date.now();
  private readonly scoreboard: Scoreboard;
  private zygote: Zygote | undefined;
  private readonly zygotes = new Set<Zygote>();
  private workerSocket: WorkerSocket | undefined;
  /** Preloaded workers' ids whose hello we expect: null until the zygote reports the pid. */
  private readonly awaitedHellos = new Map<number, Worker | null>();
  /** Hellos that came before the zygote's spawn report, by worker id. */
  private readonly heldHellos = new Map<number, { pid: number; conn: Socket; rest: string }>();
  private reloader: Reloader | undefined;
  private control: ControlServer | undefined;
  private pidfile: string | null = null;
  private metrics: MetricsServer | undefined;
  /** The per-request counters of workers that have exited (the live ones are read from their slots). */
  private readonly retired: Counters = emptyCounters();
  private readonly restarts = Object.fromEntries(RESTART_REASONS.map((r) => [r, 0])) as Record<RestartReason, number>;
  /** Socket inodes of the TCP listeners, learned while the arbiter still holds them (for their listen queues). */
  private readonly listenerInodes = new Map<string, number>();
  private sockDiag: SockDiagProbe | undefined;
  private notifier: SystemdNotifier | undefined;
  /** Set by TERM under shutdown_delay: serving goes on, /readyz says 503, until the stop begins. */
  private shuttingDown = false;

  constructor(
    private config: Resolved,
    private listeners: Listener[],
    private readonly log: Logger,
    private readonly origin: Origin,
    private hooks: HookHost,
    /** Installed before the first hook ran: signals that came since then are waiting in it. */
    private readonly signals: SignalQueue,
  ) {
    this.workerCount = this.settings.workers as number;
    this.scoreboard = new Scoreboard((this.settings.worker_tmp_dir as string | null) ?? undefined);
  }

  private get settings(): Record<string, unknown> {
    return this.config.settings;
  }

  private get masterName(): string {
    return this.origin.parentMasterPid ? 'Master.2' : 'Master';
  }

  /** Runs until the server stops; resolves to the process exit code. */
  async run(): Promise<number> {
    this.installSignals();
    this.setTitle();
    this.writePidfile();
    this.log.info(`Starting unicorn ${VERSION}`);
    for (const l of this.listeners) this.log.info(`Listening at: ${l.url} (${process.pid})`);
    this.log.info(`Using worker: ${effectiveWorkerClass(this.settings)}`);
    for (const name of removeStaleFiles(this.scoreboard.dir)) this.log.info(`Removed ${path.join(this.scoreboard.dir, name)}: its server is gone`);
    try {
      logFindings(this.log, findings(machineLimits(this.origin.env), this.settings));
      if (!this.settings.control_socket_disable) await this.startControl();
      await this.startMetrics();
      this.startReloader();
      await this.runHook('when_ready', 'halt');
      this.notifier = new SystemdNotifier(this.origin.env, this.config.python, (m) => this.log.warning(m));
      for (;;) {
        await this.reap();
        const job = this.queue.shift();
        if (job?.kind === 'signal') await this.handleSignal(job.signal);
        else if (job) await job.run();
        this.notifySystemd();
        if (this.stopping) {
          if (this.workers.size === 0) {
            for (const z of this.zygotes) z.stop();
            break;
          }
          if (Date.now() >= this.stopping.deadline) this.killAll('SIGKILL');
        } else {
          this.maybePromote();
          await this.murderLazyWorkers();
          await this.reportWorkerCount();
          await this.manageWorkers();
          this.advanceReload();
          this.retireZygotes();
        }
        this.lastLoopAt = Date.now();
        const busy = this.stopping || [...this.workers.values()].some((w) => w.abortedAt);
        this.sleptFor = 0;
        if (!this.queue.length && !this.exits.length) await this.sleep((this.sleptFor = busy ? 100 : 1000));
      }
    } finally {
      this.cleanup();
    }
    this.log.info(`Shutting down: ${this.masterName}`);
    if (this.haltReason) this.log.info(`Reason: ${this.haltReason}`);
    await this.runHook('on_exit', 'log');
    this.hooks.close();
    return this.exitCode;
  }

  // --- --reload -----------------------------------------------------------------------------------

  /** Under --reload, a changed source file reloads the workers as HUP does (old ones serve until the new boot). */
  private startReloader(): void {
    this.reloader?.close();
    this.reloader = undefined;
    if (!this.settings.reload) return;
    this.reloader = new Reloader(this.settings.reload_engine as 'auto' | 'poll' | 'inotify', (file) =>
      this.enqueue({
        kind: 'call',
        run: async () => {
          this.log.info(`Worker reloading: ${file} modified`);
          await this.reload();
        },
      }),
    );
    this.reloader.watch(this.settings.reload_extra_files as string[]);
  }

  // --- server hooks ---------------------------------------------------------------------------

  /** What the `server` argument of a master-side hook sees. */
  private hookServer(): HookServer {
    return {
      cfg: { ...this.settings, wsgi_app: this.config.app, python: this.config.python },
      num_workers: this.workerCount,
      proc_name: (this.settings.proc_name as string | null) ?? this.config.app,
      address: this.listeners.map((l) => l.url),
      workers: [...this.workers.values()].map((w) => ({ pid: w.pid, age: w.id, booted: w.booted })),
    };
  }

  /**
   * Calls a master-side hook. A hook that raises is logged with its traceback; 'halt' stops the server
   * (where gunicorn stops too: when_ready, pre_fork), 'log' carries on. Resolves false when it raised.
   */
  private async runHook(hook: MasterHook, onError: 'halt' | 'log', worker?: HookWorker, args: unknown[] = []): Promise<boolean> {
    try {
      await this.hooks.call(hook, this.hookServer(), worker, args);
      return true;
    } catch (e) {
      if (!(e instanceof HookError)) throw e;
      this.log.error(e.message);
      if (onError === 'halt') this.halt(EXIT.FAILURE, `The ${hook} hook raised an exception.`);
      return false;
    }
  }

  /** nworkers_changed(server, new, old) once per change of the target count, from the loop. */
  private async reportWorkerCount(): Promise<void> {
    reportWorkers(this.settings, this.workers.size); // statsd's gunicorn.workers gauge, when it changed
    if (this.workerCount === this.reportedCount) return;
    const old = this.reportedCount;
    this.reportedCount = this.workerCount;
    await this.runHook('nworkers_changed', 'log', undefined, [this.workerCount, old]);
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

  private enqueue(job: Job): void {
    this.queue.push(job);
    this.wake();
  }

  private installSignals(): void {
    this.signals.attach((signal) => this.enqueue({ kind: 'signal', signal }));
  }

  private async handleSignal(signal: NodeJS.Signals): Promise<void> {
    const short = signal.slice(3).toLowerCase();
    if (signal === 'SIGHUP') this.log.info(`Hang up: ${this.masterName}`);
    else this.log.info(`Handling signal: ${short}`);
    switch (signal) {
      case 'SIGTERM':
        return this.terminate();
      case 'SIGINT':
      case 'SIGQUIT':
        return this.stop(false);
      case 'SIGHUP':
        return this.reload();
      case 'SIGTTIN':
        return this.setWorkerCount(this.workerCount + 1);
      case 'SIGTTOU':
        return this.setWorkerCount(this.workerCount - 1);
      case 'SIGUSR1':
        this.log.reopen();
        this.log.info('Reopened the log files; asking the workers to do the same');
        return this.killAll('SIGUSR1');
      case 'SIGUSR2':
        return this.reexec();
      case 'SIGWINCH':
        return this.winch();
    }
  }

  private setWorkerCount(n: number): void {
    const next = Math.max(1, n);
    if (next !== this.workerCount) this.log.info(`Number of workers: ${this.workerCount} -> ${next}`);
    this.workerCount = next;
  }

  /**
   * WINCH stops the workers gracefully but keeps the master (the USR2 upgrade and its rollback use
   * it). A terminal sends WINCH on every resize, so it is ignored while we have a terminal.
   */
  private winch(): void {
    const onTerminal = process.stdin.isTTY || process.stdout.isTTY || process.stderr.isTTY;
    if (onTerminal && !this.reexecPid && !this.settings.daemon) {
      this.log.debug('SIGWINCH ignored: attached to a terminal (resizes send it)');
      return;
    }
    this.log.info('graceful stop of workers');
    this.workerCount = 0;
    for (const w of this.workers.values()) this.stopWorker(w, 'SIGTERM');
  }

  /** TERM: under shutdown_delay, first go on serving while /readyz says 503; a second TERM stops at once. */
  private terminate(): void {
    const delay = this.settings.shutdown_delay as number;
    if (!delay || this.shuttingDown || this.stopping) return this.stop(true);
    this.shuttingDown = true;
    this.log.info(`Shutdown delay: serving ${delay} s more while /readyz answers 503`);
    setTimeout(() => this.enqueue({ kind: 'call', run: () => this.stop(true) }), delay * 1000).unref();
  }

  /** Begins stopping: TERM lets workers finish within graceful_timeout, INT/QUIT ends them now. */
  private stop(graceful: boolean): void {
    if (this.stopping && (graceful || !this.stopping.graceful)) return;
    const seconds = graceful ? (this.settings.graceful_timeout as number) : Math.min(this.settings.graceful_timeout as number, 5);
    this.stopping = { graceful, deadline: Date.now() + seconds * 1000 };
    this.control?.close();
    this.control = undefined;
    for (const w of this.workers.values()) this.stopWorker(w, graceful ? 'SIGTERM' : 'SIGQUIT');
    // The workers now hold the last descriptors of the listeners, and each closes its own once it has
    // served what waits in the queue: nothing queued is reset by our exit (README "Stopping").
    if (graceful) releaseDescriptors(this.listeners, true);
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

  private stopWorker(worker: Worker, signal: NodeJS.Signals): void {
    worker.stopping = true;
    this.kill(worker, signal);
  }

  // --- reaping ------------------------------------------------------------------------------

  private async reap(): Promise<void> {
    for (let exit = this.exits.shift(); exit; exit = this.exits.shift()) {
      const { worker, code, signal } = exit;
      this.countExit(worker, code, signal);
      // Only this worker's own entry: under --preload the zygote may already have forked a new worker
      // with the same (reused) pid, and its spawn report is read before this queued exit is reaped.
      if (this.workers.get(worker.pid) === worker) this.workers.delete(worker.pid);
      this.scoreboard.release(worker.slot);
      worker.control?.destroy();
      this.forgetHello(worker.id);
      await this.runHook('child_exit', 'log', { pid: worker.pid, age: worker.id, booted: worker.booted });
      for (const waiter of worker.debugWaiters.splice(0)) waiter({ error: `worker ${worker.pid} exited` });
      for (const waiter of worker.acceptWaiters?.splice(0) ?? []) waiter();
      if (this.focus.delete(worker.pid)) void this.applyFocus();
      // Workers of an abandoned reload are on their way out; how they end changes nothing.
      if (this.abandoned.has(worker.generation)) continue;
      const bootFailure = code === EXIT.APP_LOAD || code === EXIT.WORKER_BOOT;
      if (bootFailure && this.reloading && worker.generation === this.reloading.generation) {
        this.abortReload(code === EXIT.APP_LOAD ? 'the app failed to load in the new workers' : 'the new workers failed to boot');
        continue;
      }
      if (code === EXIT.APP_LOAD) {
        this.halt(EXIT.APP_LOAD, 'App failed to load.');
        continue;
      }
      if (code === EXIT.WORKER_BOOT) {
        this.halt(EXIT.WORKER_BOOT, 'Worker failed to boot.');
        continue;
      }
      if (signal && !worker.stopping) this.log.warning(`Worker (pid:${worker.pid}) was sent ${signal}!`);
      else if (signal === 'SIGKILL') this.log.warning(`Worker (pid:${worker.pid}) was sent SIGKILL!`);
      else if (code && !worker.stopping) this.log.error(`Worker (pid:${worker.pid}) exited with code ${code}`);
      if (!worker.booted && !worker.stopping && (code || signal)) {
        this.bootCrashes += 1;
        if (this.bootCrashes >= MAX_BOOT_CRASHES) {
          this.halt(EXIT.WORKER_BOOT, `Worker failed to boot: ${this.bootCrashes} workers in a row died before they were ready.`);
        }
      }
    }
  }

  /** Keeps a dead worker's counters in the totals (before its slot is reused) and counts the restart. */
  private countExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    const slot = this.scoreboard.read().get(worker.slot);
    if (slot && slot.pid === worker.pid) addCounters(this.retired, slot.counters);
    if (this.stopping || this.abandoned.has(worker.generation)) return;
    const reason: RestartReason | undefined = worker.abortedAt
      ? 'timeout'
      : worker.retiredFor ?? (worker.stopping ? undefined : signal || code ? 'crash' : 'max_requests');
    if (reason) this.restarts[reason] += 1;
  }

  // --- the watchdog ----------------------------------------------------------------------------

  /**
   * Kills workers whose heartbeat is older than `timeout`: SIGABRT first (the worker writes every
   * thread's stack to the error log), SIGKILL after a short grace. Never a worker a debugger is
   * attached to, and not in the round after the arbiter itself was suspended.
   */
  private async murderLazyWorkers(): Promise<void> {
    const timeout = this.settings.timeout as number;
    if (!timeout) return;
    const now = Date.now();
    // The arbiter (and with it, usually, the workers) was suspended when this turn comes later than the
    // loop's own sleep explains: heartbeats are stale for everyone, so skip a round. The slack is at most
    // half the timeout, so a timeout shorter than the loop's 1 s tick still fires.
    if (now - this.lastLoopAt - this.sleptFor > Math.min(1000, timeout * 500)) return;
    const slots = this.scoreboard.read();
    const silent: Worker[] = [];
    for (const w of this.workers.values()) {
      if (w.abortedAt) {
        if (now - w.abortedAt >= ABORT_GRACE_MS) this.kill(w, 'SIGKILL');
        continue;
      }
      const slot = slots.get(w.slot);
      const heartbeat = slot && slot.pid === w.pid && slot.heartbeat ? slot.heartbeat * 1000 : w.startedAt;
      if (now - heartbeat > timeout * 1000) silent.push(w);
    }
    if (!silent.length) return;
    // Only for workers already silent too long: one kernel query, whatever their number.
    const attached = await this.attachedDebugPorts(slots, silent);
    for (const w of silent) {
      if (!this.workers.has(w.pid) || w.abortedAt) continue; // gone or handled while the kernel answered
      const port = slots.get(w.slot)?.debugPort;
      if (port && attached.has(port)) {
        if (!w.sparedLogged) {
          this.log.info(`Worker (pid:${w.pid}) is silent for over ${timeout}s but a debugger is attached: not killing it`);
          w.sparedLogged = true;
        }
        continue;
      }
      this.log.critical(`WORKER TIMEOUT (pid:${w.pid})`);
      w.abortedAt = Date.now();
      this.kill(w, 'SIGABRT');
    }
  }

  // --- the worker count and reloads -------------------------------------------------------------

  private current(): Worker[] {
    return [...this.workers.values()].filter((w) => w.generation === this.generation && !w.stopping);
  }

  private async manageWorkers(): Promise<void> {
    // Spawning awaits (hooks, a preloading process): re-check after each, and stop when the
    // generation changed (a reload began or was abandoned) or a spawn failed.
    const generation = this.generation;
    while (!this.stopping && this.generation === generation && this.current().length < this.workerCount) {
      if (!(await this.spawnWorker())) break;
    }
    const current = this.current();
    if (current.length > this.workerCount) {
      // The oldest workers go first, as in gunicorn; those being debugged (focused) last.
      const order = (w: Worker) => (this.focus.has(w.pid) ? 1 : 0);
      for (const w of current.sort((a, b) => order(a) - order(b) || a.id - b.id).slice(0, current.length - this.workerCount)) this.stopWorker(w, 'SIGTERM');
    }
  }

  /** HUP: read the configuration again and replace the workers; a bad config keeps the old ones. */
  private async reload(): Promise<void> {
    if (this.reloading) {
      // Once this one has finished (or failed), read everything again: the latest change must win.
      this.log.info('A reload is in progress; another one follows it');
      this.reloadQueued = true;
      return;
    }
    let config: Resolved;
    let listeners = this.listeners;
    try {
      const inv = await resolveInvocation(this.origin.name, this.origin.argv, this.origin.env, this.origin.cwd);
      if (inv.kind !== 'run') return;
      config = inv.config;
      for (const warning of config.warnings) this.log.warning(warning);
      const before = JSON.stringify(this.settings.bind);
      if (JSON.stringify(config.settings.bind) !== before) {
        const addresses = (config.settings.bind as string[]).map(parseAddress);
        const keep = new Map(this.listeners.map((l) => [l.address.text, l]));
        const fresh = await bindForSettings(addresses.filter((a) => !keep.has(a.text)), config, {
          retries: 0, onListenFailed: (message) => this.log.warning(message),
        });
        listeners = addresses.map((a) => keep.get(a.text) ?? fresh.find((l) => l.address.text === a.text)!);
        for (const l of fresh) this.log.info(`Listening at: ${l.url} (${process.pid})`);
      }
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      this.log.error(`Reload failed: ${e.message}; the old workers keep serving`);
      return;
    }
    // The hooks come from the config file too: load the new ones, and run the new on_reload.
    let hooks: HookHost;
    try {
      hooks = await startHooks(config, this.origin);
    } catch (e) {
      if (!(e instanceof HookError)) throw e;
      this.log.error(`Reload failed: the config file's hooks did not load:\n${e.traceback}\nthe old workers keep serving`);
      closeAll(listeners.filter((l) => !this.listeners.includes(l)));
      return;
    }
    this.reloading = {
      generation: this.generation + 1,
      previous: { config: this.config, listeners: this.listeners, workerCount: this.workerCount, hooks: this.hooks, zygote: this.zygote },
    };
    this.zygote = undefined; // with preload_app, the new generation forks from a zygote that imports the new code
    this.hooks = hooks;
    this.config = config;
    this.listeners = listeners;
    this.generation += 1;
    this.workerCount = config.settings.workers as number;
    this.log.setLevel(arbiterLogSpec(config.settings).level);
    this.log.reopen();
    this.setTitle();
    if (!(await this.runHook('on_reload', 'log'))) this.abortReload('the on_reload hook raised an exception');
    // manageWorkers (next in the loop) starts the new generation; advanceReload retires the old one.
  }

  /** Once every worker of the new generation has booted, the old generation stops gracefully. */
  private advanceReload(): void {
    const r = this.reloading;
    if (!r) return;
    const fresh = this.current();
    if (fresh.length < this.workerCount || !fresh.every((w) => w.booted)) return;
    for (const w of this.workers.values()) {
      if (w.generation < r.generation && !w.stopping) {
        w.retiredFor = 'reload';
        this.stopWorker(w, 'SIGTERM');
      }
    }
    const dropped = r.previous.listeners.filter((l) => !this.listeners.includes(l));
    closeAll(dropped);
    if (r.previous.hooks !== this.hooks) r.previous.hooks.close();
    this.reloading = undefined;
    this.log.info(`Reload complete: ${fresh.length} new workers serving`);
    if (Boolean(this.settings.reload) !== Boolean(this.reloader)) this.startReloader();
    else this.reloader?.watch(this.settings.reload_extra_files as string[]);
    this.followQueuedReload();
  }

  private followQueuedReload(): void {
    if (!this.reloadQueued) return;
    this.reloadQueued = false;
    this.enqueue({ kind: 'call', run: () => this.reload() });
  }

  private abortReload(reason: string): void {
    const r = this.reloading!;
    this.log.error(`Reload failed: ${reason}; the old workers keep serving`);
    this.abandoned.add(r.generation);
    for (const w of this.workers.values()) if (w.generation === r.generation) this.stopWorker(w, 'SIGQUIT');
    closeAll(this.listeners.filter((l) => !r.previous.listeners.includes(l)));
    if (r.previous.hooks !== this.hooks) this.hooks.close();
    this.hooks = r.previous.hooks;
    if (this.zygote !== r.previous.zygote) this.zygote?.stop();
    this.zygote = r.previous.zygote;
    this.config = r.previous.config;
    this.listeners = r.previous.listeners;
    this.workerCount = r.previous.workerCount;
    this.generation = r.generation + 1; // the old workers become current again under a fresh number
    for (const w of this.workers.values()) if (w.generation < r.generation) w.generation = this.generation;
    this.reloading = undefined;
    this.followQueuedReload();
  }

  // --- USR2: a new master on the same sockets ------------------------------------------------------

  private async reexec(): Promise<void> {
    if (this.reexecPid) {
      this.log.warning('USR2 signal ignored. Child exists.');
      return;
    }
    if (this.origin.parentMasterPid) {
      this.log.warning('USR2 signal ignored. Parent exists.');
      return;
    }
    if (this.stopping) {
      this.log.warning('USR2 signal ignored. The server is stopping.');
      return;
    }
    await this.runHook('pre_exec', 'log');
    const env: NodeJS.ProcessEnv = {
      ...this.origin.env,
      UNICORN_PID: String(process.pid),
      UNICORN_LISTENERS: JSON.stringify(this.listeners.map(inheritable)),
    };
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...this.origin.argv], {
      cwd: this.origin.cwd,
      env,
      stdio: ['ignore', 'inherit', 'inherit', ...this.listeners.map((l) => l.fd)],
    });
    if (child.pid === undefined) {
      this.log.error('USR2: could not start a new master');
      return;
    }
    this.reexecPid = child.pid;
    this.log.info(`Started a new master with pid ${child.pid} on the same sockets`);
    child.on('exit', (code, signal) =>
      this.enqueue({
        kind: 'call',
        run: () => {
          this.log.info(`The new master (pid:${this.reexecPid}) exited (${signal ?? code})`);
          this.reexecPid = 0;
        },
      }),
    );
  }

  /** A USR2 master becomes the master once the old one has exited. */
  private maybePromote(): void {
    if (!this.origin.parentMasterPid || process.ppid === this.origin.parentMasterPid) return;
    this.log.info('Master has been promoted.');
    this.origin.parentMasterPid = 0;
    const pidfile = this.settings.pidfile as string | null;
    if (pidfile && this.pidfile) {
      fs.renameSync(this.pidfile, pidfile);
      this.pidfile = pidfile;
    }
    if (this.control) {
      const want = controlSocketPath(this.settings.control_socket as string | null, pidfile);
      if (want !== this.control.socketPath) this.control.rename(want);
    }
    this.setTitle();
  }

  // --- spawning ------------------------------------------------------------------------------------

  /**
   * The `settings` a worker receives: exactly the registry's worker-side settings, typed. Two arrive
   * resolved for this worker: pythonpath as absolute directories, max_requests with its jitter drawn.
   */
  private workerSettings(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of workerSettingNames()) out[name] = this.settings[name];
    out.pythonpath = this.config.pythonpath;
    const max = this.settings.max_requests as number;
    const jitter = this.settings.max_requests_jitter as number;
    out.max_requests = max > 0 ? max + Math.floor(Math.random() * (jitter + 1)) : 0;
    return out;
  }

  /** Starts one worker; false when none could be started. */
  private async spawnWorker(): Promise<boolean> {
    const id = this.nextId++;
    if (!(await this.runHook('pre_fork', 'halt', { pid: null, age: id }))) return false;
    if (this.settings.preload_app) return this.spawnFromZygote(id);
    const controlFd = 3 + this.listeners.length;
    const proc = spawn(this.config.python, [path.join(PYTHON_DIR, 'unicorn_worker_main.py'), '--control-fd', String(controlFd)], {
      cwd: this.config.chdir,
      env: this.workerEnv(),
      stdio: this.workerStdio(),
    });
    const control = proc.stdio[controlFd] as Socket;
    if (proc.pid === undefined) {
      // spawn failed outright (the interpreter vanished since start-up); 'error' has the reason.
      proc.once('error', (e) => this.log.error(`cannot start worker with ${this.config.python}: ${e.message}`));
      control?.destroy();
      this.halt(EXIT.WORKER_BOOT, `Worker failed to boot: cannot run ${this.config.python}.`);
      return false;
    }
    const worker = this.addWorker(proc.pid, id, { proc });
    proc.on('exit', (code, signal) => this.workerExited(worker, code, signal));
    proc.on('error', () => undefined); // exit follows
    this.attachControl(worker, control);
    this.sendToWorker(worker, { ...this.processConfig(), worker_id: id, ...this.perWorkerConfig(worker) });
    return true;
  }

  /** The record of a new worker, counted and logged. */
  private addWorker(pid: number, id: number, extra: Partial<Worker>): Worker {
    const worker: Worker = {
      pid, id, slot: extra.slot ?? this.scoreboard.allocate(), generation: this.generation, outbox: [],
      booted: false, startedAt: Date.now(), stopping: false, debugWaiters: [], ...extra,
    };
    this.workers.set(pid, worker);
    this.log.info(`Booting worker with pid: ${pid}`);
    return worker;
  }

  private workerExited(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (worker.exitReported) return;
    worker.exitReported = true;
    this.exits.push({ worker, code, signal });
    this.wake();
  }

  /** What a worker (or a zygote) needs to know about the whole server. */
  private processConfig(): Record<string, unknown> {
    return {
      ppid: process.pid,
      app: this.config.app,
      listeners: this.listeners.map((l, i) => ({
        fd: 3 + i,
        kind: l.socketKind ?? l.address.kind,
        host: l.host,
        port: l.port,
        path: l.path ?? (l.address.kind === 'unix' ? l.address.path : undefined),
        url: l.url,
      })),
      settings: this.workerSettings(),
      ...this.workerHooks(),
    };
  }

  /** The worker-side hooks the config file defines: the worker execs the file for them (nothing when there are none). */
  private workerHooks(): Record<string, unknown> {
    const hooks = this.config.hooks.filter((h) => (WORKER_HOOKS as readonly string[]).includes(h));
    if (!hooks.length || !this.config.configFile) return {};
    return { config_file: this.config.configFile, hooks, cfg: this.hookServer().cfg };
  }

  /** What only this worker gets: its scoreboard slot and its own max_requests (jittered). */
  private perWorkerConfig(worker: Worker): Record<string, unknown> {
    return { scoreboard: { path: this.scoreboard.path, slot: worker.slot }, settings: this.workerSettings() };
  }

  private workerEnv(): NodeJS.ProcessEnv {
    return {
      ...this.origin.env,
      ...this.config.workerEnv,
      SERVER_SOFTWARE: `unicorn/${VERSION}`,
      // debugpy (attached on request) otherwise warns about frozen modules on Python 3.11+.
      PYDEVD_DISABLE_FILE_VALIDATION: '1',
    };
  }

  private workerStdio(): StdioOptions {
    return ['ignore', ...this.workerOutput(), ...this.listeners.map((l) => l.fd), 'pipe'];
  }

  private attachControl(worker: Worker, control: Socket, pending = ''): void {
    worker.control = control;
    let buffered = pending;
    const consume = () => {
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.onWorkerMessage(worker, line);
      }
    };
    control.setEncoding('utf8');
    control.on('data', (chunk: string) => {
      buffered += chunk;
      consume();
    });
    control.on('error', () => undefined); // a worker that dies mid-write is reaped, not fatal
    control.resume(); // a preloaded worker's connection was paused while its hello was held
    consume();
    for (const line of worker.outbox.splice(0)) control.write(line);
  }

  // --- preload_app: workers forked from a zygote that imported the app once ----------------------

  /** The zygote new workers fork from, started (and awaited) on first use; undefined when it failed. */
  private async currentZygote(): Promise<Zygote | undefined> {
    if (!this.zygote || this.zygote.exited) {
      this.workerSocket ??= await WorkerSocket.listen(this.scoreboard.dir, (id, pid, conn, rest) => this.onPreloadedHello(id, pid, conn, rest));
      const controlFd = 3 + this.listeners.length;
      const zygote = new Zygote({
        python: this.config.python,
        cwd: this.config.chdir,
        env: this.workerEnv(),
        stdio: this.workerStdio(),
        controlFd,
        config: { ...this.processConfig(), worker_id: 0 },
        onWorkerExit: ({ pid, code, signal }) => {
          const w = this.workers.get(pid);
          if (w) this.workerExited(w, code, signal);
        },
      });
      this.zygote = zygote;
      this.zygotes.add(zygote);
      zygote.proc.on('exit', () => {
        this.zygotes.delete(zygote);
        this.wake();
      });
      // 'close': after the last of its reports (a worker's real exit code) has been read.
      zygote.proc.on('close', () => this.zygoteExited(zygote));
      this.log.info(`Preloading the app in pid: ${zygote.pid}`);
    }
    const zygote = this.zygote;
    try {
      await zygote.ready;
      return zygote;
    } catch (e) {
      if (!(e instanceof ZygoteFailed)) throw e;
      this.zygote = undefined;
      const reason = e.code === EXIT.APP_LOAD ? 'App failed to load.' : 'Worker failed to boot.';
      if (this.reloading) this.abortReload(`the new preloaded app did not load (${reason})`);
      else this.halt(e.code === EXIT.APP_LOAD ? EXIT.APP_LOAD : EXIT.WORKER_BOOT, reason);
      return undefined;
    }
  }

  private async spawnFromZygote(id: number): Promise<boolean> {
    const zygote = await this.currentZygote();
    if (!zygote || this.stopping) return false;
    const slot = this.scoreboard.allocate();
    // From here a hello for this id may arrive before the zygote's spawn report: it is held until then.
    this.awaitedHellos.set(id, null);
    const pid = await zygote.spawn(
      { worker_id: id, scoreboard: { path: this.scoreboard.path, slot }, settings: this.workerSettings() },
      this.workerSocket!.path,
      // Called as the report is read, before any later line of the zygote (such as this worker's exit).
      (spawned) => this.claimHello(this.addWorker(spawned, id, { zygote, slot })),
    );
    if (!pid) {
      this.scoreboard.release(slot);
      this.forgetHello(id);
      return false; // the zygote died meanwhile: the next round starts another
    }
    return true;
  }

  /**
   * A preloaded worker says hello on the worker socket as soon as it is forked, which may be before
   * the zygote's "spawned" report reaches us: a hello for a worker id we are spawning is held until
   * the report names its pid (claimHello); any other hello is refused.
   */
  private onPreloadedHello(id: number, pid: number, conn: Socket, rest: string): void {
    if (!this.awaitedHellos.has(id)) {
      conn.destroy();
      return;
    }
    const worker = this.awaitedHellos.get(id);
    if (worker) {
      this.acceptHello(worker, pid, conn, rest);
      return;
    }
    this.heldHellos.get(id)?.conn.destroy();
    this.heldHellos.set(id, { pid, conn, rest });
  }

  /** The zygote reported the worker's pid: a hello that came first is taken now. */
  private claimHello(worker: Worker): void {
    this.awaitedHellos.set(worker.id, worker);
    const held = this.heldHellos.get(worker.id);
    if (!held) return;
    this.heldHellos.delete(worker.id);
    this.acceptHello(worker, held.pid, held.conn, held.rest);
  }

  private acceptHello(worker: Worker, pid: number, conn: Socket, rest: string): void {
    if (worker.pid !== pid || conn.destroyed) {
      conn.destroy();
      return;
    }
    this.awaitedHellos.delete(worker.id);
    this.attachControl(worker, conn, rest);
    // The zygote reports the exit; once the zygote is gone, the end of the connection stands in for it.
    conn.on('close', () => {
      if (worker.zygote?.exited) this.workerExited(worker, null, null);
    });
  }

  private forgetHello(id: number): void {
    this.awaitedHellos.delete(id);
    this.heldHellos.get(id)?.conn.destroy();
    this.heldHellos.delete(id);
  }

  /** A zygote exited: its workers whose connection is already closed (or never came) are gone as far as we know. */
  private zygoteExited(zygote: Zygote): void {
    for (const w of this.workers.values()) {
      if (w.zygote !== zygote) continue;
      if (w.control ? w.control.destroyed : !isAlive(w.pid)) this.workerExited(w, null, null);
    }
  }

  /** Zygotes of older generations stop once their last worker has gone. */
  private retireZygotes(): void {
    for (const z of this.zygotes) {
      if (z === this.zygote) continue;
      if (![...this.workers.values()].some((w) => w.zygote === z)) z.stop();
    }
  }

  /** The workers' stdout and stderr: ours, or the error log file with capture_output. */
  private workerOutput(): Array<'inherit' | number> {
    const fd = this.settings.capture_output ? this.log.fileFd : undefined;
    return fd === undefined ? ['inherit', 'inherit'] : [fd, fd];
  }

  private sendToWorker(worker: Worker, message: object): void {
    const line = JSON.stringify(message) + '\n';
    if (!worker.control) worker.outbox.push(line);
    else if (!worker.control.destroyed) worker.control.write(line);
  }

  private onWorkerMessage(worker: Worker, line: string): void {
    let msg: { event?: string; port?: number; error?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      this.log.warning(`worker ${worker.pid} sent an unreadable control message: ${line.slice(0, 200)}`);
      return;
    }
    if (msg.event === 'booted') {
      worker.booted = true;
      this.bootCrashes = 0;
      worker.accepting = worker.acceptRequested = true;
      if (this.focus.size) void this.applyFocus(); // a new worker while one is debugged takes no connections either
      this.wake(); // a reload may be waiting for this
    } else if (msg.event === 'files' && Array.isArray((msg as { files?: unknown }).files)) {
      this.reloader?.watch((msg as { files: string[] }).files);
    } else if (msg.event === 'debug') {
      for (const waiter of worker.debugWaiters.splice(0)) waiter({ port: msg.port, error: msg.error });
    } else if (msg.event === 'accepting') {
      worker.accepting = Boolean((msg as { on?: unknown }).on);
      // A confirmation of an earlier request (off, then on again before the worker applied the first)
      // is not the answer to the last one: its waiters wait for that.
      if (worker.accepting === worker.acceptRequested) {
        worker.acceptUnconfirmed = false;
        for (const waiter of worker.acceptWaiters?.splice(0) ?? []) waiter();
      }
    }
  }

  // --- /metrics, /healthz, /readyz -------------------------------------------------------------------

  private async startMetrics(): Promise<void> {
    this.rememberListenerInodes();
    const address = this.settings.metrics_bind as string | null;
    if (!address) return;
    this.metrics = new MetricsServer(address, {
      snapshot: () => this.metricsSnapshot(),
      healthy: () => this.workers.size > 0,
      ready: () => this.ready(),
    });
    this.log.info(`Metrics at: ${await this.metrics.listen()}/metrics (${process.pid})`);
  }

  private rememberListenerInodes(): void {
    for (const l of this.listeners) {
      if (l.released || this.listenerInodes.has(l.url)) continue;
      const inode = socketInode(l.fd);
      if (inode !== null) this.listenerInodes.set(l.url, inode);
    }
  }

  /** /readyz: a booted worker of the serving generation (during a reload, the old one serves until the new has booted). */
  private ready(): boolean {
    if (this.stopping || this.shuttingDown) return false;
    const serving = this.reloading ? [this.generation, this.reloading.generation - 1] : [this.generation];
    return [...this.workers.values()].some((w) => w.booted && !w.stopping && serving.includes(w.generation));
  }

  /** sd_notify under systemd (NOTIFY_SOCKET): the phase, and the workers booted and busy. */
  private notifySystemd(): void {
    if (!this.notifier?.active) return;
    const current = this.current();
    const stopping = (this.stopping || this.shuttingDown) && !this.reexecPid; // after USR2 the new master speaks
    const phase = stopping ? 'stopping' : this.reloading ? 'reloading'
      : current.length >= this.workerCount && current.every((w) => w.booted) ? 'ready' : undefined;
    const slots = this.scoreboard.read();
    const booted = [...this.workers.values()].filter((w) => w.booted);
    const busy = booted.filter((w) => slots.get(w.slot)?.pid === w.pid && slots.get(w.slot)?.state === 'busy').length;
    const status = `${booted.length} of ${this.workerCount} workers booted, ${busy} busy` +
      (stopping ? ', stopping' : this.reloading ? ', reloading' : '');
    this.notifier.update(phase ?? this.notifier.phase, status);
  }

  private kernelSockets(): SockDiagProbe {
    return (this.sockDiag ??= new SockDiagProbe(this.config.python, (m) => this.log.warning(m)));
  }

  /** The workers' debug ports (from their slots) that have a debugger connected now. */
  private async attachedDebugPorts(slots: Map<number, Slot>, workers: Iterable<Worker>): Promise<Set<number>> {
    const ports: number[] = [];
    for (const w of workers) {
      const slot = slots.get(w.slot);
      if (slot?.pid === w.pid && slot.debugPort) ports.push(slot.debugPort);
    }
    return this.kernelSockets().attachedPorts(ports);
  }

  /** Per listener, TCP or unix (Linux): the connections waiting in its accept queue now. */
  private async listenQueuesNow(): Promise<Array<{ listener: string; queued: number }>> {
    this.rememberListenerInodes();
    const queues = await this.kernelSockets().queues();
    return this.listeners.flatMap((l) => {
      const queued = queues.get(this.listenerInodes.get(l.url) ?? -1);
      return queued === undefined ? [] : [{ listener: l.url, queued }];
    });
  }

  private async metricsSnapshot(): Promise<MetricsSnapshot> {
    this.rememberListenerInodes();
    const slots = this.scoreboard.read();
    const totals = emptyCounters();
    addCounters(totals, this.retired);
    const workers = [...this.workers.values()].map((w) => {
      const slot = slots.get(w.slot);
      const mine = slot && slot.pid === w.pid ? slot : undefined;
      if (mine) addCounters(totals, mine.counters);
      return { pid: w.pid, state: w.stopping ? 'exiting' as const : mine?.state === 'busy' || mine?.state === 'idle' ? mine.state : 'booting' as const, rss: rssBytes(w.pid), connections: mine?.connections ?? 0, requests: mine?.requests ?? 0 };
    });
    const listenQueuesNow = await this.listenQueuesNow();
    return {
      version: VERSION, workerClass: effectiveWorkerClass(this.settings), ready: this.ready(), workers, totals,
      restarts: { ...this.restarts }, listenQueues: listenQueuesNow,
    };
  }

  // --- the control socket ------------------------------------------------------------------------

  private async startControl(): Promise<void> {
    const pidfile = this.pidfile;
    const socketPath = controlSocketPath(this.settings.control_socket as string | null, pidfile);
    const server = new ControlServer(socketPath, controlHandler({
      status: () => this.status(),
      inLoop: (work) => this.inLoop(work),
      workerCount: () => this.workerCount,
      setWorkerCount: (n) => this.setWorkerCount(n),
      signal: (signal) => this.enqueue({ kind: 'signal', signal }),
      killWorker: (pid) => {
        const w = this.workerByPid(pid);
        this.kill(w, 'SIGKILL');
        return w.pid;
      },
      startDebugger: (pid) => this.startDebugger(this.workerByPid(pid)),
      focus: (pid) => this.focusOn(pid),
      unfocus: (pid) => this.focusOff(pid),
      metrics: async () => {
        const snapshot = await this.metricsSnapshot();
        return { ...snapshot, text: renderMetrics(snapshot) };
      },
    }), this.settings.control_socket_mode as number);
    try {
      await server.listen();
      this.control = server;
      this.log.debug(`Control socket: ${socketPath}`);
    } catch (e) {
      this.log.error(`No control socket: ${(e as Error).message}`);
    }
  }

  /** Runs `work` in the loop, between two iterations; a promise it returns is passed on, not waited for. */
  private inLoop<T>(work: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.enqueue({
        kind: 'call',
        run: () => {
          try {
            resolve(work());
          } catch (e) {
            reject(e);
          }
        },
      }),
    );
  }

  private workerByPid(pid: unknown): Worker {
    const w = typeof pid === 'number' ? this.workers.get(pid) : undefined;
    if (!w) throw new Error(`no worker with pid ${String(pid)} — see "status" for the workers' pids`);
    return w;
  }

  /** `ctl focus PID`: that worker gets every new connection (with the others focused before it). */
  private focusOn(pid: number | undefined): Promise<FocusResult> {
    const w = this.workerByPid(pid);
    if (!w.booted) throw new Error(`worker ${w.pid} is still booting — try again once it is idle`);
    this.focus.add(w.pid);
    return this.applyFocus();
  }

  /** `ctl unfocus [PID]`: takes the focus off that worker (default: all). */
  private focusOff(pid: number | undefined): Promise<FocusResult> {
    if (pid === undefined) this.focus.clear();
    else this.focus.delete(pid);
    return this.applyFocus();
  }

  /**
   * While some workers have the focus (a debugger is on them), every other booted worker stops
   * accepting, so the kernel hands new connections to the focused ones; with no focus all accept.
   * Resolves once each worker told confirmed (a worker busy with a request confirms after it, at most 5 s).
   */
  private async applyFocus(): Promise<FocusResult> {
    const waits: Array<Promise<void>> = [];
    for (const w of this.workers.values()) {
      if (!w.booted || w.stopping) continue;
      const want = this.focus.size === 0 || this.focus.has(w.pid);
      // Compared with what was last asked, not with what the worker last confirmed: two focus changes in a
      // row (an unfocus of each of two workers, a worker booting while one is unfocused) would otherwise
      // skip the second request while the first is unconfirmed, and leave the worker not accepting.
      if (w.acceptRequested !== want) {
        w.acceptRequested = want;
        w.acceptUnconfirmed = true;
        this.sendToWorker(w, { command: 'accept', on: want });
      }
      if (w.accepting === want && !w.acceptUnconfirmed) continue;
      waits.push(new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        (w.acceptWaiters ??= []).push(() => (clearTimeout(timer), resolve()));
      }));
    }
    await Promise.all(waits);
    const accepting = [...this.workers.values()].filter((w) => w.booted && w.accepting).map((w) => w.pid);
    return { focus: [...this.focus], accepting };
  }

  /** Asks a worker to start a debugpy listener; resolves to the port it opened. */
  private startDebugger(worker: Worker): Promise<{ pid: number; port: number }> {
    if (!worker.booted) return Promise.reject(new Error(`worker ${worker.pid} is still booting — try again once it is idle`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${worker.pid} did not open a debug port within 20 s`)), 20000);
      worker.debugWaiters.push(({ port, error }) => {
        clearTimeout(timer);
        if (port) resolve({ pid: worker.pid, port });
        else reject(new Error(error ?? `worker ${worker.pid} could not start debugpy`));
      });
      this.sendToWorker(worker, { command: 'debug' });
      this.kill(worker, 'SIGUSR2'); // wakes a worker that is busy or blocked so it reads the command now
    });
  }

  private async status(): Promise<ServerStatus> {
    const queued = new Map((await this.listenQueuesNow()).map((q) => [q.listener, q.queued]));
    const now = Date.now();
    const slots = this.scoreboard.read();
    const attached = await this.attachedDebugPorts(slots, this.workers.values());
    return {
      master: {
        pid: process.pid,
        name: this.masterName,
        app: this.config.app,
        python: this.config.python,
        worker_class: effectiveWorkerClass(this.settings),
        workers: this.workerCount,
        listeners: this.listeners.map((l) => l.url),
        uptime: (now - this.startedAt) / 1000,
        rss: rssBytes(process.pid),
        timeout: this.settings.timeout as number,
        reloading: Boolean(this.reloading),
        focus: [...this.focus],
        // Each TCP listener's accept queue now (Linux): connections waiting for a free worker.
        listen_queue: this.listeners.map((l) => ({ url: l.url, queued: queued.get(l.url) ?? null, backlog: this.settings.backlog as number })),
      },
      workers: [...this.workers.values()].sort((a, b) => a.id - b.id).map((w) => this.workerStatus(w, slots.get(w.slot), now, attached)),
    };
  }

  private workerStatus(w: Worker, slot: Slot | undefined, now: number, attached: Set<number>): WorkerStatus {
    const mine = slot && slot.pid === w.pid ? slot : undefined;
    const state = w.stopping ? 'exiting' : mine?.state ?? 'booting';
    return {
      pid: w.pid,
      id: w.id,
      slot: w.slot,
      state,
      requests: mine?.requests ?? 0,
      connections: mine?.connections ?? 0,
      heartbeat_age: mine?.heartbeat ? Math.max(0, now / 1000 - mine.heartbeat) : null,
      uptime: (now - w.startedAt) / 1000,
      rss: rssBytes(w.pid),
      request: mine?.request ? { method: mine.request.method, path: mine.request.path, age: Math.max(0, now / 1000 - mine.request.startedAt) } : null,
      debug_port: mine?.debugPort ?? null,
      debugger_attached: mine?.debugPort ? attached.has(mine.debugPort) : false,
      accepting: w.accepting ?? false,
    };
  }

  // --- files and titles ---------------------------------------------------------------------------

  private setTitle(): void {
    const name = (this.settings.proc_name as string | null) ?? this.config.app ?? 'unicorn';
    process.title = `unicorn: master [${name}]${this.origin.parentMasterPid ? '.2' : ''}`;
  }

  private writePidfile(): void {
    const file = this.settings.pidfile as string | null;
    if (!file) return;
    this.pidfile = this.origin.parentMasterPid ? `${file}.2` : file;
    writePidfile(this.pidfile, process.pid);
  }

  private cleanup(): void {
    this.signals.uninstall();
    this.reloader?.close();
    this.control?.close();
    this.workerSocket?.close();
    this.metrics?.close();
    this.sockDiag?.close();
    this.notifier?.close();
    this.scoreboard.close();
    if (this.pidfile) removePidfile(this.pidfile, process.pid);
  }

  /** Whether the listeners' unix socket files should be removed at exit: not while another master uses them. */
  get ownsSocketFiles(): boolean {
    return !this.reexecPid && !this.origin.parentMasterPid;
  }

  get currentListeners(): Listener[] {
    return this.listeners;
  }
}
