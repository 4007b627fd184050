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
  smtp.write(
    Buffer.concat([
      Buffer.from('EHLO pipe.client.test\r\nMAIL FROM:<p1@example.test>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n'),
      dataBlock(one),
      Buffer.from('MAIL FROM:<p2@example.test>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n'),
      dataBlock(two),
      Buffer.from('QUIT\r\n'),
    ]),
  );
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
  const env = await oneMessage(cleanups(t), [], '<"sender name"@example.test>', [
    '<"john doe"@example.net>',
    '<"q\\"uote d"@example.net>',
    '<@relay1.test,@relay2.test:routed@example.net>',
    '<postmaster>',
  ]);
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

// ---------------------------------------------------------------------------------------------
// Bare LF from local clients (loopback here; private, link-local and trusted ones alike): a bare LF
// ends a line, also the end-of-data line, and the content is stored with CRLF line ends.

/** MAIL, RCPT, DATA on an open session, then the raw data bytes as given; the final reply. */
async function rawData(smtp: RawSmtp, data: string, eol = '\r\n'): Promise<{ code: number; text: string }> {
  smtp.write(`MAIL FROM:<dev@example.test>${eol}`);
  assert.equal((await smtp.reply()).code, 250);
  smtp.write(`RCPT TO:<ops@example.net>${eol}`);
  assert.equal((await smtp.reply()).code, 250);
  smtp.write(`DATA${eol}`);
  assert.equal((await smtp.reply()).code, 354);
  smtp.write(Buffer.from(data, 'latin1'));
  return smtp.reply(5000);
}

for (const [name, ending] of [
  ['\\n.\\n', '\n.\n'],
  ['\\r\\n.\\n', '\r\n.\n'],
  ['\\n.\\r\\n', '\n.\r\n'],
] as const) {
  test(`a loopback client may end DATA with ${name}: accepted, stored with CRLF line ends`, async (t) => {
    const defer = cleanups(t);
    const r = await relay(defer);
    const smtp = await session(defer, r.port);
    smtp.write('EHLO printer.local\n');
    assert.equal((await smtp.reply()).code, 250);
    const reply = await rawData(smtp, `Subject: scan\n\nline one\nline two${ending}`, '\n');
    assert.equal(reply.code, 250, reply.text);
    smtp.write('QUIT\n');
    assert.equal((await smtp.reply()).code, 221);
    const [m] = readAll(r.spool);
    assert.equal(splitReceived(m.content)!.rest.toString('latin1'), 'Subject: scan\r\n\r\nline one\r\nline two\r\n');
  });
}

test("a loopback client's bare-LF lines are dot-unstuffed per line, and a bare CR becomes a space (bare-cr.ts)", async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO ups.local');
  const reply = await rawData(smtp, 'Subject: dots\n\n..one dot\n...two dots\r\n..\nbare\rCR\n.\n');
  assert.equal(reply.code, 250, reply.text);
  const [m] = readAll(r.spool);
  assert.equal(splitReceived(m.content)!.rest.toString('latin1'), 'Subject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nbare CR\r\n');
});

test('--bare-lf-clients with a malformed range stops start-up with a message naming the option', async (t) => {
  const defer = cleanups(t);
  const err = await relay(defer, ['--bare-lf-clients', '192.0.2.0/24,198.51.100.x']).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err, 'the relay started');
  assert.match(err.message, /--bare-lf-clients: invalid address range "198\.51\.100\.x"/);
});

test('pipelined: two messages that need no unstuffing, then QUIT, all in one write: QUIT is answered', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  smtp.write(
    'EHLO pipe.client.test\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nSubject: 1\r\n\r\none\r\n.\r\n' +
      'MAIL FROM:<c@example.test>\r\nRCPT TO:<d@example.net>\r\nDATA\r\nSubject: 2\r\n\r\ntwo\r\n.\r\nQUIT\r\n',
  );
  const codes = (await smtp.nextReplies(10, 5000)).map((x) => x.code);
  assert.deepEqual(codes, [250, 250, 250, 354, 250, 250, 250, 354, 250, 221]);
  assert.equal(readAll(r.spool).length, 2);
});

// ---------------------------------------------------------------------------------------------
// Addresses without angle brackets in strict mode: a 501 that says what to do.

test('strict mode: MAIL FROM:user@host and RCPT TO:bob@host get a 501 naming the brackets and nostrictparsing, and a warning', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO strict.client.test');
  const mail = await smtp.command('MAIL FROM:user@host.test');
  assert.equal(mail.code, 501);
  assert.match(mail.text, /^501 5\.5\.4 MAIL FROM needs angle brackets: MAIL FROM:<user@host\.test> \(or set server-smtp-config nostrictparsing\)$/);
  assert.equal((await smtp.command('MAIL FROM:<user@host.test>')).code, 250);
  const rcpt = await smtp.command('rcpt to: bob@host.test');
  assert.equal(rcpt.code, 501);
  assert.match(rcpt.text, /RCPT TO needs angle brackets: RCPT TO:<bob@host\.test> .*nostrictparsing/);
  const warning = await r.waitForLog((l) => l.level === 40 && /without angle brackets/.test(l.msg));
  assert.equal(warning.address, '127.0.0.1');
  assert.match(String(warning.msg), /nostrictparsing/);
});

// Issue 16 item 1: E-MailRelay takes any printable address that neither starts nor ends with "@";
// scanners send MAIL FROM:<scanner> and LAN hosts have "_" in their names.
test('sloppy addresses E-MailRelay accepts are stored: a sender without a domain, "_" in a domain, dots', async (t) => {
  const env = await oneMessage(cleanups(t), [], '<scanner>', ['<alerts@mail_host.lan>', '<a..b@x_y.example>', '<user@[300.1.1.1]>']);
  assert.equal(env.from, 'scanner');
  assert.deepEqual(env.toRemote, ['alerts@mail_host.lan', 'a..b@x_y.example', 'user@[300.1.1.1]']);
});

test('what E-MailRelay refuses stays refused: control and invisible characters, a leading or trailing @, bad parameters', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO address.client.test');
  for (const bad of ['<a\x01b@x_y.lan>', '<a\u200bb@x_y.lan>', '<@x_y.lan>', '<scanner@>', '<a b@x_y.lan>', '<scanner> BODY=8BIT+0D+0AX']) {
    const reply = await smtp.command(Buffer.from(`MAIL FROM:${bad}`, 'utf8').toString('latin1'));
    assert.equal(reply.code, 501, `MAIL FROM:${JSON.stringify(bad)}: ${reply.text}`);
  }
  assert.equal((await smtp.command('MAIL FROM:<scanner>')).code, 250);
  for (const bad of ['<>', '<a\x7fb@x_y.lan>', '<x_y.lan@>', '<a\ufeff@x_y.lan>']) {
    const reply = await smtp.command(Buffer.from(`RCPT TO:${bad}`, 'utf8').toString('latin1'));
    assert.equal(reply.code, 501, `RCPT TO:${JSON.stringify(bad)}: ${reply.text}`);
  }
  assert.equal((await smtp.command('RCPT TO:<ok@x_y.lan>')).code, 250);
});
