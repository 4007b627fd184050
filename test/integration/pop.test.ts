// The POP3 server (--pop) with real clients: curl pop3:// and Python's poplib, against a relay whose
// spool was filled over SMTP. Checks the replies and the spool files left behind.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { testPki } from '../lib/certs';
import { cleanups, type Defer } from '../lib/cleanup';
import { BUNDLE, freePort, relayFor, removeDir, startRelay, tempDir, type RelayProcess } from '../lib/relay';
import { RawSmtp, runTool, sendMessage, swaks, swaksAccepted } from '../lib/smtp-client';
import { readyIds, spoolFiles } from '../lib/spool-files';

const pki = testPki();
after(() => removeDir(pki.dir));

const SECRETS = [
  'server plain alice alice+20pw', // password "alice pw"
  'server plain bob bobpw',
  'server none 127.0.0.1 trusted', // trust lines mean nothing to POP
  '',
].join('\n');

interface PopRelay {
  relay: RelayProcess;
  pop: number;
  dir: string;
}

async function popRelay(defer: Defer, extra: string[] = [], secrets = SECRETS): Promise<PopRelay> {
  const dir = tempDir('relaybox-pop-');
  defer(() => removeDir(dir));
  const file = path.join(dir, 'secrets');
  writeFileSync(file, secrets);
  const pop = await freePort();
  const relay = await relayFor(defer, ['--domain', 'relay.test', '--pop', '--pop-port', String(pop), '--pop-auth', file, ...extra]);
  await relay.waitForLog('listening for pop');
  return { relay, pop, dir };
}

/** Send messages over SMTP; returns the new ids in the spool, in file-name (POP) order. */
async function fill(r: RelayProcess, bodies: string[]): Promise<string[]> {
  const before = new Set(readyIds(r.spool));
  const { smtp } = await RawSmtp.open(r.port);
  try {
    await smtp.command('EHLO client.test');
    for (const [i, body] of bodies.entries()) {
      const reply = await sendMessage(smtp, 'sender@example.test', [`rcpt${i}@example.test`], Buffer.from(body));
      assert.equal(reply.code, 250, reply.text);
    }
    await smtp.command('QUIT');
  } finally {
    smtp.destroy();
  }
  return readyIds(r.spool).filter((id) => !before.has(id));
}

function message(subject: string, body = 'hello\r\n'): string {
  return `From: sender@example.test\r\nTo: rcpt@example.test\r\nSubject: ${subject}\r\n\r\n${body}`;
}

interface PoplibResult {
  greeting: string;
  cipher?: string;
  steps: ({ ok: unknown } | { error: string })[];
}

async function poplib(port: number, steps: unknown[][]): Promise<PoplibResult> {
  const res = await runTool('python3', [path.join(__dirname, '../lib/pop_client.py'), '127.0.0.1', String(port), pki.caFile, JSON.stringify(steps)]);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as PoplibResult;
}

function ok(r: PoplibResult, i: number): unknown {
  const s = r.steps[i];
  assert.ok(s && 'ok' in s, `step ${i} succeeded: ${JSON.stringify(r)}`);
  return s.ok;
}

function curl(args: string[]) {
  return runTool('curl', ['-sS', '--max-time', '15', ...args]);
}

function content(r: RelayProcess, id: string): string {
  return readFileSync(path.join(r.spool, `${id}.content`), 'latin1');
}

test('curl pop3://: LIST, RETR (dot-stuffed lines survive), DELE at QUIT removes envelope and content', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer);
  const ids = await fill(relay, [message('one', 'first\r\n.leading dot\r\n..two dots\r\n'), message('two'), message('three')]);
  assert.equal(ids.length, 3);

  const list = await curl([`pop3://127.0.0.1:${pop}/`, '-u', 'alice:alice pw']);
  assert.equal(list.code, 0, list.stderr);
  const sizes = ids.map((id) => readFileSync(path.join(relay.spool, `${id}.content`)).length);
  assert.equal(list.stdout, sizes.map((s, i) => `${i + 1} ${s}\r\n`).join(''));

  const retr = await curl([`pop3://127.0.0.1:${pop}/1`, '-u', 'alice:alice pw']);
  assert.equal(retr.code, 0, retr.stderr);
  assert.equal(retr.stdout, content(relay, ids[0]), 'RETR gives the content file byte for byte');
  assert.match(retr.stdout, /\r\n\.leading dot\r\n\.\.two dots\r\n/);

  const dele = await curl([`pop3://127.0.0.1:${pop}/`, '-u', 'bob:bobpw', '-X', 'DELE 2', '-I', '-v']);
  assert.equal(dele.code, 0, dele.stderr);
  assert.match(dele.stderr, /< \+OK message 2 deleted/);
  assert.deepEqual(readyIds(relay.spool), [ids[0], ids[2]], 'message 2 is gone after QUIT');
  assert.ok(!existsSync(path.join(relay.spool, `${ids[1]}.content`)), 'its content is gone too');
  await relay.waitForLog((l) => l.msg === 'pop session ended' && l.deleted === 1);
});

