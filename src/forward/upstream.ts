// One SMTP session with the next hop, carrying many messages: nodemailer's SMTPConnection, with what its
// public API does not give taken from forward/smtp-connection-adapter.ts (the only module touching its internals).
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import * as net from 'node:net';
import { Readable } from 'node:stream';
import * as tls from 'node:tls';
import { format } from 'node:util';
import type { NetConfig } from '../net/config';
import type { ForwardConfig } from './config';

/** What an upstream session reads: the forwarding slice, and the relay's name, --anonymous and TLS versions. */
export type UpstreamConfig = ForwardConfig & Pick<NetConfig, 'domain' | 'anonymous' | 'tls'>;
import type { Envelope } from '../spool/envelope';
import type { ForwardTarget } from '../net/target';
import { clientDialogueLogger, type Log } from '../log';
import { AuthFailure, type AuthResult, type ClientLogin } from './client-auth';
import { replyOf } from './sasl-client';
import { legacyTlsCiphers, readCaFiles } from '../tls-files';
import { connectViaSocks } from '../net/socks';
import { OAuthError } from './oauth/token-errors';
import { ForwardError, oauthForwardError } from './forward-error';
import {
  addMailFromParameter,
  authMechanisms,
  createSmtpConnection,
  isClosed,
  offeredExtensions,
  pendingEnvelope,
  tlsProtocol,
  tlsSocket,
  turnOffPipelining,
} from './smtp-connection-adapter';
import { withAdvice } from './oauth/advice';
import { HeaderTooLarge, rewriteFromHeader, rewrittenContentStream } from './sender-rewrite';
import { ContentFileStream } from './content-file';
import type { RelayEvents } from '../events/relay-events';
import { encodeXtext, isXtext } from '../auth/xtext';
import { recipientsRejectedReason, replyText } from './reply-wording';

export interface SendResult {
  accepted: string[];
  rejected: { address: string; code?: number; response: string }[];
  response: string;
}

export interface Upstream {
  readonly description: string;
  readonly usable: boolean;
  /** `content`: the message itself, or the path of its content file. */
  send(env: Envelope, content: Buffer | string, allOrNothing: boolean): Promise<SendResult>;
  close(): void;
}

type NodemailerError = Error & {
  code?: string;
  originalCode?: string;
  timeoutType?: string;
  responseCode?: number;
  response?: string;
  permanent?: boolean;
  command?: string;
};

/** System error codes of a connection that was never made. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);

/** Did nodemailer fail before a connection with the server was made? (It keeps the system code in originalCode.) */
function neverConnected(err: NodemailerError): boolean {
  if (err.code === 'EDNS') return true;
  if (err.code === 'ETIMEDOUT') return err.timeoutType === 'CONNECT_TIMEOUT';
  return NOT_CONNECTED.has(err.originalCode ?? err.code ?? '');
}

/** A failed TLS set-up: STARTTLS refused or failed (nodemailer's ETLS), or node's code for a refused certificate or a TLS alert. */
function isTlsFailure(err: NodemailerError): boolean {
  return err.code === 'ETLS' || /^(ERR_SSL_|ERR_TLS_)|CERT|SELF_SIGNED|^UNABLE_TO_/.test(err.originalCode ?? '');
}

function toForwardError(e: unknown, atConnect: boolean): ForwardError {
  if (e instanceof ForwardError) return e;
  const err = e as NodemailerError;
  const code = typeof err.responseCode === 'number' ? err.responseCode : undefined;
  const response = err.response ? replyText(String(err.response)) : undefined;
  const text = response ? `${err.command ? err.command + ': ' : ''}${response}` : err.message;
  // 5xx replies are permanent, except 503 (bad sequence: our fault, retried) as nodemailer judges it.
  // A failed TLS set-up (no STARTTLS with --client-tls-required, a refused upgrade) is the session's
  // problem, not a refusal of the message: it is retried.
  const permanent = err.code !== 'ETLS' && (err.permanent === true || (code !== undefined && code >= 500 && code !== 503));
  return new ForwardError(text, { code, permanent, atConnect, response, unreached: atConnect && neverConnected(err) });
}

