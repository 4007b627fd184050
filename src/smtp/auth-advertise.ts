// Per-connection SASL mechanism lists. smtp-server has one `authMethods` list per server, read by
// its EHLO and AUTH handlers; relaybox's list depends on the connection (TLS or not, the
// --server-auth-config m:/x: and a:/d: lists, private or public peer) and on the secrets file, which
// may change while running. For servers created with the marker option, EHLO and AUTH are wrapped
// (smtp-server-adapter.ts) to run with the connection's own list. AUTH with a mechanism not on the list gets
// E-MailRelay's 504 (": use starttls" when TLS would offer it), or 538 when the connection is refused
// AUTH until it uses TLS. With --server-tls-required, AUTH before STARTTLS is not offered and gets 530,
// whatever the mechanism (Postfix's smtpd_tls_auth_only).
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

/** The reply to AUTH <method> when the connection may not use it now; null when it may. */
export function refusedMechanism(m: ConnectionMechanisms, method: string, secure: boolean): { code: number; message: string } | null {
  if (m.offered.includes(method)) return null;
  if (m.needsTls) return { code: 538, message: 'encryption required for requested authentication mechanism: use starttls' };
  if (!secure && m.withTls.includes(method)) return { code: 504, message: 'unsupported authentication mechanism: use starttls' };
  return { code: 504, message: 'unsupported authentication mechanism' };
}

// With --server-auth, VRFY needs AUTH (or a trusted address) as MAIL does (E-MailRelay 6.2).
export const AUTH_GATE_OPTION = 'relayboxAuthGate';
export type AuthGate = (session: { id: string; remoteAddress: string; user?: unknown }, secure: boolean) => { code: number; message: string } | null;
