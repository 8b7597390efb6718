// The settings registry: every setting Unicorn knows is declared here once, and everything else
// (CLI, config files, --print-config, the language server, the README reference) reads it.

export type SettingType = 'int' | 'mode' | 'bool' | 'string' | 'list' | 'dict' | 'enum' | 'addresses';
export type Side = 'master' | 'worker';
/**
 * The processes that read a setting: the arbiter (master), the workers, or both. The arbiter sends a
 * worker exactly the settings whose sides include 'worker' (see runtime/WORKER_PROTOCOL.md).
 */
export type Sides = readonly Side[];
const MASTER: Sides = ['master'];
const WORKER: Sides = ['worker'];
const BOTH: Sides = ['master', 'worker'];
export type SettingValue = string | number | boolean | null | string[] | Record<string, string>;

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
  /** Other spellings of choices (lower-cased, numbers as their decimal text) → the choice they mean. */
  aliases?: Record<string, string>;
  /** Spellings refused with a reason of their own (a worker class gunicorn removed, a custom class path). */
  refuse?: (spelled: string) => { problem: string; fix: string } | undefined;
  /** Choices that are known but not built yet. */
  unsupportedChoices?: Record<string, string>;
  min?: number;
  side: Sides;
  doc: string;
  /** Set when the setting is gunicorn's but not built yet: it is refused with this reason. */
  unsupported?: string;
  /** Flag repeats append (bind, raw_env) instead of replacing. */
  repeatable?: boolean;
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
      'longer than this is taken for a hung worker; its Python stacks go to the error log first. A ' +
      'worker paused in a debugger is spared. Also the longest a worker waits for a client to send ' +
      'its request. 0 turns the watchdog off, and then, as in gunicorn, client sockets have no timeout either.',
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
    doc: 'Comma-separated addresses of front-end proxies trusted to set the secure scheme headers; * ' +
      'trusts every peer. Headers from anyone else are ignored.',
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
    side: WORKER,
    doc: 'Accept the PROXY protocol header (HAProxy\'s, versions 1 and 2, told apart by their first bytes) ' +
      'at the start of a connection: REMOTE_ADDR and REMOTE_PORT become the client\'s as the proxy saw ' +
      'it, and PROXY_PROTOCOL, PROXY_ADDR and PROXY_PORT are added to the environ, as gunicorn does. ' +
      'UNKNOWN (v1) and LOCAL (v2) headers keep the connection\'s own addresses. The header is optional, ' +
      'comes once per connection (later keep-alive requests carry none), and in front of TLS when TLS is on. ' +
      'A malformed header gets 400 and closes the connection; one from a peer not in proxy_allow_ips ' +
      'gets 403 (gunicorn\'s ForbiddenProxyRequest). The app sees neither.',
  }),
  s({
    name: 'proxy_allow_ips', section: 'Server Mechanics', flags: ['--proxy-allow-from'], metavar: 'IPS', type: 'list',
    default: ['127.0.0.1', '::1'], defaultText: '127.0.0.1,::1', side: WORKER,
    doc: 'Comma-separated addresses of the proxies allowed to send a PROXY protocol header; * allows every ' +
      'peer. Unix socket peers are always allowed.',
  }),
  s({
    name: 'control_socket', section: 'Server Mechanics', flags: ['--control-socket'], metavar: 'PATH', type: 'string',
    default: null, defaultText: 'beside the pid file (NAME.ctl), else $XDG_RUNTIME_DIR/unicorn/PID.ctl', side: MASTER,
    doc: 'The Unix socket (mode 0600) on which the arbiter answers `unicorn ctl` and the VS Code extension: ' +
      'status, adding and removing workers, reload, stop, killing one worker, starting a debugger in one ' +
      'worker. Unicorn\'s own setting; gunicorn has none.',
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
    name: 'user', section: 'Server Mechanics', flags: ['-u', '--user'], metavar: 'USER', type: 'string', default: null,
    defaultText: 'the user running unicorn', side: BOTH,
    doc: 'Run the workers as this user: a name, which must exist, or a numeric id. Each worker switches ' +
      'right after it has opened its listeners, scoreboard slot and log files (which it gives to that ' +
      'user, as gunicorn does) and before it imports the app, so the app never runs privileged; with ' +
      'preload_app the app is imported before the switch. Unix socket files are given to the user too. ' +
      'Changing users needs the arbiter to run as root.',
  }),
  s({
    name: 'group', section: 'Server Mechanics', flags: ['-g', '--group'], metavar: 'GROUP', type: 'string', default: null,
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
    doc: 'The least severe messages written to the error log.',
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
  // --- gunicorn settings not built yet: refused, never ignored ----------------------------
  ...(
    [
      ['spew', 'Debugging', ['--spew'], 'bool'],
      ['default_proc_name', 'Process Naming', [], 'string'],
      ['tolerate_dangerous_framing', 'Server Mechanics', ['--tolerate-dangerous-framing'], 'bool'],
      ['sendfile', 'Server Mechanics', ['--no-sendfile'], 'bool'],
      ['tmp_upload_dir', 'Server Mechanics', [], 'string'],
      ['paste', 'Server Mechanics', ['--paste', '--paster'], 'string'],
      ['raw_paste_global_conf', 'Server Mechanics', ['--paste-global'], 'list'],
      ['strip_header_spaces', 'Server Mechanics', ['--strip-header-spaces'], 'bool'],
      ['disable_redirect_access_to_syslog', 'Logging', ['--disable-redirect-access-to-syslog'], 'bool'],
      ['logger_class', 'Logging', ['--logger-class'], 'string'],
      ['logconfig', 'Logging', ['--log-config'], 'string'],
      ['logconfig_dict', 'Logging', [], 'dict'],
      ['syslog_addr', 'Logging', ['--log-syslog-to'], 'string'],
      ['syslog', 'Logging', ['--log-syslog'], 'bool'],
      ['syslog_prefix', 'Logging', ['--log-syslog-prefix'], 'string'],
      ['syslog_facility', 'Logging', ['--log-syslog-facility'], 'string'],
      ['enable_stdio_inheritance', 'Logging', ['-R', '--enable-stdio-inheritance'], 'bool'],
    ] as Array<[string, string, string[], SettingType]>
  ).map(([name, section, flags, type]) =>
    s({
      name, section, flags, type, default: null, side: MASTER,
      metavar: type === 'bool' ? undefined : 'VALUE',
      unsupported: `gunicorn's ${name} setting is planned`,
      doc: `gunicorn's \`${name}\` setting. Not supported yet: Unicorn refuses it rather than ignore it.`,
    }),
  ),
];

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

export function suggestSetting(name: string): string | undefined {
  return suggest(name, BY_NAME.keys());
}

/** Hooks gunicorn calls in the master process: Unicorn runs them in a Python process beside the arbiter. */
export const MASTER_HOOKS = ['on_starting', 'on_reload', 'when_ready', 'pre_fork', 'pre_exec', 'child_exit', 'nworkers_changed', 'on_exit'] as const;
/** Hooks gunicorn calls in the worker process. */
export const WORKER_HOOKS = ['post_fork', 'post_worker_init', 'worker_int', 'worker_abort', 'pre_request', 'post_request', 'worker_exit'] as const;

/** Whether the arbiter (master) or the workers read the setting. */
export function readBy(setting: Setting, side: Side): boolean {
  return setting.side.includes(side);
}

/** The settings a worker receives: every supported one its processes read. */
export function workerSettingNames(): string[] {
  return SETTINGS.filter((x) => readBy(x, 'worker') && !x.unsupported).map((x) => x.name);
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

/** A config file sets a name that is neither a setting nor a helper (_private or UPPER_CASE). */
export function unknownSettingError(name: string): SettingError {
  const hint = suggestSetting(name);
  return new SettingError(name, 'unknown setting', hint
    ? `did you mean ${hint}? (prefix helper names with _)`
    : 'see the settings reference in the README (prefix helper names with _)');
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
  if (setting.unsupported) {
    throw new SettingError(setting.name, `not supported yet: ${setting.unsupported}`, `remove ${setting.name} for now`);
  }
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
      else throw new SettingError(setting.name, `${describe(raw)} is not a boolean`, 'use True or False');
      break;
    }
    case 'string': {
      if (raw === null) value = null;
      else if (typeof raw === 'string') value = raw;
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
  let section = '';
  const supported = SETTINGS.filter((x) => !x.unsupported);
  for (const x of supported) {
    if (x.section !== section) {
      section = x.section;
      out.push(`### ${section}`, '');
    }
    const flags = x.flags.length ? x.flags.map((f) => `\`${f}${x.metavar ? ` ${x.metavar}` : ''}\``).join(', ') : 'config file only';
    out.push(`#### \`${x.name}\``, '');
    out.push(`${flags} · default: \`${renderDefault(x)}\` · ${sidesText(x.side)}`, '');
    out.push(x.doc, '');
  }
  out.push('### Not supported yet', '');
  out.push('These gunicorn settings are refused with "not supported yet" rather than silently ignored:', '');
  out.push(SETTINGS.filter((x) => x.unsupported).map((x) => `\`${x.name}\``).join(', ') + '.');
  return out.join('\n');
}