export function tlsOptions(cfg: UpstreamConfig, target: ForwardTarget): tls.ConnectionOptions {
  const t = cfg.clientTls;
  const verify = !!t.verify && !cfg.tls.noverify;
  const host = target.kind === 'tcp' ? target.host : undefined;
  const serverName = t.serverName ?? (host && !net.isIP(host) ? host : undefined);
  const opts: tls.ConnectionOptions = {
    rejectUnauthorized: verify,
    minVersion: cfg.tls.minVersion,
    ...legacyTlsCiphers(cfg.tls),
    maxVersion: cfg.tls.maxVersion,
    servername: serverName,
  };
  const ca = verify && t.verify !== '<default>' ? readCaFiles(t.verify!) : undefined;
  if (ca) opts.ca = ca;
  if (t.keyCert) {
    opts.key = t.keyCert.key;
    opts.cert = t.keyCert.cert;
  }
  if (verify) {
    // E-MailRelay's --client-tls-verify checks the chain only, and --client-tls-verify-name the subject CN;
    // the host-name check is relaybox's --client-tls-verify-host.
    const want = t.verifyName;
    const hostName = t.verifyHost ? (serverName ?? host) : undefined;
    opts.checkServerIdentity = (_host, cert) => {
      if (want !== undefined && cert.subject?.CN !== want) return new Error(`server certificate name "${cert.subject?.CN}" is not "${want}"`);
      return hostName ? tls.checkServerIdentity(hostName, cert) : undefined;
    };
  }
  return opts;
}

/**
 * MAIL FROM's AUTH= parameter (RFC 4954 5), sent only on a signed-in session, as E-MailRelay words
 * it: <> with --anonymous=client; else the envelope's MailFromAuthOut when it is valid xtext, the
 * signed-in user id when that is empty, and <> otherwise.
 */
export function mailFromAuth(env: Envelope, user: string | undefined, anonymous: boolean): string {
  if (anonymous) return '<>';
  if (env.mailFromAuthOut) return isXtext(env.mailFromAuthOut) ? env.mailFromAuthOut : '<>';
  return user ? encodeXtext(user) : '<>';
}

function ehloName(domain: string): string | undefined {
  return domain.includes('.') ? domain : undefined;
}

/**
 * A nodemailer connect() or login(): when the connection fails (refused, timed out, dropped) the
 * callback is never called and the failure is only emitted as an 'error' event, so wait for both.
 */
function untilDone(conn: SMTPConnection, call: (done: (err?: Error | null) => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    conn.once('error', reject);
    call((err) => {
      conn.removeListener('error', reject);
      if (err) reject(err);
      else resolve();
    });
  });
}

// nodemailer runs the SASL exchange it knows itself and second-guesses the method it is given
// (XOAUTH2 without its own token generator becomes "the first offered"): relaybox does every
// exchange through one custom handler, which gets the session's send-a-line function.
const SASL_HANDLER = 'RELAYBOX-SASL';
type CustomAuthContext = SMTPConnection.CustomAuthenticationContext;
interface SaslHandler {
  run?: (ctx: CustomAuthContext) => void;
}

