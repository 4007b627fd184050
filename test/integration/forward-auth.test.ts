// Client authentication when forwarding: secrets-file "client" lines (plain and md5-hashed), the
// inline --client-auth plain:..., a refused password, re-reading the secrets file when it changes,
// and passwords never showing in relaybox's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { utimesSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { BUNDLE, removeDir, scratchDir, startRelay, statusRelay, tempDir, type RelayProcess } from '../lib/relay';
import type { SinkOptions } from '../lib/sink';
import {
  cleanup,
  filesEnding,
  makeMessage,
  readEnvelopeFile,
  reasonsIn,
  relayFor,
  sendAll,
  sinkFor,
  spoolFiles,
  waitUntil,
  writeSpooled,
} from './forward-util';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function secretsFile(defer: (fn: () => unknown) => void, text: string): string {
  const dir = tempDir('relaybox-secrets-');
  defer(() => removeDir(dir));
  const file = path.join(dir, 'secrets');
  writeFileSync(file, text);
  return file;
}

/** Nothing relaybox wrote (stdout log lines, stderr) contains a password in any usual encoding. */
function assertNoSecret(relay: RelayProcess, user: string, passwords: string[]): void {
  const out = JSON.stringify(relay.logs) + relay.stderr;
  assert.ok(
    relay.logs.some((l) => l.level === 20),
    'the relay logged at debug level (--verbose)',
  );
  for (const pw of passwords) {
    for (const form of [pw, b64(pw), b64(`\0${user}\0${pw}`), b64(`${user}\0${pw}`), encodeURIComponent(pw)]) {
      assert.ok(!out.includes(form), `relaybox output contains the password (as ${JSON.stringify(form)})`);
    }
  }
}

for (const method of ['PLAIN', 'LOGIN']) {
  test(`secrets file "client plain alice secret1": AUTH ${method} as alice`, async (t) => {
    const defer = cleanup(t);
    const sink = await sinkFor(defer, { auth: { user: 'alice', pass: 'secret1', methods: [method] } });
    const secrets = secretsFile(defer, '# forwarding account\nclient plain alice secret1\n');
    const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--client-auth', secrets, '--verbose']);
    await sendAll(relay.port, [makeMessage(`auth-${method}`)]);
    await sink.waitFor(1);
    assert.equal(sink.messages[0]!.user, 'alice');
    // MAIL FROM names the signed-in user in xtext (RFC 4954 5), as E-MailRelay sends it.
    assert.equal(sink.messages[0]!.mailArgs.AUTH, 'alice');
    const connected = await relay.waitForLog('connected to the upstream server');
    assert.equal(connected.auth, method);
    await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
    assertNoSecret(relay, 'alice', ['secret1']);
  });
}

test('inline --client-auth plain:<base64 user>:<base64 password>', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { auth: { user: 'bob smith', pass: 'p@ss w:rd', methods: ['PLAIN', 'LOGIN'] } });
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--client-auth',
    `plain:${b64('bob smith')}:${b64('p@ss w:rd')}`,
    '--verbose',
  ]);
  await sendAll(relay.port, [makeMessage('auth-inline')]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.user, 'bob smith');
  // Sent as AUTH=bob+20smith: the sink decodes xtext (sent raw, the space would have ended the parameter at "bob").
  assert.equal(sink.messages[0]!.mailArgs.AUTH, 'bob smith', 'the user id, xtext-encoded on the wire');
  assertNoSecret(relay, 'bob smith', ['p@ss w:rd']);
});

// Issue 16: a refused session (here a password that no longer works) must not eat the queue.
test('a wrong password with automatic retry: no message fails, all wait, the reason is on the envelope and the status page', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { auth: { user: 'alice', pass: 'right-one', methods: ['PLAIN', 'LOGIN'] } });
  const secrets = secretsFile(defer, 'client plain alice wrong-one\n');
  const { relay, http } = await statusRelay(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--client-auth',
    secrets,
    '--verbose',
  ]);
  await sendAll(
    relay.port,
    [1, 2, 3].map((i) => makeMessage(`auth-wrong-${i}`)),
  );
  await relay.waitForLog('cannot forward: the upstream server is not reachable or refused the session');
  await relay.waitForLog('message deferred: the upstream refused the session');
  await waitUntil(() => filesEnding(relay.spool, '.busy').length === 0, 'no message in flight');
  assert.deepEqual(filesEnding(relay.spool, '.bad'), [], 'no message failed');
  const waiting = filesEnding(relay.spool, '.envelope');
  assert.equal(waiting.length, 3, 'every message is still queued');
  const tried = waiting.map((name) => reasonsIn(relay.spool, name)).filter((r) => r.length);
  assert.ok(tried.length >= 1, 'the message in hand records why');
  assert.equal(tried[0]![0]!.code, '535');
  assert.match(tried[0]![0]!.reason, /authentication failed/i);
  const page = await (await fetch(`http://127.0.0.1:${http}/`)).text();
  assert.match(page, /authentication failed/i, 'the status page shows the failure');
  assert.equal(sink.messages.length, 0);
  assertNoSecret(relay, 'alice', ['wrong-one', 'right-one']);
});

