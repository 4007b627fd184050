// Hostile and broken clients: each is dealt with, nothing half-received stays in the spool, and the
// same relay process then takes a normal message from swaks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanups } from '../lib/cleanup';
import { removeDir, startRelay, type RelayProcess } from '../lib/relay';
import { RawSmtp, dataBlock, swaks, swaksAccepted } from '../lib/smtp-client';
import { pollUntil, readAll, readyIds, spoolFiles } from '../lib/spool-files';

let relay: RelayProcess;

before(async () => {
  relay = await startRelay(['--verbose', '--domain', 'relay.test']);
});

after(async () => {
  await relay.stop();
  removeDir(relay.spool);
});

/** The relay is alive, a normal swaks message is accepted and committed, and no stray file is left. */
async function stillServing(): Promise<void> {
  assert.equal(relay.proc.exitCode, null, `relay exited: ${relay.stderr}`);
  const before = readyIds(relay.spool).length;
  const res = await swaks({ port: relay.port, from: 'after@example.test', to: ['check@example.net'] });
  assert.ok(swaksAccepted(res), res.stdout + res.stderr);
  assert.equal(readyIds(relay.spool).length, before + 1);
  const files = spoolFiles(relay.spool);
  assert.equal(files.length, 2 * (before + 1), `only whole messages in the spool: ${files.join(', ')}`);
}

function noPartialFiles(): boolean {
  const files = spoolFiles(relay.spool);
  return files.length === 2 * readyIds(relay.spool).length && !files.some((f) => f.endsWith('.envelope.new'));
}

async function open(t: { after(fn: () => unknown): void }): Promise<RawSmtp> {
  const defer = cleanups(t);
  const { smtp, greeting } = await RawSmtp.open(relay.port);
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220);
  return smtp;
}

test('an overlong command line (20 KB) gets an error reply and the connection is closed', async (t) => {
  const smtp = await open(t);
  await smtp.command('EHLO long.client.test');
  smtp.write('MAIL FROM:<' + 'x'.repeat(20 * 1024) + '@example.test>\r\nNOOP\r\n');
  const r = await smtp.reply();
  assert.ok(r.code >= 400, r.text);
  await smtp.waitClosed();
  assert.deepEqual(smtp.replies.map((x) => x.code).slice(0, 2), [220, 250]);
  assert.equal(smtp.replies.length, 3, `the NOOP after the long line is not obeyed: ${smtp.replies.map((x) => x.text).join(' | ')}`);
  await stillServing();
});

