// Server TLS: STARTTLS with the one-file and two-file certificate forms, implicit TLS,
// --server-tls-required, and the protocol versions --tls-config allows.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import { testPki } from '../lib/certs';
import { cleanups, type Defer } from '../lib/cleanup';
import { type RelayProcess, relayFor, removeDir } from '../lib/relay';
import { RawSmtp, swaks, swaksAccepted } from '../lib/smtp-client';
import { readAll, spoolFiles, splitReceived } from '../lib/spool-files';

const pki = testPki();
after(() => removeDir(pki.dir));

/** A relay for this file: --domain relay.test, stopped and removed after the test. */
function relay(defer: Defer, args: string[] = []): Promise<RelayProcess> {
  return relayFor(defer, ['--domain', 'relay.test', ...args]);
}

const verify = ['--tls-verify', '--tls-ca-path', pki.caFile];

/** The cipher swaks reports ("TLS started with cipher TLSv1.3:TLS_AES_256_GCM_SHA384:256"). */
function swaksCipher(stdout: string): string {
  const m = /TLS started with cipher [^:]+:([^:\s]+):/.exec(stdout);
  assert.ok(m, `swaks started TLS: ${stdout}`);
  return m[1];
}

async function assertTlsMessage(r: RelayProcess, stdout: string): Promise<void> {
  const [m] = readAll(r.spool);
  assert.ok(m, 'a message in the spool');
  const rec = splitReceived(m.content);
  assert.ok(rec, m.content.subarray(0, 200).toString('latin1'));
  assert.equal(rec.protocol, 'ESMTPS');
  assert.equal(rec.cipher, swaksCipher(stdout), 'the Received line names the negotiated cipher');
  assert.equal(rec.domain, 'relay.test');
}

test('--server-tls with one PEM file (key + certificate): swaks --tls, Received says ESMTPS tls <cipher>', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile]);
  const res = await swaks({ port: r.port, extra: ['--tls', ...verify] });
  assert.ok(swaksAccepted(res), res.stdout + res.stderr);
  assert.match(res.stdout, /^<-\s+250[- ]STARTTLS$/m);
  assert.match(res.stdout, /TLS peer DN="\/CN=relay\.test"/);
  await assertTlsMessage(r, res.stdout);
});

test('--server-tls with two files (key, then certificate); STARTTLS stays optional for plain clients', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-tls', '--server-tls-certificate', pki.serverKeyFile, '--server-tls-certificate', pki.serverCertFile]);
  const res = await swaks({ port: r.port, extra: ['--tls', ...verify] });
  assert.ok(swaksAccepted(res), res.stdout + res.stderr);
  await assertTlsMessage(r, res.stdout);

  const plain = await swaks({ port: r.port, from: 'plain@example.test' });
  assert.ok(swaksAccepted(plain), plain.stdout + plain.stderr);
  const m = readAll(r.spool).find((x) => x.envelope.from === 'plain@example.test');
  assert.ok(m);
  const rec = splitReceived(m.content);
  assert.equal(rec?.protocol, 'ESMTP');
  assert.equal(rec?.cipher, undefined);
});

test('--server-tls-connection: implicit TLS (swaks --tlsc); a plaintext client gets no greeting', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-tls-connection', '--server-tls-certificate', pki.serverPemFile]);
  const res = await swaks({ port: r.port, extra: ['--tlsc', ...verify] });
  assert.ok(swaksAccepted(res), res.stdout + res.stderr);
  assert.match(res.stdout, /^<~\s+220 relay\.test /m, 'the greeting comes over TLS');
  assert.doesNotMatch(res.stdout, /STARTTLS/, 'no STARTTLS on an implicit-TLS listener');
  await assertTlsMessage(r, res.stdout);

  const smtp = await RawSmtp.connect(r.port);
  defer(() => smtp.destroy());
  smtp.write('EHLO plaintext.client.test\r\n');
  await smtp.waitClosed();
  assert.ok(!smtp.replies.some((x) => x.code === 220 || x.code === 250), smtp.replies.map((x) => x.text).join('\n'));
});

