// Crash loop: kill -9 the relay again and again while a steady stream of messages arrives. At the
// end every message that got a 250 has reached the upstream; duplicates are bounded by what was in
// flight at each kill. (forward-crash.test.ts looks at one kill in detail.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, removeDir, tempDir, type RelayProcess } from '../lib/relay';
import { cleanup, idsAtSink, makeMessage, relayFor, sendSession, sinkFor, spoolFiles, waitUntil } from './forward-util';

const KILLS = Number(process.env.RELAYBOX_CRASH_KILLS ?? 10);
const ACKS_PER_LIFE = 15;
const FORWARD_CONNECTIONS = 2;
const SENDERS = 3;

test(`kill -9 ${KILLS} times under a steady stream: every acknowledged message delivered, duplicates bounded`, async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const port = await freePort();
  const args = [
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
    '--forward-connections',
    String(FORWARD_CONNECTIONS),
    '--retry-delay',
    '1',
    '--retry-max-delay',
    '1',
  ];
  const acked = new Set<string>();
  let sent = 0;
  let stopping = false;
  let lifeAcks = 0;
  let kill: (() => void) | null = null;

  // Senders: one message per session, like a device; a refused connection (relay down) is tried again.
  const sender = async () => {
    while (!stopping) {
      const id = `crash-loop-${sent++}`;
      const r = await sendSession(port, [makeMessage(id)], () => {
        acked.add(id);
        if (++lifeAcks === ACKS_PER_LIFE) kill?.();
      });
      if (!r.replies[0]!.ok) await new Promise((x) => setTimeout(x, 20)); // pacing retries while the relay is down
    }
  };

  let busyAtKills = 0;
  const senders = Promise.all(Array.from({ length: SENDERS }, sender));
  for (let life = 0; life < KILLS; life++) {
    const relay: RelayProcess = await relayFor(defer, args, { spool, port, keepSpool: true });
    lifeAcks = 0;
    await new Promise<void>((resolve) => {
      kill = resolve;
    });
    kill = null;
    await relay.kill9();
    busyAtKills += spoolFiles(spool).filter((f) => f.endsWith('.envelope.busy')).length;
  }
  const last = await relayFor(defer, args, { spool, port, keepSpool: true });
  stopping = true;
  await senders;
  await waitUntil(
    () => {
      const have = new Set(idsAtSink(sink.messages));
      return [...acked].every((id) => have.has(id));
    },
    'every acknowledged message at the sink',
    60000,
  );
  await waitUntil(() => spoolFiles(spool).length === 0, 'an empty spool', 30000);
  assert.equal(last.proc.exitCode, null);

  const ids = idsAtSink(sink.messages);
  const distinct = new Set(ids);
  const duplicates = ids.length - distinct.size;
  t.diagnostic(
    `${KILLS} kills: ${acked.size} acknowledged, ${ids.length} delivered (${distinct.size} distinct), ${duplicates} duplicates, ${busyAtKills} .busy at the kills`,
  );
  assert.ok(acked.size >= KILLS * ACKS_PER_LIFE);
  assert.ok(duplicates <= busyAtKills, 'only a message that was being forwarded at a kill can arrive twice');
  assert.ok(duplicates <= KILLS * FORWARD_CONNECTIONS, 'at most one message per upstream connection is in flight at a kill');
});
