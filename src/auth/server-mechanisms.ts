// Which SASL mechanisms the SMTP server offers (E-MailRelay section 6.2 and --server-auth-config, 1.6).
//
// From the secrets: any `server plain` line gives CRAM-SHA512 CRAM-SHA256 CRAM-SHA1 CRAM-MD5 PLAIN LOGIN;
// otherwise only the CRAM-<hash> types for which hashed secrets exist. Hashed secrets can only be used
// for CRAM-MD5 (E-MailRelay with OpenSSL cannot resume SHA states either); if the list is empty, PLAIN
// is offered on TLS connections (E-MailRelay does the same). PAM offers PLAIN and LOGIN.
// --server-auth-config: "m:<list>;x:<list>;a:<list>;d:<list>" (lists comma separated, case-insensitive):
// m: allow and x: exclude for connections without TLS, a: and d: for TLS connections; when neither
// a: nor d: is given, m: and x: apply to both. An empty m: or a: allows nothing.
import type { Secrets } from './secrets';

export const ALL_MECHANISMS = ['CRAM-SHA512', 'CRAM-SHA256', 'CRAM-SHA1', 'CRAM-MD5', 'PLAIN', 'LOGIN'] as const;

export interface MechanismFilter {
  plain: { allow?: Set<string>; deny: Set<string> };
  tls: { allow?: Set<string>; deny: Set<string> };
}

/** Parse --server-auth-config; throws with a message naming the bad part. */
export function parseServerAuthConfig(config: string | undefined): MechanismFilter {
  const plain: MechanismFilter['plain'] = { deny: new Set() };
  const tls: MechanismFilter['tls'] = { deny: new Set() };
  let tlsGiven = false;
  for (const part of (config ?? '').split(';')) {
    if (!part.trim()) continue;
    const m = /^\s*(?:([a-z]):)?(.*)$/i.exec(part)!;
    const kind = (m[1] ?? 'm').toLowerCase();
    const list = m[2]!
      .split(',')
      .map((s) => s.trim().toUpperCase())
      .filter(Boolean);
    for (const mech of list) {
      if (!/^[A-Z0-9_-]{1,20}$/.test(mech)) throw new Error(`--server-auth-config: "${mech}" is not a SASL mechanism name`);
    }
    if (kind === 'm') plain.allow = new Set(list);
    else if (kind === 'x') list.forEach((x) => plain.deny.add(x));
    else if (kind === 'a') {
      tls.allow = new Set(list);
      tlsGiven = true;
    } else if (kind === 'd') {
      list.forEach((x) => tls.deny.add(x));
      tlsGiven = true;
    } else throw new Error(`--server-auth-config: unknown list "${m[1]}:" (use m:, x:, a: or d:)`);
  }
  if (!tlsGiven) return { plain, tls: { allow: plain.allow, deny: plain.deny } };
  return { plain, tls };
}

/** The mechanisms the secrets support, in E-MailRelay's order. */
export function secretsMechanisms(secrets: Secrets, secure: boolean): string[] {
  if (secrets.serverTypes.has('plain')) return [...ALL_MECHANISMS];
  const out = secrets.serverTypes.has('md5') ? ['CRAM-MD5'] : [];
  if (out.length === 0 && secure) out.push('PLAIN');
  return out;
}

export const PAM_MECHANISMS = ['PLAIN', 'LOGIN'];

export function applyFilter(mechanisms: readonly string[], filter: MechanismFilter, secure: boolean): string[] {
  const f = secure ? filter.tls : filter.plain;
  return mechanisms.filter((m) => (!f.allow || f.allow.has(m)) && !f.deny.has(m));
}
