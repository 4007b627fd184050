// Forwarding sessions (issue 18): --forward-on-commit forwards a message while its client is still
// connected, and a run holds more sessions only while messages wait, down to what the upstream takes:
// Microsoft 365's stand-in (test/lib/provider-replay.ts) refuses a fourth session of one mailbox with
// its 432 4.3.2 at the end of the data, as Exchange Online does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { testPki } from '../lib/certs';
import { loadProfile, startReplay } from '../lib/provider-replay';
import { scratchDir } from '../lib/relay';
import { cleanup, filesEnding, makeMessage, relayFor, sinkFor, spoolFiles, waitUntil, writeSpooled, type OutMessage } from './forward-util';

function send(conn: SMTPConnection, m: OutMessage): Promise<string> {
  return new Promise((resolve, reject) => conn.send({ from: m.from, to: m.to }, m.data, (err, info) => (err ? reject(err) : resolve(String(info.response)))));
}

test('--forward-on-commit: each message is forwarded while its client keeps the connection open', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-commit']);
  const conn = new SMTPConnection({ host: '127.0.0.1', port: relay.port, ignoreTLS: true, name: 'scanner.test', socketTimeout: 20000 });
  defer(() => conn.close());
  await new Promise<void>((resolve, reject) => {
    conn.once('error', reject);
    conn.connect(() => resolve());
  });
  assert.match(await send(conn, makeMessage('commit-1')), /^250/);
  await sink.waitFor(1, 10000);
  assert.match(await send(conn, makeMessage('commit-2')), /^250/);
  await sink.waitFor(2, 10000);
  assert.deepEqual(
    sink.messages.map((m) => m.data.toString().match(/Subject: (\S+)/)?.[1]),
    ['commit-1', 'commit-2'],
  );
  assert.equal(sink.connections, 1, 'one upstream session carried both');
});

test('--forward-on-commit with --immediate is refused at start-up, naming both', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  await assert.rejects(
    relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-commit', '--immediate']),
    /--forward-on-commit and --immediate/,
  );
});

test('Microsoft 365 takes three sessions of a mailbox at once: the run opens more for a backlog, then keeps three, and no message is deferred', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const user = 'printer@contoso.test';
  const replay = await startReplay({
    profile: loadProfile('m365-smtp.office365.com'),
    key: pki.serverKey,
    cert: pki.serverCert,
    passwordsAllowed: true,
    passwords: { [user]: 'pw-1' },
    maxSessions: 3,
  });
  defer(() => replay.close());
  const work = scratchDir(defer);
  const spool = path.join(work, 'spool');
  const secrets = path.join(work, 'secrets');
  writeFileSync(secrets, `client plain ${user} pw-1\n`, { mode: 0o600 });
  mkdirSync(spool);
  const N = 18;
  for (let i = 0; i < N; i++) writeSpooled(spool, `emailrelay.1.1.${i + 1}`, makeMessage(`scan-${i}`, { from: user }));
  const relay = await relayFor(
    defer,
    ['--forward-to', `127.0.0.1:${replay.port}`, '--forward', '--forward-connections', '6', '--client-tls', '--client-auth', secrets, '--verbose'],
    { spool },
  );
  await waitUntil(() => replay.messages.length === N, `${N} messages at the stand-in`, 30000);
  await waitUntil(() => spoolFiles(spool).length === 0, 'an empty spool', 10000);
  const refused = replay.sessions.reduce((n, s) => n + (s.refusedOverLimit ?? 0), 0);
  assert.ok(refused >= 1 && refused <= 3, `the sessions over three were refused (${refused} refusals), each once`);
  const lowered = relay.logs.filter((l) => l.msg === 'the upstream allows fewer sessions at once');
  assert.equal(lowered.length, refused);
  assert.equal(lowered.at(-1)?.sessions, 3);
  assert.match(String(lowered[0]?.reply), /432 4\.3\.2 Concurrent connections limit exceeded/);
  assert.deepEqual(filesEnding(spool, '.bad'), []);
  assert.ok(!relay.logs.some((l) => /deferred/.test(String(l.msg))), 'no message was deferred');
});
