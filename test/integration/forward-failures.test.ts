// What happens to a message the upstream refuses or cannot take: permanent refusals (.bad with the
// reason and code), temporary ones (retried with back-off, Reason lines recorded), an upstream that
// is down, --no-retry, --retry-max-age, and forward-to-all versus --forward-to-some.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { freePort } from '../lib/relay';
import { startSink } from '../lib/sink';
import {
  afterFirstLine,
  cleanup,
  deferredMessage,
  filesEnding,
  makeMessage,
  readEnvelopeFile,
  reasonsIn,
  relayFor,
  sendAll,
  sinkFor,
  spoolFiles,
  waitUntil,
  FAST_RETRY,
} from './forward-util';

test('a recipient refused with 550: the message ends .bad with the reason and ReasonCode 550', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { rcpt: (a) => (a === 'nobody@example.net' ? { code: 550, text: '5.1.1 no such user here' } : undefined) });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', ...FAST_RETRY]);
  await sendAll(relay.port, [makeMessage('refused-550', { to: ['nobody@example.net'] })]);
  await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'a .bad envelope');
  const bad = filesEnding(relay.spool, '.bad')[0]!;
  const r = reasonsIn(relay.spool, bad);
  assert.equal(r.length, 1);
  assert.equal(r[0]!.code, '550');
  assert.match(r[0]!.reason, /no such user here/);
  assert.deepEqual(spoolFiles(relay.spool).sort(), [bad, bad.replace('.envelope.bad', '.content')].sort(), 'the content stays next to the .bad envelope');
  assert.equal(sink.messages.length, 0);
});

test('451 at end of data for the first two attempts: retried with back-off, Reason lines recorded, then delivered', async (t) => {
  const defer = cleanup(t);
  const seenWhileBusy: number[] = [];
  let spoolDir = '';
  const sink = await sinkFor(defer, {
    data: (_m, attempt) => {
      // The relay is waiting for this reply: its envelope is .busy and holds the earlier attempts' reasons.
      const busy = readdirSync(spoolDir).filter((n) => n.endsWith('.envelope.busy'));
      seenWhileBusy.push(busy.length === 1 ? reasonsIn(spoolDir, busy[0]!).length : -1);
      return attempt <= 2 ? { code: 451, text: '4.3.0 try again later' } : undefined;
    },
  });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', ...FAST_RETRY]);
  spoolDir = relay.spool;
  const msg = makeMessage('retried-451');
  const started = Date.now();
  await sendAll(relay.port, [msg]);
  await sink.waitFor(1, 20000);
  assert.deepEqual(seenWhileBusy, [0, 1, 2], 'each attempt sees the Reason lines of the ones before');
  assert.ok(Date.now() - started >= 2500, 'back-off of 1 s then 2 s between the attempts');
  await relay.waitForCount('message deferred: temporary failure', 2);
  const deferrals = relay.logs.filter((l) => l.msg === 'message deferred: temporary failure');
  assert.equal(deferrals.length, 2);
  assert.match(String(deferrals[0]!.reason), /451 4\.3\.0 try again later/);
  assert.ok(afterFirstLine(sink.messages[0]!.data).rest.equals(msg.data), 'the delivered content has nothing of the retries in it');
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
});

test('upstream down: the message stays .envelope with a Reason line, and is delivered once the upstream is up', async (t) => {
  const defer = cleanup(t);
  const port = await freePort(); // nothing listens here yet
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${port}`, '--forward-on-disconnect', ...FAST_RETRY]);
  const msg = makeMessage('upstream-down');
  await sendAll(relay.port, [msg]);
  await relay.waitForLog('cannot forward: the upstream server is not reachable or refused the session');
  const { reasons: r } = await deferredMessage(relay.spool);
  assert.deepEqual(filesEnding(relay.spool, '.bad'), [], 'a connection failure fails nothing');
  assert.match(r[0]!.reason, /ECONNREFUSED|connect/i);
  assert.equal(r[0]!.code, '');

  const sink = await startSink({ port });
  defer(() => sink.close());
  await sink.waitFor(1, 20000);
  assert.ok(afterFirstLine(sink.messages[0]!.data).rest.equals(msg.data));
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
});

test('--no-retry, upstream down: nothing fails, no Reason line; the next --poll delivers once it is up (as E-MailRelay)', async (t) => {
  const defer = cleanup(t);
  const port = await freePort(); // nothing listens here yet
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${port}`, '--forward-on-disconnect', '--poll', '1', '--no-retry']);
  await sendAll(relay.port, [makeMessage('no-retry-down')]);
  await relay.waitForLog('cannot forward: the upstream server is not reachable or refused the session');
  await waitUntil(() => filesEnding(relay.spool, '.busy').length === 0, 'no message in flight');
  assert.deepEqual(filesEnding(relay.spool, '.bad'), [], 'a connection failure fails nothing');
  const [waiting] = filesEnding(relay.spool, '.envelope');
  assert.ok(waiting, 'the message is still queued');
  assert.deepEqual(reasonsIn(relay.spool, waiting), [], 'and untouched');

  const sink = await startSink({ port });
  defer(() => sink.close());
  await sink.waitFor(1, 10000); // no back-off: the next poll tries it
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
});

