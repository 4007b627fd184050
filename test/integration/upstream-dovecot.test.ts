// Real Dovecot as the upstream: its submission service (STARTTLS, then AUTH) relays what it accepts
// to a test sink. Passwords are checked against a passwd-file; XOAUTH2 and OAUTHBEARER tokens by
// Dovecot's oauth2 support, which asks the token stand-in's RFC 7662 introspection endpoint, so the
// token relaybox got (or was given) is judged by a real server end to end. The mechanism used is
// what Dovecot logged ("Login: user=<...>, method=...").
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, dovecotMissing, type Dovecot, type DovecotSetup } from '../lib/dovecot';
import { SCOPE_GOOGLE, type StandIn } from '../lib/oauth-standin';
import type { Sink } from '../lib/sink';
import { cleanup, deferredMessage, filesEnding, makeMessage, relayFor, sendAll, sinkFor, spoolFiles, waitUntil } from './forward-util';
import { assertNotLogged, caEnv, secretsFile, serviceAccountKey, standInFor, workDir } from './oauth-util';

const skip = dovecotMissing();
const USER = 'alice@example.test';
const PASSWORD = 'c0rrect-h0rse';
const MAILBOX = 'printer@example.org';
// Dovecot's credentials at the introspection endpoint (RFC 7662 section 2.1: the caller authenticates).
const RS_ID = 'dovecot-submission';
const RS_SECRET = 'rs-s3cret';

type Defer = ReturnType<typeof cleanup>;

async function dovecotFor(defer: Defer, setup: DovecotSetup): Promise<Dovecot> {
  const d = await startDovecot(setup);
  defer(() => d.stop());
  return d;
}

function relayArgs(port: number, secrets: string, extra: string[] = []): string[] {
  return ['--forward-to', `127.0.0.1:${port}`, '--client-tls', '--forward-on-disconnect', '--client-auth', secrets, '--verbose', ...extra];
}

/** The SASL mechanisms of Dovecot's successful logins, in order. */
function loginMethods(d: Dovecot): string[] {
  return [...d.log().matchAll(/Login: user=<[^>]*>, method=([A-Z0-9-]+)/g)].map((m) => m[1]!);
}

/** A stand-in whose introspection endpoint Dovecot may call, and the URL Dovecot is given. */
async function introspectingStandIn(defer: Defer): Promise<{ s: StandIn; url: string }> {
  const s = await standInFor(defer);
  s.introspectionClients.set(RS_ID, RS_SECRET);
  s.users.add(MAILBOX);
  return { s, url: `https://${RS_ID}:${RS_SECRET}@127.0.0.1:${s.port}/introspect` };
}

/** A `client oauth` line: base64 of the XOAUTH2 initial response "user=U^Aauth=Bearer T^A^A". */
function staticOauthLine(user: string, token: string): string {
  return `client oauth ${user} ${Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString('base64')}`;
}

/** A refused sign-in fails no message (issue 16): waits for its Reason line and returns the reasons as one string. */
async function waitingReason(spool: string): Promise<string> {
  const { reasons } = await deferredMessage(spool, 20000);
  assert.deepEqual(filesEnding(spool, '.bad'), [], 'a refused sign-in fails no message');
  return reasons.map((r) => `${r.code} ${r.reason}`).join(' | ');
}

async function deliverOne(t: TestContext, sink: Sink, relayPort: number, tag: string): Promise<void> {
  await sendAll(relayPort, [makeMessage(tag)]);
  await sink.waitFor(1);
  assert.match(sink.messages[0]!.data.toString('latin1'), new RegExp(`Subject: ${tag}`));
  t.diagnostic(`delivered ${tag} through Dovecot`);
}

test('Dovecot submission, passwd-file: a `client plain` line signs in with PLAIN and the message reaches the sink', { skip }, async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const d = await dovecotFor(defer, { relayPort: sink.port, mechanisms: ['plain', 'login'], users: { [USER]: PASSWORD } });
  const dir = workDir(defer);
  const relay = await relayFor(defer, relayArgs(d.port, secretsFile(dir, [`client plain ${USER} ${PASSWORD}`])), { env: caEnv() });
  await deliverOne(t, sink, relay.port, 'dovecot-plain');
  await d.waitForLog(/Successfully relayed message/);
  assert.deepEqual(loginMethods(d), ['PLAIN']);
  assert.ok(d.log().includes(`user=<${USER}>, method=PLAIN`) && /method=PLAIN.*TLS/.test(d.log()), 'after STARTTLS');
  assert.equal(sink.messages[0]!.from, 'sender@example.com');
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
  assertNotLogged(relay, [PASSWORD]);
});

