// The spool's group commit (issue 18): commits that arrive together share one batch on the commit
// thread and one directory fsync; a batch that fails is rolled back message by message; a commit
// thread that dies fails its batch cleanly and leaves later commits to the in-thread path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Spool } from '../../src/spool/store';
import { newEnvelope } from '../../src/spool/envelope';
import { isNoSpace } from '../../src/spool/durable';
import { commitThread } from '../../src/spool/commit-thread';

const env = newEnvelope({ from: 'scanner@lan.example', toRemote: ['boss@example.com'], client: '192.0.2.7' });

function spoolFor(t: { after(f: () => void): void }): Spool {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaybox-commit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return new Spool(dir);
}

/** Every file in the spool, sorted. */
function files(spool: Spool): string[] {
  return fs.readdirSync(spool.dir).sort();
}

function body(i: number, bytes = 2000): Buffer {
  return Buffer.from(`Subject: ${i}\r\n\r\n${'x'.repeat(bytes)}\r\n`);
}

/** Start `n` messages, write each, then commit them all in the same tick. */
async function commitTogether(spool: Spool, n: number, bytes = 2000): Promise<{ ids: string[]; results: PromiseSettledResult<void>[] }> {
  const msgs = await Promise.all(Array.from({ length: n }, () => spool.newMessage()));
  for (const [i, m] of msgs.entries()) await m.write(body(i, bytes));
  const results = await Promise.allSettled(msgs.map((m) => m.commit(env)));
  return { ids: msgs.map((m) => m.id), results };
}

test('concurrent commits share one batch on the commit thread, each complete on disk', async (t) => {
  const spool = spoolFor(t);
  await commitTogether(spool, 1); // the commit thread is up
  const before = commitThread.stats();
  const { ids, results } = await commitTogether(spool, 10);
  const after = commitThread.stats();
  assert.deepEqual(
    results.map((r) => r.status),
    Array(10).fill('fulfilled'),
  );
  assert.equal(after.messages - before.messages, 10);
  // The first commit finds the thread idle and goes alone; the nine that arrive meanwhile form one batch.
  assert.ok(after.batches - before.batches <= 2, `10 commits in ${after.batches - before.batches} batches`);
  assert.ok(after.largestBatch >= 9, `largest batch ${after.largestBatch}`);
  const { ready, new: half } = await spool.listStates();
  assert.deepEqual(half, []);
  for (const [i, id] of ids.entries()) {
    assert.ok(ready.includes(id), `${id} ready`);
    assert.deepEqual(fs.readFileSync(spool.contentPath(id)), body(i));
    assert.deepEqual(await spool.readEnvelope(id, 'ready'), env);
  }
});

test('a message larger than the write buffer: what was written before the commit and the rest the commit thread writes', async (t) => {
  const spool = spoolFor(t);
  const m = await spool.newMessage();
  const big = Buffer.alloc(200_000 + 123, 'y');
  for (let at = 0; at < big.length; at += 16_384) await m.write(big.subarray(at, at + 16_384));
  await m.commit(env);
  assert.deepEqual(fs.readFileSync(spool.contentPath(m.id)), big);
  assert.deepEqual((await spool.listStates()).ready, [m.id]);
});

test('a batch whose directory fsync fails: every message in it is rolled back and its commit rejected', async (t) => {
  const spool = spoolFor(t);
  await commitTogether(spool, 1);
  const kept = files(spool);
  const before = commitThread.stats();
  commitThread.injectFault('dirsync');
  let outcome: Awaited<ReturnType<typeof commitTogether>>;
  try {
    outcome = await commitTogether(spool, 6);
  } finally {
    commitThread.injectFault(null);
  }
  const after = commitThread.stats();
  for (const r of outcome.results) {
    assert.equal(r.status, 'rejected');
    assert.equal(((r as PromiseRejectedResult).reason as NodeJS.ErrnoException).code, 'EIO');
  }
  assert.ok(after.largestBatch >= 5 && after.failedBatches - before.failedBatches >= 1);
  assert.deepEqual(files(spool), kept, 'nothing of the failed batch is left, renamed envelopes included');
  // The thread goes on: the next batch commits.
  const again = await commitTogether(spool, 3);
  assert.deepEqual(
    again.results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'fulfilled'],
  );
  assert.equal(files(spool).length, kept.length + 6);
});

