// The admin interface (--admin, reference section 9.2) over a real TCP connection: every command,
// the prompt, CRLF/LF detection, the error limit, --admin-terminate and --admin-password-file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AdminClient, PROMPT } from '../lib/admin-client';
import { BUNDLE, freePort, tempDir, removeDir } from '../lib/relay';
import { RawSmtp } from '../lib/smtp-client';
import { cleanup, filesEnding, makeMessage, readEnvelopeFile, relayFor, sendAll, sinkFor, waitUntil } from './forward-util';
import { reasons } from '../../src/spool/envelope';

async function adminFor(defer: (fn: () => unknown) => void, port: number, eol: '\r\n' | '\n' = '\r\n'): Promise<AdminClient> {
  const c = await AdminClient.connect(port, eol);
  defer(() => c.close());
  return c;
}

test('admin: list, failures, flush, notify, status, unfail-all, forward, pid, info, help, quit', async (t) => {
  const defer = cleanup(t);
  let refuse = true;
  const sink = await sinkFor(defer, { rcpt: (a) => (refuse && a === 'bad@example.net' ? { code: 550, text: '5.1.1 no such user' } : undefined) });
  const adminPort = await freePort();
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--admin', String(adminPort)]);
  await relay.waitForLog((l) => l.msg === 'listening for the admin interface' && l.port === adminPort);
  const admin = await adminFor(defer, adminPort);

  admin.send('help');
  const first = await admin.rawReply();
  // No prompt or greeting on connect: the first bytes received are the reply to the first command.
  assert.ok(admin.raw.startsWith('commands: '), JSON.stringify(admin.raw.slice(0, 40)));
  assert.ok(first.endsWith('\r\n'), 'CRLF client gets CRLF');
  for (const c of ['flush', 'forward', 'help', 'info', 'list', 'failures', 'notify', 'pid', 'quit', 'smtp', 'status', 'unfail-all']) {
    assert.match(first, new RegExp(`\\b${c}\\b`), `help lists ${c}`);
  }
  assert.doesNotMatch(first, /terminate/, 'terminate is not offered without --admin-terminate');

  assert.deepEqual(await admin.command('pid'), [String(relay.proc.pid)]);
  assert.deepEqual(await admin.command('list'), ['<none>']);
  assert.deepEqual(await admin.command('failures'), ['<none>']);
  assert.deepEqual(await admin.command('flush'), ['error: no messages to send']);

  await sendAll(relay.port, [makeMessage('admin-good'), makeMessage('admin-bad', { to: ['bad@example.net'] })]);
  const ready = filesEnding(relay.spool, '.envelope')
    .map((n) => n.replace(/\.envelope$/, ''))
    .sort();
  assert.equal(ready.length, 2);
  assert.deepEqual(await admin.command('list'), ready, 'list shows the ready messages in file-name order');

  assert.deepEqual(await admin.command('notify'), ['OK']);
  assert.deepEqual(await admin.command('flush'), ['error: 1 message failed']);
  assert.equal(sink.messages.length, 1);
  await admin.until(() => /EVENT: message forwarded \S+/.test(admin.raw) && /EVENT: message failed \S+/.test(admin.raw), 'EVENT lines');
  const failedId = /EVENT: message failed (\S+)/.exec(admin.raw)![1]!;
  assert.ok(ready.includes(failedId));

  assert.deepEqual(await admin.command('failures'), [failedId]);
  assert.deepEqual(await admin.command('list'), ['<none>']);
  const status = await admin.command('status');
  assert.ok(status.includes('Messages received: 2'), status.join('\n'));
  assert.ok(status.includes('Messages forwarded: 1'), status.join('\n'));
  assert.ok(status.includes('Messages failed: 1'), status.join('\n'));
  assert.ok(status.includes('Queue: 0 ready, 0 busy, 1 failed'), status.join('\n'));
  assert.ok(status.includes('SMTP server: enabled'));
  assert.ok(status.includes(`Upstream: 127.0.0.1:${sink.port}`));
  assert.ok(
    status.some((l) => /^Spool disk free: \d+ MiB \(\d+\.\d %\)$/.test(l)),
    status.join('\n'),
  );
  assert.ok(status.some((l) => /^Memory: \d+ MiB used by relaybox/.test(l)));

  // unfail-all: back to ready with the failure reasons cleared (and kept in the log).
  assert.match(reasons(readEnvelopeFile(relay.spool, `${failedId}.envelope.bad`))[0]!.reason, /no such user/);
  assert.deepEqual(await admin.command('unfail-all'), ['OK']);
  assert.deepEqual(filesEnding(relay.spool, '.bad'), []);
  assert.deepEqual(reasons(readEnvelopeFile(relay.spool, `${failedId}.envelope`)), []);
  const unfailed = await relay.waitForLog((l) => l.msg === 'failed message made ready again' && l.id === failedId);
  assert.match(JSON.stringify(unfailed.clearedReasons), /550 .*no such user/);
  assert.deepEqual(await admin.command('failures'), ['<none>']);
  assert.deepEqual(await admin.command('list'), [failedId]);

  // forward: asynchronous, OK at once; the message is delivered by the run it requested.
  refuse = false;
  assert.deepEqual(await admin.command('forward'), ['OK']);
  await sink.waitFor(2);
  await waitUntil(() => !existsSync(path.join(relay.spool, `${failedId}.content`)), 'the retried message leaves the spool');
  await admin.until(
    () => new RegExp(`EVENT: message retrying ${failedId}`).test(admin.raw) || new RegExp(`EVENT: message forwarded ${failedId}`).test(admin.raw),
    'an EVENT for the retried message',
  );

  assert.match((await admin.command('info version'))[0]!, /^relaybox .*E-MailRelay 2\.6\.1 compatible/);
  assert.match((await admin.command('info warranty')).join(' '), /WITHOUT ANY WARRANTY/);
  assert.match((await admin.command('info credit')).join(' '), /E-MailRelay/);
  assert.match((await admin.command('info copyright')).join(' '), /GNU General Public License/);
  assert.match((await admin.command('info nonsense'))[0]!, /^error: usage: info/);
  assert.match((await admin.command('terminate'))[0]!, /^error: terminate is not enabled/);
  assert.match((await admin.command('dnsbl stop'))[0]!, /^error: no dnsbl checking: start relaybox with --dnsbl/);
  assert.match((await admin.command('dnsbl sideways'))[0]!, /^error: usage: dnsbl stop/);
  assert.equal(relay.proc.exitCode, null, 'still running');

  admin.send('quit');
  await admin.until(() => admin.closed, 'the connection to close after quit');
});

