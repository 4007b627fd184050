// Forwarding through Microsoft Graph (--forward-to graph:<base>) against the HTTPS Graph stand-in:
// sendMail with the MIME message, envelope recipients honoured (Bcc, or a draft whose recipients are
// set), large messages through a draft and an upload session, 429 Retry-After, a missing Mail.Send
// permission parked with advice, and the token refreshed in the middle of a queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SCOPE_GRAPH, type StandIn } from '../lib/oauth-standin';
import { cleanup, deferredMessage, filesEnding, makeMessage, reasonsIn, relayFor, sendAll, spoolFiles, waitUntil, type OutMessage } from './forward-util';
import { appCertificate, caEnv, secretsFile, standInFor, workDir, type Defer } from './oauth-util';

const TENANT = 'contoso.test';
const MB = 'scanner@contoso.test';
const SECRET = 'graph~Secret.1';

async function graphRelay(defer: Defer, s: StandIn, extra: string[] = [], line?: string) {
  s.users.add(MB);
  if (!s.microsoftApps.has('graph-app')) s.microsoftApps.set('graph-app', { tenant: TENANT, secret: SECRET, smtpMailboxes: [], graphMailSend: true });
  const dir = workDir(defer);
  const secrets = secretsFile(dir, [line ?? `client oauth-ms-secret ${MB} ${TENANT}:graph-app:${SECRET}`]);
  return relayFor(
    defer,
    ['--forward-to', `graph:${s.url}`, '--forward-on-disconnect', '--client-auth', secrets, '--oauth-authority', s.url, '--verbose', ...extra],
    { env: caEnv() },
  );
}

async function waitSent(s: StandIn, n: number, ms = 20000): Promise<void> {
  await waitUntil(() => s.graphSent.length >= n, `${n} message(s) sent through Graph`, ms);
}

test('Graph sendMail: the MIME message as base64, envelope-only recipients added as Bcc', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const relay = await graphRelay(defer, s);
  const msg = makeMessage('graph-small', { from: MB, to: ['a@example.net'] });
  await sendAll(relay.port, [{ ...msg, to: ['a@example.net', 'hidden@example.net'] }]);
  await waitSent(s, 1);
  const sent = s.graphSent[0]!;
  assert.equal(sent.via, 'sendMail');
  assert.equal(sent.mailbox, MB);
  assert.deepEqual(sent.to, ['a@example.net']);
  assert.deepEqual(sent.bcc, ['hidden@example.net']);
  const body = msg.data.subarray(msg.data.indexOf('\r\n\r\n'));
  assert.ok(sent.mime.subarray(sent.mime.indexOf('\r\n\r\n')).equals(body), 'the body arrived byte for byte');
  assert.match(sent.mime.toString('latin1'), /^Subject: graph-small\r$/m);
  assert.equal(s.tokens[0]!.scope, SCOPE_GRAPH);
  await waitUntil(() => spoolFiles(relay.spool).filter((n) => n !== '.relaybox').length === 0, 'an empty spool');
});

test("Graph: a header recipient outside the envelope makes a draft whose recipients are the envelope's", async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const relay = await graphRelay(defer, s);
  const msg = makeMessage('graph-split', { from: MB, to: ['a@example.net', 'b@example.net'] });
  await sendAll(relay.port, [{ ...msg, to: ['b@example.net'] }]);
  await waitSent(s, 1);
  assert.equal(s.graphSent[0]!.via, 'draft');
  assert.deepEqual([s.graphSent[0]!.to, s.graphSent[0]!.cc, s.graphSent[0]!.bcc], [['b@example.net'], [], []]);
});