test('NUL bytes in commands and addresses are refused, the session stays usable', async (t) => {
  const smtp = await open(t);
  assert.ok((await smtp.command('NO\0OP')).code >= 500);
  assert.equal((await smtp.command('EHLO nul.client.test')).code, 250);
  assert.ok((await smtp.command('MAIL FROM:<a\0b@example.test>')).code >= 500);
  assert.equal((await smtp.command('MAIL FROM:<clean@example.test>')).code, 250);
  assert.ok((await smtp.command('RCPT TO:<c\0d@example.net>')).code >= 500);
  assert.equal((await smtp.command('RCPT TO:<ok@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(Buffer.from('Subject: nul\r\n\r\nafter NULs\r\n')));
  assert.equal((await smtp.reply()).code, 250);
  const m = readAll(relay.spool).find((x) => x.envelope.from === 'clean@example.test');
  assert.ok(m);
  assert.deepEqual(m.envelope.toRemote, ['ok@example.net']);
  assert.ok(!m.envelopeText.includes('\0'));
  await stillServing();
});

test('binary garbage gets error replies or a close, never a crash', async (t) => {
  const smtp = await open(t);
  // Deterministic noise: a TLS ClientHello-like start, then a linear congruential byte stream.
  const noise = Buffer.alloc(8192);
  let x = 12345;
  for (let i = 0; i < noise.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    noise[i] = x >> 16;
  }
  noise.set([0x16, 0x03, 0x01, 0x02, 0x00, 0x01], 0);
  smtp.write(noise);
  smtp.write('\r\nQUIT\r\n');
  await smtp.waitClosed();
  const after = smtp.replies.slice(1);
  assert.ok(after.length >= 1, 'the garbage is answered');
  assert.ok(
    after.every((r) => r.code >= 400 || r.code === 221),
    after.map((r) => r.text).join('\n'),
  );
  assert.ok(!smtp.replies.some((r) => r.code === 354), 'garbage never starts a message');
  await stillServing();
});

test('an HTTP request line is refused and the connection closed', async (t) => {
  const smtp = await open(t);
  smtp.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  const r = await smtp.reply();
  assert.ok(r.code >= 400, r.text);
  await smtp.waitClosed();
  await stillServing();
});

test('DATA with no end, then disconnect: the half-received content file is removed', async (t) => {
  const smtp = await open(t);
  await smtp.command('EHLO noend.client.test');
  await smtp.command('MAIL FROM:<noend@example.test>');
  await smtp.command('RCPT TO:<x@example.net>');
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write('Subject: never ends\r\n\r\n' + 'line of text\r\n'.repeat(10000));
  await pollUntil('the partial .content file', () => !noPartialFiles());
  const closedBefore = relay.logs.filter((l) => l.msg === 'smtp connection closed').length;
  smtp.socket.end();
  await smtp.waitClosed();
  await relay.waitForCount('smtp connection closed', closedBefore + 1, 10000);
  await pollUntil('no partial files', noPartialFiles);
  assert.ok(!readAll(relay.spool).some((m) => m.envelope.from === 'noend@example.test'));
  await stillServing();
});

test('1000 recipients are all accepted and all in the envelope, in order', async (t) => {
  const smtp = await open(t);
  await smtp.command('EHLO many.client.test');
  const rcpts = Array.from({ length: 1000 }, (_, i) => `r${i}@example.net`);
  smtp.write('MAIL FROM:<many@example.test>\r\n' + rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join('') + 'DATA\r\n');
  const replies = await smtp.nextReplies(1002, 20000);
  assert.equal(replies[0].code, 250);
  assert.equal(replies.slice(1, 1001).filter((r) => r.code === 250).length, 1000);
  assert.equal(replies[1001].code, 354);
  smtp.write(dataBlock(Buffer.from('Subject: many\r\n\r\nto many\r\n')));
  assert.equal((await smtp.reply()).code, 250);
  const m = readAll(relay.spool).find((x) => x.envelope.from === 'many@example.test');
  assert.ok(m);
  assert.deepEqual(m.envelope.toRemote, rcpts);
  assert.match(m.envelopeText, /\r\nX-MailRelay-ToCount: 1000\r\n/);
  await stillServing();
});

for (const how of ['FIN', 'RST'] as const) {
  test(`a client that disconnects mid-DATA (${how}, mid-line) leaves nothing behind`, async (t) => {
    const smtp = await open(t);
    await smtp.command('EHLO gone.client.test');
    await smtp.command(`MAIL FROM:<gone-${how}@example.test>`);
    await smtp.command('RCPT TO:<x@example.net>');
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.write('Subject: cut\r\n\r\n' + 'some text\r\n'.repeat(8000) + 'half a li');
    await pollUntil('the partial .content file', () => !noPartialFiles());
    if (how === 'FIN') smtp.socket.end();
    else smtp.socket.resetAndDestroy();
    await smtp.waitClosed();
    await pollUntil('no partial files', noPartialFiles);
    assert.ok(!readAll(relay.spool).some((m) => m.envelope.from === `gone-${how}@example.test`));
    await stillServing();
  });
}

test('STARTTLS without --server-tls is refused (smtp-server would otherwise use a certificate of its own)', async (t) => {
  const defer = cleanups(t);
  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.socket.destroy());
  const ehlo = await smtp.command('EHLO client.test');
  assert.ok(!/STARTTLS/.test(ehlo.text), ehlo.text);
  const r = await smtp.command('STARTTLS');
  assert.ok(r.code >= 500 && r.code < 600, r.text);
  assert.equal((await smtp.command('NOOP')).code, 250, 'the session goes on in plain text');
  await stillServing();
});

// Issue 16 item 9: E-MailRelay drops a client after its 8th protocol error (unknown command or
// command out of sequence) in a connection; an accepted message in between does not wipe the count.
test("a client repeating unknown commands is disconnected after the 8th error, in E-MailRelay's words", async (t) => {
  const smtp = await open(t);
  const helo = await smtp.command('HELO');
  assert.equal(helo.text, '501 parameter required', 'a missing parameter is not counted');
  for (let i = 1; i <= 3; i++) assert.equal((await smtp.command('FOO')).text, '500 command unrecognized');
  assert.equal((await smtp.command('DATA')).code, 503, 'out of sequence counts too (4)');
  assert.equal((await smtp.command('EHLO junk.client.test')).code, 250);
  assert.equal((await smtp.command('MAIL FROM:<junk@example.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<still@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(Buffer.from('Subject: between the junk\r\n\r\nhello\r\n')));
  assert.equal((await smtp.reply()).code, 250, 'a message in between is taken');
  for (let i = 5; i <= 7; i++) assert.equal((await smtp.command('FOO')).text, '500 command unrecognized', `error ${i}`);
  assert.equal((await smtp.command('NOOP')).code, 250, 'still connected after 7 errors');
  const eighth = await smtp.command('FOO');
  assert.equal(eighth.text, '500 command unrecognized', 'the 8th error is still answered');
  await smtp.waitClosed();
  assert.equal(smtp.replies.at(-1), eighth, 'nothing after the 8th error is answered');
  await stillServing();
});
