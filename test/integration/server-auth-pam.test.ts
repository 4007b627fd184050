// --server-auth pam:<service> with real PAM: a service file under /etc/pam.d using pam_unix, and test
// users made with useradd/chpasswd (an expired one with chage -E 0, a locked one with usermod -L).
// The test creates all of that and removes it again. Needs root; skipped otherwise.
// Also: the start-up error when the PAM addon is missing, and the cap on concurrent PAM calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { cleanups, type Defer } from '../lib/cleanup';
import { relayFor, removeDir, startRelay } from '../lib/relay';
import { RawSmtp, runTool, swaks, swaksAccepted } from '../lib/smtp-client';
import { readAll } from '../lib/spool-files';
import { createPamChecker, loadPamAddon } from '../../src/auth/pam';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const tag = `rbx${process.pid % 100000}`;
const SERVICE = `relaybox-test-${tag}`;
const SERVICE_FILE = `/etc/pam.d/${SERVICE}`;
const USERS = { good: `${tag}ok`, expired: `${tag}exp`, locked: `${tag}lck` };
const PASSWORD = 'Sesame 0pen!';

async function must(cmd: string, args: string[], input?: string): Promise<void> {
  const r = await runTool(cmd, args, { input });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** The service file and the three users; removed again by the test's cleanups. */
async function pamFixture(defer: Defer): Promise<void> {
  defer(() => rmSync(SERVICE_FILE, { force: true }));
  writeFileSync(
    SERVICE_FILE,
    ['# relaybox test service, removed by the test', 'auth required pam_unix.so nodelay', 'account required pam_unix.so', ''].join('\n'),
  );
  // the same password check without the account stage, to show that the expiry is found there
  defer(() => rmSync(`${SERVICE_FILE}-noacct`, { force: true }));
  writeFileSync(
    `${SERVICE_FILE}-noacct`,
    ['# relaybox test service, removed by the test', 'auth required pam_unix.so nodelay', 'account required pam_permit.so', ''].join('\n'),
  );
  for (const user of Object.values(USERS)) {
    defer(async () => {
      const r = await runTool('userdel', [user]);
      assert.ok(r.code === 0 || r.code === 6, `userdel ${user}: ${r.stderr}`);
    });
    await must('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', user]);
    await must('chpasswd', [], `${user}:${PASSWORD}\n`);
  }
  await must('chage', ['-E', '0', USERS.expired]);
  await must('usermod', ['-L', USERS.locked]);
}

const login = (user: string, pw: string, mech = 'PLAIN') => ['--auth', mech, '--auth-user', user, '--auth-password', pw];

test('PAM (pam_unix through a test service): good password, bad password, expired account, locked account', async (t) => {
  if (!isRoot) return t.skip('needs root to create a PAM service file and users');
  const defer = cleanups(t);
  await pamFixture(defer);
  const r = await relayFor(defer, ['--server-auth', `pam:${SERVICE}`, '--auth-failure-delay', '0', '--auth-failure-limit', '0']);
  await r.waitForLog((l) => l.msg === 'smtp authentication with pam' && l.service === SERVICE);

  const { smtp } = await RawSmtp.open(r.port);
  defer(() => smtp.destroy());
  const ehlo = await smtp.command('EHLO client.test');
  assert.ok(
    ehlo.lines.some((l) => l.slice(4) === 'AUTH PLAIN LOGIN'),
    ehlo.text,
  );
  assert.equal((await smtp.command('AUTH CRAM-MD5')).code, 504, 'PAM cannot do CRAM');
  smtp.destroy();

  const good = await swaks({ port: r.port, from: 'pam@example.test', extra: login(USERS.good, PASSWORD) });
  assert.ok(swaksAccepted(good), good.stdout);
  const goodLogin = await swaks({ port: r.port, from: 'pamlogin@example.test', extra: login(USERS.good, PASSWORD, 'LOGIN') });
  assert.ok(swaksAccepted(goodLogin), goodLogin.stdout);

  const cases: [string, string, string][] = [
    ['bad password', USERS.good, 'Sesame 0pen?'],
    ['password with a long tail', USERS.good, PASSWORD + 'x'.repeat(200)],
    ['expired account (account stage)', USERS.expired, PASSWORD],
    ['locked account', USERS.locked, PASSWORD],
    ['unknown user', `${tag}none`, PASSWORD],
  ];
  for (const [what, user, pw] of cases) {
    const res = await swaks({ port: r.port, extra: login(user, pw) });
    assert.notEqual(res.code, 0, what);
    assert.match(res.stdout, /^<\*\* +535 authentication failed/m, `${what}: ${res.stdout}`);
  }
  const msgs = readAll(r.spool);
  assert.deepEqual(
    msgs.map((m) => m.envelope.authentication),
    [USERS.good, USERS.good],
  );
  assert.ok(!JSON.stringify(r.logs).includes(PASSWORD), 'the password is not logged');
});

test('PAM calls are capped: with --pam-concurrency 1 the checks run one at a time and all are answered', async (t) => {
  if (!isRoot) return t.skip('needs root to create a PAM service file and users');
  const defer = cleanups(t);
  await pamFixture(defer);
  const checker = createPamChecker(loadPamAddon(), SERVICE, 1);
  let maxRunning = 0;
  const track = setInterval(() => {
    maxRunning = Math.max(maxRunning, checker.load().running);
  }, 1);
  defer(() => clearInterval(track));
  const results = await Promise.all([
    checker.check(USERS.good, PASSWORD, '127.0.0.1'),
    checker.check(USERS.good, 'wrong', '127.0.0.1'),
    checker.check(USERS.expired, PASSWORD, '127.0.0.1'),
    checker.check(USERS.good, PASSWORD, '127.0.0.1'),
  ]);
  assert.deepEqual(results, ['ok', 'denied', 'denied', 'ok']);
  const noAccountStage = createPamChecker(loadPamAddon(), `${SERVICE}-noacct`, 1);
  assert.equal(await noAccountStage.check(USERS.expired, PASSWORD, '127.0.0.1'), 'ok', 'the expired password itself is right: the account stage refuses it');
  assert.equal(maxRunning, 1);
  assert.deepEqual(checker.load(), { running: 0, waiting: 0 });
  // beyond the queue (8 per slot) a check is refused at once as busy, not queued
  const many = await Promise.all(Array.from({ length: 12 }, () => checker.check(`${tag}none`, 'x', '127.0.0.1')));
  assert.ok(many.includes('busy'), JSON.stringify(many));
  assert.equal(many.filter((m) => m === 'denied').length, 9, '1 running + 8 waiting were answered');
});

test('--server-auth pam: without the addon is a clear start-up error; the service file is not needed for that', async (t) => {
  const defer = cleanups(t);
  const p = await startRelay(['--server-auth', 'pam:'], { readyMessage: null, env: { RELAYBOX_PAM_ADDON: '/nonexistent/node-linux-pam.node' } });
  defer(() => {
    removeDir(p.spool);
  });
  assert.equal(await p.exited, 1);
  assert.match(p.stderr, /--server-auth pam: needs the PAM addon node-linux-pam\.node beside relaybox\.js .*libpam0g-dev/);
  assert.ok(existsSync(`${__dirname}/../../dist/node-linux-pam.node`), 'make build ships the addon beside the bundle');
});
