// The appliance's users file (users.txt on the card) -> real local accounts on this machine through
// useradd and chpasswd --encrypted, checked with real PAM (pam_unix through a test service and the
// node-linux-pam addon). The hash is compared with `openssl passwd -6`. Needs root for the accounts
// part (skipped otherwise); every account and file the test makes is removed again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { cleanups, type Defer } from '../lib/cleanup';
import { runTool } from '../lib/smtp-client';
import { createPamChecker, loadPamAddon } from '../../src/auth/pam';
import { sha512Crypt } from '../../src/appliance/sha512-crypt';
import { importUsers, systemAccounts, USERS_NOTE_MARK } from '../../src/appliance/users-import';
import { importBootPartition } from '../../src/appliance/boot-import';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const tag = `rbu${process.pid % 100000}`;
const SERVICE = `relaybox-test-${tag}`;
const NOW = new Date('2026-12-03T07:00:00Z');

test('sha512Crypt gives what openssl passwd -6 gives (salts, lengths, non-ASCII, rounds)', () => {
  const cases: [string, string][] = [
    ['Hello world!', 'saltstring'],
    ['a', 'abc'],
    ['x'.repeat(200), 'abcdefgh'],
    ['Pässwörd mit Leerzeichen', 'ABCDEFGHIJKLMNOP'],
    ['short', 'saltstringsaltstringlonger'],
  ];
  for (const [pw, salt] of cases) {
    const expected = execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: `${pw}\n`, encoding: 'utf8' }).trim();
    assert.equal(sha512Crypt(pw, salt), expected, `${JSON.stringify(pw)} / ${salt}`);
  }
  // openssl has no rounds option: the specification's own test vector (Drepper, "Unix crypt using SHA-256 and SHA-512")
  assert.equal(
    sha512Crypt('Hello world!', 'saltstringsaltstring', 10000),
    '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
  );
});

function bootDir(t: { after(fn: () => void): void }, content: string, name = 'users.txt'): string {
  const boot = fs.mkdtempSync(path.join(tmpdir(), 'relaybox-users-'));
  t.after(() => fs.rmSync(boot, { recursive: true, force: true }));
  fs.writeFileSync(path.join(boot, name), content);
  return boot;
}

function pamService(defer: Defer): void {
  const file = `/etc/pam.d/${SERVICE}`;
  defer(() => fs.rmSync(file, { force: true }));
  fs.writeFileSync(file, ['# relaybox test service, removed by the test', 'auth required pam_unix.so nodelay', 'account required pam_unix.so', ''].join('\n'));
}

function removeUserAfter(defer: Defer, name: string): void {
  defer(async () => {
    const r = await runTool('userdel', [name]);
    assert.ok(r.code === 0 || r.code === 6, `userdel ${name}: ${r.stderr}`);
  });
}

test('a users file made in Notepad becomes accounts that PAM accepts; the passwords leave the card; a second file changes a password', async (t) => {
  if (!isRoot) return t.skip('needs root to create accounts');
  const defer = cleanups(t);
  pamService(defer);
  const [scanner, printer] = [`${tag}scan`, `${tag}prn`];
  removeUserAfter(defer, scanner);
  removeUserAfter(defer, printer);
  const boot = bootDir(t, `\uFEFF# users for the relay\r\n${scanner}  Scan to mail 2026\r\n\r\n${printer} Pr1nter-pass  \r\n`);
  const s = importUsers(boot, NOW, systemAccounts)!;
  assert.ok(s.ok, s.lines.join('\n'));
  assert.deepEqual(s.lines, [`added ${scanner}, ${printer}`, 'imported on 2026-12-03T07:00:00Z; the passwords were removed from the card']);

  const shadow = fs.readFileSync('/etc/shadow', 'utf8');
  assert.match(shadow, new RegExp(`^${scanner}:\\$6\\$[^:]+:`, 'm'), 'stored as a SHA-512 crypt hash');
  assert.ok(!shadow.includes('Scan to mail 2026'));
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  assert.match(passwd, new RegExp(`^${scanner}:x:\\d{4,}:\\d+:relaybox mail user:/nonexistent:/usr/sbin/nologin$`, 'm'));

  const card = fs.readFileSync(path.join(boot, 'users.txt'), 'utf8');
  assert.ok(!card.includes('Scan to mail') && !card.includes('Pr1nter'), 'no password left on the card');
  assert.ok(card.startsWith(`${USERS_NOTE_MARK} 2026-12-03T07:00:00Z: ${scanner}, ${printer} (their passwords were removed`), card);
  assert.match(card, /\r\n/, 'the note is in CRLF for Notepad');

  const pam = createPamChecker(loadPamAddon(), SERVICE, 2);
  assert.equal(await pam.check(scanner, 'Scan to mail 2026', '127.0.0.1'), 'ok', 'a password with spaces');
  assert.equal(await pam.check(printer, 'Pr1nter-pass', '127.0.0.1'), 'ok');
  assert.equal(await pam.check(printer, 'Pr1nter-pas', '127.0.0.1'), 'denied');

  // The scrubbed file imports nothing; a new line changes one password and leaves the other.
  assert.equal(importUsers(boot, NOW, systemAccounts), undefined, 'the note alone is not an import');
  fs.appendFileSync(path.join(boot, 'users.txt'), `${printer} a-new-password\r\n`);
  const again = importUsers(boot, NOW, systemAccounts)!;
  assert.deepEqual(again.lines[0], `new password for ${printer}`);
  assert.equal(await pam.check(printer, 'Pr1nter-pass', '127.0.0.1'), 'denied', 'the old password no longer works');
  assert.equal(await pam.check(printer, 'a-new-password', '127.0.0.1'), 'ok');
  assert.equal(await pam.check(scanner, 'Scan to mail 2026', '127.0.0.1'), 'ok', 'a user not named keeps the password');
});

