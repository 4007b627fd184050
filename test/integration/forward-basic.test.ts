// Forwarding basics: the triggers (--as-proxy/--forward-on-disconnect, --forward at start-up,
// --as-client, --poll), byte-exact content and envelope at the upstream, many messages on one
// upstream connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, renameSync } from 'node:fs';
import * as path from 'node:path';
import { freePort, removeDir, startRelay, tempDir } from '../lib/relay';
import {
  afterFirstLine,
  cleanup,
  deferredMessage,
  filesEnding,
  makeMessage,
  reasonsIn,
  relayFor,
  sendAll,
  sinkFor,
  spoolFiles,
  waitUntil,
  writeSpooled,
  type OutMessage,
} from './forward-util';

/** Content with what a careless relay would break: dot lines, 8-bit text, blank lines, trailing spaces. */
function trickyMessage(): OutMessage {
  const body = [
    'First line.',
    '.a line starting with a dot',
    '..two dots',
    '.',
    ' leading space and trailing spaces   ',
    '',
    '',
    'Gr\u00fc\u00dfe aus K\u00f6ln \u2013 8-bit UTF-8',
    'x'.repeat(900),
    'last line',
    '',
  ].join('\r\n');
  const m = makeMessage('tricky-1', { from: 'alice@example.com', to: ['bob@example.net', 'carol@example.org'], body });
  return m;
}

test('--as-proxy: forwarded on disconnect, byte-exact after the Received line, right envelope, spool empty', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--as-proxy', `127.0.0.1:${sink.port}`]);
  const msg = trickyMessage();
  await sendAll(relay.port, [msg]);
  await sink.waitFor(1);
  const got = sink.messages[0]!;
  assert.equal(got.from, 'alice@example.com');
  assert.deepEqual(got.to, ['bob@example.net', 'carol@example.org']);
  const { first, rest } = afterFirstLine(got.data);
  assert.match(first, /^Received: from sender\.test \(\[127\.0\.0\.1\]\) by \S+ with ESMTP ; /);
  assert.ok(rest.equals(msg.data), `content differs:\n${JSON.stringify(rest.toString('latin1'))}\n${JSON.stringify(msg.data.toString('latin1'))}`);
  await relay.waitForLog('message forwarded');
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
});

test('--forward-to + --forward-on-disconnect: each message forwarded with its own envelope', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect']);
  const a = makeMessage('env-a', { from: 'a@example.com', to: ['x@example.net'] });
  const b = makeMessage('env-b', { from: '', to: ['y@example.net', 'z@example.net'] });
  await sendAll(relay.port, [a, b]);
  await sink.waitFor(2);
  const bySubject = new Map(sink.messages.map((m) => [/Subject: (\S+)/.exec(m.data.toString())![1], m]));
  assert.equal(bySubject.get('env-a')!.from, 'a@example.com');
  assert.deepEqual(bySubject.get('env-a')!.to, ['x@example.net']);
  assert.equal(bySubject.get('env-b')!.from, '', 'the null sender <> is kept');
  assert.deepEqual(bySubject.get('env-b')!.to, ['y@example.net', 'z@example.net']);
  assert.ok(afterFirstLine(bySubject.get('env-b')!.data).rest.equals(b.data));
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
});

test('--forward: what E-MailRelay left in the spool is forwarded at start-up, exactly as stored', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const one = makeMessage('prespooled-1', { from: 'old@example.com', to: ['r1@example.net'] });
  const two = makeMessage('prespooled-2', { from: 'old@example.com', to: ['r2@example.net', 'r3@example.net'] });
  // E-MailRelay's content files start with its own Received line; nothing may be added in front of it.
  one.data = Buffer.concat([Buffer.from('Received: from x ([10.0.0.1]) by old.example with ESMTP ; Mon, 1 Jan 2024 00:00:00 +0000\r\n'), one.data]);
  writeSpooled(spool, 'emailrelay.001', one);
  writeSpooled(spool, 'emailrelay.002', two);
  await relayFor(defer, ['--forward', '--forward-to', `127.0.0.1:${sink.port}`], { spool, keepSpool: true });
  await sink.waitFor(2);
  const byFirstRcpt = new Map(sink.messages.map((m) => [m.to[0], m]));
  assert.ok(byFirstRcpt.get('r1@example.net')!.data.equals(one.data), 'content forwarded byte for byte');
  assert.ok(byFirstRcpt.get('r2@example.net')!.data.equals(two.data));
  assert.deepEqual(byFirstRcpt.get('r2@example.net')!.to, ['r2@example.net', 'r3@example.net']);
  assert.equal(byFirstRcpt.get('r1@example.net')!.from, 'old@example.com');
  await waitUntil(() => spoolFiles(spool).length === 0, 'an empty spool');
});