test('the commit thread dies with a batch in flight: each message is whole or gone, nothing hangs, later commits run in-thread', async (t) => {
  const spool = spoolFor(t);
  t.after(() => commitThread.setEnabled(true)); // a new thread for the tests after this one
  await commitTogether(spool, 1);
  const msgs = await Promise.all(Array.from({ length: 8 }, () => spool.newMessage()));
  for (const [i, m] of msgs.entries()) await m.write(body(i));
  const commits = Promise.allSettled(msgs.map((m) => m.commit(env)));
  const killed = commitThread.kill();
  const results = await commits;
  await killed;
  t.diagnostic(`${results.filter((r) => r.status === 'rejected').length} of 8 failed with the thread`);
  const { ready, new: half } = await spool.listStates();
  assert.deepEqual(half, []);
  for (const [i, m] of msgs.entries()) {
    if (results[i]!.status === 'fulfilled') {
      assert.ok(ready.includes(m.id));
      assert.deepEqual(fs.readFileSync(spool.contentPath(m.id)), body(i));
    } else {
      assert.ok(!ready.includes(m.id));
      assert.ok(!fs.existsSync(spool.contentPath(m.id)), 'a failed commit leaves no content file');
    }
  }
  assert.equal(commitThread.stats().gone, true);
  assert.equal(commitThread.usable, false);
  const after = await commitTogether(spool, 3);
  assert.deepEqual(
    after.results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'fulfilled'],
    'in-thread commits once the thread is gone',
  );
  for (const id of after.ids) assert.ok((await spool.listStates()).ready.includes(id));
});

test('the in-thread path (commit thread off): commit, and rollback after a failed write', async (t) => {
  const spool = spoolFor(t);
  commitThread.setEnabled(false);
  t.after(() => commitThread.setEnabled(true));
  const before = commitThread.stats().messages;
  const { ids, results } = await commitTogether(spool, 4);
  assert.deepEqual(
    results.map((r) => r.status),
    Array(4).fill('fulfilled'),
  );
  assert.equal(commitThread.stats().messages, before, 'none went to the commit thread');
  assert.deepEqual((await spool.listStates()).ready.sort(), [...ids].sort());
  const m = await spool.newMessage();
  await m.write(body(9));
  await m.rollback();
  await assert.rejects(m.commit(env), /already finished/);
  assert.equal(files(spool).length, 8);
});

