// Client authentication for forwarding: which SASL mechanisms, with which secret, in which order
// (E-MailRelay 6.3). Preference: CRAM-SHA512, CRAM-SHA256, CRAM-SHA1, CRAM-MD5, XOAUTH2, OAUTHBEARER,
// PLAIN, LOGIN, each only with a secret it fits, intersected with what the server offers and with the
// --client-auth-config m:/x: lists. A refused mechanism is followed by the next usable one.
import {
  mustAuthenticate,
  findClientAccount,
  isInlineClientAuth,
  parseInlineClientAuth,
  watchSecrets,
  type ClientAccount,
  type SecretsLogger,
} from '../auth/secrets';
import { refuseClientReread } from '../auth/client-secrets-check';
import type { TokenSource, TokenSources } from './oauth/tokens';
import type { GrantLine } from '../auth/oauth-lines';
import { OAuthError } from './oauth/token-errors';
import { withAdvice } from './oauth/advice';
import { CRAM_MECHANISMS, TOKEN_MECHANISMS, fits, runMechanism, type SaslCredential, type SaslMechanism, type SendLine, type SmtpReply } from './sasl-client';

export interface ClientLogin {
  /** Changes whenever the secrets are re-read: a session logged in before then is not reused. */
  generation(): number;
  /** The account's OAuth2 grant line, if it has one. */
  grant(): GrantLine | undefined;
  /** The mailbox relaybox signs in as (a grant line's mailbox, or a user id that is an address). */
  mailbox(): string | undefined;
  /** Does this session have to sign in? (An unknown account selector does: it fails in authenticate.) */
  needed(): boolean;
  /**
   * Signs in on an open session. Throws an AuthFailure when the server refuses every usable
   * mechanism or none fits, an OAuthError when no token can be had, and the session's own error
   * when the connection fails.
   */
  authenticate(session: AuthSession): Promise<AuthResult>;
}

export interface AuthSession {
  /** The mechanisms in the server's EHLO AUTH line. */
  offered: string[];
  /** Is the session encrypted (TLS) by now? */
  secure: boolean;
  /** The upstream's host name, for advice that depends on the provider. */
  server: string;
  send: SendLine;
}

export interface AuthResult {
  mechanism: SaslMechanism;
  /** The SASL user id that signed in (for MAIL FROM's AUTH= parameter). */
  user?: string;
  /** When an access token relaybox got itself expires. */
  tokenExpiresAt?: number;
}

export class AuthFailure extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
    readonly permanent: boolean,
    readonly response?: string,
  ) {
    super(message);
  }
}

const PREFERENCE: readonly SaslMechanism[] = [...CRAM_MECHANISMS, 'XOAUTH2', 'OAUTHBEARER', 'PLAIN', 'LOGIN'];
const TOKEN_ONLY = new Set<string>(TOKEN_MECHANISMS);

interface MechanismFilter {
  allow?: Set<string>;
  deny: Set<string>;
}

function parseMechanismConfig(config: string | undefined): MechanismFilter {
  const result: MechanismFilter = { deny: new Set() };
  if (!config) return result;
  for (const part of config.split(';')) {
    const m = /^\s*(?:([mxad]):)?(.*)$/i.exec(part)!;
    const list = new Set(
      m[2]!
        .split(',')
        .map((s) => s.trim().toUpperCase())
        .filter(Boolean),
    );
    const kind = (m[1] ?? 'm').toLowerCase();
    if (kind === 'm') result.allow = list;
    else if (kind === 'x') list.forEach((x) => result.deny.add(x));
  }
  return result;
}

const allowed = (filter: MechanismFilter, m: string) => (!filter.allow || filter.allow.has(m)) && !filter.deny.has(m);

/** The account's static credentials: a password, a CRAM-MD5 state, an XOAUTH2 response. */
function staticCredentials(account: ClientAccount): SaslCredential[] {
  const { plain, md5, oauth } = account.secrets;
  const out: SaslCredential[] = [];
  if (plain) out.push({ kind: 'password', user: plain.userId, secret: { type: 'plain', value: plain.secret.bytes() } });
  if (md5) out.push({ kind: 'password', user: md5.userId, secret: { type: 'md5', value: md5.secret.bytes() } });
  if (oauth) out.push({ kind: 'xoauth2-response', user: oauth.userId, response: Buffer.from(oauth.secret.bytes()) });
  return out;
}

