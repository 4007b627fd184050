// The status page's reader of the hardware panel, against real child processes standing in for
// `relaybox hardware --json`: a slow first read shows "reading", later pages get the last read at once,
// and a refresh storm starts one process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hardwarePanel, hardwareReadCount, readHardwareInChild } from '../../src/health/hardware-process';

// node -e <script> hardware --json <dir>: prints a panel after `delay` ms, naming the arguments it got.
const reader = (delay: number) => [
  process.execPath,
  '-e',
  `setTimeout(() => console.log(JSON.stringify({ board: process.argv.slice(1).join(' '), readAt: Date.now() })), ${delay})`,
];

test('a failed or garbled read is null', async () => {
  assert.equal(await readHardwareInChild('/s', [process.execPath, '-e', 'process.exit(3)']), null);
  assert.equal(await readHardwareInChild('/s', [process.execPath, '-e', 'console.log("{not json")']), null);
  assert.equal(await readHardwareInChild('/s', ['/nonexistent/program']), null);
});

test('the first read is waited for 3 s at most; then every page gets the last read without a new process', async () => {
  const before = hardwareReadCount();
  const started = Date.now();
  assert.equal(await hardwarePanel('/spool', reader(4000)), 'reading');
  assert.ok(Date.now() - started < 3900, 'did not wait for the whole read');
  // Later pages wait (3 s each at most) for the read already running, not for new ones.
  let h = await hardwarePanel('/spool', reader(4000));
  for (let i = 0; i < 5 && h === 'reading'; i++) h = await hardwarePanel('/spool', reader(4000));
  assert.ok(h && h !== 'reading', 'the read finished');
  assert.equal(h.board, 'hardware --json /spool');
  assert.equal(hardwareReadCount() - before, 1, 'one process for both pages');
  const storm = await Promise.all(Array.from({ length: 20 }, () => hardwarePanel('/spool', reader(0))));
  assert.ok(
    storm.every((x) => x === h),
    'the last read, at once',
  );
  assert.equal(hardwareReadCount() - before, 1);
});