/** Signs in with the account's mechanisms; the outcome is relaybox's, not nodemailer's callback. */
function signIn(conn: SMTPConnection, login: ClientLogin, handler: SaslHandler, server: string): Promise<AuthResult> {
  return new Promise<AuthResult>((resolve, reject) => {
    let onClose: (e?: Error) => void = () => undefined;
    const closed = new Promise<never>((_, fail) => {
      onClose = (e?: Error) => fail(e ?? new Error('the upstream server closed the connection'));
      conn.once('error', onClose);
      conn.once('end', onClose);
    });
    closed.catch(() => undefined);
    const settle = () => {
      conn.removeListener('error', onClose);
      conn.removeListener('end', onClose);
    };
    let started = false;
    handler.run = (ctx) => {
      started = true;
      const send = (line: string) => Promise.race([ctx.sendCommand(line), closed]).then((r) => replyOf(String(r.response ?? '')));
      // The whole list, not only what nodemailer implements: OAUTHBEARER, CRAM-SHA*, and the ones a reason should name.
      const offered = authMechanisms(conn, ctx.authMethods);
      login.authenticate({ offered, secure: conn.secure, server, send }).then(
        (result) => {
          settle();
          ctx.resolve();
          resolve(result);
        },
        (e: unknown) => {
          settle();
          // nodemailer rewrites the error it is given (message, code): it gets a copy.
          ctx.reject(new Error(e instanceof Error ? e.message : String(e)));
          reject(e);
        },
      );
    };
    conn.login({ method: SASL_HANDLER, user: 'relaybox', pass: '-' } as SMTPConnection.AuthenticationType, (err) => {
      // An error before the handler ran (a connection already gone): nothing else will settle this.
      if (err && !started) {
        settle();
        reject(err);
      }
    });
  });
}

/** What a probe (relaybox check, the status page's test mail) is told of a session as it goes. */
export interface SessionObserver {
  /** The connection is up (with implicit TLS: after the handshake), to this address:port. */
  connected(remote: string): void;
  /** One line of the dialogue: a reply of the server, or a command (AUTH arguments masked). */
  dialogue(from: 'server' | 'client', text: string): void;
  /** The session is ready for AUTH: TLS as it is (null: not encrypted). */
  tls(info: TlsInfo | null): void;
  /** Signed in with this mechanism; null: the account needs no sign-in. */
  signedIn(mechanism: string | null): void;
}

export interface TlsInfo {
  version: string;
  /** Does relaybox refuse a certificate it cannot verify (client-tls-verify)? */
  checked: boolean;
  /** Would the certificate pass verification, and if not, why (Node's code, e.g. DEPTH_ZERO_SELF_SIGNED_CERT). */
  verified: boolean;
  verifyError?: string;
  subject?: string;
  issuer?: string;
  validTo?: string;
}

/** nodemailer's bunyan-style logger, turned into observer calls (its transaction log is the dialogue). */
function observerLogger(observer: SessionObserver): Record<string, (entry: Record<string, unknown>, message: string, ...args: unknown[]) => void> {
  const onEntry = (entry: Record<string, unknown>, message: string, ...args: unknown[]) => {
    if (entry.tnx === 'server' || entry.tnx === 'client') observer.dialogue(entry.tnx, format(message, ...args));
    else if (entry.tnx === 'network' && /established to/.test(message) && entry.remoteAddress)
      observer.connected(
        `${String(entry.remoteAddress).includes(':') ? `[${String(entry.remoteAddress)}]` : String(entry.remoteAddress)}:${String(entry.remotePort)}`,
      );
  };
  return Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((level) => [level, onEntry]));
}

function tlsInfoOf(socket: tls.TLSSocket, checked: boolean): TlsInfo {
  const cert = socket.getPeerCertificate?.();
  const name = (x: unknown) => (x && typeof x === 'object' && 'CN' in x ? String((x as { CN: unknown }).CN) : undefined);
  return {
    version: socket.getProtocol?.() ?? 'unknown',
    checked,
    verified: socket.authorized,
    verifyError: socket.authorizationError ? String(socket.authorizationError) : undefined,
    subject: name(cert?.subject),
    issuer: name(cert?.issuer),
    validTo: cert?.valid_to,
  };
}

