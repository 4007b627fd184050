// Inbound SMTP: session policy on top of smtp-server. Receives a message into the spool and answers
// 250 only once it is committed (fsync'd and renamed into place).
import { SMTPServer, type SMTPServerOptions, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { domainToASCII } from 'node:url';
import type { RelayConfig } from '../config';
import type { Log } from '../log';
import { smtpServerLogger } from '../log';
import { isNoSpace } from '../spool/durable';
import { newEnvelope, type ContentType } from '../spool/envelope';
import type { NewMessage, Spool } from '../spool/store';
import { admitsClient, isLocalAddress, NOT_ADMITTED, unmapAddress } from '../net/client-admission';
import { BARE_LF_OPTION, type BareLfPolicy } from './bare-lf-policy';
import { LENIENT_OPTION, STRICT_REFUSAL_OPTION, type StrictRefusal } from './lenient';
import { rangeContains } from '../net/address-range';
import { receivedHeader } from './received';
import { flushBareCr, newBareCrScan, replaceBareCr } from './bare-cr';
import { legacyTlsCiphers, readCaFiles } from '../tls-files';
import type { FilterChain } from '../filters/chain';
import type { Verdict, Verifier } from '../verifiers/verifier';
import { CLIENT_ERROR_LIMIT_OPTION, EMAILRELAY_CLIENT_ERROR_LIMIT } from './client-errors';
import { ACCEPT_REPLIES_OPTION } from './accept-replies';
import { dropSessionConnection, IMMEDIATE_GREETING_OPTION, installSmtpServerAdapter, LOG_BEFORE_REPLY_OPTION, rearmTimeouts, TLS_ABANDONED_OPTION, VRFY_OPTION, type VrfyHandler } from './smtp-server-adapter';
import { AUTH_GATE_OPTION, AUTH_MECHANISMS_OPTION, TLS_FIRST, type AuthGate, type MechanismsFor } from './auth-advertise';
import type { ServerAccess } from './server-access';
import type { RelayEvents } from '../events/relay-events';
import type { SmtpControls } from './controls';

export interface ImmediateResult {
  ok: boolean;
  code?: number;
  text: string;
}

export interface ServerHooks {
  /** An SMTP connection closed (E-MailRelay's --forward-on-disconnect trigger). */
  disconnected(): void;
  /** --immediate: forward the committed message before answering the client. */
  forwardNow?(id: string): Promise<ImmediateResult>;
  /** A server filter asked for the spool to be scanned again (exit codes 102 to 104). */
  rescan?(): void;
  /** Who may send (server-access.ts): limits, DNSBL, AUTH and trusted networks; shared by all listeners. */
  access?: ServerAccess;
  /** Where each message's steps are announced. */
  events: RelayEvents;
  /** What the admin interface switches (SMTP disabled). */
  controls: SmtpControls;
}

/** The admin's policy hooks: --filter and --address-verifier. */
export interface ServerPolicy {
  filter?: FilterChain;
  verifier?: Verifier;
}

/** A recipient address as smtp-server keeps it, with the verifier's judgement attached. */
type Recipient = SMTPServerAddress & { localMailbox?: string };

/** The data stream failed for a reason of the client's (it disconnected mid-DATA). */
class ClientGone extends Error {}

/** A spool write that failed: 452, saying whether the disk is full. */
function spoolWriteError(e: unknown): Error {
  return smtpError(452, isNoSpace(e) ? 'insufficient storage: the spool is full' : 'rejected');
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/** Convert the domain of an address to A-labels (IDNA); null if it cannot be converted. */
export function toALabels(address: string): string | null {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  if (/^\[.*\]$/.test(domain) || /^[\x21-\x7e]*$/.test(domain)) return address;
  const ascii = domainToASCII(domain);
  return ascii ? address.slice(0, at + 1) + ascii : null;
}

const NON_ASCII = /[^\x00-\x7f]/;

function contentType(body: unknown): ContentType {
  const b = typeof body === 'string' ? body.toUpperCase() : '';
  if (b === '7BIT') return '7bit';
  if (b === '8BITMIME') return '8bit';
  if (b === 'BINARYMIME') return 'binarymime';
  return 'unknown';
}

/** OpenSSL's verify codes for a client certificate that --server-tls-verify refuses (node's err.code). */
const CLIENT_CERTIFICATE_REFUSED = /CERT|SELF_SIGNED|^UNABLE_TO_|^INVALID_CA$|^PATH_LENGTH_EXCEEDED$|^INVALID_PURPOSE$/;

/** A client's TLS handshake failed (smtp-server passes it on as a server error). */
function isTlsHandshakeError(err: { code?: string; message: string }): boolean {
  return !!err.code && (err.code.startsWith('ERR_SSL_') || err.code === 'TLSError' || err.code === 'ECONNRESET' && /TLS/i.test(err.message) || CLIENT_CERTIFICATE_REFUSED.test(err.code));
}

/** One line on what to do about a failed client handshake. */
function tlsHint(err: { code?: string; message: string; meta?: { message?: string } }, minVersion: string): string {
  const text = `${err.code ?? ''} ${err.message} ${err.meta?.message ?? ''}`;
  if (err.code && CLIENT_CERTIFICATE_REFUSED.test(err.code)) {
    return 'the client\'s certificate is not signed by a CA that --server-tls-verify names: give the device a certificate from that CA, or add its CA';
  }
  if (/VERSION|PROTOCOL/i.test(text)) {
    return `the client offered a TLS version this relay refuses (the minimum is ${minVersion}): for an old device, allow older versions with --tls-config tlsv1.0, or let it send without TLS`;
  }
  if (/CIPHER|SHARED/i.test(text)) {
    return 'the client and this relay have no cipher in common: for an old device, --tls-config tlsv1.0 also allows the older ciphers, or let it send without TLS';
  }
  return 'the device may not accept this relay\'s certificate, or speaks an old TLS: check the device\'s TLS settings, or let it send without TLS';
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * --server-tls-verify: without it a client certificate is asked for but not checked (E-MailRelay);
 * with a CA file or directory (or <default>) one is required and verified; <none> asks for none.
 */
function clientCertificateOptions(verify: string | undefined): Partial<SMTPServerOptions> {
  if (verify === '<none>') return { requestCert: false };
  if (!verify) return { requestCert: true, rejectUnauthorized: false };
  const ca = verify === '<default>' ? undefined : readCaFiles(verify);
  return { requestCert: true, rejectUnauthorized: true, ca };
}

export function createSmtpServer(cfg: RelayConfig, spool: Spool, log: Log, hooks: ServerHooks, policy: ServerPolicy = {}): SMTPServer {
  const lenient = !cfg.serverSmtp.strictparsing;
  installSmtpServerAdapter();
  const access = hooks.access;
  const authOn = !!access?.authConfigured;
  const disabled = [...(authOn ? [] : ['AUTH']), 'WIZ', 'SHELL', 'KILL', 'XCLIENT', 'XFORWARD'];
  if (cfg.anonymous.has('vrfy')) disabled.push('VRFY');
  const tls = cfg.serverTls;
  // smtp-server answers STARTTLS even when it is not offered, with a certificate of its own.
  if (!tls || tls.implicit) disabled.push('STARTTLS');
  const peerCertificates = new Map<string, string>();

  const checkAddress = (address: SMTPServerAddress, session: SMTPServerSession, what: 'sender' | 'recipient'): string => {
    let a = address.address;
    if (what === 'recipient' && !a) throw smtpError(553, 'mailbox name not allowed: empty recipient');
    if (/[\0\r\n]/.test(a)) throw smtpError(553, `mailbox name not allowed: control characters in the ${what}`);
    if (tls?.required && !session.secure) {
      log.warn({ address: unmapAddress(session.remoteAddress) }, 'encryption required: this client sent MAIL FROM without STARTTLS, which --server-tls-required refuses');
      throw smtpError(TLS_FIRST.code, TLS_FIRST.message);
    }
    if (what === 'sender') {
      const refusal = access?.mailGate(session, !!session.secure);
      if (refusal) {
        log.warn({ address: unmapAddress(session.remoteAddress) }, `${refusal.message}: this client is not trusted, so it must log in (AUTH) before MAIL FROM, or be named by a "server none <address-range> <keyword>" line in the --server-auth secrets file`);
        throw smtpError(refusal.code, refusal.message);
      }
    }
    if (cfg.serverSmtp.alabels) {
      const converted = toALabels(a);
      if (converted === null) throw smtpError(553, `mailbox name not allowed: invalid international domain in <${a}>`);
      a = converted;
    }
    return a;
  };

  /** Clients whose bare LF ends a line, and so may end DATA with "\n.\n" (bare-lf.ts). */
  const bareLfMode: BareLfPolicy['modeFor'] = (session) => {
    const address = unmapAddress(session.remoteAddress);
    if (isLocalAddress(address)) return 'crlf';
    if (access?.trustKeyword(address) !== undefined) return 'crlf';
    return cfg.bareLfClients.some((r) => rangeContains(r, address)) ? 'crlf' : 'exact';
  };
  const bareLf: BareLfPolicy = {
    modeFor: bareLfMode,
    idleMs: 1000 * Math.min(cfg.idleTimeout, cfg.smtpLimits.commandTimeout),
    refused(session, after) {
      log.warn({ address: unmapAddress(session.remoteAddress), after },
        'DATA ended with a bare LF ("\\n.\\n"), which only CRLF.CRLF may do for this client: nothing was stored and the client was disconnected; fix the device, or name its address in --bare-lf-clients');
    },
  };
  const strictRefusal: StrictRefusal = (session, reply) => {
    log.warn({ address: unmapAddress(session.remoteAddress), reply }, 'an address without angle brackets was refused: set "server-smtp-config nostrictparsing" to accept it');
  };

  const options: SMTPServerOptions & Record<string, unknown> = {
    name: cfg.domain,
    banner: cfg.anonymous.has('server') ? '' : `-- relaybox -- Service ready`,
    size: cfg.size || undefined,
    hideSize: !cfg.size,
    disabledCommands: disabled,
    authOptional: true,
    authMethods: [],
    allowInsecureAuth: true,
    [AUTH_MECHANISMS_OPTION]: access ? ((session, secure) => access.mechanisms(session, secure)) satisfies MechanismsFor : undefined,
    [AUTH_GATE_OPTION]: ((session, secure) => (tls?.required && !secure ? TLS_FIRST : access?.mailGate(session, secure) ?? null)) satisfies AuthGate,
    hidePIPELINING: !cfg.serverSmtp.pipelining,
    hideSMTPUTF8: !cfg.serverSmtp.smtputf8,
    hideSTARTTLS: !tls || tls.implicit,
    secure: !!tls?.implicit,
    key: tls?.keyCert.key,
    cert: tls?.keyCert.cert,
    ...clientCertificateOptions(tls?.verify),
    minVersion: cfg.tls.minVersion,
    ...legacyTlsCiphers(cfg.tls),
    maxVersion: cfg.tls.maxVersion,
    lenientAddressParsing: lenient,
    [LENIENT_OPTION]: lenient,
    [STRICT_REFUSAL_OPTION]: strictRefusal,
    [BARE_LF_OPTION]: bareLf,
    [IMMEDIATE_GREETING_OPTION]: true,
    [CLIENT_ERROR_LIMIT_OPTION]: EMAILRELAY_CLIENT_ERROR_LIMIT,
    [ACCEPT_REPLIES_OPTION]: true,
    [TLS_ABANDONED_OPTION]: true,
    [LOG_BEFORE_REPLY_OPTION]: true,
    disableReverseLookup: true,
    // E-MailRelay's EHLO/HELO reply ("<domain> says hello"), which scripts and its test suite match.
    heloResponse: '%s says hello',
    maxCommandLength: cfg.smtpLimits.maxCommandLength,
    logger: smtpServerLogger(log) as never,

    onSecure(socket, session, cb) {
      const tlsSocket = socket as import('node:tls').TLSSocket;
      const peer = tlsSocket.getPeerCertificate?.();
      if (peer && peer.raw) peerCertificates.set(session.id, toPem(peer.raw));
      log.debug({ address: session.remoteAddress, port: session.remotePort, protocol: tlsSocket.getProtocol?.(), cipher: tlsSocket.getCipher?.()?.name }, 'tls established');
      cb();
    },

    onConnect(session, cb) {
      if (!hooks.controls.enabled) return cb(smtpError(421, 'service not available (disabled by the admin interface)'));
      if (!admitsClient(cfg.admission, session.remoteAddress)) {
        log.warn({ address: session.remoteAddress }, `connection refused: ${NOT_ADMITTED}`);
        return cb(smtpError(554, 'access denied'));
      }
      if (!access) {
        log.debug({ address: session.remoteAddress, port: session.remotePort }, 'smtp connection');
        return cb();
      }
      access.connect(session).then((refusal) => {
        if (refusal) return cb(smtpError(refusal.code, refusal.message));
        log.debug({ address: session.remoteAddress, port: session.remotePort }, 'smtp connection');
        cb();
      }, (e: Error) => {
        log.error({ address: session.remoteAddress, err: e.message }, 'cannot check the connection');
        cb(smtpError(421, 'service not available: try again later'));
      });
    },

    onAuth(auth, session, cb) {
      if (!access) return cb(smtpError(502, 'authentication not available'));
      const attempt = auth as unknown as import('../auth/server-verify').AuthAttempt;
      access.authenticate(attempt, session).then((outcome) => {
        if (outcome.user !== undefined) {
          (session as { authMethod?: string }).authMethod = attempt.method; // the verifier's 5th argument
          return cb(null, { user: outcome.user });
        }
        const r = outcome.refusal ?? { code: 535, message: 'authentication failed' };
        cb(null, { user: undefined, responseCode: r.code, message: r.message } as never);
      }, (e: Error) => {
        log.error({ err: e.message }, 'authentication error');
        cb(smtpError(454, 'temporary authentication failure'));
      });
    },

    onMailFrom(address, session, cb) {
      try {
        const from = checkAddress(address, session, 'sender');
        const args = (address.args || {}) as Record<string, unknown>;
        if (cfg.serverSmtp.smtputf8strict && NON_ASCII.test(from) && !args.SMTPUTF8) {
          throw smtpError(553, 'mailbox name not allowed: UTF-8 address without the SMTPUTF8 parameter');
        }
        address.address = from;
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },

    onRcptTo(address: Recipient, session, cb) {
      const limit = cfg.smtpLimits.maxRecipients;
      if (limit && session.envelope.rcptTo.length >= limit) return cb(smtpError(452, '4.5.3 Too many recipients'));
      let recipient: string;
      try {
        recipient = checkAddress(address, session, 'recipient');
      } catch (e) {
        return cb(e as Error);
      }
      if (!policy.verifier) {
        address.address = recipient;
        return cb();
      }
      verify(recipient, session, session.envelope.mailFrom ? session.envelope.mailFrom.address : '').then((v) => {
        if (v.kind === 'abort') return dropConnection(session);
        if (v.kind === 'invalid') return cb(smtpError(v.temporary ? 450 : 550, v.response));
        if (v.kind === 'local') address.localMailbox = v.mailbox;
        else address.address = v.address;
        cb();
      }, (e: Error) => cb(smtpError(450, `cannot verify: ${e.message}`)));
    },

    onData(stream: SMTPServerDataStream, session, cb) {
      receive(stream, session).then(
        (reply) => cb(null, reply),
        (err: Error) => cb(err),
      );
    },

    onClose(session) {
      peerCertificates.delete(session.id);
      access?.disconnect(session);
      log.debug({ address: session.remoteAddress, port: session.remotePort }, 'smtp connection closed');
      hooks.disconnected();
    },
  };
  if (policy.verifier) options[VRFY_OPTION] = vrfy;
  // smtp-server reads socketTimeout each time it arms a socket's timeout: the shorter of
  // --command-timeout and --idle-timeout, cut to --stress-timeout while the relay is busy.
  const limits = cfg.smtpLimits;
  const timeoutMs = () => 1000 * Math.min(cfg.idleTimeout, limits.commandTimeout, access?.busy() ? limits.stressTimeout : Infinity);
  Object.defineProperty(options, 'socketTimeout', { get: timeoutMs, enumerable: true });
  const server = new SMTPServer(options);
  // When the relay becomes busy, connections already open get the short timeout at once, counted
  // from now. When it stops being busy, a connection keeps the timeout it was waiting with until its
  // next command (as Postfix decides per read): otherwise the first drops would lift the stress and
  // leave the rest of an idle flood holding their slots for the full timeout.
  access?.onBusyChange((busy) => {
    if (!busy) return;
    rearmTimeouts(server);
  });

  async function verify(recipient: string, session: SMTPServerSession, from: string): Promise<Verdict> {
    const v = await policy.verifier!.verify({
      recipient,
      from,
      peer: `${unmapAddress(session.remoteAddress)}:${session.remotePort}`,
      domain: cfg.domain,
      mechanism: session.user ? String((session as { authMethod?: string }).authMethod ?? 'plain').toLowerCase() : 'none',
      authId: access ? access.authenticationField(session) : typeof session.user === 'string' ? session.user : '',
    });
    const log1 = { address: session.remoteAddress, recipient, verifier: policy.verifier!.name };
    if (v.kind === 'invalid') log.info({ ...log1, temporary: v.temporary, reason: v.reason }, 'recipient refused by the address verifier');
    else if (v.kind === 'abort') log.warn(log1, 'the address verifier asked for the connection to be dropped');
    else log.debug({ ...log1, result: v.kind, mailbox: v.kind === 'local' ? v.mailbox : undefined }, 'recipient verified');
    return v;
  }

  function dropConnection(session: SMTPServerSession): void {
    dropSessionConnection(server, session);
  }

  async function vrfy(address: string, session: SMTPServerSession): ReturnType<VrfyHandler> {
    const v = await verify(address, session, '');
    if (v.kind === 'abort') return 'abort';
    if (v.kind === 'local') return { code: 250, text: v.fullName || v.mailbox };
    if (v.kind === 'remote') return { code: 252, text: `cannot verify but will accept: ${v.address}` };
    return { code: v.temporary ? 450 : 550, text: v.response };
  }

  async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const msg = await spool.newMessage().catch((e: Error) => {
      stream.resume();
      log.error({ err: e.message }, 'cannot create a spool file');
      throw spoolWriteError(e);
    });
    const address = unmapAddress(session.remoteAddress);
    try {
      if (!cfg.anonymous.has('content')) {
        await msg.write(Buffer.from(receivedHeader({
          helo: session.hostNameAppearsAs || address,
          address,
          domain: cfg.domain,
          tls: session.secure && session.tlsOptions ? session.tlsOptions.name : undefined,
          authenticated: !!session.user,
          date: new Date(),
        })));
      }
      const mailArgs = ((session.envelope.mailFrom && session.envelope.mailFrom.args) || {}) as Record<string, unknown>;
      const bareCr = contentType(mailArgs.BODY) === 'binarymime' ? null : newBareCrScan();
      try {
        for await (const chunk of stream) {
          if (stream.sizeExceeded) continue; // keep draining; nothing more goes to disk
          const data = bareCr ? replaceBareCr(bareCr, chunk as Buffer) : (chunk as Buffer);
          if (data.length) await msg.write(data);
        }
        if (bareCr && !stream.sizeExceeded) {
          const rest = flushBareCr(bareCr);
          if (rest.length) await msg.write(rest);
        }
      } catch (e) {
        throw (e as NodeJS.ErrnoException).syscall ? e : new ClientGone((e as Error).message);
      }
      if (stream.sizeExceeded) {
        await msg.rollback();
        throw smtpError(552, 'message size exceeds fixed maximum message size');
      }
      const mailFrom = session.envelope.mailFrom || { address: '', args: {} };
      const args = (mailFrom.args || {}) as Record<string, unknown>;
      const rcpts = session.envelope.rcptTo as Recipient[];
      const recipients = rcpts.filter((r) => r.localMailbox === undefined).map((r) => r.address);
      const env = newEnvelope({
        content: contentType(args.BODY),
        from: mailFrom.address,
        toLocal: rcpts.flatMap((r) => (r.localMailbox === undefined ? [] : [r.localMailbox])),
        toRemote: recipients,
        client: address,
        authentication: access ? access.authenticationField(session) : '',
        clientCertificate: peerCertificates.get(session.id) ?? '',
        mailFromAuthIn: typeof args.AUTH === 'string' ? args.AUTH : '',
        utf8MailboxNames: [mailFrom.address, ...recipients].some((a) => NON_ASCII.test(a)),
      });
      if (policy.filter) {
        await msg.prepare(env);
        await runServerFilter(msg, address);
      } else await msg.commit(env);
    } catch (e) {
      await msg.rollback();
      if ((e as { responseCode?: number }).responseCode) throw e;
      if (e instanceof ClientGone) {
        log.info({ id: msg.id, address, err: e.message }, 'the client went away during DATA: nothing was stored');
        throw smtpError(451, 'message incomplete');
      }
      log.error({ id: msg.id, err: (e as Error).message }, 'cannot store a message');
      throw spoolWriteError(e);
    }
    if (msg.abandoned) return 'message processed';
    log.debug({ id: msg.id }, 'new envelope file');
    hooks.events.step(log, 'received', { id: msg.id, client: address, address, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.length, bytes: msg.bytes }, 'message received');
    if (hooks.forwardNow) {
      const r = await hooks.forwardNow(msg.id);
      if (!r.ok) throw smtpError(r.code && r.code >= 400 ? r.code : 452, r.text);
    }
    return 'message processed';
  }

  /** The server filter decides: commit (ok), commit what is left and say 250 (abandon), or remove and refuse (fail). */
  async function runServerFilter(msg: NewMessage, address: string): Promise<void> {
    const r = await policy.filter!.run({ id: msg.id, contentPath: spool.contentPath(msg.id), envelopePath: spool.envelopePath(msg.id, 'new') });
    // A rescan looks at the spool once this message's fate is on disk.
    const rescan = () => { if (r.special) hooks.rescan?.(); };
    if (r.outcome === 'ok') {
      hooks.events.step(log, 'filtered', { id: msg.id, client: address, filter: r.filter, outcome: 'ok' }, 'message passed the filter');
      return msg.commitPrepared().then(rescan);
    }
    if (r.outcome === 'abandon') {
      await msg.commitPrepared(true);
      msg.abandoned = true;
      rescan();
      hooks.events.step(log, 'filtered', { id: msg.id, client: address, address, filter: r.filter, outcome: 'abandon' }, 'message abandoned by the filter');
      return;
    }
    await msg.rollback();
    rescan();
    hooks.events.step(log, 'filtered', { id: msg.id, client: address, address, filter: r.filter, outcome: 'rejected', reason: r.reason }, 'message rejected by filter');
    throw smtpError(r.code ?? 452, r.response);
  }

  server.on('error', (err: Error & { code?: string; remoteAddress?: string; meta?: { remoteAddress?: string; message?: string } }) => {
    if (isTlsHandshakeError(err)) {
      const address = unmapAddress(err.remoteAddress ?? err.meta?.remoteAddress ?? '');
      log.warn({ address, err: err.meta?.message ?? err.message, code: err.code }, `TLS handshake with a client failed: ${tlsHint(err, cfg.tls.minVersion)}`);
      return;
    }
    log.error({ err: err.message }, 'smtp server error');
  });
  return server;
}
