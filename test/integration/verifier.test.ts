// Address verifiers (--address-verifier): the program contract (arguments and every exit code),
// VRFY, exit:, and account: with deliver: for local mailboxes. Checks SMTP replies and the envelope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { scratchDir } from '../lib/relay';
import { RawSmtp, dataBlock } from '../lib/smtp-client';
import { shellScript } from '../lib/programs';
import { cleanup, filesEnding, readEnvelopeFile, relayFor, spoolFiles, waitUntil } from './forward-util';

const VERIFIER = `
echo "$@" >> "$(dirname "$0")/calls"
case "$1" in
  local@*) printf 'Local User\\nlocalbox\\n'; exit 0 ;;
  remote@*) printf 'ignored\\nrewritten@example.org\\n'; exit 1 ;;
  bad@*) printf 'no such user here\\nlooked it up\\n'; exit 2 ;;
  later@*) printf 'try again later\\ndirectory busy\\n'; exit 3 ;;
  drop@*) exit 100 ;;
  short@*) echo 'only one line'; exit 0 ;;
  *) exit 9 ;;
esac`;

test('a verifier program: its six arguments, and each exit code as an RCPT reply', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-verify-');
  const relay = await relayFor(defer, ['--address-verifier', shellScript(dir, 'verify.sh', VERIFIER), '--domain', 'relay.test']);
  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.socket.destroy());
  await smtp.command('EHLO client.test');
  assert.equal((await smtp.command('MAIL FROM:<sender@example.com>')).code, 250);
  const expect: [string, number, RegExp?][] = [
    ['local@relay.test', 250],
    ['remote@example.com', 250],
    ['bad@example.com', 550, /^550 no such user here$/],
    ['later@example.com', 450, /^450 try again later$/],
    ['short@example.com', 550],
    ['other@example.com', 550, /^550 mailbox unavailable$/],
  ];
  for (const [rcpt, code, text] of expect) {
    const r = await smtp.command(`RCPT TO:<${rcpt}>`);
    assert.equal(r.code, code, `${rcpt}: ${r.text}`);
    if (text) assert.match(r.text, text);
  }
  const calls = readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n');
  assert.match(calls[0]!, /^local@relay\.test sender@example\.com 127\.0\.0\.1:\d+ relay\.test none $/);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(Buffer.from('Subject: verified\r\n\r\nx\r\n')));
  assert.equal((await smtp.reply()).code, 250);
  const [name] = filesEnding(relay.spool, '.envelope');
  const env = readEnvelopeFile(relay.spool, name!);
  assert.deepEqual(env.toLocal, ['localbox']);
  assert.deepEqual(env.toRemote, ['rewritten@example.org']);

  // VRFY goes to the verifier too.
  assert.match((await smtp.command('VRFY local@relay.test')).text, /^250 Local User$/);
  assert.match((await smtp.command('VRFY remote@example.com')).text, /^252 cannot verify but will accept: rewritten@example\.org$/);
  assert.equal((await smtp.command('VRFY bad@example.com')).code, 550);
});

test('exit 100 from the verifier drops the connection; no valid recipients means no DATA', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-verify-');
  const relay = await relayFor(defer, ['--address-verifier', shellScript(dir, 'verify.sh', VERIFIER)]);
  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.socket.destroy());
  await smtp.command('EHLO client.test');
  await smtp.command('MAIL FROM:<sender@example.com>');
  assert.equal((await smtp.command('RCPT TO:<bad@example.com>')).code, 550);
  assert.ok((await smtp.command('DATA')).code >= 500, 'DATA with no accepted recipient is refused');
  smtp.write('RCPT TO:<drop@example.com>\r\n');
  await waitUntil(() => smtp.closed, 'the connection dropped', 10000);
  assert.deepEqual(spoolFiles(relay.spool), []);
});

test('exit: as a verifier accepts every address as remote', async (t) => {
  const defer = cleanup(t);
  const relay = await relayFor(defer, ['--address-verifier', 'exit:2']);
  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.socket.destroy());
  await smtp.command('EHLO client.test');
  await smtp.command('MAIL FROM:<s@example.com>');
  assert.equal((await smtp.command('RCPT TO:<anyone@example.com>')).code, 250);
});

test('account: + deliver: local accounts get the message in --delivery-dir (mailbox and maildir); others are refused', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-verify-');
  const delivery = path.join(dir, 'mail');
  mkdirSync(path.join(delivery, 'daemon', 'new'), { recursive: true });
  mkdirSync(path.join(delivery, 'daemon', 'cur'));
  mkdirSync(path.join(delivery, 'daemon', 'tmp'));
  // root (uid 0) and daemon (uid 1) are system accounts on every Debian machine.
  const relay = await relayFor(defer, ['--address-verifier', 'account:0-1', '--filter', 'deliver:', '--delivery-dir', delivery, '--domain', 'box.test']);
  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.socket.destroy());
  await smtp.command('EHLO client.test');
  await smtp.command('MAIL FROM:<ups@box.test>');
  assert.equal((await smtp.command('RCPT TO:<root@box.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<DAEMON@box.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<nobody@box.test>')).code, 550, 'uid 65534 is outside 0-1');
  assert.equal((await smtp.command('RCPT TO:<root@other.test>')).code, 550, 'another domain');
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataBlock(Buffer.from('Subject: battery low\r\n\r\nUPS on battery\r\n')));
  assert.equal((await smtp.reply()).code, 250);
  // Only local recipients: delivered and gone from the spool.
  assert.deepEqual(spoolFiles(relay.spool), []);
  const rootFiles = readdirSync(path.join(delivery, 'root')).sort();
  assert.equal(rootFiles.length, 2, rootFiles.join(' '));
  const envName = rootFiles.find((f) => f.endsWith('.envelope'))!;
  assert.deepEqual(readEnvelopeFile(path.join(delivery, 'root'), envName).toLocal, ['root', 'daemon']);
  assert.match(readFileSync(path.join(delivery, 'root', envName.replace(/\.envelope$/, '.content')), 'latin1'), /Subject: battery low/);
  const maildir = readdirSync(path.join(delivery, 'daemon', 'new'));
  assert.equal(maildir.length, 1);
  assert.deepEqual(readdirSync(path.join(delivery, 'daemon', 'tmp')), []);
  assert.match(readFileSync(path.join(delivery, 'daemon', 'new', maildir[0]!), 'latin1'), /UPS on battery/);
});

test('account:check accepts unknown users as remote; a message with local and remote recipients stays for forwarding', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-verify-');
  const delivery = path.join(dir, 'mail');
  const relay = await relayFor(defer, ['--address-verifier', 'account:0-0;check', '--filter', 'deliver:', '--delivery-dir', delivery, '--domain', 'box.test']);
  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.socket.destroy());
  await smtp.command('EHLO client.test');
  await smtp.command('MAIL FROM:<ups@box.test>');
  assert.equal((await smtp.command('RCPT TO:<root@box.test>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<admin@example.net>')).code, 250);
  await smtp.command('DATA');
  smtp.write(dataBlock(Buffer.from('Subject: both\r\n\r\nx\r\n')));
  assert.equal((await smtp.reply()).code, 250);
  const [name] = filesEnding(relay.spool, '.envelope');
  const env = readEnvelopeFile(relay.spool, name!);
  assert.deepEqual(env.toLocal, ['root']);
  assert.deepEqual(env.toRemote, ['admin@example.net']);
  assert.equal(readdirSync(path.join(delivery, 'root')).length, 2);
});
