// Stand-ins for the services that cannot run here, speaking their real protocols over HTTPS on
// loopback (certificate from test/lib/certs.ts):
// * the Microsoft identity platform: /{tenant}/oauth2/v2.0/token (client credentials with a secret
//   or a certificate assertion, refresh token, device code) and /{tenant}/oauth2/v2.0/devicecode;
// * Google's token endpoint /token (service-account JWT bearer, device code) and /device/code;
// * an RFC 7662 token introspection endpoint, POST /introspect, for resource servers that check the
//   tokens above (Dovecot's oauth2 passdb with introspection_mode = post);
// * Microsoft Graph: /v1.0/users/{id}/sendMail, /messages (drafts from MIME), PATCH, attachments,
//   createUploadSession with chunked PUTs, /send; 413 above 4 MB, 429 with Retry-After on demand.
// JWT signatures are verified for real (node:crypto); tokens expire for real.
import { createHash, createPublicKey, randomBytes, verify, X509Certificate, type KeyObject } from 'node:crypto';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { testPki } from './certs';

export const SCOPE_OUTLOOK = 'https://outlook.office365.com/.default';
export const SCOPE_GRAPH = 'https://graph.microsoft.com/.default';
export const SCOPE_SMTP_DELEGATED = 'https://outlook.office.com/SMTP.Send offline_access';
export const SCOPE_GOOGLE = 'https://mail.google.com/';
const GRAPH_LIMIT = 4 * 1024 * 1024;

export interface MicrosoftApp {
  tenant: string;
  secret?: string;
  secretExpired?: boolean;
  /** PEM certificate uploaded to the app registration. */
  certificate?: string;
  /** Mailboxes the service principal has FullAccess to (Add-MailboxPermission). */
  smtpMailboxes: string[];
  /** Has the Graph application permission Mail.Send. */
  graphMailSend?: boolean;
  /** A public client (device-code flow). */
  publicClient?: boolean;
}

export interface GoogleServiceAccount {
  publicKeyPem: string;
  keyId: string;
  /** Domain-wide delegation: the scopes granted to this client in the Admin console. */
  delegatedScopes: string[];
}

export interface IssuedToken {
  value: string;
  kind: 'ms-app' | 'ms-user' | 'google';
  clientId: string;
  scope: string;
  /** The user a delegated or Google token acts for. */
  user?: string;
  issuedAt: number;
  expiresAt: number;
  revoked?: boolean;
}

export interface GraphAttachment {
  name: string;
  contentType?: string;
  data: Buffer;
  via: 'json' | 'upload-session';
}

export interface GraphSent {
  mailbox: string;
  mime: Buffer;
  to: string[];
  cc: string[];
  bcc: string[];
  attachments: GraphAttachment[];
  via: 'sendMail' | 'draft';
}

interface Draft {
  id: string;
  mailbox: string;
  mime: Buffer;
  to?: string[];
  cc?: string[];
  bcc?: string[];
  attachments: GraphAttachment[];
}

interface UploadSession {
  draft: Draft;
  name: string;
  contentType?: string;
  size: number;
  received: Buffer[];
  next: number;
}

export interface GraphRequest {
  method: string;
  path: string;
  status: number;
  at: number;
  bodyBytes: number;
  authorization: boolean;
}

