// The admin interface under attack (issue 14, item 4): a client that sends commands and never reads
// the replies, commands before the password, and an endless line. The relay must stay up with
// bounded memory and keep serving another admin client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { AdminClient } from '../lib/admin-client';
import { adminPasswordArgs, freePort, rssMb, type RelayProcess } from '../lib/relay';
import { cleanup, relayFor } from './forward-util';

/** What the relay may grow by during an attack. */
const RSS_BOUND_MB = 50;

async function adminRelay(defer: (fn: () => unknown) => void, password?: string): Promise<{ relay: RelayProcess; port: number }> {
  const port = await freePort();
  const relay = await relayFor(defer, ['--admin', String(port), ...adminPasswordArgs(defer, password)]);
  await relay.waitForLog((l) => l.msg === 'listening for the admin interface' && l.port === port);
  return { relay, port };
}

async function rawConnect(port: number, defer: (fn: () => unknown) => void): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  defer(() => s.destroy());
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/** Writes `chunk` until `cap` bytes, waiting for the socket to drain, in the background; stops once `stop()` holds. */
function flood(s: net.Socket, chunk: Buffer, cap: number, stop: () => boolean): { written: () => number; done: Promise<void> } {
  let written = 0;
  const gone = new Promise<void>((r) => s.once('close', () => r()));
  const done = (async () => {
    while (written < cap && !s.destroyed && !stop()) {
      written += chunk.length;
      if (!s.write(chunk)) await Promise.race([once(s, 'drain').catch(() => undefined), gone]);
    }
  })();
  return { written: () => written, done };
}

test('admin: "help" sent without reading the replies: the relay stops reading, RSS stays bounded, another admin is served', async (t) => {
  const defer = cleanup(t);
  const { relay, port } = await adminRelay(defer);
  const pid = relay.proc.pid!;
  const before = rssMb(pid)!;
  const s = await rawConnect(port, defer);
  s.pause(); // never read
  let paused = false;
  // 16 MB of "help" lines owe about 400 MB of replies.
  const f = flood(s, Buffer.from('help\r\n'.repeat(10000)), 16e6, () => paused);
  const pauseLogged = relay.waitForLog('admin client is not taking its replies: reading from it paused until it does', 30000);
  await Promise.race([pauseLogged, f.done]); // f.done first: the relay took all 16 MB
  paused = true;
  const atPause = rssMb(pid)!;
  const other = await AdminClient.connect(port);
  defer(() => other.close());
  assert.deepEqual(await other.command('pid'), [String(pid)], 'another admin client is served');
  assert.match((await other.command('status')).join('\n'), /Messages received: 0/);
  const after = rssMb(pid)!;
  t.diagnostic(
    `${(f.written() / 1e6).toFixed(1)} MB of help lines written; RSS ${before.toFixed(1)} -> ${atPause.toFixed(1)} at the pause -> ${after.toFixed(1)} MB`,
  );
  assert.equal(relay.proc.exitCode, null, 'the relay is still running');
  assert.ok(Math.max(atPause, after) - before < RSS_BOUND_MB, `RSS grew by ${(Math.max(atPause, after) - before).toFixed(1)} MB (bound ${RSS_BOUND_MB} MB)`);
  assert.ok(f.written() < 16e6, 'the relay stopped reading before it had taken all 16 MB');
  await pauseLogged;
  // Once the client reads, it gets well-formed replies again.
  let got = '';
  s.setEncoding('latin1');
  s.on('data', (d: string) => (got += d));
  s.resume();
  await new Promise<void>((resolve) => {
    const check = () => got.length > 100000 && resolve();
    s.on('data', check);
  });
  assert.match(got, /^commands: .*\r\nE-MailRelay> commands: /);
});

test('admin: before the password every line counts towards the 30-error limit, "help" and empty lines too', async (t) => {
  const defer = cleanup(t);
  const { relay, port } = await adminRelay(defer, 'limit-pw');
  const admin = await AdminClient.connect(port);
  defer(() => admin.close());
  for (let i = 1; i < 30; i++) {
    if (i % 3 === 0) assert.deepEqual(await admin.command(''), []);
    else assert.match((await admin.command('help'))[0]!, /^commands: /);
  }
  assert.equal(admin.closed, false);
  admin.send('help');
  await admin.until(() => admin.closed, 'the connection to be dropped after 30 lines without the password');
  await relay.waitForLog('admin client dropped: too many commands without the password');

  // After the password, help is a command like any other and does not count (E-MailRelay's rule).
  const authed = await AdminClient.connect(port);
  defer(() => authed.close());
  assert.deepEqual(await authed.command('password limit-pw'), ['OK']);
  for (let i = 0; i < 40; i++) assert.match((await authed.command('help'))[0]!, /^commands: /);
  assert.equal(authed.closed, false);
});

test('admin: an endless line is cut off and not read any further; RSS stays bounded', async (t) => {
  const defer = cleanup(t);
  const { relay, port } = await adminRelay(defer);
  const pid = relay.proc.pid!;
  const before = rssMb(pid)!;
  const s = await rawConnect(port, defer);
  let got = '';
  s.setEncoding('latin1');
  s.on('data', (d: string) => (got += d));
  const f = flood(s, Buffer.alloc(1 << 20, 'x'), 256 * 1048576, () => false);
  await f.done; // ends when the relay closes the connection, or after 256 MiB
  const after = rssMb(pid)!;
  t.diagnostic(`${(f.written() / 1048576).toFixed(0)} MiB sent; RSS ${before.toFixed(1)} -> ${after.toFixed(1)} MB`);
  assert.equal(relay.proc.exitCode, null, 'the relay is still running');
  assert.match(got, /^error: line too long\r?\nE-MailRelay> $/);
  assert.ok(after - before < RSS_BOUND_MB, `RSS grew by ${(after - before).toFixed(1)} MB (bound ${RSS_BOUND_MB} MB)`);
  assert.ok(f.written() < 64 * 1048576, `the relay took ${(f.written() / 1048576).toFixed(0)} MiB of one line`);
});
