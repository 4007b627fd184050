// Server filters (--filter): the external program contract (arguments, environment, output lines,
// exit codes, timeout), JavaScript filters, chains, and the built-ins exit: and msgid:. Each test
// checks the SMTP reply and the files left in the spool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BUNDLE, removeDir, scratchDir, tempDir } from '../lib/relay';
import { RawSmtp, runTool, sendMessage } from '../lib/smtp-client';
import { jsProgram, shellScript } from '../lib/programs';
import { cleanup, filesEnding, readEnvelopeFile, relayFor, sinkFor, spoolFiles, waitUntil } from './forward-util';

const BODY = Buffer.from('From: a@example.com\r\nTo: b@example.net\r\nSubject: hello\r\n\r\nbody text\r\n');

async function submit(port: number, body = BODY, to = ['b@example.net']) {
  const { smtp } = await RawSmtp.open(port);
  await smtp.command('EHLO client.test');
  const reply = await sendMessage(smtp, 'a@example.com', to, body);
  await smtp.command('QUIT');
  smtp.socket.destroy();
  return reply;
}

test('a shell filter gets the content and .new envelope paths and a minimal environment, and may edit the content', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-filters-');
  const seen = path.join(dir, 'seen');
  const filter = shellScript(
    dir,
    'edit.sh',
    [`printf '%s\\n%s\\n%s\\n%s\\n' "$1" "$2" "$PATH" "$HOME" > ${seen}`, 'sed -i "s/^Subject: hello/Subject: [scanned] hello/" "$1"', 'exit 0'].join('\n'),
  );
  const relay = await relayFor(defer, ['--filter', filter]);
  const reply = await submit(relay.port);
  assert.equal(reply.code, 250, reply.text);
  const [content, envelope, pathVar, home] = readFileSync(seen, 'utf8').split('\n');
  const [id] = filesEnding(relay.spool, '.envelope').map((f) => f.replace(/\.envelope$/, ''));
  assert.ok(id, `a committed envelope: ${spoolFiles(relay.spool).join(' ')}`);
  assert.equal(content, path.join(relay.spool, `${id}.content`));
  assert.equal(envelope, path.join(relay.spool, `${id}.envelope.new`));
  assert.equal(pathVar, '/usr/bin:/bin');
  assert.equal(home, '', 'no HOME in the environment');
  assert.match(readFileSync(content!, 'latin1'), /\r\nSubject: \[scanned\] hello\r\n/);
  assert.deepEqual(spoolFiles(relay.spool), [`${id}.content`, `${id}.envelope`]);
});

test('a failing filter: its <<response>> and code go to the client, the reason to the log, and no files remain', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-filters-');
  const filter = shellScript(dir, 'reject.sh', 'echo "some chatter"\necho "<<550 5.7.1 not from that device>>"\necho "[[device is blocked]]"\nexit 1');
  const relay = await relayFor(defer, ['--filter', filter]);
  const reply = await submit(relay.port);
  assert.equal(reply.code, 550);
  assert.equal(reply.text, '550 5.7.1 not from that device');
  const line = await relay.waitForLog('message rejected by filter');
  assert.equal((line as unknown as { reason: string }).reason, 'device is blocked');
  assert.deepEqual(spoolFiles(relay.spool), []);
});

test('a failing filter without output gets 452 rejected; exit 100 after deleting the files gets 250 and leaves nothing', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-filters-');
  const quiet = shellScript(dir, 'quiet.sh', 'exit 7');
  const relay1 = await relayFor(defer, ['--filter', quiet]);
  const r1 = await submit(relay1.port);
  assert.equal(r1.code, 452);
  assert.equal(r1.text, '452 rejected');
  assert.deepEqual(spoolFiles(relay1.spool), []);

  const drop = shellScript(dir, 'drop.sh', 'rm -f "$1" "$2"\nexit 100');
  const relay2 = await relayFor(defer, ['--filter', drop]);
  const r2 = await submit(relay2.port);
  assert.equal(r2.code, 250, r2.text);
  assert.deepEqual(spoolFiles(relay2.spool), []);
});

test('--filter-timeout kills the whole process group and answers 452 error', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-filters-');
  const pidFile = path.join(dir, 'child.pid');
  const slow = shellScript(dir, 'slow.sh', `sleep 300 &\necho $! > ${pidFile}\nwait`);
  const relay = await relayFor(defer, ['--filter', slow, '--filter-timeout', '1']);
  const reply = await submit(relay.port);
  assert.equal(reply.code, 452);
  assert.equal(reply.text, '452 error');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  await waitUntil(
    () => !existsSync(`/proc/${pid}`) || /\bZ\b|zombie/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] ?? ''),
    'the background child killed',
    10000,
  );
  assert.deepEqual(spoolFiles(relay.spool), []);
});

