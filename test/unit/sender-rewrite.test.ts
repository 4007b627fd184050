// --forward-from-mailbox's streaming rewrite gives the same bytes as the rewrite of the whole
// message in memory, wherever the blank line falls against the 64 KiB reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HeaderTooLarge, readHeaderSection, rewriteFromHeader, rewrittenContentStream } from '../../src/forward/sender-rewrite';

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

test('the streamed rewrite equals the in-memory one: blank line across the read boundary, LF-only, no body, no blank line', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relaybox-rewrite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'content');
  const padded = (n: number, eol: string) => {
    const head = `From: "Dev" <dev@lan>${eol}Sender: s@lan${eol}X-Pad: `;
    return head + 'p'.repeat(Math.max(0, n - head.length)) + eol;
  };
  const cases: [string, string][] = [];
  for (let n = 64 * 1024 - 8; n <= 64 * 1024 + 2; n++) cases.push([`CRLF, header of ${n}`, `${padded(n, '\r\n')}\r\nbody\r\n.line\r\n`]);
  cases.push(['LF only', `${padded(100, '\n')}\nbody\n`]);
  cases.push(['no body', `${padded(100, '\r\n')}\r\n`]);
  cases.push(['no blank line', padded(70000, '\r\n')]);
  cases.push(['Reply-To kept', 'From: a@b.c\r\nReply-To: r@b.c\r\n\r\nx']);
  for (const [name, text] of cases) {
    writeFileSync(file, text, 'latin1');
    const streamed = await collect(await rewrittenContentStream(file, 'box@contoso.test'));
    assert.equal(streamed.toString('latin1'), rewriteFromHeader(Buffer.from(text, 'latin1'), 'box@contoso.test').toString('latin1'), name);
  }
});

test('a header section over the limit is refused, not read on', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relaybox-rewrite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'content');
  writeFileSync(file, `From: a@b.c\r\nX-Long: ${'x'.repeat(300 * 1024)}\r\n\r\nbody\r\n`);
  await assert.rejects(readHeaderSection(file, 256 * 1024), (e: Error) => e instanceof HeaderTooLarge && /larger than 262144 bytes/.test(e.message));
  const { header, end } = await readHeaderSection(file, 512 * 1024);
  assert.equal(end, header.length);
  assert.ok(header.toString('latin1').endsWith('x\r\n'));
});
