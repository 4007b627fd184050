// The appliance's shipped relaybox.conf (issue 14, item 2) is not an open relay and does not send
// the organisation's password to just any server: a peer with a public address that is not on the
// box's own networks is refused; a LAN device with a global IPv6 address is served ("allow-clients
// on-link"); the upstream's certificate is checked (client-tls-verify <default>); a message over
// the size limit is refused before its data; the status page answers the LAN only. In a network
// namespace: PUBLIC (198.51.100.1) on lo stands for a stranger, a veth pair with 2001:db8:1::1/64
// (the box) and 2001:db8:1::9/64 (a device) for the LAN.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanups, type Defer } from '../lib/cleanup';
import { freePort, relayFor, scratchDir, tempDir, type RelayProcess } from '../lib/relay';
import { RawSmtp, runTool, swaksAccepted } from '../lib/smtp-client';
import { startSink, type Sink } from '../lib/sink';
import { testPki } from '../lib/certs';
import { publicNamespace, PUBLIC, type Namespace } from '../lib/netns';
import { applianceConfig } from '../lib/appliance-conf';
import { spoolFiles } from '../lib/spool-files';
import { deferredMessage, filesEnding } from './forward-util';

const BOX6 = '2001:db8:1::1';
const DEVICE6 = '2001:db8:1::9';

async function lan(ns: Namespace): Promise<void> {
  for (const args of [
    ['link', 'add', 'rbx0', 'type', 'veth', 'peer', 'name', 'rbx1'],
    ['-6', 'addr', 'add', `${BOX6}/64`, 'dev', 'rbx0', 'nodad'],
    ['-6', 'addr', 'add', `${DEVICE6}/64`, 'dev', 'rbx1', 'nodad'],
    ['link', 'set', 'rbx0', 'up'],
    ['link', 'set', 'rbx1', 'up'],
  ]) {
    const r = await runTool('ip', ['-n', ns.name, ...args]);
    assert.equal(r.code, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  }
}

async function box(defer: Defer, ns: Namespace | null, opts: { verify?: string } = {}): Promise<{ r: RelayProcess; sink: Sink; statusPort: number }> {
  const pki = testPki();
  const sink = await startSink({ tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: 'box@example.test', pass: 'box-password' } });
  defer(() => sink.close());
  const dir = scratchDir(defer);
  const [port, statusPort] = [await freePort(), await freePort()];
  const spool = tempDir('relaybox-spool-');
  // Inside the namespace the sink on the host's loopback is out of reach: these tests forward nothing there.
  const conf = applianceConfig(dir, { port, spool, sinkPort: sink.port, statusPort, verify: opts.verify, interfaces: ns ? `${PUBLIC},${BOX6}` : undefined });
  const r = await relayFor(defer, [conf], { raw: true, port, spool, wrapper: ns?.wrapper });
  return { r, sink, statusPort };
}

test('the appliance configuration refuses a stranger with a public address and serves a LAN device with a global IPv6 address', async (t) => {
  const defer = cleanups(t);
  const ns = await publicNamespace(defer);
  if (!ns) return t.skip('cannot create a network namespace here (needs root and ip netns)');
  await lan(ns);
  const { r, statusPort } = await box(defer, ns);
  const swaksFrom = (source: string, server: string) =>
    ns.run('swaks', [
      '--server',
      server,
      '--port',
      String(r.port),
      '--local-interface',
      source,
      '--from',
      'spammer@example.org',
      '--to',
      'victim@example.net',
      '--timeout',
      '15',
    ]);

  const stranger = await swaksFrom(PUBLIC, PUBLIC);
  assert.match(stranger.stdout, /^<\*\*\s+554 /m, `a stranger must not relay: ${stranger.stdout}`);
  await r.waitForLog((l) => l.msg.startsWith('connection refused') && l.address === PUBLIC);
  assert.deepEqual(spoolFiles(r.spool), []);

  const device = await swaksFrom(DEVICE6, BOX6);
  assert.ok(swaksAccepted(device), `a LAN device with a global IPv6 address is served: ${device.stdout}`);
  assert.equal(filesEnding(r.spool, '.content').length, 1);

  const page = (source: string, host: string) =>
    ns.run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--interface', source, '--max-time', '10', `http://${host}:${statusPort}/`]);
  assert.equal((await page(DEVICE6, `[${BOX6}]`)).stdout, '200', 'the status page answers the LAN');
  assert.equal((await page(PUBLIC, PUBLIC)).stdout, '403', 'and not a stranger');
});

test("the appliance configuration checks the upstream's certificate: an unknown one gets no password and no message", async (t) => {
  const defer = cleanups(t);
  // The shipped line as it is: the test CA is not among the system's authorities.
  const { r, sink } = await box(defer, null, { verify: 'client-tls-verify <default>' });
  const res = await runTool('swaks', [
    '--server',
    '127.0.0.1',
    '--port',
    String(r.port),
    '--from',
    'scanner@example.test',
    '--to',
    'x@example.net',
    '--timeout',
    '15',
  ]);
  assert.ok(swaksAccepted(res), res.stdout);
  const { reasons } = await deferredMessage(r.spool);
  assert.match(reasons[0]!.reason, /certificate/i);
  assert.equal(sink.messages.length, 0);
});

test('the appliance configuration refuses a message over its size limit before the data', async (t) => {
  const defer = cleanups(t);
  const { r } = await box(defer, null);
  const { smtp, greeting } = await RawSmtp.open(r.port);
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220);
  const ehlo = await smtp.command('EHLO scanner.test');
  assert.match(ehlo.text, /SIZE 36700160/);
  const mail = await smtp.command('MAIL FROM:<scanner@example.test> SIZE=40000000');
  assert.equal(mail.code, 552, mail.text);
});
