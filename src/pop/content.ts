// Sending a spooled content file as a POP3 multi-line response: every line ends CRLF (a bare LF in
// the file, kept from a legacy sender, becomes CRLF too), lines starting with "." are dot-stuffed,
// and TOP stops after the header and the given number of body lines. Streamed, never read whole.
import type { FileHandle } from 'node:fs/promises';

export type Send = (data: Buffer) => Promise<void>;

const CRLF = Buffer.from('\r\n');
const DOT = Buffer.from('.');
const FLUSH_BYTES = 64 * 1024;

/**
 * Write the content of an open file to `send`, dot-stuffed, ending with the terminating ".".
 * `bodyLines`: for TOP, the number of body lines after the blank line that ends the header.
 */
export async function sendContent(file: FileHandle, send: Send, bodyLines?: number): Promise<void> {
  const parts: Buffer[] = [];
  let partsBytes = 0;
  let partial: Buffer[] = [];
  let inBody = false;
  let bodyCount = 0;
  let done = false;
  const flush = async () => {
    if (!partsBytes) return;
    const data = Buffer.concat(parts, partsBytes);
    parts.length = 0;
    partsBytes = 0;
    await send(data);
  };
  /** One line without its line end. Returns false once TOP has what it wants. */
  const line = (text: Buffer): boolean => {
    if (bodyLines !== undefined && inBody) {
      if (bodyCount >= bodyLines) return false;
      bodyCount++;
    }
    if (text.length && text[0] === 0x2e) {
      parts.push(DOT);
      partsBytes += 1;
    }
    parts.push(text, CRLF);
    partsBytes += text.length + 2;
    if (!inBody && text.length === 0) inBody = true;
    return true;
  };
  const stream = file.createReadStream({ highWaterMark: 64 * 1024, autoClose: false, start: 0 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        let piece = chunk.subarray(start, nl);
        start = nl + 1;
        if (partial.length) {
          piece = Buffer.concat([...partial, piece]);
          partial = [];
        }
        if (piece.length && piece[piece.length - 1] === 0x0d) piece = piece.subarray(0, piece.length - 1);
        if (!line(piece)) {
          done = true;
          break;
        }
      }
      if (done) break;
      if (start < chunk.length) partial.push(chunk.subarray(start));
      if (partsBytes >= FLUSH_BYTES) await flush();
    }
    if (!done && partial.length) {
      let last = Buffer.concat(partial);
      if (last.length && last[last.length - 1] === 0x0d) last = last.subarray(0, last.length - 1);
      line(last);
    }
  } finally {
    stream.destroy();
  }
  parts.push(Buffer.from('.\r\n'));
  partsBytes += 3;
  await flush();
}
