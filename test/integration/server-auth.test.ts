// --server-auth with a secrets file: each line type, each SASL mechanism with good and bad credentials
// (swaks for PLAIN, LOGIN and CRAM-MD5; the CRAM-SHA* exchanges written out with RawSmtp), trusted
// networks, --server-auth-config lists with and without TLS, re-reading the file, and bad lines.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, renameSync } from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { cleanups, type Defer } from '../lib/cleanup';
import { execFileSync } from 'node:child_process';
import { BUNDLE, relayFor, removeDir, tempDir, type RelayProcess } from '../lib/relay';
import { RawSmtp, sendMessage, swaks, swaksAccepted } from '../lib/smtp-client';
import { pollUntil, readAll, spoolFiles, splitReceived } from '../lib/spool-files';
import { cramResponse, passwdHash, type CramMechanism } from '../../src/auth/cram';
import { testPki } from '../lib/certs';

const FOOBAR_HASH = '3pIN0aPbd5aN0S4ogKA3w2P3P9XH0hXchLP1W+adpQE=';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const dir = tempDir('relaybox-auth-');
after(() => removeDir(dir));

const SECRETS = [
  '# accounts for the server-auth tests',
  'server plain alice alice+20pw', // xtext: "alice pw"
  `server plain:b ${b64('bob@example.test')} ${b64('bob:secret')}`,
  `server md5 carol ${FOOBAR_HASH}`,
  'server login dave davepw', // legacy alias of plain
  'server none 192.0.2.0/24 lab', // not loopback: the tests' clients must authenticate
  'client plain upstream upstreampw', // client lines are not server accounts
].join('\n');

function secretsFile(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text + '\n');
  return file;
}

function relay(defer: Defer, args: string[]): Promise<RelayProcess> {
  // failure throttling has its own tests (server-auth-abuse.test.ts)
  return relayFor(defer, ['--domain', 'relay.test', '--auth-failure-delay', '0', '--auth-failure-limit', '0', ...args]);
}

const auth = (mech: string, user: string, pw: string) => ['--auth', mech, '--auth-user', user, '--auth-password', pw];

/** A connection that has said EHLO; returns the EHLO reply too. */
async function ehlo(port: number, defer: Defer): Promise<{ smtp: RawSmtp; features: string[] }> {
  const { smtp, greeting } = await RawSmtp.open(port);
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220);
  const r = await smtp.command('EHLO client.test');
  assert.equal(r.code, 250);
  return { smtp, features: r.lines.map((l) => l.slice(4)) };
}

async function cram(smtp: RawSmtp, mech: CramMechanism, user: string, pw: string | { type: 'md5'; value: Buffer }) {
  const challenge = await smtp.command(`AUTH ${mech}`);
  assert.equal(challenge.code, 334, challenge.text);
  const decoded = Buffer.from(challenge.lines[0].slice(4), 'base64').toString();
  assert.match(decoded, /^<[0-9a-f]+\.\d+@relay\.test>$/, 'E-MailRelay challenge format');
  return smtp.command(cramResponse(mech, user, pw, challenge.lines[0].slice(4)));
}

test('relaybox passwd makes the hashed secret of the server md5 line (test vector foobar)', () => {
  const out = execFileSync(process.execPath, [BUNDLE, 'passwd'], { input: 'foobar\n', encoding: 'utf8' });
  assert.equal(out, `${FOOBAR_HASH}\n`);
  const dotted = execFileSync(process.execPath, [BUNDLE, 'passwd', '--dotted', '--password', 'foobar'], { encoding: 'utf8' });
  assert.equal(dotted, '3507327710.2524437411.674156941.3275202688.3577739107.3692417735.1542828932.27631078\n');
});

