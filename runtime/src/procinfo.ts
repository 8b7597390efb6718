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
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string;
    try {
      table = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols[1] is local ADDR:PORT, cols[3] the state; 01 is ESTABLISHED.
      if (cols.length > 3 && cols[3] === '01' && cols[1].endsWith(`:${hexPort}`)) return true;
    }
  }
  return false;
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