test('--no-retry with a 451: the message ends .bad at once', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { data: () => ({ code: 451, text: '4.3.0 not now' }) });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--no-retry']);
  await sendAll(relay.port, [makeMessage('no-retry')]);
  await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'a .bad envelope');
  const r = reasonsIn(relay.spool, filesEnding(relay.spool, '.bad')[0]!);
  assert.equal(r.length, 1);
  assert.equal(r[0]!.code, '451');
  assert.match(r[0]!.reason, /not now/);
  await relay.waitForLog('message failed (automatic retry is off)');
  assert.ok(!relay.logs.some((l) => l.msg === 'message deferred: temporary failure'));
});

test('--retry-max-age 1 with a persistent 451: .bad with an "expired" reason', async (t) => {
  const defer = cleanup(t);
  let attempts = 0;
  const sink = await sinkFor(defer, { data: () => (attempts++, { code: 451, text: '4.3.0 still not now' }) });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', ...FAST_RETRY, '--retry-max-age', '1']);
  await sendAll(relay.port, [makeMessage('expires')]);
  await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'a .bad envelope', 20000);
  const r = reasonsIn(relay.spool, filesEnding(relay.spool, '.bad')[0]!);
  assert.ok(r.length >= 2, 'at least the attempt and the expiry');
  assert.match(r.at(-1)!.reason, /^expired: /);
  assert.match(r.at(-1)!.reason, /still not now/, 'the last error is quoted');
  assert.equal(r.at(-1)!.code, '451');
  assert.ok(attempts >= 1);
  assert.equal(sink.messages.length, 0);
});

const refuseBad = (a: string) => (a.startsWith('bad@') ? { code: 550, text: '5.1.1 refused here' } : undefined);

test('forward-to-all (default): one of two recipients refused, the upstream gets nothing and .bad keeps both', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { rcpt: refuseBad });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--forward-connections', '1', ...FAST_RETRY]);
  await sendAll(relay.port, [makeMessage('all-or-nothing', { to: ['good@example.net', 'bad@example.net'] })]);
  await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'a .bad envelope');
  const bad = filesEnding(relay.spool, '.bad')[0]!;
  assert.deepEqual(readEnvelopeFile(relay.spool, bad).toRemote, ['good@example.net', 'bad@example.net']);
  const r = reasonsIn(relay.spool, bad);
  assert.equal(r[0]!.code, '550');
  assert.match(r[0]!.reason, /^one or more recipients rejected: <bad@example\.net> 550/);
  assert.doesNotMatch(r[0]!.reason, /good@/);

  // A later message goes through: by then the sink has seen everything of the first one it ever will.
  await sendAll(relay.port, [makeMessage('after-abandon', { to: ['good@example.net'] })]);
  await sink.waitFor(1);
  assert.equal(sink.messages.length, 1, 'the refused message reached nobody, not even the accepted recipient');
  assert.match(sink.messages[0]!.data.toString(), /Subject: after-abandon/);
});

test('--forward-to-some: the accepted recipient gets it, .bad keeps only the refused one', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { rcpt: refuseBad });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--forward-to-some', ...FAST_RETRY]);
  const msg = makeMessage('some', { to: ['good@example.net', 'bad@example.net'] });
  await sendAll(relay.port, [msg]);
  await sink.waitFor(1);
  assert.deepEqual(sink.messages[0]!.to, ['good@example.net']);
  assert.ok(afterFirstLine(sink.messages[0]!.data).rest.equals(msg.data));
  await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'a .bad envelope');
  const bad = filesEnding(relay.spool, '.bad')[0]!;
  const env = readEnvelopeFile(relay.spool, bad);
  assert.deepEqual(env.toRemote, ['bad@example.net']);
  const r = reasonsIn(relay.spool, bad);
  assert.equal(r.length, 1);
  assert.equal(r[0]!.code, '550');
  assert.match(r[0]!.reason, /one or more recipients rejected/);
  assert.equal(sink.messages.length, 1);
});

// E-MailRelay's Reason when the upstream refuses every recipient (gsmtpclientprotocol.cpp; its test
// suite's testClientInvalidRecipients and ...WithForwardToSome grep the .bad envelopes for it).
for (const [mode, args, wording] of [
  ['forward-to-all (default)', [], 'one or more recipients rejected'],
  ['--forward-to-some', ['--forward-to-some'], 'all recipients rejected'],
] as const) {
  test(`${mode}: every recipient refused, the Reason is "${wording}" with each refusal`, async (t) => {
    const defer = cleanup(t);
    const sink = await sinkFor(defer, { rcpt: refuseBad });
    const relay = await relayFor(defer, [
      '--forward-to',
      `127.0.0.1:${sink.port}`,
      '--forward-on-disconnect',
      '--forward-connections',
      '1',
      ...args,
      ...FAST_RETRY,
    ]);
    await sendAll(relay.port, [makeMessage('all-refused', { to: ['bad@example.net', 'bad@example.org'] })]);
    await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'a .bad envelope');
    const bad = filesEnding(relay.spool, '.bad')[0]!;
    assert.deepEqual(readEnvelopeFile(relay.spool, bad).toRemote, ['bad@example.net', 'bad@example.org']);
    const r = reasonsIn(relay.spool, bad);
    assert.equal(r[0]!.code, '550');
    assert.equal(r[0]!.reason, `${wording}: <bad@example.net> 550 5.1.1 refused here; <bad@example.org> 550 5.1.1 refused here`);

    // The same session carries the next message: the refused transaction was reset, not left open.
    await sendAll(relay.port, [makeMessage('after-all-refused', { to: ['good@example.net'] })]);
    await sink.waitFor(1);
    assert.equal(sink.messages.length, 1);
    assert.match(sink.messages[0]!.data.toString(), /Subject: after-all-refused/);
  });
}
