// One authentication throttle for SMTP AUTH, POP and the admin password (admin interface and status
// page), counted per client address: failures on one listener count on the others, and a locked-out
// address does not lock out anyone else. Clients bind to other loopback addresses (127.0.0.x) to be
// different addresses; the relay listens on 127.0.0.1.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AdminClient } from '../lib/admin-client';
import { cleanups, type Defer } from '../lib/cleanup';
import { freePort, relayFor, removeDir, tempDir, type RelayProcess } from '../lib/relay';
import { RawSmtp, runTool } from '../lib/smtp-client';
import { filesEnding, makeMessage, writeSpooled } from './forward-util';

const dir = tempDir('relaybox-throttle-');
after(() => removeDir(dir));
const b64 = (s: string) => Buffer.from(s).toString('base64');
const plainToken = (user: string, pw: string) => b64(`\0${user}\0${pw}`);
const SECRETS = 'server plain alice alicepw\n';
const POP_LOCKED = /^-ERR \[SYS\/TEMP\] too many failed authentication attempts from your address: try again in \d+ s$/;

function file(name: string, text: string): string {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
}

async function smtpFrom(port: number, defer: Defer, localAddress: string): Promise<RawSmtp> {
  const { smtp, greeting } = await RawSmtp.open(port, '127.0.0.1', localAddress);
  defer(() => smtp.destroy());
  assert.equal(greeting.code, 220, greeting.text);
  assert.equal((await smtp.command('EHLO client.test')).code, 250);
  return smtp;
}

async function popFrom(port: number, defer: Defer, localAddress: string): Promise<RawSmtp> {
  const { smtp: pop, greeting } = await RawSmtp.open(port, '127.0.0.1', localAddress);
  defer(() => pop.destroy());
  assert.match(greeting.text, /^\+OK /);
  return pop;
}

/** USER/PASS on a POP connection; the reply to PASS. */
async function userPass(pop: RawSmtp, user: string, password: string): Promise<string> {
  assert.match((await pop.command(`USER ${user}`)).text, /^\+OK/);
  return (await pop.command(`PASS ${password}`)).text;
}

async function popRelay(defer: Defer, extra: string[]): Promise<{ relay: RelayProcess; pop: number }> {
  const secrets = file(`secrets-${Math.random().toString(36).slice(2)}`, SECRETS);
  const pop = await freePort();
  const relay = await relayFor(defer, ['--server-auth', secrets, '--pop', '--pop-port', String(pop), '--pop-auth', secrets, ...extra]);
  await relay.waitForLog('listening for pop');
  return { relay, pop };
}

test('SMTP AUTH failures lock the address out of POP too (USER/PASS and AUTH PLAIN); another address logs in', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer, ['--auth-failure-limit', '3', '--auth-failure-delay', '0']);
  const smtp = await smtpFrom(relay.port, defer, '127.0.0.1');
  for (let i = 0; i < 3; i++) assert.equal((await smtp.command(`AUTH PLAIN ${plainToken('alice', 'guess' + i)}`)).code, 535);
  assert.equal((await smtp.command(`AUTH PLAIN ${plainToken('alice', 'alicepw')}`)).code, 454);

  const locked = await popFrom(pop, defer, '127.0.0.1');
  assert.match(await userPass(locked, 'alice', 'alicepw'), POP_LOCKED, 'the right password is refused from the locked-out address');
  assert.match((await locked.command(`AUTH PLAIN ${plainToken('alice', 'alicepw')}`)).text, POP_LOCKED);
  await relay.waitForLog((l) => l.msg === 'pop authentication refused: too many failures from this address' && l.address === '127.0.0.1');

  const other = await popFrom(pop, defer, '127.0.0.2');
  assert.match(await userPass(other, 'alice', 'alicepw'), /^\+OK 0 messages/);
});

test('POP guesses across connections are delayed and lock the address out of SMTP AUTH; another address authenticates', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer, ['--auth-failure-limit', '3', '--auth-failure-delay', '200']);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const guesser = await popFrom(pop, defer, '127.0.0.3'); // a new connection for every guess
    const start = Date.now();
    assert.match(await userPass(guesser, 'alice', `guess${i}`), /^-ERR \[AUTH\] authentication failed$/);
    times.push(Date.now() - start);
    guesser.destroy();
  }
  const fourth = await popFrom(pop, defer, '127.0.0.3');
  const start = Date.now();
  assert.match(await userPass(fourth, 'alice', 'alicepw'), POP_LOCKED);
  assert.ok(Date.now() - start < 190, 'the refusal is immediate');

  const smtp = await smtpFrom(relay.port, defer, '127.0.0.3');
  assert.match((await smtp.command(`AUTH PLAIN ${plainToken('alice', 'alicepw')}`)).text, /^454 too many failed authentication attempts/);
  const other = await smtpFrom(relay.port, defer, '127.0.0.4');
  assert.equal((await other.command(`AUTH PLAIN ${plainToken('alice', 'alicepw')}`)).code, 235);
  assert.ok(times[0]! >= 190 && times[1]! >= 390 && times[2]! >= 790, `failures answered after a doubling delay across connections (${times.join(', ')} ms)`);
});

