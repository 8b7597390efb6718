// The master's signal handlers: they only queue the signal's name. They are installed before the
// first hook runs (on_starting), so that a signal arriving while the server is still starting — a
// TERM right after a USR2 re-exec, say — waits for the arbiter's loop instead of meeting Node's
// default action (which would end the process with no on_exit and leave its files behind).

/** Signals the arbiter handles. */
export const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export class SignalQueue {
  private readonly pending: NodeJS.Signals[] = [];
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private deliver: ((signal: NodeJS.Signals) => void) | undefined;

  /** Starts queueing every signal in SIGNALS. */
  install(): this {
    for (const signal of SIGNALS) {
      const handler = () => (this.deliver ? this.deliver(signal) : this.pending.push(signal));
      this.handlers.set(signal, handler);
      process.on(signal, handler);
    }
    return this;
  }

  /** From now on signals go to `deliver`; the ones queued so far are delivered first, in order. */
  attach(deliver: (signal: NodeJS.Signals) => void): void {
    this.deliver = deliver;
    for (const signal of this.pending.splice(0)) deliver(signal);
  }

  uninstall(): void {
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.handlers.clear();
    this.deliver = undefined;
  }
}
