// An SMTP upstream for large messages: smtp-server on loopback with AUTH PLAIN/LOGIN required,
// keeping of each message only its envelope, its size, a SHA-256 and its first 64 KiB, so that a
// message of hundreds of megabytes costs the test process nothing.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface CountedMessage {
  from: string;
  to: string[];
  user?: string;
  bytes: number;
  sha256: string;
  head: Buffer;
}

export interface CountingSink {
  port: number;
  messages: CountedMessage[];
  close(): Promise<void>;
}

const HEAD = 64 * 1024;

export async function startCountingSink(auth: { user: string; pass: string }): Promise<CountingSink> {
  const messages: CountedMessage[] = [];
  const server = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    hideSTARTTLS: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    size: 0,
    logger: false,
    onAuth(a, _s, cb) {
      if (a.username === auth.user && a.password === auth.pass) return cb(null, { user: a.username });
      cb(Object.assign(new Error('5.7.8 authentication failed'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const hash = createHash('sha256');
      const head: Buffer[] = [];
      let bytes = 0;
      stream.on('data', (c: Buffer) => {
        if (bytes < HEAD) head.push(c.subarray(0, HEAD - bytes));
        bytes += c.length;
        hash.update(c);
      });
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          bytes,
          sha256: hash.digest('hex'),
          head: Buffer.concat(head),
        });
        cb(null, 'counted');
      });
    },
  });
  server.on('error', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  return {
    port: (server.server.address() as AddressInfo).port,
    messages,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