test('secrets file accounts: PLAIN, LOGIN, CRAM-MD5 with swaks, good and bad; the SASL id goes into the envelope', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-auth', secretsFile('accounts.auth', SECRETS)]);

  const { features } = await ehlo(r.port, defer);
  assert.ok(features.includes('AUTH CRAM-SHA512 CRAM-SHA256 CRAM-SHA1 CRAM-MD5 PLAIN LOGIN'), features.join('|'));

  const good: [string, string, string][] = [
    ['PLAIN', 'alice', 'alice pw'],
    ['LOGIN', 'bob@example.test', 'bob:secret'],
    ['CRAM-MD5', 'carol', 'foobar'], // hashed secret
    ['CRAM-MD5', 'alice', 'alice pw'], // plain secret
    ['LOGIN', 'dave', 'davepw'],
  ];
  for (const [mech, user, pw] of good) {
    const res = await swaks({ port: r.port, from: `${mech}@example.test`, extra: auth(mech, user, pw) });
    assert.ok(swaksAccepted(res), `${mech} ${user}: ${res.stdout}`);
    assert.match(res.stdout, /^<- {2}235 /m);
  }
  const bad: [string, string, string][] = [
    ['PLAIN', 'alice', 'alice'],
    ['LOGIN', 'bob@example.test', 'wrong'],
    ['CRAM-MD5', 'carol', 'foobaz'],
    ['PLAIN', 'carol', 'foobar'], // a hashed secret cannot do PLAIN
    ['PLAIN', 'nobody', 'x'],
    ['PLAIN', 'upstream', 'upstreampw'], // client lines are not accounts here
  ];
  for (const [mech, user, pw] of bad) {
    const res = await swaks({ port: r.port, extra: auth(mech, user, pw) });
    assert.notEqual(res.code, 0);
    assert.match(res.stdout, /^<\*\* +535 authentication failed/m, `${mech} ${user}: ${res.stdout}`);
  }
  const msgs = readAll(r.spool);
  assert.deepEqual(msgs.map((m) => m.envelope.authentication).sort(), ['alice', 'alice', 'bob@example.test', 'carol', 'dave']);
  for (const m of msgs) assert.equal(splitReceived(m.content)?.protocol, 'ESMTPA');
  // passwords never reach the log
  const log = JSON.stringify(r.logs);
  for (const pw of ['alice pw', 'bob:secret', 'foobar', 'davepw', 'foobaz']) assert.ok(!log.includes(pw), `log holds "${pw}"`);
  assert.ok(r.logs.some((l) => l.msg === 'authentication failed' && l.user === 'nobody' && l.address === '127.0.0.1'));
});

test('CRAM-SHA1, CRAM-SHA256, CRAM-SHA512 (written-out exchanges): good and bad responses; hashed md5 secrets do only CRAM-MD5', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-auth', secretsFile('cram.auth', SECRETS)]);
  for (const mech of ['CRAM-SHA1', 'CRAM-SHA256', 'CRAM-SHA512', 'CRAM-MD5'] as const) {
    const { smtp } = await ehlo(r.port, defer);
    const wrong = await cram(smtp, mech, 'alice', 'alice');
    assert.equal(wrong.code, 535, `${mech} wrong password: ${wrong.text}`);
    const right = await cram(smtp, mech, 'alice', 'alice pw');
    assert.equal(right.code, 235, `${mech}: ${right.text}`);
    assert.equal((await smtp.command('AUTH PLAIN ' + b64('\0alice\0alice pw'))).code, 503, 'a second AUTH');
    assert.equal((await sendMessage(smtp, `${mech}@example.test`, ['x@example.net'], Buffer.from('Subject: cram\r\n\r\nhi\r\n'))).code, 250);
  }
  const { smtp } = await ehlo(r.port, defer);
  assert.equal((await cram(smtp, 'CRAM-SHA256', 'carol', 'foobar')).code, 535, 'no SHA-256 from an md5 hashed secret');
  assert.equal((await cram(smtp, 'CRAM-MD5', 'carol', { type: 'md5', value: Buffer.from(passwdHash('foobar'), 'base64') })).code, 235);
  // cancelled exchange and unknown mechanism
  const { smtp: s2 } = await ehlo(r.port, defer);
  assert.equal((await s2.command('AUTH CRAM-SHA1')).code, 334);
  assert.equal((await s2.command('*')).code, 501);
  assert.equal((await s2.command('AUTH DIGEST-MD5')).code, 504);
  assert.equal((await s2.command('MAIL FROM:<x@example.test>')).code, 530);
  assert.deepEqual(
    readAll(r.spool)
      .map((m) => m.envelope.authentication)
      .sort(),
    ['alice', 'alice', 'alice', 'alice'],
  );
});

test('without AUTH, MAIL gets 530 and nothing is stored (an open-relay check from loopback)', async (t) => {
  const defer = cleanups(t);
  const r = await relay(defer, ['--server-auth', secretsFile('gate.auth', SECRETS)]);
  const res = await swaks({ port: r.port });
  assert.notEqual(res.code, 0);
  assert.match(res.stdout, /^<\*\* +530 authentication required/m, res.stdout);
  const { smtp } = await ehlo(r.port, defer);
  assert.equal((await smtp.command('VRFY postmaster')).text, '530 authentication required', 'VRFY needs AUTH too');
  assert.equal((await smtp.command('MAIL FROM:<>')).code, 530);
  assert.equal((await smtp.command('RCPT TO:<victim@example.net>')).code, 503);
  assert.equal((await smtp.command('DATA')).code, 503);
  assert.deepEqual(spoolFiles(r.spool), []);
});

