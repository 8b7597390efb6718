// What a control request does. `status` and `metrics` read a snapshot; every other command only queues its work
// for the arbiter's loop, which runs it between two iterations (as it runs a signal), so a request
// never changes the arbiter's state while the loop is in the middle of an iteration. The answer is
// what the work returned, computed in the loop: two `add`s in a row answer N+1 and N+2.
import { ControlCommand, ControlRequest, ControlResults, FocusResult, ServerStatus } from './core/control-protocol';

/** The arbiter as the control socket sees it. Everything but `status` and `metrics` is called only inside the loop. */
export interface ControlTarget {
  status(): Promise<ServerStatus>;
  /** Runs `work` in the arbiter's loop; resolves to its result (the loop does not wait for a promise it returns). */
  inLoop<T>(work: () => T | Promise<T>): Promise<T>;
  workerCount(): number;
  setWorkerCount(n: number): void;
  /** Acts as if the arbiter had received the signal. */
  signal(signal: 'SIGHUP' | 'SIGTERM'): void;
  /** SIGKILLs the worker (the arbiter replaces it); throws when `pid` is none of its workers. */
  killWorker(pid: number | undefined): number;
  /** Asks the worker to open a debugpy listener; resolves once it reports the port. */
  startDebugger(pid: number | undefined): Promise<{ pid: number; port: number }>;
  /** Only that worker (and others focused before) takes new connections; resolves once the workers confirmed. */
  focus(pid: number | undefined): Promise<FocusResult>;
  /** Takes the focus off that worker (undefined: all). */
  unfocus(pid: number | undefined): Promise<FocusResult>;
  /** The figures of /metrics, read now (like status). */
  metrics(): Promise<ControlResults['metrics']>;
}

type Handlers = { [C in ControlCommand]: (req: ControlRequest, count: number) => Promise<ControlResults[C]> };

/** The handler the control socket calls with each (already validated) request. */
export function controlHandler(t: ControlTarget): (req: ControlRequest) => Promise<ControlResults[ControlCommand]> {
  const handlers: Handlers = {
    status: async () => t.status(),
    add: (_, count) =>
      t.inLoop(() => {
        t.setWorkerCount(t.workerCount() + count);
        return { workers: t.workerCount() };
      }),
    remove: (_, count) =>
      t.inLoop(() => {
        const running = t.workerCount();
        if (running - count < 1) throw new Error(`cannot remove ${count}: ${running} running and at least 1 must stay`);
        t.setWorkerCount(running - count);
        return { workers: t.workerCount() };
      }),
    reload: () =>
      t.inLoop(() => {
        t.signal('SIGHUP');
        return { reloading: true as const };
      }),
    stop: () =>
      t.inLoop(() => {
        t.signal('SIGTERM');
        return { stopping: true as const };
      }),
    kill: (req) => t.inLoop(() => ({ killed: t.killWorker(req.pid) })),
    debug: (req) => t.inLoop(() => t.startDebugger(req.pid)),
    focus: (req) => t.inLoop(() => t.focus(req.pid)),
    unfocus: (req) => t.inLoop(() => t.unfocus(req.pid)),
    metrics: async () => t.metrics(),
  };
  return (req) => handlers[req.command](req, req.count ?? 1);
}
