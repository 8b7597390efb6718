// What the kernel knows about a process or a port: resident memory, whether a debugger is connected,
// and how many connections wait in a listening socket's accept queue.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PYTHON_DIR } from './python';

/** Resident set size in bytes, or null when the process is gone or the platform hides it. */
export function rssBytes(pid: number): number | null {
  try {
    if (process.platform === 'linux') {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    }
    const out = execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8', timeout: 2000 });
    return out.trim() ? Number(out.trim()) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Which of these local TCP ports have an established connection — that is, a debugger client attached
 * to the debug adapter listening there — from one scan of /proc/net/tcp{,6}. The fallback of
 * SockDiagProbe.attachedPorts; off Linux every port counts as attached, which errs on sparing the worker.
 */
export function portsWithClients(ports: number[]): Set<number> {
  if (process.platform !== 'linux') return new Set(ports);
  const wanted = new Set(ports);
  // 01 is ESTABLISHED.
  return new Set(tcpSockets().filter((t) => t.state === '01' && wanted.has(t.port)).map((t) => t.port));
}

/** One row of /proc/net/tcp{,6}. */
interface TcpRow {
  port: number;
  /** The kernel's state code: 01 ESTABLISHED, 0A LISTEN. */
  state: string;
  rxQueue: number;
  inode: number;
}

/** The TCP sockets of this network namespace (Linux; empty elsewhere). */
function tcpSockets(): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string;
    try {
      table = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n').slice(1)) {
      // sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode ...
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const rx = cols[4].slice(cols[4].indexOf(':') + 1);
      rows.push({ port: parseInt(cols[1].slice(cols[1].lastIndexOf(':') + 1), 16), state: cols[3], rxQueue: parseInt(rx, 16), inode: Number(cols[9]) });
    }
  }
  return rows;
}

/** The socket inode behind one of this process's descriptors, or null (closed, not a socket, not Linux). */
export function socketInode(fd: number): number | null {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Listening TCP sockets by inode, from one scan of /proc/net/tcp{,6} (for a socket in LISTEN state the
 * kernel reports the length of its accept queue as rx_queue). Costly under load (see SockDiagProbe):
 * for one-off reads, such as the tests' independent view of a queue.
 */
export function listenQueues(): Map<number, { queued: number; port: number }> {
  const out = new Map<number, { queued: number; port: number }>();
  for (const t of tcpSockets()) if (t.state === '0A') out.set(t.inode, { queued: t.rxQueue, port: t.port });
  return out;
}

/**
 * What the arbiter asks the kernel about sockets: the accept queues of this network namespace's listening
 * sockets (TCP and unix, by inode) and which debug ports have a client. A long-lived Python helper
 * (runtime/python/unicorn_sockdiag.py) asks over sock_diag, which walks only the sockets in the states
 * asked for (/proc/net/tcp lists every TIME_WAIT socket too: under a Connection: close load, a scan took
 * the arbiter's loop 0.1–0.5 s of CPU). Started on first use; ends when the arbiter does (its stdin
 * closes). Off Linux, or when the helper fails, the queues are empty and the ports come from /proc.
 */
export class SockDiagProbe {
  private helper: ChildProcess | undefined;
  private failed = false;
  private pending: Array<(answer: Record<string, unknown>) => void> = [];
  private buffered = '';

  constructor(
    private readonly python: string,
    private readonly onError: (message: string) => void,
  ) {}

  async queues(): Promise<Map<number, number>> {
    if (process.platform !== 'linux' || this.failed) return new Map();
    const answer = await this.ask('q');
    return new Map(Object.entries(answer).filter(([k, v]) => k !== 'error' && typeof v === 'number').map(([k, v]) => [Number(k), v as number]));
  }

  /** Which of these local TCP ports have an established connection (see portsWithClients). */
  async attachedPorts(ports: number[]): Promise<Set<number>> {
    if (!ports.length) return new Set();
    if (process.platform !== 'linux' || this.failed) return portsWithClients(ports);
    const answer = await this.ask(`e ${ports.join(' ')}`);
    return Array.isArray(answer.ports) ? new Set(answer.ports as number[]) : portsWithClients(ports);
  }

  private ask(line: string): Promise<Record<string, unknown>> {
    const helper = this.helper ?? this.start();
    return new Promise((resolve) => {
      this.pending.push(resolve);
      helper.stdin!.write(`${line}\n`);
    });
  }

  private start(): ChildProcess {
    const helper = spawn(this.python, [path.join(PYTHON_DIR, 'unicorn_sockdiag.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    helper.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    helper.stdout!.on('data', (d) => {
      this.buffered += d;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        let answer: Record<string, unknown> = {};
        try {
          answer = JSON.parse(line);
        } catch {
          /* an empty answer */
        }
        if (typeof answer.error === 'string') this.onError(`kernel socket probe: ${answer.error}`);
        this.pending.shift()?.(answer);
      }
    });
    const fail = (why: string) => {
      if (this.failed) return;
      this.failed = true;
      this.helper = undefined;
      this.onError(`listen queues and debugger connections unavailable from sock_diag: ${why}`);
      for (const resolve of this.pending.splice(0)) resolve({});
    };
    helper.on('error', (e) => fail(`cannot run ${this.python} (${e.message})`));
    helper.on('exit', (code) => fail(`the sock_diag helper exited (${code}): ${stderr.trim().split('\n').pop() ?? ''}`));
    helper.stdin!.on('error', () => undefined); // exit follows
    // The arbiter may exit with the helper still running: it must not keep the arbiter's loop alive.
    helper.unref();
    for (const stream of [helper.stdin, helper.stdout, helper.stderr]) (stream as unknown as { unref?(): void }).unref?.();
    this.helper = helper;
    return helper;
  }

  close(): void {
    this.helper?.stdin?.end();
  }
}

/** Whether a process with this pid exists (signal 0: nothing is sent). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, but another user's
  }
}
