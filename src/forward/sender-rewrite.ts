// --forward-from-mailbox: send a message as the mailbox relaybox signs in as. Microsoft 365 refuses
// a sender the mailbox has no Send As right for (550 5.7.60 SendAsDenied). The envelope sender and
// the From header become the mailbox; the original From is kept as Reply-To (unless there is one),
// and its display name is kept. A Sender header would name the device again, so it goes.
// Only the header section is rewritten: the body of a spooled message streams from its file.
import { createReadStream, promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';

/**
 * The most header a rewrite reads (Postfix's header_size_limit is 100 KiB). A From line has to be
 * found and replaced before anything is sent, so the header section is held in memory.
 */
export const MAX_HEADER_SECTION = 1024 * 1024;

/** The header section is larger than MAX_HEADER_SECTION: the message cannot be rewritten. */
export class HeaderTooLarge extends Error {}

/** Where the header section ends (just after the line end before the blank line), or -1 if `data` has no blank line. */
function headerSectionEnd(data: Buffer): number {
  const crlf = data.indexOf('\r\n\r\n');
  const lf = data.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 2;
  return lf >= 0 ? lf + 1 : -1;
}

/** The display name of a From value, if it has one: `"Scanner 3" <a@b>` gives `"Scanner 3"`. */
function displayName(value: string): string | undefined {
  const m = /^\s*(.*?)\s*<[^>]*>\s*$/s.exec(value);
  const name = m?.[1]?.trim();
  return name ? name : undefined;
}

/** The header section (without the blank line after it) rewritten for the mailbox. */
function rewriteHeaderSection(header: Buffer, mailbox: string): Buffer {
  const head = header.toString('latin1');
  const eol = head.includes('\r\n') ? '\r\n' : '\n';
  // Header fields with their folded continuation lines.
  const fields = head.split(/\r?\n(?![ \t])/).filter((f) => f.length);
  let originalFrom: string | undefined;
  let hasReplyTo = false;
  const kept: string[] = [];
  for (const f of fields) {
    const name = /^([^:\s]+):/.exec(f)?.[1]?.toLowerCase();
    if (name === 'from' && originalFrom === undefined) {
      originalFrom = f
        .slice(f.indexOf(':') + 1)
        .replace(/\r?\n/g, '')
        .trim();
      continue;
    }
    if (name === 'sender') continue;
    if (name === 'reply-to') hasReplyTo = true;
    kept.push(f);
  }
  const nameOf = originalFrom ? displayName(originalFrom) : undefined;
  const added = [`From: ${nameOf ? `${nameOf} ` : ''}<${mailbox}>`];
  if (originalFrom && !hasReplyTo) added.push(`Reply-To: ${originalFrom}`);
  return Buffer.from([...added, ...kept].join(eol) + eol, 'latin1');
}

/** A message in memory, rewritten (a message with no blank line is all header). */
export function rewriteFromHeader(message: Buffer, mailbox: string): Buffer {
  const found = headerSectionEnd(message);
  const end = found < 0 ? message.length : found;
  return Buffer.concat([rewriteHeaderSection(message.subarray(0, end), mailbox), message.subarray(end)]);
}

/** The header section of a content file and the offset where the rest begins; a section over `limit` bytes is refused. */
export async function readHeaderSection(file: string, limit = MAX_HEADER_SECTION): Promise<{ header: Buffer; end: number }> {
  const fh = await fsp.open(file, 'r');
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let data = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, data.length);
      data = Buffer.concat([data, chunk.subarray(0, bytesRead)]);
      const found = headerSectionEnd(data);
      const end = found < 0 && !bytesRead ? data.length : found; // no blank line: all header
      if (end > limit || (end < 0 && data.length > limit)) {
        throw new HeaderTooLarge(`the header section is larger than ${limit} bytes: its From line cannot be rewritten (--forward-from-mailbox)`);
      }
      if (end >= 0) return { header: data.subarray(0, end), end };
    }
  } finally {
    await fh.close();
  }
}

/** A spooled message rewritten for the mailbox: the new header section, then the rest straight from the file. */
export async function rewrittenContentStream(file: string, mailbox: string): Promise<Readable> {
  const { header, end } = await readHeaderSection(file);
  const head = rewriteHeaderSection(header, mailbox);
  return Readable.from(
    (async function* () {
      yield head;
      yield* createReadStream(file, { start: end, highWaterMark: 64 * 1024 });
    })(),
    { objectMode: false },
  );
}
