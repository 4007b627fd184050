// Legacy devices against the appliance's own default configuration (image/boot/relaybox.conf, read
// with all its options): only what cannot run here is changed (the port, the spool, the upstream
// becomes a loopback sink with STARTTLS and AUTH, the secrets file, and JSON logs for the test to
// read). Each sloppy dialogue must be accepted, stored as expected, and forwarded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanups, type Defer } from '../lib/cleanup';
import { freePort, relayFor, scratchDir, tempDir, type RelayProcess } from '../lib/relay';
import { RawSmtp } from '../lib/smtp-client';
import { startSink, type Sink } from '../lib/sink';
import { testPki } from '../lib/certs';
import { readStored, splitReceived } from '../lib/spool-files';
import { applianceConfig } from '../lib/appliance-conf';

/**
 * The card forwards each message as soon as it is stored (forward-on-commit): the sink holds it until
 * `release` (called by `forwarded`), so that the test can look at what the spool holds first.
 */
async function appliance(defer: Defer): Promise<{ r: RelayProcess; sink: Sink; release: () => void }> {
  const pki = testPki();
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  defer(() => release());
  const sink = await startSink({ tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: 'box@example.test', pass: 'box-password' }, hold });
  defer(() => sink.close());
  const dir = scratchDir(defer);
  const port = await freePort();
  const spool = tempDir('relaybox-spool-');
  const conf = applianceConfig(dir, { port, spool, sinkPort: sink.port, statusPort: await freePort() });
  const r = await relayFor(defer, [conf], { raw: true, port, spool });
  return { r, sink, release };
}

async function open(defer: Defer, port: number): Promise<RawSmtp> {
  const { smtp, greeting } = await RawSmtp.open(port);
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220);
  return smtp;
}

/** The one stored message's text after the Received line, checked while it is still in the spool. */
function storedText(r: RelayProcess): string {
  const all = readStored(r.spool);
  assert.equal(all.length, 1, 'one message in the spool');
  const rec = splitReceived(all[0].content);
  assert.ok(rec, 'content starts with a Received line');
  return rec.rest.toString('latin1');
}

/** The sink, let go, must get the same text. */
async function forwarded(sink: Sink, release: () => void, text: string, from: string, to: string[]): Promise<void> {
  release();
  await sink.waitFor(1, 15000);
  const m = sink.messages[0];
  assert.equal(m.from, from);
  assert.deepEqual(m.to, to);
  assert.equal(m.secure, true, 'forwarded over STARTTLS (client-tls-required)');
  assert.equal(m.user, 'box@example.test');
  assert.ok(m.data.toString('latin1').endsWith(text), `forwarded text differs: ${JSON.stringify(m.data.toString('latin1').slice(-300))}`);
}

test('appliance config: bare LF everywhere (commands and DATA, ending "\\n.\\n")', async (t) => {
  const defer = cleanups(t);
  const { r, sink, release } = await appliance(defer);
  const smtp = await open(defer, r.port);
  smtp.write('EHLO printer.lan\n');
  assert.equal((await smtp.reply()).code, 250);
  for (const line of ['MAIL FROM:<printer@lan.example>\n', 'RCPT TO:<office@example.net>\n', 'DATA\n']) {
    smtp.write(line);
    assert.ok((await smtp.reply()).code < 400);
  }
  smtp.write('From: printer@lan.example\nSubject: Scan\n\nscanned page\n.\n');
  const reply = await smtp.reply(5000);
  assert.equal(reply.code, 250, reply.text);
  const text = 'From: printer@lan.example\r\nSubject: Scan\r\n\r\nscanned page\r\n';
  assert.equal(storedText(r), text);
  smtp.write('QUIT\n');
  assert.equal((await smtp.reply()).code, 221);
  await forwarded(sink, release, text, 'printer@lan.example', ['office@example.net']);
});

test('appliance config: MAIL FROM and RCPT TO without angle brackets, lowercase commands, HELO only', async (t) => {
  const defer = cleanups(t);
  const { r, sink, release } = await appliance(defer);
  const smtp = await open(defer, r.port);
  const helo = await smtp.command('helo ups-card');
  assert.equal(helo.code, 250);
  assert.equal((await smtp.command('mail from:ups@lan.example')).code, 250);
  assert.equal((await smtp.command('rcpt to: admin@example.net')).code, 250);
  assert.equal((await smtp.command('data')).code, 354);
  smtp.write('Subject: UPS on battery\r\n\r\nMains power lost.\r\n.\r\n');
  assert.equal((await smtp.reply()).code, 250);
  const text = 'Subject: UPS on battery\r\n\r\nMains power lost.\r\n';
  assert.equal(storedText(r), text);
  const [m] = readStored(r.spool);
  assert.equal(m.envelope.from, 'ups@lan.example');
  assert.deepEqual(m.envelope.toRemote, ['admin@example.net']);
  assert.equal(splitReceived(m.content)!.helo, 'ups-card');
  assert.equal((await smtp.command('quit')).code, 221);
  await forwarded(sink, release, text, 'ups@lan.example', ['admin@example.net']);
});

test('appliance config: an early talker (the whole session sent before the greeting) is accepted', async (t) => {
  const defer = cleanups(t);
  const { r, sink, release } = await appliance(defer);
  const smtp = await RawSmtp.connect(r.port);
  defer(() => smtp.destroy());
  // Written at once on connect, before the greeting can have been read.
  smtp.write('EHLO camera.lan\r\nMAIL FROM:<camera@lan.example>\r\nRCPT TO:<security@example.net>\r\nDATA\r\n');
  const replies = await smtp.nextReplies(5, 5000);
  assert.deepEqual(
    replies.map((x) => x.code),
    [220, 250, 250, 250, 354],
  );
  smtp.write('Subject: motion\r\n\r\nmotion detected\r\n.\r\nQUIT\r\n');
  assert.deepEqual(
    (await smtp.nextReplies(2, 5000)).map((x) => x.code),
    [250, 221],
  );
  await forwarded(sink, release, 'Subject: motion\r\n\r\nmotion detected\r\n', 'camera@lan.example', ['security@example.net']);
});

test('appliance config: 8-bit content without 8BITMIME or BODY=, and a 1,500-byte header line', async (t) => {
  const defer = cleanups(t);
  const { r, sink, release } = await appliance(defer);
  const smtp = await open(defer, r.port);
  assert.equal((await smtp.command('HELO copier')).code, 250, 'HELO: no extensions, so no 8BITMIME was offered');
  assert.equal((await smtp.command('MAIL FROM:<copier@lan.example>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<office@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  const longHeader = `X-Job-Info: ${'j'.repeat(1500 - 'X-Job-Info: '.length)}`;
  assert.equal(longHeader.length, 1500);
  const text = `Subject: Gr\xfc\xdfe aus dem B\xfcro\r\n${longHeader}\r\n\r\nUmlaute: \xe4\xf6\xfc \xc3\xa9 \xff\x80\r\n`;
  smtp.write(Buffer.from(text + '.\r\n', 'latin1'));
  assert.equal((await smtp.reply()).code, 250);
  assert.equal(storedText(r), text);
  assert.equal(readStored(r.spool)[0].envelope.content, 'unknown', 'no BODY= was given');
  assert.equal((await smtp.command('QUIT')).code, 221);
  await forwarded(sink, release, text, 'copier@lan.example', ['office@example.net']);
});
