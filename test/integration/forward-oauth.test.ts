// OAuth2 on SMTP (XOAUTH2) with tokens relaybox gets and refreshes itself, against HTTPS stand-ins
// for Microsoft's and Google's token endpoints and an SMTP upstream that checks every token:
// one end-to-end test per grant, refresh before expiry, the on-disk cache across restarts, a revoked
// cached token, `relaybox oauth login` (device code), and configuration errors that hold the queue (no message fails) with
// a reason that says what to fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BUNDLE } from '../lib/relay';
import { SCOPE_SMTP_DELEGATED, type StandIn } from '../lib/oauth-standin';
import { testPki } from '../lib/certs';
import {
  cleanup,
  deferredMessage,
  filesEnding,
  makeMessage,
  reasonsIn,
  relayFor,
  sendAll,
  sinkFor,
  spoolFiles,
  waitUntil,
  writeSpooled,
  FAST_RETRY,
} from './forward-util';
import { removeDir, tempDir } from '../lib/relay';
import { appCertificate, assertNotLogged, caEnv, oauthSinkFor, secretsFile, serviceAccountKey, standInFor, workDir } from './oauth-util';

const TENANT = 'contoso.test';
const MB = 'scanner@contoso.test';
const SECRET = 'Xy8Q~s3cr3t.Value_-9';

function relayArgs(sinkPort: number, secrets: string, authority: string, extra: string[] = []): string[] {
  return [
    '--forward-to',
    `127.0.0.1:${sinkPort}`,
    '--client-tls',
    '--forward-on-disconnect',
    '--client-auth',
    secrets,
    '--oauth-authority',
    authority,
    '--verbose',
    ...extra,
  ];
}

/**
 * Once the newest token is past its refresh point (a quarter of its lifetime before expiry), the
 * next message must go in a session signed in with a new token, not the old one.
 */
async function deliverAfterRefreshPoint(s: StandIn, sink: Awaited<ReturnType<typeof oauthSinkFor>>, port: number, tag: string): Promise<void> {
  const before = s.tokens.length;
  const last = s.tokens.at(-1)!;
  const lifetime = last.expiresAt - last.issuedAt;
  await waitUntil(() => Date.now() >= last.expiresAt - lifetime / 4 + 100, 'the token to reach its refresh point', lifetime + 5000);
  const delivered = sink.messages.length;
  await sendAll(port, [makeMessage(tag)]);
  await sink.waitFor(delivered + 1);
  assert.equal(s.tokens.length, before + 1, 'a new token was fetched');
  assert.equal(sink.uses.at(-1)!.token, s.tokens.at(-1)!.value, 'the new session used the new token');
  assert.ok(
    sink.uses.every((u) => u.ok),
    JSON.stringify(sink.uses.filter((u) => !u.ok)),
  );
}

