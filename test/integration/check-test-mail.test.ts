// `relaybox check <config> --to <address>` (the bundle, as a person would run it) against real
// upstreams on loopback: the smtp-server sink with STARTTLS, implicit TLS and AUTH, and the provider
// replay (test/lib/provider-replay.ts) playing Microsoft 365's and Gmail's recorded replies. Each case
// asserts the steps printed, the advice in plain words and the exit status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { testPki } from '../lib/certs';
import { BUNDLE, freePort, scratchDir } from '../lib/relay';
import { loadProfile, startReplay, type ReplayOptions } from '../lib/provider-replay';
import { startSocksProxy } from '../lib/socks-proxy';
import { cleanup, sinkFor } from './forward-util';
import { caEnv, secretsFile, standInFor } from './oauth-util';

const TO = 'bob@example.net';
const MAILBOX = 'scanner@example.com';
const PASSWORD = 'right-password';

interface CheckRun {
  code: number | null;
  out: string;
  err: string;
}

/** The bundle's `check` subcommand, bounded by a timeout. */
function runCheck(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CheckRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BUNDLE, 'check', ...args], { timeout: 60_000, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

/**
 * A config file as a person writes it: one option per line, without dashes. `user root`: the test
 * files are root's own, as the relays of the other tests run (test/lib/relay.ts).
 */
function configFile(dir: string, lines: string[]): string {
  const file = path.join(dir, 'relaybox.conf');
  writeFileSync(file, [...lines, `spool-dir ${path.join(dir, 'spool')}`, 'user root'].join('\n') + '\n');
  return file;
}

/** The line of one step as printed: "  <status> <name>: <detail>". */
function stepLine(out: string, name: string): string {
  const line = out.split('\n').find((l) => new RegExp(`^  \\S+\\s+${name}:`).test(l));
  assert.ok(line, `no step "${name}" in:\n${out}`);
  return line;
}

function adviceAfter(out: string, name: string): string {
  const lines = out.split('\n');
  const i = lines.indexOf(stepLine(out, name));
  const next = lines[i + 1] ?? '';
  assert.match(next, /^\s+what to do: /, `no advice after "${name}" in:\n${out}`);
  return next;
}

test('relaybox check: a test mail through STARTTLS with a verified certificate and a password is accepted; each step printed', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const sink = await sinkFor(defer, { tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: MAILBOX, pass: PASSWORD } });
  const dir = scratchDir(defer);
  const conf = configFile(dir, [
    `forward-to localhost:${sink.port}`,
    'client-tls',
    'client-tls-required',
    `client-tls-verify ${pki.caFile}`,
    'client-tls-verify-host',
    `client-auth ${secretsFile(dir, [`client plain ${MAILBOX} ${PASSWORD}`])}`,
  ]);
  const r = await runCheck([conf, '--to', TO]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(stepLine(r.out, 'name resolved'), /ok\s+name resolved: localhost is .*127\.0\.0\.1/);
  assert.match(stepLine(r.out, 'connected'), new RegExp(`ok\\s+connected: 127\\.0\\.0\\.1:${sink.port}`));
  assert.match(stepLine(r.out, 'greeting'), /ok\s+greeting: 220 /);
  assert.match(stepLine(r.out, 'TLS'), /ok\s+TLS: TLSv1\.[23], certificate for relay\.test from relaybox test CA, valid until .*; certificate verified/);
  assert.match(stepLine(r.out, 'logged in'), /ok\s+logged in: as scanner@example\.com with AUTH CRAM-MD5/, 'CRAM-MD5 first: the client-auth preference order');
  assert.match(stepLine(r.out, 'MAIL FROM accepted'), /ok\s+MAIL FROM accepted: 250/);
  assert.match(stepLine(r.out, 'RCPT TO accepted'), /ok\s+RCPT TO accepted: 250/);
  assert.match(stepLine(r.out, 'DATA accepted'), /ok\s+DATA accepted: 250 .*sink got it/);
  assert.match(r.out, /The upstream server accepted the test mail for bob@example\.net\./);
  assert.doesNotMatch(r.out + r.err, new RegExp(PASSWORD), 'the password is never printed');
  await sink.waitFor(1);
  const got = sink.messages[0]!;
  assert.equal(got.from, MAILBOX, 'From is the mailbox the account signs in as');
  assert.deepEqual(got.to, [TO]);
  assert.equal(got.user, MAILBOX);
  assert.match(got.data.toString(), /^Subject: relaybox test mail\r$/m);
  assert.ok(got.secure);
});

