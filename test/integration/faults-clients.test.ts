// Slow and hostile clients: slowloris connections dribbling a byte at a time, 1,000 idle
// connections, and a client flooding pipelined commands without reading the replies. Meanwhile a
// normal client is served, and the relay's memory stays bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { RawSmtp, sendMessage } from '../lib/smtp-client';
import { cleanup, relayFor, waitUntil } from './forward-util';
import { rssMb } from '../lib/relay';

const IDLE = Number(process.env.RELAYBOX_IDLE_CONNECTIONS ?? 1000);

/** A connection from its own loopback source address (127.0.0.2 and up), so per-address limits do not apply. */
function openFrom(port: number, i: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.${1 + Math.floor(i / 250)}.${2 + (i % 250)}` });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function normalMessage(port: number, tag: string): Promise<number> {
  const { smtp } = await RawSmtp.open(port);
  try {
    await smtp.command('EHLO normal.test');
    return (await sendMessage(smtp, 'n@example.com', ['r@example.net'], Buffer.from(`Subject: ${tag}\r\n\r\nx\r\n`))).code;
  } finally {
    smtp.socket.destroy();
  }
}

test(`${IDLE} idle connections and slowloris clients: a normal client is still served, memory stays bounded`, async (t) => {
  const defer = cleanup(t);
  const relay = await relayFor(defer, ['--max-connections', String(IDLE + 50)]);
  const pid = relay.proc.pid!;
  const before = rssMb(pid)!;
  const sockets: net.Socket[] = [];
  defer(() => {
    for (const s of sockets) s.destroy();
  });
  let greetings = 0;
  for (let i = 0; i < IDLE; i++) {
    const s = await openFrom(relay.port, i);
    s.on('error', () => undefined);
    s.once('data', () => greetings++);
    sockets.push(s);
  }
  await waitUntil(() => greetings === IDLE, 'a greeting on every idle connection', 30000);
  // Slowloris: a byte at a time, each as soon as the relay has answered the previous line or at once.
  const slow = sockets.slice(0, 20);
  const text = 'EHLO slow.test\r\nMAIL FROM:<s@example.com>\r\n';
  for (let at = 0; at < text.length; at++) for (const s of slow) s.write(text[at]!);
  assert.equal(await normalMessage(relay.port, 'while-idle'), 250);
  const during = rssMb(pid)!;
  t.diagnostic(
    `RSS: ${before.toFixed(1)} MB before, ${during.toFixed(1)} MB with ${IDLE} idle connections (${(((during - before) * 1024) / IDLE).toFixed(1)} KB each)`,
  );
  assert.ok(during - before < 100, `memory grew by ${(during - before).toFixed(1)} MB for ${IDLE} idle connections`);
  assert.equal(relay.proc.exitCode, null);
});

test('a pipelined flood from a client that never reads: the relay stops reading from it, serves others, memory stays bounded', async (t) => {
  const defer = cleanup(t);
  const relay = await relayFor(defer, []);
  const pid = relay.proc.pid!;
  const before = rssMb(pid)!;
  const flood = await openFrom(relay.port, 0);
  defer(() => flood.destroy());
  flood.on('error', () => undefined);
  flood.pause(); // never read
  const chunk = Buffer.from('NOOP\r\n'.repeat(10000));
  let written = 0;
  let stalled = false;
  // 60 MB of commands would queue about 80 MB of replies in a relay that kept reading.
  while (!stalled && written < 60e6 && !flood.destroyed) {
    written += chunk.length;
    if (!flood.write(chunk)) {
      const drained = await Promise.race([once(flood, 'drain').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
      stalled = !drained; // no drain for 3 s: the relay has stopped reading this client
    }
  }
  assert.ok(stalled, `the relay kept reading all ${(written / 1e6).toFixed(1)} MB`);
  assert.equal(await normalMessage(relay.port, 'during-flood'), 250);
  const after = rssMb(pid)!;
  t.diagnostic(`flood: ${(written / 1e6).toFixed(1)} MB taken before the relay stopped reading; RSS ${before.toFixed(1)} -> ${after.toFixed(1)} MB`);
  assert.ok(after - before < 50, `memory grew by ${(after - before).toFixed(1)} MB during the flood`);
});
