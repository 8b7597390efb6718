// The settings registry: every setting Unicorn knows is declared here once, and everything else
// (CLI, config files, --print-config, the language server, the README reference) reads it.

export type SettingType = 'int' | 'mode' | 'bool' | 'string' | 'list' | 'dict' | 'object' | 'enum' | 'addresses';
export type Side = 'master' | 'worker';
/**
 * The processes that read a setting: the arbiter (master), the workers, or both. The arbiter sends a
 * worker exactly the settings whose sides include 'worker' (see runtime/WORKER_PROTOCOL.md).
 */
export type Sides = readonly Side[];
const MASTER: Sides = ['master'];
const WORKER: Sides = ['worker'];
const BOTH: Sides = ['master', 'worker'];
export type SettingValue = string | number | boolean | null | string[] | Record<string, unknown>;

export interface Setting {
  name: string;
  section: string;
  /** Command-line flags, short first. Empty: config file only. */
  flags: string[];
  metavar?: string;
  type: SettingType;
  /** The default value, or how to compute it from the environment. */
  default: SettingValue | ((env: NodeJS.ProcessEnv) => SettingValue);
  /** How the default reads in documentation, when the value alone would mislead. */
  defaultText?: string;
  choices?: string[];
  /**
   * Other spellings of choices (lower-cased, numbers as their decimal text) → the choice they mean; for a
   * bool, other words → 'true' or 'false'.
   */
  aliases?: Record<string, string>;
  /** Spellings refused with a reason of their own (a worker class gunicorn removed, a custom class path). */
  refuse?: (spelled: string) => { problem: string; fix: string } | undefined;
  /** Choices that are known but not built yet. */
  unsupportedChoices?: Record<string, string>;
  min?: number;
  side: Sides;
  doc: string;
  /**
   * Set when the setting is gunicorn's but not built: a value other than gunicorn's own default (`default`)
   * is refused with this reason; the default itself is accepted, since it asks for nothing.
   */
  unsupported?: string;
  /**
   * Set when the setting is gunicorn's and ignoring it is safe: why it has no effect here. A value other
   * than gunicorn's default gets a warning that says so; the default is accepted silently.
   */
  ignored?: string;
  /** Flag repeats append (bind, raw_env) instead of replacing. */
  repeatable?: boolean;
  /** A string setting that also takes a whole number, as its text (user and group: a uid or gid). */
  numberAsString?: boolean;
  /** Other spellings of gunicorn's default for an ignored or refused setting. */
  sameAsDefault?: unknown[];
  /** Extra check after type coercion; returns a problem and its fix, or undefined. */
  check?: (value: never) => { problem: string; fix: string } | undefined;
}

export const VERSION = '0.1.0';

/** statsd_host as gunicorn reads it: HOST:PORT, [IPv6]:PORT or HOST (port 8125); UDP only. */
export function parseStatsdAddress(text: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text) ?? /^([^:\s/\[\]]+)(?::(\d+))?$/.exec(text);
  if (!m) return undefined;
  const port = m[2] === undefined ? 8125 : Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1], port } : undefined;
}

function statsdAddressProblem(text: string): { problem: string; fix: string } | undefined {
  if (text.startsWith('unix:')) return { problem: 'unix datagram sockets are not supported yet', fix: 'give HOST:PORT of a UDP statsd server' };
  return parseStatsdAddress(text) ? undefined : { problem: `"${text}" is not HOST:PORT`, fix: 'write it as localhost:8125' };
}

/** metrics_bind: one TCP or unix address (the arbiter's own HTTP server; no fd://). */
export function parseMetricsAddress(text: string): { host: string; port: number } | { path: string } | undefined {
  if (text.startsWith('unix:')) return text.length > 5 ? { path: text.slice(5) } : undefined;
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([^:\s/\[\]]+):(\d+)$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 0 && port <= 65535 ? { host: m[1], port } : undefined;
}

function metricsAddressProblem(text: string): { problem: string; fix: string } | undefined {
  return parseMetricsAddress(text) ? undefined : { problem: `"${text}" is not HOST:PORT or unix:PATH`, fix: 'write it as 127.0.0.1:9100' };
}

const BIND_DOC =
  'Where to listen. Each entry is HOST:PORT, [IPv6]:PORT, a bare HOST (port 8000), unix:PATH ' +
  'or fd://N (a socket inherited from the parent). Repeat -b to listen on several addresses; ' +
  'every worker accepts on all of them. Port 0 asks the kernel for a free port.';

const SYSLOG_FACILITIES = ['auth', 'authpriv', 'cron', 'daemon', 'ftp', 'kern', 'lpr', 'mail', 'news', 'security', 'syslog',
  'user', 'uucp', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];

/** syslog_addr as gunicorn reads it: udp://HOST:PORT, tcp://HOST:PORT, unix://PATH[#stream|#dgram]. */
export type SyslogAddress = { kind: 'udp' | 'tcp'; host: string; port: number } | { kind: 'unix'; path: string; dgram: boolean };