test('relaybox check: a wrong password fails at "logged in" with the 535 reply and says which secrets line to fix', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const sink = await sinkFor(defer, { tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: MAILBOX, pass: PASSWORD } });
  const dir = scratchDir(defer);
  const secrets = secretsFile(dir, ["# the scanner's account", `client plain ${MAILBOX} not-the-password`]);
  const conf = configFile(dir, [
    `forward-to localhost:${sink.port}`,
    'client-tls',
    'client-tls-required',
    `client-tls-verify ${pki.caFile}`,
    `client-auth ${secrets}`,
  ]);
  const r = await runCheck([conf, '--to', TO]);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(stepLine(r.out, 'TLS'), /ok\s+TLS: .*verified/);
  assert.match(stepLine(r.out, 'logged in'), /FAILED\s+logged in: .*535 5\.7\.8 authentication failed/);
  const advice = adviceAfter(r.out, 'logged in');
  assert.match(advice, /refused the user name or password/);
  assert.ok(advice.includes(`${secrets} (line 2)`), advice);
  assert.doesNotMatch(r.out, /MAIL FROM accepted/, 'no step after the failed one');
  assert.match(r.out, /The test mail was not sent/);
  assert.equal(sink.messages.length, 0);
});

test('relaybox check: implicit TLS (client-tls-connection) against a STARTTLS port says to use client-tls', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const sink = await sinkFor(defer, { tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: MAILBOX, pass: PASSWORD } });
  const dir = scratchDir(defer);
  const conf = configFile(dir, [
    `forward-to 127.0.0.1:${sink.port}`,
    'client-tls-connection',
    `client-tls-verify ${pki.caFile}`,
    `client-auth ${secretsFile(dir, [`client plain ${MAILBOX} ${PASSWORD}`])}`,
  ]);
  const r = await runCheck([conf, '--to', TO]);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(stepLine(r.out, 'connected'), /ok\s+connected: /);
  assert.match(stepLine(r.out, 'TLS'), /FAILED\s+TLS: TLS error: wrong version number$/);
  const advice = adviceAfter(r.out, 'TLS');
  assert.match(advice, /starts in plain text and switches to TLS later with STARTTLS/);
  assert.match(advice, /Replace client-tls-connection with client-tls/);
  assert.ok(advice.includes(conf), 'names the config file');
});

test('relaybox check: STARTTLS (client-tls) against an implicit-TLS port gets no greeting and says to use client-tls-connection', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const sink = await sinkFor(defer, { tls: { key: pki.serverKey, cert: pki.serverCert, implicit: true }, auth: { user: MAILBOX, pass: PASSWORD } });
  const dir = scratchDir(defer);
  const conf = configFile(dir, [
    `forward-to 127.0.0.1:${sink.port}`,
    'client-tls',
    'client-tls-required',
    `client-tls-verify ${pki.caFile}`,
    'prompt-timeout 2',
    `client-auth ${secretsFile(dir, [`client plain ${MAILBOX} ${PASSWORD}`])}`,
  ]);
  const r = await runCheck([conf, '--to', TO]);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(stepLine(r.out, 'connected'), new RegExp(`ok\\s+connected: 127\\.0\\.0\\.1:${sink.port}`));
  assert.match(stepLine(r.out, 'greeting'), /FAILED\s+greeting: .*Greeting never received/);
  const advice = adviceAfter(r.out, 'greeting');
  assert.match(advice, /expects TLS from the first byte \(implicit TLS, usually port 465\)/);
  assert.match(advice, /replace client-tls with client-tls-connection/);
});