test('ForwardToAddress sends a message to its own next hop; an unreachable one holds up only its own message', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const routed = await sinkFor(defer, { host: '127.0.0.2' });
  const closedPort = await freePort();
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  writeSpooled(spool, 'emailrelay.010', makeMessage('routed', { from: 'a@example.com', to: ['b@example.net'] }), {
    forwardToAddress: `127.0.0.2:${routed.port}`,
  });
  writeSpooled(spool, 'emailrelay.011', makeMessage('plain', { from: 'a@example.com', to: ['c@example.net'] }));
  writeSpooled(spool, 'emailrelay.012', makeMessage('unreachable', { from: 'a@example.com', to: ['d@example.net'] }), {
    forwardToAddress: `127.0.0.3:${closedPort}`,
  });
  await relayFor(defer, ['--forward', '--forward-to', `127.0.0.1:${sink.port}`], { spool, keepSpool: true });
  await sink.waitFor(1);
  await routed.waitFor(1);
  assert.deepEqual(
    sink.messages.map((m) => m.to),
    [['c@example.net']],
  );
  assert.deepEqual(
    routed.messages.map((m) => m.to),
    [['b@example.net']],
  );
  const deferred = await deferredMessage(spool);
  assert.equal(deferred.name, 'emailrelay.012.envelope');
  assert.match(deferred.reasons[0]!.reason, /ECONNREFUSED|connect/i);
});

test('a routed next hop that cannot be reached is tried once per run: its other messages wait untouched (as E-MailRelay)', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const closed = `127.0.0.3:${await freePort()}`;
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  writeSpooled(spool, 'emailrelay.020', makeMessage('first', { to: ['d@example.net'] }), { forwardToAddress: closed });
  writeSpooled(spool, 'emailrelay.021', makeMessage('plain', { to: ['c@example.net'] }));
  writeSpooled(spool, 'emailrelay.022', makeMessage('second', { to: ['e@example.net'] }), { forwardToAddress: closed });
  const relay = await relayFor(defer, ['--forward', '--forward-to', `127.0.0.1:${sink.port}`, '--no-retry'], { spool, keepSpool: true });
  await relay.waitForLog('skipping message with unconnectable address');
  await sink.waitFor(1);
  const idsOf = (msg: string) => relay.logs.filter((l) => l.msg === msg).map((l) => l.id);
  assert.deepEqual(idsOf("cannot connect to the message's own next hop"), ['emailrelay.020']);
  assert.deepEqual(idsOf('skipping message with unconnectable address'), ['emailrelay.022']);
  assert.deepEqual(reasonsIn(spool, 'emailrelay.022.envelope'), [], 'the skipped message is untouched');
  assert.deepEqual(
    sink.messages.map((m) => m.to),
    [['c@example.net']],
  );
});

test('--as-client: forwards the spool once and exits 0; exits 1 with the upstream down, messages kept (not .bad)', async (t) => {
  const defer = cleanup(t);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const clientArgs = (port: number) => ['--as-client', `127.0.0.1:${port}`, '--spool-dir', spool, '--user', 'root'];

  // Upstream down: nothing listens on the port.
  writeSpooled(spool, 'emailrelay.001', makeMessage('client-1'));
  writeSpooled(spool, 'emailrelay.002', makeMessage('client-2'));
  // A failed message is never forwarded by a run.
  writeSpooled(spool, 'emailrelay.000', makeMessage('client-failed'));
  renameSync(path.join(spool, 'emailrelay.000.envelope'), path.join(spool, 'emailrelay.000.envelope.bad'));
  const failed = ['emailrelay.000.content', 'emailrelay.000.envelope.bad'];
  const downPort = await freePort();
  const down = await startRelay(clientArgs(downPort), { raw: true, readyMessage: null, spool });
  defer(() => down.kill9());
  assert.equal(await down.exited, 1, 'exit code with the upstream down');
  assert.deepEqual(filesEnding(spool, '.bad'), ['emailrelay.000.envelope.bad'], 'a connection failure fails nothing');
  assert.deepEqual(filesEnding(spool, '.busy'), []);
  assert.deepEqual(filesEnding(spool, '.envelope').sort(), ['emailrelay.001.envelope', 'emailrelay.002.envelope']);
  assert.ok(existsSync(path.join(spool, 'emailrelay.001.content')));

  // Upstream up: one run, then exit 0 with the spool empty (the failed attempt above does not hold it back).
  const sink = await sinkFor(defer);
  const up = await startRelay(clientArgs(sink.port), { raw: true, readyMessage: null, spool });
  defer(() => up.kill9());
  assert.equal(await up.exited, 0, `exit code with the upstream up; log: ${JSON.stringify(up.logs.slice(-5))}`);
  assert.equal(sink.messages.length, 2);
  assert.deepEqual(spoolFiles(spool), failed);
  await up.waitForLog('forwarding run finished');
  assert.ok(!up.logs.some((l) => l.msg === 'listening for smtp'), '--as-client does not serve');

  // Empty spool: "no messages to send", exit 0.
  const empty = await startRelay(clientArgs(sink.port), { raw: true, readyMessage: null, spool });
  defer(() => empty.kill9());
  assert.equal(await empty.exited, 0);
  await empty.waitForLog('no messages to send');
  assert.equal(sink.messages.length, 2);
});

