// The arbiter's statsd metrics (gunicorn's names, over UDP): the gunicorn.workers gauge and log-level counters.
// The workers send the per-request metrics themselves (runtime/python/unicorn_worker/statsd.py).
import dgram from 'node:dgram';
import net from 'node:net';
import { Logger } from './log';
import { parseStatsdAddress } from './core/settings';

/** One UDP socket per statsd_host; best effort, never in the way of the server. */
class StatsdClient {
  private readonly socket: dgram.Socket;
  private readonly prefix: string;
  private readonly suffix: string;

  constructor(readonly host: string, readonly port: number, prefix: string, tags: string) {
    this.prefix = prefix && !prefix.endsWith('.') ? `${prefix}.` : prefix;
    this.suffix = tags ? `|#${tags}` : '';
    this.socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    this.socket.on('error', () => undefined); // nobody listening: metrics are fire-and-forget
    this.socket.unref(); // never what keeps the arbiter alive
  }

  send(metric: string): void {
    this.socket.send(`${this.prefix}${metric}${this.suffix}`, this.port, this.host, () => undefined);
  }

  close(): void {
    this.socket.close();
  }
}

let client: StatsdClient | undefined;
let clientKey = '';
let lastWorkers: number | undefined;

/** The client for these settings (made again when a reload changed them), or undefined when statsd_host is unset. */
function statsdFor(settings: Record<string, unknown>): StatsdClient | undefined {
  const host = settings.statsd_host as string | null | undefined;
  if (!host) {
    client?.close();
    client = undefined;
    clientKey = '';
    return undefined;
  }
  const key = `${host}\n${settings.statsd_prefix ?? ''}\n${settings.dogstatsd_tags ?? ''}`;
  if (key !== clientKey) {
    client?.close();
    const address = parseStatsdAddress(host)!; // the registry validated it
    client = new StatsdClient(address.host, address.port, String(settings.statsd_prefix ?? ''), String(settings.dogstatsd_tags ?? ''));
    clientKey = key;
    lastWorkers = undefined;
  }
  return client;
}

/** gunicorn.workers: the number of worker processes, as a gauge, each time it changes (gunicorn's manage_workers). */
export function reportWorkers(settings: Record<string, unknown>, count: number): void {
  const statsd = statsdFor(settings);
  if (!statsd || count === lastWorkers) return;
  lastWorkers = count;
  statsd.send(`gunicorn.workers:${count}|g`);
}

/**
 * gunicorn.log.LEVEL counters for the arbiter's own warning-or-worse lines: wraps this logger's methods
 * (only when statsd_host is set, so an unset one costs nothing). Reads the settings given at start.
 */
export function countLogLines(log: Logger, settings: Record<string, unknown>): void {
  const host = settings.statsd_host as string | null | undefined;
  if (!host) return;
  const address = parseStatsdAddress(host)!;
  const statsd = new StatsdClient(address.host, address.port, String(settings.statsd_prefix ?? ''), String(settings.dogstatsd_tags ?? ''));
  for (const level of ['warning', 'error', 'critical'] as const) {
    const write = log[level].bind(log);
    log[level] = (m: string) => {
      write(m);
      statsd.send(`gunicorn.log.${level}:1|c|@1.0`);
    };
  }
}