test('relaybox check: a certificate the box cannot verify (unknown CA; another name) fails at TLS with advice, before any password is sent', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const sink = await sinkFor(defer, { tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: MAILBOX, pass: PASSWORD } });
  const dir = scratchDir(defer);
  const secrets = `client-auth ${secretsFile(dir, [`client plain ${MAILBOX} ${PASSWORD}`])}`;

  // The system's CAs do not know the test CA.
  const unknownCa = await runCheck([
    configFile(dir, [`forward-to localhost:${sink.port}`, 'client-tls', 'client-tls-required', 'client-tls-verify <default>', secrets]),
    '--to',
    TO,
  ]);
  assert.equal(unknownCa.code, 1, unknownCa.out + unknownCa.err);
  assert.match(stepLine(unknownCa.out, 'TLS'), /FAILED\s+TLS: .*(unable to verify|local issuer)/);
  assert.match(adviceAfter(unknownCa.out, 'TLS'), /signed by an authority the box does not know.*client-tls-verify/);

  // The certificate is for localhost, relay.test and 127.0.0.1, not 127.0.0.2 (the host name is checked with
  // client-tls-verify-host, as the card's relaybox.conf has it).
  const other = await sinkFor(defer, { host: '127.0.0.2', tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: MAILBOX, pass: PASSWORD } });
  const otherName = await runCheck([
    configFile(dir, [
      `forward-to 127.0.0.2:${other.port}`,
      'client-tls',
      'client-tls-required',
      `client-tls-verify ${pki.caFile}`,
      'client-tls-verify-host',
      secrets,
    ]),
    '--to',
    TO,
  ]);
  assert.equal(otherName.code, 1, otherName.out + otherName.err);
  assert.match(stepLine(otherName.out, 'TLS'), /FAILED\s+TLS: /);
  assert.match(adviceAfter(otherName.out, 'TLS'), /certificate is for another name than 127\.0\.0\.2/);
  assert.equal(sink.messages.length + other.messages.length, 0);
});

test('relaybox check: a certificate that is not checked, a host name that is not, or no TLS at all, is a warning with advice; the mail still goes (exit 0)', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const tlsSink = await sinkFor(defer, { tls: { key: pki.serverKey, cert: pki.serverCert } });
  const plainSink = await sinkFor(defer, {});
  const dir = scratchDir(defer);
  const unchecked = await runCheck([
    configFile(dir, [`forward-to localhost:${tlsSink.port}`, 'client-tls', 'client-tls-required']),
    '--to',
    TO,
    '--from',
    MAILBOX,
  ]);
  assert.equal(unchecked.code, 0, unchecked.out + unchecked.err);
  assert.match(stepLine(unchecked.out, 'TLS'), /warning\s+TLS: TLSv1\.[23], .*certificate not checked \(it would fail: UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
  assert.match(adviceAfter(unchecked.out, 'TLS'), /Add client-tls-verify <default> and client-tls-verify-host to .*relaybox\.conf/);
  assert.match(stepLine(unchecked.out, 'logged in'), /skipped\s+logged in: no sign-in/);
  const chainOnly = await runCheck([
    configFile(dir, [`forward-to localhost:${tlsSink.port}`, 'client-tls', 'client-tls-required', `client-tls-verify ${pki.caFile}`]),
    '--to',
    TO,
    '--from',
    MAILBOX,
  ]);
  assert.equal(chainOnly.code, 0, chainOnly.out + chainOnly.err);
  assert.match(stepLine(chainOnly.out, 'TLS'), /warning\s+TLS: .*certificate verified/);
  assert.match(adviceAfter(chainOnly.out, 'TLS'), /not that it was issued for localhost.*Add client-tls-verify-host to .*relaybox\.conf/);
  const plain = await runCheck([configFile(dir, [`forward-to 127.0.0.1:${plainSink.port}`]), '--to', TO, '--from', MAILBOX]);
  assert.equal(plain.code, 0, plain.out + plain.err);
  assert.match(stepLine(plain.out, 'TLS'), /warning\s+TLS: not used \(no client-tls\)/);
  assert.match(adviceAfter(plain.out, 'TLS'), /not encrypted/);
  await tlsSink.waitFor(2);
  await plainSink.waitFor(1);
});

test('relaybox check: connection refused names the port and what to try', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer);
  const port = await freePort();
  const r = await runCheck([configFile(dir, [`forward-to 127.0.0.1:${port}`, 'client-tls']), '--to', TO, '--from', MAILBOX]);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(stepLine(r.out, 'connected'), /FAILED\s+connected: .*ECONNREFUSED/);
  assert.match(
    adviceAfter(r.out, 'connected'),
    new RegExp(`127\\.0\\.0\\.1 port ${port} refuses connections.*587 with client-tls, or 465 with client-tls-connection`),
  );
});