/** nodemailer's options for a session with `target`: TLS as configured, E-MailRelay's timeouts, our SASL handler. */
function connectionOptions(
  cfg: UpstreamConfig,
  target: Exclude<ForwardTarget, { kind: 'graph' }>,
  saslHandler: SaslHandler,
  log: Log,
  observer?: SessionObserver,
): SMTPConnection.Options {
  const t = cfg.clientTls;
  const options: SMTPConnection.Options = {
    secure: t.mode === 'implicit',
    ignoreTLS: t.mode === 'none',
    requireTLS: t.mode !== 'none' && t.required,
    opportunisticTLS: t.mode === 'starttls' && !t.required,
    name: ehloName(cfg.domain),
    connectionTimeout: cfg.connectionTimeout * 1000,
    greetingTimeout: cfg.promptTimeout * 1000,
    socketTimeout: cfg.responseTimeout * 1000,
    tls: tlsOptions(cfg, target),
    localAddress: cfg.clientInterface,
    customAuth: { [SASL_HANDLER]: (ctx) => saslHandler.run?.(ctx) },
  };
  if (observer) Object.assign(options, { logger: observerLogger(observer), transactionLog: true });
  else if (log.isLevelEnabled('debug')) Object.assign(options, { logger: clientDialogueLogger(log), transactionLog: true });
  if (target.kind === 'tcp') {
    options.host = target.host;
    options.port = target.port;
  }
  return options;
}

/** The socket nodemailer is to talk over, when it does not connect itself: through a SOCKS proxy, or a local socket. */
async function ownSocket(cfg: UpstreamConfig, target: Exclude<ForwardTarget, { kind: 'graph' }>): Promise<net.Socket | undefined> {
  if (target.kind === 'tcp') {
    if (!target.socks) return undefined;
    const proxy = target.socks;
    return connectViaSocks(proxy, target.host, target.port, cfg.connectionTimeout * 1000, cfg.clientInterface).catch((e: Error) => {
      throw new ForwardError(
        `cannot connect to ${target.host}:${target.port} through the SOCKS${proxy.version === 4 ? '4a' : '5'} proxy ${proxy.host}:${proxy.port}: ${e.message}`,
        { permanent: false, atConnect: true, unreached: true },
      );
    });
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(target.path, () => resolve(s));
    s.once('error', reject);
  }).catch((e: Error) => {
    throw new ForwardError(`cannot connect to ${target.path}: ${e.message}`, { permanent: false, atConnect: true, unreached: true });
  });
}

/** Signs in; on failure closes the connection and throws the ForwardError that says why. */
function signInOrClose(conn: SMTPConnection, login: ClientLogin, handler: SaslHandler, server: string): Promise<AuthResult> {
  return signIn(conn, login, handler, server).catch((e) => {
    conn.close();
    if (e instanceof OAuthError) throw oauthForwardError(e);
    if (e instanceof AuthFailure) throw new ForwardError(e.message, { code: e.code, permanent: e.permanent, atConnect: true, response: e.response });
    const fe = toForwardError(e, true);
    throw new ForwardError(`authentication failed: ${fe.message}`, { code: fe.code, permanent: fe.permanent, atConnect: true, response: fe.response });
  });
}

export async function openUpstream(
  cfg: UpstreamConfig,
  target: ForwardTarget,
  login: ClientLogin | null,
  log: Log,
  events: RelayEvents,
  observer?: SessionObserver,
): Promise<Upstream> {
  if (target.kind === 'graph') throw new Error('internal: a Graph target has no SMTP session');
  const saslHandler: SaslHandler = {};
  const options = connectionOptions(cfg, target, saslHandler, log, observer);
  const socket = await ownSocket(cfg, target);
  if (socket) options.connection = socket;
  const conn = createSmtpConnection(options);
  const health: ConnectionHealth = { broken: false };
  conn.on('error', (e: Error) => {
    health.broken = true;
    log.debug({ err: e.message }, 'upstream connection error');
  });
  conn.on('end', () => {
    health.broken = true;
  });

  await untilDone(conn, (done) => conn.connect(done)).catch((e) => {
    conn.close();
    if (isTlsFailure(e as NodemailerError)) log.warn({ upstream: target.text, err: (e as Error).message }, 'TLS handshake with the upstream server failed');
    throw toForwardError(e, true);
  });
  const secured = tlsSocket(conn);
  observer?.tls(secured ? tlsInfoOf(secured, options.tls?.rejectUnauthorized === true) : null);
  const loginGeneration = login?.generation() ?? 0;
  const signedIn = login?.needed() ? await signInOrClose(conn, login, saslHandler, target.kind === 'tcp' ? target.host : '') : undefined;
  observer?.signedIn(signedIn?.mechanism ?? null);
  if (!cfg.clientSmtp.pipelining) turnOffPipelining(conn); // --client-smtp-config -pipelining
  const session = new SmtpSession(cfg, conn, health, login, loginGeneration, signedIn, target.text);
  const tlsVersion = tlsProtocol(conn);
  log.info({ upstream: session.description, tls: tlsVersion, auth: signedIn?.mechanism ?? 'no' }, 'connected to the upstream server');
  events.upstreamConnected({ address: session.description, tls: tlsVersion, auth: signedIn?.mechanism ?? '', tokenExpiresAt: signedIn?.tokenExpiresAt });
  return session;
}

