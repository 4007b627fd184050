// A real SMTP upstream for tests: smtp-server on loopback, optionally with STARTTLS/implicit TLS and
// AUTH, recording every message it accepts. Behaviour per recipient or per message is scriptable.
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';

export interface SunkMessage {
  from: string;
  to: string[];
  /** The content, or its first `keepBytes` bytes when the sink was told to keep no more. */
  data: Buffer;
  /** The whole content's size and SHA-256 (hex), whatever `data` kept. */
  size: number;
  sha256: string;
  secure: boolean;
  user?: string;
  session: string;
  /** MAIL FROM's parameters, names in upper case (AUTH=, BODY=, ...). */
  mailArgs: Record<string, string>;
}

export interface SinkOptions {
  tls?: { key: Buffer; cert: Buffer; implicit?: boolean };
  auth?: { user: string; pass: string; methods?: string[] };
  /**
   * Offer AUTH XOAUTH2 and judge each (user, access token): accept, refuse with a reply (Microsoft's
   * 535 5.7.3), or answer with a 334 JSON challenge (Google's way) and then 535.
   */
  xoauth2?: (user: string, token: string) => { ok: true } | { code: number; text: string } | { challenge: Record<string, string> };
  /** Return an SMTP error code and text to refuse a recipient. */
  rcpt?: (address: string) => { code: number; text: string } | undefined;
  /** Return an SMTP error code and text to refuse a message at end of data (lines: a multi-line reply). */
  data?: (msg: SunkMessage, count: number) => { code: number; text: string | string[] } | undefined;
  hidePipelining?: boolean;
  /** Refuse the STARTTLS command outright (smtp-server still accepts it when it is only hidden). */
  noStartTls?: boolean;
  /** Listen on this loopback address (default 127.0.0.1). */
  host?: string;
  /** End the session after this many accepted messages in it (an upstream that limits sessions). */
  closeAfterMessages?: number;
  /** Take this long to accept each message (a slow upstream). */
  dataDelayMs?: number;
  /** Accept each message only once this has settled (the test looks at the relay's spool meanwhile). */
  hold?: Promise<void>;
  /** Listen on this port (default: any free port). */
  port?: number;
  /** Keep only this many bytes of each message in memory (for large messages: compare size and sha256). */
  keepBytes?: number;
}

export interface Sink {
  port: number;
  messages: SunkMessage[];
  connections: number;
  /** Resolves once `n` messages in all have been accepted (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

function err(code: number, text: string | string[]): Error {
  // smtp-server sends an array as a multi-line reply ("499-failed", "499 for testing").
  return Object.assign(new Error(String(text)), { responseCode: code }, Array.isArray(text) ? { message: text } : {});
}

export async function startSink(opts: SinkOptions = {}): Promise<Sink> {
  const messages: SunkMessage[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let connections = 0;
  let attempts = 0;
  const perSession = new Map<string, number>();
  const options: SMTPServerOptions = {
    secure: !!opts.tls?.implicit,
    key: opts.tls?.key,
    cert: opts.tls?.cert,
    hideSTARTTLS: !opts.tls || !!opts.tls.implicit,
    hidePIPELINING: !!opts.hidePipelining,
    authOptional: !opts.auth && !opts.xoauth2,
    authMethods: opts.xoauth2 ? ['XOAUTH2', ...(opts.auth?.methods ?? [])] : (opts.auth?.methods ?? ['PLAIN', 'LOGIN', 'CRAM-MD5']),
    disabledCommands: [...(opts.auth || opts.xoauth2 ? [] : ['AUTH']), ...(opts.noStartTls ? ['STARTTLS'] : [])],
    allowInsecureAuth: false,
    disableReverseLookup: true,
    logger: false,
    onConnect(_s, cb) {
      connections++;
      cb();
    },
    onAuth(auth, _session, cb) {
      if (auth.method === 'XOAUTH2' && opts.xoauth2) {
        const verdict = opts.xoauth2(auth.username ?? '', auth.accessToken ?? '');
        if ('ok' in verdict) return cb(null, { user: auth.username });
        if ('challenge' in verdict) return cb(null, { data: verdict.challenge });
        return cb(err(verdict.code, verdict.text));
      }
      const ok =
        opts.auth &&
        auth.username === opts.auth.user &&
        (auth.method === 'CRAM-MD5' ? auth.validatePassword(opts.auth.pass) : auth.password === opts.auth.pass);
      if (!ok) return cb(err(535, '5.7.8 authentication failed'));
      cb(null, { user: auth.username });
    },
    onRcptTo(address, _s, cb) {
      const refusal = opts.rcpt?.(address.address);
      cb(refusal ? err(refusal.code, refusal.text) : undefined);
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      const hash = createHash('sha256');
      let size = 0;
      stream.on('data', (c: Buffer) => {
        hash.update(c);
        const room = (opts.keepBytes ?? Infinity) - size;
        if (room > 0) chunks.push(room < c.length ? c.subarray(0, room) : c);
        size += c.length;
      });
      stream.on('end', () => {
        const msg: SunkMessage = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks),
          size,
          sha256: hash.digest('hex'),
          secure: session.secure,
          user: session.user as string | undefined,
          session: session.id,
          mailArgs: (session.envelope.mailFrom && (session.envelope.mailFrom as { args?: Record<string, string> | false }).args) || {},
        };
        attempts++;
        const refusal = opts.data?.(msg, attempts);
        if (refusal) return cb(err(refusal.code, refusal.text));
        const accept = () => {
          messages.push(msg);
          for (const w of waiters.filter((x) => messages.length >= x.n)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
          cb(null, 'sink got it');
          const inSession = (perSession.get(session.id) ?? 0) + 1;
          perSession.set(session.id, inSession);
          if (opts.closeAfterMessages && inSession >= opts.closeAfterMessages) {
            const conns = (server as unknown as { connections: Set<{ id: string; close(): void }> }).connections;
            for (const c of conns) if (c.id === session.id) setImmediate(() => c.close());
          }
        };
        const go = () => (opts.dataDelayMs ? void setTimeout(accept, opts.dataDelayMs) : accept());
        if (opts.hold) void opts.hold.then(go);
        else go();
      });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', () => undefined);
  server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  await once(server.server, 'listening');
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    messages,
    get connections() {
      return connections;
    },
    waitFor(n, ms = 20000) {
      if (messages.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = {
          n,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`sink: waited ${ms} ms for ${n} messages, got ${messages.length}`));
        }, ms);
        waiters.push(w);
      });
    },
    close() {
      return new Promise((r) => server.close(() => r()));
    },
  };
}