/** The provider replay with STARTTLS on loopback, and a config file pointing at it with a password line. */
async function providerCheck(defer: (fn: () => unknown) => void, profile: string, replay: Partial<ReplayOptions>, mailbox: string, extra: string[] = []) {
  const pki = testPki();
  const server = await startReplay({ profile: loadProfile(profile), key: pki.serverKey, cert: pki.serverCert, ...replay });
  defer(() => server.close());
  const dir = scratchDir(defer);
  const conf = configFile(dir, [
    `forward-to localhost:${server.port}`,
    'client-tls',
    'client-tls-required',
    `client-tls-verify ${pki.caFile}`,
    `client-auth ${secretsFile(dir, [`client plain ${mailbox} ${PASSWORD}`])}`,
  ]);
  return { server, run: await runCheck([conf, '--to', TO, ...extra]) };
}

test('relaybox check: Microsoft 365 with basic authentication off (535 5.7.139) says to sign in with OAuth2 instead', async (t) => {
  const defer = cleanup(t);
  const { run: r } = await providerCheck(
    defer,
    'm365-smtp.office365.com',
    { passwords: { 'scanner@contoso.test': PASSWORD }, passwordsAllowed: false },
    'scanner@contoso.test',
  );
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(stepLine(r.out, 'logged in'), /FAILED\s+logged in: .*535 5\.7\.139 Authentication unsuccessful, basic authentication is disabled/);
  const advice = adviceAfter(r.out, 'logged in');
  assert.match(advice, /Microsoft no longer accepts a password for scanner@contoso\.test/);
  assert.match(advice, /OAuth2 line \(oauth-ms-secret or oauth-ms-cert/);
});

test('relaybox check: Microsoft 365 with SMTP AUTH off for the tenant (5.7.139 SmtpClientAuthentication) says how to turn it on', async (t) => {
  const defer = cleanup(t);
  const { run: r } = await providerCheck(
    defer,
    'm365-smtp.office365.com',
    { passwords: { 'scanner@contoso.test': PASSWORD }, passwordsAllowed: true, inject: { at: 'AUTH', error: '5.7.139-tenant' } },
    'scanner@contoso.test',
  );
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(stepLine(r.out, 'logged in'), /FAILED\s+logged in: .*SmtpClientAuthentication is disabled for the Tenant/);
  assert.match(adviceAfter(r.out, 'logged in'), /SMTP AUTH is turned off for scanner@contoso\.test or the tenant: run Set-CASMailbox/);
});

test('relaybox check: Microsoft 365 refusing the sender (550 5.7.60) at the end of DATA says the From must be the signed-in mailbox', async (t) => {
  const defer = cleanup(t);
  const { run: r, server } = await providerCheck(
    defer,
    'm365-smtp.office365.com',
    { passwords: { 'scanner@contoso.test': PASSWORD }, passwordsAllowed: true, inject: { at: 'DATA-END', error: '5.7.60' } },
    'scanner@contoso.test',
    ['--from', 'printer@contoso.test'],
  );
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(stepLine(r.out, 'logged in'), /ok\s+logged in: as scanner@contoso\.test with AUTH LOGIN/);
  assert.match(stepLine(r.out, 'MAIL FROM accepted'), /ok\s+MAIL FROM accepted: 250/);
  assert.match(stepLine(r.out, 'RCPT TO accepted'), /ok\s+RCPT TO accepted: 250/);
  assert.match(stepLine(r.out, 'DATA accepted'), /FAILED\s+DATA accepted: 550 5\.7\.60 SMTP; Client does not have permissions to send as this sender/);
  const advice = adviceAfter(r.out, 'DATA accepted');
  assert.match(advice, /The mailbox scanner@contoso\.test may not send as printer@contoso\.test/);
  assert.match(advice, /forward-from-mailbox/);
  assert.equal(server.messages.length, 0);
});

test('relaybox check: Gmail asking for an app password (534 5.7.9) says how to make one', async (t) => {
  const defer = cleanup(t);
  const { run: r } = await providerCheck(
    defer,
    'gmail-smtp.gmail.com',
    { passwords: { 'scanner@example.org': PASSWORD }, inject: { at: 'AUTH', error: '5.7.9-app-password' } },
    'scanner@example.org',
  );
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(stepLine(r.out, 'logged in'), /FAILED\s+logged in: .*534.5\.7\.9 Application-specific password required/);
  assert.match(adviceAfter(r.out, 'logged in'), /Google wants an app password.*2-Step Verification/);
});

test('relaybox check: usage errors exit 2; a broken config file is a failed step (exit 1) naming the line', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer);
  const noTo = await runCheck([]);
  assert.equal(noTo.code, 2);
  assert.match(noTo.err, /--to <address>/);
  const badOption = await runCheck(['--to', TO, '--no-such-option']);
  assert.equal(badOption.code, 2);
  const conf = configFile(dir, ['forward-to smtp.example.com:587', 'client-tls-verfy <default>']);
  const broken = await runCheck([conf, '--to', TO]);
  assert.equal(broken.code, 1, broken.out + broken.err);
  assert.match(
    stepLine(broken.out, 'settings'),
    new RegExp(`FAILED\\s+settings: .*${conf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: unknown option "client-tls-verfy"`),
  );
  const badTo = await runCheck([configFile(dir, ['forward-to 127.0.0.1:25']), '--to', 'not an address', '--from', MAILBOX]);
  assert.equal(badTo.code, 1);
  assert.match(adviceAfter(badTo.out, 'settings'), /Type the whole address/);
});

