// --remote-clients: loopback peers are local and always served. End to end from a non-local address:
// a private network namespace whose loopback interface also carries 198.51.100.1 (TEST-NET-2), so
// the relay sees a public-looking peer without anything leaving the host. Skipped where network
// namespaces cannot be made (not root, no `ip netns`). isLocalAddress itself: test/unit/access.test.ts.
// --allow-clients admits named ranges, and "on-link" the networks of the machine's own interfaces
// (a LAN device with a global IPv6 address), without opening the relay to everyone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanups, type Defer } from '../lib/cleanup';
import { BUNDLE, relayFor, scratchDir } from '../lib/relay';
import { RawSmtp, dataBlock, runTool, swaks, swaksAccepted } from '../lib/smtp-client';
import { readAll, spoolFiles, splitReceived } from '../lib/spool-files';
import { NOT_ADMITTED } from '../../src/net/client-admission';

const REFUSED_LOG = `connection refused: ${NOT_ADMITTED}`;

test('without --remote-clients a client on 127.0.0.1 is served', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, []);
  const res = await swaks({ port: r.port, from: 'local@example.test' });
  assert.ok(swaksAccepted(res), res.stdout + res.stderr);
  const [m] = readAll(r.spool);
  assert.equal(m.envelope.client, '127.0.0.1');
  assert.ok(!r.logs.some((l) => l.msg === REFUSED_LOG));
});

test('without --remote-clients a client on ::1 is served and recorded as ::1', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, ['--interface', '::1']);
  const { smtp, greeting } = await RawSmtp.open(r.port, '::1');
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220);
  await smtp.command('EHLO v6.client.test');
  await smtp.command('MAIL FROM:<v6@example.test>');
  await smtp.command('RCPT TO:<x@example.net>');
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(Buffer.from('Subject: v6\r\n\r\nover IPv6\r\n')));
  assert.equal((await smtp.reply()).code, 250);
  const [m] = readAll(r.spool);
  assert.equal(m.envelope.client, '::1');
  assert.equal(splitReceived(m.content)?.address, '::1');
});

const NS = `relaybox-test-${process.pid}`;
const PUBLIC = '198.51.100.1';

/** A namespace with lo up and PUBLIC on it; null (and nothing left behind) if it cannot be made. */
async function namespace(defer: Defer): Promise<string[] | null> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const add = await runTool('ip', ['netns', 'add', NS]).catch(() => null);
  if (!add || add.code !== 0) return null;
  defer(async () => {
    const del = await runTool('ip', ['netns', 'del', NS]);
    assert.equal(del.code, 0, `ip netns del ${NS}: ${del.stderr}`);
  });
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['addr', 'add', `${PUBLIC}/32`, 'dev', 'lo'],
  ]) {
    const r = await runTool('ip', ['-n', NS, ...args]);
    if (r.code !== 0) return null;
  }
  return ['ip', 'netns', 'exec', NS];
}

test('a peer with a public address is refused without --remote-clients and served with it (network namespace)', async (t) => {
  const defer = cleanups(t);
  const inside = await namespace(defer);
  if (!inside) {
    t.skip('cannot create a network namespace here (needs root and ip netns)');
    return;
  }
  const fromPublic = (port: number, from: string) =>
    runTool(inside[0], [
      ...inside.slice(1),
      'swaks',
      '--server',
      `${PUBLIC}:${port}`,
      '--from',
      from,
      '--to',
      'x@example.net',
      '--helo',
      'public.client.test',
      '--timeout',
      '15',
    ]);

  const strict = await relayFor(defer, ['--interface', PUBLIC], { wrapper: inside });
  const refused = await fromPublic(strict.port, 'refused@example.test');
  assert.notEqual(refused.code, 0, 'swaks fails');
  assert.match(refused.stdout, /^<\*\*\s+554 /m, refused.stdout);
  const warning = await strict.waitForLog(REFUSED_LOG);
  assert.equal(warning.address, PUBLIC);
  assert.deepEqual(spoolFiles(strict.spool), []);
  // In the same namespace, loopback is still local.
  const loopback = await runTool(inside[0], [
    ...inside.slice(1),
    'swaks',
    '--server',
    `127.0.0.1:${strict.port}`,
    '--from',
    'lo@example.test',
    '--to',
    'x@example.net',
    '--timeout',
    '15',
  ]);
  assert.ok(swaksAccepted(loopback), loopback.stdout);

  const open = await relayFor(defer, ['--interface', PUBLIC, '--remote-clients'], { wrapper: inside });
  const served = await fromPublic(open.port, 'served@example.test');
  assert.ok(swaksAccepted(served), served.stdout + served.stderr);
  const [m] = readAll(open.spool);
  assert.equal(m.envelope.from, 'served@example.test');
  assert.equal(m.envelope.client, PUBLIC);
  const rec = splitReceived(m.content);
  assert.equal(rec?.address, PUBLIC);
  assert.equal(rec?.helo, 'public.client.test');
  assert.ok(!open.logs.some((l) => l.msg === REFUSED_LOG));
});