/** What the account holds, in words, and which mechanisms that can do. */
function describeAccount(account: ClientAccount): string {
  if (account.grant) return `an OAuth2 ${account.grant.type} line, which signs in with AUTH XOAUTH2 or OAUTHBEARER only`;
  const { plain, md5, oauth } = account.secrets;
  const kinds: string[] = [];
  if (plain) kinds.push('a password (for AUTH CRAM-*, PLAIN or LOGIN)');
  if (md5) kinds.push('a CRAM-MD5 hash (for AUTH CRAM-MD5 only)');
  if (oauth) kinds.push('an OAuth2 token from a "client oauth" line (for AUTH XOAUTH2 or OAUTHBEARER)');
  return kinds.length ? `only ${kinds.join(' and ')}` : 'no usable secret';
}

const isMicrosoft = (server: string) => /(^|\.)(office365\.com|outlook\.com|office\.com)$/i.test(server);
const isGoogle = (server: string) => /(^|\.)(gmail\.com|googlemail\.com|google\.com)$/i.test(server);

/** What to do when nothing the server offers fits the account. */
function noFitAdvice(account: ClientAccount, offered: string[], filter: MechanismFilter, session: AuthSession): string {
  const offersTokens = offered.some((m) => TOKEN_ONLY.has(m));
  const offersPasswords = offered.some((m) => !TOKEN_ONLY.has(m) && (PREFERENCE as readonly string[]).includes(m));
  const hasToken = !!account.grant || !!account.secrets.oauth;
  const advice: string[] = [];
  const excluded = offered.filter((m) => (PREFERENCE as readonly string[]).includes(m) && !allowed(filter, m));
  if (excluded.length) advice.push(`--client-auth-config rules out ${excluded.join(' ')}`);
  if (!hasToken && offersTokens && !offersPasswords) {
    if (isMicrosoft(session.server))
      advice.push('Microsoft 365 no longer accepts passwords for SMTP: use an oauth-ms-cert, oauth-ms-secret or oauth-refresh line (see the README)');
    else if (isGoogle(session.server))
      advice.push('Google takes an app password (with PLAIN or LOGIN) or OAuth2: use an oauth-google-sa or oauth-refresh line (see the README)');
    else
      advice.push(
        'this server takes OAuth2 tokens only here: replace the password line with an OAuth2 line (oauth-ms-cert, oauth-ms-secret, oauth-google-sa or oauth-refresh; see the README)',
      );
  } else if (hasToken && !offersTokens && offersPasswords) {
    advice.push(
      'this server does not take OAuth2 tokens: use a "client plain" line with the account\'s password (an app password where the provider has them), or check that forward-to names the provider\'s OAuth2 endpoint',
    );
  } else if (account.secrets.md5 && !account.secrets.plain && offersPasswords) {
    advice.push('a "client md5" hash works only with CRAM-MD5: write the password in a "client plain" line instead');
  }
  if (offered.some((m) => m === 'NTLM' || m === 'GSSAPI') && !offersPasswords && !offersTokens) {
    advice.push('relaybox does not do NTLM or GSSAPI: allow basic authentication (LOGIN) on the Exchange receive connector');
  }
  if (!session.secure)
    advice.push('the session is not encrypted, and many servers offer their mechanisms only after STARTTLS: add client-tls (and client-tls-required)');
  return advice.join('; ');
}