test('--as-client after a temporary failure recorded in the envelope still forwards the message', async (t) => {
  const defer = cleanup(t);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const sink = await sinkFor(defer);
  const msg = makeMessage('client-retried');
  writeSpooled(spool, 'emailrelay.001', msg, { tail: ['X-MailRelay-Reason: cannot connect', 'X-MailRelay-ReasonCode:'] });
  const run = await startRelay(['--as-client', `127.0.0.1:${sink.port}`, '--spool-dir', spool], { raw: true, readyMessage: null, spool });
  defer(() => run.kill9());
  assert.equal(await run.exited, 0);
  assert.equal(sink.messages.length, 1, 'a one-shot run forwards everything that is not failed');
  assert.deepEqual(spoolFiles(spool), []);
});

test('--poll 1: forwards without any disconnect trigger', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--poll', '1', '--verbose']);
  await sendAll(relay.port, [makeMessage('polled-1')]);
  await sink.waitFor(1);
  await relay.waitForLog((l) => l.msg === 'forwarding run requested' && l.why === 'poll');
  await relay.waitForLog('message forwarded');
  const triggers = relay.logs.filter((l) => l.msg === 'forwarding run requested').map((l) => l.why);
  assert.ok(!triggers.includes('client disconnected'), `triggers: ${JSON.stringify(triggers)}`);
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
});

test('a 4 MB message with long lines and dot lines is forwarded byte-exact', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect']);
  const lines: string[] = [];
  for (let i = 0, size = 0; size < 4 * 1024 * 1024; i++) {
    lines.push(i % 97 === 0 ? '.' + 'd'.repeat(i % 50) : `${i} ${'abcdefghij'.repeat(1 + (i % 99))}`);
    size += lines[i]!.length + 2;
  }
  const msg = makeMessage('big-1', { body: lines.join('\r\n') + '\r\n' });
  await sendAll(relay.port, [msg]);
  await sink.waitFor(1, 30000);
  const { rest } = afterFirstLine(sink.messages[0]!.data);
  assert.equal(rest.length, msg.data.length);
  assert.ok(rest.equals(msg.data), 'content differs');
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
});

test('one upstream connection carries many messages (--forward-connections 1)', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--forward-connections', '1']);
  const msgs = Array.from({ length: 20 }, (_, i) => makeMessage(`batch-${i}`));
  await sendAll(relay.port, msgs);
  await sink.waitFor(20);
  await relay.waitForLog('forwarding run finished');
  assert.equal(sink.connections, 1, 'all 20 messages over one connection');
  assert.equal(new Set(sink.messages.map((m) => m.session)).size, 1);
  assert.equal(sink.messages.length, 20);
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
});

// Issue 16 item 2: with nothing listening, polling alone keeps the relay running (E-MailRelay's
// unit.cpp: quit when sent only without --poll). Before, it exited once a run left nothing open.
for (const mode of ['--no-smtp', '--dont-serve'] as const) {
  test(`${mode} --poll 1 without --admin keeps polling: a message spooled after some empty runs is forwarded`, async (t) => {
    const defer = cleanup(t);
    const spool = tempDir('relaybox-spool-');
    defer(() => removeDir(spool));
    const pidDir = tempDir('relaybox-pid-');
    defer(() => removeDir(pidDir));
    const pidFile = path.join(pidDir, 'pid');
    const sink = await sinkFor(defer);
    const relay = await startRelay(
      [
        '--no-daemon',
        '--log',
        '--verbose',
        '--user',
        'root',
        '--spool-dir',
        spool,
        mode,
        '--forward-to',
        `127.0.0.1:${sink.port}`,
        '--poll',
        '1',
        '--pid-file',
        pidFile,
      ],
      { raw: true, spool },
    );
    defer(() => relay.kill9());
    await relay.waitForCount((l) => l.msg === 'forwarding run requested' && l.why === 'poll', 2);
    assert.equal(relay.proc.exitCode, null, 'still running after two empty runs');
    assert.ok(existsSync(pidFile), 'the pid file is there while it runs');
    writeSpooled(spool, 'emailrelay.001', makeMessage('polled-late'));
    await sink.waitFor(1);
    assert.equal(await relay.stop(), 0);
    assert.ok(!existsSync(pidFile), 'the pid file is removed on a clean stop');
  });
}