test("Dovecot submission, passwd-file: a wrong password: the message waits with Dovecot's 535 reply, nothing fails", { skip }, async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const d = await dovecotFor(defer, { relayPort: sink.port, mechanisms: ['plain', 'login'], users: { [USER]: PASSWORD } });
  const dir = workDir(defer);
  const relay = await relayFor(defer, relayArgs(d.port, secretsFile(dir, [`client plain ${USER} wrong-password`])), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('dovecot-wrong')]);
  const reason = await waitingReason(relay.spool);
  assert.match(reason, /535/);
  assert.match(reason, /5\.7\.8 Authentication failed/i);
  assert.equal(sink.messages.length, 0);
  assert.deepEqual(loginMethods(d), []);
  assert.match(d.log(), /auth failed|password mismatch|Disconnected/i);
  assertNotLogged(relay, ['wrong-password']);
});

test('Dovecot with PLAIN LOGIN XOAUTH2 OAUTHBEARER: a password account uses PLAIN, never XOAUTH2', { skip }, async (t) => {
  const defer = cleanup(t);
  const { s, url } = await introspectingStandIn(defer);
  const sink = await sinkFor(defer);
  const d = await dovecotFor(defer, {
    relayPort: sink.port,
    mechanisms: ['plain', 'login', 'xoauth2', 'oauthbearer'],
    users: { [USER]: PASSWORD },
    introspectionUrl: url,
  });
  const dir = workDir(defer);
  const relay = await relayFor(defer, relayArgs(d.port, secretsFile(dir, [`client plain ${USER} ${PASSWORD}`])), { env: caEnv() });
  await deliverOne(t, sink, relay.port, 'dovecot-mixed-password');
  assert.deepEqual(loginMethods(d), ['PLAIN']);
  assert.deepEqual(s.introspections, [], 'no password was sent as a token');
});

test('Dovecot oauth2 (introspection): a Google service-account grant signs in with XOAUTH2; Dovecot checked the token at the stand-in', { skip }, async (t) => {
  const defer = cleanup(t);
  const { s, url } = await introspectingStandIn(defer);
  const sink = await sinkFor(defer);
  // The upstream also offers PLAIN and LOGIN, as Microsoft 365 and Gmail do.
  const d = await dovecotFor(defer, {
    relayPort: sink.port,
    mechanisms: ['plain', 'login', 'xoauth2', 'oauthbearer'],
    users: { [USER]: PASSWORD },
    introspectionUrl: url,
  });
  const dir = workDir(defer);
  serviceAccountKey(dir, s);
  const relay = await relayFor(defer, relayArgs(d.port, secretsFile(dir, [`client oauth-google-sa ${MAILBOX} sa.json`])), { env: caEnv() });
  await deliverOne(t, sink, relay.port, 'dovecot-xoauth2-grant');
  assert.deepEqual(loginMethods(d), ['XOAUTH2']);
  assert.equal(s.tokens.length, 1);
  assert.equal(s.tokens[0]!.scope, SCOPE_GOOGLE);
  assert.deepEqual(
    s.introspections.map((i) => [i.client, i.token, i.active]),
    [[RS_ID, s.tokens[0]!.value, true]],
  );
  assert.ok(d.log().includes(`user=<${MAILBOX}>, method=XOAUTH2`));
  assertNotLogged(relay, [s.tokens[0]!.value]);
});

test('Dovecot oauth2: a static `client oauth` line signs in with XOAUTH2', { skip }, async (t) => {
  const defer = cleanup(t);
  const { s, url } = await introspectingStandIn(defer);
  const sink = await sinkFor(defer);
  const d = await dovecotFor(defer, {
    relayPort: sink.port,
    mechanisms: ['plain', 'login', 'xoauth2', 'oauthbearer'],
    users: { [USER]: PASSWORD },
    introspectionUrl: url,
  });
  const token = s.issueToken('google', 'some-other-tool', SCOPE_GOOGLE, MAILBOX);
  const dir = workDir(defer);
  const relay = await relayFor(defer, relayArgs(d.port, secretsFile(dir, [staticOauthLine(MAILBOX, token.value)])), { env: caEnv() });
  await deliverOne(t, sink, relay.port, 'dovecot-xoauth2-static');
  assert.deepEqual(loginMethods(d), ['XOAUTH2']);
  assert.deepEqual(
    s.introspections.map((i) => i.active),
    [true],
  );
});

