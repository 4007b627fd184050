// Bare CR normalisation (src/smtp/bare-cr.ts): the same output under every chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flushBareCr, newBareCrScan, replaceBareCr } from '../../src/smtp/bare-cr';

function run(chunks: Buffer[]): string {
  const scan = newBareCrScan();
  const out = chunks.map((c) => replaceBareCr(scan, c));
  out.push(flushBareCr(scan));
  return Buffer.concat(out).toString('latin1');
}

const CASES: [string, string][] = [
  ['plain\r\ntext\r\n', 'plain\r\ntext\r\n'],
  ['Subject: x\rX-Injected: yes\r\n', 'Subject: x X-Injected: yes\r\n'],
  ['body\r.\r\n', 'body .\r\n'],
  ['\r\r\r\n', '  \r\n'],
  ['a\r', 'a '],
  ['\r', ' '],
  ['\n\r\n\r', '\n\r\n '],
];

for (const [input, expected] of CASES) {
  test(`bare CR: ${JSON.stringify(input)} under every two-way and byte-wise chunking`, () => {
    const bytes = Buffer.from(input, 'latin1');
    assert.equal(run([bytes]), expected);
    for (let cut = 0; cut <= bytes.length; cut++) assert.equal(run([bytes.subarray(0, cut), bytes.subarray(cut)]), expected, `cut at ${cut}`);
    assert.equal(run([...bytes].map((b) => Buffer.from([b]))), expected, 'byte by byte');
  });
}

test('bare CR: the length is kept and a chunk without bare CR is passed through as it is', () => {
  const scan = newBareCrScan();
  const clean = Buffer.from('no carriage returns here\r\n');
  assert.equal(replaceBareCr(scan, clean), clean);
});