test('curl SASL mechanisms PLAIN, LOGIN, CRAM-MD5 and APOP; a wrong password gets -ERR', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer);
  await fill(relay, [message('one')]);
  const size = readFileSync(path.join(relay.spool, `${readyIds(relay.spool)[0]}.content`)).length;
  for (const mech of ['PLAIN', 'LOGIN', 'CRAM-MD5', '+APOP']) {
    const r = await curl([`pop3://127.0.0.1:${pop}/`, '-u', 'alice:alice pw', '--login-options', `AUTH=${mech}`, '-v']);
    assert.equal(r.code, 0, `${mech}: ${r.stderr}`);
    assert.equal(r.stdout, `1 ${size}\r\n`, mech);
    if (mech === '+APOP') assert.match(r.stderr, /> APOP alice [0-9a-f]{32}/);
    else assert.match(r.stderr, new RegExp(`> AUTH ${mech}`));
  }
  const bad = await curl([`pop3://127.0.0.1:${pop}/`, '-u', 'alice:Xq9zz7', '-v']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /< -ERR \[AUTH\] authentication failed/);
  const failure = await relay.waitForLog('pop authentication failed');
  assert.equal(failure.user, 'alice');
  assert.ok(!JSON.stringify(relay.logs).includes('alice pw') && !JSON.stringify(relay.logs).includes('Xq9zz7'), 'no password in the log');
});

test('poplib: greeting timestamp, USER/PASS, STAT, LIST, UIDL, TOP, RETR, RSET, APOP, CAPA', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer);
  const ids = await fill(relay, [message('one', 'b1\r\nb2\r\nb3\r\n'), message('two')]);
  const r = await poplib(pop, [
    ['capa'],
    ['user', 'bob'],
    ['pass_', 'bobpw'],
    ['stat'],
    ['list'],
    ['uidl'],
    ['top', 1, 1],
    ['retr', 2],
    ['dele', 1],
    ['stat'],
    ['rset'],
    ['stat'],
    ['noop'],
    ['quit'],
  ]);
  assert.match(r.greeting, /^\+OK .*<[^>]+@relay\.test>$/, 'APOP timestamp in the greeting');
  const capa = ok(r, 0) as Record<string, string[]>;
  assert.deepEqual(Object.keys(capa).sort(), ['CAPA', 'IMPLEMENTATION', 'RESP-CODES', 'SASL', 'TOP', 'UIDL', 'USER']);
  assert.deepEqual(capa.SASL, ['CRAM-SHA512', 'CRAM-SHA256', 'CRAM-SHA1', 'CRAM-MD5', 'PLAIN', 'LOGIN']);
  const sizes = ids.map((id) => content(relay, id).length);
  assert.deepEqual(ok(r, 3), [2, sizes[0] + sizes[1]]);
  assert.deepEqual((ok(r, 4) as unknown[])[1], [`1 ${sizes[0]}`, `2 ${sizes[1]}`]);
  assert.deepEqual((ok(r, 5) as unknown[])[1], [`1 ${ids[0]}.content`, `2 ${ids[1]}.content`]);
  const top = (ok(r, 6) as unknown[])[1] as string[];
  const header = content(relay, ids[0]).split('\r\n\r\n')[0].split('\r\n');
  assert.deepEqual(top, [...header, '', 'b1'], 'TOP 1 1: the header and one body line');
  assert.deepEqual((ok(r, 7) as unknown[])[1], content(relay, ids[1]).replace(/\r\n$/, '').split('\r\n'));
  assert.deepEqual(ok(r, 9), [1, sizes[1]], 'STAT after DELE leaves the deleted one out');
  assert.deepEqual(ok(r, 11), [2, sizes[0] + sizes[1]], 'RSET undoes DELE');
  ok(r, 13);
  assert.deepEqual(readyIds(relay.spool), ids, 'nothing deleted after RSET and QUIT');

  const apop = await poplib(pop, [['apop', 'alice', 'alice pw'], ['stat'], ['quit']]);
  assert.deepEqual(ok(apop, 1), [2, sizes[0] + sizes[1]]);
  const badApop = await poplib(pop, [['apop', 'alice', 'nope']]);
  assert.match((badApop.steps[0] as { error: string }).error, /-ERR \[AUTH\] authentication failed/);
  const noUser = await poplib(pop, [
    ['user', 'mallory'],
    ['pass_', 'x'],
  ]);
  assert.match((noUser.steps[1] as { error: string }).error, /-ERR \[AUTH\] authentication failed/, 'an unknown user looks like a wrong password');
});