function cacheFiles(spool: string): string[] {
  const dir = path.join(spool, '.relaybox', 'oauth');
  try {
    return readdirSync(dir).map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

test('Microsoft client credentials with a secret: XOAUTH2 as the mailbox, token cached 0600, refreshed before expiry', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.lifetimeSeconds = 4;
  s.users.add(MB);
  s.microsoftApps.set('app-1', { tenant: TENANT, secret: SECRET, smtpMailboxes: [MB] });
  const sink = await oauthSinkFor(defer, s);
  const dir = workDir(defer);
  const secrets = secretsFile(dir, [`client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`]);
  const relay = await relayFor(defer, relayArgs(sink.port, secrets, s.url), { env: caEnv() });

  await sendAll(relay.port, [makeMessage('ms-secret-1')]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.user, MB);
  assert.equal(sink.uses.length, 1);
  assert.ok(sink.uses[0]!.ok, sink.uses[0]!.why);
  const cache = cacheFiles(relay.spool);
  assert.equal(cache.length, 1, 'one token cache file in <spool>/.relaybox/oauth');
  assert.equal(statSync(cache[0]!).mode & 0o777, 0o600);
  assert.equal(JSON.parse(readFileSync(cache[0]!, 'utf8')).access_token, s.tokens[0]!.value);

  // Past the first token's refresh point (a quarter of its lifetime before expiry): the next
  // session must come with a new token, not the old one.
  const first = s.tokens[0]!;
  await waitUntil(() => Date.now() >= first.issuedAt + 3100, 'the first token to reach its refresh point', 8000);
  await sendAll(relay.port, [makeMessage('ms-secret-2')]);
  await sink.waitFor(2);
  assert.equal(s.tokens.length, 2, 'a second token was fetched');
  assert.equal(sink.uses.at(-1)!.token, s.tokens[1]!.value);
  assert.ok(
    sink.uses.every((u) => u.ok),
    JSON.stringify(sink.uses.filter((u) => !u.ok)),
  );
  assert.deepEqual(
    s.tokenRequests.map((r) => [r.grant, r.status]),
    [
      ['client_credentials', 200],
      ['client_credentials', 200],
    ],
  );
  await waitUntil(() => spoolFiles(relay.spool).filter((n) => n !== '.relaybox').length === 0, 'an empty spool');
  assertNotLogged(relay, [SECRET, ...s.tokens.map((x) => x.value)]);
});

test('a queue that outlives its token: sessions the upstream ends mid-queue sign in again with a refreshed token', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.lifetimeSeconds = 2;
  s.users.add(MB);
  s.microsoftApps.set('app-1', { tenant: TENANT, secret: SECRET, smtpMailboxes: [MB] });
  // A slow upstream that ends each session after two messages: eight messages take four sessions
  // and longer than one token lives.
  const sink = await oauthSinkFor(defer, s, { closeAfterMessages: 2, dataDelayMs: 350 });
  const dir = workDir(defer);
  const secrets = secretsFile(dir, [`client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`]);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  for (let i = 1; i <= 8; i++) writeSpooled(spool, `emailrelay.1.1.${i}`, makeMessage(`queue-${i}`));
  await relayFor(defer, relayArgs(sink.port, secrets, s.url, ['--forward', '--forward-connections', '1', ...FAST_RETRY]), { env: caEnv(), spool });
  await sink.waitFor(8, 30000);
  assert.ok(sink.uses.length >= 4, `${sink.uses.length} sign-ins`);
  assert.ok(
    sink.uses.every((u) => u.ok),
    JSON.stringify(sink.uses.filter((u) => !u.ok)),
  );
  assert.ok(s.tokens.length >= 2, `${s.tokens.length} token(s): refreshed in the middle of the queue`);
  assert.ok(new Set(sink.uses.map((u) => u.token)).size >= 2, 'later sessions used a newer token');
  assert.deepEqual(filesEnding(spool, '.bad'), []);
});

test('the token cache survives a restart; a revoked cached token is replaced once and the message still goes', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.users.add(MB);
  s.microsoftApps.set('app-1', { tenant: TENANT, secret: SECRET, smtpMailboxes: [MB] });
  const sink = await oauthSinkFor(defer, s);
  const dir = workDir(defer);
  const secrets = secretsFile(dir, [`client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`]);
  const first = await relayFor(defer, relayArgs(sink.port, secrets, s.url), { env: caEnv(), keepSpool: true });
  const spool = first.spool;
  await sendAll(first.port, [makeMessage('cache-1')]);
  await sink.waitFor(1);
  await first.stop();

  const second = await relayFor(defer, relayArgs(sink.port, secrets, s.url), { env: caEnv(), spool, keepSpool: true });
  await sendAll(second.port, [makeMessage('cache-2')]);
  await sink.waitFor(2);
  assert.equal(s.tokens.length, 1, 'the restarted relay used the token from its disk cache');
  await second.stop();

  s.tokens[0]!.revoked = true;
  const third = await relayFor(defer, relayArgs(sink.port, secrets, s.url), { env: caEnv(), spool });
  await sendAll(third.port, [makeMessage('cache-3')]);
  await sink.waitFor(3);
  await third.waitForLog('the upstream refused the cached access token: getting a new one');
  assert.equal(s.tokens.length, 2);
  assert.deepEqual(
    sink.uses.map((u) => u.ok),
    [true, true, false, true],
  );
  assert.deepEqual(filesEnding(spool, '.bad'), []);
});

test('Microsoft client credentials with a certificate: a signed client assertion (x5t) gets the token, and a new one after expiry', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.lifetimeSeconds = 4;
  s.users.add(MB);
  const dir = workDir(defer);
  const { pemFile, certPem } = appCertificate(dir);
  s.microsoftApps.set('app-cert', { tenant: TENANT, certificate: certPem, smtpMailboxes: [MB] });
  const sink = await oauthSinkFor(defer, s);
  const secrets = secretsFile(dir, [`client oauth-ms-cert ${MB} ${TENANT}:app-cert:app.pem`]);
  const relay = await relayFor(defer, relayArgs(sink.port, secrets, s.url), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('ms-cert')]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.user, MB);
  assert.deepEqual(s.tokenRequests, [{ grant: 'client_credentials', status: 200, error: undefined }]);
  assert.ok(readFileSync(pemFile, 'utf8').includes('PRIVATE KEY'));
  await deliverAfterRefreshPoint(s, sink, relay.port, 'ms-cert-2');
  assertNotLogged(
    relay,
    s.tokens.map((x) => x.value),
  );
});

