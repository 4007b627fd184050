// A client for relaybox's admin interface on a raw node:net socket (what telnet or netcat would
// send): it writes lines with the chosen line ending and reads replies up to the prompt.
import * as net from 'node:net';

export const PROMPT = 'E-MailRelay> ';

export class AdminClient {
  /** Everything received, as sent (latin1). */
  raw = '';
  closed = false;
  private consumed = 0;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly socket: net.Socket,
    readonly eol: string,
  ) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.raw += d;
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number, eol: '\r\n' | '\n' = '\r\n', host = '127.0.0.1', localAddress?: string): Promise<AdminClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, localAddress });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`admin connect to ${host}:${port} timed out`));
      }, 10000);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(new AdminClient(s, eol));
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves once `cond` holds (checked on every arrival); rejects after `ms`. */
  until(cond: () => boolean, what: string, ms = 15000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!cond()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`admin client: timed out waiting for ${what}; received so far: ${JSON.stringify(this.raw.slice(-500))}`));
      }, ms);
      this.waiters.add(check);
      check();
    });
  }

  send(line: string): void {
    this.socket.write(line + this.eol);
  }

  /** The raw text of the next reply, up to (not including) the prompt; EVENT lines included. */
  async rawReply(ms = 15000): Promise<string> {
    const start = this.consumed;
    await this.until(() => this.raw.indexOf(PROMPT, start) >= 0 || this.closed, 'the prompt', ms);
    const end = this.raw.indexOf(PROMPT, start);
    if (end < 0) throw new Error(`admin connection closed without a prompt; got ${JSON.stringify(this.raw.slice(start))}`);
    this.consumed = end + PROMPT.length;
    return this.raw.slice(start, end);
  }

  /** Send a command and return the reply's lines (EVENT lines left out). */
  async command(line: string, ms = 15000): Promise<string[]> {
    this.send(line);
    const text = await this.rawReply(ms);
    return text.split(/\r?\n/).filter((l) => l !== '' && !l.startsWith('EVENT: '));
  }

  close(): void {
    this.socket.destroy();
  }
}
