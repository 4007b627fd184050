// The contract between relaybox and smtp-server's internals (src/smtp/smtp-server-adapter.ts): every
// private member the adapter wraps or reads is where it expects it, in the installed release. A
// failure here after an upgrade names the member to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import SASL from 'smtp-server/lib/sasl.js';
import {
  checkSmtpServerVersion,
  dropSessionConnection,
  installSmtpServerAdapter,
  READ_FIELDS,
  SMTP_SERVER_VERSION,
  WRAPPED_MEMBERS,
  IMMEDIATE_GREETING_OPTION,
} from '../../src/smtp/smtp-server-adapter';

// Read before anything is installed: these are smtp-server's own members.
const pristine = {
  SMTPConnection: (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype,
  SMTPStream: SMTPStream.prototype as unknown as Record<string, unknown>,
  sasl: SASL as unknown as Record<string, unknown>,
};
const originals = Object.fromEntries(
  Object.entries(WRAPPED_MEMBERS).flatMap(([where, names]) => names.map((n) => [`${where}.${n}`, pristine[where as keyof typeof pristine][n]])),
);

test('the installed smtp-server is the release the adapter was written for', () => {
  assert.doesNotThrow(() => checkSmtpServerVersion());
  assert.throws(() => checkSmtpServerVersion('3.22.0'), new RegExp(`built with smtp-server 3\\.22\\.0.*written for ${SMTP_SERVER_VERSION.replace(/\./g, '\\.')}`));
});

test('every member the adapter wraps is a function of the library', () => {
  for (const [name, f] of Object.entries(originals)) assert.equal(typeof f, 'function', `${name} is no longer a function`);
});

test('installing wraps the members (once), and CRAM-SHA* join the sasl table', () => {
  installSmtpServerAdapter();
  const wrappedNow = Object.entries(WRAPPED_MEMBERS).flatMap(([where, names]) => names.map((n) => [`${where}.${n}`, pristine[where as keyof typeof pristine][n]] as const));
  const changed: string[] = wrappedNow.filter(([name, f]) => f !== originals[name]).map(([name]) => name);
  for (const name of ['SMTPConnection._parseAddressCommand', 'SMTPConnection.init', 'SMTPConnection.handler_VRFY', 'SMTPConnection.handler_EHLO', 'SMTPConnection.handler_AUTH', 'SMTPConnection.handler_DATA', 'SMTPConnection._onTimeout', 'SMTPConnection.send', 'SMTPStream._write', 'SMTPStream.startDataMode', 'SMTPStream.continue']) {
    assert.ok(changed.includes(name), `${name} was not wrapped`);
  }
  const before = pristine.SMTPConnection.send;
  installSmtpServerAdapter();
  assert.equal(pristine.SMTPConnection.send, before, 'a second install wraps nothing again');
  for (const m of ['CRAM-SHA1', 'CRAM-SHA256', 'CRAM-SHA512']) assert.equal(typeof pristine.sasl[`SASL_${m}`], 'function');
});

test('the fields the adapter reads are on a live server, connection and parser', async () => {
  installSmtpServerAdapter();
  const server = new SMTPServer({ [IMMEDIATE_GREETING_OPTION]: true, authOptional: true, disabledCommands: ['STARTTLS'], logger: false } as never);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  try {
    const [greeting] = (await once(client, 'data')) as [Buffer];
    assert.match(greeting.toString(), /^220 /, 'greeted at once (the init wrapper)');
    const live = server as unknown as Record<string, unknown>;
    for (const f of READ_FIELDS.server) assert.ok(f in live, `server.${f}`);
    const [conn] = [...(live.connections as Set<Record<string, unknown>>)];
    assert.ok(conn, 'one connection');
    for (const f of READ_FIELDS.connection) assert.ok(f in conn, `connection.${f}`);
    const parser = conn._parser as Record<string, unknown>;
    for (const f of READ_FIELDS.stream) assert.ok(f in parser, `parser.${f}`);
    dropSessionConnection(server, conn.session as never);
    await once(client, 'close');
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
