// The provider dialogue corpus (test/fixtures/providers/*.json) replayed against relaybox: for each
// provider profile, one relay forwards a pre-filled spool holding one message per kind of secrets
// line (password, static "client oauth", and the grant lines that make sense for that provider)
// over STARTTLS to test/lib/provider-replay.ts playing the profile. Each message must either arrive,
// signed in with the mechanism the client-auth rules choose, or fail with a reason a person can act
// on. The results are written to test-output/provider-matrix.md (profile x secrets kind).
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { testPki } from '../lib/certs';
import { removeDir, tempDir } from '../lib/relay';
import { startStandIn, SCOPE_GOOGLE, SCOPE_SMTP_DELEGATED, type StandIn } from '../lib/oauth-standin';
import { loadProfile, offeredMechanisms, profileNames, startReplay, type InjectAt, type ProviderProfile, type ReplayServer } from '../lib/provider-replay';
import { cleanup, filesEnding, makeMessage, reasonsIn, relayFor, waitUntil, writeSpooled } from './forward-util';
import { appCertificate, caEnv, serviceAccountKey } from './oauth-util';

type Kind = 'password' | 'static-oauth' | 'oauth-ms-secret' | 'oauth-ms-cert' | 'oauth-google-sa' | 'oauth-refresh';
const KINDS: Kind[] = ['password', 'static-oauth', 'oauth-ms-secret', 'oauth-ms-cert', 'oauth-google-sa', 'oauth-refresh'];
const PASSWORD_ORDER = ['CRAM-SHA512', 'CRAM-SHA256', 'CRAM-SHA1', 'CRAM-MD5', 'PLAIN', 'LOGIN'];
const TOKEN_MECHANISMS = ['XOAUTH2', 'OAUTHBEARER'];
const TENANT = 'contoso.test';
const APP_SECRET = 'Xy8Q~s3cr3t.Value_-9';
const PASSWORD = 'app-password-1';

const domainOf = (p: ProviderProfile) =>
  p.accepts.token.issuer === 'microsoft' ? 'contoso.test' : p.accepts.token.issuer === 'google' ? 'example.org' : 'example.net';
/** Each kind signs in as its own mailbox, so that every AUTH the server saw can be told apart. */
const mailbox = (p: ProviderProfile, kind: Kind) => `${kind}@${domainOf(p)}`;

interface Expectation {
  mechanism?: string;
  /** Every pattern must match the reason on the waiting message. */
  reason?: RegExp[];
  code?: string;
  deferred?: boolean;
}

/** The client-auth rules of client-auth-spec.md, applied to what the profile offers and accepts. */
function expectation(p: ProviderProfile, kind: Kind, passwordsAllowed: boolean): Expectation {
  const offered = offeredMechanisms(p.ehloAfterTls);
  const nothingFits = (account: RegExp): Expectation => ({ reason: [...offered.map((m) => new RegExp(`\\b${m}\\b`)), account] });
  if (kind === 'password') {
    const order = PASSWORD_ORDER.filter((m) => offered.includes(m));
    if (!order.length) return nothingFits(/password/i);
    if (!passwordsAllowed) {
      const refusal = p.accepts.password.refusedWith![0]!.line;
      const reason = [new RegExp(refusal.split(' ')[1]!.replace(/\./g, '\\.'))];
      // Microsoft's "basic authentication is disabled" means passwords are over: the advice must say
      // which OAuth2 line to write instead (issue 13: "use an oauth-ms-* line").
      if (/basic authentication is disabled/i.test(refusal)) reason.push(/oauth-ms-|oauth-refresh/);
      return { reason, code: refusal.slice(0, 3) };
    }
    const ok = order.find((m) => p.accepts.password.mechanisms.includes(m));
    if (ok) return { mechanism: ok };
    const last = p.mechanisms[order.at(-1)!]!.fail!.at(-1)!.line;
    return { reason: [new RegExp(last.slice(4, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))], code: last.slice(0, 3) };
  }
  const mech = TOKEN_MECHANISMS.find((m) => offered.includes(m));
  if (!mech) return nothingFits(/oauth|token/i);
  if (p.accepts.token.mechanisms.includes(mech)) return { mechanism: mech };
  return { reason: [/535/] };
}

function kindsFor(p: ProviderProfile): Kind[] {
  return KINDS.filter((k) => k === 'password' || k === 'static-oauth' || p.accepts.grants.includes(k));
}

// ---- shared credentials: one OAuth stand-in, one app certificate, one service-account key ----

let standIn: StandIn;
let work: string;