test("a JavaScript filter runs with relaybox's node and can add a header", async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-filters-');
  const js = jsProgram(
    dir,
    'add-header.mjs',
    [
      "import { readFileSync, writeFileSync } from 'node:fs';",
      'const [content] = process.argv.slice(2);',
      "writeFileSync(content, 'X-Scanned-By: js-filter\\r\\n' + readFileSync(content, 'latin1'), 'latin1');",
    ].join('\n'),
  );
  const relay = await relayFor(defer, ['--filter', js]);
  assert.equal((await submit(relay.port)).code, 250);
  const [env] = filesEnding(relay.spool, '.envelope');
  const content = readFileSync(path.join(relay.spool, env!.replace(/\.envelope$/, '.content')), 'latin1');
  assert.match(content, /^X-Scanned-By: js-filter\r\nReceived: /);
});

test('a chain runs in order and stops at the first result that is not ok', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-filters-');
  const trace = path.join(dir, 'trace');
  const one = shellScript(dir, 'one.sh', `echo one >> ${trace}`);
  const two = shellScript(dir, 'two.sh', `echo two >> ${trace}\necho '<<stopped at two>>'\nexit 2`);
  const three = shellScript(dir, 'three.sh', `echo three >> ${trace}`);
  const relay = await relayFor(defer, ['--filter', `exit:0,${one}`, '--filter', `${two},${three}`]);
  const reply = await submit(relay.port);
  assert.equal(reply.code, 452);
  assert.equal(reply.text, '452 stopped at two');
  assert.equal(readFileSync(trace, 'utf8'), 'one\ntwo\n');
});

test('exit:103 commits and asks for a rescan: the message is forwarded with no other trigger', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--filter', 'exit:103']);
  assert.equal((await submit(relay.port)).code, 250);
  await sink.waitFor(1);
  assert.match(sink.messages[0]!.data.toString(), /Subject: hello/);
});

test('exit:1 as a server filter rejects with 452', async (t) => {
  const defer = cleanup(t);
  const relay = await relayFor(defer, ['--filter', 'exit:1']);
  const reply = await submit(relay.port);
  assert.equal(reply.code, 452);
  assert.deepEqual(spoolFiles(relay.spool), []);
});

test('msgid: adds a Message-ID only where there is none', async (t) => {
  const defer = cleanup(t);
  const relay = await relayFor(defer, ['--filter', 'msgid:', '--domain', 'relay.example.org']);
  assert.equal((await submit(relay.port)).code, 250);
  const withId = Buffer.from('Message-ID: <keep@example.com>\r\nSubject: has one\r\n\r\nx\r\n');
  assert.equal((await submit(relay.port, withId)).code, 250);
  const contents = filesEnding(relay.spool, '.content').map((f) => readFileSync(path.join(relay.spool, f), 'latin1'));
  const added = contents.find((c) => /Subject: hello/.test(c))!;
  const kept = contents.find((c) => /Subject: has one/.test(c))!;
  assert.match(added, /^Message-ID: <\d+\.\d+\.\d+\.\d+@relay\.example\.org>\r\nReceived: /);
  assert.equal(kept.match(/^Message-ID:/gim)!.length, 1);
  for (const e of filesEnding(relay.spool, '.envelope')) assert.equal(readEnvelopeFile(relay.spool, e).toRemote[0], 'b@example.net');
});

test('start-up refuses a filter that does not exist or is not executable, naming it', async (t) => {
  const defer = cleanup(t);
  const dir = scratchDir(defer, 'relaybox-filters-');
  const notExec = path.join(dir, 'plain.sh');
  writeFileSync(notExec, '#!/bin/sh\n');
  for (const [spec, message] of [
    [path.join(dir, 'missing.sh'), /--client-filter .*missing\.sh.*no such program/],
    [notExec, /not executable/],
    ['split:', null],
  ] as const) {
    const r = await runTool(process.execPath, [BUNDLE, '--no-daemon', '--as-client', '127.0.0.1:9', '--client-filter', spec, '--spool-dir', dir], {
      ms: 10000,
    });
    if (message) {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
    } else {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /split: works only as a server filter/);
    }
  }
});