test('Google service account with domain-wide delegation: JWT bearer grant acting as the user, 334/535 style upstream, refreshed', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.lifetimeSeconds = 4;
  const user = 'printer@example.org';
  s.users.add(user);
  const dir = workDir(defer);
  serviceAccountKey(dir, s);
  const sink = await oauthSinkFor(defer, s, { google: true });
  const secrets = secretsFile(dir, [`client oauth-google-sa ${user} sa.json`]);
  const relay = await relayFor(defer, relayArgs(sink.port, secrets, s.url), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('google-sa')]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.user, user);
  assert.equal(s.tokens[0]!.user, user);
  assert.deepEqual(
    s.tokenRequests.map((r) => r.status),
    [200],
  );
  await deliverAfterRefreshPoint(s, sink, relay.port, 'google-sa-2');
});

/** Runs `relaybox oauth login ...`, signs in at the stand-in as `user` once the code is shown. */
async function deviceLogin(
  s: Awaited<ReturnType<typeof standInFor>>,
  args: string[],
  user: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [BUNDLE, 'oauth', 'login', ...args], { env: { ...process.env, ...caEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  proc.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  const done = await Promise.race([
    waitUntil(() => s.pendingUserCodes().length > 0 && stdout.includes(s.pendingUserCodes()[0]!), 'the sign-in code on stdout', 15000).then(() => false),
    exited.then(() => true),
  ]);
  if (!done) s.approve(s.pendingUserCodes()[0]!, user);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
  const code = await exited;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test('refresh token from `relaybox oauth login` (Microsoft device code): used by an oauth-refresh line and rotated', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.users.add(MB);
  s.microsoftApps.set('pub-app', { tenant: TENANT, publicClient: true, smtpMailboxes: [] });
  const dir = workDir(defer);
  const tokenFile = path.join(dir, 'me.token');

  const bad = await deviceLogin(
    s,
    [
      '--provider',
      'microsoft',
      '--tenant',
      TENANT,
      '--client-id',
      'pub-app',
      '--authority',
      s.url,
      '--scope',
      'https://outlook.office.com/SMTP.Send',
      '--out',
      tokenFile,
    ],
    MB,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /the scope was refused/);

  const login = await deviceLogin(s, ['--provider', 'microsoft', '--tenant', TENANT, '--client-id', 'pub-app', '--authority', s.url, '--out', tokenFile], MB);
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /open the page https:\/\/127\.0\.0\.1:\d+\/devicelogin and enter the code/);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  const saved = JSON.parse(readFileSync(tokenFile, 'utf8'));
  assert.equal(saved.scope, SCOPE_SMTP_DELEGATED);

  s.lifetimeSeconds = 4;
  const sink = await oauthSinkFor(defer, s);
  const secrets = secretsFile(dir, [`client oauth-refresh ${MB} me.token`]);
  const relay = await relayFor(defer, relayArgs(sink.port, secrets, s.url), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('refresh-1')]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.user, MB);
  assert.equal(s.tokens.at(-1)!.kind, 'ms-user');
  const rotated = JSON.parse(readFileSync(tokenFile, 'utf8'));
  assert.notEqual(rotated.refresh_token, saved.refresh_token, 'the new refresh token was saved');
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  // The next refresh uses the rotated refresh token (the stand-in, like Microsoft, accepts each once).
  await deliverAfterRefreshPoint(s, sink, relay.port, 'refresh-2');
  assert.deepEqual(
    s.tokenRequests.filter((r) => r.grant === 'refresh_token').map((r) => r.status),
    [200, 200],
  );
  const again = JSON.parse(readFileSync(tokenFile, 'utf8'));
  assert.notEqual(again.refresh_token, rotated.refresh_token);
  assertNotLogged(relay, [saved.refresh_token, rotated.refresh_token, again.refresh_token]);
});

test('refresh token from `relaybox oauth login --provider google` (device code) used on a Google-style upstream', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const user = 'me@example.org';
  s.users.add(user);
  const dir = workDir(defer);
  const tokenFile = path.join(dir, 'g.token');
  writeFileSync(path.join(dir, 'client-secret'), 'gsecret\n', { mode: 0o600 });
  const login = await deviceLogin(
    s,
    [
      '--provider',
      'google',
      '--client-id',
      'gclient',
      '--client-secret-file',
      path.join(dir, 'client-secret'),
      '--device-url',
      `${s.url}/device/code`,
      '--token-url',
      `${s.url}/token`,
      '--out',
      tokenFile,
    ],
    user,
  );
  assert.equal(login.code, 0, login.stderr);
  s.lifetimeSeconds = 4;
  const sink = await oauthSinkFor(defer, s, { google: true });
  const secrets = secretsFile(dir, [`client oauth-refresh ${user} g.token`]);
  const relay = await relayFor(defer, relayArgs(sink.port, secrets, s.url), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('google-refresh')]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.user, user);
  await deliverAfterRefreshPoint(s, sink, relay.port, 'google-refresh-2');
  assert.equal(JSON.parse(readFileSync(tokenFile, 'utf8')).client_secret, 'gsecret');
});

