// The test mail: the forwarding path tried step by step against the configured upstream, with the
// relay's own parts (openUpstream with an observer, the client-auth rules, the token sources, Graph).
// The mail goes straight to the upstream, not through the spool. Each step says what happened and,
// when it failed, what to change (failure-advice.ts). `relaybox check` and the status page use this.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import * as path from 'node:path';
import pino from 'pino';
import type { SpoolConfig } from '../spool/config';
import type { Log } from '../log';
import { RelayEvents } from '../events/relay-events';
import { newEnvelope } from '../spool/envelope';
import { createClientLogin, type ClientLogin } from '../forward/client-auth';
import { openUpstream, type SessionObserver, type TlsInfo, type Upstream, type UpstreamConfig } from '../forward/upstream';
import { graphScope, openGraphUpstream } from '../forward/graph';
import { TokenSources } from '../forward/oauth/tokens';
import { SCOPE_OUTLOOK_APP } from '../forward/oauth/grants';
import { findClientAccount, isInlineClientAuth, readSecretsFile } from '../auth/secrets';
import type { ForwardTarget } from '../net/target';
import { failureAdvice, splitAdvice, tlsWarning, type AdviceContext, type StepName } from './failure-advice';

/** What the test mail reads: an upstream session's settings, and the spool (for the sign-in files). */
export type TestMailConfig = UpstreamConfig & SpoolConfig;

export type StepStatus = 'ok' | 'warning' | 'failed' | 'skipped';

export interface Step {
  name: StepName;
  status: StepStatus;
  detail: string;
  advice?: string;
}

export interface TestMailRequest {
  to: string;
  /** The sender; default: the mailbox relaybox signs in as. */
  from?: string;
}

export interface TestMailOptions {
  /** How the person knows the config file (shown in advice). */
  configFile?: string;
  /** The relay's log; a probe from the command line logs nothing. */
  log?: Log;
  /** Called once the secrets file has been read, before anything is sent (the command line drops root here). */
  afterSecretsRead?(): void;
  /** The relay's events, so that the status page shows the session a test mail opened. */
  events?: RelayEvents;
}

/** A probe waits at most this long for each thing (the status page's visitor is waiting). */
const PROBE_TIMEOUT_SECONDS = 15;
const ADDRESS = /^[^\s@<>()",;:\\]{1,64}@[A-Za-z0-9.-]{1,253}$|^[^\s@<>()",;:\\]{1,64}@\[[0-9A-Fa-f:.]{2,45}\]$/;

export function isMailAddress(text: string): boolean {
  return text.length <= 254 && ADDRESS.test(text);
}

