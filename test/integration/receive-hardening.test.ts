// Issue 14 (hardening) on the SMTP listener: several whole transactions in one write, AUTH kept
// behind TLS with --server-tls-required, the recipient limit, command line length, timeouts that
// tighten under load, and bare CR normalised at receipt.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPki } from '../lib/certs';
import { cleanups, type Defer } from '../lib/cleanup';
import { type RelayProcess, freePort, relayFor, removeDir } from '../lib/relay';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { RawSmtp, dataBlock, runTool, swaks, swaksAccepted } from '../lib/smtp-client';
import { startSink } from '../lib/sink';
import { readAll, splitReceived } from '../lib/spool-files';

const pki = testPki();
after(() => removeDir(pki.dir));

/** A relay for this file: --domain relay.test, stopped and removed after the test. */
function relay(defer: Defer, args: string[] = []): Promise<RelayProcess> {
  return relayFor(defer, ['--domain', 'relay.test', ...args]);
}

async function session(defer: Defer, port: number, localAddress?: string): Promise<RawSmtp> {
  const { smtp, greeting } = await RawSmtp.open(port, '127.0.0.1', localAddress);
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220, greeting.text);
  return smtp;
}

// ---------------------------------------------------------------------------------------------
// Item 8: whole transactions pipelined in one write (smtp-server's continue() cleared the next
// message's continuation when the handlers answered synchronously).

for (const n of [2, 3]) {
  test(`${n} whole transactions and QUIT in one write: all stored, all answered, 221 last`, async (t) => {
    const defer = cleanups(t);
    const r = await relay(defer);
    const smtp = await session(defer, r.port);
    const parts: Buffer[] = [Buffer.from('EHLO pipe.client.test\r\n')];
    for (let i = 1; i <= n; i++) {
      parts.push(Buffer.from(`MAIL FROM:<p${i}@example.test>\r\nRCPT TO:<r${i}@example.net>\r\nDATA\r\n`));
      parts.push(dataBlock(Buffer.from(`Subject: ${i}\r\n\r\nmessage ${i}\r\n`)));
    }
    parts.push(Buffer.from('QUIT\r\n'));
    smtp.write(Buffer.concat(parts));
    const codes = (await smtp.nextReplies(2 + 4 * n, 5000)).map((x) => x.code);
    assert.deepEqual(codes, [250, ...Array.from({ length: n }, () => [250, 250, 354, 250]).flat(), 221]);
    await smtp.waitClosed();
    const froms = readAll(r.spool)
      .map((m) => m.envelope.from)
      .sort();
    assert.deepEqual(
      froms,
      Array.from({ length: n }, (_, i) => `p${i + 1}@example.test`),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Item 3: --server-tls-required keeps AUTH behind TLS (E-MailRelay's documentation, Postfix's
// smtpd_tls_auth_only): no AUTH in EHLO before STARTTLS, and AUTH before it gets 530.

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('--server-tls-required: no AUTH offered before STARTTLS; AUTH, MAIL and VRFY get 530 5.7.0; after STARTTLS AUTH works', async (t) => {
  const defer = cleanups(t);
  const secrets = path.join(pki.dir, 'tls-required.auth');
  writeFileSync(secrets, 'server plain alice alicepw\n');
  const r = await relay(defer, ['--server-tls', '--server-tls-required', '--server-tls-certificate', pki.serverPemFile, '--server-auth', secrets]);
  const smtp = await session(defer, r.port);
  const ehlo = await smtp.command('EHLO plain.client.test');
  assert.ok(
    ehlo.lines.some((l) => /STARTTLS/.test(l)),
    ehlo.text,
  );
  assert.ok(!ehlo.lines.some((l) => /AUTH/.test(l)), `AUTH offered before STARTTLS:\n${ehlo.text}`);
  for (const command of [`AUTH PLAIN ${b64('\0alice\0alicepw')}`, 'AUTH LOGIN', 'AUTH CRAM-MD5', 'AUTH NONSENSE']) {
    assert.equal((await smtp.command(command)).text, '530 5.7.0 Must issue a STARTTLS command first', command);
  }
  assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).text, '530 5.7.0 Must issue a STARTTLS command first');
  assert.equal((await smtp.command('VRFY alice')).code, 530);
  assert.ok(readAll(r.spool).length === 0);

  const overTls = await swaks({
    port: r.port,
    extra: ['--tls', '--tls-verify', '--tls-ca-path', pki.caFile, '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alicepw'],
  });
  assert.ok(swaksAccepted(overTls), overTls.stdout + overTls.stderr);
  assert.match(overTls.stdout, /^<~ +250[- ]AUTH .*PLAIN/m, 'AUTH is offered after STARTTLS');
  assert.match(overTls.stdout, /^<~ +235 /m);
});

// ---------------------------------------------------------------------------------------------
// Item 6: a recipient limit (Postfix's smtpd_recipient_limit, 1000), so the envelope is bounded;
// and a bound on the command line, so no more than that is buffered before a line is parsed.

test('the 1001st RCPT of a transaction gets 452 4.5.3 Too many recipients; the 1000 are stored', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO many.client.test');
  await smtp.command('MAIL FROM:<bulk@example.test>');
  const rcpts = Array.from({ length: 1002 }, (_, i) => `RCPT TO:<r${i}@example.net>\r\n`).join('');
  smtp.write(rcpts);
  const replies = await smtp.nextReplies(1002, 20000);
  assert.deepEqual(
    replies
      .slice(0, 1000)
      .filter((x) => x.code !== 250)
      .map((x) => x.text),
    [],
  );
  assert.equal(replies[1000].text, '452 4.5.3 Too many recipients');
  assert.equal(replies[1001].text, '452 4.5.3 Too many recipients');
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(Buffer.from('Subject: bulk\r\n\r\nhello\r\n')));
  assert.equal((await smtp.reply()).code, 250);
  const [m] = readAll(r.spool);
  assert.equal(m.envelope.toRemote.length, 1000);
  assert.equal(m.envelope.toRemote[999], 'r999@example.net');
});

test('--max-recipients 3: the 4th RCPT gets 452; the limit is per transaction (RSET starts again)', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--max-recipients', '3']);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO few.client.test');
  for (let round = 0; round < 2; round++) {
    assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).code, 250);
    for (let i = 0; i < 3; i++) assert.equal((await smtp.command(`RCPT TO:<r${i}@example.net>`)).code, 250);
    assert.equal((await smtp.command('RCPT TO:<r3@example.net>')).text, '452 4.5.3 Too many recipients');
    assert.equal((await smtp.command('RSET')).code, 250);
  }
});

