// Client TLS when forwarding: STARTTLS, implicit TLS, TLS required, certificate verification with
// the CA (the chain only, as E-MailRelay), the host-name check (--client-tls-verify-host, with
// --client-tls-server-name) and the CN check (--client-tls-verify-name).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, type RelayProcess } from '../lib/relay';
import { testPki } from '../lib/certs';
import type { Sink } from '../lib/sink';
import { cleanup, deferredMessage, filesEnding, makeMessage, reasonsIn, relayFor, sendAll, sinkFor, spoolFiles, waitUntil, FAST_RETRY } from './forward-util';

const pki = testPki();
after(() => removeDir(pki.dir));
const tlsKeys = { key: pki.serverKey, cert: pki.serverCert };

async function delivered(relay: RelayProcess, sink: Sink, tag: string): Promise<void> {
  await sendAll(relay.port, [makeMessage(tag)]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.secure, true, 'the sink saw a TLS session');
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
}

/** The message is not delivered: it stays in the spool (retried), with a reason matching `why`. */
async function deferred(relay: RelayProcess, sink: Sink, tag: string, why: RegExp): Promise<void> {
  await sendAll(relay.port, [makeMessage(tag)]);
  await relay.waitForLog('message deferred: temporary failure');
  const { reasons: r } = await deferredMessage(relay.spool);
  assert.deepEqual(filesEnding(relay.spool, '.bad'), [], 'not failed');
  assert.match(r[0]!.reason, why);
  assert.equal(sink.messages.length, 0, 'nothing reached the sink');
}

test('--client-tls: STARTTLS with the upstream', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { tls: tlsKeys });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--client-tls']);
  await delivered(relay, sink, 'starttls');
  const connected = await relay.waitForLog('connected to the upstream server');
  assert.match(String(connected.tls), /^TLSv1\.[23]$/);
});

test('--client-tls-connection: implicit TLS with the upstream', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { tls: { ...tlsKeys, implicit: true } });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--client-tls-connection']);
  await delivered(relay, sink, 'implicit');
});

test('--client-tls without --client-tls-required falls back to plain text when STARTTLS is not offered', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--client-tls']);
  await sendAll(relay.port, [makeMessage('opportunistic')]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.secure, false);
});

test('--client-tls-required against an upstream without STARTTLS: not delivered, deferred with a reason', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { noStartTls: true });
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--client-tls',
    '--client-tls-required',
    ...FAST_RETRY,
  ]);
  await deferred(relay, sink, 'tls-required', /tls|starttls/i);
});

// Certificates that pass: [test name, tag, options after --client-tls-verify <CA>].
const VERIFIED: [string, string, string[]][] = [
  ['--client-tls-server-name relay.test (a SAN)', 'verified', ['--client-tls-server-name', 'relay.test']],
  ['no host-name check, as E-MailRelay: --client-tls-server-name wrong.test, not in the certificate', 'chain-only', ['--client-tls-server-name', 'wrong.test']],
  ['--client-tls-verify-host with the forward-to address 127.0.0.1 (an IP in the certificate)', 'ip-in-cert', ['--client-tls-verify-host']],
];
for (const [name, tag, extra] of VERIFIED) {
  test(`--client-tls-verify with the CA, ${name}: delivered`, async (t) => {
    const defer = cleanup(t);
    const sink = await sinkFor(defer, { tls: tlsKeys });
    const relay = await relayFor(defer, [
      '--forward-to',
      `127.0.0.1:${sink.port}`,
      '--forward-on-disconnect',
      '--client-tls',
      '--client-tls-verify',
      pki.caFile,
      ...extra,
    ]);
    await delivered(relay, sink, tag);
  });
}

test('--client-tls-verify-host with --client-tls-server-name wrong.test: the name is not in the certificate, not delivered', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { tls: tlsKeys });
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--client-tls',
    '--client-tls-verify',
    pki.caFile,
    '--client-tls-verify-host',
    '--client-tls-server-name',
    'wrong.test',
    ...FAST_RETRY,
  ]);
  await deferred(relay, sink, 'wrong-name', /wrong\.test|altnames|does not match/i);
});

test('--client-tls-verify with a CA that did not sign the upstream certificate: not delivered', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { tls: tlsKeys });
  // The server certificate itself is not a CA: verification against it must fail.
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--client-tls',
    '--client-tls-verify',
    pki.serverCertFile,
    ...FAST_RETRY,
  ]);
  await deferred(relay, sink, 'wrong-ca', /certificate|verify|issuer/i);
});

for (const implicit of [false, true]) {
  test(`--no-retry: a certificate that fails --client-tls-verify fails the message (.bad), as E-MailRelay (${implicit ? 'implicit TLS' : 'STARTTLS'})`, async (t) => {
    const defer = cleanup(t);
    const sink = await sinkFor(defer, { tls: { ...tlsKeys, implicit } });
    const relay = await relayFor(defer, [
      '--forward-to',
      `127.0.0.1:${sink.port}`,
      '--forward-on-disconnect',
      implicit ? '--client-tls-connection' : '--client-tls',
      '--client-tls-verify',
      pki.serverCertFile,
      '--no-retry',
    ]);
    await sendAll(relay.port, [makeMessage('no-retry-wrong-ca')]);
    await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'a .bad envelope');
    assert.match(reasonsIn(relay.spool, filesEnding(relay.spool, '.bad')[0]!)[0]!.reason, /certificate|verify|issuer/i);
    assert.equal(sink.messages.length, 0);
  });
}

test('--client-tls-verify-name relay.test (subject CN): delivered; another CN: not delivered', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { tls: tlsKeys });
  const good = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--client-tls',
    '--client-tls-verify',
    pki.caFile,
    '--client-tls-verify-name',
    'relay.test',
  ]);
  await delivered(good, sink, 'cn-ok');

  const sink2 = await sinkFor(defer, { tls: tlsKeys });
  const bad = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink2.port}`,
    '--forward-on-disconnect',
    '--client-tls',
    '--client-tls-verify',
    pki.caFile,
    '--client-tls-verify-name',
    'localhost',
    ...FAST_RETRY,
  ]);
  await deferred(bad, sink2, 'cn-bad', /relay\.test|localhost/);
});