test('--allow-clients admits a named range without opening to everyone; "on-link" admits the LAN\'s networks only (network namespace)', async (t) => {
  const defer = cleanups(t);
  const inside = await namespace(defer);
  if (!inside) {
    t.skip('cannot create a network namespace here (needs root and ip netns)');
    return;
  }
  // A LAN in the namespace: a veth pair whose ends hold 203.0.113.1/24 (the box) and 203.0.113.9/24 (a
  // device). PUBLIC stays on lo, so it is the machine's own address but on no LAN network.
  for (const args of [
    ['link', 'add', 'rbx0', 'type', 'veth', 'peer', 'name', 'rbx1'],
    ['addr', 'add', '203.0.113.1/24', 'dev', 'rbx0'],
    ['addr', 'add', '203.0.113.9/24', 'dev', 'rbx1'],
    ['link', 'set', 'rbx0', 'up'],
    ['link', 'set', 'rbx1', 'up'],
  ]) {
    const r = await runTool('ip', ['-n', NS, ...args]);
    assert.equal(r.code, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  }
  const from = (source: string, server: string, port: number) =>
    runTool(inside[0], [
      ...inside.slice(1),
      'swaks',
      '--server',
      `${server}:${port}`,
      '--local-interface',
      source,
      '--from',
      `dev@${source}.test`,
      '--to',
      'x@example.net',
      '--timeout',
      '15',
    ]);

  const named = await relayFor(defer, ['--interface', `${PUBLIC},203.0.113.1`, '--allow-clients', '203.0.113.0/28'], { wrapper: inside });
  assert.ok(swaksAccepted(await from('203.0.113.9', '203.0.113.1', named.port)), 'a device inside the named range is served');
  const outside = await from(PUBLIC, PUBLIC, named.port);
  assert.match(outside.stdout, /^<\*\*\s+554 /m, outside.stdout);
  assert.equal((await named.waitForLog(REFUSED_LOG)).address, PUBLIC);

  const onLink = await relayFor(defer, ['--interface', `${PUBLIC},203.0.113.1`, '--allow-clients', 'on-link'], { wrapper: inside });
  const device = await from('203.0.113.9', '203.0.113.1', onLink.port);
  assert.ok(swaksAccepted(device), device.stdout);
  assert.deepEqual(
    readAll(onLink.spool).map((m) => m.envelope.client),
    ['203.0.113.9'],
  );
  const stranger = await from(PUBLIC, PUBLIC, onLink.port);
  assert.match(stranger.stdout, /^<\*\*\s+554 /m, stranger.stdout);
});

test('--allow-clients with a bad range stops start-up naming the option', async (t) => {
  const defer = cleanups(t);
  const r = await runTool(process.execPath, [BUNDLE, '--no-daemon', '--port', '0', '--spool-dir', scratchDir(defer), '--allow-clients', '203.0.113.0/33']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--allow-clients: invalid prefix length in "203\.0\.113\.0\/33"/);
});