test('a command line over --max-command-length (default 2048) gets 421 and the connection closes; 2048 bytes are read', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO long.client.test');
  const atLimit = await smtp.command('NOOP ' + 'x'.repeat(2048 - 5));
  assert.notEqual(atLimit.code, 421, atLimit.text);
  const over = await smtp.command('MAIL FROM:<' + 'x'.repeat(3000) + '@example.test>');
  assert.equal(over.code, 421, over.text);
  await smtp.waitClosed();

  // a line that never ends: the relay stops buffering it at the limit
  const endless = await session(defer, r.port);
  endless.write('EHLO ' + 'y'.repeat(4000));
  assert.equal((await endless.reply()).code, 421);
  await endless.waitClosed();
});

// ---------------------------------------------------------------------------------------------
// Item 7: connection slots cannot be held. A client that sends nothing is dropped after
// --command-timeout (300 s, Postfix's smtpd_timeout), before its first command too; from 3/4 of
// --max-connections open the relay is busy and every connection's timeout is cut to
// --stress-timeout (10 s, Postfix's stress mode).

/** Open n connections that read the greeting and then say nothing. */
async function idleConnections(defer: Defer, port: number, n: number): Promise<RawSmtp[]> {
  const out: RawSmtp[] = [];
  for (let i = 0; i < n; i++) out.push(await session(defer, port, `127.0.0.${2 + i}`));
  return out;
}

