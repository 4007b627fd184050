// Client filters (--client-filter) and per-message routing: a filter on the busy envelope before
// MAIL FROM, its failure, abandon and stop-scanning results; split: + mx: MX routing against a real
// DNS server (dnsmasq on loopback); ClientAccountSelector choosing the client secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { removeDir, scratchDir, startRelay, tempDir } from '../lib/relay';
import { shellScript } from '../lib/programs';
import { startDns } from '../lib/dns';
import { RawSmtp, dataBlock } from '../lib/smtp-client';
import {
  cleanup,
  filesEnding,
  makeMessage,
  readEnvelopeFile,
  reasonsIn,
  relayFor,
  sendAll,
  sinkFor,
  spoolFiles,
  waitUntil,
  writeSpooled,
} from './forward-util';

/** One --as-client run over the spool; resolves with its exit code. */
async function asClient(spool: string, upstream: string, args: string[]): Promise<number | null> {
  const r = await startRelay(['--as-client', upstream, '--spool-dir', spool, '--user', 'root', ...args], { raw: true, readyMessage: null, spool });
  return r.exited;
}

test('a client filter sees the .busy envelope and its edits to the content are what is forwarded', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-cfilter-');
  const seen = path.join(dir, 'seen');
  const filter = shellScript(dir, 'tag.sh', `echo "$2" > ${seen}\nsed -i 's/^Subject: /Subject: [relayed] /' "$1"`);
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--as-proxy', `127.0.0.1:${sink.port}`, '--client-filter', filter]);
  await sendAll(relay.port, [makeMessage('cf-1')]);
  await sink.waitFor(1);
  assert.match(sink.messages[0]!.data.toString(), /\r\nSubject: \[relayed\] cf-1\r\n/);
  assert.match(readFileSync(seen, 'utf8'), new RegExp(`^${relay.spool}/emailrelay\\.\\d+\\.\\d+\\.\\d+\\.envelope\\.busy\\n$`));
});

test('a failing client filter fails the message with its reason and ReasonCode 550; nothing is sent', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-cfilter-');
  const filter = shellScript(dir, 'no.sh', 'echo "<<not today>>"\necho "<<weekend rule>>"\nexit 1');
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--as-proxy', `127.0.0.1:${sink.port}`, '--client-filter', filter]);
  await sendAll(relay.port, [makeMessage('cf-2')]);
  await relay.waitForLog('message failed by the client filter');
  const [bad] = filesEnding(relay.spool, '.envelope.bad');
  assert.deepEqual(reasonsIn(relay.spool, bad!), [{ reason: 'weekend rule', code: '550' }]);
  assert.equal(sink.messages.length, 0);
});

test('client filter abandon (exit 100) leaves the message spooled; exit 102 stops the run after one message', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  writeSpooled(spool, 'emailrelay.1.1.1', makeMessage('abandoned'));
  assert.equal(await asClient(spool, `127.0.0.1:${sink.port}`, ['--client-filter', 'exit:100']), 0);
  assert.deepEqual(spoolFiles(spool), ['emailrelay.1.1.1.content', 'emailrelay.1.1.1.envelope']);
  assert.equal(sink.messages.length, 0);

  writeSpooled(spool, 'emailrelay.1.1.2', makeMessage('second'));
  assert.equal(await asClient(spool, `127.0.0.1:${sink.port}`, ['--client-filter', 'exit:102', '--forward-connections', '1']), 0);
  assert.equal(sink.messages.length, 1, 'one message, then the run stops');
  assert.equal(filesEnding(spool, '.envelope').length, 1);
});

test('split: + mx: route each recipient domain to its own MX host, found through a local DNS server', async (t) => {
  const defer = cleanup(t);
  const sinkOne = await sinkFor(defer);
  // split: gives every part the same port: the second host listens on that port at another loopback address.
  const sinkTwo = await sinkFor(defer, { host: '127.0.0.2', port: sinkOne.port });
  const dns = await startDns({
    local: ['example'],
    mx: [
      ['one.example', 'mx.one.example', 10],
      ['one.example', 'backup.one.example', 20],
    ],
    a: [
      ['mx.one.example', '127.0.0.1'],
      ['backup.one.example', '127.0.0.3'],
      ['two.example', '127.0.0.2'],
    ],
  });
  defer(() => dns.stop());
  const relay = await relayFor(defer, [
    '--forward-to',
    '127.0.0.1:9',
    '--forward-on-disconnect',
    '--filter',
    `split:${sinkOne.port}`,
    '--client-filter',
    `mx:${dns.address};nst=2`,
  ]);
  await sendAll(relay.port, [makeMessage('split-1', { to: ['a@one.example', 'b@two.example', 'c@ONE.example'] })]);
  await sinkOne.waitFor(1);
  await sinkTwo.waitFor(1);
  assert.deepEqual(
    sinkOne.messages.map((m) => m.to),
    [['a@one.example', 'c@ONE.example']],
  );
  assert.deepEqual(
    sinkTwo.messages.map((m) => m.to),
    [['b@two.example']],
  );
  assert.match(sinkTwo.messages[0]!.data.toString(), /Subject: split-1/);
  await waitUntil(() => spoolFiles(relay.spool).length === 0, 'an empty spool');
});

