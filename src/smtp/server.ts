// Inbound SMTP, the assembly: smtp-server with the listener's TLS, E-MailRelay's replies and limits,
// the session policy (session-policy.ts: connect, AUTH, MAIL, RCPT, the verifier) and the receiving of
// each message (receive.ts: DATA into the spool, the server filter, the commit before 250).
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { NetConfig } from '../net/config';
import type { SmtpConfig } from './config';
import type { Log } from '../log';
import { smtpServerLogger } from '../log';
import type { Spool } from '../spool/store';
import { unmapAddress } from '../net/client-admission';
import { legacyTlsCiphers, readCaFiles } from '../tls-files';
import type { FilterChain } from '../filters/chain';
import type { Verifier } from '../verifiers/verifier';
import type { RelayEvents } from '../events/relay-events';
import { BARE_LF_OPTION } from './bare-lf-policy';
import { LENIENT_OPTION, STRICT_REFUSAL_OPTION } from './lenient';
import { CLIENT_ERROR_LIMIT_OPTION, EMAILRELAY_CLIENT_ERROR_LIMIT } from './client-errors';
import {
  dropSessionConnection,
  IMMEDIATE_GREETING_OPTION,
  installSmtpServerAdapter,
  LOG_BEFORE_REPLY_OPTION,
  logDirectly,
  rearmTimeouts,
  TLS_ABANDONED_OPTION,
  VRFY_OPTION,
} from './smtp-server-adapter';
import { ACCEPT_REPLIES_OPTION } from './accept-replies';
import { AUTH_GATE_OPTION, AUTH_MECHANISMS_OPTION } from './auth-advertise';
import type { ServerAccess } from './server-access';
import type { SmtpControls } from './controls';
import {
  acceptRecipient,
  acceptSender,
  admitConnection,
  authenticate,
  authGate,
  bareLfPolicy,
  closeSession,
  mechanismsFor,
  strictRefusal,
  vrfyHandler,
  type SessionPolicy,
} from './session-policy';
import { receive, type ImmediateResult, type Receiver } from './receive';

