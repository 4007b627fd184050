// Upstream faults: a misbehaving upstream (421 greetings, 451s, connections dropped mid-DATA,
// replies that never come, 550 recipients). Every message must end delivered, or failed with a
// reason when it was refused permanently; none lost. Duplicates are possible only where the upstream
// took a message and never answered, and are counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startChaosSink } from '../lib/chaos-sink';
import { cleanup, filesEnding, makeMessage, reasonsIn, relayFor, sendAll, spoolFiles, waitUntil } from './forward-util';

const MESSAGES = Number(process.env.RELAYBOX_FAULT_MESSAGES ?? 60);
const SEED = Number(process.env.RELAYBOX_FAULT_SEED ?? 20261128);

test(`${MESSAGES} messages through a faulty upstream (seed ${SEED}): each delivered or failed with a reason, none lost`, async (t) => {
  const defer = cleanup(t);
  const chaos = await startChaosSink({
    seed: SEED,
    greeting421: 0.25,
    weights: { 'mail-451': 0.08, 'drop-in-data': 0.08, 'data-451': 0.08, 'stall-after-data': 0.03 },
  });
  defer(() => chaos.close());
  const relay = await relayFor(defer, [
    '--forward-to',
    `127.0.0.1:${chaos.port}`,
    '--forward-on-disconnect',
    '--forward-connections',
    '3',
    '--retry-delay',
    '1',
    '--retry-max-delay',
    '1',
    '--response-timeout',
    '2',
    '--connection-timeout',
    '2',
  ]);
  const messages = Array.from({ length: MESSAGES }, (_, i) =>
    makeMessage(`fault-${i}`, { to: [i % 10 === 3 ? `reject-${i}@example.net` : `user-${i}@example.net`] }),
  );
  for (let i = 0; i < messages.length; i += 5) await sendAll(relay.port, messages.slice(i, i + 5));

  const refused = messages.filter((_, i) => i % 10 === 3).length;
  const wanted = messages.map((_, i) => `fault-${i}`).filter((_, i) => i % 10 !== 3);
  await waitUntil(
    () => {
      const files = spoolFiles(relay.spool);
      const pending = files.filter((f) => f.endsWith('.envelope') || f.endsWith('.envelope.busy') || f.endsWith('.envelope.new'));
      return pending.length === 0 && filesEnding(relay.spool, '.envelope.bad').length === refused && wanted.every((s) => chaos.delivered.has(s));
    },
    'every message delivered or failed',
    150000,
  );

  for (const bad of filesEnding(relay.spool, '.envelope.bad')) {
    const reasons = reasonsIn(relay.spool, bad);
    const last = reasons.at(-1)!;
    assert.equal(last.code, '550', `${bad}: ${JSON.stringify(reasons)}`);
    assert.match(last.reason, /chaos: no such user/);
  }
  assert.equal(filesEnding(relay.spool, '.content').length, refused, 'content kept only for the failed messages');
  const duplicates = [...chaos.delivered.values()].reduce((n, c) => n + c - 1, 0);
  const stalls = chaos.faults.get('stall-after-data') ?? 0;
  assert.ok(duplicates <= stalls, `${duplicates} duplicates, but only ${stalls} stalled replies could cause one`);
  t.diagnostic(`faults injected: ${JSON.stringify(Object.fromEntries(chaos.faults))}; duplicates: ${duplicates}`);
  for (const f of ['greeting-421', 'mail-451', 'drop-in-data', 'data-451'] as const) {
    assert.ok((chaos.faults.get(f) ?? 0) > 0, `the run exercised ${f}`);
  }
});