test(
  'disk full on the commit thread: the messages that do not fit fail with ENOSPC and leave nothing, the others are whole',
  { skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs' },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaybox-commit-full-'));
    let mounted = false;
    t.after(() => {
      if (mounted) execFileSync('umount', ['-l', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0755', 'tmpfs', dir], { stdio: 'pipe' });
      mounted = true;
    } catch (e) {
      t.skip(`cannot mount a tmpfs here: ${(e as Error).message}`);
      return;
    }
    const spool = new Spool(dir);
    // Ten 60 KB messages, each written by the commit thread alone (under the 64 KB write buffer), into 512 KB.
    const { ids, results } = await commitTogether(spool, 10, 60_000);
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    assert.ok(failed.length > 0 && failed.length < 10, `${failed.length} of 10 failed`);
    for (const r of failed) assert.ok(isNoSpace(r.reason), String(r.reason));
    const ready = (await spool.listStates()).ready;
    const names = files(spool);
    results.forEach((r, i) => {
      const id = ids[i]!;
      if (r.status === 'fulfilled') {
        assert.ok(ready.includes(id));
        assert.deepEqual(fs.readFileSync(spool.contentPath(id)), body(i, 60_000));
      } else
        assert.deepEqual(
          names.filter((n) => n.startsWith(`${id}.`)),
          [],
          `nothing left of ${id}`,
        );
    });
  },
);

test('content written in pieces moves to the commit thread without harm to other messages sharing pooled memory', async (t) => {
  const spool = spoolFor(t);
  await commitTogether(spool, 1); // the commit thread is up
  const pieces = (i: number, n: number, size: number) =>
    Array.from({ length: n }, (_, k) => Buffer.from(`${i}.${k}:`.padEnd(size, String.fromCharCode(97 + ((i + k) % 26)))));
  // Large messages (the tail copied into one buffer of its own, moved) and small ones (pieces of Node's shared pool).
  const plans = [pieces(0, 3, 30_000), pieces(1, 5, 100), pieces(2, 4, 20_000), pieces(3, 2, 50)];
  const msgs = await Promise.all(plans.map(() => spool.newMessage()));
  for (const [i, m] of msgs.entries()) for (const p of plans[i]!) await m.write(p);
  const before = commitThread.stats();
  await Promise.all(msgs.map((m) => m.commit(env)));
  assert.equal(commitThread.stats().messages - before.messages, plans.length, 'every commit on the thread');
  for (const [i, m] of msgs.entries()) assert.deepEqual(fs.readFileSync(spool.contentPath(m.id)), Buffer.concat(plans[i]!), `message ${i}`);
  for (const plan of plans) for (const p of plan) assert.ok(p.length > 0, 'no piece given by the caller was taken away');
});

test('moves and removals go to the commit thread once it runs, with the same answers as in-thread', async (t) => {
  const spool = spoolFor(t);
  const { ids } = await commitTogether(spool, 4); // the commit thread is up
  const before = commitThread.stats().fileOps;
  // While a batch is on disk, a lock, an unlock and a removal ride with the next one.
  const more = commitTogether(spool, 6);
  const [locked, again] = await Promise.all([spool.lock(ids[0]!), spool.lock(ids[0]!)]);
  assert.deepEqual([locked, again].sort(), [false, true], 'one of two locks of the same message wins');
  assert.equal(await spool.unlock(ids[0]!), true);
  assert.equal(await spool.lock(ids[1]!), true);
  await spool.remove(ids[1]!);
  await spool.remove(ids[1]!); // already gone: no error
  assert.equal(await spool.move('no-such-id', 'ready', 'busy'), false);
  await more;
  assert.ok(commitThread.stats().fileOps - before >= 7, `file calls done by the thread: ${commitThread.stats().fileOps - before}`);
  const { ready, busy } = await spool.listStates();
  assert.ok(ready.includes(ids[0]!) && !busy.includes(ids[0]!), 'the unlocked message is ready');
  assert.ok(!ready.includes(ids[1]!) && !busy.includes(ids[1]!), 'the removed message is gone');
  assert.ok(!files(spool).some((f) => f.startsWith(ids[1]!)), 'its content too');
});

test('a commit thread that stops with a move or removal sent leaves it done once, here if not there', async (t) => {
  const spool = spoolFor(t);
  t.after(() => commitThread.setEnabled(true)); // a new thread for the tests after this one
  const { ids } = await commitTogether(spool, 3);
  const lock = spool.lock(ids[0]!);
  const removal = spool.remove(ids[1]!, 'ready');
  const killed = commitThread.kill();
  assert.equal(await lock, true);
  await removal;
  await killed;
  assert.equal(commitThread.stats().gone, true);
  assert.equal(await spool.lock(ids[2]!), true, 'in-thread after the thread stopped');
  const { ready, busy } = await spool.listStates();
  assert.deepEqual(busy.sort(), [ids[0]!, ids[2]!].sort());
  assert.deepEqual(ready, []);
  assert.ok(!files(spool).some((f) => f.startsWith(ids[1]!)), 'the removed message is gone, content and all');
});