test('a users file with mistakes changes nothing and names each wrong line; system accounts are refused', (t) => {
  const good = `${tag}good`;
  const text = [
    '# comment',
    `${good} fine-password`,
    'Bob Password-for-bob',
    `${tag}x short`,
    `${tag}y`,
    'root take-over-the-box',
    `${good} again-the-same`,
  ].join('\r\n');
  const boot = bootDir(t, text, 'users');
  const shadowBefore = fs.readFileSync('/etc/shadow', 'utf8');
  const s = importUsers(boot, NOW, systemAccounts)!;
  assert.equal(s.ok, false);
  assert.equal(s.title, 'Users (users)');
  assert.deepEqual(s.lines, [
    'error: users, line 3: "Bob" cannot be a user name: use small letters, digits, - and _ (starting with a letter), at most 32 characters',
    `error: users, line 4: the password for "${tag}x" is too short: write the name, a space, then a password of at least 8 characters`,
    `error: users, line 5: the password for "${tag}y" is missing: write the name, a space, then a password of at least 8 characters`,
    'error: users, line 6: "root" is one of the box\'s own system accounts: choose another name',
    `error: users, line 7: "${good}" is named twice: keep one line for it`,
    'not imported: fix the lines above (no user was added or changed)',
  ]);
  assert.equal(fs.readFileSync(path.join(boot, 'users'), 'utf8'), text, 'the file stays as it was');
  assert.equal(fs.readFileSync('/etc/shadow', 'utf8'), shadowBefore, 'no account was touched');
});

test('the boot import runs the users file only when it may change the system, and reports it as a section', (t) => {
  const boot = bootDir(t, `${tag}dry some-password\n`);
  const data = fs.mkdtempSync(path.join(tmpdir(), 'relaybox-users-data-'));
  const run = fs.mkdtempSync(path.join(tmpdir(), 'relaybox-users-run-'));
  t.after(() => {
    fs.rmSync(data, { recursive: true, force: true });
    fs.rmSync(run, { recursive: true, force: true });
  });
  const dry = importBootPartition({ boot, data, run });
  assert.equal(dry.users, undefined);
  assert.match(fs.readFileSync(path.join(boot, 'users.txt'), 'utf8'), /some-password/, 'left alone without accounts to change');
  const calls: string[] = [];
  const recording = {
    uidOf: () => undefined,
    withWritableRoot: (fn: () => void) => {
      calls.push('rw');
      fn();
      calls.push('ro');
    },
    add: (n: string) => calls.push(`add ${n}`),
    setHashes: (l: string) => calls.push(`hashes ${l.split(':')[0]}`),
  };
  const applied = importBootPartition({ boot, data, run, accounts: recording });
  assert.equal(applied.users?.ok, true);
  assert.deepEqual(calls, ['rw', `add ${tag}dry`, `hashes ${tag}dry`, 'ro'], 'accounts are changed only while the root is writable');
});
