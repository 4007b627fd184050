// The token requests of each grant. Each returns the token endpoint's JSON answer.
import { existsSync, readFileSync } from 'node:fs';
import type { GrantLine, PageSignIn } from '../../auth/oauth-lines';
import { notSignedInReason, pageClient, pageScope, pageTokenFile } from './page-grant';
import { postForm } from './http';
import { clientAssertion, parseServiceAccountKey, readCertificateCredential, serviceAccountAssertion } from './jwt';
import { describeTokenRefusal, OAuthError } from './token-errors';
import { readTokenFile, saveTokenFile } from './token-file';
import { retryAfterMs } from './http';

export const MICROSOFT_AUTHORITY = 'https://login.microsoftonline.com';
export const SCOPE_OUTLOOK_APP = 'https://outlook.office365.com/.default';
export const SCOPE_GRAPH_APP = 'https://graph.microsoft.com/.default';
export const SCOPE_GOOGLE_MAIL = 'https://mail.google.com/';

export interface TokenAnswer {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
}

export interface GrantContext {
  /** The Microsoft identity platform's base URL (--oauth-authority). */
  authority: string;
  /** The scope the transport needs (SMTP or Graph) for an app-only Microsoft grant. */
  microsoftScope: string;
  /** Where "page:" lines keep their refresh tokens (the spool's state directory); unset outside the relay. */
  stateDir?: string;
  now(): number;
  warn(msg: string): void;
  /** The expiry of a credential the alerts should watch (a certificate's notAfter). */
  expiry?(name: string, expiresAt: number): void;
}

export function microsoftTokenUrl(authority: string, tenant: string): string {
  return `${authority.replace(/\/+$/, '')}/${encodeURIComponent(tenant)}/oauth2/v2.0/token`;
}

function readConfigFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new OAuthError(`cannot read the ${what} ${file}: ${(e as Error).message}`, true);
  }
}

async function requestToken(url: string, form: Record<string, string>): Promise<TokenAnswer> {
  const res = await postForm(url, form);
  if (res.status !== 200) throw describeTokenRefusal(res.status, res.text, retryAfterMs(res.headers));
  let j: Partial<TokenAnswer> & { token_type?: string };
  try {
    j = JSON.parse(res.text);
  } catch {
    throw new OAuthError(`the token endpoint ${new URL(url).origin} answered with something that is not JSON; will retry`, false);
  }
  if (!j.access_token || typeof j.access_token !== 'string') throw new OAuthError('the token endpoint answered without an access token; will retry', false);
  const expiresIn = Number(j.expires_in);
  return { access_token: j.access_token, expires_in: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 3600, refresh_token: j.refresh_token };
}

/** The scope this grant asks for (part of the cache key). */
export function grantScope(grant: GrantLine, ctx: GrantContext): string {
  if (grant.type === 'oauth-google-sa') return SCOPE_GOOGLE_MAIL;
  if (grant.type === 'oauth-refresh') return grant.page ? pageScope(grant.page, ctx.microsoftScope === SCOPE_GRAPH_APP) : readTokenFile(grant.tokenFile).scope;
  return ctx.microsoftScope;
}

export async function fetchToken(grant: GrantLine, ctx: GrantContext): Promise<TokenAnswer> {
  switch (grant.type) {
    case 'oauth-ms-secret':
      return requestToken(microsoftTokenUrl(ctx.authority, grant.tenant), {
        grant_type: 'client_credentials',
        client_id: grant.clientId,
        client_secret: grant.secret.text(),
        scope: ctx.microsoftScope,
      });
    case 'oauth-ms-cert': {
      const url = microsoftTokenUrl(ctx.authority, grant.tenant);
      const cred = (() => {
        try {
          return readCertificateCredential(readConfigFile(grant.pemFile, 'certificate file'), grant.pemFile);
        } catch (e) {
          throw e instanceof OAuthError ? e : new OAuthError((e as Error).message, true);
        }
      })();
      if (cred.notAfter.getTime() < ctx.now()) {
        throw new OAuthError(
          `the certificate in ${grant.pemFile} expired on ${cred.notAfter.toISOString().slice(0, 10)}: make a new one, upload it to the app registration (Certificates & secrets) and replace the file`,
          true,
        );
      }
      ctx.expiry?.(`OAuth2 certificate ${grant.pemFile}`, cred.notAfter.getTime());
      if (cred.notAfter.getTime() - ctx.now() < 30 * 86400_000) {
        ctx.warn(
          `the certificate in ${grant.pemFile} expires on ${cred.notAfter.toISOString().slice(0, 10)}: make a new one and upload it to the app registration before then`,
        );
      }
      return requestToken(url, {
        grant_type: 'client_credentials',
        client_id: grant.clientId,
        scope: ctx.microsoftScope,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: clientAssertion(cred, grant.clientId, url, ctx.now()),
      });
    }
    case 'oauth-google-sa': {
      let sa;
      try {
        sa = parseServiceAccountKey(readConfigFile(grant.keyFile, 'service-account key'), grant.keyFile);
      } catch (e) {
        throw e instanceof OAuthError ? e : new OAuthError((e as Error).message, true);
      }
      return requestToken(sa.token_uri, {
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: serviceAccountAssertion(sa, grant.mailbox, SCOPE_GOOGLE_MAIL, ctx.now()),
      });
    }
    case 'oauth-refresh':
      return grant.page ? refreshPageGrant(grant, ctx) : refreshFromFile(grant.tokenFile, {}, ctx);
  }
}

/** A refresh-token grant; Microsoft hands out a new refresh token each time, kept for next time. */
async function refreshFromFile(tokenFile: string, client: { client_id?: string; client_secret?: string }, ctx: GrantContext): Promise<TokenAnswer> {
  const file = readTokenFile(tokenFile);
  const secret = client.client_secret ?? file.client_secret;
  const answer = await requestToken(file.token_url, {
    grant_type: 'refresh_token',
    client_id: client.client_id ?? file.client_id,
    refresh_token: file.refresh_token,
    scope: file.scope,
    ...(secret ? { client_secret: secret } : {}),
  });
  if (answer.refresh_token && answer.refresh_token !== file.refresh_token) {
    await saveTokenFile(tokenFile, { ...file, refresh_token: answer.refresh_token }).catch((e: Error) =>
      ctx.warn(
        `cannot save the new refresh token in ${tokenFile} (${e.message}): let relaybox's user write to that file, or the old token will stop working once it expires`,
      ),
    );
  }
  return answer;
}

type PageGrant = Extract<GrantLine, { page: PageSignIn }>;

/** A mailbox that signs in from the status page: until it has, and after its sign-in is revoked, messages wait. */
async function refreshPageGrant(grant: PageGrant, ctx: GrantContext): Promise<TokenAnswer> {
  if (!ctx.stateDir) throw new OAuthError(`${grant.mailbox} signs in on the box's status page: its state is shown there, not checked here`, false);
  const tokenFile = pageTokenFile(ctx.stateDir, grant.mailbox, grant.page);
  if (!existsSync(tokenFile)) throw new OAuthError(notSignedInReason(grant.mailbox), false);
  try {
    return await refreshFromFile(tokenFile, pageClient(grant.page), ctx);
  } catch (e) {
    if (!(e instanceof OAuthError) || !e.permanent) throw e;
    throw new OAuthError(`mailbox ${grant.mailbox} must sign in again: open the box's page and press Sign in [${e.message}]`, false);
  }
}
