// --processes (issue 18): relay processes share the listening port and the spool; a supervisor
// restarts one that dies and stops them all. Each message reaches the upstream exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { scratchDir } from '../lib/relay';
import { cleanup, idsAtSink, makeMessage, relayFor, sendAll, sinkFor, spoolFiles, waitUntil } from './forward-util';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('--processes 2: both relay processes take mail, each message is forwarded once, a killed one is replaced, SIGTERM stops all', async (t) => {
  const defer = cleanup(t);
  const slow = { dataDelayMs: 0 };
  const sink = await sinkFor(defer, slow);
  const pidFile = path.join(scratchDir(defer), 'relaybox.pid');
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-commit', '--processes', '2', '--pid-file', pidFile]);
  const started = relay.logs.find((l) => l.msg === 'relaybox started')!;
  const pids = String(started.pids).split(' ').map(Number);
  assert.equal(pids.length, 2);
  assert.equal(relay.logs.filter((l) => l.msg === 'relay process started').length, 2);
  assert.equal(readFileSync(pidFile, 'utf8').trim(), String(relay.proc.pid), 'the pid file names the supervisor');

  const first = Array.from({ length: 60 }, (_, i) => makeMessage(`p-${i}`));
  await Promise.all(Array.from({ length: 12 }, (_, k) => sendAll(relay.port, first.slice(k * 5, k * 5 + 5))));
  await sink.waitFor(60, 20000);
  // Message ids name the process that received them (E-MailRelay's emailrelay.<pid>.<time>.<n>).
  const receivers = new Set(relay.logs.filter((l) => l.msg === 'message received').map((l) => String(l.id).split('.')[1]));
  assert.ok(
    [...receivers].every((p) => pids.includes(Number(p))),
    'only relay processes receive',
  );

  assert.equal(new Set(idsAtSink(sink.messages)).size, 60, 'no message forwarded twice');
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool', 10000);

  // Both relay processes killed while they forward to a slow upstream: what they held as .busy is
  // recovered by the supervisor before new relay processes start, and every message arrives.
  slow.dataDelayMs = 200;
  const second = Array.from({ length: 20 }, (_, i) => makeMessage(`q-${i}`));
  await Promise.all(Array.from({ length: 4 }, (_, k) => sendAll(relay.port, second.slice(k * 5, k * 5 + 5))));
  await waitUntil(() => spoolFiles(relay.spool).some((n) => n.endsWith('.busy')), 'a message being forwarded', 10000);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await relay.waitForLog((l) => l.msg === 'a relay process ended: restarting the relay processes to recover its messages' && l.how === 'signal SIGKILL', 10000);
  await relay.waitForLog('recovered a message that was being forwarded when relaybox stopped: it will be forwarded again', 15000);
  await relay.waitForCount('relay process started', 4, 15000);
  const subjects = () => new Set(sink.messages.map((m) => /Subject: (\S+)/.exec(m.data.toString())?.[1]));
  await waitUntil(() => second.every((_, i) => subjects().has(`q-${i}`)), 'every message of the second batch at the upstream', 30000);
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool', 15000).catch((e: Error) => {
    throw new Error(`${e.message}: ${spoolFiles(relay.spool).join(' ')}`);
  });
  const restarted = String(relay.logs.filter((l) => l.msg === 'relay process started').length);
  assert.equal(restarted, '4');

  const all = [relay.proc.pid!, ...pids];
  assert.equal(await relay.stop(), 0);
  await waitUntil(() => !all.some(alive), 'every relay process gone', 15000);
  assert.ok(!existsSync(pidFile), 'pid file removed');
});

test('--processes with the status page is refused at start-up, saying why', async (t) => {
  const defer = cleanup(t);
  await assert.rejects(relayFor(defer, ['--processes', '2', '--status-port', '0']), /--processes cannot be used with --status-port yet/);
});