export function parseSyslogAddress(text: string): SyslogAddress | undefined {
  const unix = /^unix:\/\/([^#]+)(?:#(stream|dgram))?$/.exec(text);
  if (unix) return { kind: 'unix', path: unix[1], dgram: unix[2] === 'dgram' };
  const net = /^(udp|tcp):\/\/(?:\[([0-9a-fA-F:.]+)\]|([^:/\[\]]+))(?::(\d+))?$/.exec(text);
  if (!net) return undefined;
  const port = net[4] === undefined ? 514 : Number(net[4]);
  return port >= 1 && port <= 65535 ? { kind: net[1] as 'udp' | 'tcp', host: net[2] ?? net[3], port } : undefined;
}

function syslogAddressProblem(text: string): { problem: string; fix: string } | undefined {
  return parseSyslogAddress(text) ? undefined
    : { problem: `"${text}" is not a syslog address`, fix: 'write udp://HOST:PORT, tcp://HOST:PORT or unix:///dev/log#dgram' };
}

/** http_protocols: gunicorn's names; a list without h1 would serve no client here, so it is refused. */
function httpProtocolsProblem(text: string | null): { problem: string; fix: string } | undefined {
  const names = (text ?? '').split(',').map((p) => p.trim().toLowerCase()).filter(Boolean);
  const bad = names.find((n) => !['h1', 'h2', 'h3'].includes(n));
  if (bad !== undefined) return { problem: `"${bad}" is not h1, h2 or h3`, fix: 'write it as h2,h1' };
  return names.includes('h1') ? undefined : { problem: 'not supported: Unicorn speaks HTTP/1.1 only and this list leaves out h1', fix: 'add h1 (h2,h1), or remove http_protocols' };
}

type CompatRow = [string, string, string[], SettingType, SettingValue,
  { ignored?: string; unsupported?: string; sameAsDefault?: unknown[]; check?: Setting['check'] }];

/** gunicorn settings Unicorn knows but does not build: gunicorn's default, and why they are ignored or refused. */
function compat(rows: CompatRow[]): Setting[] {
  return rows.map(([name, section, flags, type, def, how]) => s({
    name, section, flags, type, default: def, side: MASTER, metavar: type === 'bool' ? undefined : 'VALUE', ...how,
    doc: how.ignored
      ? `gunicorn's \`${name}\`: accepted and ignored, because ${how.ignored}. A value other than gunicorn's default gets a warning.`
      : `gunicorn's \`${name}\`: refused unless left at gunicorn's default, because ${how.unsupported}.`,
  }));
}

const s = (x: Setting): Setting => x;

/** gunicorn's and uvicorn's names for worker classes (lower-cased) → the class Unicorn runs. */
export const WORKER_CLASS_ALIASES: Record<string, string> = Object.fromEntries([
  ...['sync', 'gthread', 'gevent'].flatMap((k) => [[`egg:gunicorn#${k}`, k], [`gunicorn#${k}`, k]]),
  ['egg:gunicorn#asgi', 'asgi'], ['gunicorn#asgi', 'asgi'],
  ['gunicorn.workers.sync.syncworker', 'sync'],
  ['gunicorn.workers.gthread.threadworker', 'gthread'],
  ['gunicorn.workers.ggevent.geventworker', 'gevent'],
  ['gunicorn.workers.ggevent.geventpywsgiworker', 'gevent'],
  ['ggevent', 'gevent'], ['gevent_wsgi', 'gevent'], ['gevent_pywsgi', 'gevent'],
  ['egg:gunicorn#gevent_wsgi', 'gevent'], ['egg:gunicorn#gevent_pywsgi', 'gevent'],
  ['gunicorn.workers.gasgi.asgiworker', 'asgi'],
  ['uvicorn.workers.uvicornworker', 'asgi'],
  ['uvicorn.workers.uvicornh11worker', 'asgi'],
  ['uvicorn_worker.uvicornworker', 'asgi'],
  ['uvicorn_worker.uvicornh11worker', 'asgi'],
]);

/** Worker classes Unicorn refuses by name, and a user's own Worker subclass: why, and what to use. */
export function refusedWorkerClass(spelled: string): { problem: string; fix: string } | undefined {
  const name = spelled.trim().replace(/^egg:gunicorn#/i, '');
  const lower = name.toLowerCase();
  if (/^(eventlet|gunicorn\.workers\.geventlet\.eventletworker)$/.test(lower)) {
    return { problem: 'eventlet is not supported (gunicorn 26 removed its eventlet worker; eventlet is unmaintained)', fix: 'use -k gevent for greenlets, or -k asgi for an async app' };
  }
  if (/^(tornado|gunicorn\.workers\.gtornado\.tornadoworker)$/.test(lower)) {
    return { problem: 'tornado is not supported (Tornado apps are neither WSGI nor ASGI)', fix: 'run a Tornado app with its own server, or serve a WSGI app with -k gthread' };
  }
  if (/^[a-z_][\w]*(\.[a-z_][\w]*)+$/i.test(name)) {
    return {
      problem: `"${name}" looks like a custom gunicorn Worker subclass, which cannot run here (Unicorn's workers are its own Python loops, not gunicorn's Worker class)`,
      fix: 'use one of sync, gthread, asgi, gevent, and move per-worker setup into the post_fork or post_worker_init hook',
    };
  }
  return undefined;
}

/** Every setting, in reference order. */
export const SETTINGS: readonly Setting[] = [
  // --- Config file -------------------------------------------------------------------------
  s({
    name: 'config', section: 'Config File', flags: ['-c', '--config'], metavar: 'CONFIG', type: 'string',
    default: null, defaultText: './unicorn.conf.py, else ./gunicorn.conf.py', side: MASTER,
    doc: 'The Python config file to read. Without -c, Unicorn reads ./unicorn.conf.py when it exists, ' +
      'else ./gunicorn.conf.py, so an existing gunicorn config works unchanged. Top-level names are ' +
      'settings; helper names start with an underscore or are UPPER_CASE.',
  }),
  s({
    name: 'wsgi_app', section: 'Config File', flags: [], type: 'string', default: null, side: MASTER,
    doc: 'The WSGI application, as MODULE:CALLABLE, MODULE:FACTORY(ARGS) or MODULE (meaning ' +
      'MODULE:application). The APP_MODULE argument on the command line takes precedence.',
  }),
  // --- Interpreter -------------------------------------------------------------------------
  s({
    name: 'python', section: 'Interpreter', flags: ['--python'], metavar: 'PATH', type: 'string', default: null,
    defaultText: '$VIRTUAL_ENV/bin/python, else ./.venv/bin/python, else python3', side: MASTER,
    doc: 'The Python interpreter that evaluates config files and runs the workers (CPython 3.8 or ' +
      'newer). By default the active virtualenv, then a .venv folder in the working directory, then ' +
      'python3 from PATH.',
  }),
  // --- Server socket -----------------------------------------------------------------------
  s({
    name: 'bind', section: 'Server Socket', flags: ['-b', '--bind'], metavar: 'ADDRESS', type: 'addresses',
    default: ['127.0.0.1:8000'], repeatable: true, side: MASTER, doc: BIND_DOC,
  }),
  s({
    name: 'backlog', section: 'Server Socket', flags: ['--backlog'], metavar: 'INT', type: 'int', default: 2048, min: 1,
    side: BOTH,
    doc: 'The most connections the kernel queues while every worker is busy. The kernel silently caps ' +
      'it at net.core.somaxconn; connections beyond the queue are refused or dropped.',
  }),
  // --- Worker processes --------------------------------------------------------------------
  s({
    name: 'workers', section: 'Worker Processes', flags: ['-w', '--workers'], metavar: 'INT', type: 'int', min: 1,
    default: (env) => (env.WEB_CONCURRENCY ? Number(env.WEB_CONCURRENCY) : 1),
    defaultText: '$WEB_CONCURRENCY, else 1', side: MASTER,
    doc: 'How many worker processes serve requests. A sync worker answers one request at a time, a ' +
      'gthread worker as many as it has threads; two to four workers per core is the usual start.',
  }),
  s({
    name: 'worker_class', section: 'Worker Processes', flags: ['-k', '--worker-class'], metavar: 'CLASS', type: 'enum',
    choices: ['sync', 'gthread', 'asgi', 'gevent'], aliases: WORKER_CLASS_ALIASES, refuse: refusedWorkerClass,
    default: 'sync', side: BOTH,
    doc: 'How a worker serves connections. sync takes one connection at a time, answers one request ' +
      'and closes it: the choice for fast clients behind a reverse proxy. gthread keeps connections ' +
      'open (keep-alive, pipelining) and runs the app in a pool of threads; its selector thread ' +
      'reads each request head before a thread is involved, so slow or idle clients never hold a ' +
      'thread. As in gunicorn, sync with threads above 1 runs gthread. asgi serves ASGI apps ' +
      '(FastAPI, Starlette, Quart, Django\'s get_asgi_application()) on an asyncio event loop: ' +
      'keep-alive, streaming bodies, lifespan and websockets, up to worker_connections at once. ' +
      'gevent serves WSGI apps on greenlets (the gevent package must be importable by the workers\' ' +
      'interpreter), worker_connections requests at once. gunicorn\'s and uvicorn\'s class names ' +
      '(uvicorn.workers.UvicornWorker, gunicorn.workers.ggevent.GeventWorker, egg:gunicorn#gthread, ...) ' +
      'mean the matching class here; eventlet and tornado are refused.',
  }),
  s({
    name: 'threads', section: 'Worker Processes', flags: ['--threads'], metavar: 'INT', type: 'int', default: 1, min: 1,
    side: BOTH,
    doc: 'How many requests one gthread worker runs at once, each in its own thread; the app must be ' +
      'thread-safe. Setting more than 1 with the default worker_class sync switches the workers to ' +
      'gthread, as gunicorn does.',
  }),
  s({
    name: 'worker_connections', section: 'Worker Processes', flags: ['--worker-connections'], metavar: 'INT', type: 'int',
    default: 1000, min: 1, side: BOTH,
    doc: 'The most connections one gthread, asgi or gevent worker holds open at a time, idle keep-alive ' +
      'ones and websockets included. At the cap it stops accepting; further clients wait in the listen ' +
      'queue (or go to another worker) until one of its connections closes. The sync worker holds one.',
  }),
  s({
    name: 'max_requests', section: 'Worker Processes', flags: ['--max-requests'], metavar: 'INT', type: 'int', default: 0,
    min: 0, side: BOTH,
    doc: 'A worker exits gracefully after this many requests and the arbiter starts a fresh one, which ' +
      'bounds slow memory leaks in the app. 0 turns recycling off.',
  }),
  s({
    name: 'max_requests_jitter', section: 'Worker Processes', flags: ['--max-requests-jitter'], metavar: 'INT', type: 'int',
    default: 0, min: 0, side: MASTER,
    doc: 'Adds a random 0..N to max_requests for each worker, so that workers do not all restart at once.',
  }),
  s({
    name: 'timeout', section: 'Worker Processes', flags: ['-t', '--timeout'], metavar: 'INT', type: 'int', default: 30,
    min: 0, side: BOTH,
    doc: 'Workers silent for more than this many seconds are killed and replaced: a worker writes a ' +
      'heartbeat at least once a second while idle and around every request, so a request that runs ' +
      'longer than this is taken for a hung worker; its Python stacks go to the error log first (time the ' +
      'sync worker spends waiting on its client does not count: it beats while it waits). A ' +
      'worker paused in a debugger is spared. Also the longest a client may stay silent (and, in the sync ' +
      'and gthread workers, the longest it may take with a request head). 0 turns the watchdog off, and then, as in gunicorn, client sockets have no timeout either.',
  }),
  s({
    name: 'graceful_timeout', section: 'Worker Processes', flags: ['--graceful-timeout'], metavar: 'INT', type: 'int',
    default: 30, min: 0, side: BOTH,
    doc: 'On a graceful stop (TERM), seconds the workers get to finish the requests they are serving ' +
      'before they are killed.',
  }),
  s({
    name: 'shutdown_delay', section: 'Worker Processes', flags: ['--shutdown-delay'], metavar: 'SECONDS', type: 'int',
    default: 0, min: 0, side: MASTER,
    doc: 'After TERM, seconds the server keeps serving normally while /readyz (see metrics_bind) answers ' +
      '503, so that load balancers stop sending it traffic before the workers stop; then the graceful ' +
      'stop begins (graceful_timeout). In Kubernetes this replaces a preStop sleep: keep ' +
      'terminationGracePeriodSeconds above shutdown_delay + graceful_timeout. A second TERM ends the delay.',
  }),
  s({
    name: 'keepalive', section: 'Worker Processes', flags: ['--keep-alive'], metavar: 'INT', type: 'int', default: 2,
    min: 0, side: WORKER,
    doc: 'Seconds a gthread worker keeps an idle connection open waiting for its next request; 0 ' +
      'closes every connection after its response. The sync worker always closes. Behind a proxy ' +
      'that reuses connections, make it longer than the proxy\'s own idle timeout.',
  }),
  s({
    name: 'asgi_loop', section: 'ASGI', flags: ['--asgi-loop'], metavar: 'LOOP', type: 'enum',
    choices: ['auto', 'asyncio', 'uvloop'], default: 'auto', side: WORKER,
    doc: 'The event loop of the asgi workers: auto takes uvloop when the workers\' interpreter can import ' +
      'it (Debian: python3-uvloop) and asyncio\'s own otherwise; uvloop insists on it (a worker without it ' +
      'fails to boot, saying how to install it); asyncio never uses it.',
  }),
  s({
    name: 'asgi_lifespan', section: 'ASGI', flags: ['--asgi-lifespan'], metavar: 'MODE', type: 'enum',
    choices: ['auto', 'on', 'off'], default: 'auto', side: WORKER,
    doc: 'The ASGI lifespan protocol, run once in each asgi worker: startup before it accepts, shutdown ' +
      'after its last connection, with a state dict every request\'s scope gets a copy of. auto: an app ' +
      'that raises on the lifespan scope is served without it (logged); on: that, or a ' +
      'lifespan.startup.failed, stops the boot with the app\'s message; off: never sent.',
  }),
  s({
    name: 'asgi_disconnect_grace_period', section: 'ASGI', flags: ['--asgi-disconnect-grace-period'], metavar: 'SECONDS',
    type: 'int', default: 3, min: 0, side: WORKER,
    doc: 'Seconds an ASGI request or websocket task may run on after its client disconnected (it sees ' +
      'http.disconnect / websocket.disconnect, and send() raises) before the worker cancels it; 0 ' +
      'cancels at once.',
  }),
  s({
    name: 'websocket_max_message_size', section: 'ASGI', flags: ['--websocket-max-message-size'], metavar: 'BYTES',
    type: 'int', default: 16777216, min: 0, side: WORKER,
    doc: 'The largest websocket message (all its fragments together) an asgi worker accepts from a client, ' +
      'in bytes; a larger one closes the connection with code 1009 (message too big) as soon as its frame ' +
      'headers announce it. 0 means no limit. (uvicorn\'s ws_max_size, with the same default of 16 MiB.) ' +
      'Before the app accepts, a client may send up to one such message (with its frame header) and reading ' +
      'then pauses until the app accepts (256 KiB when 0), so a connection never holds more than that for ' +
      'an app that has not accepted it. After the accept, reading pauses while 64 messages or 256 KiB of them ' +
      'wait for the app to receive them.',
  }),
  // --- Security ----------------------------------------------------------------------------
  s({
    name: 'limit_request_line', section: 'Security', flags: ['--limit-request-line'], metavar: 'INT', type: 'int',
    default: 4094, min: 0, side: WORKER,
    doc: 'The longest request line (method, target and version) accepted, in bytes; longer ones get ' +
      '414. 0 means no limit of Unicorn\'s own.',
  }),
  s({
    name: 'limit_request_fields', section: 'Security', flags: ['--limit-request-fields'], metavar: 'INT', type: 'int',
    default: 100, min: 0, side: WORKER,
    doc: 'The most header fields one request may carry; more get 431. 0 means no limit.',
  }),
  s({
    name: 'limit_request_field_size', section: 'Security', flags: ['--limit-request-field_size', '--limit-request-field-size'],
    metavar: 'INT', type: 'int', default: 8190, min: 0, side: WORKER,
    doc: 'The largest header field line accepted, in bytes, counting its name, colon, value and CRLF ' +
      '(gunicorn\'s count); larger ones get 431. Folded continuation lines count too. 0 means no limit.',
  }),
  s({
    name: 'permit_unconventional_http_method', section: 'Security', flags: ['--permit-unconventional-http-method'],
    type: 'bool', default: false, side: WORKER,
    doc: 'Accept any RFC 9110 token as the method. By default, as in gunicorn, a method must look ' +
      'conventional: 3 to 20 characters, no lower case, no "#" ("get", "-bl" or "M#" get 400). ' +
      'Lower-case methods are then passed on as sent (see casefold_http_method).',
  }),
  s({
    name: 'casefold_http_method', section: 'Security', flags: ['--casefold-http-method'], type: 'bool', default: false,
    side: WORKER,
    doc: 'Upper-case the method before the app sees it (with permit_unconventional_http_method, "get" ' +
      'becomes GET). Methods are case-sensitive (RFC 9110 §9.1): off by default, as in gunicorn.',
  }),
  s({
    name: 'header_map', section: 'Security', flags: ['--header-map'], metavar: 'MAP', type: 'enum', choices: ['drop', 'refuse', 'dangerous'],
    default: 'drop', side: WORKER,
    doc: 'What to do with a header whose name holds an underscore, which would share its environ key ' +
      'with the dash spelling (X_Forwarded_For and X-Forwarded-For are both HTTP_X_FORWARDED_FOR): ' +
      'drop it (it still counts against the limits), refuse the request with 400, or dangerous: map it ' +
      'anyway, merged with the other. gunicorn\'s setting and default.',
  }),
  s({
    name: 'permit_obsolete_folding', section: 'Security', flags: ['--permit-obsolete-folding'], type: 'bool',
    default: false, side: WORKER,
    doc: 'Accept header values continued on lines that start with a space or tab (obs-fold, RFC 9112 ' +
      '§5.2), joining them with one space. By default such requests get 400, as in gunicorn.',
  }),
  s({
    name: 'permit_unconventional_http_version', section: 'Security', flags: ['--permit-unconventional-http-version'],
    type: 'bool', default: false, side: WORKER,
    doc: 'Accept request lines with HTTP versions other than 1.x (HTTP/0.9, HTTP/2.0 …), served with ' +
      'HTTP/1.1 framing. By default they get 400, as in gunicorn; HTTP/1.2 and later 1.x versions are ' +
      'always served as HTTP/1.1 (RFC 9112 §2.3).',
  }),
  s({
    name: 'http_parser', section: 'Security', flags: ['--http-parser'], metavar: 'PARSER', type: 'enum', choices: ['auto', 'python', 'fast'],
    default: 'auto', side: MASTER,
    doc: 'gunicorn 26\'s choice between its Python parser and the C one of gunicorn_h1c. Unicorn has one ' +
      'parser, in the worker\'s standard-library Python, with the same rules for every worker class: ' +
      'every value is accepted (so gunicorn configs run) and means that parser.',
  }),
  // --- SSL ---------------------------------------------------------------------------------
  s({
    name: 'keyfile', section: 'SSL', flags: ['--keyfile'], metavar: 'FILE', type: 'string', default: null, side: BOTH,
    doc: 'The private key (PEM) of the TLS certificate, when certfile does not hold it too. A relative ' +
      'path is taken from chdir. The workers read it once each, before they switch user, so it may be ' +
      'readable by root only; unicorn refuses to start when it is missing or does not match the certificate.',
  }),
  s({
    name: 'certfile', section: 'SSL', flags: ['--certfile'], metavar: 'FILE', type: 'string', default: null, side: BOTH,
    doc: 'The TLS certificate chain (PEM), server certificate first; setting it (or keyfile) turns TLS on ' +
      'for every listener. wsgi.url_scheme is then https, the log says "Listening at: https://…", and a ' +
      'client that fails the handshake (plain HTTP on the TLS port, say) costs one connection and a debug ' +
      'line, never the worker. Each worker builds one SSL context at boot, not one per connection.',
  }),
  s({
    name: 'ca_certs', section: 'SSL', flags: ['--ca-certs'], metavar: 'FILE', type: 'string', default: null, side: BOTH,
    doc: 'CA certificates (PEM) that client certificates are checked against; needed for cert_reqs 1 or 2.',
  }),
  s({
    name: 'cert_reqs', section: 'SSL', flags: ['--cert-reqs'], metavar: 'INT', type: 'int', default: 0, min: 0, side: WORKER,
    check: (v: number) => (v > 2 ? { problem: `${v} is not 0, 1 or 2`, fix: 'give 0 (no client certificate), 1 (optional) or 2 (required)' } : undefined),
    doc: 'Whether clients must show a certificate, as Python\'s ssl.CERT_* values: 0 none is asked for, 1 ' +
      'one is checked if sent, 2 the handshake fails without a certificate that ca_certs vouches for.',
  }),
  s({
    name: 'ssl_version', section: 'SSL', flags: ['--ssl-version'], metavar: 'VERSION', type: 'enum',
    choices: ['TLS_SERVER', 'TLS', 'SSLv23', 'TLSv1', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3'],
    aliases: {
      '2': 'TLS', '17': 'TLS_SERVER', '3': 'TLSv1', '4': 'TLSv1_1', '5': 'TLSv1_2',
      protocol_tls: 'TLS', protocol_tls_server: 'TLS_SERVER', protocol_sslv23: 'SSLv23', protocol_tlsv1: 'TLSv1',
      protocol_tlsv1_1: 'TLSv1_1', protocol_tlsv1_2: 'TLSv1_2',
    },
    default: 'TLS_SERVER', side: WORKER,
    doc: 'The oldest TLS version accepted, in gunicorn\'s spellings (the names of Python\'s ssl.PROTOCOL_* ' +
      'constants, or their numbers). TLS_SERVER, TLS and SSLv23 take OpenSSL\'s own minimum (TLS 1.2 ' +
      'on current systems); TLSv1, TLSv1_1, TLSv1_2 and TLSv1_3 set that minimum. Unlike the ' +
      'PROTOCOL_TLSv1_2 of old, newer versions stay allowed: TLSv1_2 means 1.2 or 1.3, never 1.2 only. ' +
      'TLSv1_3 is Unicorn\'s addition. OpenSSL may refuse versions below its security level anyway.',
  }),
  s({
    name: 'ciphers', section: 'SSL', flags: ['--ciphers'], metavar: 'CIPHERS', type: 'string', default: null,
    defaultText: "Python's default list", side: BOTH,
    doc: 'The TLS 1.2 cipher suites to offer, in OpenSSL\'s cipher list format (for example ' +
      'ECDHE+AESGCM:!aNULL). TLS 1.3 suites are OpenSSL\'s and not affected. A list OpenSSL cannot use ' +
      'stops the workers from booting with its error.',
  }),
  s({
    name: 'do_handshake_on_connect', section: 'SSL', flags: ['--do-handshake-on-connect'], type: 'bool', default: false,
    side: WORKER,
    doc: 'The sync worker performs the TLS handshake as soon as it accepts a connection instead of at the ' +
      'first read; either way it is bounded by timeout. The gthread worker always completes the handshake ' +
      'in its selector thread before any pool thread is involved, so this changes nothing there.',
  }),
  s({
    name: 'suppress_ragged_eofs', section: 'SSL', flags: ['--suppress-ragged-eofs'], type: 'bool', default: true,
    side: WORKER,
    doc: 'A client that closes the TCP connection without TLS\'s close_notify is read as an ordinary end ' +
      'of stream. Set it to False (config file) to treat that as an error, which ends the connection with ' +
      'a debug line.',
  }),
  // --- Server mechanics --------------------------------------------------------------------
  s({
    name: 'chdir', section: 'Server Mechanics', flags: ['--chdir'], metavar: 'DIR', type: 'string', default: null,
    defaultText: 'the current directory', side: BOTH,
    doc: 'The directory the workers change to before they import the app; it is also put first on ' +
      'sys.path.',
  }),
  s({
    name: 'pythonpath', section: 'Server Mechanics', flags: ['--pythonpath'], metavar: 'DIRS', type: 'string', default: null,
    side: BOTH,
    doc: 'Comma-separated directories added to sys.path (after chdir) before the app is imported.',
  }),
  s({
    name: 'raw_env', section: 'Server Mechanics', flags: ['-e', '--env'], metavar: 'KEY=VALUE', type: 'list', default: [],
    repeatable: true, side: MASTER,
    check: (v: string[]) => {
      const bad = v.find((e) => !/^[^=\s]+=/.test(e));
      return bad === undefined ? undefined : { problem: `"${bad}" is not KEY=VALUE`, fix: 'write it as -e NAME=value' };
    },
    doc: 'Environment variables for the workers, as KEY=VALUE. Repeat -e for more.',
  }),
  s({
    name: 'pidfile', section: 'Server Mechanics', flags: ['-p', '--pid'], metavar: 'FILE', type: 'string', default: null,
    side: MASTER, doc: 'A file the arbiter writes its pid to at start and removes at exit.',
  }),
  s({
    name: 'forwarded_allow_ips', section: 'Server Mechanics', flags: ['--forwarded-allow-ips'], metavar: 'IPS', type: 'list',
    default: (env) => (env.FORWARDED_ALLOW_IPS ?? '127.0.0.1').split(',').map((x) => x.trim()).filter(Boolean),
    defaultText: '$FORWARDED_ALLOW_IPS, else 127.0.0.1', side: WORKER,
    doc: 'Comma-separated addresses (or networks, such as 10.0.0.0/8, as in gunicorn 22+) of front-end proxies ' +
      'trusted to set the secure scheme headers and the forwarder_headers; * trusts every peer. Headers from ' +
      'anyone else are ignored.',
  }),
  s({
    name: 'secure_scheme_headers', section: 'Server Mechanics', flags: [], type: 'dict',
    default: { 'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' },
    side: WORKER,
    doc: 'Headers, with the value that means HTTPS, by which a trusted proxy tells the worker that the ' +
      'client used HTTPS; wsgi.url_scheme is then https. Config file only.',
  }),
  s({
    name: 'proxy_protocol', section: 'Server Mechanics', flags: ['--proxy-protocol'], type: 'bool', default: false,
    side: WORKER, aliases: { auto: 'true', v1: 'true', v2: 'true' },
    doc: 'Accept the PROXY protocol header (HAProxy\'s, versions 1 and 2, told apart by their first bytes) ' +
      'at the start of a connection: REMOTE_ADDR and REMOTE_PORT become the client\'s as the proxy saw ' +
      'it, and PROXY_PROTOCOL, PROXY_ADDR and PROXY_PORT are added to the environ, as gunicorn does. ' +
      'UNKNOWN (v1) and LOCAL (v2) headers keep the connection\'s own addresses. The header is optional, ' +
      'comes once per connection (later keep-alive requests carry none), and in front of TLS when TLS is on. ' +
      'A malformed header gets 400 and closes the connection; one from a peer not in proxy_allow_ips ' +
      'gets 403 (gunicorn\'s ForbiddenProxyRequest). The app sees neither. gunicorn 24\'s values are accepted in ' +
      'a config file: "off" is False; "v1", "v2" and "auto" are True (both versions are then accepted).',
  }),
  s({
    name: 'proxy_allow_ips', section: 'Server Mechanics', flags: ['--proxy-allow-from'], metavar: 'IPS', type: 'list',
    default: ['127.0.0.1', '::1'], defaultText: '127.0.0.1,::1', side: WORKER,
    doc: 'Comma-separated addresses (or networks, such as 10.0.0.0/8) of the proxies allowed to send a PROXY ' +
      'protocol header; * allows every peer. Unix socket peers are always allowed.',
  }),
  s({
    name: 'control_socket', section: 'Server Mechanics', flags: ['--control-socket'], metavar: 'PATH', type: 'string',
    default: null, defaultText: 'beside the pid file (NAME.ctl), else $XDG_RUNTIME_DIR/unicorn/PID.ctl', side: MASTER,
    doc: 'The Unix socket (mode control_socket_mode, 0600) on which the arbiter answers `unicorn ctl` and the VS ' +
      'Code extension: status, adding and removing workers, reload, stop, killing one worker, starting a debugger ' +
      'in one worker. gunicorn 25\'s setting of the same name (for gunicornc) lands here: the path is kept, the ' +
      'protocol is Unicorn\'s.',
  }),
  s({
    name: 'umask', section: 'Server Mechanics', flags: ['-m', '--umask'], metavar: 'INT', type: 'mode', default: 0,
    defaultText: '0', side: MASTER,
    doc: 'The file mode creation mask applied while the arbiter creates unix socket files, as in ' +
      'gunicorn: 0 (the default) lets any local user connect, 0o077 keeps the socket to its owner. ' +
      'Written as 0o22 or 022 (octal, as for chmod) or as a plain number.',
  }),
  s({
    name: 'reuse_port', section: 'Server Mechanics', flags: ['--reuse-port'], type: 'bool', default: false, side: BOTH,
    doc: 'Set SO_REUSEPORT on the listening TCP sockets, so that several servers (an old and a new ' +
      'deployment, say) can listen on the same port and the kernel spreads connections over them. ' +
      'Every server on the port needs it: the arbiter creates each socket with it before binding, and ' +
      'workers set it again before listen() on sockets they inherit (fd://, systemd).',
  }),
  s({
    name: 'user', section: 'Server Mechanics', flags: ['-u', '--user'], metavar: 'USER', type: 'string', default: null, numberAsString: true,
    defaultText: 'the user running unicorn', side: BOTH,
    doc: 'Run the workers as this user: a name, which must exist, or a numeric id. Each worker switches ' +
      'right after it has opened its listeners, scoreboard slot and log files (which it gives to that ' +
      'user, as gunicorn does) and before it imports the app, so the app never runs privileged; with ' +
      'preload_app the app is imported before the switch. Unix socket files are given to the user too. ' +
      'Changing users needs the arbiter to run as root.',
  }),
  s({
    name: 'group', section: 'Server Mechanics', flags: ['-g', '--group'], metavar: 'GROUP', type: 'string', default: null, numberAsString: true,
    defaultText: "the user's primary group, else the group running unicorn", side: BOTH,
    doc: 'Run the workers with this group: a name, which must exist, or a numeric id. Without it a named ' +
      'user\'s primary group is used (gunicorn would keep the arbiter\'s, root\'s when it runs as root). ' +
      'Supplementary groups are dropped unless initgroups is set.',
  }),
  s({
    name: 'initgroups', section: 'Server Mechanics', flags: ['--initgroups'], type: 'bool', default: false, side: WORKER,
    doc: 'Give the workers the supplementary groups the user belongs to (os.initgroups), as a login ' +
      'would, instead of none.',
  }),
  s({
    name: 'worker_tmp_dir', section: 'Server Mechanics', flags: ['--worker-tmp-dir'], metavar: 'DIR', type: 'string',
    default: null, defaultText: '/dev/shm when it exists, else the system temp dir', side: MASTER,
    doc: 'Where the scoreboard file (the workers\' heartbeats and status) lives. A memory-backed ' +
      'directory keeps heartbeats from ever waiting on a disk.',
  }),
  s({
    name: 'preload_app', section: 'Server Mechanics', flags: ['--preload'], type: 'bool', default: false, side: MASTER,
    doc: 'Import the app once, in a process the arbiter keeps for the purpose, and fork every worker from ' +
      'it: the workers share the imported code and data copy-on-write, which saves memory and makes ' +
      'workers start at once. On HUP (or --reload) a fresh preloading process imports the new code; ' +
      'if it fails, the old workers keep serving.',
  }),
  s({
    name: 'daemon', section: 'Server Mechanics', flags: ['-D', '--daemon'], type: 'bool', default: false, side: MASTER,
    doc: 'Detach from the terminal and run in the background, with standard input and output on ' +
      '/dev/null: log to a file with --error-logfile and find the arbiter by --pid.',
  }),
  s({
    name: 'capture_output', section: 'Logging', flags: ['--capture-output'], type: 'bool', default: false, side: MASTER,
    doc: 'Send what the workers (the app\'s print calls included) write to standard output and error into ' +
      'the error log file. No effect while the error log is standard error.',
  }),
  // --- Logging -----------------------------------------------------------------------------
  s({
    name: 'accesslog', section: 'Logging', flags: ['--access-logfile'], metavar: 'FILE', type: 'string', default: null,
    side: WORKER, doc: 'Where to write one line per request; - is standard output. Off by default.',
  }),
  s({
    name: 'access_log_format', section: 'Logging', flags: ['--access-logformat'], metavar: 'STRING', type: 'string',
    default: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"', side: WORKER,
    doc: 'The access log line, with gunicorn\'s atoms: h remote address, t time, r request line, s ' +
      'status, b body bytes, f referer, a user agent, D microseconds, {name}i request header, ' +
      '{name}o response header, {name}e environment variable, and the rest of gunicorn\'s set.',
  }),
  s({
    name: 'access_log_json', section: 'Logging', flags: ['--access-log-json'], type: 'bool', default: false,
    side: WORKER,
    doc: 'Write each access log line as one JSON object instead of access_log_format\'s text: gunicorn\'s ' +
      'atoms as fields (h, l, u, t, r, s, m, U, q, H, b, B, f, a, T, D, M, L, p; numbers as numbers, a ' +
      'missing value as null) plus the {name}i, {name}o and {name}e atoms access_log_format names. ' +
      'Works with accesslog = "-".',
  }),
  s({
    name: 'errorlog', section: 'Logging', flags: ['--error-logfile', '--log-file'], metavar: 'FILE', type: 'string',
    default: '-', side: BOTH, doc: 'Where the arbiter and the workers write their log; - is standard error.',
  }),
  s({
    name: 'loglevel', section: 'Logging', flags: ['--log-level'], metavar: 'LEVEL', type: 'enum',
    choices: ['debug', 'info', 'warning', 'error', 'critical'], default: 'info', side: BOTH,
    aliases: { warn: 'warning', fatal: 'critical' },
    doc: 'The least severe messages written to the error log. warn and fatal, Python\'s other names (which ' +
      'gunicorn accepts in a config file), mean warning and critical.',
  }),
  s({
    name: 'statsd_host', section: 'Logging', flags: ['--statsd-host'], metavar: 'STATSD_ADDR', type: 'string', default: null,
    side: BOTH, check: (v: string | null) => (v === null ? undefined : statsdAddressProblem(v)),
    doc: 'HOST:PORT (port 8125 when left out) of a statsd server to send gunicorn\'s metrics to over UDP: ' +
      'per request gunicorn.requests and gunicorn.request.status.CODE counters and a ' +
      'gunicorn.request.duration timer in milliseconds (from the workers), gunicorn.workers as a gauge ' +
      'whenever the number of worker processes changes (from the arbiter), and the ' +
      'gunicorn.log.critical/error/warning/exception counters. Off (and free) when unset.',
  }),
  s({
    name: 'metrics_bind', section: 'Logging', flags: ['--metrics-bind'], metavar: 'ADDRESS', type: 'string', default: null,
    side: MASTER, check: (v: string | null) => (v === null ? undefined : metricsAddressProblem(v)),
    doc: 'HOST:PORT, [IPv6]:PORT or unix:PATH where the arbiter serves /metrics (Prometheus text format: ' +
      'workers by state, requests by status class, a request duration histogram, the listen queue per ' +
      'listener, worker restarts by reason, per-worker memory and connections), /healthz (200 while at ' +
      'least one worker lives) and /readyz (200 once a worker has booted, also through a reload; 503 ' +
      'during shutdown_delay and the stop). Never on the app\'s own listeners. Off when unset.',
  }),
  s({
    name: 'statsd_prefix', section: 'Logging', flags: ['--statsd-prefix'], metavar: 'STATSD_PREFIX', type: 'string',
    default: '', side: BOTH,
    doc: 'A prefix for every metric name; a dot is added when it does not end with one ("app" sends ' +
      'app.gunicorn.requests).',
  }),
  s({
    name: 'dogstatsd_tags', section: 'Logging', flags: ['--dogstatsd-tags'], metavar: 'DOGSTATSD_TAGS', type: 'string',
    default: '', side: BOTH,
    doc: 'Comma-separated DogStatsD tags (env:prod,team:web) appended to every metric as |#TAGS.',
  }),
  // --- Process naming ----------------------------------------------------------------------
  s({
    name: 'proc_name', section: 'Process Naming', flags: ['-n', '--name'], metavar: 'STRING', type: 'string', default: null,
    side: BOTH,
    doc: 'A name for the process titles (ps, top), so that several servers can be told apart. The ' +
      'default is the app module.',
  }),
  // --- Debugging ---------------------------------------------------------------------------
  s({
    name: 'reload', section: 'Debugging', flags: ['--reload'], type: 'bool', default: false, side: BOTH,
    doc: 'Restart the workers when a source file of the app changes — for development. The workers ' +
      'report every module they import; when one changes, the arbiter reloads as on HUP: new workers ' +
      'boot with the new code before the old ones stop, and a file that no longer imports (a syntax ' +
      'error, say) leaves the old workers serving and its traceback in the log.',
  }),
  s({
    name: 'reload_engine', section: 'Debugging', flags: ['--reload-engine'], metavar: 'STRING', type: 'enum',
    choices: ['auto', 'poll', 'inotify'], default: 'auto', side: MASTER,
    doc: 'How --reload notices changes: auto and inotify use the kernel\'s file notifications (one watch ' +
      'per directory, which also sees editors that replace files); poll checks modification times every second.',
  }),
  s({
    name: 'reload_extra_files', section: 'Debugging', flags: ['--reload-extra-file'], metavar: 'FILE', type: 'list',
    default: [], repeatable: true, side: MASTER,
    doc: 'More files whose change restarts the workers under --reload, such as templates. Repeat the flag for more.',
  }),
  s({
    name: 'check_config', section: 'Debugging', flags: ['--check-config'], type: 'bool', default: false, side: MASTER,
    doc: 'Load the configuration and import the app once, report any problem, and exit (0 when all is well).',
  }),
  s({
    name: 'print_config', section: 'Debugging', flags: ['--print-config'], type: 'bool', default: false, side: MASTER,
    doc: 'Print every setting with its effective value and exit.',
  }),
  // --- gunicorn's logging configuration ------------------------------------------------------
  s({
    name: 'logconfig', section: 'Logging', flags: ['--log-config'], metavar: 'FILE', type: 'string', default: null, side: WORKER,
    doc: 'A logging configuration file in the format of Python\'s logging.config.fileConfig (an .ini file), applied ' +
      'in every worker to the gunicorn.error and gunicorn.access loggers and to the app\'s own loggers. A relative ' +
      'path is taken from the directory unicorn starts in; a missing file stops the start. logconfig_dict and ' +
      'logconfig_json take precedence. See "Logging configuration" for what applies to the arbiter\'s own lines.',
  }),
  s({
    name: 'logconfig_dict', section: 'Logging', flags: [], type: 'object', default: {}, side: BOTH,
    doc: 'A logging configuration dictionary (Python\'s logging.config.dictConfig format) applied in every worker, ' +
      'merged over gunicorn\'s defaults (the gunicorn.error logger on standard error, gunicorn.access on standard ' +
      'output, format "%(asctime)s [%(process)d] [%(levelname)s] %(message)s") as gunicorn merges it. Takes ' +
      'precedence over logconfig_json and logconfig. Config file only; its values must be plain data (write ' +
      'streams as "ext://sys.stdout").',
  }),
  s({
    name: 'logconfig_json', section: 'Logging', flags: ['--log-config-json'], metavar: 'FILE', type: 'string', default: null,
    side: BOTH,
    doc: 'A JSON file holding a logging.config.dictConfig dictionary, applied in every worker like logconfig_dict ' +
      '(which wins when both are set). A missing file stops the start.',
  }),
  s({
    name: 'syslog', section: 'Logging', flags: ['--log-syslog'], type: 'bool', default: false, side: BOTH,
    doc: 'Also send the log to syslog at syslog_addr, as gunicorn sends it ("<PRI>gunicorn.PREFIX.error: [PID] ' +
      'message", .access for access lines): the workers\' error log and, unless disable_redirect_access_to_syslog, ' +
      'their access log, and the arbiter\'s own lines.',
  }),
  s({
    name: 'syslog_addr', section: 'Logging', flags: ['--log-syslog-to'], metavar: 'SYSLOG_ADDR', type: 'string',
    default: 'udp://localhost:514', side: BOTH, check: (v: string | null) => (v === null ? undefined : syslogAddressProblem(v)),
    doc: 'Where syslog lines go: udp://HOST:PORT, tcp://HOST:PORT or unix://PATH#TYPE (TYPE stream, the default, or ' +
      'dgram; /dev/log is a dgram socket).',
  }),
  s({
    name: 'syslog_prefix', section: 'Logging', flags: ['--log-syslog-prefix'], metavar: 'SYSLOG_PREFIX', type: 'string',
    default: null, side: BOTH,
    doc: 'The program name in syslog lines becomes gunicorn.PREFIX (as in gunicorn); by default it is the process name.',
  }),
  s({
    name: 'syslog_facility', section: 'Logging', flags: ['--log-syslog-facility'], metavar: 'SYSLOG_FACILITY', type: 'string',
    default: 'user', side: BOTH,
    check: (v: string | null) => (v === null || SYSLOG_FACILITIES.includes(v.toLowerCase()) ? undefined
      : { problem: `"${v}" is not a syslog facility`, fix: `use one of ${SYSLOG_FACILITIES.join(', ')}` }),
    doc: 'The syslog facility name (user, daemon, local0 … local7, …).',
  }),
  s({
    name: 'disable_redirect_access_to_syslog', section: 'Logging', flags: ['--disable-redirect-access-to-syslog'], type: 'bool',
    default: false, side: WORKER,
    doc: 'With syslog on, keep the access log out of syslog.',
  }),
  s({
    name: 'enable_stdio_inheritance', section: 'Logging', flags: ['-R', '--enable-stdio-inheritance'], type: 'bool',
    default: false, side: MASTER,
    doc: 'With daemon, keep the terminal\'s standard input, output and error instead of /dev/null, so that what ' +
      'the server and the app print still shows.',
  }),
  // --- gunicorn 25/26: control socket, forwarded WSGI variables, mount point ------------------
  s({
    name: 'control_socket_mode', section: 'Server Mechanics', flags: ['--control-socket-mode'], metavar: 'INT', type: 'mode',
    default: 0o600, defaultText: '0o600', side: MASTER,
    doc: 'The control socket\'s permission bits (gunicorn 25\'s setting): 0o600 lets only its owner connect, 0o660 ' +
      'its group too.',
  }),
  s({
    name: 'control_socket_disable', section: 'Server Mechanics', flags: ['--no-control-socket'], type: 'bool', default: false,
    side: MASTER,
    doc: 'Open no control socket: `unicorn ctl` and the VS Code extension\'s process tree cannot reach this server.',
  }),
  s({
    name: 'forwarder_headers', section: 'Server Mechanics', flags: ['--forwarder-headers'], metavar: 'HEADERS', type: 'list',
    default: ['SCRIPT_NAME', 'PATH_INFO'], defaultText: 'SCRIPT_NAME,PATH_INFO', side: WORKER,
    doc: 'Request headers a trusted front-end proxy (forwarded_allow_ips) sets to WSGI variables of the same name, ' +
      'as in gunicorn 22+: a SCRIPT_NAME header sets SCRIPT_NAME (and is taken off the front of PATH_INFO), ' +
      'PATH_INFO and REMOTE_USER set theirs. Headers with an underscore from anyone else are dropped. The proxy ' +
      'must strip these headers from what clients send.',
  }),
  s({
    name: 'root_path', section: 'Server Mechanics', flags: ['--root-path'], metavar: 'STRING', type: 'string', default: '',
    side: WORKER,
    doc: 'The path the app is mounted at behind a proxy (/api, say): SCRIPT_NAME in the WSGI environ, taken off the ' +
      'front of PATH_INFO when the request path starts with it. A SCRIPT_NAME header from a trusted proxy wins.',
  }),
  // --- gunicorn settings that are accepted and have no effect here -----------------------------
  ...compat([
    ['spew', 'Debugging', ['--spew'], 'bool', false, { ignored: 'the arbiter is Node and the workers trace nothing; use a debugger on one worker instead' }],
    ['default_proc_name', 'Process Naming', [], 'string', 'gunicorn', { ignored: 'it is internal to gunicorn; proc_name names Unicorn\'s processes' }],
    ['sendfile', 'Server Mechanics', ['--no-sendfile'], 'bool', null, { ignored: 'the workers use sendfile() for file responses whenever the socket allows it' }],
    ['tmp_upload_dir', 'Server Mechanics', [], 'string', null, { ignored: 'the workers stream request bodies to the app and never spool them to disk' }],
    ['enable_backlog_metric', 'Logging', ['--enable-backlog-metric'], 'bool', false, { ignored: 'the gunicorn.backlog statsd metric is not built' }],
    ['http_protocols', 'HTTP/2', ['--http-protocols'], 'string', 'h1', {
      ignored: 'Unicorn speaks HTTP/1.1 (h1) only; HTTP/2 is offered to no client',
      check: (v: string | null) => httpProtocolsProblem(v),
    }],
    ['http2_max_concurrent_streams', 'HTTP/2', ['--http2-max-concurrent-streams'], 'int', 100, { ignored: 'HTTP/2 is not built' }],
    ['http2_initial_window_size', 'HTTP/2', ['--http2-initial-window-size'], 'int', 65535, { ignored: 'HTTP/2 is not built' }],
    ['http2_max_frame_size', 'HTTP/2', ['--http2-max-frame-size'], 'int', 16384, { ignored: 'HTTP/2 is not built' }],
    ['http2_max_header_list_size', 'HTTP/2', ['--http2-max-header-list-size'], 'int', 65536, { ignored: 'HTTP/2 is not built' }],
    ['uwsgi_allow_ips', 'Server Mechanics', ['--uwsgi-allow-from'], 'list', ['127.0.0.1', '::1'], { ignored: 'it only matters with protocol uwsgi, which is not built' }],
    ['dirty_timeout', 'Dirty Arbiters', ['--dirty-timeout'], 'int', 300, { ignored: 'it only matters with dirty workers, which Unicorn does not have' }],
    ['dirty_threads', 'Dirty Arbiters', ['--dirty-threads'], 'int', 1, { ignored: 'it only matters with dirty workers, which Unicorn does not have' }],
    ['dirty_graceful_timeout', 'Dirty Arbiters', ['--dirty-graceful-timeout'], 'int', 30, { ignored: 'it only matters with dirty workers, which Unicorn does not have' }],
  ]),
  // --- gunicorn settings refused unless left at gunicorn's default ----------------------------
  ...compat([
    ['tolerate_dangerous_framing', 'Server Mechanics', ['--tolerate-dangerous-framing'], 'bool', false, { unsupported: 'Unicorn always refuses ambiguous request framing (a request-smuggling defence)' }],
    ['strip_header_spaces', 'Server Mechanics', ['--strip-header-spaces'], 'bool', false, { unsupported: 'a space before a header\'s colon is a request-smuggling vector and gets 400 (gunicorn deprecated the option)' }],
    ['paste', 'Server Mechanics', ['--paste', '--paster'], 'string', null, { unsupported: 'PasteDeploy .ini apps are not loaded: name the WSGI app as MODULE:CALLABLE' }],
    ['raw_paste_global_conf', 'Server Mechanics', ['--paste-global'], 'list', [], { unsupported: 'PasteDeploy .ini apps are not loaded: name the WSGI app as MODULE:CALLABLE' }],
    ['logger_class', 'Logging', ['--logger-class'], 'string', 'gunicorn.glogging.Logger', {
      unsupported: 'Unicorn\'s log is not a gunicorn Logger class: configure the gunicorn.error and gunicorn.access loggers with logconfig_dict instead',
      sameAsDefault: ['simple', 'gunicorn.instrument.statsd.Statsd'],
    }],
    ['protocol', 'Server Mechanics', ['--protocol'], 'string', 'http', { unsupported: 'the uWSGI binary protocol is not built: proxy with HTTP (nginx proxy_pass)' }],
    ['dirty_apps', 'Dirty Arbiters', ['--dirty-app'], 'list', [], { unsupported: 'Unicorn has no dirty arbiter (gunicorn 25\'s pool for long-running tasks): run them in a task queue' }],
    ['dirty_workers', 'Dirty Arbiters', ['--dirty-workers'], 'int', 0, { unsupported: 'Unicorn has no dirty arbiter (gunicorn 25\'s pool for long-running tasks): run them in a task queue' }],
  ]),
];

/** access_log_format's atoms (gunicorn's): single letters, and {name}i / {name}o / {name}e. */
export const ACCESS_LOG_ATOMS = ['h', 'l', 'u', 't', 'r', 'm', 'U', 'q', 'H', 's', 'B', 'b', 'f', 'a', 'T', 'M', 'D', 'L', 'p'];

/** The atoms of an access_log_format that gunicorn does not know (they print "-"). */
export function unknownAccessLogAtoms(format: string): string[] {
  const out: string[] = [];
  for (const m of format.matchAll(/%\(([^)]*)\)/g)) {
    const atom = m[1];
    if (!ACCESS_LOG_ATOMS.includes(atom) && !/^\{[^}]+\}[ioe]$/i.test(atom)) out.push(atom);
  }
  return out;
}

/** A valid value that is probably not what was meant: what the log, --check-config and the editor say. */
export interface ValueHint {
  code: 'access-log-atom' | 'std-stream-name' | 'logconfig-gap';
  message: string;
  /** 'info': only a hint (the value does something, just perhaps not what was meant). */
  severity: 'warning' | 'info';
  /** The value to write instead, as Python source, when there is one. */
  replacement?: string;
}

/**
 * What gunicorn's CONFIG_DEFAULTS still refer to after a logging dict replaced some of its sections
 * (dict.update is shallow): the root logger uses handler console, gunicorn.error and gunicorn.access use
 * error_console and console, and those handlers use formatter generic.
 */
function dictConfigGaps(dict: Record<string, unknown>): string[] {
  const keys = (v: unknown) => (v && typeof v === 'object' ? Object.keys(v as object) : undefined);
  const handlers = keys(dict.handlers);
  const formatters = keys(dict.formatters);
  const gaps: string[] = [];
  if (handlers) {
    const needed = [...(dict.root === undefined ? ['console'] : []), ...(dict.loggers === undefined ? ['error_console', 'console'] : [])];
    const lacking = [...new Set(needed)].filter((h) => !handlers.includes(h));
    if (lacking.length) gaps.push(`the handler${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')}`);
  } else if (formatters && !formatters.includes('generic')) {
    gaps.push('the formatter generic');
  }
  return gaps;
}

export function valueHint(setting: Setting, value: unknown): ValueHint | undefined {
  if (setting.name === 'access_log_format' && typeof value === 'string') {
    const bad = unknownAccessLogAtoms(value);
    if (bad.length) {
      return { code: 'access-log-atom', severity: 'warning',
        message: `access_log_format: ${bad.map((b) => `%(${b})s`).join(', ')} ${bad.length === 1 ? 'is not an atom' : 'are not atoms'} ` +
          'and print "-" — use h, t, r, s, b, f, a, D, L, {header}i, {header}o, {variable}e …' };
    }
  }
  if (setting.name === 'logconfig_dict' && value && typeof value === 'object') {
    const missing = dictConfigGaps(value as Record<string, unknown>);
    if (missing.length) {
      return { code: 'logconfig-gap', severity: 'warning',
        message: `logconfig_dict: gunicorn's defaults, which this dict is merged over, use ${missing.join(' and ')}, which it replaces ` +
          '— define them, or give "root", "loggers" and "handlers" of its own (the workers cannot apply it and fail to boot, in gunicorn too)' };
    }
  }
  if ((setting.name === 'accesslog' || setting.name === 'errorlog') && typeof value === 'string' && /^(stdout|stderr)$/i.test(value.trim())) {
    return { code: 'std-stream-name', severity: 'info', replacement: '"-"',
      message: `${setting.name}: "${value}" writes a file named ${value} — "-" means ${setting.name === 'accesslog' ? 'standard output' : 'standard error'}` };
  }
  return undefined;
}

/** gunicorn's server hooks: names a config file may define as functions. */
export const HOOKS: Record<string, string> = {
  on_starting: 'on_starting(server)',
  on_reload: 'on_reload(server)',
  when_ready: 'when_ready(server)',
  pre_fork: 'pre_fork(server, worker)',
  post_fork: 'post_fork(server, worker)',
  post_worker_init: 'post_worker_init(worker)',
  worker_int: 'worker_int(worker)',
  worker_abort: 'worker_abort(worker)',
  pre_exec: 'pre_exec(server)',
  pre_request: 'pre_request(worker, req)',
  post_request: 'post_request(worker, req, environ, resp)',
  child_exit: 'child_exit(server, worker)',
  worker_exit: 'worker_exit(server, worker)',
  nworkers_changed: 'nworkers_changed(server, new_value, old_value)',
  on_exit: 'on_exit(server)',
  ssl_context: 'ssl_context(config, default_ssl_context_factory)',
};

/** gunicorn 25's dirty-arbiter hooks: accepted, never called (there are no dirty workers to call them for). */
export const DIRTY_HOOKS = ['on_dirty_starting', 'dirty_post_fork', 'dirty_worker_init', 'dirty_worker_exit'] as const;

/** gunicorn 0.x hook names, which gunicorn stopped calling long ago: the modern hook for each. */
export const OLD_HOOKS: Record<string, string> = { after_fork: 'post_fork', before_fork: 'pre_fork', before_exec: 'pre_exec' };

/** Setting names gunicorn had and retired (gunicorn ignores them now): what to write instead. */
export const RETIRED: Record<string, string> = {
  logfile: 'errorlog',
  access_logfile: 'accesslog',
  debug: 'loglevel = "debug" (and reload = True for restarts on code changes)',
  preload: 'preload_app',
  django_settings: 'raw_env = ["DJANGO_SETTINGS_MODULE=mysite.settings"]',
  x_forwarded_for_header: 'forwarded_allow_ips, and %({x-forwarded-for}i)s in access_log_format',
  worker_tmp_dir_mode: 'worker_tmp_dir',
};

/** Names other servers' configs use: where such a leftover's meaning lives in a gunicorn config. */
export const OTHER_TOOLS: Record<string, string> = {
  command: "supervisor's program setting (the command that starts the server)",
  autostart: "supervisor's program setting",
  autorestart: "supervisor's program setting",
  stdout_logfile: "supervisor's program setting; accesslog is gunicorn's",
  stderr_logfile: "supervisor's program setting; errorlog is gunicorn's",
  startsecs: "supervisor's program setting",
  stopsignal: "supervisor's program setting",
  processes: "uWSGI's; workers is gunicorn's",
  harakiri: "uWSGI's; timeout is gunicorn's",
  vacuum: "uWSGI's",
  master: "uWSGI's; gunicorn always runs a master",
};

const BY_NAME = new Map(SETTINGS.map((x) => [x.name, x]));
const BY_FLAG = new Map(SETTINGS.flatMap((x) => x.flags.map((f) => [f, x] as const)));

export function getSetting(name: string): Setting | undefined {
  return BY_NAME.get(name);
}

export function settingForFlag(flag: string): Setting | undefined {
  return BY_FLAG.get(flag);
}

export function defaultValue(setting: Setting, env: NodeJS.ProcessEnv = process.env): unknown {
  const d = setting.default;
  return typeof d === 'function' ? (d as (e: NodeJS.ProcessEnv) => unknown)(env) : structuredClone(d);
}

export type Settings = Record<string, unknown>;

/**
 * The worker class the workers run: gunicorn's rule turns sync with threads above 1 into gthread
 * (the Python worker applies the same rule; anything that reports or sizes by class should ask here).
 */
export function effectiveWorkerClass(settings: Settings): string {
  const klass = String(settings.worker_class ?? 'sync');
  return klass === 'sync' && Number(settings.threads ?? 1) > 1 ? 'gthread' : klass;
}

/** Every setting at its default. */
export function defaults(env: NodeJS.ProcessEnv = process.env): Settings {
  const out: Settings = {};
  for (const x of SETTINGS) out[x.name] = defaultValue(x, env);
  return out;
}

/** A bad setting value: names the setting, the problem and the fix. */
export class SettingError extends Error {
  constructor(
    readonly setting: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${setting}: ${problem} — ${fix}`);
  }
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** Edit distance where swapping two neighbouring letters (bnid for bind) is one edit. */
function transpositionDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest known name, when it is close enough to be a likely typo. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = levenshtein(name.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best !== undefined && bestDist <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * The setting (or hook) a name is a slip of: the same letters but for underscores and case, or one
 * letter off (two for long names). Stricter than `suggest` on purpose: config files are full of helpers
 * named after settings (use_loglevel, keepalive_str, accesslog_var) that must not be taken for typos.
 */
export function misspelt(name: string, candidates: Iterable<string>): string | undefined {
  const bare = (x: string) => x.toLowerCase().replace(/_/g, '');
  const n = bare(name);
  const limit = n.length >= 10 ? 2 : 1;
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = transpositionDistance(n, bare(c));
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best !== undefined && bestDist <= limit ? best : undefined;
}

/** Hooks gunicorn calls in the master process: Unicorn runs them in a Python process beside the arbiter. */
export const MASTER_HOOKS = ['on_starting', 'on_reload', 'when_ready', 'pre_fork', 'pre_exec', 'child_exit', 'nworkers_changed', 'on_exit'] as const;
/** Hooks gunicorn calls in the worker process. */
export const WORKER_HOOKS = ['post_fork', 'post_worker_init', 'worker_int', 'worker_abort', 'pre_request', 'post_request', 'worker_exit',
  'ssl_context'] as const;

/** Whether the arbiter (master) or the workers read the setting. */
export function readBy(setting: Setting, side: Side): boolean {
  return setting.side.includes(side);
}

/** The settings a worker receives: every supported one its processes read. */
export function workerSettingNames(): string[] {
  return SETTINGS.filter((x) => readBy(x, 'worker') && isBuilt(x)).map((x) => x.name);
}

/** "arbiter side", "worker side" or "arbiter and worker sides", for docs and hovers. */
export function sidesText(sides: Sides): string {
  if (sides.includes('master') && sides.includes('worker')) return 'arbiter and worker sides';
  return sides.includes('worker') ? 'worker side' : 'arbiter side';
}

/** Where a server hook runs, for docs and hovers. */
export function hookSide(name: string): Side {
  return (WORKER_HOOKS as readonly string[]).includes(name) ? 'worker' : 'master';
}

/** What a name a config file sets, that is not a setting, probably meant. */
export interface NameHint {
  /** retired: gunicorn's old name; old-hook: a 0.x hook name; flag: a CLI flag spelt as a name; other-tool; typo. */
  kind: 'retired' | 'old-hook' | 'flag' | 'other-tool' | 'typo';
  /** The one-line warning. */
  message: string;
  /** The setting or hook name to write instead, when there is one. */
  replacement?: string;
}

/** Names that are common helper variables although a flag is spelt like them (--name, --env). */
const FLAG_NAMES_TOO_COMMON = new Set(['name', 'env']);

/** A CLI long flag spelt as a config name (access_logfile, log_level, keep_alive, pid) → its setting. */
const BY_FLAG_NAME = new Map(SETTINGS.flatMap((x) => x.flags.filter((f) => f.startsWith('--'))
  .map((f) => [f.slice(2).replace(/-/g, '_'), x.name] as const)
  .filter(([n, setting]) => n !== setting && !FLAG_NAMES_TOO_COMMON.has(n) && !n.startsWith('no_'))));

/**
 * A name a config file sets that is neither a setting nor a hook: gunicorn ignores it, and so does
 * Unicorn; this says what it probably meant (a warning), or undefined for a plain helper variable.
 * `callable`: the name is bound to a function or class (a hook-shaped name).
 */
export function nameHint(name: string, callable = false): NameHint | undefined {
  if (isHelperName(name) || getSetting(name) || name in HOOKS || (DIRTY_HOOKS as readonly string[]).includes(name)) return undefined;
  const ignored = 'is ignored';
  if (name in OLD_HOOKS) {
    const modern = OLD_HOOKS[name];
    return { kind: 'old-hook', replacement: modern,
      message: `${name}: gunicorn 0.x's hook name, which nothing calls — rename it to ${modern}(${HOOKS[modern].split('(')[1]}` };
  }
  if (name in RETIRED) {
    const use = RETIRED[name];
    return { kind: 'retired', replacement: getSetting(use) ? use : undefined,
      message: `${name}: gunicorn's retired setting, which ${ignored} — use ${use}` };
  }
  if (name in OTHER_TOOLS) {
    return { kind: 'other-tool', message: `${name}: ${OTHER_TOOLS[name]}, not a gunicorn setting, so it ${ignored}` };
  }
  const byFlag = BY_FLAG_NAME.get(name);
  if (byFlag) {
    return { kind: 'flag', replacement: byFlag,
      message: `${name}: not a setting, so it ${ignored} — the setting for --${name.replace(/_/g, '-')} is ${byFlag}` };
  }
  const candidates = callable ? Object.keys(HOOKS) : [...BY_NAME.keys()];
  const hint = misspelt(name, candidates);
  if (hint) {
    return { kind: 'typo', replacement: hint,
      message: `${name}: not a ${callable ? 'server hook' : 'setting'}, so it ${ignored} — did you mean ${hint}?` };
  }
  return undefined;
}

/** `workers: 2` in a config file: an annotation, which sets nothing. */
export function annotationOnly(name: string): string {
  return `${name}: an annotation assigns nothing, so ${name} keeps its default — write ${name} = …`;
}

/** Names a config file may set without being settings: its own helpers, as the loader skips them. */
export function isHelperName(name: string): boolean {
  return name.startsWith('_') || /^[A-Z0-9_]+$/.test(name);
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
}

function example(setting: Setting): string {
  const n = Math.max(setting.min ?? 0, 4);
  return setting.flags.length ? `${setting.flags[setting.flags.length - 1]} ${n}` : `${setting.name} = ${n}`;
}

/**
 * Turns a raw value (a CLI string, or a JSON value from a config file) into the setting's type,
 * or throws SettingError.
 */
export function coerce(setting: Setting, raw: unknown): unknown {
  const value = coerceType(setting, raw);
  if (setting.unsupported && !isGunicornDefault(setting, value)) {
    throw new SettingError(setting.name, `not supported: ${setting.unsupported}`, `remove ${setting.name}`);
  }
  return value;
}

/** The value is gunicorn's default for the setting (or another spelling of it): it asks for nothing. */
export function isGunicornDefault(setting: Setting, value: unknown): boolean {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return same(value, setting.default) || (setting.sameAsDefault ?? []).some((d) => same(d, value));
}

/** A setting that is accepted and has no effect: the warning its non-default value gets, else undefined. */
export function ignoredWarning(setting: Setting, value: unknown): string | undefined {
  if (!setting.ignored || isGunicornDefault(setting, value)) return undefined;
  return `${setting.name}: has no effect in Unicorn and is ignored — ${setting.ignored}`;
}

/** Built: neither refused nor ignored. Only these reach the workers, --print-config and the reference. */
export function isBuilt(setting: Setting): boolean {
  return !setting.unsupported && !setting.ignored;
}

function coerceType(setting: Setting, raw: unknown): unknown {
  let value: unknown;
  switch (setting.type) {
    case 'int': {
      let n: number;
      if (typeof raw === 'number' && Number.isInteger(raw)) n = raw;
      else if (typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw)) n = Number(raw);
      else throw new SettingError(setting.name, `${describe(raw)} is not a whole number`, `give a whole number${setting.min ? ` of at least ${setting.min}` : ''}, e.g. ${example(setting)}`);
      if (setting.min !== undefined && n < setting.min) {
        throw new SettingError(setting.name, `${n} is below the minimum ${setting.min}`, `give a number of at least ${setting.min}`);
      }
      value = n;
      break;
    }
    case 'mode': {
      // 0o22, 022 (octal as for chmod), 0x12 or 18: what people write for a umask.
      let n = typeof raw === 'number' && Number.isInteger(raw) ? raw : NaN;
      if (typeof raw === 'string') {
        const t = raw.trim().toLowerCase();
        if (/^0o?[0-7]+$/.test(t)) n = parseInt(t.replace(/^0o?/, '') || '0', 8);
        else if (/^0x[0-9a-f]+$/.test(t)) n = parseInt(t.slice(2), 16);
        else if (/^\d+$/.test(t)) n = Number(t);
      }
      if (!Number.isInteger(n) || n < 0 || n > 0o777) {
        throw new SettingError(setting.name, `${describe(raw)} is not a file mode mask`, 'give an octal mask such as 0o22 (or 022)');
      }
      value = n;
      break;
    }
    case 'bool': {
      if (typeof raw === 'boolean') value = raw;
      else if (typeof raw === 'string' && /^(true|yes|on|1)$/i.test(raw)) value = true;
      else if (typeof raw === 'string' && /^(false|no|off|0)$/i.test(raw)) value = false;
      else if (typeof raw === 'string' && setting.aliases?.[raw.trim().toLowerCase()] !== undefined) {
        value = setting.aliases[raw.trim().toLowerCase()] === 'true';
      } else throw new SettingError(setting.name, `${describe(raw)} is not a boolean`, 'use True or False');
      break;
    }
    case 'string': {
      if (raw === null) value = null;
      else if (typeof raw === 'string') value = raw;
      else if (setting.numberAsString && typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) value = String(raw);
      else throw new SettingError(setting.name, `${describe(raw)} is not a string`, `quote it, e.g. ${setting.name} = "${String(raw)}"`);
      break;
    }
    case 'enum': {
      const spelled = typeof raw === 'string' ? raw.trim().toLowerCase() : typeof raw === 'number' ? String(raw) : undefined;
      const choice = spelled === undefined ? undefined
        : setting.choices!.find((c) => c.toLowerCase() === spelled) ?? setting.aliases?.[spelled];
      const refused = choice === undefined && spelled !== undefined ? setting.refuse?.(String(raw)) : undefined;
      if (refused) throw new SettingError(setting.name, refused.problem, refused.fix);
      if (choice === undefined) {
        // The choices once, in the problem; the fix is the nearest spelling when one is near.
        const near = typeof raw === 'string' ? suggest(raw.trim(), setting.choices!) : undefined;
        throw new SettingError(setting.name, `${describe(raw)} is not one of ${setting.choices!.join(', ')}`,
          near ? `did you mean ${near}?` : 'use one of those');
      }
      const why = setting.unsupportedChoices?.[choice];
      if (why) throw new SettingError(setting.name, `not supported yet: ${why}`, `use ${setting.choices![0]} for now`);
      value = choice;
      break;
    }
    case 'list':
    case 'addresses': {
      let items: unknown[];
      // One -b/-e (or a plain string in a config file) is one entry; other lists are comma-separated.
      if (typeof raw === 'string') items = setting.repeatable ? [raw] : raw.split(',');
      else if (Array.isArray(raw)) items = raw;
      else throw new SettingError(setting.name, `${describe(raw)} is not a list of strings`, `write it as ${setting.name} = ["..."]`);
      const bad = items.find((i) => typeof i !== 'string');
      if (bad !== undefined) throw new SettingError(setting.name, `${describe(bad)} is not a string`, 'give every entry as a string');
      value = (items as string[]).map((i) => i.trim()).filter((i) => i !== '');
      break;
    }
    case 'object': {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        throw new SettingError(setting.name, `${describe(raw)} is not a dict`, `write it as ${setting.name} = {"version": 1, ...}`);
      }
      value = raw;
      break;
    }
    case 'dict': {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || Object.values(raw).some((v) => typeof v !== 'string')) {
        throw new SettingError(setting.name, `${describe(raw)} is not a dict of strings`, `write it as ${setting.name} = {"HEADER": "value"}`);
      }
      value = raw;
      break;
    }
  }
  const problem = setting.check?.(value as never);
  if (problem) throw new SettingError(setting.name, problem.problem, problem.fix);
  return value;
}