test('admin: LF client gets LF replies; smtp disable refuses new SMTP sessions with 421, enable accepts again', async (t) => {
  const defer = cleanup(t);
  const adminPort = await freePort();
  const relay = await relayFor(defer, ['--admin', String(adminPort)]);
  const admin = await adminFor(defer, adminPort, '\n');
  const reply = (admin.send('pid'), await admin.rawReply());
  assert.equal(reply, `${relay.proc.pid}\n`);
  assert.ok(!admin.raw.includes('\r'), 'no CR sent to an LF client');
  assert.ok(admin.raw.endsWith(PROMPT));
  assert.deepEqual(await admin.command('forward'), ['error: no remote server configured: use --forward-to']);
  assert.deepEqual(await admin.command('flush'), ['error: no remote server configured: use --forward-to']);

  assert.deepEqual(await admin.command('smtp disable'), ['OK']);
  const refused = await RawSmtp.open(relay.port);
  defer(() => refused.smtp.socket.destroy());
  assert.equal(refused.greeting.code, 421);
  assert.ok((await admin.command('status')).includes('SMTP server: disabled'));
  assert.deepEqual(await admin.command('smtp enable'), ['OK']);
  const accepted = await RawSmtp.open(relay.port);
  defer(() => accepted.smtp.socket.destroy());
  assert.equal(accepted.greeting.code, 220);
  assert.match((await admin.command('smtp sideways'))[0]!, /^error: usage: smtp enable\|disable/);
});

test('admin: a client is dropped after 30 unrecognised commands', async (t) => {
  const defer = cleanup(t);
  const adminPort = await freePort();
  const relay = await relayFor(defer, ['--admin', String(adminPort)]);
  const admin = await adminFor(defer, adminPort);
  for (let i = 1; i < 30; i++) assert.deepEqual(await admin.command(`bogus${i}`), ['error: unrecognised command']);
  assert.equal(admin.closed, false);
  admin.send('bogus30');
  await admin.until(() => admin.closed, 'the connection to be dropped');
  await relay.waitForLog('admin client dropped: too many unrecognised commands');
});