/** POST /retry the way a browser submits the page's form: every hidden field of the message's form, cookies kept. */
async function postRetry(http: number, from: string, id: string, password: string): Promise<string> {
  const jar = path.join(dir, `cookies-${from}`);
  const base = `http://127.0.0.1:${http}`;
  const page = await runTool('curl', ['-sS', '--max-time', '10', '--interface', from, '-c', jar, '-b', jar, `${base}/`]);
  assert.equal(page.code, 0, page.stderr);
  const at = page.stdout.indexOf(`name="id" value="${id}"`);
  assert.ok(at >= 0, 'the page has a retry form for the message');
  const formText = page.stdout.slice(page.stdout.lastIndexOf('<form', at), page.stdout.indexOf('</form>', at));
  const fields: string[] = [];
  for (const m of formText.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields.push('--data-urlencode', `${m[1]}=${m[2]}`);
  const res = await runTool('curl', [
    '-sS',
    '--max-time',
    '10',
    '--interface',
    from,
    '-c',
    jar,
    '-b',
    jar,
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %header{location}',
    ...fields,
    '--data-urlencode',
    `password=${password}`,
    `${base}/retry`,
  ]);
  assert.equal(res.code, 0, res.stderr);
  return res.stdout;
}

test('admin password guesses from one address (status page and admin interface) lock out that address only: the real admin elsewhere gets in', async (t) => {
  const defer = cleanups(t);
  const spool = tempDir('relaybox-throttle-spool-');
  defer(() => removeDir(spool));
  mkdirSync(spool, { recursive: true });
  const id = 'emailrelay.1.1700000000.1';
  writeSpooled(spool, id, makeMessage('failed'));
  renameSync(path.join(spool, `${id}.envelope`), path.join(spool, `${id}.envelope.bad`));
  const secret = 'corr3ct-h0rse-battery';
  const adminPort = await freePort();
  const http = await freePort();
  const relay = await relayFor(
    defer,
    [
      '--server-auth',
      file('admin-secrets', SECRETS),
      '--admin',
      String(adminPort),
      '--admin-password-file',
      file('admin.pw', secret + '\n'),
      '--status-port',
      String(http),
      '--auth-failure-delay',
      '0',
    ],
    { spool },
  );
  await relay.waitForLog((l) => l.msg === 'listening for the status page' && l.port === http);

  // ten wrong passwords from 127.0.0.5, five on each front end
  const answers: string[] = [];
  const attacker = await AdminClient.connect(adminPort, '\r\n', '127.0.0.1', '127.0.0.5');
  defer(() => attacker.close());
  for (let i = 0; i < 5; i++) {
    answers.push((await postRetry(http, '127.0.0.5', id, `guess${i}`)).replace(/^303 \/\?error=/, ''));
    answers.push((await attacker.command(`password guess${i}x`))[0]!);
  }
  // the real administrator, from another address, gets in (checked first: before
  // the fix ten wrong passwords from anywhere locked everyone out)
  const admin = await AdminClient.connect(adminPort, '\r\n', '127.0.0.1', '127.0.0.6');
  defer(() => admin.close());
  assert.deepEqual(await admin.command(`password ${secret}`), ['OK']);
  assert.deepEqual(await admin.command('failures'), [id]);
  assert.deepEqual(answers.slice(0, 5), ['wrong-password', 'error: wrong password', 'wrong-password', 'error: wrong password', 'wrong-password']);
  assert.match(answers.at(-1)!, /^error: too many failed passwords from your address: try again in \d+ s$/);
  assert.equal(answers.at(-2), 'locked');
  // the attacking address: the first five were checked, then refused unchecked; the right password
  // from it is refused as well, and SMTP AUTH from it too
  assert.match((await attacker.command(`password ${secret}`))[0]!, /^error: too many failed passwords from your address/);
  assert.equal(await postRetry(http, '127.0.0.5', id, secret), '303 /?error=locked');
  const smtp = await smtpFrom(relay.port, defer, '127.0.0.5');
  assert.equal((await smtp.command(`AUTH PLAIN ${plainToken('alice', 'alicepw')}`)).code, 454);
  // and the real administrator's retry from the status page goes through
  assert.equal(await postRetry(http, '127.0.0.6', id, secret), `303 /?retried=${id}`);
  assert.deepEqual(filesEnding(spool, '.bad'), [], 'the message was retried');

  await relay.waitForLog((l) => /admin password refused/.test(l.msg) && l.address === '127.0.0.5');
  assert.ok(!JSON.stringify(relay.logs).includes(secret), 'the password is not logged');
});