test('trusted networks: "server none" lines skip AUTH and put their keyword in the envelope; the most specific range wins', async (t) => {
  const defer = cleanups(t);
  const file = secretsFile(
    'trust.auth',
    ['server plain alice alicepw', 'server none 127.0.0.0/8 loopnet', 'server none 127.0.0.1 thishost', 'server none ::1/128 v6host'].join('\n'),
  );
  const r = await relay(defer, ['--server-auth', file, '--interface', '::1']);
  const { smtp } = await ehlo(r.port, defer);
  assert.equal((await smtp.command('VRFY postmaster')).code, 252, 'a trusted client may VRFY');
  smtp.destroy();
  const plain = await swaks({ port: r.port, from: 'trusted@example.test' });
  assert.ok(swaksAccepted(plain), plain.stdout);
  const other = await swaks({ port: r.port, from: 'other@example.test', extra: ['--local-interface', '127.0.0.2'] });
  assert.ok(swaksAccepted(other), other.stdout);
  const v6 = await swaks({ port: r.port, from: 'v6@example.test', extra: ['--server', `[::1]:${r.port}`] });
  assert.ok(swaksAccepted(v6), v6.stdout);
  // a trusted client may still authenticate: then the SASL id is recorded
  const authed = await swaks({ port: r.port, from: 'authed@example.test', extra: auth('PLAIN', 'alice', 'alicepw') });
  assert.ok(swaksAccepted(authed), authed.stdout);
  const byFrom = new Map(readAll(r.spool).map((m) => [m.envelope.from, m.envelope]));
  assert.equal(byFrom.get('trusted@example.test')?.authentication, 'thishost');
  assert.equal(byFrom.get('other@example.test')?.authentication, 'loopnet');
  assert.equal(byFrom.get('other@example.test')?.client, '127.0.0.2');
  assert.equal(byFrom.get('v6@example.test')?.authentication, 'v6host');
  assert.equal(byFrom.get('authed@example.test')?.authentication, 'alice');
  assert.equal(splitReceived(readAll(r.spool).find((m) => m.envelope.from === 'trusted@example.test')!.content)?.protocol, 'ESMTP');
});

test('a broken line is reported with its line number and the others keep working; the file is re-read when it changes', async (t) => {
  const defer = cleanups(t);
  const file = secretsFile('reread.auth', ['server plain alice alicepw', 'server plain', 'server none 10.0.0.0/33 bad', 'server plain erin erinpw'].join('\n'));
  const r = await relay(defer, ['--server-auth', file]);
  const tooFew = await r.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('reread.auth(2): too few fields'));
  assert.equal(tooFew.level, 50);
  await r.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('reread.auth(3): invalid prefix length'));
  assert.ok(swaksAccepted(await swaks({ port: r.port, extra: auth('PLAIN', 'erin', 'erinpw') })));
  assert.match((await swaks({ port: r.port, extra: auth('PLAIN', 'frank', 'frankpw') })).stdout, /535/);

  const next = path.join(dir, 'reread.next');
  writeFileSync(next, 'server plain frank frankpw\n');
  renameSync(next, file); // a new file: alice and erin are gone, frank is in
  let accepted = false;
  for (let i = 0; i < 40 && !accepted; i++) {
    const res = await swaks({ port: r.port, from: 'frank@example.test', extra: auth('PLAIN', 'frank', 'frankpw') });
    accepted = swaksAccepted(res);
  }
  assert.ok(accepted, 'frank accepted after the change (the file is checked at most once a second)');
  await r.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('re-reading secrets file'));
  assert.match((await swaks({ port: r.port, extra: auth('PLAIN', 'alice', 'alicepw') })).stdout, /535/);
});

