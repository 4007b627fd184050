// The SMTP session policy, everything decided before DATA: who may connect, AUTH, the checks on MAIL
// FROM and RCPT TO (address rules, --server-tls-required, the AUTH gate, --max-recipients), and the
// address verifier (RCPT and VRFY). The handlers have smtp-server's shapes; server.ts wires them in.
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerSession } from 'smtp-server';
import { domainToASCII } from 'node:url';
import type { NetConfig } from '../net/config';
import type { SmtpConfig } from './config';
import type { Log } from '../log';
import { admitsClient, isLocalAddress, NOT_ADMITTED, unmapAddress } from '../net/client-admission';
import { rangeContains } from '../net/address-range';
import type { AuthAttempt } from '../auth/server-verify';
import type { Verdict, Verifier } from '../verifiers/verifier';
import type { BareLfPolicy } from './bare-lf-policy';
import type { StrictRefusal } from './lenient';
import type { VrfyHandler } from './smtp-server-adapter';
import { TLS_FIRST, type AuthGate, type MechanismsFor } from './auth-advertise';
import type { ServerAccess } from './server-access';
import type { SmtpControls } from './controls';
import { smtpError } from './smtp-error';

export interface SessionPolicy {
  cfg: SmtpConfig & NetConfig;
  log: Log;
  /** Who may send (server-access.ts): limits, DNSBL, AUTH and trusted networks; shared by all listeners. */
  access?: ServerAccess;
  /** --address-verifier. */
  verifier?: Verifier;
  /** What the admin interface switches (SMTP disabled). */
  controls: SmtpControls;
  /** Drop a session's connection at once (the verifier's "abort"). */
  drop(session: SMTPServerSession): void;
}

/** A recipient address as smtp-server keeps it, with the verifier's judgement attached. */
export type Recipient = SMTPServerAddress & { localMailbox?: string };

/** Characters outside US-ASCII: an address with them needs SMTPUTF8 and marks the envelope. */
export const NON_ASCII = /[^\x00-\x7f]/;

type Done = (err?: Error | null) => void;

/** Convert the domain of an address to A-labels (IDNA); null if it cannot be converted. */
export function toALabels(address: string): string | null {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  if (/^\[.*\]$/.test(domain) || /^[\x21-\x7e]*$/.test(domain)) return address;
  const ascii = domainToASCII(domain);
  return ascii ? address.slice(0, at + 1) + ascii : null;
}

/** A new connection: the admin switch, --remote-clients and then limits and DNSBL. */
export function admitConnection(p: SessionPolicy, session: SMTPServerSession, cb: Done): void {
  const { log, access } = p;
  if (!p.controls.enabled) return cb(smtpError(421, 'service not available (disabled by the admin interface)'));
  if (!admitsClient(p.cfg.admission, session.remoteAddress)) {
    log.warn({ address: session.remoteAddress }, `connection refused: ${NOT_ADMITTED}`);
    return cb(smtpError(554, 'access denied'));
  }
  if (!access) {
    log.debug({ address: session.remoteAddress, port: session.remotePort }, 'smtp connection');
    return cb();
  }
  access.connect(session).then(
    (refusal) => {
      if (refusal) return cb(smtpError(refusal.code, refusal.message));
      log.debug({ address: session.remoteAddress, port: session.remotePort }, 'smtp connection');
      cb();
    },
    (e: Error) => {
      log.error({ address: session.remoteAddress, err: e.message }, 'cannot check the connection');
      cb(smtpError(421, 'service not available: try again later'));
    },
  );
}

