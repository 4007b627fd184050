// Old and sloppy senders on a raw socket: HELO, bare-LF command lines, a space after the colon,
// addresses without angle brackets (refused unless nostrictparsing), everything pipelined.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanups, type Defer } from '../lib/cleanup';
import { type RelayProcess, relayFor } from '../lib/relay';
import { RawSmtp, dataBlock } from '../lib/smtp-client';
import { readAll, spoolFiles, splitReceived } from '../lib/spool-files';

/** A relay for this file: --domain relay.test, stopped and removed after the test. */
function relay(defer: Defer, args: string[] = []): Promise<RelayProcess> {
  return relayFor(defer, ['--domain', 'relay.test', ...args]);
}

async function session(defer: Defer, port: number): Promise<RawSmtp> {
  const { smtp, greeting } = await RawSmtp.open(port);
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220);
  return smtp;
}

const BODY = Buffer.from('Subject: legacy\r\n\r\nhello\r\n');

test('HELO without EHLO: a whole transaction, Received line names the HELO host', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  const helo = await smtp.command('HELO old.client.test');
  assert.equal(helo.code, 250);
  assert.equal(helo.lines.length, 1, 'HELO gets a one-line reply, no extensions');
  assert.equal((await smtp.command('MAIL FROM:<old@example.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<new@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(BODY));
  assert.equal((await smtp.reply()).code, 250);
  assert.equal((await smtp.command('QUIT')).code, 221);

  const [m] = readAll(r.spool);
  assert.equal(m.envelope.from, 'old@example.test');
  assert.deepEqual(m.envelope.toRemote, ['new@example.net']);
  const rec = splitReceived(m.content);
  assert.ok(rec);
  assert.equal(rec.helo, 'old.client.test');
  assert.ok(rec.rest.equals(BODY));
});

test('command lines ending in a bare LF are understood', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  smtp.write('EHLO lf.client.test\n');
  assert.equal((await smtp.reply()).code, 250);
  smtp.write('MAIL FROM:<lf@example.test>\n');
  assert.equal((await smtp.reply()).code, 250);
  smtp.write('RCPT TO:<lf-rcpt@example.net>\n');
  assert.equal((await smtp.reply()).code, 250);
  smtp.write('DATA\n');
  assert.equal((await smtp.reply()).code, 354);
  smtp.write(dataBlock(BODY));
  assert.equal((await smtp.reply()).code, 250);
  smtp.write('QUIT\n');
  assert.equal((await smtp.reply()).code, 221);
  const [m] = readAll(r.spool);
  assert.equal(m.envelope.from, 'lf@example.test');
  assert.deepEqual(m.envelope.toRemote, ['lf-rcpt@example.net']);
  assert.equal(splitReceived(m.content)!.helo, 'lf.client.test');
});

test('a space after the colon is tolerated: MAIL FROM: <x@y>, RCPT TO: <z@w>', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO space.client.test');
  assert.equal((await smtp.command('MAIL FROM: <spaced@example.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO: <spaced-rcpt@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(BODY));
  assert.equal((await smtp.reply()).code, 250);
  const [m] = readAll(r.spool);
  assert.equal(m.envelope.from, 'spaced@example.test');
  assert.deepEqual(m.envelope.toRemote, ['spaced-rcpt@example.net']);
});

test('addresses without angle brackets are refused by default (strictparsing)', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO strict.client.test');
  const mail = await smtp.command('MAIL FROM:user@host.test');
  assert.ok(mail.code === 501 || mail.code === 553, mail.text);
  assert.equal((await smtp.command('MAIL FROM:<user@host.test>')).code, 250);
  const rcpt = await smtp.command('RCPT TO:bob@host.test');
  assert.ok(rcpt.code === 501 || rcpt.code === 553, rcpt.text);
  // With no accepted recipient there is nothing to send.
  assert.ok((await smtp.command('DATA')).code >= 500);
  assert.equal((await smtp.command('QUIT')).code, 221);
  assert.deepEqual(spoolFiles(r.spool), []);
});

test('--server-smtp-config nostrictparsing accepts MAIL FROM:user@host and RCPT TO:bob@host', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-smtp-config', 'nostrictparsing']);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO lenient.client.test');
  assert.equal((await smtp.command('MAIL FROM:user@host.test BODY=8BITMIME')).code, 250);
  assert.equal((await smtp.command('RCPT TO:bob@host.test')).code, 250);
  assert.equal((await smtp.command('RCPT TO: carol@other.test')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<dave@bracketed.test>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(BODY));
  assert.equal((await smtp.reply()).code, 250);
  const [m] = readAll(r.spool);
  assert.equal(m.envelope.from, 'user@host.test');
  assert.deepEqual(m.envelope.toRemote, ['bob@host.test', 'carol@other.test', 'dave@bracketed.test']);
  assert.equal(m.envelope.content, '8bit', 'the parameter after a bare address is still read');
});

test('pipelined: two whole transactions and QUIT in one write', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  const one = Buffer.from('Subject: one\r\n\r\nfirst\r\n');
  const two = Buffer.from('Subject: two\r\n\r\n.second, dot-stuffed\r\n');
  smtp.write(Buffer.concat([
    Buffer.from('EHLO pipe.client.test\r\nMAIL FROM:<p1@example.test>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n'),
    dataBlock(one),
    Buffer.from('MAIL FROM:<p2@example.test>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n'),
    dataBlock(two),
    Buffer.from('QUIT\r\n'),
  ]));
  const codes = (await smtp.nextReplies(11)).map((x) => x.code);
  assert.deepEqual(codes, [250, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221]);
  await smtp.waitClosed();

  const messages = readAll(r.spool);
  assert.equal(messages.length, 2);
  const first = messages.find((m) => m.envelope.from === 'p1@example.test');
  const second = messages.find((m) => m.envelope.from === 'p2@example.test');
  assert.ok(first && second);
  assert.deepEqual(first.envelope.toRemote, ['a@example.net', 'b@example.net']);
  assert.deepEqual(second.envelope.toRemote, ['c@example.net']);
  assert.ok(splitReceived(first.content)!.rest.equals(one));
  assert.ok(splitReceived(second.content)!.rest.equals(two));
});

