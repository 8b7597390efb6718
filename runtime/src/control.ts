// The control socket: a Unix socket (mode 0600) speaking JSON lines. The arbiter serves it; the
// extension and `unicorn ctl` are its clients. One request line in, one answer line out.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { unixSocketIsLive } from './listeners';

export interface ControlRequest {
  command: string;
  count?: number;
  pid?: number;
}

export type ControlAnswer = { ok: true; result?: unknown } | { ok: false; error: string };

export const COMMANDS = ['status', 'add', 'remove', 'reload', 'stop', 'kill', 'debug', 'focus', 'unfocus'] as const;

/** The per-user directory for control sockets of servers that have no pid file. */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'unicorn') : path.join(os.tmpdir(), `unicorn-${uid}`);
}

/** Where a server's control socket goes: the setting, else beside the pid file, else the runtime dir. */
export function controlSocketPath(setting: string | null, pidfile: string | null, pid = process.pid): string {
  if (setting) return path.resolve(setting);
  if (pidfile) return path.resolve(pidfile.replace(/\.pid$/, '') + '.ctl');
  return path.join(runtimeDir(), `${pid}.ctl`);
}

export class ControlServer {
  private server: net.Server | undefined;

  constructor(
    readonly socketPath: string,
    private readonly handle: (req: ControlRequest) => Promise<unknown>,
  ) {}

  async listen(): Promise<void> {
    const dir = path.dirname(this.socketPath);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
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
      const req = JSON.parse(line) as ControlRequest;
      if (typeof req !== 'object' || req === null || typeof req.command !== 'string') {
        throw new Error('a request is a JSON object with a "command", e.g. {"command": "status"}');
      }
      reply = { ok: true, result: await this.handle(req) };
    } catch (e) {
      reply = { ok: false, error: e instanceof SyntaxError ? `not JSON: ${line.slice(0, 100)}` : (e as Error).message };
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

/** Sends one request and resolves to the answer (the client side, for `unicorn ctl` and the extension). */
export function request(socketPath: string, req: ControlRequest, timeoutMs = 20000): Promise<ControlAnswer> {
  return new Promise((resolve, reject) => {
    const conn = net.connect({ path: socketPath });
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer from ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify(req) + '\n'));
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        conn.destroy();
        try {
          resolve(JSON.parse(buf.slice(0, nl)));
        } catch {
          reject(new Error(`unreadable answer from ${socketPath}`));
        }
      }
    });
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
