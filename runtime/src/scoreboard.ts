// The scoreboard: one fixed-size slot per worker in a small shared file. Workers write their own
// slot at fixed offsets through a shared mapping (heartbeat, state, current request); the arbiter only
// reads the file, which sees those stores through the same page cache.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WORKER_STATES, WorkerState } from './core/control-protocol';

/** Bytes per slot; the layout below is mirrored in runtime/python/unicorn_worker/scoreboard.py. */
export const SLOT_SIZE = 512;

/**
 * Slot layout, little-endian:
 *   0 u32 pid           4 u8 state        5 u8 debugger (0 off, 1 listening)   6 u16 debug port
 *   8 f64 heartbeat    16 f64 booted at   24 f64 requests served               32 f64 request start
 *  40 16 bytes method (NUL-padded)       56 200 bytes path (NUL-padded, truncated)
 * 256 u32 open connections (loops that hold several: gthread, asgi, gevent; 0 for sync)
 * 260..511 reserved for per-worker metrics counters (the operations work: request counts by status
 *          class, duration histogram); a field is added here, in both files, never moved.
 * Times are Unix seconds. Requests are a double so that both sides read them without 64-bit ints.
 */

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

export class Scoreboard {
  readonly path: string;
  readonly dir: string;
  private readonly fd: number;
  private slots = 0;
  private readonly used = new Set<number>();

  constructor(dir: string = defaultScoreboardDir()) {
    this.dir = dir;
    this.path = path.join(dir, `unicorn-${process.pid}-${Date.now().toString(36)}.scoreboard`);
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