test('copy: copies into every spool sub-directory (maildirs get the content in new/) and abandons the original', async (t) => {
  const defer = cleanup(t);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const fs = await import('node:fs');
  for (const d of ['alice', 'bob/new', 'bob/cur', 'bob/tmp', 'postmaster', '.hidden']) fs.mkdirSync(path.join(spool, d), { recursive: true });
  const relay = await relayFor(defer, ['--filter', 'copy:'], { spool });
  assert.equal((await submit(relay.port)).code, 250);
  assert.deepEqual(
    spoolFiles(relay.spool).filter((f) => !['alice', 'bob', 'postmaster', '.hidden'].includes(f)),
    [],
    'the original is gone',
  );
  const alice = fs.readdirSync(path.join(spool, 'alice')).sort();
  assert.equal(alice.length, 2);
  assert.ok(alice[0]!.endsWith('.content') && alice[1]!.endsWith('.envelope'), alice.join(' '));
  assert.deepEqual(readEnvelopeFile(path.join(spool, 'alice'), alice[1]!).toRemote, ['b@example.net']);
  const maildir = fs.readdirSync(path.join(spool, 'bob', 'new'));
  assert.equal(maildir.length, 1);
  assert.match(fs.readFileSync(path.join(spool, 'bob', 'new', maildir[0]!), 'latin1'), /Subject: hello/);
  assert.deepEqual(fs.readdirSync(path.join(spool, 'postmaster')), []);
  assert.deepEqual(fs.readdirSync(path.join(spool, '.hidden')), []);
});

test('copy:nodelete;hardlink keeps the original and links the content', async (t) => {
  const defer = cleanup(t);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const fs = await import('node:fs');
  fs.mkdirSync(path.join(spool, 'pop-user'));
  const relay = await relayFor(defer, ['--filter', 'copy:nodelete;hardlink'], { spool });
  assert.equal((await submit(relay.port)).code, 250);
  const [content] = filesEnding(spool, '.content');
  assert.ok(content);
  assert.equal(fs.statSync(path.join(spool, content)).nlink, 2);
  assert.ok(fs.existsSync(path.join(spool, 'pop-user', content)));
});

test('split: one envelope per recipient domain, each with ForwardTo and the split-group lines; no rescan (as E-MailRelay)', async (t) => {
  const defer = cleanup(t);
  const relay = await relayFor(defer, ['--filter', 'split:2525', '--forward-to', '127.0.0.1:9', '--verbose']);
  assert.equal((await submit(relay.port, BODY, ['x@One.example', 'y@two.example', 'z@one.EXAMPLE'])).code, 250);
  // The rescan would have been asked for before the 250 (server.ts): nothing asked for a forwarding run.
  assert.deepEqual(
    relay.logs.filter((l) => l.msg === 'forwarding run requested'),
    [],
  );
  const envs = filesEnding(relay.spool, '.envelope').map((f) => ({ f, env: readEnvelopeFile(relay.spool, f) }));
  assert.equal(envs.length, 2);
  const one = envs.find((e) => e.env.toRemote.length === 2)!;
  const two = envs.find((e) => e.env.toRemote.length === 1)!;
  assert.deepEqual(one.env.toRemote, ['x@One.example', 'z@one.EXAMPLE']);
  assert.equal(one.env.forwardTo, 'One.example:2525');
  assert.deepEqual(two.env.toRemote, ['y@two.example']);
  assert.equal(two.env.forwardTo, 'two.example:2525');
  const originalId = one.f.replace(/\.envelope$/, '');
  for (const e of envs) assert.deepEqual(e.env.tail, ['X-MailRelay-SplitGroupCount: 2', `X-MailRelay-SplitGroup: ${originalId}`]);
  const contents = filesEnding(relay.spool, '.content');
  assert.equal(contents.length, 2);
  assert.equal(readFileSync(path.join(relay.spool, contents[0]!), 'latin1'), readFileSync(path.join(relay.spool, contents[1]!), 'latin1'));
});

test('copy:pop copies only the envelope; the content stays in the main directory for the POP users to share', async (t) => {
  const defer = cleanup(t);
  const spool = tempDir('relaybox-spool-');
  defer(() => removeDir(spool));
  const fs = await import('node:fs');
  for (const d of ['alice', 'bob']) fs.mkdirSync(path.join(spool, d));
  const relay = await relayFor(defer, ['--filter', 'copy:pop'], { spool });
  assert.equal((await submit(relay.port)).code, 250);
  const [content] = filesEnding(spool, '.content');
  assert.ok(content, 'the content stays');
  assert.deepEqual(filesEnding(spool, '.envelope'), [], 'no envelope left to forward in the main directory');
  for (const d of ['alice', 'bob']) assert.deepEqual(fs.readdirSync(path.join(spool, d)), [content.replace(/\.content$/, '.envelope')]);
});