function withAttachments(tag: string, files: { name: string; data: Buffer }[]): OutMessage {
  const lines = [
    `From: <${MB}>`,
    'To: <a@example.net>',
    `Subject: ${tag}`,
    `Message-ID: <${tag}@relaybox.test>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="=_b1"',
    '',
    '--=_b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Scanned pages attached.',
  ];
  for (const f of files) {
    lines.push(
      '--=_b1',
      `Content-Type: application/pdf; name="${f.name}"`,
      `Content-Disposition: attachment; filename="${f.name}"`,
      'Content-Transfer-Encoding: base64',
      '',
      f.data.toString('base64').replace(/.{76}/g, '$&\r\n').replace(/\r\n$/, ''),
    );
  }
  lines.push('--=_b1--', '');
  return { from: MB, to: ['a@example.net'], data: Buffer.from(lines.join('\r\n')) };
}

test('Graph: a 5 MB scan goes through a draft and a chunked upload session; no request is over 4 MB', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const relay = await graphRelay(defer, s);
  const big = randomBytes(5 * 1024 * 1024);
  const small = randomBytes(600 * 1024);
  await sendAll(relay.port, [
    withAttachments('graph-large', [
      { name: 'scan.pdf', data: big },
      { name: 'cover.pdf', data: small },
    ]),
  ]);
  await waitSent(s, 1, 40000);
  const sent = s.graphSent[0]!;
  assert.equal(sent.via, 'draft');
  assert.deepEqual(
    sent.attachments.map((a) => [a.name, a.via, a.data.length]),
    [['scan.pdf', 'upload-session', big.length]],
  );
  assert.ok(sent.attachments[0]!.data.equals(big), 'the uploaded attachment is the scan, byte for byte');
  assert.ok(sent.mime.includes(small.toString('base64').slice(0, 76)), 'the smaller attachment stayed in the MIME draft');
  assert.ok(!sent.mime.includes(big.toString('base64').slice(0, 76)), 'the large attachment was taken out of the MIME');
  const puts = s.graphRequests.filter((r) => r.method === 'PUT');
  assert.ok(puts.length >= 2, `chunked upload (${puts.length} PUTs)`);
  assert.ok(
    puts.every((r) => !r.authorization && r.status !== 401),
    'no bearer token goes to the upload URL',
  );
  assert.ok(
    s.graphRequests.every((r) => r.bodyBytes <= 4 * 1024 * 1024 && r.status !== 413),
    'no request over 4 MB',
  );
});

test('Graph 429 with Retry-After: relaybox waits as told, then the message goes', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.throttle = { count: 1, status: 429, retryAfterSeconds: 1 };
  const relay = await graphRelay(defer, s);
  await sendAll(relay.port, [makeMessage('graph-429', { from: MB })]);
  await waitSent(s, 1);
  const calls = s.graphRequests.filter((r) => r.path.endsWith('/sendMail'));
  assert.deepEqual(
    calls.map((c) => c.status),
    [429, 202],
  );
  assert.ok(calls[1]!.at - calls[0]!.at >= 1000, `waited ${calls[1]!.at - calls[0]!.at} ms`);
  assert.deepEqual(filesEnding(relay.spool, '.bad'), []);
});

test('Graph 503 with a long Retry-After: the message waits in the spool (deferred, not failed)', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.throttle = { count: 100, status: 503, retryAfterSeconds: 120 };
  const relay = await graphRelay(defer, s);
  await sendAll(relay.port, [makeMessage('graph-503', { from: MB })]);
  const d = await deferredMessage(relay.spool);
  assert.equal(d.reasons[0]!.code, '503');
  assert.deepEqual(filesEnding(relay.spool, '.bad'), []);
  const deferred = await relay.waitForLog('message deferred: temporary failure');
  assert.ok((deferred.retryInSeconds as number) >= 119, `retry in ${deferred.retryInSeconds} s honours Retry-After`);
});

test('Graph without the Mail.Send permission: no message fails, the one tried waits saying which permission to add, the run stops', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.microsoftApps.set('graph-app', { tenant: TENANT, secret: SECRET, smtpMailboxes: [], graphMailSend: false });
  const relay = await graphRelay(defer, s, ['--forward-connections', '1']);
  await sendAll(
    relay.port,
    [1, 2, 3].map((i) => makeMessage(`graph-403-${i}`, { from: MB })),
  );
  await relay.waitForLog('cannot forward: the upstream server is not reachable or refused the session');
  // A refused session fails no message (issue 16): the one tried waits with the reason.
  assert.deepEqual(filesEnding(relay.spool, '.bad'), []);
  const waiting = filesEnding(relay.spool, '.envelope');
  assert.equal(waiting.length, 3);
  const tried = waiting.map((name) => reasonsIn(relay.spool, name)).filter((r) => r.length);
  assert.equal(tried.length, 1, 'one message was tried; the other two wait with no reason recorded');
  const r = tried[0]![0]!;
  assert.match(r.reason, /Microsoft Graph application permission Mail\.Send with admin consent.*ErrorAccessDenied/);
  assert.equal(r.code, '403');
  assert.equal(s.graphRequests.filter((q) => q.path.endsWith('/sendMail')).length, 1);
});

test('Graph with a certificate credential: tokens expire and are refreshed in the middle of a queue', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.lifetimeSeconds = 2;
  s.graphDelayMs = 400; // a slow service: the queue outlives the first token
  const dir = workDir(defer);
  const { certPem } = appCertificate(dir);
  s.microsoftApps.set('cert-app', { tenant: TENANT, certificate: certPem, smtpMailboxes: [], graphMailSend: true });
  const relay = await graphRelay(defer, s, ['--forward-connections', '1'], `client oauth-ms-cert ${MB} ${TENANT}:cert-app:${dir}/app.pem`);
  const messages = Array.from({ length: 6 }, (_, i) => makeMessage(`graph-queue-${i}`, { from: MB }));
  await sendAll(relay.port, messages);
  await waitSent(s, 6, 30000);
  const graphTokens = s.tokens.filter((x) => x.scope === SCOPE_GRAPH);
  assert.ok(graphTokens.length >= 2, `${graphTokens.length} token(s) for the queue`);
  assert.ok(
    s.graphRequests.every((r) => r.status !== 401),
    'no request went with an expired token',
  );
  assert.deepEqual(filesEnding(relay.spool, '.bad'), []);
});