/**
 * The content file is read in pieces this large: each read is a round trip through libuv's thread
 * pool, and each piece one dot-stuffing pass and one socket write (a 1 MB message is 4 of each).
 */
const CONTENT_READ_BYTES = 256 * 1024;

/** Set once the connection failed or ended: the session carries no further message. */
interface ConnectionHealth {
  broken: boolean;
}

/** A connected (and signed-in) session, carrying messages one after another. */
class SmtpSession implements Upstream {
  private readonly extensions: readonly string[];
  /** MAIL FROM's AUTH= parameter for the message being sent (signed-in sessions only). */
  private authParam: string | undefined;

  constructor(
    private readonly cfg: UpstreamConfig,
    private readonly conn: SMTPConnection,
    private readonly health: ConnectionHealth,
    private readonly login: ClientLogin | null,
    private readonly loginGeneration: number,
    private readonly signedIn: AuthResult | undefined,
    readonly description: string,
  ) {
    // nodemailer has no AUTH= parameter: it is added to the MAIL command on its way out.
    if (signedIn) addMailFromParameter(conn, () => (this.authParam ? `AUTH=${this.authParam}` : undefined));
    this.extensions = offeredExtensions(conn);
  }

  get usable(): boolean {
    return !this.health.broken && !isClosed(this.conn) && (!this.login || this.login.generation() === this.loginGeneration);
  }

  send(env: Envelope, message: Buffer | string, allOrNothing: boolean): Promise<SendResult> {
    const { cfg, extensions } = this;
    if (env.utf8MailboxNames && cfg.clientSmtp.smtputf8strict && !extensions.includes('SMTPUTF8')) {
      return Promise.reject(
        new ForwardError('the message has UTF-8 mailbox names and the upstream server does not offer SMTPUTF8', { permanent: true, atConnect: false }),
      );
    }
    if (env.content === '8bit' && cfg.clientSmtp.eightbitstrict && !extensions.includes('8BITMIME')) {
      return Promise.reject(new ForwardError('the message is 8-bit and the upstream server does not offer 8BITMIME', { permanent: true, atConnect: false }));
    }
    if (cfg.forwardFromMailbox) {
      const mailbox = this.login?.mailbox();
      if (!mailbox)
        return Promise.reject(
          new ForwardError('--forward-from-mailbox needs a client line whose user is a mailbox (user@domain)', { permanent: true, atConnect: false }),
        );
      const rewritten =
        typeof message === 'string'
          ? rewrittenContentStream(message, mailbox).catch((e: Error) => {
              if (e instanceof HeaderTooLarge) throw new ForwardError(e.message, { permanent: true, atConnect: false });
              throw new ForwardError(`cannot read the message content: ${e.message}`, { permanent: false, atConnect: false });
            })
          : Promise.resolve(rewriteFromHeader(message, mailbox));
      return rewritten.then((content) => this.sendAs({ ...env, from: mailbox }, content, allOrNothing));
    }
    return this.sendAs(env, message, allOrNothing);
  }

