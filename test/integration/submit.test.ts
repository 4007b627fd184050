// `relaybox submit` and the `sendmail` entry point: a message piped in lands in the spool as an
// E-MailRelay envelope + content pair, and a running relay forwards it to a real SMTP server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cleanups, type Defer } from '../lib/cleanup';
import { BUNDLE, relayFor, removeDir, tempDir } from '../lib/relay';
import { startSink } from '../lib/sink';
import { runTool, type ToolResult } from '../lib/smtp-client';
import { pollUntil, readAll, spoolFiles } from '../lib/spool-files';

const isRoot = process.getuid?.() === 0;

function spoolDir(defer: Defer): string {
  const dir = tempDir('relaybox-submit-');
  defer(() => removeDir(dir));
  return dir;
}

function submit(args: string[], input: string | Buffer, program: string[] = [BUNDLE, 'submit']): Promise<ToolResult> {
  return runTool(process.execPath, [...program, ...args], { input });
}

const MESSAGE = [
  'From: Alice Example <alice@example.test>',
  'To: bob@example.test, "Carol, C." <carol@example.test>',
  'Cc: dave@example.test',
  'Bcc: eve@example.test,',
  '  frank@example.test',
  'Subject: report',
  '',
  'line one',
  '.',
  'after the dot',
  '',
].join('\n');

