// The process around the relay: daemonising, pid file, log file, --user, --immediate, signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, chmodSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BUNDLE, freePort, removeDir, startRelay, tempDir } from '../lib/relay';
import { startSink } from '../lib/sink';
import { makeMessage, reasonsIn, sendAll } from './forward-util';

function run(args: string[], opts: { cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BUNDLE, ...args], { cwd: opts.cwd, timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function swaks(port: number, extra: string[] = []): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'swaks',
      ['--server', `127.0.0.1:${port}`, '--from', 'dev@lan.example', '--to', 'boss@example.com', '--timeout', '20', ...extra],
      { timeout: 30000 },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr }),
    );
  });
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, ms = 10000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('daemonises by default: the parent exits 0 once listening, pid file and %d log file written, SIGTERM removes the pid file', async () => {
  const dir = tempDir();
  const port = await freePort();
  try {
    const r = await run(
      [
        '--as-server',
        '--user',
        'root',
        '--port',
        String(port),
        '--interface',
        '127.0.0.1',
        '--spool-dir',
        'spool',
        '--pid-file',
        'run/relay.pid',
        '--log-file',
        'log-%d.txt',
      ],
      { cwd: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    const pidFile = path.join(dir, 'run/relay.pid');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 0 && pid !== process.pid);
    process.kill(pid, 0); // running, detached
    const s = await swaks(port);
    assert.equal(s.code, 0, s.out);
    const logName = readdirSync(dir).find((f) => /^log-\d{8}\.txt$/.test(f));
    assert.ok(logName, 'log file named with the date');
    await waitFor('message received in the log', () => readFileSync(path.join(dir, logName!), 'utf8').includes('message received'));
    process.kill(pid, 'SIGTERM');
    await waitFor('pid file removed', () => !existsSync(pidFile));
    assert.ok(
      readdirSync(path.join(dir, 'spool')).some((f) => f.endsWith('.envelope')),
      'the message stays spooled',
    );
  } finally {
    removeDir(dir);
  }
});

test(
  'started as root without --user it runs as "daemon" (effective ids; real ids root) and owns the spool directory it creates',
  { skip: process.getuid?.() !== 0 },
  async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const spool = path.join(dir, 'spool');
    const port = await freePort();
    const relay = await startRelay(['--no-daemon', '--log', '--port', String(port), '--interface', '127.0.0.1', '--spool-dir', spool], { raw: true });
    try {
      await relay.waitForLog('running as an unprivileged user');
      const status = readFileSync(`/proc/${relay.proc.pid}/status`, 'utf8');
      const [, ruid, euid] = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status)!.map(Number);
      assert.equal(ruid, 0, 'the real uid stays root, as in E-MailRelay');
      assert.notEqual(euid, 0);
      assert.equal(statSync(spool).uid, euid);
      const s = await swaks(port);
      assert.equal(s.code, 0, s.out);
      const content = readdirSync(spool).find((f) => f.endsWith('.content'))!;
      const st = statSync(path.join(spool, content));
      assert.equal(st.uid, 0, "spool files are root's, with the user's group");
      assert.equal(st.gid, Number(/^Gid:\s+\d+\s+(\d+)/m.exec(status)![1]));
    } finally {
      await relay.stop();
      removeDir(dir);
    }
  },
);

test('--immediate forwards before the 250, and passes the upstream refusal back to the client', async () => {
  const sink = await startSink({ rcpt: (a) => (a.startsWith('nobody@') ? { code: 550, text: '5.1.1 no such user' } : undefined) });
  const relay = await startRelay(['--forward-to', `127.0.0.1:${sink.port}`, '--immediate']);
  try {
    const ok = await swaks(relay.port);
    assert.equal(ok.code, 0, ok.out);
    assert.equal(sink.messages.length, 1, 'delivered before the client got its 250');
    const bad = await swaks(relay.port, ['--to', 'nobody@example.com']);
    assert.match(bad.out, /<\*\* +550 .*5\.1\.1 no such user/);
    assert.equal(sink.messages.length, 1);
    assert.equal(readdirSync(relay.spool).filter((f) => f.endsWith('.envelope.bad')).length, 1);
  } finally {
    await relay.stop();
    await sink.close();
    removeDir(relay.spool);
  }
});

// E-MailRelay's test suite, testProxyServerRejection: a multi-line refusal reaches the client and
// the Reason as E-MailRelay words a reply, the code once and the lines' text joined.
test('--immediate: a multi-line refusal at end of data ("499-failed", "499 for testing") reaches the client as "499 failed for testing"', async () => {
  const sink = await startSink({ data: () => ({ code: 499, text: ['failed', 'for testing'] }) });
  const relay = await startRelay(['--forward-to', `127.0.0.1:${sink.port}`, '--immediate', '--no-retry']);
  try {
    const bad = await swaks(relay.port);
    assert.match(bad.out, /^<\*\* +499 failed for testing\r?$/m, "the upstream's reply as it is, as E-MailRelay's proxy passes it on");
    const envelope = await waitFor('a .bad envelope', () => readdirSync(relay.spool).find((f) => f.endsWith('.envelope.bad')));
    assert.deepEqual(reasonsIn(relay.spool, envelope), [{ reason: 'DATA: 499 failed for testing', code: '499' }]);
  } finally {
    await relay.stop();
    await sink.close();
    removeDir(relay.spool);
  }
});

test("--immediate: four messages in one client session go over one upstream session (as E-MailRelay's proxy)", async () => {
  const sink = await startSink();
  const relay = await startRelay(['--forward-to', `127.0.0.1:${sink.port}`, '--immediate']);
  try {
    await sendAll(
      relay.port,
      [1, 2, 3, 4].map((i) => makeMessage(`proxy-${i}`)),
    );
    assert.equal(sink.messages.length, 4, 'each delivered before its 250');
    assert.equal(sink.connections, 1, 'one upstream connection');
  } finally {
    await relay.stop();
    await sink.close();
    removeDir(relay.spool);
  }
});

test('a spool directory that cannot be created is a start-up error naming it', async () => {
  const dir = tempDir();
  try {
    writeFileSync(path.join(dir, 'a-file'), '');
    const r = await run(['--no-daemon', '--user', 'root', '--spool-dir', path.join(dir, 'a-file/spool')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^relaybox: error: cannot create the spool directory .*a-file\/spool: ENOTDIR/);
  } finally {
    removeDir(dir);
  }
});

test('a port that is taken: exit code 2 and a message naming the address', async () => {
  const sink = await startSink();
  try {
    const r = await run(['--no-daemon', '--user', 'root', '--port', String(sink.port), '--interface', '127.0.0.1', '--spool-dir', tempDir()]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${sink.port}`));
  } finally {
    await sink.close();
  }
});
