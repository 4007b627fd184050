// Every refused device gets a warning in the log with its address and a one-line hint, so that the
// owner of a printer that "cannot send" finds out why from the log alone. (Access refused for a
// public address: receive-access.test.ts; a DATA stuck after a bare LF: receive-smuggling.test.ts;
// an address without angle brackets: receive-legacy.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { writeFileSync } from 'node:fs';
import { cleanups } from '../lib/cleanup';
import { relayFor, scratchDir } from '../lib/relay';
import { RawSmtp } from '../lib/smtp-client';
import { testPki } from '../lib/certs';

test('530 authentication required: a warning naming the address and what to do', async (t) => {
  const defer = cleanups(t);
  const dir = scratchDir(defer);
  const secrets = path.join(dir, 'server.secrets');
  writeFileSync(secrets, 'server plain alice alice-password\n');
  const r = await relayFor(defer, ['--server-auth', secrets]);
  const { smtp } = await RawSmtp.open(r.port);
  defer(() => smtp.destroy());
  await smtp.command('EHLO scanner.lan');
  const mail = await smtp.command('MAIL FROM:<scanner@lan.example>');
  assert.equal(mail.code, 530, mail.text);
  const warning = await r.waitForLog((l) => l.level === 40 && /authentication required/.test(l.msg));
  assert.equal(warning.address, '127.0.0.1');
  assert.match(warning.msg, /AUTH.*server none/);
});

test('a TLS handshake refused for its version: a warning naming the address and --tls-config', async (t) => {
  const defer = cleanups(t);
  const pki = testPki();
  const r = await relayFor(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile]);
  const { smtp } = await RawSmtp.open(r.port);
  defer(() => smtp.destroy());
  await smtp.command('EHLO old-tls.lan');
  assert.equal((await smtp.command('STARTTLS')).code, 220);
  const socket = smtp.detach();
  const error = await new Promise<string>((resolve) => {
    const secure = tls.connect(
      { socket, ca: pki.ca, servername: 'relay.test', minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' },
      () => {
        secure.destroy();
        resolve('handshake succeeded');
      },
    );
    secure.on('error', (e) => {
      secure.destroy();
      resolve(e.message);
    });
  });
  assert.match(error, /protocol version|unsupported protocol/i);
  const warning = await r.waitForLog((l) => l.level === 40 && /TLS handshake/.test(l.msg));
  assert.equal(warning.address, '127.0.0.1');
  assert.match(warning.msg, /TLS version .*--tls-config tlsv1\.0/);
  assert.deepEqual(
    r.logs.filter((l) => l.level >= 50),
    [],
    "a client's failed handshake is not an error of the relay",
  );
});