test('hashed secrets (relaybox passwd): CRAM-MD5 works, USER/PASS and APOP are not possible', async (t) => {
  const defer = cleanups(t);
  const hashed = await runTool(process.execPath, [BUNDLE, 'passwd'], { input: 'carol pw\n' });
  assert.equal(hashed.code, 0, hashed.stderr);
  const { relay, pop } = await popRelay(defer, [], `server md5 carol ${hashed.stdout.trim()}\n`);
  await fill(relay, [message('one')]);
  const cram = await curl([`pop3://127.0.0.1:${pop}/`, '-u', 'carol:carol pw', '--login-options', 'AUTH=CRAM-MD5']);
  assert.equal(cram.code, 0, cram.stderr);
  assert.match(cram.stdout, /^1 \d+\r\n$/);
  const wrong = await curl([`pop3://127.0.0.1:${pop}/`, '-u', 'carol:other', '--login-options', 'AUTH=CRAM-MD5']);
  assert.notEqual(wrong.code, 0);
  const r = await poplib(pop, [['capa'], ['user', 'carol'], ['pass_', 'carol pw']]);
  assert.doesNotMatch(r.greeting, /</, 'no APOP timestamp without plain secrets');
  assert.deepEqual((ok(r, 0) as Record<string, string[]>).SASL, ['CRAM-MD5']);
  assert.ok(!('USER' in (ok(r, 0) as object)));
  assert.match((r.steps[1] as { error: string }).error, /-ERR no SASL PLAIN mechanism to do USER\/PASS/, 'USER is refused at once, as in E-MailRelay');
});

test('STLS: curl --ssl-reqd and poplib stls(); --server-tls-required refuses login before STLS', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile, '--server-tls-required']);
  const sent = await swaks({ port: relay.port, extra: ['--tls'] });
  assert.ok(swaksAccepted(sent), sent.stdout + sent.stderr);
  const [id] = readyIds(relay.spool);

  const c = await curl([`pop3://127.0.0.1:${pop}/1`, '-u', 'alice:alice pw', '--ssl-reqd', '--cacert', pki.caFile, '-v']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stderr, /> STLS/);
  assert.equal(c.stdout, content(relay, id));

  const r = await poplib(pop, [['capa'], ['stls'], ['capa'], ['user', 'bob'], ['pass_', 'bobpw'], ['stat'], ['quit']]);
  assert.ok('STLS' in (ok(r, 0) as object), 'STLS offered before TLS');
  assert.match(r.cipher ?? '', /^TLS/);
  assert.ok(!('STLS' in (ok(r, 2) as object)), 'STLS not offered again inside TLS');
  assert.deepEqual(ok(r, 5), [1, content(relay, id).length]);
  await relay.waitForLog((l) => l.msg === 'pop login' && l.tls === true);

  const plain = await poplib(pop, [['user', 'bob']]);
  assert.match((plain.steps[0] as { error: string }).error, /-ERR must use STLS before authentication/);
  const plainCurl = await curl([`pop3://127.0.0.1:${pop}/`, '-u', 'bob:bobpw', '-v']);
  assert.notEqual(plainCurl.code, 0);
  assert.match(plainCurl.stderr, /-ERR must use STLS before authentication/);
});

