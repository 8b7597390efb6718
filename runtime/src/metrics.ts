// Operations endpoints: /metrics (Prometheus text format), /healthz and /readyz, served by the arbiter
// on `metrics_bind` only — never on the app's listeners. The figures come from the scoreboard (the
// workers' per-request counters), the arbiter's own totals and the kernel (listen queues, memory).
import fs from 'node:fs';
import http from 'node:http';
import { CliError } from './core/errors';
import { parseMetricsAddress } from './core/settings';
import { MetricsSnapshot, RESTART_REASONS, WorkerState } from './core/control-protocol';
import { DURATION_BUCKETS } from './scoreboard';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
const WORKER_STATES: WorkerState[] = ['booting', 'idle', 'busy', 'exiting'];

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The snapshot in Prometheus' text exposition format (version 0.0.4). */
export function renderMetrics(m: MetricsSnapshot): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string, samples: Array<[string, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${Number.isFinite(value) ? value : 'NaN'}`);
  };
  family('unicorn_up', 'gauge', 'The arbiter is running (1).', [['', 1]]);
  family('unicorn_build_info', 'gauge', 'The Unicorn version and worker class, as labels.', [
    [`{version="${label(m.version)}",worker_class="${label(m.workerClass)}"}`, 1],
  ]);
  family('unicorn_ready', 'gauge', 'What /readyz says: 1 ready, 0 booting or stopping.', [['', m.ready ? 1 : 0]]);
  family('unicorn_workers', 'gauge', 'Worker processes by state.',
    WORKER_STATES.map((s) => [`{state="${s}"}`, m.workers.filter((w) => w.state === s).length]));
  family('unicorn_requests_total', 'counter', 'Responses by status class, over the life of the server.',
    STATUS_CLASSES.map((c, i) => [`{status="${c}"}`, m.totals.byStatus[i]]));
  const buckets: Array<[string, number]> = [];
  let cumulative = 0;
  DURATION_BUCKETS.forEach((le, i) => {
    cumulative += m.totals.byDuration[i];
    buckets.push([`_bucket{le="${le}"}`, cumulative]);
  });
  const count = m.totals.byDuration.reduce((a, b) => a + b, 0);
  out.push('# HELP unicorn_request_duration_seconds Time from a complete request head to the end of its response.');
  out.push('# TYPE unicorn_request_duration_seconds histogram');
  for (const [suffix, value] of [...buckets, ['_bucket{le="+Inf"}', count], ['_sum', m.totals.seconds], ['_count', count]] as Array<[string, number]>) {
    out.push(`unicorn_request_duration_seconds${suffix} ${value}`);
  }
  family('unicorn_response_body_bytes_total', 'counter', 'Response body bytes sent.', [['', m.totals.bytesSent]]);
  family('unicorn_listen_queue', 'gauge', 'Connections waiting in the kernel accept queue of each listener (TCP or unix).',
    m.listenQueues.map((q) => [`{listener="${label(q.listener)}"}`, q.queued]));
  family('unicorn_worker_restarts_total', 'counter', 'Workers replaced, by reason.',
    RESTART_REASONS.map((r) => [`{reason="${r}"}`, m.restarts[r]]));
  family('unicorn_worker_resident_memory_bytes', 'gauge', 'Resident memory of each worker.',
    m.workers.filter((w) => w.rss !== null).map((w) => [`{pid="${w.pid}"}`, w.rss as number]));
  family('unicorn_worker_connections', 'gauge', 'Connections each worker holds open.',
    m.workers.map((w) => [`{pid="${w.pid}"}`, w.connections]));
  family('unicorn_worker_requests', 'gauge', 'Requests each worker has served since it started.',
    m.workers.map((w) => [`{pid="${w.pid}"}`, w.requests]));
  return out.join('\n') + '\n';
}

export interface MetricsSource {
  snapshot(): Promise<MetricsSnapshot>;
  /** /healthz: the arbiter runs and at least one worker lives. */
  healthy(): boolean;
  /** /readyz: a worker of the current generation has booted and the server is not stopping. */
  ready(): boolean;
}

/** The arbiter's HTTP server for /metrics, /healthz and /readyz. */
export class MetricsServer {
  private server: http.Server | undefined;

  constructor(
    readonly address: string,
    private readonly source: MetricsSource,
  ) {}

  /** Resolves to the address actually bound (port 0 resolved); throws CliError naming metrics_bind. */
  async listen(): Promise<string> {
    const where = parseMetricsAddress(this.address);
    if (!where) throw new CliError(`metrics_bind "${this.address}" is not HOST:PORT or unix:PATH — write it as 127.0.0.1:9100`);
    const server = http.createServer((req, res) => this.answer(req, res));
    server.keepAliveTimeout = 5000;
    if ('path' in where) {
      try {
        fs.unlinkSync(where.path); // a stale socket file of a server that died
      } catch {
        /* none */
      }
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new CliError(`metrics_bind "${this.address}": ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message} — choose another address for --metrics-bind`)));
      if ('path' in where) server.listen(where.path, resolve);
      else server.listen(where.port, where.host, resolve);
    });
    this.server = server;
    const a = server.address();
    return typeof a === 'string' || !a ? `unix:${'path' in where ? where.path : a}` : `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET or HEAD only\n');
    if (url === '/metrics') {
      this.source.snapshot().then(
        (m) => send(200, renderMetrics(m), 'text/plain; version=0.0.4; charset=utf-8'),
        (e: Error) => send(500, `${e.message}\n`),
      );
      return;
    }
    if (url === '/healthz') return this.source.healthy() ? send(200, 'ok\n') : send(503, 'no worker is running\n');
    if (url === '/readyz') return this.source.ready() ? send(200, 'ready\n') : send(503, 'not ready\n');
    send(404, 'not found: try /metrics, /healthz or /readyz\n');
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
    this.server = undefined;
  }
}