export function createClientLogin(spec: string, config: string | undefined, log: SecretsLogger, selector = '', tokens?: TokenSources): ClientLogin {
  let account: () => ClientAccount | undefined;
  let generation = 0;
  if (isInlineClientAuth(spec)) {
    const parsed = parseInlineClientAuth(spec);
    if ('error' in parsed) throw new Error(`--client-auth: ${parsed.error}`);
    account = () => parsed.account;
  } else {
    const watcher = watchSecrets(
      spec,
      () => {
        generation++;
        log.info(`re-read the secrets file ${spec}`);
      },
      log,
      { refuse: refuseClientReread(spec) },
    );
    account = () => findClientAccount(watcher.current(), selector);
    if (!account() && !selector)
      log.warn(`${spec} has no "client" line without a fifth field: a message without a ClientAccountSelector is forwarded without authenticating`);
  }
  const filter = parseMechanismConfig(config);

  async function authenticate(session: AuthSession): Promise<AuthResult> {
    const acct = account();
    if (!acct) throw new AuthFailure(`the secrets file has no "client" line for the envelope's ClientAccountSelector "${selector}"`, undefined, true);
    const offered = session.offered.map((m) => m.toUpperCase());
    if (!offered.length) {
      const hint = session.secure ? '' : ' (the session is not encrypted: many servers offer AUTH only after STARTTLS; add client-tls)';
      throw new AuthFailure(`authentication is not supported by the remote smtp server${hint}`, undefined, true);
    }
    let source: TokenSource | undefined;
    if (acct.grant) {
      if (!tokens) throw new OAuthError('OAuth2 grant lines need a spool directory for the token cache', true);
      source = tokens.for(acct.grant);
    }
    const candidates = PREFERENCE.filter(
      (m) => offered.includes(m) && allowed(filter, m) && (source ? TOKEN_ONLY.has(m) : staticCredentials(acct).some((c) => fits(m, c))),
    );
    if (!candidates.length) {
      const advice = noFitAdvice(acct, offered, filter, session);
      // "cannot do authentication" is E-MailRelay's wording (gsmtpclientprotocol.cpp), which scripts match.
      throw new AuthFailure(
        `cannot do authentication: the upstream server offers AUTH ${offered.join(' ')} and this account has ${describeAccount(acct)}${advice ? `: ${advice}` : ''}`,
        undefined,
        true,
      );
    }

    let token: Awaited<ReturnType<TokenSource['get']>> | undefined;
    const credentialFor = async (m: SaslMechanism): Promise<SaslCredential> => {
      if (!source) return staticCredentials(acct).find((c) => fits(m, c))!;
      token ??= await source.get();
      return { kind: 'token', user: source.mailbox, token: token.token };
    };
    const tried: string[] = [];
    let refusal: SmtpReply | undefined;
    for (const m of candidates) {
      let reply: SmtpReply;
      let user: string | undefined;
      try {
        const credential = await credentialFor(m);
        user = credential.user;
        reply = await runMechanism(m, credential, session.send);
        // A cached token may have been revoked or expired early: one more try with a new one.
        if (reply.code !== 235 && source && token && !token.fresh) {
          source.invalidate(token.token);
          log.info('the upstream refused the cached access token: getting a new one');
          token = await source.get();
          reply = await runMechanism(m, await credentialFor(m), session.send);
        }
      } catch (e) {
        // A server that drops the connection after a refusal: the refusal is the news.
        if (refusal && !(e instanceof OAuthError)) break;
        throw e;
      }
      if (reply.code === 235) return { mechanism: m, user, tokenExpiresAt: token?.expiresAt };
      tried.push(m);
      refusal = reply;
      // A temporary refusal (454 too many attempts, 421 closing) is about the session, not the mechanism.
      if (reply.code >= 400 && reply.code < 500) break;
    }
    const last = refusal!;
    const reason = withAdvice(`authentication failed (tried ${tried.join(', ')}): ${last.text}`, { grant: acct.grant?.type, mailbox: mailbox() });
    // 4xx (and no code at all) is a temporary refusal; 5xx is the configuration's fault.
    throw new AuthFailure(reason, last.code || undefined, last.code >= 500, last.text);
  }

  function mailbox(): string | undefined {
    const acct = account();
    if (!acct) return undefined;
    if (acct.grant) return acct.grant.mailbox;
    const user = acct.secrets.oauth?.userId ?? acct.secrets.plain?.userId ?? acct.secrets.md5?.userId;
    return user && /^[^@\s]+@[^@\s]+$/.test(user) ? user : undefined;
  }

  return {
    grant: () => account()?.grant,
    mailbox,
    generation() {
      account(); // looks at the file (at most once a second)
      return generation;
    },
    needed() {
      const acct = account();
      return acct ? mustAuthenticate(acct) : !!selector;
    },
    authenticate,
  };
}
