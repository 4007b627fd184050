// Abuse resistance: failed AUTH throttled per client address (growing delay, then 454), connection
// limits per address and in total, AUTH without TLS refused from public addresses (LAN devices keep
// working), the open-relay check, and --dnsbl end to end. Public peers come from a private network
// namespace whose loopback also carries 198.51.100.1 (test/lib/netns.ts); those tests are skipped
// where namespaces cannot be made.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cleanups, type Defer } from '../lib/cleanup';
import { relayFor, removeDir, tempDir } from '../lib/relay';
import { RawSmtp, swaksAccepted } from '../lib/smtp-client';
import { readAll, spoolFiles } from '../lib/spool-files';
import { publicNamespace, spawnIn, PUBLIC, type Namespace } from '../lib/netns';
import { testPki } from '../lib/certs';

const dir = tempDir('relaybox-abuse-');
after(() => removeDir(dir));
const b64 = (s: string) => Buffer.from(s).toString('base64');
const plainToken = (user: string, pw: string) => b64(`\0${user}\0${pw}`);

function secrets(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text + '\n');
  return file;
}

async function session(port: number, defer: Defer, localAddress?: string): Promise<RawSmtp> {
  const { smtp, greeting } = await RawSmtp.open(port, '127.0.0.1', localAddress);
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220, greeting.text);
  assert.equal((await smtp.command('EHLO client.test')).code, 250);
  return smtp;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - start };
}

test('failed AUTH from one address: growing delay, then 454 even for the right password; other addresses are not affected', async (t) => {
  const defer = cleanups(t);
  const file = secrets('throttle.auth', 'server plain alice alicepw');
  const r = await relayFor(defer, ['--server-auth', file, '--auth-failure-delay', '300', '--auth-failure-limit', '3', '--auth-failure-lockout', '600']);
  const smtp = await session(r.port, defer);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { value, ms } = await timed(() => smtp.command(`AUTH PLAIN ${plainToken('alice', 'wrong' + i)}`));
    assert.equal(value.text, '535 authentication failed');
    times.push(ms);
  }
  assert.ok(times[0] >= 290, `first failure delayed ~300 ms (${times[0]})`);
  assert.ok(times[1] >= 590, `second failure delayed ~600 ms (${times[1]})`);
  assert.ok(times[2] >= 1190, `third failure delayed ~1200 ms (${times[2]})`);
  const locked = await timed(() => smtp.command(`AUTH PLAIN ${plainToken('alice', 'alicepw')}`));
  assert.match(locked.value.text, /^454 too many failed authentication attempts: try again in \d+ s$/);
  assert.ok(locked.ms < 290, `the refusal is immediate (${locked.ms} ms)`);
  // a new connection from the same address is refused too
  const again = await session(r.port, defer);
  assert.equal((await again.command(`AUTH PLAIN ${plainToken('alice', 'alicepw')}`)).code, 454);
  await r.waitForLog('authentication refused: too many failures from this address');
  // another address logs in at once
  const other = await session(r.port, defer, '127.0.0.2');
  const ok = await timed(() => other.command(`AUTH PLAIN ${plainToken('alice', 'alicepw')}`));
  assert.equal(ok.value.code, 235);
  assert.ok(ok.ms < 290);
});

test('a success clears the count: failures below the limit never lock the address out', async (t) => {
  const defer = cleanups(t);
  const file = secrets('clear.auth', 'server plain alice alicepw');
  const r = await relayFor(defer, ['--server-auth', file, '--auth-failure-delay', '0', '--auth-failure-limit', '2']);
  for (let round = 0; round < 3; round++) {
    const smtp = await session(r.port, defer);
    assert.equal((await smtp.command(`AUTH PLAIN ${plainToken('alice', 'typo')}`)).code, 535);
    assert.equal((await smtp.command(`AUTH PLAIN ${plainToken('alice', 'alicepw')}`)).code, 235, `round ${round}`);
    smtp.destroy();
  }
});

