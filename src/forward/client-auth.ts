// Client authentication for forwarding: which SASL mechanism, with which secret (E-MailRelay 6.3).
// Preference: CRAM-SHA512, CRAM-SHA256, CRAM-SHA1, CRAM-MD5, XOAUTH2, PLAIN, LOGIN, intersected with
// what the server advertises and with --client-auth-config m:/x: lists.
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { cramResponse, type CramMechanism, type CramSecret } from '../auth/cram';
import {
  findClientAccount, isInlineClientAuth, mustAuthenticate, parseInlineClientAuth, watchSecrets,
  type ClientAccount, type SecretsLogger,
} from '../auth/secrets';
import { refuseClientReread } from '../auth/client-secrets-check';
import type { TokenSource, TokenSources } from './oauth/tokens';
import type { GrantLine } from '../auth/oauth-lines';
import { xoauth2Response } from './oauth/xoauth2';
import { OAuthError } from './oauth/token-errors';

export interface ClientLogin {
  customAuth: NonNullable<SMTPConnection.Options['customAuth']>;
  /** Changes whenever the secrets are re-read: a session logged in before then is not reused. */
  generation(): number;
  /** The account's OAuth2 grant line, if it has one. */
  grant(): GrantLine | undefined;
  /** The mailbox relaybox signs in as (a grant line's mailbox, or a user id that is an address). */
  mailbox(): string | undefined;
  /** null: this account does not authenticate. Throws an OAuthError when no token can be had. */
  choose(advertised: string[]): Promise<LoginChoice | { error: string; permanent?: boolean } | null>;
}

export interface LoginChoice {
  credentials: SMTPConnection.AuthenticationType;
  /** For a relaybox OAuth2 grant: where the token came from, to drop it if the server refuses it. */
  token?: { source: TokenSource; value: string; fresh: boolean; expiresAt: number };
}

const PREFERENCE = ['CRAM-SHA512', 'CRAM-SHA256', 'CRAM-SHA1', 'CRAM-MD5', 'XOAUTH2', 'PLAIN', 'LOGIN'] as const;
type Mechanism = (typeof PREFERENCE)[number];

interface Choice {
  mechanism: Mechanism;
  user: string;
  /** A plain password (PLAIN, LOGIN, any CRAM), an md5 state (CRAM-MD5), or the XOAUTH2 blob. */
  secret: CramSecret | Buffer;
}

/** The mechanisms an account can do, in preference order. */
function usable(account: ClientAccount): Map<Mechanism, Choice> {
  const out = new Map<Mechanism, Choice>();
  const { plain, md5, oauth } = account.secrets;
  for (const m of PREFERENCE) {
    if (plain) out.set(m, { mechanism: m, user: plain.userId, secret: { type: 'plain', value: plain.secret.bytes() } });
    else if (m === 'CRAM-MD5' && md5) out.set(m, { mechanism: m, user: md5.userId, secret: { type: 'md5', value: md5.secret.bytes() } });
    else if (m === 'XOAUTH2' && oauth) out.set(m, { mechanism: m, user: oauth.userId, secret: oauth.secret.bytes() });
  }
  if (plain && oauth) out.set('XOAUTH2', { mechanism: 'XOAUTH2', user: oauth.userId, secret: oauth.secret.bytes() });
  return out;
}

function parseMechanismConfig(config: string | undefined): { allow?: Set<string>; deny: Set<string> } {
  const result: { allow?: Set<string>; deny: Set<string> } = { deny: new Set() };
  if (!config) return result;
  for (const part of config.split(';')) {
    const m = /^\s*(?:([mxad]):)?(.*)$/i.exec(part)!;
    const list = new Set(m[2].split(',').map((s) => s.trim().toUpperCase()).filter(Boolean));
    const kind = (m[1] ?? 'm').toLowerCase();
    if (kind === 'm') result.allow = list;
    else if (kind === 'x') list.forEach((x) => result.deny.add(x));
  }
  return result;
}

