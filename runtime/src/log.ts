// The arbiter's error log, in gunicorn's line format: `[2024-05-01 12:00:00 +0000] [PID] [LEVEL] message`.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { SyslogSpec, formatRecord, syslogPacket } from './logconfig';

export const LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;
export type Level = (typeof LEVELS)[number];

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Local time as gunicorn prints it, with the UTC offset. */
export function timestamp(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

export interface LogOptions {
  /** A logging.Formatter format for the whole line (from logconfig_dict); gunicorn's line otherwise. */
  format?: string;
  datefmt?: string;
  /** Also send each line to syslog. */
  syslog?: SyslogSpec;
}

/** A standard stream as a log target: '-' is standard error, '-stdout' standard output. */
const STREAMS: Record<string, number> = { '-': 2, '-stdout': 1 };

export class Logger {
  private fd: number;
  private threshold: number;
  private syslogSend: ((packet: Buffer) => void) | undefined;

  constructor(
    private target: string = '-',
    level: Level = 'info',
    private options: LogOptions = {},
  ) {
    this.threshold = LEVELS.indexOf(level);
    this.fd = this.open();
    if (options.syslog) this.syslogSend = syslogSender(options.syslog);
  }

  private open(): number {
    return STREAMS[this.target] ?? fs.openSync(this.target, 'a');
  }

  /** USR1: reopen the file so that log rotation works. */
  reopen(): void {
    if (this.target in STREAMS) return;
    const old = this.fd;
    this.fd = this.open();
    fs.closeSync(old);
  }

  /** The log file's descriptor, or undefined while logging to standard error. */
  get fileFd(): number | undefined {
    return this.target in STREAMS ? undefined : this.fd;
  }

  setLevel(level: Level): void {
    this.threshold = LEVELS.indexOf(level);
  }

  log(level: Level, message: string): void {
    if (LEVELS.indexOf(level) < this.threshold) return;
    this.syslogSend?.(syslogPacket(this.options.syslog!, level, message));
    const line = this.options.format !== undefined
      ? `${formatRecord(this.options.format, this.options.datefmt, level, message)}\n`
      : `[${timestamp()}] [${process.pid}] [${level === 'warning' ? 'WARNING' : level.toUpperCase()}] ${message}\n`;
    // Synchronous on purpose: the line must be out before a signal or exit can interrupt us.
    try {
      fs.writeSync(this.fd, line);
    } catch {
      /* a closed stderr must not take the arbiter down */
    }
  }

  debug(m: string): void { this.log('debug', m); }
  info(m: string): void { this.log('info', m); }
  warning(m: string): void { this.log('warning', m); }
  error(m: string): void { this.log('error', m); }
  critical(m: string): void { this.log('critical', m); }

  close(): void {
    if (!(this.target in STREAMS)) fs.closeSync(this.fd);
  }
}

// Node has no unix datagram sockets: for unix://PATH#dgram (/dev/log) a small Python process relays the
// packets, each read from its standard input behind a 4-byte length. It ends when the arbiter does (EOF).
const DGRAM_RELAY = `
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
r = sys.stdin.buffer
while True:
    head = r.read(4)
    if len(head) < 4:
        break
    data = r.read(struct.unpack(">I", head)[0])
    try:
        s.sendto(data, sys.argv[1])
    except OSError:
        pass
`;

/** Sends syslog packets: UDP datagrams, one stream connection (TCP, unix stream), or through the relay. */
function syslogSender(spec: SyslogSpec): ((packet: Buffer) => void) | undefined {
  const address = spec.address;
  if (address.kind === 'udp') {
    const socket = dgram.createSocket(net.isIPv6(address.host) ? 'udp6' : 'udp4');
    socket.on('error', () => undefined);
    socket.unref();
    return (packet) => socket.send(packet, address.port, address.host);
  }
  if (address.kind === 'unix' && address.dgram) {
    const relay = spawn(spec.python, ['-c', DGRAM_RELAY, address.path], { stdio: ['pipe', 'ignore', 'ignore'] });
    relay.on('error', () => undefined);
    relay.stdin!.on('error', () => undefined);
    relay.unref();
    (relay.stdin as unknown as net.Socket).unref();
    return (packet) => {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(packet.length);
      relay.stdin!.write(Buffer.concat([head, packet]));
    };
  }
  let conn: net.Socket | undefined;
  return (packet) => {
    if (!conn || conn.destroyed) {
      conn = address.kind === 'unix' ? net.createConnection(address.path) : net.createConnection(address.port, address.host);
      conn.on('error', () => conn?.destroy());
      conn.unref();
    }
    conn.write(packet);
  };
}