const CONFIG_ERRORS: { name: string; setup: (s: Awaited<ReturnType<typeof standInFor>>) => void; line: string; reason: RegExp; code?: string }[] = [
  {
    name: 'a wrong client secret',
    setup: (s) => s.microsoftApps.set('app-1', { tenant: TENANT, secret: 'the-right-one', smtpMailboxes: [MB] }),
    line: `client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`,
    reason: /client secret is wrong: copy the secret's Value \(not its Secret ID\).*AADSTS7000215/,
  },
  {
    name: 'an expired client secret',
    setup: (s) => s.microsoftApps.set('app-1', { tenant: TENANT, secret: SECRET, secretExpired: true, smtpMailboxes: [MB] }),
    line: `client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`,
    reason: /client secret has expired: create a new one/,
  },
  {
    name: 'an unknown application id',
    setup: (s) => s.microsoftApps.set('app-1', { tenant: TENANT, secret: SECRET, smtpMailboxes: [MB] }),
    line: `client oauth-ms-secret ${MB} ${TENANT}:app-2:${SECRET}`,
    reason: /no application with this client id/,
  },
  {
    name: 'an app without FullAccess to the mailbox (535 5.7.3)',
    setup: (s) => s.microsoftApps.set('app-1', { tenant: TENANT, secret: SECRET, smtpMailboxes: [] }),
    line: `client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`,
    reason: /SMTP\.SendAsApp.*New-ServicePrincipal.*Add-MailboxPermission -Identity scanner@contoso\.test.*535 5\.7\.3/,
    code: '535',
  },
];

for (const c of CONFIG_ERRORS) {
  test(`configuration error, ${c.name}: the message waits with what to fix, nothing fails (issue 16)`, async (t) => {
    const defer = cleanup(t);
    const s = await standInFor(defer);
    s.users.add(MB);
    c.setup(s);
    const sink = await oauthSinkFor(defer, s);
    const dir = workDir(defer);
    const secrets = secretsFile(dir, [c.line]);
    const relay = await relayFor(defer, relayArgs(sink.port, secrets, s.url, ['--retry-delay', '60']), { env: caEnv() });
    await sendAll(relay.port, [makeMessage('config-error')]);
    await relay.waitForLog('message deferred: the upstream refused the session');
    const { reasons: r } = await deferredMessage(relay.spool);
    assert.deepEqual(filesEnding(relay.spool, '.bad'), [], 'a refused session fails no message');
    assert.equal(r.length, 1);
    assert.match(r[0]!.reason, c.reason);
    if (c.code) assert.equal(r[0]!.code, c.code);
    assert.equal(sink.messages.length, 0);
    // It waits for the back-off: one token request (and at most one AUTH) so far.
    assert.equal(s.tokenRequests.length, 1);
    assert.ok(sink.uses.length <= 1);
    assertNotLogged(relay, [SECRET]);
  });
}

test('550 5.7.60 SendAsDenied: parked with advice; with --forward-from-mailbox the message goes as the mailbox', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.users.add(MB);
  s.microsoftApps.set('app-1', { tenant: TENANT, secret: SECRET, smtpMailboxes: [MB] });
  const sink = await oauthSinkFor(defer, s, {
    data: (msg) => (msg.from === msg.user ? undefined : { code: 550, text: '5.7.60 SMTP; Client does not have permissions to send as this sender' }),
  });
  const dir = workDir(defer);
  const secrets = secretsFile(dir, [`client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`]);
  const plain = await relayFor(defer, relayArgs(sink.port, secrets, s.url), { env: caEnv() });
  await sendAll(plain.port, [makeMessage('send-as', { from: 'scanner3@device.lan' })]);
  await waitUntil(() => filesEnding(plain.spool, '.bad').length === 1, 'a .bad envelope');
  assert.match(
    reasonsIn(plain.spool, filesEnding(plain.spool, '.bad')[0]!)[0]!.reason,
    /may not send as this message's sender: turn on --forward-from-mailbox/,
  );

  const rewriting = await relayFor(defer, relayArgs(sink.port, secrets, s.url, ['--forward-from-mailbox']), { env: caEnv() });
  await sendAll(rewriting.port, [makeMessage('send-as-2', { from: 'scanner3@device.lan' })]);
  await sink.waitFor(1);
  const got = sink.messages[0]!;
  assert.equal(got.from, MB);
  const text = got.data.toString('latin1');
  assert.match(text, /^From: <scanner@contoso\.test>\r$/m);
  assert.match(text, /^Reply-To: <scanner3@device\.lan>\r$/m);
  assert.match(text, /This is message send-as-2\./);
});

