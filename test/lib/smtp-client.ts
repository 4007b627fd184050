// Protocol-level SMTP client for tests (raw node:net socket: bytes go out exactly as written), and
// runners for the real command-line clients (swaks, curl, smtp-source) with bounded run times.
import { execFile } from 'node:child_process';
import * as net from 'node:net';

export interface Reply {
  code: number;
  lines: string[];
  /** All lines joined with "\n", codes included. */
  text: string;
}

const REPLY_LINE = /^(\d{3})([ -])(.*)$/;

export class RawSmtp {
  readonly replies: Reply[] = [];
  closed = false;
  private pending = '';
  private partial: string[] = [];
  private waiters = new Set<() => void>();
  private taken = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => undefined); // a reset by the server shows as closed
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number, host = '127.0.0.1', ms = 10000, localAddress?: string): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, localAddress });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, ms);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawSmtp(socket));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** Connect and read the greeting. */
  static async open(port: number, host = '127.0.0.1', localAddress?: string): Promise<{ smtp: RawSmtp; greeting: Reply }> {
    const smtp = await RawSmtp.connect(port, host, 10000, localAddress);
    return { smtp, greeting: await smtp.reply() };
  }

  private onData(d: Buffer): void {
    this.pending += d.toString('latin1');
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).replace(/\r$/, '');
      this.pending = this.pending.slice(nl + 1);
      const m = REPLY_LINE.exec(line);
      this.partial.push(line);
      if (!m || m[2] === ' ') {
        const lines = this.partial;
        this.partial = [];
        this.replies.push({ code: m ? Number(m[1]) : 0, lines, text: lines.join('\n') });
      }
    }
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private until<T>(what: string, ms: number, check: () => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const run = () => {
        let v: T | undefined;
        try {
          v = check();
        } catch (e) {
          this.waiters.delete(run);
          clearTimeout(timer);
          return reject(e);
        }
        if (v === undefined) return;
        this.waiters.delete(run);
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(run);
        reject(new Error(`${what} within ${ms} ms; replies so far:\n${this.replies.map((r) => r.text).join('\n')}`));
      }, ms);
      this.waiters.add(run);
      run();
    });
  }

  /** The next reply not yet taken, in order. Rejects if the connection closes first. */
  reply(ms = 10000): Promise<Reply> {
    return this.until('no reply', ms, () => {
      if (this.taken < this.replies.length) return this.replies[this.taken++];
      if (this.closed) throw new Error(`connection closed while waiting for a reply; replies so far:\n${this.replies.map((r) => r.text).join('\n')}`);
      return undefined;
    });
  }

  async nextReplies(n: number, ms = 10000): Promise<Reply[]> {
    const out: Reply[] = [];
    for (let i = 0; i < n; i++) out.push(await this.reply(ms));
    return out;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Send one command line (CRLF added) and wait for its reply. */
  async command(line: string, ms = 10000): Promise<Reply> {
    this.write(line + '\r\n');
    return this.reply(ms);
  }

  /** Resolves once the server has closed the connection. */
  waitClosed(ms = 10000): Promise<true> {
    return this.until('connection not closed', ms, () => (this.closed ? true : undefined));
  }

  /** Stop reading SMTP replies and hand over the socket (for a TLS upgrade). */
  detach(): net.Socket {
    this.socket.removeAllListeners('data');
    return this.socket;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Dot-stuff message text (lines end in CRLF: a dot after a bare LF is text) and add the end-of-data line. */
export function dataBlock(body: Buffer): Buffer {
  const stuffed = Buffer.from(body.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
  return Buffer.concat([stuffed, Buffer.from('.\r\n')]);
}

/** One whole transaction on an open session: MAIL, RCPTs, DATA, content. Returns the final reply. */
export async function sendMessage(smtp: RawSmtp, from: string, to: string[], body: Buffer): Promise<Reply> {
  const mail = await smtp.command(`MAIL FROM:<${from}>`);
  if (mail.code !== 250) throw new Error(`MAIL refused: ${mail.text}`);
  for (const r of to) {
    const rcpt = await smtp.command(`RCPT TO:<${r}>`);
    if (rcpt.code !== 250) throw new Error(`RCPT refused: ${rcpt.text}`);
  }
  const data = await smtp.command('DATA');
  if (data.code !== 354) throw new Error(`DATA refused: ${data.text}`);
  smtp.write(dataBlock(body));
  return smtp.reply();
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command with a hard time limit; never rejects on a non-zero exit. */
export function runTool(cmd: string, args: string[], opts: { input?: Buffer | string; ms?: number } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.ms ?? 20000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'latin1' },
      (err, stdout, stderr) => {
        if (err && (err as { killed?: boolean }).killed) return reject(new Error(`${cmd} timed out: ${stderr}`));
        if (err && typeof (err as { code?: unknown }).code === 'string') return reject(err);
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export interface SwaksOptions {
  port: number;
  from?: string;
  to?: string[];
  helo?: string;
  /** File with the message text (swaks --data @file). */
  dataFile?: string;
  extra?: string[];
}

export function swaks(o: SwaksOptions): Promise<ToolResult> {
  const args = [
    '--server',
    `127.0.0.1:${o.port}`,
    '--from',
    o.from ?? 'sender@example.test',
    '--to',
    (o.to ?? ['rcpt@example.test']).join(','),
    '--helo',
    o.helo ?? 'swaks.test',
    '--timeout',
    '15',
  ];
  if (o.dataFile) args.push('--data', `@${o.dataFile}`);
  else args.push('--body', 'hello from swaks');
  return runTool('swaks', [...args, ...(o.extra ?? [])]);
}

/** swaks exited 0 and the reply after the message text was a 250. */
export function swaksAccepted(r: ToolResult): boolean {
  const afterData = r.stdout.split(/^<\S*\s+354 /m)[1] ?? '';
  return r.code === 0 && /^<\S*\s+250 /m.test(afterData);
}