export interface StandIn {
  url: string;
  port: number;
  /** Lifetime of the access tokens handed out, in seconds. */
  lifetimeSeconds: number;
  microsoftApps: Map<string, MicrosoftApp>;
  googleAccounts: Map<string, GoogleServiceAccount>;
  /** Users known to Google Workspace and to the Microsoft tenant. */
  users: Set<string>;
  tokens: IssuedToken[];
  tokenRequests: { grant: string; status: number; error?: string }[];
  /** Resource servers allowed to call /introspect (HTTP Basic client id -> secret), RFC 7662 section 2.1. */
  introspectionClients: Map<string, string>;
  /** Every /introspect call: who asked, and the answer (status, active). */
  introspections: { client?: string; token: string; status: number; active?: boolean }[];
  /** Issue a token as if through some flow outside relaybox (a static `client oauth` line). */
  issueToken(kind: IssuedToken['kind'], clientId: string, scope: string, user?: string): IssuedToken;
  graphSent: GraphSent[];
  graphRequests: GraphRequest[];
  /** Make the next n Graph API calls answer this status with Retry-After. */
  throttle: { count: number; status: 429 | 503; retryAfterSeconds: number };
  /** Server-side processing time of a Graph send, in ms (a slow service, not a test wait). */
  graphDelayMs: number;
  /** Approve a pending device-code sign-in as `user`. */
  approve(userCode: string, user: string): void;
  /** The user declines the sign-in (Microsoft: authorization_declined, Google: access_denied). */
  decline(userCode: string): void;
  pendingUserCodes(): string[];
  /** expires_in and interval of the device codes handed out from now on. */
  device: { lifetimeSeconds: number; intervalSeconds: number };
  /** Answer the next n device-code polls with slow_down (as a service under load does, RFC 8628 3.5). */
  slowDowns: number;
  /** Every device-code poll: when, and the error answered ('' for a token). */
  devicePolls: { at: number; error: string }[];
  /** Is this token valid now for this scope (and user, when given)? */
  check(token: string, scopes: string[], user?: string): { ok: true; token: IssuedToken } | { ok: false; why: string };
  close(): Promise<void>;
}

const b64urlJson = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;

/** Verify an RS256 JWT for real. */
function verifyJwt(jwt: string, key: KeyObject): { header: Record<string, unknown>; claims: Record<string, unknown> } | null {
  const parts = jwt.split('.');
  if (parts.length !== 3) return null;
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = b64urlJson(parts[0]!);
    claims = b64urlJson(parts[1]!);
  } catch {
    return null;
  }
  if (header.alg !== 'RS256') return null;
  const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2]!, 'base64url'));
  return ok ? { header, claims } : null;
}

function jwtHeader(jwt: string): Record<string, unknown> {
  try {
    return b64urlJson(jwt.split('.')[0]!);
  } catch {
    return {};
  }
}

function addressesOf(value: string | undefined): string[] {
  if (!value) return [];
  const cleaned = value.replace(/"(?:[^"\\]|\\.)*"/g, ' ');
  return [...cleaned.matchAll(/<([^<>\s]+@[^<>\s]+)>|([^\s<>,;:]+@[^\s<>,;:]+)/g)].map((m) => (m[1] ?? m[2]!).toLowerCase());
}

export function mimeHeader(mime: Buffer, name: string): string | undefined {
  const end = mime.indexOf('\r\n\r\n');
  const head = mime.subarray(0, end < 0 ? mime.length : end).toString('latin1');
  for (const f of head.split(/\r?\n(?![ \t])/)) {
    const c = f.indexOf(':');
    if (c > 0 && f.slice(0, c).trim().toLowerCase() === name)
      return f
        .slice(c + 1)
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim();
  }
  return undefined;
}

