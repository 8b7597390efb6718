// What the kernel knows about a process or a port: resident memory, whether a debugger is connected,
// and how many connections wait in a listening socket's accept queue.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

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
 * Whether a TCP connection to local `port` is established — that is, a debugger client is attached
 * to the debug adapter listening there. Linux reads /proc/net/tcp{,6}; elsewhere a listening debug
 * port is taken to mean attached, which errs on the side of sparing the worker.
 */
export function portHasClient(port: number): boolean {
  if (process.platform !== 'linux') return true;
  // 01 is ESTABLISHED.
  return tcpSockets().some((t) => t.state === '01' && t.port === port);
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
 * Listening TCP sockets by inode: the connections waiting in the accept queue (for a socket in LISTEN
 * state the kernel reports the length of its accept queue as rx_queue).
 */
export function listenQueues(): Map<number, { queued: number; port: number }> {
  const out = new Map<number, { queued: number; port: number }>();
  for (const t of tcpSockets()) if (t.state === '0A') out.set(t.inode, { queued: t.rxQueue, port: t.port });
  return out;
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