test('--server-auth-config: m:/x: without TLS, a:/d: with TLS (m:;a:plain = no AUTH before STARTTLS, only PLAIN after)', async (t) => {
  const defer = cleanups(t);
  const pki = testPki();
  const file = secretsFile('config.auth', SECRETS);
  const tlsArgs = ['--server-tls', '--server-tls-certificate', pki.serverPemFile];

  const r = await relay(defer, ['--server-auth', file, '--server-auth-config', 'm:;a:plain', ...tlsArgs]);
  const { smtp, features } = await ehlo(r.port, defer);
  assert.ok(!features.some((f) => f.startsWith('AUTH')), features.join('|'));
  assert.ok(features.includes('STARTTLS'));
  assert.equal((await smtp.command('AUTH PLAIN ' + b64('\0alice\0alice pw'))).text, '504 unsupported authentication mechanism: use starttls');
  assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).text, '530 authentication required: use starttls');
  const overTls = await swaks({ port: r.port, extra: ['--tls', ...auth('PLAIN', 'alice', 'alice pw')] });
  assert.ok(swaksAccepted(overTls), overTls.stdout);
  assert.match(overTls.stdout, /^<~ {2}250 AUTH PLAIN$/m, 'only PLAIN after STARTTLS');
  const loginOverTls = await swaks({ port: r.port, extra: ['--tls', ...auth('LOGIN', 'alice', 'alice pw')] });
  assert.notEqual(loginOverTls.code, 0, 'swaks finds no LOGIN on offer');
  assert.doesNotMatch(loginOverTls.stdout, /235/);

  const r2 = await relay(defer, ['--server-auth', file, '--server-auth-config', 'x:cram-sha1,cram-sha512,login']);
  const { smtp: s2, features: f2 } = await ehlo(r2.port, defer);
  assert.ok(f2.includes('AUTH CRAM-SHA256 CRAM-MD5 PLAIN'), f2.join('|'));
  assert.equal((await s2.command('AUTH CRAM-SHA1')).code, 504);

  const r3 = await relay(defer, ['--server-auth', file, '--server-auth-config', 'm:cram-md5']);
  const { features: f3 } = await ehlo(r3.port, defer);
  assert.ok(f3.includes('AUTH CRAM-MD5'), f3.join('|'));

  // with only hashed md5 secrets just CRAM-MD5 is offered; with no accounts at all, PLAIN only over TLS
  const r4 = await relay(defer, ['--server-auth', secretsFile('hashed.auth', `server md5 carol ${FOOBAR_HASH}`), ...tlsArgs]);
  const { smtp: s4, features: f4 } = await ehlo(r4.port, defer);
  assert.ok(f4.includes('AUTH CRAM-MD5'), f4.join('|'));
  s4.destroy();
  const r5 = await relay(defer, ['--server-auth', secretsFile('trustonly.auth', 'server none 192.0.2.0/24 lab'), ...tlsArgs]);
  const { smtp: s5, features: f5 } = await ehlo(r5.port, defer);
  assert.ok(!f5.some((f) => f.startsWith('AUTH')), f5.join('|'));
  assert.equal((await s5.command('STARTTLS')).code, 220);
  const secure = tls.connect({ socket: s5.detach(), ca: pki.ca, servername: 'relay.test' });
  defer(() => secure.destroy());
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', () => resolve());
    secure.once('error', reject);
  });
  const lines: string[] = [];
  secure.setEncoding('latin1');
  secure.on('data', (d: string) => lines.push(...d.split('\r\n').filter(Boolean)));
  secure.write('EHLO client.test\r\n');
  await pollUntil('EHLO reply over TLS', () => lines.some((l) => l.startsWith('250 ')) || undefined);
  assert.ok(lines.includes('250-AUTH PLAIN') || lines.includes('250 AUTH PLAIN'), lines.join('|'));
});

test('start-up errors: a missing secrets file, a bad --server-auth-config, --server-auth-config without --server-auth', async (t) => {
  const defer = cleanups(t);
  const { startRelay } = await import('../lib/relay');
  const cases: [string[], RegExp][] = [
    [['--server-auth', path.join(dir, 'missing.auth')], /there is no secrets file .*missing\.auth/],
    [['--server-auth', secretsFile('ok.auth', SECRETS), '--server-auth-config', 'q:plain'], /unknown list "q:"/],
    [['--server-auth-config', 'm:plain'], /--server-auth-config needs --server-auth/],
    [['--dnsbl', 'bl.test'], /--dnsbl needs --remote-clients/],
  ];
  for (const [args, message] of cases) {
    const p = await startRelay(args, { readyMessage: null });
    defer(() => p.stop());
    const code = await p.exited;
    assert.equal(code, 1, args.join(' '));
    assert.match(p.stderr, message);
    removeDir(p.spool);
  }
});

test('the address verifier gets the SASL mechanism and user id, or "none" and the trust keyword', async (t) => {
  const defer = cleanups(t);
  const calls = path.join(dir, 'verifier-calls');
  const verifier = path.join(dir, 'verify.sh');
  writeFileSync(verifier, `#!/bin/sh\necho "$5|$6" >> ${calls}\nprintf 'x\\n%s\\n' "$1"\nexit 1\n`, { mode: 0o755 });
  const file = secretsFile('verifier.auth', ['server plain alice alicepw', 'server none 127.0.0.2 backroom'].join('\n'));
  const r = await relay(defer, ['--server-auth', file, '--address-verifier', verifier]);
  assert.ok(swaksAccepted(await swaks({ port: r.port, extra: auth('CRAM-SHA1', 'alice', 'alicepw') })));
  assert.ok(swaksAccepted(await swaks({ port: r.port, extra: ['--local-interface', '127.0.0.2'] })));
  const { readFileSync } = await import('node:fs');
  assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), ['cram-sha1|alice', 'none|backroom']);
});
