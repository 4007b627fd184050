// relaybox's secrets-file lines for OAuth2 grants (a relaybox extension next to E-MailRelay's
// static-token "client oauth" line). relaybox obtains and refreshes the access token itself.
//
//   client oauth-ms-secret <mailbox> <tenant>:<client-id>:<client-secret> [selector]
//   client oauth-ms-cert   <mailbox> <tenant>:<client-id>:<pem-file>      [selector]
//   client oauth-google-sa <mailbox> <service-account-key.json>          [selector]
//   client oauth-refresh   <mailbox> <token-file from `relaybox oauth login`> [selector]
//   client oauth-refresh   <mailbox> page:microsoft:<tenant>:<client-id>          [selector]
//   client oauth-refresh   <mailbox> page:google:<client-id>:<client-secret>      [selector]
//
// A "page:" line signs in from the status page (device code): the refresh token is kept in the
// spool's state directory, never in the secrets file.
//
// The mailbox and the client secret are xtext (write "+" as "+2B", "=" as "+3D", a space as "+20").
// A relative file name is relative to the secrets file's directory.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { decodeXtextBytes } from './xtext';
import type { SecretValue } from './secret-value';

export type GrantType = 'oauth-ms-secret' | 'oauth-ms-cert' | 'oauth-google-sa' | 'oauth-refresh';

export const GRANT_TYPES: readonly GrantType[] = ['oauth-ms-secret', 'oauth-ms-cert', 'oauth-google-sa', 'oauth-refresh'];

export type GrantLine =
  | { type: 'oauth-ms-secret'; mailbox: string; tenant: string; clientId: string; secret: SecretValue; line: number; key: string }
  | { type: 'oauth-ms-cert'; mailbox: string; tenant: string; clientId: string; pemFile: string; line: number; key: string }
  | { type: 'oauth-google-sa'; mailbox: string; keyFile: string; line: number; key: string }
  | { type: 'oauth-refresh'; mailbox: string; tokenFile: string; line: number; key: string; page?: undefined }
  | { type: 'oauth-refresh'; mailbox: string; tokenFile?: undefined; line: number; key: string; page: PageSignIn };

/** A mailbox that signs in from the status page: the application it signs in to. */
export type PageSignIn = { provider: 'microsoft'; tenant: string; clientId: string } | { provider: 'google'; clientId: string; clientSecret: SecretValue };

export const PAGE_PREFIX = 'page:';

export function isGrantType(t: string): t is GrantType {
  return (GRANT_TYPES as readonly string[]).includes(t);
}

const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;
const CLIENT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * One grant line's fields 3 and 4. `key` (a hash of the line as written) names its token cache,
 * so a changed line gets a new token. Returns an error message for a bad line.
 */
export function parseGrantLine(
  type: GrantType,
  idField: string,
  secretField: string,
  lineNo: number,
  fileName: string,
  secretValue: (b: Uint8Array) => SecretValue,
): GrantLine | string {
  const mailboxBytes = decodeXtextBytes(idField);
  if (mailboxBytes === null) return 'invalid xtext encoding in third field (the mailbox)';
  const mailbox = mailboxBytes.toString('utf8');
  if (!/^[^@\s]+@[^@\s]+$/.test(mailbox)) return `${type}: the third field must be the mailbox to send as (user@domain), not "${mailbox}"`;
  const base = path.dirname(path.resolve(fileName));
  const file = (f: string) => path.resolve(base, f);
  const key = createHash('sha256').update(`${type} ${idField} ${secretField}`).digest('hex').slice(0, 32);
  if (type === 'oauth-ms-secret' || type === 'oauth-ms-cert') {
    const first = secretField.indexOf(':');
    const second = first < 0 ? -1 : secretField.indexOf(':', first + 1);
    const what = type === 'oauth-ms-secret' ? '<client-secret>' : '<pem-file>';
    if (second < 0) return `${type}: the fourth field must be <tenant>:<client-id>:${what}`;
    const tenant = secretField.slice(0, first);
    const clientId = secretField.slice(first + 1, second);
    const rest = secretField.slice(second + 1);
    if (!TENANT_RE.test(tenant)) return `${type}: "${tenant}" is not a tenant (use the directory id or a domain such as contoso.onmicrosoft.com)`;
    if (!CLIENT_ID_RE.test(clientId)) return `${type}: "${clientId}" is not an application (client) id`;
    if (!rest) return `${type}: the ${what.slice(1, -1)} is empty`;
    if (type === 'oauth-ms-cert') return { type, mailbox, tenant, clientId, pemFile: file(rest), line: lineNo, key };
    const secret = decodeXtextBytes(rest);
    if (secret === null || !secret.length) return `${type}: invalid xtext encoding in the client secret`;
    return { type, mailbox, tenant, clientId, secret: secretValue(secret), line: lineNo, key };
  }
  if (type === 'oauth-refresh' && secretField.startsWith(PAGE_PREFIX)) {
    const page = parsePageField(secretField.slice(PAGE_PREFIX.length), secretValue);
    return typeof page === 'string' ? `oauth-refresh: ${page}` : { type, mailbox, page, line: lineNo, key };
  }
  if (!secretField) return `${type}: the fourth field must name a file`;
  if (type === 'oauth-google-sa') return { type, mailbox, keyFile: file(secretField), line: lineNo, key };
  return { type, mailbox, tokenFile: file(secretField), line: lineNo, key };
}

const PAGE_FORMS = 'page:microsoft:<tenant>:<client-id> or page:google:<client-id>:<client-secret>';

function parsePageField(rest: string, secretValue: (b: Uint8Array) => SecretValue): PageSignIn | string {
  const [provider, a = '', ...more] = rest.split(':');
  const b = more.join(':');
  if (provider === 'microsoft') {
    if (!TENANT_RE.test(a)) return `"${a}" is not a tenant (use the directory id or a domain such as contoso.onmicrosoft.com): write ${PAGE_FORMS}`;
    if (!CLIENT_ID_RE.test(b)) return `"${b}" is not an application (client) id: write ${PAGE_FORMS}`;
    return { provider, tenant: a, clientId: b };
  }
  if (provider === 'google') {
    if (!CLIENT_ID_RE.test(a)) return `"${a}" is not a Google OAuth client id: write ${PAGE_FORMS}`;
    const secret = decodeXtextBytes(b);
    if (secret === null || !secret.length) return `the Google client secret is missing or not valid xtext: write ${PAGE_FORMS}`;
    return { provider, clientId: a, clientSecret: secretValue(secret) };
  }
  return `"page:${provider}" names no provider: write ${PAGE_FORMS}`;
}
