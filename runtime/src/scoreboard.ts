// The scoreboard: one fixed-size slot per worker in a small shared file. Workers write their own
// slot at fixed offsets through a shared mapping (heartbeat, state, current request); the arbiter only
// reads the file, which sees those stores through the same page cache.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Counters, WORKER_STATES, WorkerState } from './core/control-protocol';
import { isAlive } from './procinfo';

/** Bytes per slot; the layout below is mirrored in runtime/python/unicorn_worker/scoreboard.py. */
export const SLOT_SIZE = 512;

/**
 * Slot layout, little-endian:
 *   0 u32 pid           4 u8 state        5 u8 debugger (0 off, 1 listening)   6 u16 debug port
 *   8 f64 heartbeat    16 f64 booted at   24 f64 requests served               32 f64 request start
 *  40 16 bytes method (NUL-padded)       56 200 bytes path (NUL-padded, truncated)
 * 256 u32 open connections (loops that hold several: gthread, asgi, gevent; 0 for sync)
 * 260 u32 reserved
 * 264 f64[5] responses by status class 1xx..5xx      304 f64 seconds spent on requests (sum)
 * 312 f64[12] requests by duration bucket (not cumulative; upper bounds DURATION_BUCKETS, then +Inf)
 * 408 f64 response body bytes sent                   416..511 reserved
 * A field is added here, in both files, never moved. The counters grow for a worker's life; the
 * arbiter adds a dead worker's last values to its own totals (metrics.ts).
 * Times are Unix seconds. Counts are doubles so that both sides read them without 64-bit ints.
 */
/** Upper bounds (seconds) of the request duration buckets, Prometheus' defaults; the slot has one more for +Inf. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export function emptyCounters(): Counters {
  return { byStatus: [0, 0, 0, 0, 0], byDuration: new Array(DURATION_BUCKETS.length + 1).fill(0), seconds: 0, bytesSent: 0 };
}

export function addCounters(into: Counters, c: Counters): void {
  c.byStatus.forEach((n, i) => (into.byStatus[i] += n));
  c.byDuration.forEach((n, i) => (into.byDuration[i] += n));
  into.seconds += c.seconds;
  into.bytesSent += c.bytesSent;
}

function readCounters(buf: Buffer): Counters {
  const f64s = (at: number, n: number) => Array.from({ length: n }, (_, i) => buf.readDoubleLE(at + 8 * i));
  return { byStatus: f64s(264, 5), byDuration: f64s(312, DURATION_BUCKETS.length + 1), seconds: buf.readDoubleLE(304), bytesSent: buf.readDoubleLE(408) };
}


export interface Slot {
  slot: number;
  pid: number;
  state: WorkerState;
  debugPort: number | null;
  heartbeat: number;
  bootedAt: number;
  requests: number;
  request: { method: string; path: string; startedAt: number } | null;
  /** Connections the worker holds open (keep-alive, websockets); 0 for the sync loop. */
  connections: number;
  counters: Counters;
}

function text(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('latin1', start, end >= 0 && end < start + len ? end : start + len);
}

export function decodeSlot(buf: Buffer, slot: number): Slot {
  const state = WORKER_STATES[buf.readUInt8(4)] ?? 'free';
  const debugging = buf.readUInt8(5) !== 0;
  const port = buf.readUInt16LE(6);
  const startedAt = buf.readDoubleLE(32);
  return {
    slot,
    pid: buf.readUInt32LE(0),
    state,
    debugPort: debugging && port ? port : null,
    heartbeat: buf.readDoubleLE(8),
    bootedAt: buf.readDoubleLE(16),
    requests: buf.readDoubleLE(24),
    request: state === 'busy' ? { method: text(buf, 40, 16), path: text(buf, 56, 200), startedAt } : null,
    connections: buf.readUInt32LE(256),
    counters: readCounters(buf),
  };
}

/** Where scoreboards live by default: /dev/shm when there is one (memory, never blocks on disk), else tmp. */
export function defaultScoreboardDir(): string {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

/**
 * The name of a file this server keeps beside its scoreboard (in /dev/shm or worker_tmp_dir): our pid
 * first, so that the next start can tell a file whose server is gone (removeStaleFiles).
 */
export function serverFileName(kind: 'scoreboard' | 'workers.sock'): string {
  return `unicorn-${process.pid}-${Date.now().toString(36)}.${kind}`;
}

const SERVER_FILE = /^unicorn-(\d+)-[0-9a-z]+\.(scoreboard|workers\.sock)$/;

/**
 * Removes the files a killed server left in `dir`: only ours (same owner), and only those whose
 * server pid no longer exists. Returns the names removed.
 */
export function removeStaleFiles(dir: string): string[] {
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = SERVER_FILE.exec(name);
    if (!m || Number(m[1]) === process.pid || isAlive(Number(m[1]))) continue;
    const file = path.join(dir, name);
    try {
      if (fs.lstatSync(file).uid !== uid) continue;
      fs.unlinkSync(file);
      removed.push(name);
    } catch {
      /* gone meanwhile */
    }
  }
  return removed;
}

export class Scoreboard {
  readonly path: string;
  readonly dir: string;
  private readonly fd: number;
  private slots = 0;
  private readonly used = new Set<number>();

  constructor(dir: string = defaultScoreboardDir()) {
    this.dir = dir;
    this.path = path.join(dir, serverFileName('scoreboard'));
    this.fd = fs.openSync(this.path, 'w+', 0o600);
  }

  /** Reserves the lowest free slot and clears it, growing the file when needed. */
  allocate(): number {
    let slot = 0;
    while (this.used.has(slot)) slot++;
    this.used.add(slot);
    if (slot >= this.slots) {
      this.slots = slot + 1;
      fs.ftruncateSync(this.fd, this.slots * SLOT_SIZE);
    }
    fs.writeSync(this.fd, Buffer.alloc(SLOT_SIZE), 0, SLOT_SIZE, slot * SLOT_SIZE);
    return slot;
  }

  release(slot: number): void {
    this.used.delete(slot);
  }

  /** Every slot in use, read in one system call. */
  read(): Map<number, Slot> {
    const out = new Map<number, Slot>();
    if (!this.slots) return out;
    const buf = Buffer.alloc(this.slots * SLOT_SIZE);
    fs.readSync(this.fd, buf, 0, buf.length, 0);
    for (const slot of this.used) out.set(slot, decodeSlot(buf.subarray(slot * SLOT_SIZE, (slot + 1) * SLOT_SIZE), slot));
    return out;
  }

  close(): void {
    fs.closeSync(this.fd);
    try {
      fs.unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}
