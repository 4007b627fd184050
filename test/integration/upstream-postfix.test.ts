// Real Postfix as the upstream: a private submission instance (STARTTLS, smtpd_tls_auth_only) whose
// SASL is Dovecot's (smtpd_sasl_type = dovecot, the auth socket of a private Dovecot instance with a
// passwd-file), relaying to a test sink. Postfix offers what Dovecot's auth offers: PLAIN LOGIN.
// The mechanism used is what Postfix logged ("sasl_method=...").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, dovecotMissing, type Dovecot } from '../lib/dovecot';
import { startPostfix, postfixMissing, type Postfix } from '../lib/postfix';
import type { Sink } from '../lib/sink';
import { cleanup, deferredMessage, filesEnding, makeMessage, relayFor, sendAll, sinkFor, spoolFiles, waitUntil } from './forward-util';
import { assertNotLogged, caEnv, secretsFile, workDir } from './oauth-util';

const skip = postfixMissing() ?? dovecotMissing();
const USER = 'scanner@example.test';
const PASSWORD = 'Tr0ub4dor&3';

type Defer = ReturnType<typeof cleanup>;

async function postfixWithDovecotSasl(defer: Defer): Promise<{ sink: Sink; dovecot: Dovecot; postfix: Postfix }> {
  const sink = await sinkFor(defer);
  // Dovecot here only authenticates for Postfix; its own submission service is not used.
  const dovecot = await startDovecot({ relayPort: sink.port, mechanisms: ['plain', 'login'], users: { [USER]: PASSWORD } });
  defer(() => dovecot.stop());
  const postfix = await startPostfix({ relayPort: sink.port, saslPath: dovecot.authSocket });
  defer(() => postfix.stop());
  return { sink, dovecot, postfix };
}

function relayArgs(port: number, secrets: string): string[] {
  return ['--forward-to', `127.0.0.1:${port}`, '--client-tls', '--forward-on-disconnect', '--client-auth', secrets, '--verbose'];
}

test(
  'Postfix submission with Dovecot SASL: a `client plain` line signs in (PLAIN after STARTTLS) and the message is relayed to the sink',
  { skip },
  async (t) => {
    const defer = cleanup(t);
    const { sink, postfix } = await postfixWithDovecotSasl(defer);
    const dir = workDir(defer);
    const relay = await relayFor(defer, relayArgs(postfix.port, secretsFile(dir, [`client plain ${USER} ${PASSWORD}`])), { env: caEnv() });
    await sendAll(relay.port, [makeMessage('postfix-plain')]);
    await sink.waitFor(1, 30000);
    assert.match(sink.messages[0]!.data.toString('latin1'), /Subject: postfix-plain/);
    assert.deepEqual(sink.messages[0]!.to, ['rcpt@example.net']);
    const line = await postfix.waitForLog(/sasl_method=/);
    assert.match(line, new RegExp(`sasl_method=PLAIN, sasl_username=${USER.replace('.', '\\.')}`));
    await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
    assertNotLogged(relay, [PASSWORD]);
  },
);

test("Postfix submission with Dovecot SASL: a wrong password: the message waits with Postfix's 535 reply, nothing fails", { skip }, async (t) => {
  const defer = cleanup(t);
  const { sink, postfix } = await postfixWithDovecotSasl(defer);
  const dir = workDir(defer);
  const relay = await relayFor(defer, relayArgs(postfix.port, secretsFile(dir, [`client plain ${USER} not-the-password`])), { env: caEnv() });
  await sendAll(relay.port, [makeMessage('postfix-wrong')]);
  // A refused sign-in fails no message (issue 16): it waits with the reply.
  const { reasons: waiting } = await deferredMessage(relay.spool, 30000);
  assert.deepEqual(filesEnding(relay.spool, '.bad'), []);
  const reason = waiting.map((r) => `${r.code} ${r.reason}`).join(' | ');
  assert.match(reason, /535/);
  assert.match(reason, /5\.7\.8 Error: authentication failed/);
  assert.equal(sink.messages.length, 0);
  assert.match(postfix.log(), /SASL (PLAIN|LOGIN) authentication failed/);
  assert.doesNotMatch(postfix.log(), /sasl_method=/);
});
