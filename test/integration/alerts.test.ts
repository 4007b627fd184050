// Alert emails (--alert-to): each kind fires once, is held back within --alert-interval, and goes
// through the spool and the upstream like any message (so it waits while the upstream is down).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../lib/relay';
import { startSink, type Sink, type SunkMessage } from '../lib/sink';
import { testPki } from '../lib/certs';
import { cleanup, filesEnding, makeMessage, readEnvelopeFile, relayFor, sendAll, sinkFor, waitUntil, FAST_RETRY } from './forward-util';

const ADMIN = 'postmaster@example.org';

function alertsIn(sink: Sink, kind: string): SunkMessage[] {
  return sink.messages.filter((m) => new RegExp(`^X-Relaybox-Alert: ${kind}\\r?$`, 'm').test(m.data.toString()));
}

test('alert "failed": one email for the first failed message, the next failure held back', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { rcpt: (a) => (a.startsWith('bad') ? { code: 550, text: '5.1.1 no such user' } : undefined) });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--alert-to', ADMIN, '--alert-interval', '3600']);
  await sendAll(relay.port, [makeMessage('first-bad', { to: ['bad1@example.net'] })]);
  await waitUntil(() => alertsIn(sink, 'failed').length === 1, 'the failure alert at the sink');
  await sendAll(relay.port, [makeMessage('second-bad', { to: ['bad2@example.net'] })]);
  const held = await relay.waitForLog((l) => l.msg === 'alert held back (--alert-interval)' && l.alert === 'failed');
  assert.ok(Number(held.nextInSeconds) > 3500);
  await waitUntil(() => filesEnding(relay.spool, '.bad').length === 2 && filesEnding(relay.spool, '.envelope').length === 0, 'both failed, nothing waiting');
  assert.equal(alertsIn(sink, 'failed').length, 1, 'not again within --alert-interval');
  const alert = alertsIn(sink, 'failed')[0]!;
  assert.deepEqual(alert.to, [ADMIN]);
  assert.match(alert.from, /^relaybox@/);
  const text = alert.data.toString();
  assert.match(text, /^Subject: \[relaybox alert\] message emailrelay\.\S+ failed\r$/m);
  assert.match(text, /reason: +550 .*no such user/);
  const queued = await relay.waitForLog('alert queued');
  assert.equal(queued.alert, 'failed');
  assert.equal(relay.logs.filter((l) => l.msg === 'alert queued').length, 1);
});

test('alert "disk": fires at start when the spool has less free space than --alert-disk-percent, then held back', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  // 100 %: every real file system is "nearly full".
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--alert-to',
    ADMIN,
    '--alert-disk-percent',
    '100',
  ]);
  await waitUntil(() => alertsIn(sink, 'disk').length === 1, 'the disk alert at the sink');
  assert.match(alertsIn(sink, 'disk')[0]!.data.toString(), /Subject: \[relaybox alert\] spool disk nearly full \(\d+\.\d % free\)/);
  await sendAll(relay.port, [makeMessage('after-disk-alert')]);
  await relay.waitForLog((l) => l.msg === 'alert held back (--alert-interval)' && l.alert === 'disk');
  await sink.waitFor(2);
  assert.equal(alertsIn(sink, 'disk').length, 1);
});

test('alert "upstream": raised while the upstream is down, waits in the spool, delivered once it is back, once', async (t) => {
  const defer = cleanup(t);
  const port = await freePort(); // nothing listens yet
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${port}`,
    '--forward-on-disconnect',
    ...FAST_RETRY,
    '--alert-to',
    ADMIN,
    '--alert-upstream-seconds',
    '1',
  ]);
  await sendAll(relay.port, [makeMessage('stuck')]);
  const queued = await relay.waitForLog((l) => l.msg === 'alert queued' && l.alert === 'upstream', 20000);
  // The alert is a message in the spool like any other, waiting for the upstream.
  const alertEnvelope = filesEnding(relay.spool, '.envelope').find((n) => n.startsWith(String(queued.id)));
  if (alertEnvelope) assert.deepEqual(readEnvelopeFile(relay.spool, alertEnvelope).toRemote, [ADMIN]);
  else
    assert.ok(
      filesEnding(relay.spool, '.busy').some((n) => n.startsWith(String(queued.id))),
      'the alert is in the spool',
    );
  await relay.waitForLog((l) => l.msg === 'alert held back (--alert-interval)' && l.alert === 'upstream', 20000);

  const sink = await startSink({ port });
  defer(() => sink.close());
  await sink.waitFor(2, 20000);
  const alerts = alertsIn(sink, 'upstream');
  assert.equal(alerts.length, 1);
  assert.match(alerts[0]!.data.toString(), new RegExp(`Subject: \\[relaybox alert\\] upstream 127\\.0\\.0\\.1:${port} failing for \\d+ s`));
  assert.match(alerts[0]!.data.toString(), /Last error .*ECONNREFUSED|Last error .*connect/i);
  await waitUntil(() => filesEnding(relay.spool, '.envelope').length === 0, 'an empty queue');
  assert.equal(alertsIn(sink, 'upstream').length, 1);
});

test('alert "certificate": the server certificate expires within --alert-expiry-days', async (t) => {
  const defer = cleanup(t);
  const pki = testPki(); // valid for 2 days
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--server-tls',
    '--server-tls-certificate',
    pki.serverPemFile,
    '--alert-to',
    ADMIN,
    '--alert-expiry-days',
    '14',
  ]);
  await waitUntil(() => alertsIn(sink, 'certificate').length === 1, 'the certificate alert at the sink');
  const text = alertsIn(sink, 'certificate')[0]!.data.toString();
  assert.match(text, /Subject: \[relaybox alert\] certificate or secret expiring within 14 days/);
  assert.ok(text.includes(`server certificate (${pki.serverPemFile}): expires `));
  await sendAll(relay.port, [makeMessage('after-cert-alert')]);
  await relay.waitForLog((l) => l.msg === 'alert held back (--alert-interval)' && l.alert === 'certificate');
  await sink.waitFor(2);
  assert.equal(alertsIn(sink, 'certificate').length, 1);
});

test('no certificate alert when the certificate lives longer than --alert-expiry-days', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--server-tls',
    '--server-tls-certificate',
    pki.serverPemFile,
    '--alert-to',
    ADMIN,
    '--alert-expiry-days',
    '1',
  ]);
  await sendAll(relay.port, [makeMessage('no-alert')]);
  await sink.waitFor(1);
  assert.equal(sink.messages.length, 1);
  assert.ok(!relay.logs.some((l) => l.msg === 'alert queued'));
});
