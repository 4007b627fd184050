// --size: refused on MAIL SIZE= and after the data; nothing of a refused message stays in the spool,
// and the session goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanups } from '../lib/cleanup';
import { relayFor } from '../lib/relay';
import { RawSmtp, dataBlock } from '../lib/smtp-client';
import { readAll, spoolFiles, splitReceived } from '../lib/spool-files';

const BIG = Buffer.from('Subject: big\r\n\r\n' + ('z'.repeat(98) + '\r\n').repeat(50)); // 5016 bytes
const SMALL = Buffer.from('Subject: small\r\n\r\nfits\r\n');

test('--size 1000: SIZE advertised, MAIL SIZE=5000 refused with 552, SIZE=1000 accepted', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, ['--size', '1000']);
  const { smtp } = await RawSmtp.open(r.port);
  defer(() => smtp.destroy());
  const ehlo = await smtp.command('EHLO size.client.test');
  assert.ok(
    ehlo.lines.some((l) => /^250[- ]SIZE 1000$/.test(l)),
    ehlo.text,
  );
  const refused = await smtp.command('MAIL FROM:<a@example.test> SIZE=5000');
  assert.equal(refused.code, 552, refused.text);
  assert.equal((await smtp.command('MAIL FROM:<a@example.test> SIZE=1000')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<b@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(SMALL));
  assert.equal((await smtp.reply()).code, 250);
  assert.equal(readAll(r.spool).length, 1);
});

test('--size 1000: a 5000-byte message without SIZE= gets 552 after the data, leaves no file, and the session goes on', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, ['--size', '1000']);
  const { smtp } = await RawSmtp.open(r.port);
  defer(() => smtp.destroy());
  await smtp.command('EHLO size.client.test');
  assert.equal((await smtp.command('MAIL FROM:<big@example.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<b@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(BIG));
  const tooBig = await smtp.reply();
  assert.equal(tooBig.code, 552, tooBig.text);
  // The reply comes after the clean-up: nothing at all may be left, not even a .new envelope.
  assert.deepEqual(spoolFiles(r.spool), []);

  assert.equal((await smtp.command('MAIL FROM:<small@example.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<c@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(SMALL));
  assert.equal((await smtp.reply()).code, 250);
  assert.equal((await smtp.command('QUIT')).code, 221);

  const messages = readAll(r.spool);
  assert.equal(messages.length, 1);
  assert.equal(spoolFiles(r.spool).length, 2);
  assert.equal(messages[0].envelope.from, 'small@example.test');
  assert.deepEqual(messages[0].envelope.toRemote, ['c@example.net']);
  assert.ok(splitReceived(messages[0].content)!.rest.equals(SMALL));
});
