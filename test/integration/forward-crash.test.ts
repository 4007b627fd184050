// kill -9 in the middle of receiving and forwarding: every acknowledged message still reaches the
// upstream (after a restart on the same spool), with at most the in-flight messages duplicated and
// nothing left over. And start-up recovery of a spool prepared by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { removeDir, tempDir } from '../lib/relay';
import { encodeEnvelope, newEnvelope } from '../../src/spool/envelope';
import {
  cleanup,
  filesEnding,
  idsAtSink,
  makeMessage,
  relayFor,
  sendSession,
  sinkFor,
  spoolFiles,
  waitUntil,
  writeSpooled,
  type OutMessage,
} from './forward-util';

const TOTAL = 500;
const SENDERS = 6;
const PER_SESSION = 10;
const KILL_AFTER = 200;
const FORWARD_CONNECTIONS = 4;

test('kill -9 while receiving and forwarding: every acknowledged message is delivered after a restart, duplicates bounded', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const args = [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--forward-connections',
    String(FORWARD_CONNECTIONS),
    '--retry-delay',
    '1',
    '--retry-max-delay',
    '2',
  ];
  const first = await relayFor(defer, args, { spool, keepSpool: true });

  const messages: OutMessage[] = Array.from({ length: TOTAL }, (_, i) => makeMessage(`crash-${i}`, { to: [`r${i % 7}@example.net`] }));
  const acked = new Set<string>();
  let next = 0;
  let killed: Promise<void> | null = null;
  let deliveredBeforeKill = 0;
  // Several senders, each sending sessions of PER_SESSION messages; every QUIT triggers forwarding.
  const sender = async () => {
    while (next < TOTAL && !killed) {
      const batch = messages.slice(next, Math.min(next + PER_SESSION, TOTAL)).map((m, k) => ({ m, i: next + k }));
      next += batch.length;
      const r = await sendSession(
        first.port,
        batch.map((b) => b.m),
        (k) => {
          acked.add(`crash-${batch[k]!.i}`);
          if (acked.size >= KILL_AFTER && !killed) {
            deliveredBeforeKill = sink.messages.length;
            killed = first.kill9();
          }
        },
      );
      if (r.replies.some((x) => !x.ok) && !killed) throw new Error(`refused before the kill: ${JSON.stringify(r.replies.find((x) => !x.ok))}`);
    }
  };
  await Promise.all(Array.from({ length: SENDERS }, sender));
  assert.ok(killed, 'the relay was killed');
  await killed;
  const ackedAtKill = acked.size;
  const leftAtKill = spoolFiles(spool);
  const busyAtKill = leftAtKill.filter((n) => n.endsWith('.envelope.busy')).length;
  const newAtKill = leftAtKill.filter((n) => n.endsWith('.envelope.new')).length;
  const orphansAtKill = leftAtKill.filter(
    (n) => n.endsWith('.content') && !leftAtKill.some((m) => m.startsWith(n.slice(0, -'.content'.length) + '.envelope')),
  ).length;
  assert.ok(deliveredBeforeKill > 0, 'forwarding was under way when the relay was killed');
  assert.ok(ackedAtKill < TOTAL, 'the kill came in the middle');

  // Restart on the same spool; nothing is sent again by the test.
  const second = await relayFor(defer, args, { spool, keepSpool: true });
  await waitUntil(
    () => {
      const have = new Set(idsAtSink(sink.messages));
      return [...acked].every((id) => have.has(id));
    },
    'every acknowledged message at the sink',
    60000,
  );
  await waitUntil(() => spoolFiles(spool).length === 0, 'an empty spool after the restart', 30000);

  const ids = idsAtSink(sink.messages);
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const duplicates = ids.length - counts.size;
  const unackedDelivered = [...counts.keys()].filter((id) => !acked.has(id)).length;
  const missing = [...acked].filter((id) => !counts.has(id));
  const recovered = second.logs.filter((l) => l.msg.startsWith('recovered a message that was being forwarded')).length;
  console.log(
    `crash test: acknowledged ${ackedAtKill}, delivered ${ids.length} (${counts.size} distinct; ${unackedDelivered} never acknowledged but delivered), ` +
      `duplicates ${duplicates}, delivered before the kill ${deliveredBeforeKill}, .busy at the kill ${busyAtKill}, recovered at restart ${recovered}, .new at the kill ${newAtKill}, content without envelope at the kill ${orphansAtKill}, spool files at the kill ${leftAtKill.length}`,
  );

  assert.deepEqual(missing, [], 'every message that got 250 reached the sink');
  assert.equal(recovered, busyAtKill, 'each .busy left by the kill was recovered (and logged) at the restart');
  assert.ok(!ids.includes('?'));
  // Forwarding sends one message at a time per connection: at most one per connection was in flight.
  assert.ok(duplicates <= FORWARD_CONNECTIONS, `${duplicates} duplicates; at most ${FORWARD_CONNECTIONS} messages can be in flight`);
  assert.ok(duplicates <= busyAtKill, 'only messages that were .busy at the kill can be sent twice');
  assert.deepEqual(spoolFiles(spool), [], 'no .new, .busy, .tmp or orphan files remain');
});

