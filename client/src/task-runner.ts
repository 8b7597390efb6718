// What the `unicorn` task runs in its terminal: `node task-runner.js BIN ARGS...`. The server is
// the task's: stopping the task, closing its terminal or closing the window (each a SIGHUP or
// SIGTERM to this process) stops the server — gracefully, then for sure — whatever the CLI does
// with a HUP from a real terminal (gunicorn's reload). Ctrl-C is passed on as INT (quick stop).
//
// The server runs in its own session (detached), so the terminal's HUP reaches only this process,
// and with an IPC channel, so that it stops itself (TERM) should this process be killed outright.
import { fork } from 'node:child_process';

/** How long a graceful stop may take before the server's process group is killed. */
const GRACE_MS = Number(process.env.UNICORN_TASK_GRACE_MS ?? 35000);

const [bin, ...args] = process.argv.slice(2);
if (!bin) {
  process.stderr.write('usage: task-runner.js BIN [ARGS...]\n');
  process.exit(2);
}

// The terminal may be gone (EIO, EPIPE) while the server still says goodbye: never die of that.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

const child = fork(bin, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true, execArgv: [] });
child.stdout?.pipe(process.stdout);
child.stderr?.pipe(process.stderr);

let killTimer: NodeJS.Timeout | undefined;
function stopServer(signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(signal);
  } catch {
    /* already gone */
  }
  killTimer ??= setTimeout(() => {
    process.stderr.write(`unicorn task: the server is still running ${GRACE_MS / 1000} s after ${signal} — killing it\n`);
    try {
      process.kill(-child.pid!, 'SIGKILL'); // the server's own process group: the master and its workers
    } catch {
      /* gone meanwhile */
    }
  }, GRACE_MS);
}

process.on('SIGHUP', () => stopServer('SIGTERM'));
process.on('SIGTERM', () => stopServer('SIGTERM'));
process.on('SIGINT', () => stopServer('SIGINT'));

child.on('exit', (code, signal) => {
  clearTimeout(killTimer);
  // Workers left behind by a killed master end when they see their parent gone; nothing else to wait for.
  process.exitCode = code ?? (signal ? 128 : 1);
  if (child.connected) child.disconnect();
});