test('relaybox check through Microsoft Graph: token obtained, then sendMail accepted (Graph stand-in)', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const mailbox = 'scanner@contoso.test';
  s.users.add(mailbox);
  s.microsoftApps.set('graph-app', { tenant: 'contoso.test', secret: 'graph~Secret.1', smtpMailboxes: [], graphMailSend: true });
  s.microsoftApps.set('no-graph-app', { tenant: 'contoso.test', secret: 'graph~Secret.2', smtpMailboxes: [], graphMailSend: false });
  const dir = scratchDir(defer);
  const conf = (app: string, secret: string) =>
    configFile(dir, [
      `forward-to graph:${s.url}`,
      `oauth-authority ${s.url}`,
      `client-auth ${secretsFile(dir, [`client oauth-ms-secret ${mailbox} contoso.test:${app}:${secret}`])}`,
    ]);
  const ok = await runCheck([conf('graph-app', 'graph~Secret.1'), '--to', TO], caEnv());
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(stepLine(ok.out, 'token obtained'), /ok\s+token obtained: for scanner@contoso\.test \(oauth-ms-secret\), valid until /);
  assert.match(stepLine(ok.out, 'sendMail accepted'), /ok\s+sendMail accepted: 202 accepted by Graph sendMail/);
  assert.equal(s.graphSent.length, 1);
  assert.equal(s.graphSent[0]!.mailbox, mailbox);
  assert.doesNotMatch(ok.out, /graph~Secret/);

  const denied = await runCheck([conf('no-graph-app', 'graph~Secret.2'), '--to', TO], caEnv());
  assert.equal(denied.code, 1, denied.out + denied.err);
  assert.match(stepLine(denied.out, 'sendMail accepted'), /FAILED\s+sendMail accepted: Graph sendMail: HTTP 403/);
  assert.match(adviceAfter(denied.out, 'sendMail accepted'), /Mail\.Send with admin consent/);
});

