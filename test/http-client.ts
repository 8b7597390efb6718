// A keep-alive HTTP/1.1 client over a raw socket for the worker tests: send bytes, read whole responses in order.
import net from 'node:net';
import { parseResponse, ParsedResponse } from './helpers';

const clients: Client[] = [];

/** Destroys every client connected so far (for an after() hook). */
export function destroyClients(): void {
  for (const c of clients.splice(0)) c.destroy();
}

/** One client connection that reads responses one at a time (Content-Length, chunked or close-delimited). */
export class Client {
  private buf = Buffer.alloc(0);
  closed = false;
  closedAt = 0;
  private wake: Array<() => void> = [];

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.notify();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.notify();
    });
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host: '127.0.0.1' });
      sock.once('connect', () => {
        const c = new Client(sock);
        clients.push(c);
        resolve(c);
      });
      sock.once('error', reject);
    });
  }

  private notify() {
    for (const w of this.wake.splice(0)) w();
  }

  private until(cond: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms; got ${JSON.stringify(this.buf.toString('latin1'))}`)), ms);
      const check = () => {
        if (cond()) {
          clearTimeout(timer);
          resolve();
        } else if (this.closed) {
          clearTimeout(timer);
          reject(new Error(`${what}: connection closed; got ${JSON.stringify(this.buf.toString('latin1'))}`));
        } else this.wake.push(check);
      };
      check();
    });
  }

  send(data: string): void {
    this.sock.write(Buffer.from(data, 'latin1'));
  }

  /** The next whole response on this connection (consumed from the buffer). */
  async response(ms = 5000): Promise<ParsedResponse> {
    let size = -1;
    const complete = () => {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const head = parseResponse(this.buf.subarray(0, end + 4));
      if (head.status < 200 || head.status === 204 || head.status === 304) size = end + 4; // a head alone (RFC 9112 §6.3)
      else if (head.headers['content-length'] !== undefined) {
        const want = end + 4 + Number(head.headers['content-length']);
        if (this.buf.length >= want) size = want;
      } else if (head.headers['transfer-encoding'] === 'chunked') {
        const last = this.buf.indexOf('0\r\n\r\n', end + 4);
        if (last >= 0) size = last + 5;
      } else if (this.closed) size = this.buf.length;
      return size >= 0;
    };
    try {
      await this.until(complete, ms, 'response');
    } catch (e) {
      if (!complete()) throw e;
    }
    const raw = this.buf.subarray(0, size);
    this.buf = this.buf.subarray(size);
    return parseResponse(raw);
  }

  /** Resolves once `text` has arrived (it stays in the buffer); rejects after `ms` or on close. */
  async received(text: string, ms = 5000): Promise<void> {
    await this.until(() => this.buf.includes(text), ms, `waiting for ${JSON.stringify(text)}`);
  }

  /** Resolves when the server closes the connection; rejects after `ms`. */
  async closedWithin(ms: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
      const check = () => {
        if (this.closed) {
          clearTimeout(timer);
          resolve();
        } else this.wake.push(check);
      };
      check();
    });
  }

  destroy(): void {
    this.sock.destroy();
  }
}
