// Two relaybox processes on one spool directory: the rename to .busy decides who forwards a
// message, so the upstream gets each message exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, tempDir } from '../lib/relay';
import { cleanup, idsAtSink, makeMessage, relayFor, sendAll, sinkFor, spoolFiles, waitUntil } from './forward-util';

const TOTAL = 100;

test('two relays polling one spool never forward the same message twice', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const args = ['--forward-to', `127.0.0.1:${sink.port}`, '--poll', '1', '--forward-connections', '4', '--retry-delay', '1', '--retry-max-delay', '2'];
  const a = await relayFor(defer, args, { spool, keepSpool: true });
  const b = await relayFor(defer, args, { spool, keepSpool: true });
  assert.ok(
    b.logs.some((l) => l.msg === 'another relaybox is using this spool: start-up recovery skipped'),
    "B leaves A's files alone at start-up",
  );

  // Everything goes in through A; both poll the spool every second.
  const msgs = Array.from({ length: TOTAL }, (_, i) => makeMessage(`shared-${i}`));
  await Promise.all(Array.from({ length: 10 }, (_, k) => sendAll(a.port, msgs.slice(k * 10, k * 10 + 10))));
  await sink.waitFor(TOTAL, 30000);
  await waitUntil(() => spoolFiles(spool).length === 0, 'an empty spool', 15000);
  // Both relays' runs are over once they have logged a forwarded count adding up to the total.
  const forwarded = (r: typeof a) => r.logs.filter((l) => l.msg === 'message forwarded').length;
  await waitUntil(() => forwarded(a) + forwarded(b) >= TOTAL, 'the forwarded log lines of both relays', 10000);

  const ids = idsAtSink(sink.messages);
  const distinct = new Set(ids);
  console.log(`shared spool: sink got ${ids.length} messages (${distinct.size} distinct); forwarded by A ${forwarded(a)}, by B ${forwarded(b)}`);
  assert.equal(distinct.size, TOTAL, 'every message arrived');
  assert.equal(ids.length, TOTAL, 'no message arrived twice');
  assert.equal(forwarded(a) + forwarded(b), TOTAL);
  assert.ok(!a.logs.concat(b.logs).some((l) => l.level >= 50), 'no errors logged');
});