test('admin: --admin-terminate lets "terminate" stop the process cleanly', async (t) => {
  const defer = cleanup(t);
  const adminPort = await freePort();
  const pidDir = tempDir();
  defer(() => removeDir(pidDir));
  const pidFile = path.join(pidDir, 'relaybox.pid');
  const relay = await relayFor(defer, ['--admin', String(adminPort), '--admin-terminate', '--pid-file', pidFile]);
  const admin = await adminFor(defer, adminPort);
  assert.match((await admin.command('help'))[0]!, /\bterminate\b/);
  assert.ok(existsSync(pidFile));
  admin.send('terminate');
  assert.equal(await relay.exited, 0);
  assert.ok(!existsSync(pidFile), 'the pid file is removed as on SIGTERM');
  await relay.waitForLog('terminate requested by the admin interface');
});

test('admin: --admin-password-file requires "password" before commands, and the password is never logged', async (t) => {
  const defer = cleanup(t);
  const dir = tempDir();
  defer(() => removeDir(dir));
  const secret = 'corr3ct-h0rse-battery';
  writeFileSync(path.join(dir, 'admin.pw'), `${secret}\n`);
  const adminPort = await freePort();
  const relay = await relayFor(defer, ['--admin', String(adminPort), '--admin-password-file', path.join(dir, 'admin.pw'), '--verbose']);
  const admin = await adminFor(defer, adminPort);
  assert.match((await admin.command('help'))[0]!, /\bpassword\b/);
  assert.match((await admin.command('list'))[0]!, /^error: password required/);
  assert.deepEqual(await admin.command('password guess'), ['error: wrong password']);
  assert.match((await admin.command('pid'))[0]!, /^error: password required/);
  assert.deepEqual(await admin.command(`password ${secret}`), ['OK']);
  assert.deepEqual(await admin.command('pid'), [String(relay.proc.pid)]);
  await relay.waitForLog('admin client gave a wrong password');
  assert.ok(!JSON.stringify(relay.logs).includes(secret), 'the password is not in the log');
});

test('admin: start-up refuses --admin-terminate without --admin, an empty password file, and a busy admin port', async (t) => {
  const defer = cleanup(t);
  const dir = tempDir();
  defer(() => removeDir(dir));
  const run = (args: string[]) =>
    spawnSync(process.execPath, [BUNDLE, '--no-daemon', '--spool-dir', dir, '--port', '0', '--interface', '127.0.0.1', ...args], {
      encoding: 'utf8',
      timeout: 15000,
    });
  let r = run(['--admin-terminate']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--admin-terminate needs --admin/);
  writeFileSync(path.join(dir, 'empty.pw'), '\n');
  r = run(['--admin', '1', '--admin-password-file', path.join(dir, 'empty.pw')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /first line of .*empty\.pw.* is empty/);
  const busy = await relayFor(defer, ['--admin', String(await freePort())]);
  const taken = busy.port; // its SMTP port is in use
  r = run(['--admin', String(taken)]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot listen for the admin interface on 127\.0\.0\.1:\d+/);
});

test('admin: listens on --interface admin= addresses only; the status page on the SMTP addresses', async (t) => {
  const defer = cleanup(t);
  const spool = tempDir();
  defer(() => removeDir(spool));
  const [smtpPort, adminPort, statusPort] = [await freePort(), await freePort(), await freePort()];
  const relay = await relayFor(
    defer,
    [
      '--no-daemon',
      '--log',
      '--user',
      'root',
      '--spool-dir',
      spool,
      '--port',
      String(smtpPort),
      '--interface',
      'smtp=127.0.0.1',
      '--interface',
      'admin=127.0.0.2',
      '--admin',
      String(adminPort),
      '--status-port',
      String(statusPort),
    ],
    { raw: true, spool },
  );
  await assert.rejects(AdminClient.connect(adminPort, '\n', '127.0.0.1'), /ECONNREFUSED/, 'no admin interface on the SMTP-only address');
  const onAdminAddress = await AdminClient.connect(adminPort, '\n', '127.0.0.2');
  defer(() => onAdminAddress.close());
  assert.deepEqual(await onAdminAddress.command('pid'), [String(relay.proc.pid)]);
  assert.equal((await fetch(`http://127.0.0.1:${statusPort}/health`)).status, 200);
  await assert.rejects(fetch(`http://127.0.0.2:${statusPort}/health`), 'no status page on the admin-only address');
});