async function oneMessage(defer: Defer, args: string[], from: string, rcpts: string[]) {
  const r = await relay(defer, args);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO address.client.test');
  const mail = await smtp.command(`MAIL FROM:${from}`);
  assert.equal(mail.code, 250, mail.text);
  for (const rcpt of rcpts) {
    const reply = await smtp.command(Buffer.from(`RCPT TO:${rcpt}`, 'utf8').toString('latin1')); // UTF-8 on the wire
    assert.equal(reply.code, 250, `${rcpt}: ${reply.text}`);
  }
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(BODY));
  assert.equal((await smtp.reply()).code, 250);
  const [m] = readAll(r.spool);
  return m.envelope;
}

test('addresses are stored as written: quoted local parts (with spaces), source routes dropped', async (t) => {
  const env = await oneMessage(cleanups(t), [], '<"sender name"@example.test>',
    ['<"john doe"@example.net>', '<"q\\"uote d"@example.net>', '<@relay1.test,@relay2.test:routed@example.net>', '<postmaster>']);
  assert.equal(env.from, '"sender name"@example.test');
  assert.deepEqual(env.toRemote, ['"john doe"@example.net', '"q\\"uote d"@example.net', 'routed@example.net', 'postmaster']);
});

test('an A-label domain stays ASCII (also with noalabels); a UTF-8 domain becomes A-labels by default', async (t) => {
  const defer = cleanups(t);
  const kept = await oneMessage(defer, ['--server-smtp-config', 'noalabels'], '<a@xn--bcher-kva.example>', ['<user@xn--bcher-kva.example>']);
  assert.equal(kept.from, 'a@xn--bcher-kva.example');
  assert.deepEqual(kept.toRemote, ['user@xn--bcher-kva.example']);
  assert.equal(kept.utf8MailboxNames, false, 'an ASCII address never needs SMTPUTF8');

  const converted = await oneMessage(defer, [], '<a@xn--bcher-kva.example>', ['<user@bücher.example>', '<other@xn--bcher-kva.example>']);
  assert.deepEqual(converted.toRemote, ['user@xn--bcher-kva.example', 'other@xn--bcher-kva.example']);
  assert.equal(converted.utf8MailboxNames, false);
});
