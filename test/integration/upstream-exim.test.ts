// Real Exim as the upstream: a private daemon (test/lib/exim.ts) with STARTTLS and AUTH CRAM-MD5
// PLAIN for one fixed user, relaying to a test sink. A password account prefers CRAM-MD5 to PLAIN
// (the password never crosses the wire); a `client md5` line (relaybox passwd) works with CRAM-MD5
// only. Which authenticator Exim used is in its log ("A=cram:<user>" on the "<=" line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startExim, eximMissing, type Exim } from '../lib/exim';
import { BUNDLE } from '../lib/relay';
import { cleanup, deferredMessage, filesEnding, makeMessage, relayFor, sendAll, sinkFor, spoolFiles, waitUntil } from './forward-util';
import { assertNotLogged, caEnv, secretsFile, workDir } from './oauth-util';

const skip = eximMissing();
const USER = 'scanner';
const PASSWORD = 'cram-s3cret.42';

type Defer = ReturnType<typeof cleanup>;

async function eximFor(defer: Defer, relayPort: number): Promise<Exim> {
  const e = await startExim({ relayPort, user: USER, password: PASSWORD });
  defer(() => e.stop());
  return e;
}

function relayArgs(port: number, secrets: string): string[] {
  return ['--forward-to', `127.0.0.1:${port}`, '--client-tls', '--forward-on-disconnect', '--client-auth', secrets, '--verbose'];
}

test('Exim with AUTH CRAM-MD5 PLAIN: a `client plain` line signs in with CRAM-MD5, not PLAIN, and the message reaches the sink', { skip }, async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const exim = await eximFor(defer, sink.port);
  const dir = workDir(defer);
  const relay = await relayFor(defer, relayArgs(exim.port, secretsFile(dir, [`client plain ${USER} ${PASSWORD}`])), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('exim-cram')]);
  await sink.waitFor(1, 30000);
  assert.match(sink.messages[0]!.data.toString('latin1'), /Subject: exim-cram/);
  const received = await exim.waitForLog(/ <= sender@example\.com /);
  assert.match(received, new RegExp(`A=cram:${USER}( |$)`));
  assert.match(received, /X=TLS/, 'after STARTTLS');
  await exim.waitForLog(/ => rcpt@example\.net R=to_sink T=to_sink/);
  assert.doesNotMatch(exim.log(), /authenticator failed/);
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
  assertNotLogged(relay, [PASSWORD]);
});

test('Exim: a `client md5` line (relaybox passwd) signs in with CRAM-MD5', { skip }, async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const exim = await eximFor(defer, sink.port);
  const hash = execFileSync(process.execPath, [BUNDLE, 'passwd'], { input: `${PASSWORD}\n`, encoding: 'utf8' }).trim();
  const dir = workDir(defer);
  const relay = await relayFor(defer, relayArgs(exim.port, secretsFile(dir, [`client md5 ${USER} ${hash}`])), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('exim-md5')]);
  await sink.waitFor(1, 30000);
  assert.match(await exim.waitForLog(/ <= sender@example\.com /), new RegExp(`A=cram:${USER}( |$)`));
  assertNotLogged(relay, [PASSWORD, hash]);
});

test("Exim: a wrong password: the message waits with Exim's 535 reply, nothing fails, after CRAM-MD5 and then PLAIN were refused", { skip }, async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const exim = await eximFor(defer, sink.port);
  const dir = workDir(defer);
  const relay = await relayFor(defer, relayArgs(exim.port, secretsFile(dir, [`client plain ${USER} not-the-password`])), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('exim-wrong')]);
  // A refused sign-in fails no message (issue 16): it waits with the reply.
  const { reasons: waiting } = await deferredMessage(relay.spool, 30000);
  assert.deepEqual(filesEnding(relay.spool, '.bad'), []);
  const reason = waiting.map((r) => `${r.code} ${r.reason}`).join(' | ');
  assert.match(reason, /535/);
  assert.match(reason, /Incorrect authentication data/);
  assert.equal(sink.messages.length, 0);
  await exim.waitForLog(/cram authenticator failed/);
  // The next mechanism is tried in the same session once CRAM-MD5 is refused.
  await exim.waitForLog(/plain authenticator failed/);
  assert.doesNotMatch(exim.log(), / <= /);
  assertNotLogged(relay, ['not-the-password']);
});
