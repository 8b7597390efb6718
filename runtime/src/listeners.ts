// Listening sockets: bind each `bind` address (parsed by core/address) once and listen() on it at once with the
// configured backlog (a Python helper: Node cannot listen without accepting), so that a connection made while
// the workers boot waits in the backlog instead of being refused; and clean up unix socket files at exit.
import dns from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';
import { Address, parseAddress } from './core/address';
import { CliError, EXIT } from './core/errors';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PYTHON_DIR, describeFds, listenFds } from './python';

/** A bound socket handed to every worker. */
export interface Listener {
  address: Address;
  fd: number;
  /** What the worker and the logs show: http://HOST:PORT, unix:PATH or fd://N. */
  url: string;
  /** For tcp: the address actually bound (port 0 resolved). */
  host?: string;
  port?: number;
  /** What the socket is, for fd:// and systemd sockets (learned from the socket itself). */
  socketKind?: 'tcp' | 'unix';
  path?: string;
  /** libuv's handle, kept so that the descriptor stays open. */
  handle?: { close(cb?: () => void): void };
  /** Set once the arbiter closed its descriptor early (a graceful stop): only the socket file remains to remove. */
  released?: boolean;
  /** Set once listen() was called on it (bindForSettings; the SO_REUSEPORT helper listens itself). */
  listening?: boolean;
}


type ServerHandle = {
  fd: number;
  getsockname(out: Record<string, unknown>): number;
  close(cb?: () => void): void;
};
// Node's cluster module binds shared handles this way: bound, not listening, so libuv never accepts.
const createServerHandle = (net as unknown as {
  _createServerHandle(address: string, port: number, addressType: number, fd?: number, flags?: number): ServerHandle | number;
})._createServerHandle;

const ERRNO: Record<number, string> = { [-98]: 'EADDRINUSE', [-13]: 'EACCES', [-99]: 'EADDRNOTAVAIL', [-22]: 'EINVAL' };

function bindError(text: string, code: string | number): CliError {
  const name = typeof code === 'number' ? ERRNO[code] ?? `errno ${code}` : code;
  const detail: Record<string, string> = {
    EADDRINUSE: 'address already in use — stop the other server on it or choose another port with -b',
    EACCES: 'permission denied — use a port above 1023 or run as root',
    EADDRNOTAVAIL: 'address not available on this machine — bind 127.0.0.1, 0.0.0.0 or one of its own addresses',
  };
  return new CliError(`bind "${text}": ${detail[name] ?? `cannot bind (${name})`}`, EXIT.FAILURE);
}

/** Whether a server answers on a unix socket path (else the file is stale and may be removed). */
export async function unixSocketIsLive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ path: p });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * reuse_port: SO_REUSEPORT must be on before bind() for a second server to share the port, and Node 20
 * cannot set it; a Python helper binds the socket, listens with `backlog` and passes it over an IPC channel
 * as Node's cluster module passes handles.
 */
function bindReusePort(address: Address & { kind: 'tcp' }, ip: string, python: string, backlog: number): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(PYTHON_DIR, 'unicorn_bind.py'), ip, String(address.port), String(backlog)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    let settled = false;
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('message', (msg: { port?: number; error?: string }, handle?: ServerHandle) => {
      settled = true;
      child.disconnect();
      if (msg.error || !handle) return reject(bindError(address.text, msg.error ?? 'no socket received'));
      const shownHost = net.isIPv6(ip) ? `[${ip}]` : ip;
      resolve({ address, fd: handle.fd, url: `http://${shownHost}:${msg.port}`, host: ip, port: msg.port, handle, listening: true });
    });
    child.on('error', (e) => {
      if (!settled) reject(new CliError(`bind "${address.text}": cannot run ${python} to set SO_REUSEPORT (${e.message})`, EXIT.FAILURE));
      settled = true;
    });
    child.on('exit', (code) => {
      if (!settled) reject(new CliError(`bind "${address.text}": the SO_REUSEPORT helper failed (exit ${code}): ${stderr.trim()}`, EXIT.FAILURE));
      settled = true;
    });
  });
}

/** TLS on: the listeners' URLs (logs, status, "Open in Browser") say https. */
export function useTlsUrls(listeners: Listener[], tls: boolean): void {
  for (const l of listeners) l.url = l.url.replace(tls ? /^http:/ : /^https:/, tls ? 'https:' : 'http:');
}

