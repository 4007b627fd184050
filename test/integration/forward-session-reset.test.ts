// A session whose message was refused (every recipient 550) carries the next message: relaybox sends
// RSET first, so the upstream does not answer the next MAIL FROM with "503 nested MAIL command".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, filesEnding, makeMessage, relayFor, sendAll, sinkFor, waitUntil } from './forward-util';

test('after a refused message the same upstream session delivers the next one', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer, { rcpt: (a) => (a === 'bad@example.net' ? { code: 550, text: '5.1.1 no such user' } : undefined) });
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-connections', '1']);
  // Received in this order, so forwarded in this order (lexical ids) on one session.
  await sendAll(relay.port, [makeMessage('refused-first', { to: ['bad@example.net'] }), makeMessage('good-second')]);
  // Nothing triggered forwarding: a second relay on the same spool forwards both at start-up (--forward).
  await relay.stop();
  const again = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-connections', '1', '--forward'], { spool: relay.spool });
  await sink.waitFor(1);
  await waitUntil(() => filesEnding(again.spool, '.bad').length === 1, 'the refused message to fail');
  assert.equal(sink.connections, 1, 'both messages went over one session');
  assert.match(sink.messages[0]!.data.toString(), /good-second/);
  assert.ok(!again.logs.some((l) => /nested MAIL/.test(JSON.stringify(l))), 'no 503 nested MAIL');
});