test('STLS: plain text pipelined after STLS is discarded, not run inside the TLS session', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile]);
  await fill(relay, [message('one')]);
  const { smtp: raw } = await RawSmtp.open(pop); // a line-based raw socket: its "replies" are POP lines here
  defer(() => raw.destroy());
  raw.write('STLS\r\nUSER bob\r\nPASS bobpw\r\n');
  const r = await raw.reply();
  assert.match(r.text, /^\+OK begin TLS/);
  const socket = raw.detach();
  const secure = tls.connect({ socket, ca: pki.ca, servername: 'relay.test' });
  defer(() => secure.destroy());
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', () => resolve());
    secure.once('error', reject);
  });
  let got = '';
  secure.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  secure.write('STAT\r\n');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no STAT reply: ${got}`)), 5000);
    secure.on('data', () => {
      if (got.includes('\r\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  assert.match(got, /^-ERR not authenticated\r\n$/, 'the USER/PASS sent in plain text did not log in');
});

test('--pop-no-delete: DELE says +OK but the files stay', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer, ['--pop-no-delete']);
  const ids = await fill(relay, [message('one'), message('two')]);
  const before = spoolFiles(relay.spool);
  const r = await poplib(pop, [['user', 'bob'], ['pass_', 'bobpw'], ['dele', 1], ['dele', 2], ['quit']]);
  assert.match(String(ok(r, 2)), /^\+OK/);
  ok(r, 4);
  await relay.waitForLog((l) => /--pop-no-delete/.test(l.msg));
  assert.deepEqual(spoolFiles(relay.spool), before);
  assert.deepEqual(readyIds(relay.spool), ids);
});

test('only committed envelopes are listed (.new, .busy, .bad and envelope-less content are not)', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer);
  const ids = await fill(relay, [message('one'), message('two'), message('three'), message('four')]);
  renameSync(path.join(relay.spool, `${ids[0]}.envelope`), path.join(relay.spool, `${ids[0]}.envelope.bad`));
  renameSync(path.join(relay.spool, `${ids[1]}.envelope`), path.join(relay.spool, `${ids[1]}.envelope.busy`));
  renameSync(path.join(relay.spool, `${ids[2]}.envelope`), path.join(relay.spool, `${ids[2]}.envelope.new`));
  const r = await poplib(pop, [['user', 'bob'], ['pass_', 'bobpw'], ['uidl']]);
  assert.deepEqual((ok(r, 2) as unknown[])[1], [`1 ${ids[3]}.content`]);
});

test('--pop-by-name: each user sees <spool>/<user>/ (created at login); shared content goes with the last envelope', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer, ['--pop-by-name'], SECRETS + 'server plain carol carolpw\n');
  const [shared, own] = await fill(relay, [message('for both'), message('only alice')]);
  // What copy:pop leaves: envelope copies in the user directories, the content in the main directory.
  for (const user of ['alice', 'bob']) {
    mkdirSync(path.join(relay.spool, user));
    copyFileSync(path.join(relay.spool, `${shared}.envelope`), path.join(relay.spool, user, `${shared}.envelope`));
  }
  unlinkSync(path.join(relay.spool, `${shared}.envelope`));
  // A message whose content lives in the user directory itself.
  renameSync(path.join(relay.spool, `${own}.envelope`), path.join(relay.spool, 'alice', `${own}.envelope`));
  renameSync(path.join(relay.spool, `${own}.content`), path.join(relay.spool, 'alice', `${own}.content`));
  const sharedContent = content(relay, shared);

  const a = await poplib(pop, [['user', 'alice'], ['pass_', 'alice pw'], ['uidl'], ['retr', 1], ['dele', 1], ['dele', 2], ['quit']]);
  assert.deepEqual((ok(a, 2) as unknown[])[1], [`1 ${shared}.content`, `2 ${own}.content`]);
  assert.equal(((ok(a, 3) as unknown[])[1] as string[]).join('\r\n') + '\r\n', sharedContent);
  ok(a, 6);
  assert.deepEqual(readdirSync(path.join(relay.spool, 'alice')), [], "alice's envelopes and her own content are gone");
  assert.ok(existsSync(path.join(relay.spool, `${shared}.content`)), "the shared content stays while bob's envelope refers to it");

  const b = await poplib(pop, [['user', 'bob'], ['pass_', 'bobpw'], ['retr', 1], ['dele', 1], ['quit']]);
  assert.equal(((ok(b, 2) as unknown[])[1] as string[]).join('\r\n') + '\r\n', sharedContent);
  ok(b, 4);
  assert.deepEqual(readdirSync(path.join(relay.spool, 'bob')), []);
  assert.ok(!existsSync(path.join(relay.spool, `${shared}.content`)), 'the shared content went with the last envelope');

  assert.ok(!existsSync(path.join(relay.spool, 'carol')));
  const c = await poplib(pop, [['user', 'carol'], ['pass_', 'carolpw'], ['stat'], ['quit']]);
  assert.deepEqual(ok(c, 2), [0, 0]);
  assert.ok(existsSync(path.join(relay.spool, 'carol')), "carol's directory is created at her first login");
});

test('bad input gets -ERR and never stops the server: long lines, junk, bad numbers, too many errors', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer);
  await fill(relay, [message('one')]);
  const { smtp: raw, greeting } = await RawSmtp.open(pop);
  defer(() => raw.destroy());
  assert.match(greeting.text, /^\+OK/);
  assert.match((await raw.command('STAT')).text, /^-ERR not authenticated/);
  assert.match((await raw.command('PASS x')).text, /^-ERR USER first/);
  assert.match((await raw.command('A'.repeat(10000))).text, /^-ERR line too long/);
  assert.match((await raw.command('\x00\xff\x01 junk')).text, /^-ERR unknown command/);
  assert.match((await raw.command('AUTH NOSUCH')).text, /^-ERR unsupported authentication mechanism/);
  assert.match((await raw.command('AUTH PLAIN !!!')).text, /^-ERR invalid base64/);
  assert.match((await raw.command('AUTH LOGIN')).text, /^\+ VXNlcm5hbWU6$/);
  assert.match((await raw.command('*')).text, /^-ERR authentication cancelled/);
  assert.match((await raw.command('USER bob')).text, /^\+OK/);
  assert.match((await raw.command('PASS bobpw')).text, /^\+OK 1 messages/);
  for (const bad of ['RETR', 'RETR 0', 'RETR 2', 'RETR x', 'RETR 99999999999', 'TOP 1', 'TOP 1 -1', 'DELE 7', 'LIST 3', 'UIDL 0']) {
    assert.match((await raw.command(bad)).text, /^-ERR/, bad);
  }
  assert.match((await raw.command('DELE 1')).text, /^\+OK/);
  assert.match((await raw.command('DELE 1')).text, /^-ERR message 1 already deleted/);
  assert.match((await raw.command('RETR 1')).text, /^-ERR message 1 already deleted/);
  for (let i = 0; i < 30 && !raw.closed; i++) raw.write('BOGUS\r\n');
  await raw.waitClosed();
  assert.match(raw.replies.at(-1)!.text, /^-ERR too many errors/);
  assert.equal(readyIds(relay.spool).length, 1, 'DELE without QUIT deletes nothing');

  // The server still serves.
  const r = await poplib(pop, [['user', 'bob'], ['pass_', 'bobpw'], ['stat'], ['quit']]);
  assert.equal((ok(r, 2) as number[])[0], 1);
  assert.equal(relay.proc.exitCode, null);
});

test('start-up errors: --pop needs --pop-auth, pop options need --pop, bad secrets file or PAM service', async (t) => {
  const defer = cleanups(t);
  const dir = tempDir('relaybox-pop-');
  defer(() => removeDir(dir));
  const cases: [string[], RegExp][] = [
    [['--pop'], /--pop needs --pop-auth/],
    [['--pop-port', '1100'], /--pop-port needs --pop/],
    [['--pop-no-delete'], /--pop-no-delete needs --pop/],
    [['--pop', '--pop-auth', 'pam:no/such'], /"no\/such" is not a PAM service name/],
    [['--pop', '--pop-auth', path.join(dir, 'missing')], /there is no secrets file/],
  ];
  for (const [args, want] of cases) {
    const relay = await startRelay(args, { spool: dir, readyMessage: null });
    const code = await relay.exited;
    assert.equal(code, 1, `${args.join(' ')}: ${relay.stderr}`);
    assert.match(relay.stderr, want);
  }
});

test('--idle-timeout closes an idle POP session; 5 failed logins close the connection', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer, ['--idle-timeout', '1', '--auth-failure-delay', '0']); // no delay: the shared throttle's is tested in auth-throttle-shared
  const { smtp: idle } = await RawSmtp.open(pop);
  defer(() => idle.destroy());
  await idle.waitClosed(5000);
  assert.match(idle.replies.at(-1)!.text, /^-ERR idle timeout/);
  await relay.waitForLog((l) => /idle/.test(l.msg));

  const { smtp: raw } = await RawSmtp.open(pop);
  defer(() => raw.destroy());
  for (let i = 0; i < 4; i++) {
    await raw.command('USER alice');
    assert.match((await raw.command(`PASS wrong${i}`)).text, /^-ERR \[AUTH\] authentication failed$/);
  }
  await raw.command('USER alice');
  assert.match((await raw.command('PASS wrong4')).text, /too many attempts/);
  await raw.waitClosed();
});

test('--interface pop=<address>: the POP listener gets its own addresses', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer, ['--interface', 'pop=127.0.0.2']);
  await relay.waitForCount('listening for pop', 2);
  const r = await curl([`pop3://127.0.0.2:${pop}/`, '-u', 'bob:bobpw']);
  assert.equal(r.code, 0, r.stderr);
  const smtp = await RawSmtp.connect(relay.port, '127.0.0.2').then(
    () => 'connected',
    (e: Error) => e.message,
  );
  assert.match(smtp, /ECONNREFUSED/, 'SMTP does not listen on the pop= address');
});