test('start-up recovery: .busy back to ready, interrupted .new, orphan content and .tmp removed, each logged', async (t) => {
  const defer = cleanup(t);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const file = (n: string) => path.join(spool, n);
  // A message that was being forwarded when the relay died.
  writeSpooled(spool, 'emailrelay.001', makeMessage('was-busy'));
  const { renameSync } = await import('node:fs');
  renameSync(file('emailrelay.001.envelope'), file('emailrelay.001.envelope.busy'));
  // A message whose reception was cut short (never acknowledged).
  writeFileSync(file('emailrelay.002.content'), makeMessage('was-new').data);
  writeFileSync(file('emailrelay.002.envelope.new'), encodeEnvelope(newEnvelope({ from: 'a@example.com', toRemote: ['b@example.net'] })));
  // Content with no envelope at all.
  writeFileSync(file('emailrelay.003.content'), makeMessage('orphan').data);
  // What an interrupted envelope rewrite leaves.
  writeSpooled(spool, 'emailrelay.004', makeMessage('rewritten'));
  renameSync(file('emailrelay.004.envelope'), file('emailrelay.004.envelope.busy'));
  writeFileSync(file('emailrelay.004.envelope.busy.tmp'), 'half written');
  // A failed message is left alone.
  writeSpooled(spool, 'emailrelay.005', makeMessage('failed'));
  renameSync(file('emailrelay.005.envelope'), file('emailrelay.005.envelope.bad'));

  const relay = await relayFor(defer, [], { spool, keepSpool: true });
  assert.deepEqual(spoolFiles(spool), [
    'emailrelay.001.content',
    'emailrelay.001.envelope',
    'emailrelay.004.content',
    'emailrelay.004.envelope',
    'emailrelay.005.content',
    'emailrelay.005.envelope.bad',
  ]);
  const logged = (msg: string, key: 'id' | 'file', value: string) =>
    assert.ok(
      relay.logs.some((l) => l.msg.startsWith(msg) && l[key] === value),
      `logged "${msg}" for ${value}`,
    );
  logged('recovered a message that was being forwarded', 'id', 'emailrelay.001');
  logged('recovered a message that was being forwarded', 'id', 'emailrelay.004');
  logged('removed a message whose reception was interrupted', 'id', 'emailrelay.002');
  logged('removed message content that has no envelope', 'id', 'emailrelay.003');
  logged('removed a temporary file left by an interrupted envelope update', 'file', 'emailrelay.004.envelope.busy.tmp');
  assert.ok(!existsSync(file('emailrelay.002.content')));
  assert.deepEqual(filesEnding(spool, '.bad'), ['emailrelay.005.envelope.bad']);
});
