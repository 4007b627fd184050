// The content as it goes out after DATA (src/forward/dot-stuff.ts, put in place of nodemailer's
// DataStream._transform by smtp-connection-adapter.ts): byte for byte what nodemailer's own DataStream
// sends, for any content and any chunking, dots at chunk boundaries included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, type Transform } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { dotStuff } from '../../src/forward/dot-stuff';
import { stuffTransform, type DataStream } from '../../src/forward/smtp-connection-adapter';
import { seeded } from '../fuzz/random';

/** nodemailer's DataStream class (not exported), from the stream _createSendStream makes. */
function dataStreamClass(): new () => Transform {
  const fake = {
    _envelope: {},
    options: {},
    _responseActions: [] as unknown[],
    _socket: new PassThrough(),
    logger: { info: () => undefined, debug: () => undefined },
  };
  const create = (SMTPConnection.prototype as unknown as { _createSendStream(this: unknown, cb: () => void): Transform })._createSendStream;
  const stream = create.call(fake, () => undefined);
  stream.unpipe();
  return stream.constructor as new () => Transform;
}
const NodemailerDataStream = dataStreamClass();

/** The stream's whole output for these chunks, and its byte counters. */
async function run(chunks: Buffer[], fast: boolean): Promise<{ out: Buffer; inBytes: number; outBytes: number }> {
  const s = new NodemailerDataStream();
  if (fast) (s as unknown as DataStream)._transform = stuffTransform;
  const out: Buffer[] = [];
  s.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((resolve) => s.on('end', resolve));
  for (const c of chunks) s.write(c);
  s.end();
  await ended;
  const d = s as unknown as DataStream;
  return { out: Buffer.concat(out), inBytes: d.inByteCount, outBytes: d.outByteCount };
}

function split(data: Buffer, next: () => number, maxChunk: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length;) {
    const n = 1 + Math.floor(next() * maxChunk);
    chunks.push(data.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

test('dot-stuffing: the usual cases', () => {
  const s = (text: string, prev?: number) => dotStuff(Buffer.from(text, 'latin1'), prev).toString('latin1');
  assert.equal(s('a\r\nb\r\n'), 'a\r\nb\r\n');
  assert.equal(s('.a\r\n..b\r\n.\r\n'), '..a\r\n...b\r\n..\r\n');
  assert.equal(s('a\nb\n'), 'a\r\nb\r\n');
  assert.equal(s('a\rb\r.c'), 'a\r\nb\r\n..c');
  assert.equal(s('\r\r\n\n.'), '\r\n\r\n\r\n..');
  assert.equal(s('.x', 0x0a), '..x', 'a dot after the previous chunk ended a line');
  assert.equal(s('.x', 0x0d), '\n..x', 'a dot after a bare CR at the end of the previous chunk');
  assert.equal(s('\nx', 0x0d), '\nx', 'CRLF split between chunks');
  assert.equal(s('.x', 0x61), '.x');
  const plain = Buffer.from('abc\r\ndef\r\n');
  assert.equal(dotStuff(plain, 0x0a), plain, 'nothing to change: the chunk itself, not a copy');
});

test("dot-stuffing: the same bytes and counts as nodemailer's DataStream, random content and chunking", async () => {
  const alphabet = [0x0d, 0x0a, 0x2e, 0x61, 0x0d, 0x0a, 0x2e];
  for (let seed = 1; seed <= 400; seed++) {
    const next = seeded(seed);
    const length = Math.floor(next() * 300);
    const data = Buffer.alloc(length);
    for (let i = 0; i < length; i++) data[i] = alphabet[Math.floor(next() * alphabet.length)]!;
    const chunks = split(data, next, 1 + Math.floor(next() * 20));
    const want = await run(chunks, false);
    const got = await run(chunks, true);
    assert.deepEqual(got, want, `seed ${seed}: ${JSON.stringify(data.toString('latin1'))}`);
  }
});

test('dot-stuffing: a large message in large chunks, a dot line at every chunk boundary', async () => {
  const line = Buffer.from('X'.repeat(78) + '\r\n');
  const lines: Buffer[] = [];
  for (let i = 0; i < 20000; i++) lines.push(i % 97 === 0 ? Buffer.from('.dot line\r\n') : line);
  const data = Buffer.concat(lines);
  for (const size of [65536, 80, 81, 4096]) {
    // Chunks that end right before a dot at the start of a line.
    const chunks: Buffer[] = [];
    let from = 0;
    for (let at = data.indexOf('\n.') + 1; at > 0; at = data.indexOf('\n.', at) + 1) {
      if (at - from >= size) {
        chunks.push(data.subarray(from, at));
        from = at;
      }
    }
    chunks.push(data.subarray(from));
    assert.deepEqual(await run(chunks, true), await run(chunks, false), `chunks of about ${size}`);
  }
});