test('relaybox check with an oauth-ms-secret line over SMTP: signed in with XOAUTH2; an app without FullAccess gets the 5.7.3 advice', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const mailbox = 'scanner@contoso.test';
  s.users.add(mailbox);
  s.microsoftApps.set('smtp-app', { tenant: 'contoso.test', secret: 'smtp~Secret.1', smtpMailboxes: [mailbox] });
  s.microsoftApps.set('other-app', { tenant: 'contoso.test', secret: 'smtp~Secret.2', smtpMailboxes: [] });
  const pki = testPki();
  const server = await startReplay({ profile: loadProfile('m365-smtp.office365.com'), key: pki.serverKey, cert: pki.serverCert, standIn: s });
  defer(() => server.close());
  const dir = scratchDir(defer);
  const conf = (app: string, secret: string) =>
    configFile(dir, [
      `forward-to localhost:${server.port}`,
      'client-tls',
      'client-tls-required',
      `client-tls-verify ${pki.caFile}`,
      `oauth-authority ${s.url}`,
      `client-auth ${secretsFile(dir, [`client oauth-ms-secret ${mailbox} contoso.test:${app}:${secret}`])}`,
    ]);
  const ok = await runCheck([conf('smtp-app', 'smtp~Secret.1'), '--to', TO], caEnv());
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(stepLine(ok.out, 'settings'), /sign in as scanner@contoso\.test \(oauth-ms-secret\)/);
  assert.match(stepLine(ok.out, 'logged in'), /ok\s+logged in: as scanner@contoso\.test with AUTH XOAUTH2/);
  assert.match(stepLine(ok.out, 'DATA accepted'), /ok\s+DATA accepted: 250 /);
  assert.equal(server.messages.length, 1);

  const refused = await runCheck([conf('other-app', 'smtp~Secret.2'), '--to', TO], caEnv());
  assert.equal(refused.code, 1, refused.out + refused.err);
  assert.match(stepLine(refused.out, 'logged in'), /FAILED\s+logged in: .*535 5\.7\.3 Authentication unsuccessful/);
  assert.match(adviceAfter(refused.out, 'logged in'), /SMTP\.SendAsApp.*Add-MailboxPermission -Identity scanner@contoso\.test/);
  assert.doesNotMatch(ok.out + refused.out, /smtp~Secret/);
});

test('relaybox check through a SOCKS5 proxy: the proxy looks up the name; connected through it', async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const sink = await sinkFor(defer, { tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: MAILBOX, pass: PASSWORD } });
  const proxy = await startSocksProxy({ names: new Map([[`relay.test:587`, sink.port]]), delivery: 'together' });
  defer(() => proxy.close());
  const dir = scratchDir(defer);
  const conf = configFile(dir, [
    `forward-to relay.test:587@socks5://127.0.0.1:${proxy.port}`,
    'client-tls',
    'client-tls-required',
    `client-tls-verify ${pki.caFile}`,
    `client-auth ${secretsFile(dir, [`client plain ${MAILBOX} ${PASSWORD}`])}`,
  ]);
  const r = await runCheck([conf, '--to', TO]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(stepLine(r.out, 'name resolved'), /skipped\s+name resolved: relay\.test is looked up by the SOCKS proxy 127\.0\.0\.1:/);
  assert.match(stepLine(r.out, 'connected'), /ok\s+connected: 127\.0\.0\.1:\d+ \(the SOCKS proxy, which connected to relay\.test:587\)/);
  assert.match(stepLine(r.out, 'TLS'), /certificate for relay\.test .*verified/);
  assert.equal(proxy.requests[0]?.host, 'relay.test');
  await sink.waitFor(1);
});
