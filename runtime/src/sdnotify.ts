// systemd's notify protocol (sd_notify(3)): under Type=notify, systemd sets NOTIFY_SOCKET and waits for
// READY=1. The arbiter says READY=1 (with MAINPID) once its first generation of workers has booted,
// RELOADING=1 … READY=1 around a reload, STOPPING=1 when it begins to stop, and STATUS= with the
// workers booted and busy. Node cannot send unix datagrams: a small Python helper sends each message.
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { PYTHON_DIR } from './python';

export type Phase = 'starting' | 'ready' | 'reloading' | 'stopping';

export class SystemdNotifier {
  private helper: ChildProcess | undefined;
  phase: Phase = 'starting';
  private status = '';

  /** Does nothing unless NOTIFY_SOCKET is set. */
  constructor(
    env: NodeJS.ProcessEnv,
    python: string,
    private readonly onError: (message: string) => void,
  ) {
    if (!env.NOTIFY_SOCKET) return;
    const helper = spawn(python, [path.join(PYTHON_DIR, 'unicorn_sdnotify.py'), String(process.pid)], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...env, NOTIFY_SOCKET: env.NOTIFY_SOCKET },
    });
    helper.stderr!.on('data', (d: Buffer) => this.onError(d.toString().trim()));
    helper.on('error', (e) => this.onError(`sd_notify: cannot run ${python} (${e.message})`));
    helper.stdin!.on('error', () => undefined); // the helper's own error says why
    helper.unref();
    for (const stream of [helper.stdin, helper.stderr]) (stream as unknown as { unref?(): void }).unref?.();
    this.helper = helper;
  }

  get active(): boolean {
    return this.helper !== undefined;
  }

  /** Tells systemd the server's phase and status line when either changed since the last call. */
  update(phase: Phase, status: string): void {
    if (!this.helper) return;
    if (this.phase === 'stopping') phase = 'stopping'; // nothing follows a stop
    if (phase === this.phase && status === this.status) return;
    const lines: string[] = [];
    if (phase !== this.phase) {
      if (phase === 'ready') lines.push('READY=1', `MAINPID=${process.pid}`);
      else if (phase === 'reloading') lines.push('RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
      else if (phase === 'stopping') lines.push('STOPPING=1');
      this.phase = phase;
    }
    this.status = status;
    lines.push(`STATUS=${status}`);
    this.helper.stdin!.write(JSON.stringify(lines.join('\n')) + '\n');
  }

  /** The helper sends what it has read, then ends with its stdin. */
  close(): void {
    this.helper?.stdin!.end();
    this.helper = undefined;
  }
}