export interface ServerHooks {
  /** An SMTP connection closed (E-MailRelay's --forward-on-disconnect trigger). */
  disconnected(): void;
  /** --immediate: forward the committed message before answering the client. */
  forwardNow?(id: string): Promise<ImmediateResult>;
  /** A server filter asked for the spool to be scanned again (exit codes 102 to 104). */
  rescan?(): void;
  /** --forward-on-commit: a message is in the spool, ready to forward. */
  committed?(id: string): void;
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

/** OpenSSL's verify codes for a client certificate that --server-tls-verify refuses (node's err.code). */
const CLIENT_CERTIFICATE_REFUSED = /CERT|SELF_SIGNED|^UNABLE_TO_|^INVALID_CA$|^PATH_LENGTH_EXCEEDED$|^INVALID_PURPOSE$/;

/** A client's TLS handshake failed (smtp-server passes it on as a server error). */
function isTlsHandshakeError(err: { code?: string; message: string }): boolean {
  return (
    !!err.code &&
    (err.code.startsWith('ERR_SSL_') ||
      err.code === 'TLSError' ||
      (err.code === 'ECONNRESET' && /TLS/i.test(err.message)) ||
      CLIENT_CERTIFICATE_REFUSED.test(err.code))
  );
}

/** One line on what to do about a failed client handshake. */
function tlsHint(err: { code?: string; message: string; meta?: { message?: string } }, minVersion: string): string {
  const text = `${err.code ?? ''} ${err.message} ${err.meta?.message ?? ''}`;
  if (err.code && CLIENT_CERTIFICATE_REFUSED.test(err.code)) {
    return "the client's certificate is not signed by a CA that --server-tls-verify names: give the device a certificate from that CA, or add its CA";
  }
  if (/VERSION|PROTOCOL/i.test(text)) {
    return `the client offered a TLS version this relay refuses (the minimum is ${minVersion}): for an old device, allow older versions with --tls-config tlsv1.0, or let it send without TLS`;
  }
  if (/CIPHER|SHARED/i.test(text)) {
    return 'the client and this relay have no cipher in common: for an old device, --tls-config tlsv1.0 also allows the older ciphers, or let it send without TLS';
  }
  return "the device may not accept this relay's certificate, or speaks an old TLS: check the device's TLS settings, or let it send without TLS";
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

/** The commands smtp-server must not offer. */
function disabledCommands(cfg: SmtpConfig & NetConfig, authOn: boolean): string[] {
  const disabled = [...(authOn ? [] : ['AUTH']), 'WIZ', 'SHELL', 'KILL', 'XCLIENT', 'XFORWARD'];
  if (cfg.anonymous.has('vrfy')) disabled.push('VRFY');
  const tls = cfg.serverTls;
  // smtp-server answers STARTTLS even when it is not offered, with a certificate of its own.
  if (!tls || tls.implicit) disabled.push('STARTTLS');
  return disabled;
}

/** smtp-server's options without the handlers: the listener's TLS, E-MailRelay's replies and limits, the adapter's markers. */
function serverOptions(cfg: SmtpConfig & NetConfig, log: Log, p: SessionPolicy): SMTPServerOptions & Record<string, unknown> {
  const lenient = !cfg.serverSmtp.strictparsing;
  const tls = cfg.serverTls;
  return {
    name: cfg.domain,
    banner: cfg.anonymous.has('server') ? '' : `-- relaybox -- Service ready`,
    size: cfg.size || undefined,
    hideSize: !cfg.size,
    disabledCommands: disabledCommands(cfg, !!p.access?.authConfigured),
    authOptional: true,
    authMethods: [],
    allowInsecureAuth: true,
    [AUTH_MECHANISMS_OPTION]: mechanismsFor(p),
    [AUTH_GATE_OPTION]: authGate(p),
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
    [STRICT_REFUSAL_OPTION]: strictRefusal(p),
    [BARE_LF_OPTION]: bareLfPolicy(p),
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
  };
}

export function createSmtpServer(cfg: SmtpConfig & NetConfig, spool: Spool, log: Log, hooks: ServerHooks, policy: ServerPolicy = {}): SMTPServer {
  installSmtpServerAdapter();
  const access = hooks.access;
  /** Each TLS session's client certificate (PEM), for its messages' envelopes. */
  const certificates = new Map<string, string>();
  const p: SessionPolicy = { cfg, log, access, verifier: policy.verifier, controls: hooks.controls, drop: (session) => dropSessionConnection(server, session) };
  const receiver: Receiver = {
    cfg,
    spool,
    log,
    access,
    filter: policy.filter,
    events: hooks.events,
    clientCertificate: (session) => certificates.get(session.id) ?? '',
    forwardNow: hooks.forwardNow,
    rescan: hooks.rescan,
    committed: hooks.committed,
  };
  const options: SMTPServerOptions & Record<string, unknown> = {
    ...serverOptions(cfg, log, p),
    onSecure(socket, session, cb) {
      const tlsSocket = socket as import('node:tls').TLSSocket;
      const peer = tlsSocket.getPeerCertificate?.();
      if (peer && peer.raw) certificates.set(session.id, toPem(peer.raw));
      log.debug(
        { address: session.remoteAddress, port: session.remotePort, protocol: tlsSocket.getProtocol?.(), cipher: tlsSocket.getCipher?.()?.name },
        'tls established',
      );
      cb();
    },
    onConnect: (session, cb) => admitConnection(p, session, cb),
    onAuth: (auth, session, cb) => authenticate(p, auth, session, cb),
    onMailFrom: (address, session, cb) => acceptSender(p, address, session, cb),
    onRcptTo: (address, session, cb) => acceptRecipient(p, address, session, cb),
    onData(stream, session, cb) {
      receive(receiver, stream, session).then(
        (reply) => cb(null, reply),
        (err: Error) => cb(err),
      );
    },
    onClose(session) {
      certificates.delete(session.id);
      closeSession(p, session);
      hooks.disconnected();
    },
  };
  const vrfy = vrfyHandler(p);
  if (vrfy) options[VRFY_OPTION] = vrfy;
  // smtp-server reads socketTimeout each time it arms a socket's timeout: the shorter of
  // --command-timeout and --idle-timeout, cut to --stress-timeout while the relay is busy.
  const limits = cfg.smtpLimits;
  const timeoutMs = () => 1000 * Math.min(cfg.idleTimeout, limits.commandTimeout, access?.busy() ? limits.stressTimeout : Infinity);
  Object.defineProperty(options, 'socketTimeout', { get: timeoutMs, enumerable: true });
  const server = new SMTPServer(options);
  logDirectly(server, options.logger as never);
  // When the relay becomes busy, connections already open get the short timeout at once, counted
  // from now. When it stops being busy, a connection keeps the timeout it was waiting with until its
  // next command (as Postfix decides per read): otherwise the first drops would lift the stress and
  // leave the rest of an idle flood holding their slots for the full timeout.
  access?.onBusyChange((busy) => {
    if (!busy) return;
    rearmTimeouts(server);
  });
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