before(async () => {
  standIn = await startStandIn();
  work = tempDir('relaybox-providers-');
  const { certPem } = appCertificate(work);
  serviceAccountKey(work, standIn);
  const msBoxes = KINDS.map((k) => `${k}@contoso.test`);
  for (const k of KINDS) standIn.users.add(`${k}@contoso.test`).add(`${k}@example.org`);
  standIn.microsoftApps.set('app-1', { tenant: TENANT, secret: APP_SECRET, smtpMailboxes: msBoxes });
  standIn.microsoftApps.set('app-cert', { tenant: TENANT, certificate: certPem, smtpMailboxes: msBoxes });
  standIn.microsoftApps.set('pub-app', { tenant: TENANT, publicClient: true, smtpMailboxes: [] });
});

after(async () => {
  writeMatrix();
  await standIn?.close();
  if (work) removeDir(work);
});

function postForm(url: string, form: Record<string, string>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams(form).toString();
    const req = https.request(
      url,
      { method: 'POST', ca: testPki().ca, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A refresh-token file as `relaybox oauth login` writes it, got through the stand-in's device-code flow. */
async function refreshTokenFile(p: ProviderProfile, file: string): Promise<void> {
  const user = mailbox(p, 'oauth-refresh');
  const google = p.accepts.token.issuer === 'google';
  const base = google ? standIn.url : `${standIn.url}/${TENANT}/oauth2/v2.0`;
  const client: Record<string, string> = google ? { client_id: 'gclient', client_secret: 'gsecret' } : { client_id: 'pub-app' };
  const scope = google ? SCOPE_GOOGLE : SCOPE_SMTP_DELEGATED;
  const dev = await postForm(google ? `${base}/device/code` : `${base}/devicecode`, { ...client, scope });
  standIn.approve(String(dev.user_code), user);
  const tok = await postForm(`${base}/token`, { ...client, grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(dev.device_code) });
  assert.ok(tok.refresh_token, JSON.stringify(tok));
  writeFileSync(
    file,
    JSON.stringify({ provider: google ? 'google' : 'microsoft', token_url: `${base}/token`, ...client, scope, refresh_token: tok.refresh_token }),
    { mode: 0o600 },
  );
}

function staticBlob(user: string, token: string): string {
  return Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
}

async function secretsLines(p: ProviderProfile, kinds: Kind[], tag: string): Promise<string[]> {
  const out: string[] = [];
  for (const k of kinds) {
    const mb = mailbox(p, k);
    // The password account is the default one (no selector); the others are chosen by selector.
    if (k === 'password') out.push(`client plain ${mb} ${PASSWORD}`);
    if (k === 'static-oauth') out.push(`client oauth ${mb} ${staticBlob(mb, `static-${p.profile}`)} ${k}`);
    if (k === 'oauth-ms-secret') out.push(`client oauth-ms-secret ${mb} ${TENANT}:app-1:${APP_SECRET} ${k}`);
    if (k === 'oauth-ms-cert') out.push(`client oauth-ms-cert ${mb} ${TENANT}:app-cert:app.pem ${k}`);
    if (k === 'oauth-google-sa') out.push(`client oauth-google-sa ${mb} sa.json ${k}`);
    if (k === 'oauth-refresh') {
      const file = `${tag}.token`;
      await refreshTokenFile(p, path.join(work, file));
      out.push(`client oauth-refresh ${mb} ${file} ${k}`);
    }
  }
  return out;
}

// ---- the run: one relay per scenario, one spooled message per secrets kind ----

interface Outcome {
  kind: Kind;
  delivered?: { mechanism?: string };
  /** deferred: waiting for a retry (4xx); parked: .bad (the message was refused); neither: a refused session, the message waits. */
  failed?: { reason: string; code: string; deferred: boolean; parked: boolean };
  /** Mechanisms the server saw from this account, in order, with + for accepted. */
  seen: string[];
  expected: Expectation;
}

const matrix = new Map<string, Map<Kind, Outcome>>();

interface Scenario {
  label: string;
  profile: string;
  kinds?: Kind[];
  passwordsAllowed?: boolean;
  staticTokenValid?: boolean;
  inject?: { at: InjectAt; error: string; close?: boolean };
  tlsArgs: string[];
}

const TLS_VARIANTS = [
  ['--client-tls'],
  ['--client-tls', '--client-tls-required'],
  () => ['--client-tls', '--client-tls-required', '--client-tls-verify', testPki().caFile],
] as const;

async function runScenario(t: TestContext, sc: Scenario): Promise<{ outcomes: Outcome[]; replay: ReplayServer }> {
  const defer = cleanup(t);
  const p = loadProfile(sc.profile);
  const kinds = sc.kinds ?? kindsFor(p);
  const tag = sc.label.replace(/[^A-Za-z0-9.-]+/g, '_');
  const passwordsAllowed = sc.passwordsAllowed ?? !p.accepts.password.refusedWith;
  const pki = testPki();
  const replay = await startReplay({
    profile: p,
    key: pki.serverKey,
    cert: pki.serverCert,
    standIn,
    passwordsAllowed,
    inject: sc.inject,
    passwords: { [mailbox(p, 'password')]: PASSWORD },
    staticTokens: sc.staticTokenValid === false ? {} : { [`static-${p.profile}`]: mailbox(p, 'static-oauth') },
  });
  defer(() => replay.close());
  const secrets = path.join(work, `secrets-${tag}`);
  writeFileSync(secrets, (await secretsLines(p, kinds, tag)).join('\n') + '\n', { mode: 0o600 });
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const ids = new Map<Kind, string>();
  kinds.forEach((k, i) => {
    const id = `emailrelay.1.1.${i + 1}`;
    ids.set(k, id);
    writeSpooled(spool, id, makeMessage(`${tag}-${k}`), k === 'password' ? {} : { clientAccountSelector: k });
  });
  const relay = await relayFor(
    defer,
    [
      '--forward-to',
      `127.0.0.1:${replay.port}`,
      '--forward',
      '--client-auth',
      secrets,
      '--oauth-authority',
      standIn.url,
      '--retry-delay',
      '60',
      '--verbose',
      ...sc.tlsArgs,
    ],
    { env: caEnv(), spool },
  );
  // The start-up run tries every spooled message once; afterwards nothing may be in flight.
  await relay.waitForLog('forwarding run finished', 30000);
  await waitUntil(() => !filesEnding(spool, '.busy').length, 'no message in flight', 10000);

  if (!sc.inject) assert.deepEqual(filesEnding(spool, '.bad'), [], 'a refused sign-in fails no message');
  const outcomes: Outcome[] = [];
  for (const k of kinds) {
    const id = ids.get(k)!;
    const user = mailbox(p, k);
    const seen = replay.sessions.flatMap((s) =>
      s.auth.filter((a) => a.user?.toLowerCase() === user.toLowerCase()).map((a) => `${a.mechanism}${a.ok ? '+' : ''}`),
    );
    const msg = replay.messages.find((m) => m.data.includes(`Subject: ${tag}-${k}\r\n`));
    const o: Outcome = { kind: k, seen, expected: expectation(p, k, passwordsAllowed) };
    if (msg) o.delivered = { mechanism: msg.mechanism };
    else {
      const bad = filesEnding(spool, '.bad').find((n) => n.startsWith(`${id}.`));
      const waiting = existsSync(path.join(spool, `${id}.envelope`)) ? `${id}.envelope` : undefined;
      const name = bad ?? waiting;
      const r = name ? reasonsIn(spool, name).at(-1) : undefined;
      // A refused sign-in fails no message (issue 16): it waits either way, and the relay's log says
      // whether it judged the refusal temporary (4xx) or a refused session that needs fixing.
      const refused = relay.logs.some((l) => l.id === id && l.msg === 'message deferred: the upstream refused the session');
      o.failed = {
        reason: r?.reason ?? '(not tried: the run stopped after another session failed)',
        code: r?.code ?? '',
        deferred: !bad && !refused,
        parked: !!bad,
      };
    }
    outcomes.push(o);
  }
  let row = matrix.get(sc.label);
  if (!row) matrix.set(sc.label, (row = new Map()));
  for (const o of outcomes) row.set(o.kind, o);
  return { outcomes, replay };
}

function assertOutcome(o: Outcome): void {
  const what = `${o.kind}: server saw [${o.seen.join(' ')}], ${o.delivered ? `delivered with ${o.delivered.mechanism}` : `failed: ${o.failed!.code} ${o.failed!.reason}`}`;
  // Never a password mechanism for an OAuth account, never a token mechanism for a password account.
  const mechs = o.seen.map((s) => s.replace(/\+$/, ''));
  if (o.kind === 'password') assert.ok(!mechs.some((m) => TOKEN_MECHANISMS.includes(m)), `a password was offered as a token: ${what}`);
  else assert.ok(!mechs.some((m) => PASSWORD_ORDER.includes(m)), `an OAuth account tried a password mechanism: ${what}`);
  const e = o.expected;
  if (e.mechanism) {
    assert.ok(o.delivered, `expected delivery with ${e.mechanism}; ${what}`);
    assert.equal(o.delivered.mechanism, e.mechanism, what);
    return;
  }
  assert.ok(o.failed, `expected a failure; ${what}`);
  assert.equal(o.failed.deferred, !!e.deferred, `${e.deferred ? 'expected a retry later (4xx)' : 'expected a refused session'}; ${what}`);
  for (const re of e.reason ?? []) assert.match(o.failed.reason, re, what);
  if (e.code) assert.equal(o.failed.code, e.code, what);
}

// ---- the corpus itself ----

test('every line of every provider fixture says where it comes from', () => {
  const names = profileNames();
  assert.ok(names.length >= 16, names.join(' '));
  for (const n of names) {
    const p = loadProfile(n);
    const walk = (x: unknown, at: string): void => {
      if (Array.isArray(x)) x.forEach((v, i) => walk(v, `${at}[${i}]`));
      else if (x && typeof x === 'object') {
        const o = x as Record<string, unknown>;
        if (typeof o.line === 'string') {
          assert.ok(typeof o.source === 'string' && /^(https?:\/\/|not found; modelled on |issue 13)/.test(o.source), `${n} ${at}: no source`);
          assert.ok(!/[\r\n]/.test(o.line) && o.line.length <= 512, `${n} ${at}: not one SMTP line`);
          return;
        }
        for (const [k, v] of Object.entries(o)) walk(v, `${at}.${k}`);
      }
    };
    walk(p, n);
    assert.ok(p.greeting[0]!.line.startsWith('220 '), `${n}: greeting`);
    assert.ok(p.ehloAfterTls.at(-1)!.line.startsWith('250 '), `${n}: last EHLO line`);
    assert.ok(
      p.ehloBeforeTls.some((l) => /^250[- ]STARTTLS$/.test(l.line)),
      `${n}: STARTTLS offered`,
    );
    for (const m of p.accepts.password.mechanisms) assert.ok(p.mechanisms[m]?.ok, `${n}: ${m} has no success reply`);
    for (const m of p.accepts.token.mechanisms) assert.ok(p.mechanisms[m]?.ok && p.mechanisms[m]?.fail, `${n}: ${m} replies`);
  }
  const gmail = loadProfile('gmail-smtp.gmail.com');
  assert.equal(gmail.ehloAfterTls.find((l) => l.line.includes('AUTH'))!.line, '250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH');
  assert.equal(
    Buffer.from(gmail.mechanisms.XOAUTH2!.errorChallenge!.line.slice(4), 'base64').toString(),
    '{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}',
  );
  assert.deepEqual(offeredMechanisms(loadProfile('m365-smtp.office365.com').ehloAfterTls), ['LOGIN', 'XOAUTH2']);
  assert.deepEqual(offeredMechanisms(loadProfile('m365-smtp.office365.com').ehloBeforeTls), []);
});

// ---- profile x secrets kind ----

profileNames().forEach((name, i) => {
  const v = TLS_VARIANTS[i % TLS_VARIANTS.length]!;
  const tlsArgs = typeof v === 'function' ? v() : [...v];
  test(`${name}: each kind of secrets line (${tlsArgs.join(' ')})`, async (t) => {
    const { outcomes, replay } = await runScenario(t, { label: name, profile: name, tlsArgs });
    assert.ok(replay.sessions.length > 0 && replay.sessions.every((s) => !s.auth.length || s.tls), 'AUTH only over TLS');
    for (const o of outcomes) assertOutcome(o);
  });
});

// ---- the unpleasant cases ----

test('Microsoft 365 tenant that still allows basic authentication: a password signs in with LOGIN', async (t) => {
  const { outcomes } = await runScenario(t, {
    label: 'm365-smtp.office365.com (basic auth on)',
    profile: 'm365-smtp.office365.com',
    kinds: ['password'],
    passwordsAllowed: true,
    tlsArgs: ['--client-tls', '--client-tls-required'],
  });
  assertOutcome(outcomes[0]!);
  assert.equal(outcomes[0]!.delivered?.mechanism, 'LOGIN');
});

test("Microsoft 365, a refused static token: 535 5.7.3, parked with the server's reply, no password tried", async (t) => {
  const { outcomes } = await runScenario(t, {
    label: 'm365-smtp.office365.com (static token refused)',
    profile: 'm365-smtp.office365.com',
    kinds: ['static-oauth'],
    staticTokenValid: false,
    tlsArgs: ['--client-tls'],
  });
  const o = outcomes[0]!;
  o.expected = { reason: [/5\.7\.3/], code: '535' };
  assertOutcome(o);
  assert.deepEqual(o.seen, ['XOAUTH2']);
});

test('Gmail, a refused token: the 334 JSON challenge is answered with an empty line, then 535 5.7.8 parks the message', async (t) => {
  const { outcomes, replay } = await runScenario(t, {
    label: 'gmail-smtp.gmail.com (static token refused)',
    profile: 'gmail-smtp.gmail.com',
    kinds: ['static-oauth'],
    staticTokenValid: false,
    tlsArgs: ['--client-tls'],
  });
  const o = outcomes[0]!;
  o.expected = { reason: [/5\.7\.8/], code: '535' };
  assertOutcome(o);
  const tried = replay.sessions.flatMap((s) => s.auth);
  assert.ok(tried.length >= 1 && tried.every((a) => TOKEN_MECHANISMS.includes(a.mechanism)), JSON.stringify(tried));
  for (const a of tried) assert.equal(a.challengeAnswer, a.mechanism === 'OAUTHBEARER' ? 'AQ==' : '', `answer to the error challenge after ${a.mechanism}`);
});

test('Gmail 454 4.7.0 (too many login attempts): the message waits for a retry, with the reason', async (t) => {
  const { outcomes } = await runScenario(t, {
    label: 'gmail-smtp.gmail.com (454 4.7.0)',
    profile: 'gmail-smtp.gmail.com',
    kinds: ['password'],
    inject: { at: 'AUTH', error: '4.7.0-login' },
    tlsArgs: ['--client-tls'],
  });
  const o = outcomes[0]!;
  o.expected = { reason: [/4\.7\.0/, /Too many login attempts/], code: '454', deferred: true };
  assertOutcome(o);
});

test('smtp-relay.gmail.com 421 4.7.0 at EHLO: the message waits for a retry, with the reason', async (t) => {
  const { outcomes } = await runScenario(t, {
    label: 'workspace-smtp-relay.gmail.com (421 4.7.0)',
    profile: 'workspace-smtp-relay.gmail.com',
    kinds: ['password'],
    inject: { at: 'EHLO', error: '4.7.0-ehlo', close: true },
    tlsArgs: ['--client-tls'],
  });
  const o = outcomes[0]!;
  o.expected = { reason: [/421/, /4\.7\.0/], deferred: true };
  assertOutcome(o);
});

test('Microsoft 365 550 5.7.60 SendAsDenied after signing in with a grant: parked with advice', async (t) => {
  const { outcomes } = await runScenario(t, {
    label: 'm365-smtp.office365.com (5.7.60)',
    profile: 'm365-smtp.office365.com',
    kinds: ['oauth-ms-secret'],
    inject: { at: 'DATA-END', error: '5.7.60' },
    tlsArgs: ['--client-tls'],
  });
  const o = outcomes[0]!;
  o.expected = { reason: [/5\.7\.60/, /--forward-from-mailbox/], code: '550' };
  assertOutcome(o);
  assert.deepEqual(o.seen, ['XOAUTH2+']);
});

// ---- the table for the closing note ----

function writeMatrix(): void {
  if (!matrix.size) return;
  const short = (s: string) => (s.length > 110 ? `${s.slice(0, 107)}...` : s).replace(/\|/g, '\\|');
  const cell = (o: Outcome | undefined): string => {
    if (!o) return '—';
    const got = o.delivered
      ? `**${o.delivered.mechanism ?? 'no AUTH'}**`
      : `${o.failed!.deferred ? 'retried later' : o.failed!.parked ? 'fails' : 'refused, waits'}: ${o.failed!.code} ${short(o.failed!.reason)}`;
    const e = o.expected;
    const ok = e.mechanism
      ? o.delivered?.mechanism === e.mechanism
      : !!o.failed && o.failed.deferred === !!e.deferred && (e.reason ?? []).every((re) => re.test(o.failed!.reason));
    return ok ? got : `✗ ${got} (expected ${e.mechanism ?? `failure matching ${(e.reason ?? []).map(String).join(' ')}`})`;
  };
  const rows = [...matrix.entries()].map(([label, row]) => `| ${label} | ${KINDS.map((k) => cell(row.get(k))).join(' | ')} |`);
  const text = [
    '# Provider profile x secrets kind (test/integration/provider-dialogues.test.ts)',
    '',
    'Bold: delivered, signed in with that mechanism. "fails": parked as .bad with that reason. "refused, waits": the sign-in was refused for good; no message fails, the queue waits (with the back-off) until the account is fixed. "retried later": 4xx, waiting for a retry. ✗: not what client-auth-spec.md expects. —: not applicable to this provider.',
    '',
    `| profile | ${KINDS.join(' | ')} |`,
    `|---|${KINDS.map(() => '---').join('|')}|`,
    ...rows,
    '',
  ].join('\n');
  const dir = path.resolve(__dirname, '../../test-output');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'provider-matrix.md'), text);
}