test('the --pop-auth secrets file is re-read when it changes: a new account can log in, a removed one cannot', async (t) => {
  const defer = cleanups(t);
  const { relay, pop, dir } = await popRelay(defer);
  await fill(relay, [message('one')]);
  const login = (user: string, pw: string) => curl([`pop3://127.0.0.1:${pop}/`, '-u', `${user}:${pw}`, '--login-options', 'AUTH=PLAIN']);
  assert.notEqual((await login('dora', 'dorapw')).code, 0);
  writeFileSync(path.join(dir, 'secrets'), 'server plain dora dorapw\n');
  const deadline = Date.now() + 10000;
  let r = await login('dora', 'dorapw');
  while (r.code !== 0 && Date.now() < deadline) r = await login('dora', 'dorapw'); // the file is checked at most once a second
  assert.equal(r.code, 0, r.stderr);
  await relay.waitForLog((l) => /re-reading secrets file/.test(l.msg));
  assert.notEqual((await login('bob', 'bobpw')).code, 0, 'bob is no longer in the file');
});

test('a message the forwarder took (.busy) between DELE and QUIT keeps its content', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer);
  const [id] = await fill(relay, [message('one')]);
  const { smtp: raw } = await RawSmtp.open(pop);
  defer(() => raw.destroy());
  await raw.command('USER bob');
  assert.match((await raw.command('PASS bobpw')).text, /^\+OK 1 messages/);
  assert.match((await raw.command('DELE 1')).text, /^\+OK/);
  renameSync(path.join(relay.spool, `${id}.envelope`), path.join(relay.spool, `${id}.envelope.busy`));
  assert.match((await raw.command('QUIT')).text, /^\+OK/);
  assert.deepEqual(spoolFiles(relay.spool), [`${id}.content`, `${id}.envelope.busy`]);
});