function testMessage(cfg: TestMailConfig, from: string, to: string, target: ForwardTarget): Buffer {
  const domain = /^[A-Za-z0-9.-]+$/.test(cfg.domain) ? cfg.domain : 'relaybox.invalid';
  const lines = [
    `From: <${from}>`,
    `To: <${to}>`,
    'Subject: relaybox test mail',
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <test-${randomBytes(8).toString('hex')}@${domain}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `This is a test mail from relaybox on ${domain}, sent through ${target.text}.`,
    'If you can read it, the box can send mail.',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** What a session showed the observer, for telling which step a failure belongs to. */
class SessionRecord implements SessionObserver {
  remote?: string;
  tlsSeen = false;
  tlsInfo: TlsInfo | null = null;
  mechanism?: string | null;
  readonly lines: { from: 'server' | 'client'; text: string }[] = [];
  /** Index in `lines` where the mail transaction starts (after sign-in). */
  transactionStart = 0;

  connected(remote: string): void {
    this.remote ??= remote;
  }
  dialogue(from: 'server' | 'client', text: string): void {
    if (this.lines.length < 200) this.lines.push({ from, text: text.replace(/\r?\n/g, ' | ') });
  }
  tls(info: TlsInfo | null): void {
    this.tlsSeen = true;
    this.tlsInfo = info;
  }
  signedIn(mechanism: string | null): void {
    this.mechanism = mechanism;
    this.transactionStart = this.lines.length;
  }
  greeting(): string | undefined {
    return this.lines.find((l) => l.from === 'server')?.text;
  }
  /** The replies to MAIL, RCPT and DATA, in order (replies come in the order of the commands). */
  transactionReplies(): Map<StepName, string> {
    const pending: (StepName | null)[] = [];
    const replies = new Map<StepName, string>();
    for (const l of this.lines.slice(this.transactionStart)) {
      if (l.from === 'client') {
        if (l.text === '.') continue;
        pending.push(
          /^MAIL FROM/i.test(l.text) ? 'MAIL FROM accepted' : /^RCPT TO/i.test(l.text) ? 'RCPT TO accepted' : /^DATA$/i.test(l.text) ? 'DATA accepted' : null,
        );
        continue;
      }
      const step = pending.shift();
      if (!step) continue;
      replies.set(step, l.text);
      if (step === 'DATA accepted' && /^354/.test(l.text)) pending.unshift('DATA accepted');
    }
    return replies;
  }
}

const TLS_TROUBLE = /certificate|ssl|tls|wrong version|handshake|EPROTO|self[- ]signed|altnames|unable to (verify|get)/i;

function tlsDetail(info: TlsInfo): string {
  const cert = [
    [info.subject && `certificate for ${info.subject}`, info.issuer && `from ${info.issuer}`].filter(Boolean).join(' '),
    info.validTo && `valid until ${info.validTo}`,
  ]
    .filter(Boolean)
    .join(', ');
  const verified = info.checked ? 'verified' : info.verified ? 'not checked (it would pass)' : `not checked (it would fail: ${info.verifyError})`;
  return `${info.version}${cert ? `, ${cert}` : ''}; certificate ${verified}`;
}

class Steps {
  readonly list: Step[] = [];
  constructor(private readonly ctx: AdviceContext) {}
  ok(name: StepName, detail: string): void {
    this.list.push({ name, status: 'ok', detail });
  }
  warn(name: StepName, detail: string, advice: string | undefined): void {
    this.list.push({ name, status: advice ? 'warning' : 'ok', detail, ...(advice ? { advice } : {}) });
  }
  skip(name: StepName, detail: string): void {
    this.list.push({ name, status: 'skipped', detail });
  }
  fail(name: StepName, message: string, response?: string): Step[] {
    const advice = failureAdvice(name, { message, response }, this.ctx);
    this.list.push({ name, status: 'failed', detail: splitAdvice(message).detail, ...(advice ? { advice } : {}) });
    return this.list;
  }
}

function tlsModeWords(cfg: TestMailConfig): string {
  const t = cfg.clientTls;
  if (t.mode === 'implicit') return 'TLS from the first byte';
  if (t.mode === 'starttls') return t.required ? 'STARTTLS, required' : 'STARTTLS when offered';
  return 'no TLS';
}

/** Runs the steps; never throws (a failure is a failed step). */
export async function runTestMail(cfg: TestMailConfig, req: TestMailRequest, opts: TestMailOptions = {}): Promise<Step[]> {
  const log = opts.log ?? pino({ level: 'silent' });
  const target = cfg.forwardTo;
  const probeCfg: TestMailConfig = {
    ...cfg,
    connectionTimeout: Math.min(cfg.connectionTimeout, PROBE_TIMEOUT_SECONDS),
    promptTimeout: Math.min(cfg.promptTimeout, PROBE_TIMEOUT_SECONDS),
    responseTimeout: Math.min(cfg.responseTimeout, PROBE_TIMEOUT_SECONDS * 2),
  };
  const ctx: AdviceContext = {
    configFile: opts.configFile ?? 'relaybox.conf',
    tlsMode: cfg.clientTls.mode,
    hostChecked: cfg.clientTls.verifyHost,
    to: req.to,
    ...(target?.kind === 'tcp' ? { host: target.host, port: target.port } : {}),
  };
  const steps = new Steps(ctx);
  if (!target) {
    steps.list.push({
      name: 'settings',
      status: 'failed',
      detail: 'no upstream server is configured',
      advice: `Name the provider's server in ${ctx.configFile}, for example: forward-to smtp.office365.com:587`,
    });
    return steps.list;
  }
  let login: ClientLogin | null = null;
  const tokens = new TokenSources(
    {
      authority: cfg.oauthAuthority,
      microsoftScope: target.kind === 'graph' ? graphScope(target.baseUrl) : SCOPE_OUTLOOK_APP,
      now: Date.now,
      warn: (m) => log.warn(m),
      expiry: opts.events ? (name, at) => opts.events!.setExpiry(name, at) : undefined,
    },
    path.join(cfg.spoolDir, '.relaybox'),
    log,
  );
  if (cfg.clientAuth) {
    try {
      login = createClientLogin(
        cfg.clientAuth,
        cfg.clientAuthConfig,
        { info: () => undefined, warn: (m) => log.warn(m), error: (m) => log.error(m) },
        '',
        tokens,
      );
    } catch (e) {
      steps.list.push({
        name: 'settings',
        status: 'failed',
        detail: (e as Error).message,
        advice: `Fix the secrets file named by client-auth in ${ctx.configFile} (the line the message names).`,
      });
      return steps.list;
    }
    if (!isInlineClientAuth(cfg.clientAuth)) {
      ctx.secretsFile = cfg.clientAuth;
      ctx.secretsLine = findClientAccount(readSecretsFile(cfg.clientAuth).secrets)?.line || undefined;
    }
    ctx.mailbox = login.mailbox();
    ctx.grant = login.grant()?.type;
  }
  opts.afterSecretsRead?.();
  const from = req.from || ctx.mailbox;
  ctx.from = from;
  if (!isMailAddress(req.to)) {
    steps.list.push({
      name: 'settings',
      status: 'failed',
      detail: `"${req.to.slice(0, 100)}" is not a mail address`,
      advice: 'Type the whole address the test mail should go to, like name@example.com.',
    });
    return steps.list;
  }
  if (!from || !isMailAddress(from)) {
    steps.list.push({
      name: 'settings',
      status: 'failed',
      detail: from ? `"${from.slice(0, 100)}" is not a mail address` : 'no sender: the account does not sign in as a mail address',
      advice: 'Give a sender address that the upstream lets this box send as: the From field on the status page, or --from with relaybox check.',
    });
    return steps.list;
  }
  const account = ctx.mailbox
    ? `sign in as ${ctx.mailbox}${ctx.grant ? ` (${ctx.grant})` : ''}`
    : login
      ? 'sign in with the client line'
      : 'no sign-in (no client-auth)';
  steps.ok('settings', `forward to ${target.text}${target.kind === 'graph' ? '' : ` (${tlsModeWords(cfg)})`}; ${account}; from ${from} to ${req.to}`);
  const message = testMessage(cfg, from, req.to, target);
  const env = newEnvelope({ from, toRemote: [req.to], content: '7bit' });

  if (target.kind === 'graph') return graphSteps(probeCfg, target, login, tokens, log, steps, env, message);

  if (target.kind === 'tcp') {
    if (target.socks) {
      steps.skip('name resolved', `${target.host} is looked up by the SOCKS proxy ${target.socks.host}:${target.socks.port}`);
    } else if (isIP(target.host)) {
      steps.ok('name resolved', `${target.host} is an address: nothing to look up`);
    } else {
      try {
        const found = await Promise.race([
          lookup(target.host, { all: true }),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_SECONDS} s (ETIMEOUT)`)), PROBE_TIMEOUT_SECONDS * 1000).unref(),
          ),
        ]);
        steps.ok('name resolved', `${target.host} is ${found.map((a) => a.address).join(', ')}`);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        return steps.fail('name resolved', `cannot look up ${target.host}: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' '));
      }
    }
  }

  const record = new SessionRecord();
  let upstream: Upstream;
  try {
    upstream = await openUpstream(probeCfg, target, login, log, opts.events ?? new RelayEvents(), record);
  } catch (e) {
    const err = e as Error & { response?: string };
    return failedOpen(steps, record, cfg, target, err.message, err.response);
  }
  try {
    sessionSteps(steps, record, cfg, target, ctx);
    let failure: (Error & { response?: string }) | undefined;
    let result: Awaited<ReturnType<Upstream['send']>> | undefined;
    try {
      result = await upstream.send(env, message, true);
    } catch (e) {
      failure = e as Error & { response?: string };
    }
    const replies = record.transactionReplies();
    for (const name of ['MAIL FROM accepted', 'RCPT TO accepted', 'DATA accepted'] as const) {
      const reply = replies.get(name);
      const refused = name === 'RCPT TO accepted' ? result?.rejected[0]?.response : undefined;
      if (reply && /^[23]/.test(reply) && !refused) {
        steps.ok(name, reply);
        continue;
      }
      const refusal = refused ?? (reply && !/^[23]/.test(reply) ? reply : undefined);
      if (refusal || failure) return steps.fail(name, refusal ?? failure!.message, refusal ?? failure?.response);
      steps.skip(name, 'not reached');
    }
    return steps.list;
  } finally {
    upstream.close();
  }
}

/** The steps of a session that opened: connected, greeting, TLS, logged in. */
function sessionSteps(steps: Steps, record: SessionRecord, cfg: TestMailConfig, target: ForwardTarget, ctx: AdviceContext): void {
  const via = target.kind === 'tcp' && target.socks ? ` (the SOCKS proxy, which connected to ${target.host}:${target.port})` : '';
  steps.ok('connected', `${record.remote ?? target.text}${via}`);
  steps.ok('greeting', record.greeting() ?? '(none)');
  const tlsAdvice = tlsWarning(record.tlsInfo, ctx);
  steps.warn(
    'TLS',
    record.tlsInfo ? tlsDetail(record.tlsInfo) : cfg.clientTls.mode === 'none' ? 'not used (no client-tls)' : 'not used: the server did not offer STARTTLS',
    tlsAdvice,
  );
  if (record.mechanism) steps.ok('logged in', `as ${ctx.mailbox ?? "the client line's user"} with AUTH ${record.mechanism}`);
  else steps.skip('logged in', 'no sign-in: there is no client-auth');
}

/** openUpstream failed: which step, told by how far the session got. */
function failedOpen(steps: Steps, record: SessionRecord, cfg: TestMailConfig, target: ForwardTarget, message: string, response?: string): Step[] {
  const implicit = cfg.clientTls.mode === 'implicit';
  if (record.tlsSeen) {
    // The session was up: the sign-in failed.
    steps.ok('connected', record.remote ?? target.text);
    steps.ok('greeting', record.greeting() ?? '(none)');
    steps.warn('TLS', record.tlsInfo ? tlsDetail(record.tlsInfo) : 'not used', undefined);
    return steps.fail('logged in', message, response);
  }
  if (!record.remote) {
    if (implicit && TLS_TROUBLE.test(message)) {
      steps.ok('connected', `${target.text} (the TLS handshake then failed)`);
      return steps.fail('TLS', message, response);
    }
    return steps.fail('connected', message, response);
  }
  steps.ok('connected', record.remote);
  const greeting = record.greeting();
  if (!greeting) return steps.fail('greeting', message, response);
  steps.ok('greeting', greeting);
  const askedTls = record.lines.some((l) => l.from === 'client' && /^STARTTLS/i.test(l.text));
  if (cfg.clientTls.mode !== 'none' && (askedTls || TLS_TROUBLE.test(message))) return steps.fail('TLS', message, response);
  return steps.fail('greeting', message, response);
}

async function graphSteps(
  cfg: TestMailConfig,
  target: Extract<ForwardTarget, { kind: 'graph' }>,
  login: ClientLogin | null,
  tokens: TokenSources,
  log: Log,
  steps: Steps,
  env: ReturnType<typeof newEnvelope>,
  message: Buffer,
): Promise<Step[]> {
  const grant = login?.grant();
  if (!login || !grant || grant.type === 'oauth-google-sa') {
    return steps.fail('token obtained', 'forwarding through Microsoft Graph needs an oauth-ms-secret, oauth-ms-cert or oauth-refresh line in the secrets file');
  }
  try {
    const token = await tokens.for(grant).get();
    steps.ok('token obtained', `for ${grant.mailbox} (${grant.type}), valid until ${new Date(token.expiresAt).toISOString()}`);
  } catch (e) {
    return steps.fail('token obtained', (e as Error).message);
  }
  let upstream: Upstream | undefined;
  try {
    upstream = await openGraphUpstream(cfg, target, login, tokens, log);
    const result = await upstream.send(env, message, true);
    steps.ok('sendMail accepted', result.response);
  } catch (e) {
    return steps.fail('sendMail accepted', (e as Error).message, (e as { response?: string }).response);
  } finally {
    upstream?.close();
  }
  return steps.list;
}