test('Dovecot offering only OAUTHBEARER: a static `client oauth` line and a grant line both fall back to OAUTHBEARER (RFC 7628)', { skip }, async (t) => {
  const defer = cleanup(t);
  const { s, url } = await introspectingStandIn(defer);
  const sink = await sinkFor(defer);
  const d = await dovecotFor(defer, { relayPort: sink.port, mechanisms: ['oauthbearer'], introspectionUrl: url });
  const dir = workDir(defer);
  const token = s.issueToken('google', 'some-other-tool', SCOPE_GOOGLE, MAILBOX);
  const relay = await relayFor(defer, relayArgs(d.port, secretsFile(dir, [staticOauthLine(MAILBOX, token.value)])), { env: caEnv() });
  await deliverOne(t, sink, relay.port, 'dovecot-oauthbearer-static');
  assert.deepEqual(loginMethods(d), ['OAUTHBEARER']);
  await relay.stop();

  serviceAccountKey(dir, s);
  const relay2 = await relayFor(defer, relayArgs(d.port, secretsFile(dir, [`client oauth-google-sa ${MAILBOX} sa.json`])), { env: caEnv() });
  await sendAll(relay2.port, [makeMessage('dovecot-oauthbearer-grant')]);
  await sink.waitFor(2);
  assert.deepEqual(loginMethods(d), ['OAUTHBEARER', 'OAUTHBEARER']);
  assert.deepEqual(
    s.introspections.map((i) => i.active),
    [true, true],
  );
  assert.equal(s.introspections[1]!.token, s.tokens.at(-1)!.value, 'Dovecot checked the token relaybox got from the grant');
});

test("Dovecot oauth2: an expired static token is refused (introspection says inactive); the message waits with Dovecot's reply", { skip }, async (t) => {
  const defer = cleanup(t);
  const { s, url } = await introspectingStandIn(defer);
  const sink = await sinkFor(defer);
  const d = await dovecotFor(defer, {
    relayPort: sink.port,
    mechanisms: ['plain', 'login', 'xoauth2', 'oauthbearer'],
    users: { [USER]: PASSWORD },
    introspectionUrl: url,
  });
  const token = s.issueToken('google', 'some-other-tool', SCOPE_GOOGLE, MAILBOX);
  token.expiresAt = Date.now() - 1000;
  const dir = workDir(defer);
  const relay = await relayFor(defer, relayArgs(d.port, secretsFile(dir, [staticOauthLine(MAILBOX, token.value)])), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('dovecot-expired')]);
  const reason = await waitingReason(relay.spool);
  assert.match(reason, /535/);
  assert.match(reason, /Authentication failed/i);
  assert.equal(sink.messages.length, 0);
  assert.deepEqual(loginMethods(d), []);
  assert.ok(s.introspections.length >= 1 && s.introspections.every((i) => i.active === false), JSON.stringify(s.introspections));
  // XOAUTH2 was refused, so OAUTHBEARER may be tried with the same token; never a password mechanism.
  assert.doesNotMatch(d.log(), /method=(PLAIN|LOGIN)/);
});

test('Dovecot oauth2: a revoked cached grant token is refused by Dovecot, relaybox gets a new one once and the message goes', { skip }, async (t) => {
  const defer = cleanup(t);
  const { s, url } = await introspectingStandIn(defer);
  const sink = await sinkFor(defer);
  const d = await dovecotFor(defer, { relayPort: sink.port, mechanisms: ['xoauth2', 'oauthbearer'], introspectionUrl: url });
  const dir = workDir(defer);
  serviceAccountKey(dir, s);
  const secrets = secretsFile(dir, [`client oauth-google-sa ${MAILBOX} sa.json`]);
  const first = await relayFor(defer, relayArgs(d.port, secrets), { env: caEnv(), keepSpool: true });
  await sendAll(first.port, [makeMessage('dovecot-grant-1')]);
  await sink.waitFor(1);
  await first.stop();
  // An admin revokes the token: the restarted relay still holds it in its cache as valid, and
  // Dovecot's introspection now says inactive.
  s.tokens[0]!.revoked = true;
  const second = await relayFor(defer, relayArgs(d.port, secrets), { env: caEnv(), spool: first.spool });
  await sendAll(second.port, [makeMessage('dovecot-grant-2')]);
  await sink.waitFor(2);
  assert.equal(s.tokens.length, 2, 'one new token');
  const answers = s.introspections.map((i) => [i.token === s.tokens[0]!.value ? 'first' : 'second', i.active]);
  assert.deepEqual(answers[0], ['first', true]);
  assert.deepEqual(answers.at(-1), ['second', true]);
  assert.ok(
    answers.some(([which, active]) => which === 'first' && active === false),
    JSON.stringify(answers),
  );
  assert.deepEqual(loginMethods(d), ['XOAUTH2', 'XOAUTH2']);
  assert.deepEqual(filesEnding(second.spool, '.bad'), []);
});