test('pipelined commands are answered in order; a large message with dot lines comes back intact (curl)', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer);
  const line = '.' + 'y'.repeat(70) + '\r\n';
  const body = Array.from({ length: 40000 }, (_, i) => (i % 3 === 0 ? line : `line ${i}\r\n`)).join(''); // about 2 MB
  const [id] = await fill(relay, [message('big', body)]);
  const r = await curl([`pop3://127.0.0.1:${pop}/1`, '-u', 'bob:bobpw']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout === content(relay, id), 'RETR of a 2 MB message is byte for byte the content file');

  const { smtp: raw } = await RawSmtp.open(pop);
  defer(() => raw.destroy());
  raw.write('USER bob\r\nPASS bobpw\r\nSTAT\r\nNOOP\r\nLIST 1\r\nQUIT\r\n');
  await raw.waitClosed();
  const texts = raw.replies.map((x) => x.text);
  const size = content(relay, id).length;
  assert.deepEqual(texts.slice(1), ['+OK', '+OK 1 messages (' + size + ' octets)', `+OK 1 ${size}`, '+OK', `+OK 1 ${size}`, '+OK bye']);
});

test('random bytes on the POP port get -ERR or a closed connection, and the server lives on', async (t) => {
  const defer = cleanups(t);
  const { relay, pop } = await popRelay(defer);
  const { randomBytes } = await import('node:crypto');
  for (let i = 0; i < 5; i++) {
    const raw = await RawSmtp.connect(pop);
    defer(() => raw.destroy());
    raw.write(randomBytes(64 * 1024));
    raw.write('\r\nQUIT\r\n');
    await raw.waitClosed();
    assert.ok(
      raw.replies.slice(1).every((x) => /^[-+]/.test(x.text)),
      'only POP replies come back',
    );
  }
  const r = await poplib(pop, [['user', 'bob'], ['pass_', 'bobpw'], ['stat'], ['quit']]);
  ok(r, 3);
  assert.equal(relay.proc.exitCode, null);
  assert.ok(!relay.logs.some((l) => l.level >= 50), 'no error logged');
});

