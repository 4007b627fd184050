// A persistent connection that sends one request line and reads one response line at a time: the
// protocol of E-MailRelay's network filter and network verifier (net:<address>). The connection is
// made on first use and made again after it breaks.
import * as net from 'node:net';
import { parseNetAddress } from './target';

export class LineClientError extends Error {
  constructor(
    message: string,
    readonly disconnected: boolean,
  ) {
    super(message);
  }
}

const MAX_LINE = 64 * 1024;

export class LineClient {
  private socket: net.Socket | null = null;
  private buffer = '';
  private waiting: { resolve(line: string): void; reject(e: Error): void } | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    parseNetAddress(address); // a bad address is refused at start-up
  }

  /** Send `line` (a newline is added) and resolve with the response line, without its line end. */
  request(line: string): Promise<string> {
    const next = this.queue.then(() => this.exchange(line));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private async exchange(line: string): Promise<string> {
    const socket = this.socket && !this.socket.destroyed ? this.socket : await this.connect();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        this.close();
        reject(new LineClientError('timeout', false));
      }, this.timeoutMs);
      this.waiting = {
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      socket.write(line + '\n');
      this.deliver();
    });
  }

  private connect(): Promise<net.Socket> {
    const target = parseNetAddress(this.address);
    const socket = target.kind === 'unix' ? net.connect(target.path) : net.connect(target.port, target.host);
    this.buffer = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new LineClientError(`cannot connect to ${this.address}: timeout`, false));
      }, this.timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve(socket);
      });
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        this.buffer += d;
        if (this.buffer.length > MAX_LINE) {
          this.buffer = '';
          this.fail(socket, 'response line too long');
        } else this.deliver();
      });
      socket.on('error', (e) => {
        clearTimeout(timer);
        if (this.socket !== socket) reject(new LineClientError(`cannot connect to ${this.address}: ${e.message}`, false));
        this.fail(socket, e.message);
      });
      socket.on('close', () => this.fail(socket, 'disconnected'));
    });
  }

  private fail(socket: net.Socket, why: string): void {
    socket.destroy();
    if (this.socket === socket) this.socket = null;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(new LineClientError(`${this.address}: ${why}`, true));
  }

  private deliver(): void {
    const nl = this.buffer.indexOf('\n');
    if (nl < 0 || !this.waiting) return;
    const line = this.buffer.slice(0, nl).replace(/\r$/, '');
    this.buffer = this.buffer.slice(nl + 1);
    const w = this.waiting;
    this.waiting = null;
    w.resolve(line);
  }
}
