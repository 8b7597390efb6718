// A minimal Debug Adapter Protocol client over TCP, enough to attach to a worker's debugpy listener,
// set a breakpoint, see the stop and continue — what VS Code does, without VS Code.
import net from 'node:net';

export interface DapMessage {
  seq: number;
  type: 'request' | 'response' | 'event';
  command?: string;
  event?: string;
  request_seq?: number;
  success?: boolean;
  message?: string;
  body?: Record<string, unknown>;
}

export class DapClient {
  private seq = 1;
  private buf = Buffer.alloc(0);
  private readonly pending = new Map<number, (m: DapMessage) => void>();
  private readonly events: DapMessage[] = [];
  private readonly eventWaiters: Array<{ name: string; resolve: (m: DapMessage) => void }> = [];

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d) => this.onData(d));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<DapClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host });
      sock.once('connect', () => resolve(new DapClient(sock)));
      sock.once('error', reject);
    });
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const headEnd = this.buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const m = /Content-Length: (\d+)/i.exec(this.buf.subarray(0, headEnd).toString());
      if (!m) throw new Error('DAP message without Content-Length');
      const len = Number(m[1]);
      if (this.buf.length < headEnd + 4 + len) return;
      const msg = JSON.parse(this.buf.subarray(headEnd + 4, headEnd + 4 + len).toString()) as DapMessage;
      this.buf = this.buf.subarray(headEnd + 4 + len);
      if (msg.type === 'response') this.pending.get(msg.request_seq!)?.(msg);
      else if (msg.type === 'event') {
        const i = this.eventWaiters.findIndex((w) => w.name === msg.event);
        if (i >= 0) this.eventWaiters.splice(i, 1)[0].resolve(msg);
        else this.events.push(msg);
      }
    }
  }

  /** Sends a request; resolves with its response (rejects when the adapter says it failed). */
  request(command: string, args: Record<string, unknown> = {}, timeoutMs = 15000): Promise<DapMessage> {
    const seq = this.seq++;
    const body = Buffer.from(JSON.stringify({ seq, type: 'request', command, arguments: args }));
    this.sock.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no DAP response to ${command} within ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(seq, (m) => {
        clearTimeout(timer);
        this.pending.delete(seq);
        if (m.success) resolve(m);
        else reject(new Error(`DAP ${command} failed: ${m.message}`));
      });
    });
  }

  /** Resolves with the next event of that name (or one already received). */
  event(name: string, timeoutMs = 15000): Promise<DapMessage> {
    const i = this.events.findIndex((e) => e.event === name);
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no DAP "${name}" event within ${timeoutMs} ms`)), timeoutMs);
      this.eventWaiters.push({
        name,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  close(): void {
    this.sock.destroy();
  }
}
