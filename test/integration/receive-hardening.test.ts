// Issue 14 (hardening) on the SMTP listener: several whole transactions in one write, AUTH kept
// behind TLS with --server-tls-required, the recipient limit, command line length, timeouts that
// tighten under load, and bare CR normalised at receipt.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPki } from '../lib/certs';
import { cleanups, type Defer } from '../lib/cleanup';
import { type RelayProcess, relayFor, removeDir } from '../lib/relay';
import { RawSmtp, dataBlock } from '../lib/smtp-client';
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
    const froms = readAll(r.spool).map((m) => m.envelope.from).sort();
    assert.deepEqual(froms, Array.from({ length: n }, (_, i) => `p${i + 1}@example.test`));
  });
}
