// What the kernel knows about a process or a port: resident memory, and whether a debugger is connected.
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
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  // cols[1] is local ADDR:PORT, cols[3] the state; 01 is ESTABLISHED.
  return tcpSockets().some((cols) => cols.length > 3 && cols[3] === '01' && cols[1].endsWith(`:${hexPort}`));
}

/** The rows of /proc/net/tcp and /proc/net/tcp6 (Linux), split into columns; none where unreadable. */
function tcpSockets(): string[][] {
  const rows: string[][] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string;
    try {
      table = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n').slice(1)) if (line.trim()) rows.push(line.trim().split(/\s+/));
  }
  return rows;
}

/**
 * A listening TCP socket's accept queue now, by its descriptor in this process: the connections the
 * kernel has completed that wait for a worker's accept(). Linux only (/proc/net/tcp{,6}, where a
 * listener's rx_queue is its accept queue); null elsewhere, for Unix sockets, or when unknown.
 */
export function listenQueue(fd: number): number | null {
  if (process.platform !== 'linux') return null;
  let inode: string;
  try {
    const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
    if (!m) return null;
    inode = m[1];
  } catch {
    return null;
  }
  // cols[3] the state (0A is LISTEN), cols[4] tx_queue:rx_queue, cols[9] the inode.
  const row = tcpSockets().find((cols) => cols.length > 9 && cols[9] === inode && cols[3] === '0A');
  return row ? parseInt(row[4].split(':')[1], 16) : null;
}