test('--server-tls-required: MAIL before STARTTLS gets 530; after STARTTLS mail is accepted', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-tls', '--server-tls-required', '--server-tls-certificate', pki.serverPemFile]);
  const { smtp } = await RawSmtp.open(r.port);
  defer(() => smtp.destroy());
  const ehlo = await smtp.command('EHLO needs.tls.test');
  assert.ok(
    ehlo.lines.some((l) => /^250[- ]STARTTLS$/.test(l)),
    ehlo.text,
  );
  const mail = await smtp.command('MAIL FROM:<early@example.test>');
  assert.equal(mail.code, 530, mail.text);
  assert.ok((await smtp.command('RCPT TO:<x@example.net>')).code >= 500);
  assert.equal((await smtp.command('QUIT')).code, 221);

  const plain = await swaks({ port: r.port, from: 'plain@example.test' });
  assert.ok(!swaksAccepted(plain), 'a client that does not STARTTLS cannot send');
  assert.match(plain.stdout, /^<\*\*\s+530 /m);
  assert.deepEqual(spoolFiles(r.spool), []);

  const res = await swaks({ port: r.port, extra: ['--tls', ...verify] });
  assert.ok(swaksAccepted(res), res.stdout + res.stderr);
  await assertTlsMessage(r, res.stdout);
});

type Version = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/** STARTTLS on a raw session, then a handshake limited to one protocol version. */
async function handshake(defer: Defer, port: number, version: Version): Promise<{ protocol?: string; error?: string }> {
  const { smtp } = await RawSmtp.open(port);
  defer(() => smtp.destroy());
  await smtp.command('EHLO versions.client.test');
  assert.equal((await smtp.command('STARTTLS')).code, 220);
  const socket = smtp.detach();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      secure.destroy();
      resolve({ error: 'handshake timed out' });
    }, 10000);
    // SECLEVEL=0 so that the client side is willing to speak the old versions at all.
    const secure = tls.connect(
      { socket, ca: pki.ca, servername: 'relay.test', minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' },
      () => {
        clearTimeout(timer);
        const protocol = secure.getProtocol() ?? undefined;
        secure.destroy();
        resolve({ protocol });
      },
    );
    secure.on('error', (e) => {
      clearTimeout(timer);
      secure.destroy();
      resolve({ error: e.message });
    });
  });
}

const REFUSED_VERSION = /protocol version|unsupported protocol/i;

test('--tls-config default: TLS 1.2 and 1.3 are accepted, TLS 1.0 and 1.1 are refused', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile]);
  assert.equal((await handshake(defer, r.port, 'TLSv1.3')).protocol, 'TLSv1.3');
  assert.equal((await handshake(defer, r.port, 'TLSv1.2')).protocol, 'TLSv1.2');
  for (const v of ['TLSv1.1', 'TLSv1'] as const) {
    const res = await handshake(defer, r.port, v);
    assert.equal(res.protocol, undefined, `${v} must fail`);
    assert.match(res.error ?? '', REFUSED_VERSION, `${v} refused for its version`);
  }
  assert.equal(r.proc.exitCode, null);
});

test('--tls-config tlsv1.0 is the explicit opt-in: old devices that only speak TLS 1.0 or 1.1 get through', async (t) => {
  // OpenSSL 3 allows the TLS 1.0/1.1 signature algorithms only at security level 0, which relaybox
  // selects exactly when this opt-in is given.
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile, '--tls-config', 'tlsv1.0']);
  for (const v of ['TLSv1', 'TLSv1.1'] as const) {
    const res = await handshake(defer, r.port, v);
    assert.equal(res.protocol, v, `${v} handshake: ${res.error}`);
  }
  assert.equal((await handshake(defer, r.port, 'TLSv1.2')).protocol, 'TLSv1.2');
});

test('--tls-config tlsv1.3 refuses TLS 1.2; --tls-config -tlsv1.2 refuses TLS 1.3', async (t) => {
  const defer = cleanups(t);
  const min13 = await relay(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile, '--tls-config', 'tlsv1.3']);
  assert.match((await handshake(defer, min13.port, 'TLSv1.2')).error ?? '', REFUSED_VERSION);
  assert.equal((await handshake(defer, min13.port, 'TLSv1.3')).protocol, 'TLSv1.3');

  const max12 = await relay(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile, '--tls-config', '-tlsv1.2']);
  assert.equal((await handshake(defer, max12.port, 'TLSv1.2')).protocol, 'TLSv1.2');
  assert.match((await handshake(defer, max12.port, 'TLSv1.3')).error ?? '', REFUSED_VERSION);
});
