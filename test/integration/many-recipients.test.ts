// Many recipients in one message must cost work in proportion to their number: the server filters
// run in the relay's one event loop, so a quadratic step there keeps every other client waiting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp, dataBlock } from '../lib/smtp-client';
import { cleanup, filesEnding, readEnvelopeFile, relayFor } from './forward-util';

const RECIPIENTS = 20000;

/** MAIL, then every RCPT in one write (the relay offers PIPELINING), then DATA: all accepted. */
async function openTransaction(smtp: RawSmtp, to: string[]): Promise<void> {
  assert.equal((await smtp.command('EHLO client.test')).code, 250);
  smtp.write(`MAIL FROM:<a@example.com>\r\n${to.map((a) => `RCPT TO:<${a}>\r\n`).join('')}`);
  const replies = await smtp.nextReplies(1 + to.length, 60000);
  const refused = replies.find((r) => r.code !== 250);
  assert.equal(refused, undefined, `MAIL and every RCPT accepted: ${refused?.text}`);
  assert.equal((await smtp.command('DATA')).code, 354);
}

test(`split: with ${RECIPIENTS} recipients in one domain finishes quickly, and another client is greeted meanwhile`, async (t) => {
  const defer = cleanup(t);
  const relay = await relayFor(defer, ['--filter', 'split:', '--max-recipients', '0']);
  const to = Array.from({ length: RECIPIENTS }, (_, i) => `user${i}@example.net`);
  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.destroy());
  await openTransaction(smtp, to);

  // The end of the data starts the filter. Meanwhile another client connects again and again (one
  // at a time) until the message is stored: the slowest greeting is how long the relay stood still.
  const started = performance.now();
  smtp.write(dataBlock(Buffer.from('From: a@example.com\r\nSubject: many\r\n\r\nbody\r\n')));
  let storedMs: number | undefined;
  const stored = smtp.reply(60000).finally(() => {
    storedMs = performance.now() - started;
  });
  const greetings: number[] = [];
  while (storedMs === undefined) {
    const before = performance.now();
    const other = await RawSmtp.connect(relay.port);
    const greeting = await other.reply(60000).finally(() => other.destroy());
    assert.equal(greeting.code, 220, greeting.text);
    greetings.push(performance.now() - before);
  }
  const reply = await stored;
  assert.equal(reply.code, 250, reply.text);
  const slowest = Math.max(...greetings);
  t.diagnostic(`stored after ${Math.round(storedMs!)} ms; slowest of ${greetings.length} greetings ${Math.round(slowest)} ms`);
  // The quadratic split took about 15 s here for 20,000 recipients; the linear one well under 1 s.
  assert.ok(slowest < 1500, `another client waited ${Math.round(slowest)} ms for its greeting (${greetings.length} connections)`);
  assert.ok(storedMs! < 3000, `the message with ${RECIPIENTS} recipients was stored after ${Math.round(storedMs!)} ms`);

  const [envelope, ...more] = filesEnding(relay.spool, '.envelope');
  assert.deepEqual(more, [], 'one domain: one envelope');
  const env = readEnvelopeFile(relay.spool, envelope!);
  assert.deepEqual(env.toRemote, to, 'every recipient kept, in order');
  assert.equal(env.forwardTo, 'example.net');
});
