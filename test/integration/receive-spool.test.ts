// Receiving into the spool with real clients (swaks, curl, Postfix smtp-source, a raw socket): the
// files E-MailRelay would write, the Received line, and content kept byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cleanups, type Defer } from '../lib/cleanup';
import { relayFor, removeDir, tempDir } from '../lib/relay';
import { RawSmtp, dataBlock, runTool, swaks, swaksAccepted } from '../lib/smtp-client';
import { readAll, readyIds, spoolFiles, splitReceived, type SpooledMessage } from '../lib/spool-files';
import { publicNamespace, PUBLIC, type Namespace } from '../lib/netns';

const ID = /^emailrelay\.\d+\.\d+\.\d+$/;

function scratch(defer: Defer): string {
  const dir = tempDir('relaybox-receive-');
  defer(() => removeDir(dir));
  return dir;
}

/** Exactly one message in the spool, as a .content and a ready .envelope and nothing else. */
function onlyMessage(spool: string): SpooledMessage {
  const ids = readyIds(spool);
  assert.equal(ids.length, 1, `one message expected, spool has ${spoolFiles(spool).join(', ')}`);
  assert.match(ids[0], ID);
  assert.deepEqual(spoolFiles(spool), [`${ids[0]}.content`, `${ids[0]}.envelope`]);
  return readAll(spool)[0];
}

function assertEnvelopeBasics(m: SpooledMessage, from: string, to: string[], client = '127.0.0.1'): void {
  assert.ok(m.envelopeText.startsWith('X-MailRelay-Format: #2821.8\r\n'), m.envelopeText);
  assert.ok(m.envelopeText.endsWith('X-MailRelay-End: 1\r\n'), m.envelopeText);
  assert.equal(m.envelope.from, from);
  assert.deepEqual(m.envelope.toRemote, to);
  assert.deepEqual(m.envelope.toLocal, []);
  assert.equal(m.envelope.client, client);
  assert.equal(m.envelope.authentication, '');
}

function assertRecentDate(d: Date): void {
  assert.ok(!Number.isNaN(d.getTime()), 'Received date parses');
  assert.ok(Math.abs(Date.now() - d.getTime()) < 5 * 60 * 1000, `Received date ${d.toISOString()} is now`);
}

// Every awkward kind of line: bare LF, a long line, 8-bit bytes, leading dots (one a lone dot).
const AWKWARD = Buffer.concat([
  Buffer.from('Subject: awkward\r\nX-Test: 1\r\n\r\n'),
  Buffer.from('bare\nLF\nlines\r\n'),
  Buffer.from('after a bare LF:\n..two dots\n.one dot\n.\n...\r\n'),
  Buffer.from('.leading dot\r\n..two leading dots\r\n.\r\n'),
  Buffer.from('L'.repeat(3000) + '\r\n'),
  Buffer.from([0x38, 0x62, 0x69, 0x74, 0x3a, 0x20, 0xe9, 0xff, 0x80, 0xa0, 0xc3, 0xa9, 0x0d, 0x0a]),
  Buffer.from('last line'),
]);

