// One structured log line per step of a message's life, each with the message id, the client's
// address, the upstream and its response: grepping the log for an id tells the whole story.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, filesEnding, makeMessage, relayFor, sendAll, sinkFor, waitUntil, FAST_RETRY } from './forward-util';
import { freePort, tempDir, removeDir, type LogLine } from '../lib/relay';
import { shellScript } from '../lib/programs';
import { AdminClient } from '../lib/admin-client';

function story(logs: LogLine[], id: string): LogLine[] {
  return logs.filter((l) => l.id === id);
}

test('received, deferred, retrying, forwarded: each a line with id, client, upstream and response', async (t) => {
  const defer = cleanup(t);
  let attempts = 0;
  const sink = await sinkFor(defer, { data: () => (++attempts === 1 ? { code: 451, text: '4.7.1 greylisted, come back later' } : undefined) });
  const upstream = `127.0.0.1:${sink.port}`;
  const relay = await relayFor(defer, ['--forward-to', upstream, '--forward-on-disconnect', ...FAST_RETRY]);
  await sendAll(relay.port, [makeMessage('story')]);
  await sink.waitFor(1);
  const forwarded = await relay.waitForLog('message forwarded');
  const id = String(forwarded.id);
  const lines = story(relay.logs, id);
  assert.deepEqual(
    lines.map((l) => l.step),
    ['received', 'deferred', 'retrying', 'forwarded'],
  );
  for (const l of lines) assert.equal(l.client, '127.0.0.1', `client on the ${l.step} line`);
  for (const l of lines.slice(1)) assert.equal(l.upstream, upstream, `upstream on the ${l.step} line`);
  assert.match(String(lines[1]!.reason), /451 4\.7\.1 greylisted/);
  assert.equal(lines[1]!.code, 451);
  assert.equal(lines[2]!.attempt, 2);
  assert.equal(lines[3]!.response, '250 sink got it');
  assert.equal(typeof lines[3]!.ms, 'number');
});

test('received, failed, unfailed: the failed message keeps its story', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { rcpt: () => ({ code: 554, text: '5.7.1 relay access denied' }) });
  const upstream = `127.0.0.1:${sink.port}`;
  const adminPort = await freePort();
  const relay = await relayFor(defer, ['--forward-to', upstream, '--forward-on-disconnect', '--admin', String(adminPort)]);
  await sendAll(relay.port, [makeMessage('fails')]);
  await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'the failed message');
  const id = filesEnding(relay.spool, '.bad')[0]!.replace('.envelope.bad', '');
  await relay.waitForLog((l) => l.id === id && l.step === 'failed');
  const lines = story(relay.logs, id);
  assert.deepEqual(
    lines.map((l) => l.step),
    ['received', 'failed'],
  );
  assert.equal(lines[1]!.client, '127.0.0.1');
  assert.equal(lines[1]!.upstream, upstream);
  assert.match(String(lines[1]!.reason), /554 5\.7\.1 relay access denied/);
  assert.equal(lines[1]!.level, 40, 'a failure is a warning');

  const admin = await AdminClient.connect(adminPort);
  defer(() => admin.close());
  assert.deepEqual(await admin.command('unfail-all'), ['OK']);
  const unfailed = await relay.waitForLog((l) => l.id === id && l.step === 'unfailed');
  assert.equal(unfailed.client, '127.0.0.1');
  assert.equal(unfailed.by, 'admin unfail-all');
  assert.match(JSON.stringify(unfailed.clearedReasons), /554 .*relay access denied/);
});

test('server and client filters: a "filtered" line with the filter and its outcome', async (t) => {
  const defer = cleanup(t);
  const dir = tempDir();
  defer(() => removeDir(dir));
  const pass = shellScript(dir, 'pass.sh', 'exit 0');
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--filter', pass, '--client-filter', pass]);
  await sendAll(relay.port, [makeMessage('filtered')]);
  await sink.waitFor(1);
  const forwarded = await relay.waitForLog('message forwarded');
  const lines = story(relay.logs, String(forwarded.id));
  assert.deepEqual(
    lines.map((l) => l.step),
    ['filtered', 'received', 'filtered', 'forwarded'],
  );
  assert.equal(lines[0]!.msg, 'message passed the filter');
  assert.equal(lines[2]!.msg, 'message passed the client filter');
  for (const l of lines) assert.equal(l.client, '127.0.0.1');
  assert.equal(lines[0]!.outcome, 'ok');
});
