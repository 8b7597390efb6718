// The control socket's server (a Unix socket, mode 0600) and the client's connect; the protocol
// itself (commands, answers, socket paths) is core/control-protocol.ts. What a request does is
// arbiter-control.ts.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  ControlAnswer, ControlCommand, ControlRequest, ControlResult, exchange, parseControlRequest, runtimeDir,
} from './core/control-protocol';
import { unixSocketIsLive } from './listeners';

function myUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

/**
 * The per-user runtime directory, safe to put control sockets in: created 0700 when missing; one that
 * is not a directory of ours or that others may enter is refused (anyone can create /tmp/unicorn-UID
 * first and swap the sockets in it), with a one-line error that says how to fix it.
 */
export function ensureRuntimeDir(dir: string = runtimeDir()): string {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`runtime directory ${dir}: cannot create it (${(e as Error).message}) — set XDG_RUNTIME_DIR to a directory of yours`);
  }
  checkRuntimeDir(dir);
  return dir;
}

/** Throws (one line, with the fix) unless `dir` is a real directory owned by us and closed to others. */
export function checkRuntimeDir(dir: string): void {
  const st = fs.lstatSync(dir);
  const uid = myUid();
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new Error(`runtime directory ${dir} is not a directory (a ${st.isSymbolicLink() ? 'symlink' : 'file'}) — remove it, or set XDG_RUNTIME_DIR to a directory of yours`);
  }
  if (uid >= 0 && st.uid !== uid) {
    throw new Error(`runtime directory ${dir} belongs to uid ${st.uid}, not to you (uid ${uid}) — another user may have made it to spoof control sockets: remove it (rm -r ${dir}) or set XDG_RUNTIME_DIR to a directory of yours`);
  }
  if (st.mode & 0o077) {
    throw new Error(`runtime directory ${dir} is open to others (mode ${(st.mode & 0o777).toString(8)}) — make it private: chmod 700 ${dir}`);
  }
}

export class ControlServer {
  private server: net.Server | undefined;

  constructor(
    readonly socketPath: string,
    private readonly handle: (req: ControlRequest) => Promise<ControlResult>,
  ) {}

  async listen(): Promise<void> {
    const dir = path.dirname(this.socketPath);
    if (dir === runtimeDir()) ensureRuntimeDir(dir);
    else fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (fs.existsSync(this.socketPath)) {
      if (await unixSocketIsLive(this.socketPath)) throw new Error(`control socket ${this.socketPath} is in use by another server`);
      fs.unlinkSync(this.socketPath);
    }
    const server = net.createServer((conn) => this.serve(conn));
    // umask 077 while binding: the socket is 0600 from its first moment, not after a chmod.
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => resolve());
      });
    } finally {
      process.umask(old);
    }
    server.unref();
    this.server = server;
  }

  private serve(conn: net.Socket): void {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', () => undefined);
    conn.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) void this.answer(conn, line);
      }
    });
  }

  private async answer(conn: net.Socket, line: string): Promise<void> {
    let reply: ControlAnswer;
    try {
      reply = { ok: true, result: await this.handle(parseControlRequest(line)) };
    } catch (e) {
      reply = { ok: false, error: (e as Error).message };
    }
    if (!conn.destroyed) conn.write(JSON.stringify(reply) + '\n');
  }

  /** Moves the socket file (a promoted USR2 master takes over the old name). */
  rename(to: string): void {
    fs.renameSync(this.socketPath, to);
    (this as { socketPath: string }).socketPath = to;
  }

  close(): void {
    this.server?.close();
    try {
      fs.unlinkSync(this.socketPath);
    } catch {
      /* already gone */
    }
  }
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/**
 * Python's standard library reads SO_PEERCRED (Linux) or getpeereid (macOS, BSD) on the connected
 * socket it gets as fd 3 and prints "pid uid gid" (pid 0 where the platform has none).
 */
const PEERCRED_PY = `
import os, socket, struct, sys
s = socket.socket(fileno=os.dup(3))
if hasattr(socket, "SO_PEERCRED"):
    pid, uid, gid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
else:
    import ctypes, ctypes.util
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    uid, gid = ctypes.c_uint32(), ctypes.c_uint32()
    if libc.getpeereid(s.fileno(), ctypes.byref(uid), ctypes.byref(gid)) != 0:
        sys.exit("getpeereid: " + os.strerror(ctypes.get_errno()))
    pid, uid, gid = 0, uid.value, gid.value
print(pid, uid, gid)
`;

/**
 * Who is at the other end of a connected Unix socket, as the kernel recorded it when the server
 * called listen() — not who owns the socket file, which says nothing about who serves it. Node has
 * no SO_PEERCRED, so the connected descriptor is handed to `python` (the standard library reads it;
 * the Python this server needs anyway). The one check for `unicorn ctl` and, later, the extension.
 */
export function peerCredentials(conn: net.Socket, python = 'python3'): Promise<PeerCredentials> {
  return new Promise((resolve, reject) => {
    // The descriptor itself, not the Socket: given a Socket, Node stops reading it in this process.
    const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return reject(new Error('the control connection has no descriptor to check'));
    const child = spawn(python, ['-I', '-S', '-c', PEERCRED_PY], { stdio: ['ignore', 'pipe', 'pipe', fd] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', (e) => reject(new Error(`cannot run ${python} to check who serves the socket (${e.message}) — install Python 3`)));
    child.on('close', (code) => {
      const m = /^(-?\d+) (\d+) (\d+)$/.exec(out.trim());
      if (code === 0 && m) resolve({ pid: Number(m[1]), uid: Number(m[2]), gid: Number(m[3]) });
      else reject(new Error(`cannot read the peer's credentials: ${err.trim().split('\n').pop() || `${python} exited ${code}`}`));
    });
  });
}

/** Whether an answer from this peer can be trusted: it runs as we do, or as root. */
export function trustedPeer(peer: PeerCredentials, uid = myUid()): boolean {
  return peer.uid === uid || peer.uid === 0;
}

/** A control socket served by someone we must not trust. */
export class UntrustedPeer extends Error {}

/**
 * Sends one request and resolves to the answer (the client side, for `unicorn ctl`). With `checkPeer`
 * the request is written only once the peer's credentials show the same user or root, and nothing
 * the peer sent before that is read (`unicorn ctl` always checks).
 */
export function request<C extends ControlCommand>(
  socketPath: string,
  req: ControlRequest & { command: C },
  timeoutMs = 20000,
  checkPeer?: { python?: string },
): Promise<ControlAnswer<C>> {
  const conn = net.connect({ path: socketPath });
  if (!checkPeer) return exchange(conn, req, socketPath, timeoutMs);
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      conn.destroy();
      reject(e);
    };
    conn.once('error', fail);
    conn.once('connect', () => {
      peerCredentials(conn, checkPeer.python).then((peer) => {
        if (!trustedPeer(peer)) {
          fail(new UntrustedPeer(`${socketPath} is served by uid ${peer.uid}${peer.pid ? ` (pid ${peer.pid})` : ''}, not by you (uid ${myUid()}) or root — refusing to trust it; remove it, or give the socket of your own server`));
          return;
        }
        conn.off('error', fail);
        resolve(exchange(conn, req, socketPath, timeoutMs));
      }, fail);
    });
  });
}