test('swaks: spool holds <id>.content + <id>.envelope; Received line; content as sent', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, ['--domain', 'relay.test']);
  const dir = scratch(defer);
  const file = path.join(dir, 'message.txt');
  writeFileSync(file, AWKWARD);
  const res = await swaks({ port: r.port, from: 'alice@example.test', to: ['bob@example.net'], helo: 'swaks.client.test', dataFile: file });
  assert.ok(swaksAccepted(res), res.stdout + res.stderr);
  assert.match(res.stdout, /^<-\s+220 relay\.test /m, 'greeting names --domain');

  const m = onlyMessage(r.spool);
  assertEnvelopeBasics(m, 'alice@example.test', ['bob@example.net']);
  const rec = splitReceived(m.content);
  assert.ok(rec, `content starts with a Received line: ${m.content.subarray(0, 200).toString('latin1')}`);
  assert.equal(rec.helo, 'swaks.client.test');
  assert.equal(rec.address, '127.0.0.1');
  assert.equal(rec.domain, 'relay.test');
  assert.equal(rec.protocol, 'ESMTP');
  assert.equal(rec.cipher, undefined);
  assertRecentDate(rec.date);
  // swaks itself turns every line end into CRLF and ends the text with one; the rest is ours to keep.
  const expected = Buffer.concat([Buffer.from(AWKWARD.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'), Buffer.from('\r\n')]);
  assert.ok(rec.rest.equals(expected), `content differs:\n${JSON.stringify(rec.rest.toString('latin1').slice(0, 400))}`);
});

/**
 * Bare LFs are kept byte for byte (E-MailRelay's reading: only CRLF ends a line) for clients that are
 * not local, private or trusted (local ones may end lines with a bare LF: receive-legacy.test.ts). So
 * the relay and curl run in a namespace where the client has a public-looking address.
 */
async function publicRelay(
  t: import('node:test').TestContext,
  defer: Defer,
  args: string[],
): Promise<{ ns: Namespace; r: Awaited<ReturnType<typeof relayFor>> } | null> {
  const ns = await publicNamespace(defer);
  if (!ns) {
    t.skip('needs root and ip netns, for a client with a public address');
    return null;
  }
  const r = await relayFor(defer, ['--interface', PUBLIC, '--remote-clients', ...args], { wrapper: ns.wrapper });
  return { ns, r };
}

test('curl smtp:// from a public address: bare LF, long lines, 8-bit bytes and leading dots kept byte for byte', async (t) => {
  const defer = cleanups(t);
  const pub = await publicRelay(t, defer, ['--domain', 'relay.test']);
  if (!pub) return;
  const { ns, r } = pub;
  const dir = scratch(defer);
  const file = path.join(dir, 'message.txt');
  const body = Buffer.concat([AWKWARD, Buffer.from('\r\n')]);
  writeFileSync(file, body);
  const res = await ns.run('curl', [
    '--silent',
    '--show-error',
    '--max-time',
    '15',
    '--url',
    `smtp://${PUBLIC}:${r.port}/curl.client.test`,
    '--mail-from',
    'carol@example.test',
    '--mail-rcpt',
    'dave@example.net',
    '--mail-rcpt',
    'erin@example.org',
    '--upload-file',
    file,
  ]);
  assert.equal(res.code, 0, res.stderr);

  const m = onlyMessage(r.spool);
  assertEnvelopeBasics(m, 'carol@example.test', ['dave@example.net', 'erin@example.org'], PUBLIC);
  const rec = splitReceived(m.content);
  assert.ok(rec, 'content starts with a Received line');
  assert.equal(rec.helo, 'curl.client.test');
  assert.equal(rec.domain, 'relay.test');
  assert.equal(rec.protocol, 'ESMTP');
  assert.ok(rec.rest.equals(body), `content differs:\n${JSON.stringify(rec.rest.toString('latin1').slice(0, 400))}`);
});

test('Postfix smtp-source: several messages over one session, each in its own pair of files', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, ['--domain', 'relay.test']);
  const res = await runTool('/usr/sbin/smtp-source', [
    '-c',
    '-m',
    '3',
    '-s',
    '1',
    '-l',
    '500',
    '-f',
    'src@source.test',
    '-t',
    'dst@sink.test',
    '-M',
    'source.client.test',
    `127.0.0.1:${r.port}`,
  ]);
  assert.equal(res.code, 0, res.stderr);

  const messages = readAll(r.spool);
  assert.equal(messages.length, 3);
  assert.equal(spoolFiles(r.spool).length, 6);
  assert.equal(new Set(messages.map((m) => m.id)).size, 3);
  for (const m of messages) {
    assertEnvelopeBasics(m, 'src@source.test', ['dst@sink.test']);
    const rec = splitReceived(m.content);
    assert.ok(rec, 'content starts with a Received line');
    assert.equal(rec.helo, 'source.client.test');
    assert.equal(rec.domain, 'relay.test');
    const text = rec.rest.toString('latin1');
    assert.match(text, /^From: <src@source\.test>\r\nTo: <dst@sink\.test>\r\nDate: [^\r\n]+\r\nMessage-Id: <[^>]+@source\.client\.test>\r\n\r\n/);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    assert.match(body, /^(?:\d*X+\r\n)+$/, "body is smtp-source's X lines, each ending CRLF");
  }
});

