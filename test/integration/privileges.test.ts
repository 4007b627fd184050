// Issue 16 item 3: E-MailRelay's privilege model. Started as root with --user, the real ids stay
// root and the effective ids are the user's; root is claimed back for the spool, pid and log files,
// which end up root:<the user's group>. Filters run as the user, every id. Run as root, with a
// throwaway account made by useradd and removed afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cleanups, type Defer } from '../lib/cleanup';
import { BUNDLE, freePort, relayFor, scratchDir } from '../lib/relay';
import { runTool, swaks, swaksAccepted } from '../lib/smtp-client';
import { pollUntil } from '../lib/spool-files';
import { startSink } from '../lib/sink';
import { shellScript } from '../lib/programs';

const asRoot = { skip: process.getuid?.() !== 0 && 'needs root' };

interface Account {
  name: string;
  uid: number;
  gid: number;
}

async function throwawayUser(defer: Defer, suffix: string): Promise<Account> {
  const name = `rbk${process.pid % 100000}${suffix}`;
  defer(async () => {
    const r = await runTool('userdel', [name]);
    assert.ok(r.code === 0 || r.code === 6, `userdel ${name}: ${r.stderr}`);
  });
  const made = await runTool('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  assert.equal(made.code, 0, made.stderr);
  const f = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`))!
    .split(':');
  return { name, uid: Number(f[2]), gid: Number(f[3]) };
}

/** Real, effective ids of a process, from /proc (what the harness's Check::process* read). */
function ids(pid: number): { ruid: number; euid: number; rgid: number; egid: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status)!;
  const gid = /^Gid:\s+(\d+)\s+(\d+)/m.exec(status)!;
  return { ruid: Number(uid[1]), euid: Number(uid[2]), rgid: Number(gid[1]), egid: Number(gid[2]) };
}

function owner(file: string): { uid: number; gid: number; mode: number } {
  const st = statSync(file);
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o777 };
}

/** An empty log file that is root's alone, as the harness leaves it. */
function rootOnlyLogFile(dir: string): string {
  const file = path.join(dir, 'relay.log');
  writeFileSync(file, '');
  chmodSync(file, 0o600);
  return file;
}

/** The one message's content and envelope are root:<the user's group>, 0660 (E-MailRelay's). */
function assertMessageFilesOwned(spool: string, gid: number): void {
  const files = readdirSync(spool).filter((f) => /^emailrelay\..*\.(content|envelope)$/.test(f));
  assert.equal(files.length, 2, files.join(' '));
  for (const f of files) assert.deepEqual(owner(path.join(spool, f)), { uid: 0, gid, mode: 0o660 }, f);
}

/** A directory as the harness makes one: open to all, not set-group-id. */
function openDir(defer: Defer): string {
  const dir = scratchDir(defer);
  chmodSync(dir, 0o755);
  const spool = path.join(dir, 'spool');
  mkdirSync(spool);
  chmodSync(spool, 0o777);
  return dir;
}

test(
  'as root with --user: real ids root, effective ids the user; pid and spool files root:<group>, envelopes 0660; a root-only log file is written',
  asRoot,
  async (t) => {
    const defer = cleanups(t);
    const user = await throwawayUser(defer, 'a');
    const dir = openDir(defer);
    const spool = path.join(dir, 'spool');
    const logFile = rootOnlyLogFile(dir);
    const pidFile = path.join(dir, 'relay.pid');
    const port = await freePort();
    const relay = await relayFor(
      defer,
      [
        '--no-daemon',
        '--log',
        '--log-file',
        logFile,
        '--pid-file',
        pidFile,
        '--user',
        user.name,
        '--port',
        String(port),
        '--interface',
        '127.0.0.1',
        '--spool-dir',
        spool,
      ],
      { raw: true, port, spool, readyMessage: null },
    );
    await pollUntil('relaybox started in the log file', () => readFileSync(logFile, 'utf8').includes('relaybox started'));

    assert.deepEqual(ids(relay.proc.pid!), { ruid: 0, euid: user.uid, rgid: 0, egid: user.gid });
    assert.deepEqual(owner(pidFile), { uid: 0, gid: user.gid, mode: 0o644 });
    assert.equal(readFileSync(pidFile, 'utf8').trim(), String(relay.proc.pid));

    const sent = await swaks({ port });
    assert.ok(swaksAccepted(sent), sent.stdout);
    assertMessageFilesOwned(spool, user.gid);
    // Idle again: root was only claimed for the file work.
    assert.deepEqual(ids(relay.proc.pid!), { ruid: 0, euid: user.uid, rgid: 0, egid: user.gid });

    assert.equal(await relay.stop(), 0);
    assert.ok(!existsSync(pidFile), 'the pid file is removed at exit');
    assert.doesNotMatch(readFileSync(logFile, 'utf8'), /error|warning|exception/i);
  },
);

// A setuid-root copy of the program run by an ordinary user (the harness's testServerIdentityRunningSuidRoot):
// setpriv gives node the same ids a setuid-root executable would (real: the user, effective and saved: root).
test("started set-user-id root by an ordinary user: real and effective ids the caller's, root kept as the saved uid for the spool files", asRoot, async (t) => {
  const defer = cleanups(t);
  const user = await throwawayUser(defer, 's');
  const dir = openDir(defer);
  const spool = path.join(dir, 'spool');
  const logFile = rootOnlyLogFile(dir);
  const port = await freePort();
  const wrapper = ['setpriv', '--ruid', String(user.uid), '--euid', '0', '--regid', String(user.gid), '--clear-groups'];
  const relay = await relayFor(
    defer,
    ['--no-daemon', '--log', '--log-file', logFile, '--user', 'daemon', '--port', String(port), '--interface', '127.0.0.1', '--spool-dir', spool],
    { raw: true, port, spool, readyMessage: null, wrapper },
  );
  await pollUntil('relaybox started in the log file', () => readFileSync(logFile, 'utf8').includes('relaybox started'));
  assert.deepEqual(ids(relay.proc.pid!), { ruid: user.uid, euid: user.uid, rgid: user.gid, egid: user.gid }, '--user is not used: the caller is');
  assert.match(readFileSync(`/proc/${relay.proc.pid}/status`, 'utf8'), /^Uid:\s+\d+\s+\d+\s+0\s/m, 'root stays the saved uid');
  const sent = await swaks({ port });
  assert.ok(swaksAccepted(sent), sent.stdout);
  assertMessageFilesOwned(spool, user.gid);
  assert.deepEqual(ids(relay.proc.pid!), { ruid: user.uid, euid: user.uid, rgid: user.gid, egid: user.gid });
  assert.equal(await relay.stop(), 0);
});

test('as root with --user: a filter runs as the user with every id, never root', asRoot, async (t) => {
  const defer = cleanups(t);
  const user = await throwawayUser(defer, 'f');
  const dir = openDir(defer);
  const spool = path.join(dir, 'spool');
  const seen = path.join(dir, 'seen');
  mkdirSync(seen);
  chmodSync(seen, 0o777);
  const filter = shellScript(dir, 'who.sh', `id -ru > ${seen}/ruid; id -u > ${seen}/euid; id -rg > ${seen}/rgid; id -G > ${seen}/groups; exit 0`);
  const port = await freePort();
  await relayFor(
    defer,
    ['--no-daemon', '--log', '--user', user.name, '--filter', filter, '--port', String(port), '--interface', '127.0.0.1', '--spool-dir', spool],
    { raw: true, port, spool },
  );
  const sent = await swaks({ port });
  assert.ok(swaksAccepted(sent), sent.stdout);
  const read = (n: string) => readFileSync(path.join(seen, n), 'utf8').trim();
  assert.equal(read('ruid'), String(user.uid));
  assert.equal(read('euid'), String(user.uid));
  assert.equal(read('rgid'), String(user.gid));
  assert.equal(read('groups'), String(user.gid));
});

test(
  'an E-MailRelay spool (root:<group> 2775, files root:<group> 0660) keeps working with --user: the queued message is forwarded and removed',
  asRoot,
  async (t) => {
    const defer = cleanups(t);
    const user = await throwawayUser(defer, 'e');
    const dir = scratchDir(defer);
    chmodSync(dir, 0o755);
    const spool = path.join(dir, 'spool');
    mkdirSync(spool);
    const submitted = await runTool(process.execPath, [BUNDLE, 'submit', '--spool-dir', spool, '--from', 'scanner@lan.test', 'boss@example.test'], {
      input: 'Subject: queued\r\n\r\nfrom before\r\n',
    });
    assert.equal(submitted.code, 0, submitted.stderr);
    for (const f of readdirSync(spool)) {
      chownSync(path.join(spool, f), 0, user.gid);
      chmodSync(path.join(spool, f), 0o660);
    }
    chownSync(spool, 0, user.gid);
    chmodSync(spool, 0o2775);
    const sink = await startSink();
    defer(() => sink.close());
    const port = await freePort();
    await relayFor(
      defer,
      [
        '--no-daemon',
        '--log',
        '--user',
        user.name,
        '--forward',
        '--forward-to',
        `127.0.0.1:${sink.port}`,
        '--port',
        String(port),
        '--interface',
        '127.0.0.1',
        '--spool-dir',
        spool,
      ],
      { raw: true, port, spool, keepSpool: true },
    );
    await sink.waitFor(1);
    await pollUntil('the forwarded message removed from the spool', () => !readdirSync(spool).some((f) => f.startsWith('emailrelay.')));
    assert.deepEqual(owner(spool), { uid: 0, gid: user.gid, mode: 0o775 });
  },
);

test('a log file that cannot be opened stops start-up with a plain error naming it, not a stack trace', async (t) => {
  const defer = cleanups(t);
  const dir = scratchDir(defer);
  writeFileSync(path.join(dir, 'a-file'), '');
  const bad = path.join(dir, 'a-file', 'relay.log');
  const r = await runTool(process.execPath, [
    BUNDLE,
    '--no-daemon',
    '--log',
    '--user',
    'root',
    '--log-file',
    bad,
    '--port',
    String(await freePort()),
    '--interface',
    '127.0.0.1',
    '--spool-dir',
    path.join(dir, 'spool'),
  ]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(
      `^relaybox: error: cannot open the log file ${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(--log-file\\): E[A-Z]+: .*; name a file in a directory`,
    ),
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test("POP lists and reads a spool that is root's alone (0700, files 0600) when started as root with the default --user", asRoot, async (t) => {
  const defer = cleanups(t);
  const dir = scratchDir(defer);
  chmodSync(dir, 0o755);
  const spool = path.join(dir, 'spool');
  mkdirSync(spool);
  for (const n of [1, 2, 3]) {
    const r = await runTool(process.execPath, [BUNDLE, 'submit', '--spool-dir', spool, '--from', 'a@lan.test', 'me@lan.test'], {
      input: `Subject: ${n}\r\n\r\nmessage ${n}\r\n`,
    });
    assert.equal(r.code, 0, r.stderr);
  }
  chmodSync(spool, 0o700);
  for (const f of readdirSync(spool)) chmodSync(path.join(spool, f), 0o600);
  const secrets = path.join(dir, 'pop.auth');
  writeFileSync(secrets, 'server login me secret\n');
  const pop = await freePort();
  const port = await freePort();
  await relayFor(
    defer,
    ['--no-daemon', '--log', '--no-smtp', '--pop', '--pop-port', String(pop), '--pop-auth', secrets, '--interface', '127.0.0.1', '--spool-dir', spool],
    { raw: true, port, spool, keepSpool: true },
  );
  const r = await runTool('python3', [
    path.join(__dirname, '../lib/pop_client.py'),
    '127.0.0.1',
    String(pop),
    '/dev/null',
    JSON.stringify([['user', 'me'], ['pass_', 'secret'], ['list'], ['retr', 1]]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { steps: { ok?: unknown; error?: string }[] };
  assert.deepEqual(
    out.steps.map((s) => s.error),
    [undefined, undefined, undefined, undefined],
    r.stdout,
  );
  assert.equal((out.steps[2].ok as [string, string[]])[1].length, 3);
  assert.ok((out.steps[3].ok as [string, string[]])[1].includes('message 1'), r.stdout);
});
