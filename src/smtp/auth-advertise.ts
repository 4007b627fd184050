// Per-connection SASL mechanism lists. smtp-server has one `authMethods` list per server, read by
// its EHLO and AUTH handlers; relaybox's list depends on the connection (TLS or not, the
// --server-auth-config m:/x: and a:/d: lists, private or public peer) and on the secrets file, which
// may change while running. For servers created with the marker option, EHLO and AUTH are wrapped
// (once, for the process) to run with the connection's own list; both handlers read the list
// synchronously, so it is put in place just for the call. AUTH with a mechanism not on the list gets
// E-MailRelay's 504 (": use starttls" when TLS would offer it), or 538 when the connection is refused
// AUTH until it uses TLS. With --server-tls-required, AUTH before STARTTLS is not offered and gets 530,
// whatever the mechanism (Postfix's smtpd_tls_auth_only).
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

export const AUTH_MECHANISMS_OPTION = 'relayboxAuthMechanisms';

export interface ConnectionMechanisms {
  /** Offered on this connection now. */
  offered: string[];
  /** Offered once the connection uses TLS (for the "use starttls" hint). */
  withTls: string[];
  /** AUTH is refused on this connection until it uses TLS (public peer, no TLS yet). */
  needsTls: boolean;
  /** --server-tls-required and no TLS yet: any AUTH gets 530 (nothing is offered). */
  tlsFirst?: boolean;
}

/** The reply to AUTH, MAIL and VRFY before STARTTLS when --server-tls-required is given (Postfix's text). */
export const TLS_FIRST = { code: 530, message: '5.7.0 Must issue a STARTTLS command first' };

export type MechanismsFor = (session: { id: string; remoteAddress: string; user?: unknown }, secure: boolean) => ConnectionMechanisms;

interface Connection {
  _server: { options: Record<string, unknown> & { authMethods: string[] } };
  session: { id: string; remoteAddress: string; user?: unknown };
  secure: boolean;
  send(code: number, text: string): void;
}

type Handler = (this: Connection, command: Buffer | string, callback: () => void) => void;
let installed = false;

function withList<T>(conn: Connection, list: string[], fn: () => T): T {
  const options = conn._server.options;
  const saved = options.authMethods;
  options.authMethods = list;
  try {
    return fn();
  } finally {
    options.authMethods = saved;
  }
}

export function installPerConnectionMechanisms(): void {
  if (installed) return;
  const proto = (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype;
  const ehlo = proto.handler_EHLO as Handler | undefined;
  const auth = proto.handler_AUTH as Handler | undefined;
  if (typeof ehlo !== 'function' || typeof auth !== 'function') {
    throw new Error('smtp-server has changed: handler_EHLO/handler_AUTH are missing (relaybox needs the pinned smtp-server 3.21.6)');
  }
  proto.handler_EHLO = function (this: Connection, command: Buffer | string, callback: () => void) {
    const mechanismsFor = this._server.options[AUTH_MECHANISMS_OPTION] as MechanismsFor | undefined;
    if (!mechanismsFor) return ehlo.call(this, command, callback);
    const m = mechanismsFor(this.session, this.secure);
    return withList(this, m.offered, () => ehlo.call(this, command, callback));
  };
  proto.handler_AUTH = function (this: Connection, command: Buffer | string, callback: () => void) {
    const mechanismsFor = this._server.options[AUTH_MECHANISMS_OPTION] as MechanismsFor | undefined;
    if (!mechanismsFor || this.session.user) return auth.call(this, command, callback);
    const method = (command.toString().trim().split(/\s+/)[1] ?? '').toUpperCase();
    const m = mechanismsFor(this.session, this.secure);
    if (m.tlsFirst) {
      this.send(TLS_FIRST.code, TLS_FIRST.message);
      return callback();
    }
    if (!m.offered.includes(method)) {
      if (m.needsTls) this.send(538, 'encryption required for requested authentication mechanism: use starttls');
      else if (!this.secure && m.withTls.includes(method)) this.send(504, 'unsupported authentication mechanism: use starttls');
      else this.send(504, 'unsupported authentication mechanism');
      return callback();
    }
    return withList(this, m.offered, () => auth.call(this, command, callback));
  };
  installed = true;
}

// With --server-auth, VRFY needs AUTH (or a trusted address) as MAIL does (E-MailRelay 6.2).
export const AUTH_GATE_OPTION = 'relayboxAuthGate';
export type AuthGate = (session: { id: string; remoteAddress: string; user?: unknown }, secure: boolean) => { code: number; message: string } | null;
let vrfyGated = false;

export function installVrfyAuthGate(): void {
  if (vrfyGated) return;
  const proto = (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype;
  const vrfy = proto.handler_VRFY as Handler | undefined;
  if (typeof vrfy !== 'function') throw new Error('smtp-server has changed: handler_VRFY is missing (relaybox needs the pinned smtp-server 3.21.6)');
  proto.handler_VRFY = function (this: Connection, command: Buffer | string, callback: () => void) {
    const gate = this._server.options[AUTH_GATE_OPTION] as AuthGate | undefined;
    const refusal = gate?.(this.session, this.secure);
    if (refusal) {
      this.send(refusal.code, refusal.message);
      return callback();
    }
    return vrfy.call(this, command, callback);
  };
  vrfyGated = true;
}
