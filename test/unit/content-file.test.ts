// The forwarding client's reader of spool content files (src/forward/content-file.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ContentFileStream } from '../../src/forward/content-file';

/** This process's descriptors open on files in `dir`. */
function openIn(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + path.sep)) open.push(target);
    } catch {
      // gone meanwhile (readdir's own descriptor)
    }
  }
  return open;
}

async function pieces(file: string, pieceBytes: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const piece of new ContentFileStream(file, pieceBytes)) out.push(piece as Buffer);
  return out;
}

test('a content file is read whole, in pieces no larger than asked and sized to what is left, and its descriptor closed', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'content-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const size of [0, 1, 99, 100, 101, 305, 4096]) {
    const file = path.join(dir, `c${size}`);
    const data = randomBytes(size);
    writeFileSync(file, data);
    const got = await pieces(file, 100);
    assert.deepEqual(Buffer.concat(got), data, `size ${size}`);
    assert.equal(got.length, Math.ceil(size / 100), `size ${size}: one piece per 100 bytes, no empty one`);
    for (const p of got) {
      assert.ok(p.length > 0 && p.length <= 100, `size ${size}: a piece of ${p.length}`);
      assert.equal(p.buffer.byteLength, p.length, `size ${size}: the piece's memory is its own size`);
    }
  }
  assert.deepEqual(openIn(dir), []);
});

test('a missing content file is an error, and a stream given up early closes its descriptor', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'content-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(pieces(path.join(dir, 'gone'), 100), { code: 'ENOENT' });
  const file = path.join(dir, 'c');
  writeFileSync(file, randomBytes(1000));
  const stream = new ContentFileStream(file, 100);
  for await (const piece of stream) {
    assert.equal((piece as Buffer).length, 100);
    assert.equal(openIn(dir).length, 1);
    break; // destroys the stream
  }
  await new Promise((resolve) => (stream.closed ? resolve(undefined) : stream.once('close', resolve)));
  assert.deepEqual(openIn(dir), []);
});
