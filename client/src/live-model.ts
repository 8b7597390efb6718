// The live view's numbers, from successive `status` answers: per-worker requests per second (the
// difference of the request counters over the time between two answers), busy state and memory,
// and the listen queue, over the last minutes. Pure: no editor API, so node:test checks it.
import type { ServerStatus } from '../../runtime/src/core/control-protocol';

export interface WorkerSeries {
  pid: number;
  /** Requests per second in each interval (null before the worker's second sample). */
  rps: Array<number | null>;
  busy: Array<boolean | null>;
  rssMb: Array<number | null>;
}

export interface LiveSnapshot {
  master: number;
  /** Seconds since the first sample, one per sample. */
  times: number[];
  workers: WorkerSeries[];
  /** Connections waiting in the first listener's accept queue (null where unknown). */
  queue: Array<number | null>;
  backlog: number | null;
  /** Totals of the last interval, for the heading. */
  now: { rps: number; busy: number; workers: number; queue: number | null };
}

interface Point {
  t: number;
  status: ServerStatus;
}

export class LiveModel {
  private readonly points: Point[] = [];

  constructor(
    /** How many samples to keep: at one a second, 300 are the last five minutes. */
    readonly capacity = 300,
  ) {}

  /** Adds one status answer taken at `t` (ms). */
  push(status: ServerStatus, t: number): void {
    this.points.push({ t, status });
    if (this.points.length > this.capacity) this.points.shift();
  }

  get size(): number {
    return this.points.length;
  }

  snapshot(): LiveSnapshot | undefined {
    const last = this.points[this.points.length - 1];
    if (!last) return undefined;
    const t0 = this.points[0].t;
    const pids = new Set<number>();
    for (const p of this.points) for (const w of p.status.workers) pids.add(w.pid);
    // Workers of the latest sample first, in their order; those gone since keep their history after them.
    const order = [...last.status.workers.map((w) => w.pid), ...[...pids].filter((pid) => !last.status.workers.some((w) => w.pid === pid))];
    const workers: WorkerSeries[] = order.map((pid) => {
      const s: WorkerSeries = { pid, rps: [], busy: [], rssMb: [] };
      let prev: { t: number; requests: number } | undefined;
      for (const p of this.points) {
        const w = p.status.workers.find((x) => x.pid === pid);
        if (!w) {
          s.rps.push(null);
          s.busy.push(null);
          s.rssMb.push(null);
          prev = undefined;
          continue;
        }
        const dt = prev ? (p.t - prev.t) / 1000 : 0;
        s.rps.push(prev && dt > 0 ? Math.max(0, w.requests - prev.requests) / dt : null);
        s.busy.push(w.state === 'busy');
        s.rssMb.push(w.rss === null ? null : w.rss / (1024 * 1024));
        prev = { t: p.t, requests: w.requests };
      }
      return s;
    });
    const queueOf = (st: ServerStatus) => st.master.listen_queue?.[0]?.queued ?? null;
    const lastRps = workers.reduce((n, w) => n + (w.rps[w.rps.length - 1] ?? 0), 0);
    return {
      master: last.status.master.pid,
      times: this.points.map((p) => (p.t - t0) / 1000),
      workers,
      queue: this.points.map((p) => queueOf(p.status)),
      backlog: last.status.master.listen_queue?.[0]?.backlog ?? null,
      now: {
        rps: lastRps,
        busy: last.status.workers.filter((w) => w.state === 'busy').length,
        workers: last.status.workers.length,
        queue: queueOf(last.status),
      },
    };
  }
}
