// What a token endpoint's refusal means, in words that say what to fix. A refusal caused by the
// configuration (wrong or expired secret, missing consent, wrong scope) is permanent: retrying
// cannot help until someone changes something. Network trouble, 5xx and 429 are temporary.

export class OAuthError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

interface TokenErrorBody {
  error?: string;
  error_description?: string;
  error_codes?: number[];
}

/** Microsoft AADSTS codes and Google messages → what to do. First match wins. */
const ADVICE: { match: RegExp; advice: string }[] = [
  {
    match: /AADSTS7000222/,
    advice: 'the client secret has expired: create a new one in the app registration (Certificates & secrets) and put it in the secrets file',
  },
  {
    match: /AADSTS7000215/,
    advice: "the client secret is wrong: copy the secret's Value (not its Secret ID) from the app registration (Certificates & secrets) into the secrets file",
  },
  {
    match: /AADSTS700027|AADSTS700024|AADSTS7000274/,
    advice:
      'the certificate assertion was refused: upload this certificate to the app registration (Certificates & secrets), and check the clock of this machine',
  },
  { match: /AADSTS700016/, advice: 'no application with this client id in the tenant: check the tenant and the Application (client) ID in the secrets file' },
  { match: /AADSTS90002|AADSTS900023/, advice: "the tenant does not exist: use the Directory (tenant) ID or the tenant's domain in the secrets file" },
  { match: /AADSTS7000112|AADSTS700025/, advice: 'the application is disabled in the tenant: enable it under Enterprise applications' },
  { match: /AADSTS65001|AADSTS65004/, advice: 'the permission was not consented to: grant admin consent in the app registration (API permissions)' },
  {
    match: /AADSTS70011|invalid_scope/,
    advice:
      'the scope was refused: for SMTP the app needs the Office 365 Exchange Online permission SMTP.SendAsApp (or SMTP.Send for a user), for Graph the Microsoft Graph permission Mail.Send',
  },
  {
    match: /AADSTS70008|AADSTS700082|AADSTS50173|AADSTS50076|AADSTS50078/,
    advice: 'the refresh token has expired or was revoked: run "relaybox oauth login" again',
  },
  { match: /Invalid JWT Signature/i, advice: "Google refused the service-account key: the key was deleted or is not this account's; download a new JSON key" },
  {
    match: /Invalid email or User ID|invalid_grant.*(user|subject)/i,
    advice: 'Google does not know the mailbox in the secrets line: use a user of your Google Workspace domain',
  },
  {
    match: /unauthorized_client/,
    advice:
      'the client may not use this grant or scope: for a Google service account add its client ID with the scope https://mail.google.com/ under Security > API controls > Domain-wide delegation in the Admin console',
  },
  {
    match: /short-lived token|not within its valid time range/i,
    advice: 'the signed assertion was refused as expired or not yet valid: check the clock of this machine',
  },
  { match: /invalid_grant/, advice: 'the grant was refused: for a refresh token run "relaybox oauth login" again' },
  { match: /invalid_client/, advice: "the token endpoint does not accept the application's credentials: check the client id and secret or certificate" },
];

export function describeTokenRefusal(status: number, body: string, retryAfterMs?: number): OAuthError {
  let parsed: TokenErrorBody = {};
  try {
    parsed = JSON.parse(body) as TokenErrorBody;
  } catch {
    // not JSON: an HTML error page from a proxy, for example
  }
  const code = parsed.error ?? '';
  const detail = (parsed.error_description ?? '')
    .split(/\r?\n/)[0]!
    .replace(/\s*Trace ID:.*$/, '')
    .slice(0, 300);
  const summary = `token endpoint refused (HTTP ${status}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''})`;
  if (status >= 500 || status === 429 || code === 'temporarily_unavailable' || (!code && status !== 400 && status !== 401)) {
    return new OAuthError(`${summary}; will retry`, false, retryAfterMs);
  }
  const text = `${code} ${parsed.error_description ?? ''} ${(parsed.error_codes ?? []).map((c) => `AADSTS${c}`).join(' ')}`;
  const advice = ADVICE.find((a) => a.match.test(text))?.advice;
  return new OAuthError(advice ? `${advice} [${summary}]` : summary, true);
}