test('connection limits: per address and in total; a closed connection frees its place', async (t) => {
  const defer = cleanups(t);
  const r = await relayFor(defer, ['--max-connections-per-address', '2', '--max-connections', '3']);
  const a1 = await session(r.port, defer);
  await session(r.port, defer);
  const { smtp: a3, greeting: g3 } = await RawSmtp.open(r.port);
  defer(() => a3.destroy());
  assert.equal(g3.text, '421 too many connections from your address: try again later');
  await a3.waitClosed();
  await session(r.port, defer, '127.0.0.2'); // a third connection in total, from another address
  const { smtp: c1, greeting: gc } = await RawSmtp.open(r.port, '127.0.0.1', '127.0.0.3');
  defer(() => c1.destroy());
  assert.equal(gc.text, '421 too many connections: try again later');
  a1.destroy();
  let admitted = false;
  for (let i = 0; i < 50 && !admitted; i++) {
    const { smtp, greeting } = await RawSmtp.open(r.port);
    smtp.destroy();
    admitted = greeting.code === 220;
    if (!admitted) await smtp.waitClosed();
  }
  assert.ok(admitted, 'a new connection is served once one is closed');
  assert.ok(r.logs.some((l) => l.msg === 'connection refused: too many connections from your address' && l.address === '127.0.0.1'));
});

/** swaks inside the namespace, against the relay's public address. */
function swaksFrom(ns: Namespace, port: number, extra: string[] = [], server = PUBLIC) {
  return ns.run('swaks', [
    '--server',
    `${server}:${port}`,
    '--from',
    'public@example.test',
    '--to',
    'victim@example.net',
    '--helo',
    'public.client.test',
    '--timeout',
    '15',
    ...extra,
  ]);
}