test('E-MailRelay\'s static "client oauth" line still works: its XOAUTH2 string goes as it is, no token endpoint involved', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const seen: string[] = [];
  const sink = await sinkFor(defer, {
    tls: { key: pki.serverKey, cert: pki.serverCert },
    xoauth2: (user, token) => {
      seen.push(`${user} ${token}`);
      return user === MB && token === 'static-token-1' ? { ok: true } : { code: 535, text: '5.7.3 Authentication unsuccessful' };
    },
  });
  const dir = workDir(defer);
  const blob = Buffer.from(`user=${MB}\x01auth=Bearer static-token-1\x01\x01`).toString('base64');
  const secrets = secretsFile(dir, [`client oauth ${MB} ${blob}`]);
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--client-tls',
    '--forward-on-disconnect',
    '--client-auth',
    secrets,
    '--verbose',
  ]);
  await sendAll(relay.port, [makeMessage('static-oauth')]);
  await sink.waitFor(1);
  assert.deepEqual(seen, [`${MB} static-token-1`]);
  assert.equal(sink.messages[0]!.user, MB);
});

test("ClientAccountSelector with grant lines: each message signs in as its selector's mailbox, each with its own token", async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const other = 'frontdesk@contoso.test';
  s.users.add(MB).add(other);
  s.microsoftApps.set('app-1', { tenant: TENANT, secret: SECRET, smtpMailboxes: [MB, other] });
  const sink = await oauthSinkFor(defer, s);
  const dir = workDir(defer);
  const secrets = secretsFile(dir, [
    `client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`,
    `client oauth-ms-secret ${other} ${TENANT}:app-1:${SECRET} frontdesk`,
  ]);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  writeSpooled(spool, 'emailrelay.1.1.1', makeMessage('default-account'));
  writeSpooled(spool, 'emailrelay.1.1.2', makeMessage('frontdesk-account'), { clientAccountSelector: 'frontdesk' });
  const relay = await relayFor(defer, relayArgs(sink.port, secrets, s.url, ['--forward']), { env: caEnv(), spool });
  await sink.waitFor(2);
  const userOf = (tag: string) => sink.messages.find((m) => m.data.includes(`Subject: ${tag}`))?.user;
  assert.equal(userOf('default-account'), MB);
  assert.equal(userOf('frontdesk-account'), other);
  assert.equal(s.tokens.length, 2, "one token per grant line (the token is the app's, the mailbox is the line's)");
  assert.ok(sink.uses.every((u) => u.ok));
  await relay.waitForLog('forwarding run finished');
});

test('`relaybox oauth check` gets a token per grant line and says what to fix, without sending mail', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.users.add(MB);
  s.microsoftApps.set('app-1', { tenant: TENANT, secret: SECRET, smtpMailboxes: [MB] });
  const dir = workDir(defer);
  const secrets = secretsFile(dir, [
    `client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`,
    `client oauth-ms-secret ${MB} ${TENANT}:app-1:not-the-secret other`,
  ]);
  const run = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const p = spawn(process.execPath, [BUNDLE, 'oauth', 'check', ...args], { env: { ...process.env, ...caEnv() } });
      let stdout = '';
      p.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
      });
      p.once('exit', (status) => resolve({ status, stdout }));
    });
  const r = await run([secrets, '--oauth-authority', s.url]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^ok: .*secrets\(1\) oauth-ms-secret scanner@contoso\.test: got an access token/m);
  assert.match(r.stdout, /^FAILED: .*secrets\(2\) oauth-ms-secret scanner@contoso\.test \[other\]: the client secret is wrong/m);
  assert.ok(!r.stdout.includes(s.tokens[0]!.value), 'the token is not printed');
  assert.ok(!r.stdout.includes(SECRET));
  const graph = await run([secretsFile(workDir(defer), [`client oauth-ms-secret ${MB} ${TENANT}:app-1:${SECRET}`]), '--graph', '--oauth-authority', s.url]);
  assert.equal(graph.status, 0, graph.stdout);
  assert.equal(s.tokens.at(-1)!.scope, 'https://graph.microsoft.com/.default');
});