test('mx: failures fail the message ("routing filter failed"); an address literal needs no DNS', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const dns = await startDns({ local: ['example'] });
  defer(() => dns.stop());
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  writeSpooled(spool, 'emailrelay.1.1.1', makeMessage('nx'), { forwardTo: 'nothere.example' });
  writeSpooled(spool, 'emailrelay.1.1.2', makeMessage('literal'), { forwardTo: `[127.0.0.1]:${sink.port}` });
  await asClient(spool, '127.0.0.1:9', ['--client-filter', `mx:${dns.address}`]);
  assert.equal(sink.messages.length, 1);
  assert.match(sink.messages[0]!.data.toString(), /Subject: literal/);
  const reasons = reasonsIn(spool, 'emailrelay.1.1.1.envelope.bad');
  assert.equal(reasons.length, 1);
  assert.match(reasons[0]!.reason, /^routing filter failed: mx: nothere\.example: no such domain$/);
});

/** A sink that takes scanner-account's password, a secrets file with these lines, and a spool with these [selector, tag] messages. */
async function selectorSetup(defer: (fn: () => unknown) => void, lines: string[], messages: [string, string][]) {
  const dir = scratchDir(defer, 'relaybox-cfilter-');
  const sink = await sinkFor(defer, { auth: { user: 'scanner-account', pass: 'scanner-pass' } });
  const secrets = path.join(dir, 'secrets');
  writeFileSync(secrets, lines.join('\n') + '\n');
  const spool = scratchDir(defer, 'relaybox-spool-');
  messages.forEach(([selector, tag], i) =>
    writeSpooled(spool, `emailrelay.1.1.${i + 1}`, makeMessage(tag), selector ? { clientAccountSelector: selector } : {}),
  );
  return { sink, secrets, spool };
}

test('ClientAccountSelector picks the client line with that selector; an unknown one fails its message and, with --no-retry, ends the run', async (t) => {
  const { sink, secrets, spool } = await selectorSetup(
    cleanup(t),
    ['client plain default-user default-pass', 'client plain scanner-account scanner-pass scanners'],
    [
      ['scanners', 'selected'],
      ['nosuch', 'unknown-selector'],
      ['scanners', 'after-the-failure'],
    ],
  );
  await asClient(spool, `127.0.0.1:${sink.port}`, ['--client-auth', secrets, '--no-retry']);
  assert.equal(sink.messages.length, 1);
  // With --no-retry a failed session ends the run, as E-MailRelay's does: the next message waits, untouched.
  assert.deepEqual(reasonsIn(spool, 'emailrelay.1.1.3.envelope'), []);
  assert.equal(sink.messages[0]!.user, 'scanner-account');
  const reasons = reasonsIn(spool, 'emailrelay.1.1.2.envelope.bad');
  assert.match(reasons[0]!.reason, /no "client" line for the envelope's ClientAccountSelector "nosuch"/);
  assert.ok(readEnvelopeFile(spool, 'emailrelay.1.1.2.envelope.bad'));
});

test('consecutive messages with the same ClientAccountSelector share one upstream session (as E-MailRelay)', async (t) => {
  const { sink, secrets, spool } = await selectorSetup(
    cleanup(t),
    ['client plain scanner-account scanner-pass', 'client plain scanner-account scanner-pass scanners'],
    [
      ['scanners', 'first'],
      ['scanners', 'second'],
      ['', 'default-account'],
    ],
  );
  assert.equal(await asClient(spool, `127.0.0.1:${sink.port}`, ['--client-auth', secrets]), 0);
  assert.equal(sink.messages.length, 3);
  assert.equal(sink.connections, 2, 'one session for the two "scanners" messages, one for the default account');
});

// Issue 16 item 8: in proxy mode (--immediate) a failing client or routing filter gets 452 (temporary)
// with the filter's response, as E-MailRelay answers; the message is kept as .bad with ReasonCode 550.
for (const routing of [false, true]) {
  test(`--immediate: a failing ${routing ? 'routing' : 'client'} filter gets "452 ${routing ? 'routing failed' : 'rejected'}"`, async (t) => {
    const defer = cleanup(t);
    const dir = scratchDir(defer, 'relaybox-cfilter-');
    const sink = await sinkFor(defer);
    // A server filter giving the message a next hop of its own makes the client filter a routing filter.
    const route = shellScript(dir, 'route.sh', `sed -i 's/^X-MailRelay-ForwardTo:.*\\r$/X-MailRelay-ForwardTo: localhost\\r/' "$2"`);
    const relay = await relayFor(defer, [
      '--forward-to',
      `127.0.0.1:${sink.port}`,
      '--immediate',
      '--client-filter',
      'exit:1',
      ...(routing ? ['--filter', route] : []),
    ]);
    const { smtp } = await RawSmtp.open(relay.port);
    defer(() => smtp.destroy());
    await smtp.command('EHLO proxy.client.test');
    await smtp.command('MAIL FROM:<dev@lan.example>');
    await smtp.command('RCPT TO:<boss@example.com>');
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.write(dataBlock(Buffer.from('Subject: proxied\r\n\r\nhello\r\n')));
    const reply = await smtp.reply();
    assert.equal(reply.text, routing ? '452 routing failed' : '452 rejected');
    const [bad] = filesEnding(relay.spool, '.envelope.bad');
    assert.ok(bad, 'the message is kept as .bad');
    assert.equal(reasonsIn(relay.spool, bad!)[0]!.code, '550');
    if (routing) assert.match(readFileSync(path.join(relay.spool, bad!), 'latin1'), /^X-MailRelay-ForwardTo: localhost\r$/m);
    assert.equal(sink.messages.length, 0);
  });
}