test('raw socket: every byte value in the body is kept; BODY=8BITMIME is recorded as Content: 8bit', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, ['--domain', 'relay.test']);
  const all = Buffer.from([...Array(256).keys()].filter((b) => b !== 0x0a && b !== 0x0d));
  // A loopback client's bare LF ends a line (stored as CRLF), so the bare LF here is followed by text.
  const body = Buffer.concat([Buffer.from('Subject: bytes\r\n\r\n'), all, Buffer.from('\r\n'), all.subarray(100), Buffer.from('\n'), Buffer.from('x.\r\n')]);
  const stored = Buffer.concat([body.subarray(0, body.length - 5), Buffer.from('\r\nx.\r\n')]);
  const smtp = await RawSmtp.connect(r.port);
  defer(() => smtp.destroy());
  assert.equal((await smtp.reply()).code, 220);
  assert.equal((await smtp.command('EHLO raw.client.test')).code, 250);
  assert.equal((await smtp.command('MAIL FROM:<raw@example.test> BODY=8BITMIME')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<dest@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(body));
  assert.equal((await smtp.reply()).code, 250);

  const m = onlyMessage(r.spool);
  assertEnvelopeBasics(m, 'raw@example.test', ['dest@example.net']);
  assert.equal(m.envelope.content, '8bit');
  const rec = splitReceived(m.content);
  assert.ok(rec);
  assert.equal(rec.helo, 'raw.client.test');
  assert.ok(rec.rest.equals(stored), 'content differs');
});

test('--anonymous=content: no Received line, the content is exactly what was sent (public client)', async (t) => {
  const defer = cleanups(t);
  const pub = await publicRelay(t, defer, ['--domain', 'relay.test', '--anonymous=content']);
  if (!pub) return;
  const { ns, r } = pub;
  const dir = scratch(defer);
  const file = path.join(dir, 'message.txt');
  const body = Buffer.concat([AWKWARD, Buffer.from('\r\n')]);
  writeFileSync(file, body);
  const res = await ns.run('curl', [
    '--silent',
    '--show-error',
    '--max-time',
    '15',
    '--url',
    `smtp://${PUBLIC}:${r.port}/anon.client.test`,
    '--mail-from',
    'a@example.test',
    '--mail-rcpt',
    'b@example.net',
    '--upload-file',
    file,
  ]);
  assert.equal(res.code, 0, res.stderr);
  const m = onlyMessage(r.spool);
  assert.equal(splitReceived(m.content), null);
  assert.ok(!m.content.toString('latin1').startsWith('Received:'));
  assert.ok(m.content.equals(body), 'content differs');
});

test('--domain appears in the greeting and the EHLO reply (the Received line is checked above)', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, ['--domain', 'relay.test']);
  const { smtp, greeting } = await RawSmtp.open(r.port);
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220);
  assert.match(greeting.text, /^220 relay\.test /);
  const ehlo = await smtp.command('EHLO c.test');
  assert.match(ehlo.lines[0], /^250[- ]relay\.test\b/);

  const plain = await relayFor(defer, []);
  const other = await RawSmtp.open(plain.port);
  defer(() => other.smtp.destroy());
  assert.doesNotMatch(other.greeting.text, /relay\.test/);
});

test('durability: the ready .envelope exists the moment the 250 arrives', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, []);
  const smtp = await RawSmtp.connect(r.port);
  defer(() => smtp.destroy());
  await smtp.reply();
  await smtp.command('EHLO durable.test');
  for (let i = 1; i <= 5; i++) {
    await smtp.command('MAIL FROM:<d@example.test>');
    await smtp.command(`RCPT TO:<r${i}@example.net>`);
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.write(dataBlock(Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`)));
    const done = await smtp.reply();
    // No waiting of any kind between the reply and these checks.
    const files = spoolFiles(r.spool);
    assert.equal(done.code, 250, done.text);
    assert.equal(files.filter((f) => f.endsWith('.envelope')).length, i, files.join(', '));
    assert.equal(files.filter((f) => f.endsWith('.content')).length, i, files.join(', '));
    assert.deepEqual(
      files.filter((f) => /\.envelope\./.test(f)),
      [],
      'no .new/.busy/.bad envelope',
    );
  }
  const last = readAll(r.spool).find((m) => m.envelope.toRemote[0] === 'r5@example.net');
  assert.ok(last, 'the fifth message is in the spool');
  assert.ok(splitReceived(last.content)!.rest.equals(Buffer.from('Subject: 5\r\n\r\nbody 5\r\n')));
});