export async function startStandIn(): Promise<StandIn> {
  const pki = testPki();
  const tokens: IssuedToken[] = [];
  const refreshTokens = new Map<string, { clientId: string; user: string; scope: string; kind: 'ms-user' | 'google' }>();
  const devices = new Map<
    string,
    { userCode: string; clientId: string; scope: string; approvedAs?: string; declined?: boolean; expiresAt: number; kind: 'ms-user' | 'google' }
  >();
  const drafts = new Map<string, Draft>();
  const uploads = new Map<string, UploadSession>();

  const s: StandIn = {
    url: '',
    port: 0,
    lifetimeSeconds: 3600,
    microsoftApps: new Map(),
    googleAccounts: new Map(),
    users: new Set(),
    tokens,
    tokenRequests: [],
    graphSent: [],
    graphRequests: [],
    introspectionClients: new Map(),
    introspections: [],
    issueToken: (kind, clientId, scope, user) => issue(kind, clientId, scope, user),
    throttle: { count: 0, status: 429, retryAfterSeconds: 1 },
    graphDelayMs: 0,
    approve(userCode, user) {
      const d = [...devices.values()].find((x) => x.userCode === userCode);
      if (!d) throw new Error(`no pending sign-in with code ${userCode}`);
      d.approvedAs = user;
    },
    decline(userCode) {
      const d = [...devices.values()].find((x) => x.userCode === userCode);
      if (!d) throw new Error(`no pending sign-in with code ${userCode}`);
      d.declined = true;
    },
    pendingUserCodes: () => [...devices.values()].filter((d) => !d.approvedAs && !d.declined).map((d) => d.userCode),
    device: { lifetimeSeconds: 120, intervalSeconds: 1 },
    slowDowns: 0,
    devicePolls: [],
    check(value, scopes, user) {
      const t = tokens.find((x) => x.value === value);
      if (!t) return { ok: false, why: 'unknown token' };
      if (t.revoked) return { ok: false, why: 'revoked token' };
      if (Date.now() >= t.expiresAt) return { ok: false, why: 'expired token' };
      if (!scopes.some((sc) => t.scope.split(' ').includes(sc))) return { ok: false, why: `token for scope "${t.scope}"` };
      if (user && t.user && t.user.toLowerCase() !== user.toLowerCase()) return { ok: false, why: `token for ${t.user}, not ${user}` };
      return { ok: true, token: t };
    },
    close: () => new Promise((r) => server.close(() => r())),
  };

  const issue = (kind: IssuedToken['kind'], clientId: string, scope: string, user?: string): IssuedToken => {
    const now = Date.now();
    const t: IssuedToken = {
      value: `${kind}.${randomBytes(18).toString('base64url')}`,
      kind,
      clientId,
      scope,
      user,
      issuedAt: now,
      expiresAt: now + s.lifetimeSeconds * 1000,
    };
    tokens.push(t);
    return t;
  };
  const tokenAnswer = (t: IssuedToken, refresh?: string) => ({
    token_type: 'Bearer',
    expires_in: s.lifetimeSeconds,
    ext_expires_in: s.lifetimeSeconds,
    access_token: t.value,
    scope: t.scope,
    ...(refresh ? { refresh_token: refresh } : {}),
  });
  const newRefresh = (clientId: string, user: string, scope: string, kind: 'ms-user' | 'google') => {
    const r = `rt.${randomBytes(18).toString('base64url')}`;
    refreshTokens.set(r, { clientId, user, scope, kind });
    return r;
  };

  type Reply = { status: number; body?: unknown; headers?: Record<string, string> };
  const msError = (status: number, error: string, code: number, text: string): Reply => ({
    status,
    body: { error, error_description: `AADSTS${code}: ${text}\r\nTrace ID: 0000\r\nTimestamp: 2026-01-01`, error_codes: [code] },
  });
  const gError = (error: string, description: string): Reply => ({ status: 400, body: { error, error_description: description } });

  function microsoftToken(tenant: string, form: URLSearchParams, requestUrl: string): Reply {
    const grant = form.get('grant_type') ?? '';
    const clientId = form.get('client_id') ?? '';
    const app = s.microsoftApps.get(clientId);
    if (![...s.microsoftApps.values()].some((a) => a.tenant === tenant)) return msError(400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
    if (!app || app.tenant !== tenant)
      return msError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`);
    if (grant === 'client_credentials') {
      const scope = form.get('scope') ?? '';
      if (scope !== SCOPE_OUTLOOK && scope !== SCOPE_GRAPH)
        return msError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`);
      const secret = form.get('client_secret');
      const assertion = form.get('client_assertion');
      if (secret !== null) {
        if (!app.secret || secret !== app.secret)
          return msError(
            401,
            'invalid_client',
            7000215,
            'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
          );
        if (app.secretExpired) return msError(401, 'invalid_client', 7000222, `The provided client secret keys for app '${clientId}' are expired.`);
      } else if (assertion !== null) {
        if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
          return msError(400, 'invalid_request', 900144, 'client_assertion_type is wrong');
        if (!app.certificate)
          return msError(401, 'invalid_client', 700027, 'Client assertion contains an invalid signature. [Reason - The key was not found.]');
        const cert = new X509Certificate(app.certificate);
        const x5t = createHash('sha1').update(cert.raw).digest('base64url');
        if (jwtHeader(assertion).x5t !== x5t)
          return msError(401, 'invalid_client', 700027, 'Client assertion contains an invalid signature. [Reason - The key was not found.]');
        const jwt = verifyJwt(assertion, cert.publicKey);
        if (!jwt)
          return msError(
            401,
            'invalid_client',
            700027,
            'Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]',
          );
        const now = Date.now() / 1000;
        const c = jwt.claims;
        if (c.aud !== requestUrl) return msError(401, 'invalid_client', 700021, `Client assertion audience claim does not match Realm issuer.`);
        if (c.iss !== clientId || c.sub !== clientId) return msError(401, 'invalid_client', 700023, 'Client assertion issuer or subject is not the client id.');
        if (typeof c.exp !== 'number' || c.exp <= now || (typeof c.nbf === 'number' && c.nbf > now + 300))
          return msError(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
      } else {
        return msError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
      }
      return { status: 200, body: tokenAnswer(issue('ms-app', clientId, scope)) };
    }
    if (grant === 'refresh_token') {
      const r = refreshTokens.get(form.get('refresh_token') ?? '');
      if (!r || r.clientId !== clientId || r.kind !== 'ms-user')
        return msError(400, 'invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity.');
      refreshTokens.delete(form.get('refresh_token')!);
      const t = issue('ms-user', clientId, r.scope, r.user);
      return { status: 200, body: tokenAnswer(t, newRefresh(clientId, r.user, r.scope, 'ms-user')) };
    }
    if (grant === 'urn:ietf:params:oauth:grant-type:device_code') return devicePoll(form, 'ms-user');
    return msError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`);
  }

  // The polling answers as the providers document them. Microsoft (learn.microsoft.com, "Microsoft
  // identity platform and the OAuth 2.0 device authorization grant flow", Expected errors):
  // authorization_pending, authorization_declined, expired_token, all HTTP 400. Google
  // (developers.google.com/identity/protocols/oauth2/limited-input-device, step 6): authorization_pending
  // 428 "Precondition Required", slow_down and access_denied 403 "Forbidden", expired_token 400.
  // slow_down is RFC 8628's (section 3.5); Microsoft's page does not list it, so it is Google's here
  // and the plain RFC answer (400) for Microsoft.
  function devicePoll(form: URLSearchParams, kind: 'ms-user' | 'google'): Reply {
    const answer = (google: Reply, microsoft: Reply): Reply => {
      const r = kind === 'google' ? google : microsoft;
      s.devicePolls.push({ at: Date.now(), error: (r.body as { error?: string } | undefined)?.error ?? '' });
      return r;
    };
    const d = devices.get(form.get('device_code') ?? '');
    if (!d || d.kind !== kind) {
      return answer(gError('invalid_grant', 'Malformed auth code.'), {
        status: 400,
        body: { error: 'bad_verification_code', error_description: "The device_code sent to the /token endpoint wasn't recognized." },
      });
    }
    if (Date.now() >= d.expiresAt) {
      devices.delete(form.get('device_code')!);
      return answer(
        { status: 400, body: { error: 'expired_token', error_description: 'Bad Request' } },
        {
          status: 400,
          body: {
            error: 'expired_token',
            error_description: "AADSTS70020: The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
          },
        },
      );
    }
    if (s.slowDowns > 0) {
      s.slowDowns--;
      return answer(
        { status: 403, body: { error: 'slow_down', error_description: 'Forbidden' } },
        { status: 400, body: { error: 'slow_down', error_description: 'The client is polling too quickly.' } },
      );
    }
    if (d.declined) {
      devices.delete(form.get('device_code')!);
      return answer(
        { status: 403, body: { error: 'access_denied', error_description: 'Forbidden' } },
        { status: 400, body: { error: 'authorization_declined', error_description: 'The end user denied the authorization request.' } },
      );
    }
    if (!d.approvedAs) {
      return answer(
        { status: 428, body: { error: 'authorization_pending', error_description: 'Precondition Required' } },
        { status: 400, body: { error: 'authorization_pending', error_description: 'The user has not yet completed the sign-in.' } },
      );
    }
    devices.delete(form.get('device_code')!);
    const t = issue(kind, d.clientId, d.scope, d.approvedAs);
    return answer(
      { status: 200, body: tokenAnswer(t, newRefresh(d.clientId, d.approvedAs, d.scope, kind)) },
      { status: 200, body: tokenAnswer(t, newRefresh(d.clientId, d.approvedAs, d.scope, kind)) },
    );
  }

  function deviceCode(form: URLSearchParams, kind: 'ms-user' | 'google', tenant?: string): Reply {
    const clientId = form.get('client_id') ?? '';
    const scope = form.get('scope') ?? '';
    if (kind === 'ms-user') {
      const app = s.microsoftApps.get(clientId);
      if (!app || app.tenant !== tenant || !app.publicClient)
        return msError(
          400,
          'invalid_client',
          7000218,
          'The request body must contain client_assertion or client_secret (the app is not a public client: turn on "Allow public client flows").',
        );
      if (scope !== SCOPE_SMTP_DELEGATED)
        return msError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope '${scope}' does not exist.`);
    } else if (scope !== SCOPE_GOOGLE) {
      return gError('invalid_scope', `Invalid device flow scope: ${scope}`);
    }
    const device = randomBytes(16).toString('hex');
    const userCode = randomBytes(4).toString('hex').toUpperCase();
    const { lifetimeSeconds, intervalSeconds } = s.device;
    devices.set(device, { userCode, clientId, scope, kind, expiresAt: Date.now() + lifetimeSeconds * 1000 });
    const verification = `${s.url}/devicelogin`;
    return {
      status: 200,
      body:
        kind === 'ms-user'
          ? {
              device_code: device,
              user_code: userCode,
              verification_uri: verification,
              expires_in: lifetimeSeconds,
              interval: intervalSeconds,
              message: `To sign in, use a web browser to open the page ${verification} and enter the code ${userCode} to authenticate.`,
            }
          : { device_code: device, user_code: userCode, verification_url: verification, expires_in: lifetimeSeconds, interval: intervalSeconds },
    };
  }

  function googleToken(form: URLSearchParams, requestUrl: string): Reply {
    const grant = form.get('grant_type') ?? '';
    if (grant === 'urn:ietf:params:oauth:grant-type:device_code') return devicePoll(form, 'google');
    if (grant === 'refresh_token') {
      const r = refreshTokens.get(form.get('refresh_token') ?? '');
      if (!r || r.kind !== 'google' || !form.get('client_secret')) return gError('invalid_grant', 'Token has been expired or revoked.');
      return { status: 200, body: tokenAnswer(issue('google', r.clientId, r.scope, r.user)) };
    }
    if (grant !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return gError('unsupported_grant_type', `Invalid grant_type: ${grant}`);
    const assertion = form.get('assertion') ?? '';
    const kid = jwtHeader(assertion).kid;
    const entry = [...s.googleAccounts.entries()].find(([, a]) => a.keyId === kid);
    const jwt = entry ? verifyJwt(assertion, createPublicKey(entry[1].publicKeyPem)) : null;
    if (!entry || !jwt) return gError('invalid_grant', 'Invalid JWT Signature.');
    const [email, account] = entry;
    const c = jwt.claims;
    const now = Date.now() / 1000;
    if (c.iss !== email || c.aud !== requestUrl) return gError('invalid_grant', 'Invalid JWT: the iss or aud claim is wrong.');
    if (typeof c.exp !== 'number' || typeof c.iat !== 'number' || c.exp <= now || c.exp - c.iat > 3600 || c.iat > now + 300) {
      return gError(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    }
    const scope = String(c.scope ?? '');
    if (!scope.split(' ').every((sc) => account.delegatedScopes.includes(sc))) {
      return {
        status: 401,
        body: {
          error: 'unauthorized_client',
          error_description: 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
        },
      };
    }
    if (typeof c.sub !== 'string' || !s.users.has(c.sub)) return gError('invalid_grant', 'Invalid email or User ID');
    return { status: 200, body: tokenAnswer(issue('google', email, scope, c.sub)) };
  }

  // ---- RFC 7662 token introspection ----

  /**
   * RFC 7662: the caller authenticates (HTTP Basic, section 2.1), posts `token` (and an optional
   * `token_type_hint`) as a form; the answer is 200 with {"active": false} for a token that is unknown,
   * expired or revoked (section 2.2: no further detail), else "active": true with the token's
   * scope, client_id, username (the user the token acts for), token_type, exp, iat and sub.
   */
  function introspect(headers: Record<string, string | string[] | undefined>, form: URLSearchParams): Reply & { client?: string } {
    const basic = /^Basic (.+)$/i.exec(String(headers.authorization ?? ''));
    const [id, ...rest] = basic ? Buffer.from(basic[1]!, 'base64').toString('utf8').split(':') : [];
    const client = id === undefined ? undefined : decodeURIComponent(id);
    const secret = decodeURIComponent(rest.join(':'));
    if (client === undefined || s.introspectionClients.get(client) !== secret) {
      return {
        status: 401,
        body: { error: 'invalid_client', error_description: 'Client authentication failed' },
        headers: { 'www-authenticate': 'Basic realm="introspect"' },
        client,
      };
    }
    const value = form.get('token');
    if (!value) return { status: 400, body: { error: 'invalid_request', error_description: 'The token parameter is missing' }, client };
    const t = tokens.find((x) => x.value === value);
    if (!t || t.revoked || Date.now() >= t.expiresAt) return { status: 200, body: { active: false }, client };
    return {
      status: 200,
      client,
      body: {
        active: true,
        scope: t.scope,
        client_id: t.clientId,
        token_type: 'Bearer',
        exp: Math.floor(t.expiresAt / 1000),
        iat: Math.floor(t.issuedAt / 1000),
        iss: s.url,
        ...(t.user ? { username: t.user, sub: t.user } : { sub: t.clientId }),
      },
    };
  }

  // ---- Graph ----

  const graphError = (status: number, code: string, message: string): Reply => ({ status, body: { error: { code, message } } });
  const mailboxAllowed = (t: IssuedToken, mailbox: string): boolean =>
    t.kind === 'ms-user' ? t.user?.toLowerCase() === mailbox.toLowerCase() : !!s.microsoftApps.get(t.clientId)?.graphMailSend;
  const fromAllowed = (mime: Buffer, mailbox: string) => {
    const from = addressesOf(mimeHeader(mime, 'from'));
    return from.length === 0 || from[0] === mailbox.toLowerCase();
  };

  async function graph(method: string, path: string, headers: Record<string, string | string[] | undefined>, body: Buffer): Promise<Reply> {
    const upload = /^\/upload\/([^/]+)$/.exec(path);
    if (upload) {
      if (headers.authorization) return graphError(401, 'InvalidAuthenticationToken', 'Do not send an Authorization header to the upload URL.');
      const u = uploads.get(upload[1]!);
      if (!u || method !== 'PUT') return graphError(404, 'ErrorItemNotFound', 'upload session not found');
      const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(headers['content-range'] ?? ''));
      if (!range || Number(range[1]) !== u.next || Number(range[3]) !== u.size || Number(range[2]) - Number(range[1]) + 1 !== body.length) {
        return graphError(400, 'InvalidRange', `expected bytes ${u.next}-, got ${headers['content-range']} with ${body.length} bytes`);
      }
      if (body.length > GRAPH_LIMIT) return graphError(413, 'RequestBodyTooLarge', 'chunk too large');
      u.received.push(body);
      u.next += body.length;
      if (u.next < u.size)
        return { status: 200, body: { expirationDateTime: new Date(Date.now() + 3600e3).toISOString(), nextExpectedRanges: [`${u.next}-${u.size - 1}`] } };
      uploads.delete(upload[1]!);
      u.draft.attachments.push({ name: u.name, contentType: u.contentType, data: Buffer.concat(u.received), via: 'upload-session' });
      return { status: 201 };
    }
    const m = /^\/v1\.0\/users\/([^/]+)(\/.*)$/.exec(path);
    if (!m) return graphError(400, 'BadRequest', `Resource not found for the segment '${path}'.`);
    const auth = /^Bearer (.+)$/.exec(String(headers.authorization ?? ''));
    if (!auth) return graphError(401, 'InvalidAuthenticationToken', 'Access token is empty.');
    const checked = s.check(auth[1]!, [SCOPE_GRAPH]);
    if (!checked.ok) return graphError(401, 'InvalidAuthenticationToken', `Access token is not valid: ${checked.why}.`);
    if (s.throttle.count > 0) {
      s.throttle.count--;
      return {
        ...graphError(s.throttle.status, s.throttle.status === 429 ? 'ApplicationThrottled' : 'ServiceUnavailable', 'Too many requests'),
        headers: { 'retry-after': String(s.throttle.retryAfterSeconds) },
      };
    }
    const mailbox = decodeURIComponent(m[1]!).toLowerCase();
    const rest = m[2]!;
    if (!s.users.has(mailbox)) return graphError(404, 'ErrorInvalidUser', `The requested user '${mailbox}' is invalid.`);
    if (!mailboxAllowed(checked.token, mailbox)) return graphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    if (body.length > GRAPH_LIMIT) return graphError(413, 'RequestBodyTooLarge', 'The maximum request length supported is 4MB.');
    const mime = () => Buffer.from(body.toString('latin1').replace(/\s+/g, ''), 'base64');
    if (method === 'POST' && rest === '/sendMail') {
      if (!/^text\/plain/.test(String(headers['content-type'])))
        return graphError(400, 'ErrorInvalidRequest', 'sendMail with MIME needs Content-Type text/plain');
      const msg = mime();
      if (!fromAllowed(msg, mailbox))
        return graphError(
          403,
          'ErrorSendAsDenied',
          'The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account.',
        );
      if (s.graphDelayMs) await new Promise((r) => setTimeout(r, s.graphDelayMs));
      s.graphSent.push({
        mailbox,
        mime: msg,
        to: addressesOf(mimeHeader(msg, 'to')),
        cc: addressesOf(mimeHeader(msg, 'cc')),
        bcc: addressesOf(mimeHeader(msg, 'bcc')),
        attachments: [],
        via: 'sendMail',
      });
      return { status: 202 };
    }
    if (method === 'POST' && rest === '/messages') {
      const id = `AAMk${randomBytes(9).toString('base64url')}`;
      drafts.set(id, { id, mailbox, mime: mime(), attachments: [] });
      return { status: 201, body: { id } };
    }
    const dm = /^\/messages\/([^/]+)(\/.*)?$/.exec(rest);
    const draft = dm ? drafts.get(decodeURIComponent(dm[1]!)) : undefined;
    if (!dm || !draft || draft.mailbox !== mailbox) return graphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    const sub = dm[2] ?? '';
    const json = () => JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const list = (v: unknown) => ((v as { emailAddress: { address: string } }[] | undefined) ?? []).map((r) => r.emailAddress.address.toLowerCase());
    if (method === 'PATCH' && sub === '') {
      const j = json();
      if (j.toRecipients) draft.to = list(j.toRecipients);
      if (j.ccRecipients) draft.cc = list(j.ccRecipients);
      if (j.bccRecipients) draft.bcc = list(j.bccRecipients);
      return { status: 200, body: { id: draft.id } };
    }
    if (method === 'DELETE' && sub === '') {
      drafts.delete(draft.id);
      return { status: 204 };
    }
    if (method === 'POST' && sub === '/attachments') {
      const j = json();
      if (j['@odata.type'] !== '#microsoft.graph.fileAttachment') return graphError(400, 'ErrorInvalidRequest', 'not a file attachment');
      const data = Buffer.from(String(j.contentBytes), 'base64');
      if (data.length >= 3 * 1024 * 1024) return graphError(413, 'ErrorAttachmentSizeLimitExceeded', 'use an upload session from 3 MB');
      draft.attachments.push({ name: String(j.name), contentType: j.contentType as string | undefined, data, via: 'json' });
      return { status: 201, body: { id: `att${draft.attachments.length}` } };
    }
    if (method === 'POST' && sub === '/attachments/createUploadSession') {
      const item = json().AttachmentItem as { attachmentType?: string; name?: string; size?: number; contentType?: string } | undefined;
      if (!item || item.attachmentType !== 'file' || !item.name || typeof item.size !== 'number')
        return graphError(400, 'ErrorInvalidRequest', 'AttachmentItem is missing or incomplete');
      if (item.size < 3 * 1024 * 1024)
        return graphError(400, 'ErrorAttachmentSizeShouldNotBeLessThanMinimumSize', 'Attachment size must be at least 3 MB for an upload session.');
      if (item.size > 150 * 1024 * 1024) return graphError(400, 'ErrorAttachmentSizeLimitExceeded', 'Attachment too large');
      const sid = randomBytes(12).toString('hex');
      uploads.set(sid, { draft, name: item.name, contentType: item.contentType, size: item.size, received: [], next: 0 });
      return {
        status: 201,
        body: { uploadUrl: `${s.url}/upload/${sid}`, expirationDateTime: new Date(Date.now() + 3600e3).toISOString(), nextExpectedRanges: ['0-'] },
      };
    }
    if (method === 'POST' && sub === '/send') {
      if (!fromAllowed(draft.mime, mailbox))
        return graphError(
          403,
          'ErrorSendAsDenied',
          'The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account.',
        );
      if (s.graphDelayMs) await new Promise((r) => setTimeout(r, s.graphDelayMs));
      drafts.delete(draft.id);
      s.graphSent.push({
        mailbox,
        mime: draft.mime,
        attachments: draft.attachments,
        via: 'draft',
        to: draft.to ?? addressesOf(mimeHeader(draft.mime, 'to')),
        cc: draft.cc ?? addressesOf(mimeHeader(draft.mime, 'cc')),
        bcc: draft.bcc ?? addressesOf(mimeHeader(draft.mime, 'bcc')),
      });
      return { status: 202 };
    }
    return graphError(400, 'BadRequest', `unsupported ${method} ${rest}`);
  }

  const server = https.createServer({ key: pki.serverKey, cert: pki.serverCert }, (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 16 * 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const path = new URL(req.url ?? '/', 'https://x').pathname;
        const requestUrl = `${s.url}${path}`;
        const form = () => new URLSearchParams(body.toString('utf8'));
        let reply: Reply;
        let ms: RegExpExecArray | null;
        if (req.method === 'POST' && (ms = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path))) {
          const f = form();
          reply = microsoftToken(decodeURIComponent(ms[1]!), f, requestUrl);
          s.tokenRequests.push({ grant: f.get('grant_type') ?? '', status: reply.status, error: (reply.body as { error?: string } | undefined)?.error });
        } else if (req.method === 'POST' && (ms = /^\/([^/]+)\/oauth2\/v2\.0\/devicecode$/.exec(path))) {
          reply = deviceCode(form(), 'ms-user', decodeURIComponent(ms[1]!));
        } else if (req.method === 'POST' && path === '/token') {
          const f = form();
          reply = googleToken(f, requestUrl);
          s.tokenRequests.push({ grant: f.get('grant_type') ?? '', status: reply.status, error: (reply.body as { error?: string } | undefined)?.error });
        } else if (req.method === 'POST' && path === '/introspect') {
          const f = form();
          reply = introspect(req.headers, f);
          s.introspections.push({
            client: (reply as { client?: string }).client,
            token: f.get('token') ?? '',
            status: reply.status,
            active: (reply.body as { active?: boolean } | undefined)?.active,
          });
        } else if (req.method === 'POST' && path === '/device/code') {
          reply = deviceCode(form(), 'google');
        } else {
          reply = await graph(req.method ?? 'GET', path, req.headers, body);
          s.graphRequests.push({
            method: req.method ?? '',
            path,
            status: reply.status,
            at: Date.now(),
            bodyBytes: size,
            authorization: !!req.headers.authorization,
          });
        }
        const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
        res.writeHead(reply.status, { ...(text ? { 'content-type': 'application/json' } : {}), ...reply.headers });
        res.end(text);
      })();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  s.port = port;
  s.url = `https://127.0.0.1:${port}`;
  return s;
}