export function authenticate(
  p: SessionPolicy,
  auth: SMTPServerAuthentication,
  session: SMTPServerSession,
  cb: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
): void {
  const { access } = p;
  if (!access) return cb(smtpError(502, 'authentication not available'));
  const attempt = auth as unknown as AuthAttempt;
  access.authenticate(attempt, session).then(
    (outcome) => {
      if (outcome.user !== undefined) {
        (session as { authMethod?: string }).authMethod = attempt.method; // the verifier's 5th argument
        return cb(null, { user: outcome.user });
      }
      const r = outcome.refusal ?? { code: 535, message: 'authentication failed' };
      cb(null, { user: undefined, responseCode: r.code, message: r.message } as never);
    },
    (e: Error) => {
      p.log.error({ err: e.message }, 'authentication error');
      cb(smtpError(454, 'temporary authentication failure'));
    },
  );
}

/** The checks MAIL FROM and RCPT TO share; returns the address to keep (A-labels with --server-smtp-config alabels). */
function checkAddress(p: SessionPolicy, address: SMTPServerAddress, session: SMTPServerSession, what: 'sender' | 'recipient'): string {
  const { cfg, log } = p;
  let a = address.address;
  if (what === 'recipient' && !a) throw smtpError(553, 'mailbox name not allowed: empty recipient');
  if (/[\0\r\n]/.test(a)) throw smtpError(553, `mailbox name not allowed: control characters in the ${what}`);
  if (cfg.serverTls?.required && !session.secure) {
    log.warn(
      { address: unmapAddress(session.remoteAddress) },
      'encryption required: this client sent MAIL FROM without STARTTLS, which --server-tls-required refuses',
    );
    throw smtpError(TLS_FIRST.code, TLS_FIRST.message);
  }
  if (what === 'sender') {
    const refusal = p.access?.mailGate(session, !!session.secure);
    if (refusal) {
      log.warn(
        { address: unmapAddress(session.remoteAddress) },
        `${refusal.message}: this client is not trusted, so it must log in (AUTH) before MAIL FROM, or be named by a "server none <address-range> <keyword>" line in the --server-auth secrets file`,
      );
      throw smtpError(refusal.code, refusal.message);
    }
  }
  if (cfg.serverSmtp.alabels) {
    const converted = toALabels(a);
    if (converted === null) throw smtpError(553, `mailbox name not allowed: invalid international domain in <${a}>`);
    a = converted;
  }
  return a;
}

export function acceptSender(p: SessionPolicy, address: SMTPServerAddress, session: SMTPServerSession, cb: Done): void {
  try {
    const from = checkAddress(p, address, session, 'sender');
    const args = (address.args || {}) as Record<string, unknown>;
    if (p.cfg.serverSmtp.smtputf8strict && NON_ASCII.test(from) && !args.SMTPUTF8) {
      throw smtpError(553, 'mailbox name not allowed: UTF-8 address without the SMTPUTF8 parameter');
    }
    address.address = from;
    cb();
  } catch (e) {
    cb(e as Error);
  }
}

export function acceptRecipient(p: SessionPolicy, address: Recipient, session: SMTPServerSession, cb: Done): void {
  const limit = p.cfg.smtpLimits.maxRecipients;
  if (limit && session.envelope.rcptTo.length >= limit) return cb(smtpError(452, '4.5.3 Too many recipients'));
  let recipient: string;
  try {
    recipient = checkAddress(p, address, session, 'recipient');
  } catch (e) {
    return cb(e as Error);
  }
  if (!p.verifier) {
    address.address = recipient;
    return cb();
  }
  verify(p, p.verifier, recipient, session, session.envelope.mailFrom ? session.envelope.mailFrom.address : '').then(
    (v) => {
      if (v.kind === 'abort') return p.drop(session);
      if (v.kind === 'invalid') return cb(smtpError(v.temporary ? 450 : 550, v.response));
      if (v.kind === 'local') address.localMailbox = v.mailbox;
      else address.address = v.address;
      cb();
    },
    (e: Error) => cb(smtpError(450, `cannot verify: ${e.message}`)),
  );
}

