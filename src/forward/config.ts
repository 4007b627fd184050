// The forwarding side's settings: where to (--forward-to, --as-client, --as-proxy), when (--forward,
// --forward-on-disconnect, --poll, --immediate), how (--client-tls*, --client-auth, --client-smtp-config,
// the timeouts), and relaybox's retry, connection and sign-in extensions.
import * as path from 'node:path';
import { UsageError } from '../options/parse';
import { readSeconds, readWholeNumber, refuseTogether, requireOneOf, usageError, type OptionLookup, type ReadContext } from '../options/option-set';
import { parseSwitches } from '../options/switches';
import { parseForwardTarget, type ForwardTarget } from '../net/target';
import { readCaOption, readKeyCert, type KeyAndCert } from '../net/config';

export interface ClientTls {
  mode: 'none' | 'starttls' | 'implicit';
  required: boolean;
  keyCert?: KeyAndCert;
  verify?: string;
  verifyName?: string;
  verifyHost: boolean;
  serverName?: string;
}

export interface RetryConfig {
  enabled: boolean;
  delay: number;
  maxDelay: number;
  maxAge: number;
}

export interface ForwardConfig {
  forwardTo?: ForwardTarget;
  forwardAtStart: boolean;
  forwardOnDisconnect: boolean;
  /** Each committed message joins the forwarding run at once (the client is not kept waiting). */
  forwardOnCommit: boolean;
  pollSeconds: number;
  immediate: boolean;
  forwardToSome: boolean;
  /** Forward the spool once and exit: --dont-serve (or --as-client) without --poll, as E-MailRelay. */
  oneShot: boolean;
  clientInterface?: string;
  connectionTimeout: number;
  responseTimeout: number;
  promptTimeout: number;
  clientSmtp: { pipelining: boolean; smtputf8strict: boolean; eightbitstrict: boolean; binarymimestrict: boolean };
  clientTls: ClientTls;
  clientAuth?: string;
  clientAuthConfig?: string;
  retry: RetryConfig;
  forwardConnections: number;
  /** relaybox extensions of issue 6: sender rewriting and the Microsoft identity platform's URL. */
  forwardFromMailbox: boolean;
  oauthAuthority: string;
  /** --oauth-google-authority: Google's device-code and token endpoints for the status page's sign-in. */
  oauthGoogleAuthority: string;
}

