// A full disk answers 452 and leaves no partial files; mail flows again once there is room.
// The spool is a small tmpfs the test mounts itself (needs root; skipped otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import { removeDir, startRelay, tempDir } from '../lib/relay';
import { RawSmtp, sendMessage } from '../lib/smtp-client';
import { cleanups } from '../lib/cleanup';

const isRoot = process.getuid?.() === 0;

test('spool disk full: 452, nothing partial left, and it recovers when space returns', { skip: !isRoot && 'needs root to mount a tmpfs' }, async (t) => {
  const defer = cleanups(t);
  const dir = tempDir('relaybox-full-');
  defer(() => removeDir(dir));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    t.skip(`cannot mount a tmpfs here: ${(e as Error).message}`);
    return;
  }
  defer(() => execFileSync('umount', ['-l', dir]));
  const spool = path.join(dir, 'spool');
  const relay = await startRelay([], { spool });
  defer(() => relay.stop());

  // Fill the file system, leaving a little room: a small message fits, a large one cannot.
  const filler = path.join(dir, 'filler');
  const free = () => Number(execFileSync('df', ['--output=avail', '-B1', dir]).toString().split('\n')[1]);
  writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 24 * 1024)));
  assert.ok(free() < 48 * 1024, `little room left (${free()} bytes)`);

  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.socket.destroy());
  assert.equal((await smtp.command('EHLO scanner.lan')).code, 250);
  const big = Buffer.from(('x'.repeat(998) + '\r\n').repeat(200)); // 200 KB
  const refused = await sendMessage(smtp, 'scanner@lan.example', ['boss@example.com'], big);
  assert.equal(refused.code, 452, refused.text);
  assert.deepEqual(
    readdirSync(spool).filter((f) => f !== '.relaybox.lock'),
    [],
    'no partial files after 452',
  );

  unlinkSync(filler);
  const accepted = await sendMessage(smtp, 'scanner@lan.example', ['boss@example.com'], big);
  assert.equal(accepted.code, 250, accepted.text);
  const files = readdirSync(spool).filter((f) => f !== '.relaybox.lock');
  assert.equal(files.filter((f) => f.endsWith('.content')).length, 1);
  assert.equal(files.filter((f) => f.endsWith('.envelope')).length, 1);
  assert.equal(relay.proc.exitCode, null, 'still running');
});
