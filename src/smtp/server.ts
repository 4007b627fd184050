// Inbound SMTP: session policy on top of smtp-server. Receives a message into the spool and answers
// 250 only once it is committed (fsync'd and renamed into place).
import { SMTPServer, type SMTPServerOptions, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { domainToASCII } from 'node:url';
import type { RelayConfig } from '../config';
import type { Log } from '../log';
import { smtpServerLogger } from '../log';
import { isNoSpace } from '../spool/durable';
import { newEnvelope, type ContentType } from '../spool/envelope';
import type { Spool } from '../spool/store';
import { isLocalAddress, unmapAddress } from './access';
import { installBareLfDotFix } from './bare-lf';
import { installAddressParsing, LENIENT_OPTION } from './lenient';
import { receivedHeader } from './received';
import { installImmediateGreeting, IMMEDIATE_GREETING_OPTION } from './greeting';
import { legacyTlsCiphers, readCaFiles } from '../tls-files';
import { activity } from '../admin/activity';

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
}

/** The data stream failed for a reason of the client's (it disconnected mid-DATA). */
class ClientGone extends Error {}

/** A spool write that failed: 452, saying whether the disk is full. */
function spoolWriteError(e: unknown): Error {
  return smtpError(452, isNoSpace(e) ? 'insufficient storage: the spool is full' : 'local error: cannot write to the spool');
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

export function createSmtpServer(cfg: RelayConfig, spool: Spool, log: Log, hooks: ServerHooks): SMTPServer {
  const lenient = !cfg.serverSmtp.strictparsing;
  installAddressParsing();
  installImmediateGreeting();
  installBareLfDotFix();
  const disabled = ['AUTH', 'WIZ', 'SHELL', 'KILL', 'XCLIENT', 'XFORWARD'];
  if (cfg.anonymous.has('vrfy')) disabled.push('VRFY');
  const tls = cfg.serverTls;
  const peerCertificates = new Map<string, string>();

  const checkAddress = (address: SMTPServerAddress, session: SMTPServerSession, what: 'sender' | 'recipient'): string => {
    let a = address.address;
    if (what === 'recipient' && !a) throw smtpError(553, 'mailbox name not allowed: empty recipient');
    if (/[\0\r\n]/.test(a)) throw smtpError(553, `mailbox name not allowed: control characters in the ${what}`);
    if (tls?.required && !session.secure) throw smtpError(530, 'encryption required: use starttls');
    if (cfg.serverSmtp.alabels) {
      const converted = toALabels(a);
      if (converted === null) throw smtpError(553, `mailbox name not allowed: invalid international domain in <${a}>`);
      a = converted;
    }
    return a;
  };

  const options: SMTPServerOptions & Record<string, unknown> = {
    name: cfg.domain,
    banner: cfg.anonymous.has('server') ? '' : `-- relaybox -- Service ready`,
    size: cfg.size || undefined,
    hideSize: !cfg.size,
    disabledCommands: disabled,
    authOptional: true,
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
    [IMMEDIATE_GREETING_OPTION]: true,
    disableReverseLookup: true,
    socketTimeout: cfg.idleTimeout * 1000,
    logger: smtpServerLogger(log) as never,

    onSecure(socket, session, cb) {
      const peer = (socket as import('node:tls').TLSSocket).getPeerCertificate?.();
      if (peer && peer.raw) peerCertificates.set(session.id, toPem(peer.raw));
      cb();
    },

    onConnect(session, cb) {
      if (!activity.smtpEnabled) return cb(smtpError(421, 'service not available (disabled by the admin interface)'));
      if (!cfg.remoteClients && !isLocalAddress(session.remoteAddress)) {
        log.warn({ address: session.remoteAddress }, 'connection refused: not a local or private address (use --remote-clients to allow it)');
        return cb(smtpError(554, 'access denied'));
      }
      log.debug({ address: session.remoteAddress, port: session.remotePort }, 'smtp connection');
      cb();
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

    onRcptTo(address, session, cb) {
      try {
        address.address = checkAddress(address, session, 'recipient');
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },

    onData(stream: SMTPServerDataStream, session, cb) {
      receive(stream, session).then(
        (reply) => cb(null, reply),
        (err: Error) => cb(err),
      );
    },

    onClose(session) {
      peerCertificates.delete(session.id);
      log.debug({ address: session.remoteAddress }, 'smtp connection closed');
      hooks.disconnected();
    },
  };
  const server = new SMTPServer(options);

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
      try {
        for await (const chunk of stream) {
          if (stream.sizeExceeded) continue; // keep draining; nothing more goes to disk
          await msg.write(chunk as Buffer);
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
      const recipients = session.envelope.rcptTo.map((r) => r.address);
      const env = newEnvelope({
        content: contentType(args.BODY),
        from: mailFrom.address,
        toRemote: recipients,
        client: address,
        clientCertificate: peerCertificates.get(session.id) ?? '',
        mailFromAuthIn: typeof args.AUTH === 'string' ? args.AUTH : '',
        utf8MailboxNames: [mailFrom.address, ...recipients].some((a) => NON_ASCII.test(a)),
      });
      await msg.commit(env);
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
    activity.step(log, 'received', { id: msg.id, client: address, address, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.length, bytes: msg.bytes }, 'message received');
    if (hooks.forwardNow) {
      const r = await hooks.forwardNow(msg.id);
      if (!r.ok) throw smtpError(r.code && r.code >= 400 ? r.code : 452, r.text);
    }
    return 'message processed';
  }

  server.on('error', (err) => log.error({ err: err.message }, 'smtp server error'));
  return server;
}