test('a wrong password with --no-retry: one message ends .bad with ReasonCode 535, the other stays queued (as E-MailRelay)', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { auth: { user: 'alice', pass: 'right-one', methods: ['PLAIN', 'LOGIN'] } });
  const secrets = secretsFile(defer, 'client plain alice wrong-one\n');
  const spool = scratchDir(defer, 'relaybox-spool-');
  writeSpooled(spool, 'emailrelay.1.1.1', makeMessage('auth-wrong-1'));
  writeSpooled(spool, 'emailrelay.1.1.2', makeMessage('auth-wrong-2'));
  const run = await startRelay(['--as-client', `127.0.0.1:${sink.port}`, '--spool-dir', spool, '--user', 'root', '--client-auth', secrets, '--no-retry'], {
    raw: true,
    readyMessage: null,
    spool,
  });
  assert.equal(await run.exited, 1, "the run ended with an error, as E-MailRelay's --as-client does");
  const bad = filesEnding(spool, '.bad');
  assert.equal(bad.length, 1);
  const r = reasonsIn(spool, bad[0]!);
  assert.equal(r.length, 1);
  assert.equal(r[0]!.code, '535');
  assert.match(r[0]!.reason, /authentication failed/i);
  assert.deepEqual(readEnvelopeFile(spool, bad[0]!).toRemote, ['rcpt@example.net']);
  const waiting = filesEnding(spool, '.envelope');
  assert.equal(waiting.length, 1, 'the other message is untouched');
  assert.deepEqual(reasonsIn(spool, waiting[0]!), []);
  assert.equal(sink.messages.length, 0);
});

test('CRAM-MD5 with a "client md5" line made by `relaybox passwd`', async (t) => {
  const defer = cleanup(t);
  const hash = execFileSync(process.execPath, [BUNDLE, 'passwd'], { input: 'cram secret\n', encoding: 'utf8' }).trim();
  assert.match(hash, /^[A-Za-z0-9+/]{43}=$/);
  const sink = await sinkFor(defer, { auth: { user: 'alice', pass: 'cram secret', methods: ['CRAM-MD5'] } });
  const secrets = secretsFile(defer, `client md5 alice ${hash}\n`);
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--client-auth', secrets, '--verbose']);
  await sendAll(relay.port, [makeMessage('auth-cram')]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.user, 'alice');
  assertNoSecret(relay, 'alice', ['cram secret', hash]);
});

test('the secrets file is re-read when it changes: the next message authenticates with the new password', async (t) => {
  const defer = cleanup(t);
  const sinkOpts: SinkOptions = { auth: { user: 'alice', pass: 'first-pw', methods: ['PLAIN', 'LOGIN'] } };
  const sink = await sinkFor(defer, sinkOpts);
  const secrets = secretsFile(defer, 'client plain alice first-pw\n');
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--client-auth', secrets, '--verbose']);
  await sendAll(relay.port, [makeMessage('reread-1')]);
  await sink.waitFor(1);
  const firstUse = await relay.waitForLog('connected to the upstream server');

  // The upstream now wants a new password, and the file gets it (mtime moved forward).
  sinkOpts.auth!.pass = 'second-pw';
  writeFileSync(secrets, 'client plain alice second-pw\n');
  const later = new Date(Date.now() + 10_000);
  utimesSync(secrets, later, later);
  // E-MailRelay (and relaybox) look at the file at most once a second: let that second pass since
  // the last look (the first connection) so the next connection is sure to check it.
  const due = (firstUse.time as number) + 1100;
  await waitUntil(() => Date.now() >= due, 'the once-a-second secrets check interval', 5000);

  await sendAll(relay.port, [makeMessage('reread-2')]);
  await sink.waitFor(2);
  assert.equal(sink.messages[1]!.user, 'alice');
  await relay.waitForLog((l) => l.msg.startsWith('re-read the secrets file'));
  assert.deepEqual(filesEnding(relay.spool, '.bad'), []);
  assertNoSecret(relay, 'alice', ['first-pw', 'second-pw']);
});

test('the upstream drops the connection during AUTH: the message is deferred, not stuck .busy', async (t) => {
  const defer = cleanup(t);
  // A scripted upstream: greeting, EHLO with AUTH, then it hangs up on the AUTH command.
  let authSeen = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.write('220 flaky.test ESMTP\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (/^EHLO/i.test(line)) s.write('250-flaky.test\r\n250 AUTH PLAIN LOGIN\r\n');
        else if (/^AUTH/i.test(line)) {
          authSeen++;
          s.destroy();
        } else if (/^QUIT/i.test(line)) s.end('221 bye\r\n');
        else s.write('502 not here\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  defer(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  const port = (server.address() as net.AddressInfo).port;
  const secrets = secretsFile(defer, 'client plain alice pw-dropped\n');
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${port}`,
    '--forward-on-disconnect',
    '--client-auth',
    secrets,
    '--retry-delay',
    '60',
    '--retry-max-delay',
    '120',
  ]);
  await sendAll(relay.port, [makeMessage('auth-dropped')]);
  await relay.waitForLog('message deferred: temporary failure');
  const envelopes = filesEnding(relay.spool, '.envelope');
  assert.equal(envelopes.length, 1, `spool: ${spoolFiles(relay.spool).join(' ')}`);
  assert.match(reasonsIn(relay.spool, envelopes[0]!)[0]!.reason, /authentication failed/);
  assert.equal(authSeen, 1);
  await relay.waitForLog('forwarding run finished');
});