test('recipients as arguments, -f sender: envelope and content files as E-MailRelay writes them', async (t) => {
  const defer = cleanups(t);
  const spool = spoolDir(defer);
  const r = await submit(['-s', spool, '-i', '-f', 'cron@box.test', 'ops@example.test', '<admin@example.test>', '\\ops@example.test'], MESSAGE);
  assert.equal(r.code, 0, r.stderr);
  const [m, ...others] = readAll(spool);
  assert.equal(others.length, 0);
  assert.match(m.id, /^emailrelay\.\d+\.\d+\.\d+$/);
  assert.equal(m.envelope.from, 'cron@box.test');
  assert.deepEqual(m.envelope.toRemote, ['ops@example.test', 'admin@example.test'], 'only the arguments without -t, each once');
  assert.deepEqual(m.envelope.toLocal, []);
  assert.equal(m.envelope.client, '127.0.0.1', 'as emailrelay-submit writes it');
  assert.equal(m.envelope.content, '7bit');
  assert.match(m.envelopeText, /^X-MailRelay-Format: #2821\.8\r\n/);
  const text = m.content.toString('latin1');
  assert.ok(!/[^\r]\n/.test(text), 'every line ends CRLF');
  assert.match(text, /^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n/m, 'a missing Date: is added');
  assert.match(text, /^Message-ID: <[^>]+@[^>]+>\r\n/m, 'a missing Message-ID: is added');
  assert.match(text, /^From: Alice Example <alice@example\.test>\r\n/m, 'the From: header is kept');
  assert.doesNotMatch(text, /^Bcc:|frank/im, 'the Bcc: field (with its continuation line) is removed');
  assert.match(text, /\r\n\r\nline one\r\n\.\r\nafter the dot\r\n$/, '-i: a lone dot is just a line');
  assert.equal(statSync(path.join(spool, `${m.id}.content`)).mode & 0o777, 0o660);
});

test('-t: recipients from To:, Cc: and Bcc: (plus arguments); without -i a lone dot ends the message', async (t) => {
  const defer = cleanups(t);
  const spool = spoolDir(defer);
  const r = await submit(['--spool-dir', spool, '-t', 'extra@example.test'], MESSAGE);
  assert.equal(r.code, 0, r.stderr);
  const [m] = readAll(spool);
  assert.deepEqual(m.envelope.toRemote, [
    'extra@example.test',
    'bob@example.test',
    'carol@example.test',
    'dave@example.test',
    'eve@example.test',
    'frank@example.test',
  ]);
  assert.equal(m.envelope.from, 'alice@example.test', 'sender from the From: header without -f');
  const text = m.content.toString('latin1');
  assert.match(text, /\r\n\r\nline one\r\n$/, 'the lone dot ended the input');
  assert.doesNotMatch(text, /after the dot|^Bcc:/m);
});

test('no recipients at all: the headers are used (as emailrelay-submit 2.6); -F names an added From:', async (t) => {
  const defer = cleanups(t);
  const spool = spoolDir(defer);
  const r = await submit(['-s', spool, '-f', 'backup@box.test', '-F', 'Backup Job', '-v'], 'To: root@example.test\nSubject: done\n\nok \xe9\n');
  assert.equal(r.code, 0, r.stderr);
  const [m] = readAll(spool);
  assert.equal(r.stdout, `${path.join(spool, m.id)}.content\n`, '-v prints the content file');
  assert.deepEqual(m.envelope.toRemote, ['root@example.test']);
  assert.equal(m.envelope.content, '8bit', 'content with 8-bit bytes');
  assert.match(m.content.toString('latin1'), /^From: Backup Job <backup@box\.test>\r\n/m);
});

test('exit codes: 64 usage, 65 bad address, 73 spool not there, 78 bad config; nothing left in the spool', async (t) => {
  const defer = cleanups(t);
  const spool = spoolDir(defer);
  const cases: [string[], string, number, RegExp][] = [
    [['-s', spool], 'Subject: nobody\n\nx\n', 64, /no recipients/],
    [['-s', spool, '-t'], 'Subject: nobody\n\nx\n', 64, /no recipients: the To:, Cc: and Bcc: headers name nobody/],
    [['-s', spool, '--bogus', 'a@b.test'], 'x\n', 64, /unknown option "--bogus"/],
    [['-s', spool, '-bp'], '', 64, /not supported/],
    [['-s', spool, 'bad address@x.test'], 'x\n', 65, /not a valid mail address/],
    [['-s', spool, '-f', 'a b@c', 'x@y.test'], 'x\n', 65, /sender "a b@c" is not a valid mail address/],
    [['-s', path.join(spool, 'missing'), 'x@y.test'], 'x\n', 73, /spool directory .*missing does not exist/],
    [['-C', path.join(spool, 'nope.conf'), 'x@y.test'], 'x\n', 78, /cannot read config file/],
  ];
  for (const [args, input, code, message] of cases) {
    const r = await submit(args, input);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.deepEqual(spoolFiles(spool), []);
});

test('-C config file: its spool-dir is used (relative to the file)', async (t) => {
  const defer = cleanups(t);
  const dir = spoolDir(defer);
  mkdirSync(path.join(dir, 'spool'));
  writeFileSync(path.join(dir, 'relay.conf'), '# a relaybox config\nspool-dir spool\nport 2525\n');
  const r = await submit(['-C', path.join(dir, 'relay.conf'), 'x@y.test'], 'Subject: hi\n\nhello\n');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readAll(path.join(dir, 'spool')).length, 1);
});

test("invoked through a symlink named sendmail: sendmail -t -oi -odq -oem, and Debian cron's command line", async (t) => {
  const defer = cleanups(t);
  const dir = spoolDir(defer);
  const link = path.join(dir, 'sendmail');
  symlinkSync(BUNDLE, link);
  mkdirSync(path.join(dir, 'spool'));
  const r = await submit(
    ['-s', path.join(dir, 'spool'), '-t', '-oi', '-odq', '-oem', '-f', 'cron@box.test'],
    'To: ops@example.test\nSubject: cron\n\n.\nend\n',
    [link],
  );
  assert.equal(r.code, 0, r.stderr);
  const [m] = readAll(path.join(dir, 'spool'));
  assert.deepEqual(m.envelope.toRemote, ['ops@example.test']);
  assert.match(m.content.toString('latin1'), /\r\n\r\n\.\r\nend\r\n$/);
  // Debian cron runs: sendmail -FCronDaemon -i -B8BITMIME -oem <MAILTO>
  const cron = await submit(
    ['-s', path.join(dir, 'spool'), '-FCronDaemon', '-i', '-B8BITMIME', '-oem', '-U', 'root@box.test'],
    'Subject: Cron <root@box> job\n\noutput\n',
    [link],
  );
  assert.equal(cron.code, 0, cron.stderr);
  const m2 = readAll(path.join(dir, 'spool')).find((x) => x.id !== m.id)!;
  assert.equal(m2.envelope.content, '8bit');
  assert.deepEqual(m2.envelope.toRemote, ['root@box.test']);
  assert.match(m2.content.toString('latin1'), /^From: CronDaemon <[^@>]+@[^>]+>\r\n/m);
  const help = await submit(['--help'], '', [link]);
  assert.match(help.stdout, /^usage: sendmail /);
});

test("as root, files are created as the spool directory's owner (a relay running as --user can forward them)", { skip: !isRoot && 'needs root' }, async (t) => {
  const defer = cleanups(t);
  const spool = spoolDir(defer);
  const daemon = Number(execFileSync('id', ['-u', 'daemon'], { encoding: 'utf8' }).trim());
  const daemonGroup = Number(execFileSync('id', ['-g', 'daemon'], { encoding: 'utf8' }).trim());
  chownSync(spool, daemon, daemonGroup);
  const r = await submit(['-s', spool, 'x@y.test'], 'Subject: hi\n\nhello\n');
  assert.equal(r.code, 0, r.stderr);
  for (const f of spoolFiles(spool)) {
    const st = statSync(path.join(spool, f));
    assert.equal(st.uid, daemon, f);
    assert.equal(st.gid, daemonGroup, f);
  }
  assert.equal(spoolFiles(spool).length, 2);
});

test('a running relay forwards a submitted message to the upstream server (--poll)', async (t) => {
  const defer = cleanups(t);
  const sink = await startSink();
  defer(() => sink.close());
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--poll', '1']);
  const r = await submit(['-s', relay.spool, '-i', '-f', 'cron@box.test', 'ops@example.test'], 'Subject: nightly\n\nall good\n');
  assert.equal(r.code, 0, r.stderr);
  await sink.waitFor(1);
  const [got] = sink.messages;
  assert.equal(got.from, 'cron@box.test');
  assert.deepEqual(got.to, ['ops@example.test']);
  assert.match(got.data.toString('latin1'), /^Subject: nightly\r\n/m);
  assert.match(got.data.toString('latin1'), /\r\n\r\nall good\r\n$/);
  await pollUntil('the spool to empty', () => spoolFiles(relay.spool).length === 0);
});

test('spool disk full: exit 75 (try again later) and nothing partial left', { skip: !isRoot && 'needs root to mount a tmpfs' }, async (t) => {
  const defer = cleanups(t);
  const dir = spoolDir(defer);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    t.skip(`cannot mount a tmpfs here: ${(e as Error).message}`);
    return;
  }
  defer(() => execFileSync('umount', ['-l', dir]));
  const big = 'Subject: big\n\n' + ('x'.repeat(99) + '\n').repeat(2000); // 200 KB into 64 KB
  const r = await submit(['-s', dir, 'x@y.test'], big);
  assert.equal(r.code, 75, r.stderr);
  assert.match(r.stderr, /disk is full|ENOSPC/);
  assert.deepEqual(spoolFiles(dir), []);
  const small = await submit(['-s', dir, 'x@y.test'], 'Subject: small\n\nfits\n');
  assert.equal(small.code, 0, small.stderr);
  assert.equal(readAll(dir).length, 1);
});

test('relay start-up recovery leaves alone the files of a submit still writing (its pid is alive)', async (t) => {
  const defer = cleanups(t);
  const spool = spoolDir(defer);
  // This test's own node process stands for a submit in the middle of writing.
  const live = `emailrelay.${process.pid}.1700000000.1`;
  const dead = 'emailrelay.999999999.1700000000.1';
  for (const id of [live, dead]) {
    writeFileSync(path.join(spool, `${id}.content`), 'Subject: x\r\n\r\nx\r\n');
    writeFileSync(path.join(spool, `${id}.envelope.new`), '');
  }
  const relay = await relayFor(defer, [], { spool, keepSpool: true });
  await relay.waitForLog((l) => l.msg.startsWith('removed a message whose reception was interrupted') && l.id === dead);
  assert.deepEqual(spoolFiles(spool), [`${live}.content`, `${live}.envelope.new`]);
});
