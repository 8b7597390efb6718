// The control socket's server (a Unix socket, mode 0600) and the client's connect; the protocol
// itself (commands, answers, socket paths) is core/control-protocol.ts. What a request does is
// arbiter-control.ts.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  ControlAnswer, ControlCommand, ControlRequest, ControlResult, exchange, parseControlRequest,
} from './core/control-protocol';
import { unixSocketIsLive } from './listeners';

export class ControlServer {
  private server: net.Server | undefined;

  constructor(
    readonly socketPath: string,
    private readonly handle: (req: ControlRequest) => Promise<ControlResult>,
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

/** Sends one request and resolves to the answer (the client side, for `unicorn ctl`). */
export function request<C extends ControlCommand>(socketPath: string, req: ControlRequest & { command: C }, timeoutMs = 20000): Promise<ControlAnswer<C>> {
  return exchange(net.connect({ path: socketPath }), req, socketPath, timeoutMs);
}