test('--server-auth-config applies to POP: x:plain,login leaves CRAM only, and no USER/PASS', async (t) => {
  const defer = cleanups(t);
  const dir = tempDir('relaybox-pop-');
  defer(() => removeDir(dir));
  const file = path.join(dir, 'server-secrets');
  writeFileSync(file, SECRETS);
  const { pop } = await popRelay(defer, ['--server-auth', file, '--server-auth-config', 'x:plain,login']);
  const r = await poplib(pop, [['capa'], ['user', 'bob']]);
  const capa = ok(r, 0) as Record<string, string[]>;
  assert.deepEqual(capa.SASL, ['CRAM-SHA512', 'CRAM-SHA256', 'CRAM-SHA1', 'CRAM-MD5']);
  assert.ok(!('USER' in capa));
  assert.match((r.steps[1] as { error: string }).error, /-ERR no SASL PLAIN mechanism/);
  const cram = await curl([`pop3://127.0.0.1:${pop}/`, '-u', 'bob:bobpw', '--login-options', 'AUTH=CRAM-MD5']);
  assert.equal(cram.code, 0, cram.stderr);
});

test(
  '--pop-auth pam:<service> with real PAM (pam_unix, a test user): USER/PASS and AUTH PLAIN, no APOP or CRAM',
  { skip: process.getuid?.() !== 0 && 'needs root to create a PAM service file and a user' },
  async (t) => {
    const defer = cleanups(t);
    const tag = `rbp${process.pid % 100000}`;
    const service = `relaybox-pop-test-${tag}`;
    const serviceFile = `/etc/pam.d/${service}`;
    const user = `${tag}u`;
    const password = 'Pop Sesame 1!';
    defer(() => rmSync(serviceFile, { force: true }));
    writeFileSync(serviceFile, '# relaybox POP test service, removed by the test\nauth required pam_unix.so nodelay\naccount required pam_unix.so\n');
    defer(async () => {
      const r = await runTool('userdel', [user]);
      assert.ok(r.code === 0 || r.code === 6, `userdel ${user}: ${r.stderr}`);
    });
    assert.equal((await runTool('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', user])).code, 0);
    assert.equal((await runTool('chpasswd', [], { input: `${user}:${password}\n` })).code, 0);

    const pop = await freePort();
    const relay = await relayFor(defer, ['--domain', 'relay.test', '--pop', '--pop-port', String(pop), '--pop-auth', `pam:${service}`, '--pop-by-name']);
    await relay.waitForLog((l) => l.msg === 'pop authentication with pam' && l.service === service);
    const [id] = await fill(relay, [message('for the pam user')]);
    mkdirSync(path.join(relay.spool, user));
    renameSync(path.join(relay.spool, `${id}.envelope`), path.join(relay.spool, user, `${id}.envelope`));

    const r = await poplib(pop, [['capa'], ['user', user], ['pass_', password], ['uidl'], ['quit']]);
    assert.doesNotMatch(r.greeting, /</, 'no APOP timestamp with PAM');
    assert.deepEqual((ok(r, 0) as Record<string, string[]>).SASL, ['PLAIN', 'LOGIN']);
    assert.deepEqual((ok(r, 3) as unknown[])[1], [`1 ${id}.content`]);
    const plain = await curl([`pop3://127.0.0.1:${pop}/1`, '-u', `${user}:${password}`, '--login-options', 'AUTH=PLAIN']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, content(relay, id));
    const bad = await poplib(pop, [
      ['user', user],
      ['pass_', 'wrong'],
    ]);
    assert.match((bad.steps[1] as { error: string }).error, /-ERR \[AUTH\] authentication failed/);
    const cram = await curl([`pop3://127.0.0.1:${pop}/`, '-u', `${user}:${password}`, '--login-options', 'AUTH=CRAM-MD5']);
    assert.notEqual(cram.code, 0, 'PAM cannot do CRAM-MD5');
  },
);