async function saslExchange(ctx: SMTPConnection.CustomAuthenticationContext): Promise<void> {
  const choice = (ctx.auth as { options?: { choice?: Choice } }).options?.choice;
  if (!choice) throw new Error('no credentials');
  if (choice.mechanism === 'XOAUTH2') {
    const r = await ctx.sendCommand(`AUTH XOAUTH2 ${Buffer.from(choice.secret as Buffer).toString('base64')}`);
    if (r.status === 235) return;
    if (r.status === 334) {
      const r2 = await ctx.sendCommand(''); // the server's error details; answered with an empty line
      throw new Error(r2.response);
    }
    throw new Error(r.response);
  }
  const challenge = await ctx.sendCommand(`AUTH ${choice.mechanism}`);
  if (challenge.status !== 334) throw new Error(challenge.response);
  const answer = await ctx.sendCommand(cramResponse(choice.mechanism as CramMechanism, choice.user, choice.secret as CramSecret, challenge.text ?? ''));
  if (answer.status !== 235) throw new Error(answer.response);
}

export function createClientLogin(spec: string, config: string | undefined, log: SecretsLogger, selector = '', tokens?: TokenSources): ClientLogin {
  let account: () => ClientAccount | undefined;
  let generation = 0;
  if (isInlineClientAuth(spec)) {
    const parsed = parseInlineClientAuth(spec);
    if ('error' in parsed) throw new Error(`--client-auth: ${parsed.error}`);
    account = () => parsed.account;
  } else {
    const watcher = watchSecrets(spec, () => {
      generation++;
      log.info(`re-read the secrets file ${spec}`);
    }, log, { refuse: refuseClientReread(spec) });
    account = () => findClientAccount(watcher.current(), selector);
    if (!account() && !selector) log.warn(`${spec} has no "client" line without a fifth field: a message without a ClientAccountSelector is forwarded without authenticating`);
  }
  const filter = parseMechanismConfig(config);
  const customAuth: ClientLogin['customAuth'] = {};
  for (const m of ['CRAM-SHA512', 'CRAM-SHA256', 'CRAM-SHA1', 'CRAM-MD5', 'XOAUTH2']) {
    customAuth[m] = (ctx) => saslExchange(ctx).then(ctx.resolve, (e: Error) => ctx.reject(e));
  }
  return {
    customAuth,
    grant: () => account()?.grant,
    mailbox() {
      const acct = account();
      if (!acct) return undefined;
      if (acct.grant) return acct.grant.mailbox;
      const user = acct.secrets.oauth?.userId ?? acct.secrets.plain?.userId ?? acct.secrets.md5?.userId;
      return user && /^[^@\s]+@[^@\s]+$/.test(user) ? user : undefined;
    },
    generation() {
      account(); // looks at the file (at most once a second)
      return generation;
    },
    async choose(advertised) {
      const acct = account();
      if (!acct && selector) return { error: `the secrets file has no "client" line for the envelope's ClientAccountSelector "${selector}"` };
      if (!acct || !mustAuthenticate(acct)) return null;
      if (!advertised.length) return { error: 'authentication is not supported by the remote smtp server' };
      if (acct.grant) {
        if (!advertised.includes('XOAUTH2') || (filter.allow && !filter.allow.has('XOAUTH2')) || filter.deny.has('XOAUTH2')) {
          return { error: `the upstream server does not offer XOAUTH2 (it offers ${advertised.join(' ')}), so the ${acct.grant.type} line cannot be used`, permanent: true };
        }
        if (!tokens) throw new OAuthError('OAuth2 grant lines need a spool directory for the token cache', true);
        const source = tokens.for(acct.grant);
        const t = await source.get();
        const choice: Choice = { mechanism: 'XOAUTH2', user: source.mailbox, secret: xoauth2Response(source.mailbox, t.token) };
        return {
          credentials: { type: 'custom', user: choice.user, method: 'XOAUTH2', options: { choice } } as unknown as SMTPConnection.AuthenticationType,
          token: { source, value: t.token, fresh: t.fresh, expiresAt: t.expiresAt },
        };
      }
      const can = usable(acct);
      for (const m of PREFERENCE) {
        const choice = can.get(m);
        if (!choice || !advertised.includes(m)) continue;
        if ((filter.allow && !filter.allow.has(m)) || filter.deny.has(m)) continue;
        if (m === 'PLAIN' || m === 'LOGIN') {
          const pass = Buffer.from((choice.secret as { value: Uint8Array }).value).toString('utf8');
          return { credentials: { type: 'login', user: choice.user, pass, method: m } as SMTPConnection.AuthenticationType };
        }
        return { credentials: { type: 'custom', user: choice.user, method: m, options: { choice } } as unknown as SMTPConnection.AuthenticationType };
      }
      return { error: 'cannot do authentication: check for a compatible client secret' };
    },
  };
}