test('open relay check: a public address without AUTH cannot relay; AUTH needs TLS from public addresses; LAN clients authenticate without TLS', async (t) => {
  const defer = cleanups(t);
  const ns = await publicNamespace(defer);
  if (!ns) return t.skip('cannot create a network namespace here (needs root and ip netns)');
  const file = secrets('relay.auth', ['server plain alice alicepw', 'server none 192.168.0.0/16 lan', 'server none 10.0.0.0/8 lan'].join('\n'));

  // the default configuration: only local and private networks may connect at all
  const closed = await relayFor(defer, ['--interface', PUBLIC], { wrapper: ns.wrapper });
  const refused = await swaksFrom(ns, closed.port);
  assert.match(refused.stdout, /^<\*\*\s+554 /m, refused.stdout);
  assert.deepEqual(spoolFiles(closed.spool), []);

  const pki = testPki();
  const r = await relayFor(
    defer,
    [
      '--interface',
      PUBLIC,
      '--remote-clients',
      '--server-auth',
      file,
      '--server-tls',
      '--server-tls-certificate',
      pki.serverPemFile,
      '--auth-failure-limit',
      '0',
    ],
    { wrapper: ns.wrapper },
  );
  const noAuth = await swaksFrom(ns, r.port);
  assert.notEqual(noAuth.code, 0);
  assert.match(noAuth.stdout, /^<\*\*\s+530 authentication required: use starttls/m, noAuth.stdout);
  assert.doesNotMatch(noAuth.stdout, /AUTH /, 'no AUTH offered before TLS to a public address');
  const plainAuth = await swaksFrom(ns, r.port, ['--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alicepw']);
  assert.notEqual(plainAuth.code, 0);
  assert.doesNotMatch(plainAuth.stdout, /235/);
  // the raw exchange: 538 for AUTH, 530 for MAIL, nothing after
  const raw = await ns.run('python3', [
    '-c',
    [
      'import smtplib, sys',
      `s = smtplib.SMTP("${PUBLIC}", ${r.port}, timeout=15)`,
      's.ehlo("raw.client.test")',
      'print(s.docmd("AUTH", "PLAIN AGFsaWNlAGFsaWNlcHc="))',
      'print(s.docmd("MAIL", "FROM:<spammer@example.test>"))',
      'print(s.docmd("RCPT", "TO:<victim@example.net>"))',
      'print(s.docmd("DATA"))',
    ].join('\n'),
  ]);
  assert.match(raw.stdout, /^\(538, b'encryption required for requested authentication mechanism: use starttls'\)$/m, raw.stdout + raw.stderr);
  assert.match(raw.stdout, /^\(530, /m);
  assert.match(raw.stdout, /^\(503, /m);
  assert.deepEqual(spoolFiles(r.spool), [], 'nothing relayed');

  // with STARTTLS the public client can authenticate
  const overTls = await swaksFrom(ns, r.port, ['--tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alicepw']);
  assert.ok(swaksAccepted(overTls), overTls.stdout);
  // a LAN device (loopback inside the namespace) authenticates without TLS
  const lan = await swaksFrom(ns, r.port, ['--auth', 'LOGIN', '--auth-user', 'alice', '--auth-password', 'alicepw'], '127.0.0.1');
  assert.ok(swaksAccepted(lan), lan.stdout);
  const msgs = readAll(r.spool);
  assert.deepEqual(msgs.map((m) => [m.envelope.client, m.envelope.authentication]).sort(), [
    ['127.0.0.1', 'alice'],
    [PUBLIC, 'alice'],
  ]);

  // --plaintext-auth-from-public lets the public client authenticate without TLS
  const lax = await relayFor(defer, ['--interface', PUBLIC, '--remote-clients', '--server-auth', file, '--plaintext-auth-from-public'], {
    wrapper: ns.wrapper,
  });
  const laxAuth = await swaksFrom(ns, lax.port, ['--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alicepw']);
  assert.ok(swaksAccepted(laxAuth), laxAuth.stdout);
  assert.equal(readAll(lax.spool)[0]?.envelope.authentication, 'alice');
});

test('--dnsbl: a listed public client is refused before the greeting; unlisted and local clients are served; only the configured server is asked', async (t) => {
  const defer = cleanups(t);
  const ns = await publicNamespace(defer);
  if (!ns) return t.skip('cannot create a network namespace here (needs root and ip netns)');
  const dns = await spawnIn(
    ns,
    defer,
    [process.execPath, '--import', 'tsx', path.join(__dirname, '../lib/dnsbl-server.ts'), '1.100.51.198.bl.test'],
    /listening (\d+)/,
  );
  const server = `127.0.0.1:${dns.match[1]}`;

  const r = await relayFor(defer, ['--interface', PUBLIC, '--remote-clients', '--dnsbl', `bl.test,1,3000,${server}`], { wrapper: ns.wrapper });
  const listed = await swaksFrom(ns, r.port);
  assert.notEqual(listed.code, 0);
  assert.match(listed.stdout, /^<\*\*\s+554 access denied/m, listed.stdout);
  assert.doesNotMatch(listed.stdout, /220 /, 'no greeting');
  const line = await r.waitForLog('dnsbl: connection refused');
  assert.deepEqual([line.address, line.listedBy], [PUBLIC, ['bl.test']]);
  assert.match(dns.output(), /^query 1 1\.100\.51\.198\.bl\.test$/m);
  // loopback is never looked up
  const local = await swaksFrom(ns, r.port, [], '127.0.0.1');
  assert.ok(swaksAccepted(local), local.stdout);
  assert.doesNotMatch(dns.output(), /127\.bl\.test/);

  const clean = await relayFor(defer, ['--interface', PUBLIC, '--remote-clients', '--dnsbl', `clean.test,${server}`.replace(',127', ',1,3000,127')], {
    wrapper: ns.wrapper,
  });
  const served = await swaksFrom(ns, clean.port);
  assert.ok(swaksAccepted(served), served.stdout);
  assert.match(dns.output(), /^query 1 1\.100\.51\.198\.clean\.test$/m);
  assert.equal(readAll(clean.spool)[0]?.envelope.client, PUBLIC);
});