/** Ask the address verifier about one address, with E-MailRelay's arguments, and log its verdict. */
async function verify(p: SessionPolicy, verifier: Verifier, recipient: string, session: SMTPServerSession, from: string): Promise<Verdict> {
  const { access, log } = p;
  const v = await verifier.verify({
    recipient,
    from,
    peer: `${unmapAddress(session.remoteAddress)}:${session.remotePort}`,
    domain: p.cfg.domain,
    mechanism: session.user ? String((session as { authMethod?: string }).authMethod ?? 'plain').toLowerCase() : 'none',
    authId: access ? access.authenticationField(session) : typeof session.user === 'string' ? session.user : '',
  });
  const fields = { address: session.remoteAddress, recipient, verifier: verifier.name };
  if (v.kind === 'invalid') log.info({ ...fields, temporary: v.temporary, reason: v.reason }, 'recipient refused by the address verifier');
  else if (v.kind === 'abort') log.warn(fields, 'the address verifier asked for the connection to be dropped');
  else log.debug({ ...fields, result: v.kind, mailbox: v.kind === 'local' ? v.mailbox : undefined }, 'recipient verified');
  return v;
}

/** VRFY answered by the address verifier (E-MailRelay section 5.2); none without a verifier. */
export function vrfyHandler(p: SessionPolicy): VrfyHandler | undefined {
  const verifier = p.verifier;
  if (!verifier) return undefined;
  return async (address, session) => {
    const v = await verify(p, verifier, address, session, '');
    if (v.kind === 'abort') return 'abort';
    if (v.kind === 'local') return { code: 250, text: v.fullName || v.mailbox };
    if (v.kind === 'remote') return { code: 252, text: `cannot verify but will accept: ${v.address}` };
    return { code: v.temporary ? 450 : 550, text: v.response };
  };
}

/** The SASL mechanisms a connection is offered (server-access.ts); none without AUTH. */
export function mechanismsFor(p: SessionPolicy): MechanismsFor | undefined {
  const access = p.access;
  return access ? (session, secure) => access.mechanisms(session, secure) : undefined;
}

/** Whether AUTH (and VRFY) may be tried yet: TLS first with --server-tls-required, then the MAIL FROM gate. */
export function authGate(p: SessionPolicy): AuthGate {
  return (session, secure) => (p.cfg.serverTls?.required && !secure ? TLS_FIRST : (p.access?.mailGate(session, secure) ?? null));
}

/** Clients whose bare LF ends a line, and so may end DATA with "\n.\n" (bare-lf.ts). */
export function bareLfPolicy(p: SessionPolicy): BareLfPolicy {
  const { cfg, log, access } = p;
  return {
    modeFor(session) {
      const address = unmapAddress(session.remoteAddress);
      if (isLocalAddress(address)) return 'crlf';
      if (access?.trustKeyword(address) !== undefined) return 'crlf';
      return cfg.bareLfClients.some((r) => rangeContains(r, address)) ? 'crlf' : 'exact';
    },
    idleMs: 1000 * Math.min(cfg.idleTimeout, cfg.smtpLimits.commandTimeout),
    refused(session, after) {
      log.warn(
        { address: unmapAddress(session.remoteAddress), after },
        'DATA ended with a bare LF ("\\n.\\n"), which only CRLF.CRLF may do for this client: nothing was stored and the client was disconnected; fix the device, or name its address in --bare-lf-clients',
      );
    },
  };
}

/** With --server-smtp-config strictparsing: what the log says about an address refused for its brackets. */
export function strictRefusal(p: SessionPolicy): StrictRefusal {
  return (session, reply) => {
    p.log.warn(
      { address: unmapAddress(session.remoteAddress), reply },
      'an address without angle brackets was refused: set "server-smtp-config nostrictparsing" to accept it',
    );
  };
}

/** A connection closed: its place in the connection limits is freed. */
export function closeSession(p: SessionPolicy, session: SMTPServerSession): void {
  p.access?.disconnect(session);
  p.log.debug({ address: session.remoteAddress, port: session.remotePort }, 'smtp connection closed');
}
