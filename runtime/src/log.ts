// The arbiter's error log, in gunicorn's line format: `[2024-05-01 12:00:00 +0000] [PID] [LEVEL] message`.
import fs from 'node:fs';

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

export class Logger {
  private fd: number;
  private threshold: number;

  constructor(
    private target: string = '-',
    level: Level = 'info',
  ) {
    this.threshold = LEVELS.indexOf(level);
    this.fd = this.open();
  }

  private open(): number {
    return this.target === '-' ? 2 : fs.openSync(this.target, 'a');
  }

  /** USR1: reopen the file so that log rotation works. */
  reopen(): void {
    if (this.target === '-') return;
    const old = this.fd;
    this.fd = this.open();
    fs.closeSync(old);
  }

  /** The log file's descriptor, or undefined while logging to standard error. */
  get fileFd(): number | undefined {
    return this.target === '-' ? undefined : this.fd;
  }

  setLevel(level: Level): void {
    this.threshold = LEVELS.indexOf(level);
  }

  log(level: Level, message: string): void {
    if (LEVELS.indexOf(level) < this.threshold) return;
    const line = `[${timestamp()}] [${process.pid}] [${level === 'warning' ? 'WARNING' : level.toUpperCase()}] ${message}\n`;
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
    if (this.target !== '-') fs.closeSync(this.fd);
  }
}
