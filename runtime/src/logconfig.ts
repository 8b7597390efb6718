// What of the workers' Python logging configuration applies to the arbiter's own lines. The arbiter
// is Node, so it cannot run logging.config; it takes from logconfig_dict / logconfig_json the parts
// that mean the same everywhere — the gunicorn.error logger's level, its first handler's format and
// datefmt, and that handler's destination when it is a file or a standard stream — and syslog.
// Anything else (filters, custom classes, fileConfig .ini files) applies to the workers only.
import fs from 'node:fs';
import { LEVELS, Level } from './log';
import { Settings, parseSyslogAddress, SyslogAddress } from './core/settings';

export interface ArbiterLogSpec {
  level: Level;
  /** A logging.Formatter format string (%(asctime)s, %(process)d, %(levelname)s, %(message)s, %(name)s …). */
  format?: string;
  datefmt?: string;
  /** A file, or '-' (standard error) / '-stdout'. Undefined: errorlog. */
  target?: string;
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The dictConfig the workers apply, when the config is a dictionary (logconfig_dict wins over logconfig_json). */
export function logDictConfig(settings: Settings): Dict | undefined {
  const dict = settings.logconfig_dict;
  if (isDict(dict) && Object.keys(dict).length) return dict;
  const json = settings.logconfig_json;
  if (typeof json === 'string' && json) {
    try {
      const parsed = JSON.parse(fs.readFileSync(json, 'utf8')) as unknown;
      return isDict(parsed) ? parsed : undefined;
    } catch {
      return undefined; // the workers report it with Python's own words
    }
  }
  return undefined;
}

function levelName(v: unknown): Level | undefined {
  if (typeof v === 'number') return LEVELS[Math.min(4, Math.max(0, Math.floor(v / 10) - 1))];
  if (typeof v !== 'string') return undefined;
  const low = v.toLowerCase() === 'warn' ? 'warning' : v.toLowerCase();
  return (LEVELS as readonly string[]).includes(low) ? (low as Level) : undefined;
}

export function arbiterLogSpec(settings: Settings): ArbiterLogSpec {
  const spec: ArbiterLogSpec = { level: settings.loglevel as Level };
  const dict = logDictConfig(settings);
  if (!dict) return spec;
  const loggers = isDict(dict.loggers) ? dict.loggers : {};
  const logger = isDict(loggers['gunicorn.error']) ? loggers['gunicorn.error'] : isDict(dict.root) ? dict.root : undefined;
  if (!logger) return spec;
  spec.level = levelName(logger.level) ?? spec.level;
  const handlers = isDict(dict.handlers) ? dict.handlers : {};
  const names = Array.isArray(logger.handlers) ? logger.handlers : [];
  const handler = names.map((n) => handlers[String(n)]).find(isDict);
  if (!handler) return spec;
  const formatters = isDict(dict.formatters) ? dict.formatters : {};
  const formatter = typeof handler.formatter === 'string' ? formatters[handler.formatter] : undefined;
  if (isDict(formatter) && typeof formatter.format === 'string') {
    spec.format = formatter.format;
    if (typeof formatter.datefmt === 'string') spec.datefmt = formatter.datefmt;
  }
  const klass = String(handler.class ?? '');
  if (/(^|\.)(Watched|RotatingFile|TimedRotatingFile|)FileHandler$/.test(klass) && typeof handler.filename === 'string') {
    spec.target = handler.filename;
  } else if (/(^|\.)StreamHandler$/.test(klass)) {
    spec.target = handler.stream === 'ext://sys.stdout' ? '-stdout' : '-';
  }
  return spec;
}

// --- formatting a line as logging.Formatter would ------------------------------------------------------

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** time.strftime for the directives log formats use. */
export function strftime(fmt: string, d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const z = `${off >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  const table: Record<string, string> = {
    Y: String(d.getFullYear()), y: pad(d.getFullYear() % 100), m: pad(d.getMonth() + 1), d: pad(d.getDate()),
    H: pad(d.getHours()), I: pad(((d.getHours() + 11) % 12) + 1), M: pad(d.getMinutes()), S: pad(d.getSeconds()),
    p: d.getHours() < 12 ? 'AM' : 'PM', z, b: MONTHS[d.getMonth()], a: DAYS[d.getDay()], j: pad(dayOfYear(d), 3), '%': '%',
  };
  return fmt.replace(/%([a-zA-Z%])/g, (m, c: string) => table[c] ?? m);
}

function dayOfYear(d: Date): number {
  return Math.floor((Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(d.getFullYear(), 0, 0)) / 86400000);
}

/** One record through a %-style logging format (unknown attributes stay as written). */
export function formatRecord(format: string, datefmt: string | undefined, level: Level, message: string, d = new Date()): string {
  const levelname = level.toUpperCase();
  const asctime = datefmt ? strftime(datefmt, d) : `${strftime('%Y-%m-%d %H:%M:%S', d)},${pad(d.getMilliseconds(), 3)}`;
  const record: Record<string, string | number> = {
    asctime, levelname, message, name: 'gunicorn.error', process: process.pid, levelno: (LEVELS.indexOf(level) + 1) * 10,
    created: d.getTime() / 1000, msecs: d.getMilliseconds(), processName: 'MainProcess', threadName: 'MainThread',
  };
  return format.replace(/%\((\w+)\)(-?)(\d*)(?:\.\d+)?([sdfr])/g, (m, key: string, left: string, width: string, conv: string) => {
    if (!(key in record)) return m;
    let v = record[key];
    if (conv === 'd') v = Math.trunc(Number(v));
    const text = conv === 'f' ? Number(v).toFixed(6) : String(v);
    const w = Number(width || 0);
    return left ? text.padEnd(w) : text.padStart(w);
  });
}

// --- syslog ----------------------------------------------------------------------------------------------

const FACILITY: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  security: 4, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};
const PRIORITY: Record<Level, number> = { debug: 7, info: 6, warning: 4, error: 3, critical: 2 };

export interface SyslogSpec {
  address: SyslogAddress;
  facility: number;
  /** gunicorn.PREFIX.error: what precedes each message, as gunicorn's syslog handler writes it. */
  tag: string;
  /** The interpreter that relays to a unix datagram socket (Node cannot open one). */
  python: string;
}

/** syslog for the arbiter's lines, when `syslog` is on. */
export function syslogSpec(settings: Settings, app: string | null, python: string): SyslogSpec | undefined {
  if (!settings.syslog) return undefined;
  const address = parseSyslogAddress(String(settings.syslog_addr));
  if (!address) return undefined;
  const prefix = String(settings.syslog_prefix ?? settings.proc_name ?? app ?? 'unicorn').replace(/:/g, '.');
  return { address, facility: FACILITY[String(settings.syslog_facility).toLowerCase()] ?? 1, tag: `gunicorn.${prefix}.error`, python };
}

/** The datagram Python's SysLogHandler sends for the same record: <PRI>TAG: [PID] message, NUL-terminated. */
export function syslogPacket(spec: SyslogSpec, level: Level, message: string): Buffer {
  return Buffer.from(`<${spec.facility * 8 + PRIORITY[level]}>${spec.tag}: [${process.pid}] ${message}\0`, 'utf8');
}
