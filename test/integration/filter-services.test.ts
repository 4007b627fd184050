// Filters and verifiers that talk to a service: spam: and spam-edit: with Debian's spamd, the
// network filter net: and the network verifier net: with line servers run by the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { RawSmtp, sendMessage } from '../lib/smtp-client';
import { startSpamd } from '../lib/spamd';
import { cleanup, filesEnding, readEnvelopeFile, relayFor, spoolFiles } from './forward-util';

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
const HEADERS = 'From: scanner@example.com\r\nTo: office@example.net\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <scan-1@example.com>\r\n';

async function submit(port: number, body: string, to = ['office@example.net']) {
  const { smtp } = await RawSmtp.open(port);
  await smtp.command('EHLO client.test');
  const reply = await sendMessage(smtp, 'scanner@example.com', to, Buffer.from(body));
  smtp.socket.destroy();
  return reply;
}

test("spam: rejects GTUBE and passes normal mail; spam-edit: rewrites the content with spamd's headers", async (t) => {
  const defer = cleanup(t);
  const spamd = await startSpamd();
  defer(() => spamd.stop());
  const check = await relayFor(defer, ['--filter', `spam:${spamd.address}`]);
  const spam = await submit(check.port, `${HEADERS}Subject: buy now\r\n\r\n${GTUBE}\r\n`);
  assert.equal(spam.code, 452);
  assert.equal(spam.text, '452 rejected');
  const logged = (await check.waitForLog('message rejected by filter')) as unknown as { reason: string };
  assert.match(logged.reason, /^spam: True ; \d+(\.\d+)? \/ 5\.0$/);
  const ham = await submit(check.port, `${HEADERS}Subject: scan ready\r\n\r\nYour scan is attached.\r\n`);
  assert.equal(ham.code, 250, ham.text);
  assert.equal(filesEnding(check.spool, '.envelope').length, 1);

  const edit = await relayFor(defer, ['--filter', `spam-edit:${spamd.address}`]);
  assert.equal((await submit(edit.port, `${HEADERS}Subject: buy now\r\n\r\n${GTUBE}\r\n`)).code, 250);
  const [name] = filesEnding(edit.spool, '.content');
  const content = readFileSync(path.join(edit.spool, name!), 'latin1');
  assert.match(content, /^X-Spam-Flag: YES\r?\n/m);
  assert.match(content, /^X-Spam-Status: Yes, score=/m);
  assert.deepEqual(
    spoolFiles(edit.spool).filter((f) => f.includes('spamd')),
    [],
  );
});

/** A line server: answers each request line with reply(line); records what it got. */
async function lineServer(defer: (fn: () => unknown) => void, reply: (line: string) => string | null) {
  const got: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        got.push(line);
        const r = reply(line);
        if (r === null) s.destroy();
        else s.write(r + '\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  defer(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, got };
}

test('net: filter: the content path goes to the service; ok passes, a code and text reject, 100 abandons', async (t) => {
  const defer = cleanup(t);
  const service = await lineServer(defer, (contentPath) => {
    const text = readFileSync(contentPath, 'latin1');
    if (text.includes('Subject: pass')) return 'ok';
    if (text.includes('Subject: drop')) return '100';
    return '554 not wanted here\tpolicy rule 7';
  });
  const relay = await relayFor(defer, ['--filter', `net:${service.address}`]);
  assert.equal((await submit(relay.port, 'Subject: pass\r\n\r\nx\r\n')).code, 250);
  const refused = await submit(relay.port, 'Subject: refuse\r\n\r\nx\r\n');
  assert.equal(refused.text, '554 not wanted here');
  const logged = (await relay.waitForLog('message rejected by filter')) as unknown as { reason: string };
  assert.equal(logged.reason, 'policy rule 7');
  assert.equal((await submit(relay.port, 'Subject: drop\r\n\r\nx\r\n')).code, 250);
  assert.equal(service.got.length, 3);
  for (const p of service.got) assert.match(p, new RegExp(`^${relay.spool}/emailrelay\\.[\\d.]+\\.content$`));
  // The passed message is committed; the abandoned one is committed as it was left (best effort).
  assert.equal(filesEnding(relay.spool, '.envelope').length, 2);
  assert.equal(filesEnding(relay.spool, '.envelope.new').length, 0);
});

test('net: verifier: six fields joined by "|"; local, remote, permanent and temporary failures, and a dead service', async (t) => {
  const defer = cleanup(t);
  const service = await lineServer(defer, (line) => {
    const [rcpt] = line.split('|');
    if (rcpt!.startsWith('ops@')) return '0|ops|Operations Team';
    if (rcpt!.startsWith('sales@')) return '1|sales-team@example.org';
    if (rcpt!.startsWith('gone@')) return '2|no such mailbox|left the company';
    if (rcpt!.startsWith('crash@')) return null;
    return '3|directory unavailable';
  });
  const relay = await relayFor(defer, ['--address-verifier', `net:${service.address}`, '--domain', 'office.test']);
  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.socket.destroy());
  await smtp.command('EHLO client.test');
  await smtp.command('MAIL FROM:<printer@office.test>');
  assert.equal((await smtp.command('RCPT TO:<ops@office.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<sales@office.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<gone@office.test>')).text, '550 no such mailbox');
  assert.equal((await smtp.command('RCPT TO:<later@office.test>')).text, '450 directory unavailable');
  assert.equal((await smtp.command('RCPT TO:<crash@office.test>')).code, 450, 'a service that hangs up: temporary');
  assert.match(service.got[0]!, /^ops@office\.test\|printer@office\.test\|127\.0\.0\.1:\d+\|office\.test\|none\|$/);
  await smtp.command('DATA');
  smtp.write('Subject: x\r\n\r\nx\r\n.\r\n');
  assert.equal((await smtp.reply()).code, 250);
  const [name] = filesEnding(relay.spool, '.envelope');
  const env = readEnvelopeFile(relay.spool, name!);
  assert.deepEqual(env.toLocal, ['ops']);
  assert.deepEqual(env.toRemote, ['sales-team@example.org']);
});