function renderDefault(setting: Setting): string {
  if (setting.defaultText) return setting.defaultText;
  const d = setting.default;
  if (d === null) return '(none)';
  return JSON.stringify(d);
}

/** The README's settings reference, generated so that it never drifts from the registry. */
export function settingsReferenceMarkdown(): string {
  const out: string[] = [];
  const built = SETTINGS.filter(isBuilt);
  for (const section of [...new Set(built.map((x) => x.section))]) {
    out.push(`### ${section}`, '');
    for (const x of built.filter((y) => y.section === section)) {
      const flags = x.flags.length ? x.flags.map((f) => `\`${f}${x.metavar ? ` ${x.metavar}` : ''}\``).join(', ') : 'config file only';
      out.push(`#### \`${x.name}\``, '');
      out.push(`${flags} · default: \`${renderDefault(x)}\` · ${sidesText(x.side)}`, '');
      out.push(x.doc, '');
    }
  }
  out.push('### gunicorn settings accepted and ignored', '');
  out.push('Accepted so that gunicorn configs start unchanged; a value other than gunicorn\'s default gets a warning:', '');
  for (const x of SETTINGS.filter((y) => y.ignored)) out.push(`- \`${x.name}\` (default \`${renderDefault(x)}\`): ${x.ignored}.`);
  out.push('', '### gunicorn settings refused', '');
  out.push('Accepted at gunicorn\'s default (which asks for nothing); any other value stops the start, naming the setting:', '');
  for (const x of SETTINGS.filter((y) => y.unsupported)) out.push(`- \`${x.name}\` (default \`${renderDefault(x)}\`): ${x.unsupported}.`);
  return out.join('\n');
}