test('busy (3/4 of --max-connections open): idle connections that never sent EHLO are dropped after 10 s, and a real client is served', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--max-connections', '8']);
  const idle = await idleConnections(defer, r.port, 8);
  const refused = await RawSmtp.open(r.port);
  defer(() => refused.smtp.destroy());
  assert.equal(refused.greeting.code, 421, 'all slots are taken');
  const started = Date.now();
  for (const c of idle) {
    await c.waitClosed(15000);
    assert.match(c.replies.at(-1)!.text, /^421 /);
  }
  assert.ok(Date.now() - started < 14000, `dropped after ${Date.now() - started} ms`);
  assert.ok(
    r.logs.some((l) => l.level === 40 && /^busy:/.test(l.msg)),
    'a warning says the relay is busy',
  );
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO real.client.test');
  assert.equal((await smtp.command('MAIL FROM:<real@example.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<ops@example.net>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(Buffer.from('Subject: served\r\n\r\nhello\r\n')));
  assert.equal((await smtp.reply()).code, 250);
});

test('--stress-timeout applies only from 3/4 of --max-connections, and to connections already open', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--max-connections', '8', '--stress-timeout', '1']);
  const first = await idleConnections(defer, r.port, 5);
  // below 3/4 (6 of 8) the 300 s timeout holds: after three stress timeouts all still answer
  await new Promise((resolve) => setTimeout(resolve, 3000));
  for (const c of first) assert.equal((await c.command('NOOP')).code, 250);
  await session(defer, r.port, '127.0.0.50');
  await r.waitForLog((l) => /^busy:/.test(l.msg));
  for (const c of first) await c.waitClosed(5000);
  await r.waitForLog((l) => /^no longer busy/.test(l.msg));
});

test('--command-timeout: a client that sends nothing after the greeting is dropped; --idle-timeout stays the upper bound', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--command-timeout', '2']);
  const smtp = await session(defer, r.port);
  const started = Date.now();
  await smtp.waitClosed(8000);
  assert.match(smtp.replies.at(-1)!.text, /^421 /);
  assert.ok(Date.now() - started >= 1500, 'not before the timeout');

  const r2 = await relay(defer, ['--command-timeout', '600', '--idle-timeout', '1']);
  const s2 = await session(defer, r2.port);
  await s2.waitClosed(6000);
});

// ---------------------------------------------------------------------------------------------
// Item 12: a bare CR is normalised once, at receipt (src/smtp/bare-cr.ts): as in Postfix only LF
// ends a line, and the CR becomes a space, so filters (the spool file), POP RETR and the upstream
// all see the same lines. "\r.\r\n" never ends DATA (receive-smuggling.test.ts).

test('bare CR becomes a space at receipt: the spool file, POP RETR and the upstream get the same lines', async (t) => {
  const defer = cleanups(t);
  const sink = await startSink();
  defer(() => sink.close());
  const secrets = path.join(pki.dir, 'bare-cr.auth');
  writeFileSync(secrets, 'server plain alice alicepw\n');
  const pop = await freePort();
  const r = await relay(defer, [
    '--pop',
    '--pop-port',
    String(pop),
    '--pop-auth',
    secrets,
    '--pop-no-delete',
    '--forward-to',
    `127.0.0.1:${sink.port}`,
    '--forward-on-disconnect',
  ]);
  const smtp = await session(defer, r.port);
  await smtp.command('EHLO cr.client.test');
  await smtp.command('MAIL FROM:<cr@example.test>');
  await smtp.command('RCPT TO:<ops@example.net>');
  assert.equal((await smtp.command('DATA')).code, 354);
  // the data as sent (already dot-stuffed): a header with a CR in it, a line ending "\r.\r\n", a CR
  // before CRLF, and a CR split from its successor by the write boundary below
  smtp.write('Subject: x\rX-Injected: yes\r\n\r\nbody\r.\r\nmore\rtext\r\r\nsplit\r');
  smtp.write('here\r\n.\r\n');
  assert.equal((await smtp.reply()).code, 250, 'one message: "\\r.\\r\\n" did not end it');
  const expected = 'Subject: x X-Injected: yes\r\n\r\nbody .\r\nmore text \r\nsplit here\r\n';
  const [m] = readAll(r.spool);
  const stored = splitReceived(m.content)!.rest.toString('latin1');
  assert.equal(stored, expected, 'stored with the bare CRs made spaces');

  const retr = await runTool('curl', ['-sS', '--max-time', '15', `pop3://127.0.0.1:${pop}/1`, '-u', 'alice:alicepw']);
  assert.equal(retr.code, 0, retr.stderr);
  assert.ok(retr.stdout.endsWith(expected), `POP RETR: ${JSON.stringify(retr.stdout.slice(-120))}`);

  await smtp.command('QUIT');
  await sink.waitFor(1, 15000);
  const upstream = sink.messages[0].data.toString('latin1');
  assert.ok(upstream.endsWith(expected), `upstream: ${JSON.stringify(upstream.slice(-120))}`);
  assert.doesNotMatch(upstream, /^X-Injected:/m, 'no header line appears upstream that the filters did not see');
});