async function bindOnce(
  address: Address, umask: number, owner?: { uid: number; gid: number } | null, reusePort?: string, backlog = 2048,
): Promise<Listener> {
  switch (address.kind) {
    case 'tcp': {
      let ip = address.host;
      if (!net.isIP(ip)) {
        try {
          ip = (await dns.lookup(address.host)).address;
        } catch {
          throw new CliError(`bind "${address.text}": cannot resolve host "${address.host}" — use an IP address or a name in /etc/hosts`);
        }
      }
      if (reusePort) return bindReusePort(address, ip, reusePort, backlog);
      const handle = createServerHandle(ip, address.port, net.isIPv6(ip) ? 6 : 4);
      if (typeof handle === 'number') throw bindError(address.text, handle);
      const name: Record<string, unknown> = {};
      const err = handle.getsockname(name);
      if (err) {
        handle.close();
        throw bindError(address.text, err);
      }
      const port = name.port as number;
      const shownHost = net.isIPv6(ip) ? `[${ip}]` : ip;
      return { address, fd: handle.fd, url: `http://${shownHost}:${port}`, host: ip, port, handle };
    }
    case 'unix': {
      if (fs.existsSync(address.path)) {
        if (!fs.statSync(address.path).isSocket()) {
          throw new CliError(`bind "${address.text}": ${address.path} exists and is not a socket — remove it or choose another path`, EXIT.FAILURE);
        }
        if (await unixSocketIsLive(address.path)) throw bindError(address.text, 'EADDRINUSE');
        fs.unlinkSync(address.path); // a stale socket left by a server that died
      }
      // The umask setting decides the socket file's mode, as in gunicorn (0 by default: anyone may connect).
      const old = process.umask(umask);
      let handle: ServerHandle | number;
      try {
        handle = createServerHandle(address.path, -1, -1);
      } finally {
        process.umask(old);
      }
      if (typeof handle === 'number') throw bindError(address.text, handle);
      // The workers' user owns the socket file, as in gunicorn, so that it can manage what it serves on.
      if (owner) fs.chownSync(address.path, owner.uid, owner.gid);
      return { address, fd: handle.fd, url: `unix:${address.path}`, handle };
    }
    case 'fd': {
      let ok = false;
      try {
        ok = fs.fstatSync(address.fd).isSocket();
      } catch {
        /* not open */
      }
      if (!ok) throw new CliError(`bind "${address.text}": descriptor ${address.fd} is not an open socket — pass a socket the parent process left open`, EXIT.FAILURE);
      return { address, fd: address.fd, url: `fd://${address.fd}` };
    }
  }
}

export interface BindOptions {
  /** The umask setting, applied while unix socket files are created. */
  umask?: number;
  /** The `user`/`group` ids: unix socket files are given to them. */
  owner?: { uid: number; gid: number } | null;
  /** reuse_port: the interpreter that binds TCP sockets with SO_REUSEPORT (see bindReusePort). */
  reusePort?: string;
  /** The listen backlog (the SO_REUSEPORT helper listens as it binds). */
  backlog?: number;
  retries?: number;
  retryDelayMs?: number;
  onRetry?: (text: string, attempt: number) => void;
}

/** gunicorn's is_ssl: certfile or keyfile turns TLS on. */
export function tlsEnabled(settings: Record<string, unknown>): boolean {
  return Boolean(settings.certfile || settings.keyfile);
}

/**
 * Binds addresses the way the settings ask — umask and owner for unix sockets, SO_REUSEPORT with
 * reuse_port, https URLs with TLS — and listens on them with `backlog`, at start and on a reload alike.
 */
export async function bindForSettings(
  addresses: Address[],
  config: { settings: Record<string, unknown>; owner?: { uid: number; gid: number } | null; python: string },
  opts: Pick<BindOptions, 'retries' | 'onRetry'> & { onListenFailed?: (message: string) => void } = {},
): Promise<Listener[]> {
  const listeners = await bindAll(addresses, {
    ...opts,
    umask: config.settings.umask as number,
    owner: config.owner,
    reusePort: config.settings.reuse_port ? config.python : undefined,
    backlog: config.settings.backlog as number,
  });
  const quiet = listeners.filter((l) => !l.listening);
  try {
    if (quiet.length) await listenFds(config.python, quiet.map((l) => l.fd), config.settings.backlog as number);
    for (const l of quiet) l.listening = true;
  } catch (e) {
    // Not fatal: each worker listens too, so the server works, only refusing connections until one does
    // (and a broken interpreter is then reported as the workers' boot failure).
    if (!(e instanceof CliError)) throw e;
    opts.onListenFailed?.(`${e.message}; connections are refused until a worker listens`);
  }
  useTlsUrls(listeners, tlsEnabled(config.settings));
  return listeners;
}