function readAuthority(opts: OptionLookup, name: string, fallback: string, example: string): string {
  const v = opts.get(name);
  if (v === undefined) return fallback;
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:') throw usageError(opts, name, `--${name} must be an https URL such as ${example}, not "${v}"`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

function readForwardTarget(opts: OptionLookup): ForwardTarget | undefined {
  refuseTogether(opts, 'as-client', 'forward-to', '--forward-to cannot be used with --as-client, which already names the server');
  refuseTogether(opts, 'as-proxy', 'forward-to', '--forward-to cannot be used with --as-proxy, which already names the server');
  const spec = opts.get('as-client') ?? opts.get('as-proxy') ?? opts.get('forward-to');
  if (spec === undefined) return undefined;
  const where = opts.has('forward-to') ? opts.where('forward-to') : opts.has('as-client') ? opts.where('as-client') : opts.where('as-proxy');
  try {
    return parseForwardTarget(spec);
  } catch (e) {
    throw new UsageError(`${where}: ${(e as Error).message}`);
  }
}

function readClientTls(opts: OptionLookup, baseDir: string): ClientTls {
  refuseTogether(opts, 'client-tls', 'client-tls-connection', 'use either --client-tls (STARTTLS) or --client-tls-connection (implicit TLS), not both');
  for (const o of ['client-tls-required', 'client-tls-certificate', 'client-tls-verify', 'client-tls-server-name']) {
    requireOneOf(opts, o, ['client-tls', 'client-tls-connection'], `--${o} needs --client-tls or --client-tls-connection`);
  }
  requireOneOf(opts, 'client-tls-verify-name', ['client-tls-verify'], '--client-tls-verify-name needs --client-tls-verify');
  const mode = opts.has('client-tls-connection') ? 'implicit' : opts.has('client-tls') ? 'starttls' : 'none';
  return {
    mode,
    required: opts.has('client-tls-required') || mode === 'implicit',
    keyCert: opts.has('client-tls-certificate') ? readKeyCert(opts, 'client-tls-certificate', baseDir) : undefined,
    verify: readCaOption(opts, 'client-tls-verify', baseDir),
    verifyName: opts.get('client-tls-verify-name'),
    verifyHost: opts.has('client-tls-verify-host'),
    serverName: opts.get('client-tls-server-name'),
  };
}

function readRetry(opts: OptionLookup): RetryConfig {
  const delay = readSeconds(opts, 'retry-delay', 60, false);
  const maxDelay = readSeconds(opts, 'retry-max-delay', 3600, false);
  if (maxDelay < delay) throw usageError(opts, 'retry-max-delay', `--retry-max-delay (${maxDelay}) must not be less than --retry-delay (${delay})`);
  return { enabled: !opts.has('no-retry'), delay, maxDelay, maxAge: readSeconds(opts, 'retry-max-age', 432000, false) };
}

export function readForwardConfig(opts: OptionLookup, ctx: ReadContext): ForwardConfig {
  requireOneOf(opts, 'client-auth-config', ['client-auth'], '--client-auth-config needs --client-auth');
  refuseTogether(
    opts,
    'forward-to-some',
    'forward-to-all',
    '--forward-to-all (every recipient must be accepted, the default) contradicts --forward-to-some: keep one',
  );
  if (opts.get('poll') === '0')
    throw usageError(opts, 'poll', '--poll 0 is not allowed: use --forward-on-disconnect to forward as soon as a client disconnects');
  const forwardTo = readForwardTarget(opts);
  refuseTogether(
    opts,
    'forward-on-commit',
    'immediate',
    '--forward-on-commit and --immediate both forward each message as it arrives (--immediate makes the client wait for the upstream): keep one',
  );
  for (const o of ['forward', 'forward-on-disconnect', 'forward-on-commit', 'poll', 'immediate', 'forward-to-some', 'client-filter']) {
    if (opts.has(o) && !forwardTo) throw usageError(opts, o, `--${o} needs a server to forward to: add --forward-to host:port`);
  }
  if (forwardTo?.kind === 'graph') {
    if (!opts.has('client-auth') || opts.get('client-auth')!.startsWith('plain:')) {
      throw usageError(
        opts,
        'forward-to',
        'forwarding through Microsoft Graph needs --client-auth with a secrets file holding an oauth-ms-secret, oauth-ms-cert or oauth-refresh line',
      );
    }
    for (const o of ['client-tls', 'client-tls-connection', 'client-interface'])
      refuseTogether(opts, 'forward-to', o, `--${o} has no meaning with a Graph --forward-to (Graph is always HTTPS)`);
  }
  requireOneOf(opts, 'forward-from-mailbox', ['client-auth'], '--forward-from-mailbox needs --client-auth (the mailbox is the one relaybox signs in as)');
  if (opts.has('client-interface') && forwardTo?.kind === 'unix')
    throw usageError(opts, 'client-interface', '--client-interface cannot be used with a unix-domain --forward-to');

  const client = parseSwitches(
    opts.list('client-smtp-config').join(','),
    // Pipelining is on unless switched off (E-MailRelay's default is off; RFC 2920 servers must cope).
    { pipelining: true, smtputf8strict: true, eightbitstrict: false, binarymimestrict: true, linger: true },
    '--client-smtp-config',
  );
  ctx.warnings.push(...client.unknown);
  const clientAuth = opts.get('client-auth');
  return {
    forwardTo,
    forwardAtStart: opts.has('forward'),
    forwardOnDisconnect: opts.has('forward-on-disconnect'),
    forwardOnCommit: opts.has('forward-on-commit'),
    pollSeconds: readSeconds(opts, 'poll', 0),
    immediate: opts.has('immediate'),
    forwardToSome: opts.has('forward-to-some'),
    oneShot: opts.has('dont-serve') && !opts.has('poll'),
    clientInterface: opts.get('client-interface'),
    connectionTimeout: readSeconds(opts, 'connection-timeout', 40, false),
    responseTimeout: readSeconds(opts, 'response-timeout', 1800, false),
    promptTimeout: readSeconds(opts, 'prompt-timeout', 20, false),
    clientSmtp: client.switches,
    clientTls: readClientTls(opts, ctx.baseDir),
    clientAuth: clientAuth && !clientAuth.startsWith('plain:') ? path.resolve(ctx.baseDir, clientAuth) : clientAuth,
    clientAuthConfig: opts.get('client-auth-config'),
    retry: readRetry(opts),
    forwardConnections: readWholeNumber(opts, 'forward-connections', 1, 1, 64),
    forwardFromMailbox: opts.has('forward-from-mailbox'),
    oauthAuthority: readAuthority(opts, 'oauth-authority', 'https://login.microsoftonline.com', 'https://login.microsoftonline.us'),
    oauthGoogleAuthority: readAuthority(opts, 'oauth-google-authority', 'https://oauth2.googleapis.com', 'https://oauth2.googleapis.com'),
  };
}