  close(): void {
    this.health.broken = true;
    try {
      this.conn.quit();
    } catch {
      this.conn.close();
    }
  }

  /** `message`: the content, the path of its file, or a stream of it (read once). */
  private sendAs(env: Envelope, message: Buffer | string | Readable, allOrNothing: boolean): Promise<SendResult> {
    const { conn, health, login, signedIn } = this;
    if (signedIn) this.authParam = mailFromAuth(env, signedIn.user, this.cfg.anonymous.has('client'));
    return new Promise<SendResult>((resolve, reject) => {
      let aborted: NodemailerError[] | null = null;
      const file =
        typeof message === 'string' ? new ContentFileStream(message, CONTENT_READ_BYTES) : message instanceof Readable ? message : Readable.from([message]);
      // E-MailRelay's forward-to-all: if any recipient was refused, no recipient gets the message.
      // nodemailer sends DATA once any recipient is accepted, so the transaction is abandoned by
      // dropping the connection before the content's end (the server then discards it).
      const content =
        allOrNothing && env.toRemote.length > 1
          ? Readable.from(
              (async function* () {
                const pending = pendingEnvelope(conn);
                if (pending?.rejectedErrors.length) {
                  aborted = pending.rejectedErrors;
                  file.destroy();
                  health.broken = true;
                  conn.close();
                  // close() drops the send in flight without ever calling its callback: settle it here.
                  resolve({ accepted: pending.accepted, rejected: rejectedOf(aborted), response: 'abandoned: not every recipient was accepted' });
                  return;
                }
                yield* file;
              })(),
            )
          : Buffer.isBuffer(message)
            ? message
            : file;
      file.on('error', (e: Error) => {
        health.broken = true;
        conn.close();
        reject(new ForwardError(`cannot read the message content: ${e.message}`, { permanent: false, atConnect: false }));
      });
      conn.send({ from: env.from, to: env.toRemote, use8BitMime: env.content === '8bit' }, content, (err, info) => {
        const rejectedErrors: NodemailerError[] =
          aborted ??
          (err as { rejectedErrors?: NodemailerError[] } | null)?.rejectedErrors ??
          (info as { rejectedErrors?: NodemailerError[] } | undefined)?.rejectedErrors ??
          [];
        const rejected = rejectedOf(rejectedErrors);
        if (aborted) {
          return resolve({ accepted: [], rejected, response: 'abandoned: not every recipient was accepted' });
        }
        if (err) {
          if (!(err as NodemailerError).responseCode) health.broken = true;
          let fe = toForwardError(err, false);
          // Every recipient refused (nodemailer's EENVELOPE): E-MailRelay's Reason, not the last RCPT's reply alone.
          if (rejected.length && (err as NodemailerError).code === 'EENVELOPE') {
            fe = new ForwardError(recipientsRejectedReason(allOrNothing, false, rejected), {
              code: fe.code,
              permanent: fe.permanent,
              atConnect: false,
              response: fe.response,
            });
          }
          const reason = withAdvice(fe.message, { mailbox: login?.mailbox() });
          const failure =
            reason === fe.message ? fe : new ForwardError(reason, { code: fe.code, permanent: fe.permanent, atConnect: false, response: fe.response });
          if (health.broken) return reject(failure);
          // A refusal (e.g. every recipient refused) can leave the transaction open on the server:
          // RSET before this session carries the next message, or it gets "503 nested MAIL command".
          return conn.reset((resetErr) => {
            if (resetErr) health.broken = true;
            reject(failure);
          });
        }
        resolve({ accepted: (info.accepted as string[]) ?? [], rejected, response: String(info.response ?? '') });
      });
    });
  }
}

/** The refused recipients as the runner reports them. */
function rejectedOf(errors: NodemailerError[]): SendResult['rejected'] {
  return errors.map((r) => ({
    address: (r as { recipient?: string }).recipient ?? '',
    code: r.responseCode,
    response: replyText(String(r.response ?? r.message)),
  }));
}