/** Binds every address once; an address in use is retried a few times (as gunicorn does). */
export async function bindAll(addresses: Address[], opts: BindOptions = {}): Promise<Listener[]> {
  const retries = opts.retries ?? 5;
  const bound: Listener[] = [];
  const seen = new Set<string>();
  try {
    for (const address of addresses) {
      const key = address.kind === 'tcp' ? `${address.host}:${address.port}` : address.kind === 'unix' ? address.path : `fd${address.fd}`;
      if (seen.has(key) && !(address.kind === 'tcp' && address.port === 0)) continue; // the same address twice binds once
      seen.add(key);
      for (let attempt = 1; ; attempt++) {
        try {
          bound.push(await bindOnce(address, opts.umask ?? 0, opts.owner, opts.reusePort, opts.backlog));
          break;
        } catch (e) {
          const inUse = e instanceof CliError && /already in use/.test(e.message);
          if (!inUse || attempt > retries) throw e;
          opts.onRetry?.(address.text, attempt);
          await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 1000));
        }
      }
    }
  } catch (e) {
    closeAll(bound);
    throw e;
  }
  return bound;
}

/** Closes the descriptors and removes unix socket files (unless another master still serves them). */
export function closeAll(listeners: Listener[], unlink = true): void {
  releaseDescriptors(listeners);
  for (const l of listeners) {
    if (unlink && l.address.kind === 'unix') {
      try {
        fs.unlinkSync(l.address.path);
      } catch {
        /* already gone */
      }
    }
  }
}

/**
 * Closes the arbiter's own descriptors of the listeners (once each). On a graceful stop the workers then
 * hold the last copies: the kernel resets a listen queue's waiting connections when its last descriptor
 * closes, and a worker closes its copy only once it has found that queue empty.
 */
export function releaseDescriptors(listeners: Listener[], inherited = false): void {
  for (const l of listeners) {
    if (l.released) continue;
    if (l.handle) l.handle.close();
    // A bare descriptor: adopted from an old master, or (`inherited`) fd:// and systemd's sockets.
    else if (l.address.kind !== 'fd' || inherited) fs.closeSync(l.fd);
    else continue;
    l.released = true;
  }
}

/** What a USR2 master passes to its successor beside the descriptors (fd 3, 4, … in this order). */
export interface InheritedListener {
  text: string;
  url: string;
  host?: string;
  port?: number;
  socketKind?: 'tcp' | 'unix';
  path?: string;
}

export function inheritable(l: Listener): InheritedListener {
  return { text: l.address.text, url: l.url, host: l.host, port: l.port, socketKind: l.socketKind, path: l.path };
}

/** The listeners a USR2 master inherited: the same sockets, already bound (and listening). */
export function adoptListeners(inherited: InheritedListener[]): Listener[] {
  return inherited.map((l, i) => ({ ...l, address: parseAddress(l.text), fd: 3 + i }));
}

/**
 * systemd socket activation: LISTEN_FDS sockets from fd 3 on, meant for us when LISTEN_PID is our
 * pid. The variables are removed from `env` (as sd_listen_fds does) so that workers do not see them.
 */
export function systemdListeners(env: NodeJS.ProcessEnv): Listener[] {
  const pid = Number(env.LISTEN_PID);
  const count = Number(env.LISTEN_FDS);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pid !== process.pid || !Number.isInteger(count) || count < 1) return [];
  return Array.from({ length: count }, (_, i) => ({ address: parseAddress(`fd://${3 + i}`), fd: 3 + i, url: `fd://${3 + i}` }));
}

/** Learns address and kind of fd:// and systemd listeners from the sockets themselves. */
export async function describeInherited(listeners: Listener[], python: string): Promise<void> {
  const bare = listeners.filter((l) => l.address.kind === 'fd' && !l.socketKind);
  if (!bare.length) return;
  const described = await describeFds(python, bare.map((l) => l.fd));
  for (const l of bare) {
    const d = described.find((x) => x.fd === l.fd)!;
    l.socketKind = d.kind;
    if (d.kind === 'tcp') {
      l.host = d.host;
      l.port = d.port;
      l.url = `http://${net.isIPv6(d.host!) ? `[${d.host}]` : d.host}:${d.port}`;
    } else {
      l.path = d.path;
      l.url = `unix:${d.path}`;
    }
  }
}
