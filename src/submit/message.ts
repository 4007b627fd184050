// The message a local program hands to `relaybox submit`: lines from standard input (LF or CRLF,
// stored as CRLF like mail from the wire), the header section, the recipients it names, the Bcc:
// lines it must lose, and the From:, Date: and Message-ID: lines a sendmail adds when missing.
import { randomBytes } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import { EX_DATAERR, SubmitError } from './args';

/** Header fields larger than this are refused: a header section is not a place for megabytes. */
export const MAX_HEADER_BYTES = 1024 * 1024;

/** Lines of the input without their line ends; a lone "." ends the input when `dotEnds`. */
export async function* inputLines(input: AsyncIterable<Buffer | string>, dotEnds: boolean): AsyncGenerator<Buffer> {
  let partial: Buffer[] = [];
  const finish = (piece: Buffer): Buffer => (piece.length && piece[piece.length - 1] === 0x0d ? piece.subarray(0, piece.length - 1) : piece);
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
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
      const line = finish(piece);
      if (dotEnds && line.length === 1 && line[0] === 0x2e) return;
      yield line;
    }
    if (start < chunk.length) partial.push(Buffer.from(chunk.subarray(start)));
  }
  if (partial.length) {
    const line = finish(Buffer.concat(partial));
    if (!(dotEnds && line.length === 1 && line[0] === 0x2e)) yield line;
  }
}

/** One header field: its name and its lines (the first and any continuation lines). */
export interface HeaderField {
  name: string;
  lines: Buffer[];
}

const FIELD_LINE = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/;

/**
 * Read the header section: fields up to the empty line (consumed) or the first line that is not a
 * header field (left for the body). Returns the fields and that first body line, if any.
 */
export async function readHeader(lines: AsyncIterator<Buffer>): Promise<{ fields: HeaderField[]; firstBodyLine?: Buffer; separator: boolean }> {
  const fields: HeaderField[] = [];
  let bytes = 0;
  for (;;) {
    const next = await lines.next();
    if (next.done) return { fields, separator: false };
    const line = next.value;
    bytes += line.length + 2;
    if (bytes > MAX_HEADER_BYTES)
      throw new SubmitError(EX_DATAERR, `the message header is larger than ${MAX_HEADER_BYTES} bytes: is this really a mail message?`);
    if (line.length === 0) return { fields, separator: true };
    if ((line[0] === 0x20 || line[0] === 0x09) && fields.length) {
      fields[fields.length - 1]!.lines.push(line);
      continue;
    }
    const m = FIELD_LINE.exec(line.subarray(0, 200).toString('latin1'));
    if (!m) return { fields, firstBodyLine: line, separator: false };
    fields.push({ name: m[1]!.toLowerCase(), lines: [line] });
  }
}

/** The value of a field, continuation lines unfolded, as UTF-8 text. */
export function fieldValue(f: HeaderField): string {
  const text = Buffer.concat(f.lines.flatMap((l, i) => (i ? [Buffer.from(' '), l] : [l]))).toString('utf8');
  return text.slice(text.indexOf(':') + 1).trim();
}

/** Mailbox addresses in address fields (groups flattened; names and comments dropped). */
export function addressesIn(fields: HeaderField[], names: string[]): string[] {
  const out: string[] = [];
  for (const f of fields) {
    if (!names.includes(f.name)) continue;
    for (const a of addressparser(fieldValue(f), { flatten: true })) {
      if (a.address) out.push(a.address);
    }
  }
  return out;
}

/** An envelope address as written on the command line or in a header: <>-brackets removed, checked. */
export function envelopeAddress(raw: string, what: string): string {
  const a = raw.trim().replace(/^<(.*)>$/, '$1');
  if (/[\x00-\x20<>\x7f]/.test(a) || a.startsWith('@') || a.endsWith('@')) {
    throw new SubmitError(EX_DATAERR, `${what} "${raw}" is not a valid mail address`);
  }
  return a;
}

/** RFC 5322 date in local time: "Sat, 28 Nov 2026 04:05:06 +0000". */
export function rfc5322Date(d = new Date()): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const zone = `${off >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  return `${days[d.getDay()]}, ${d.getDate()} ${months[d.getMonth()]} ${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone}`;
}

/** A From: display name, quoted when it holds anything beyond plain words. */
function displayName(name: string): string {
  return /^[A-Za-z0-9 !#$%&'*+\-/=?^_`{|}~]+$/.test(name) ? name : `"${name.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * The header as stored: Bcc: fields removed (their addresses are envelope recipients only), and the
 * From:, Date: and Message-ID: fields added when missing, as sendmail and Postfix do.
 */
export function finalHeader(fields: HeaderField[], o: { sender: string; fullName?: string; domain: string; now?: Date }): Buffer {
  const out: Buffer[] = [];
  const has = (n: string) => fields.some((f) => f.name === n);
  if (!has('from') && o.sender) out.push(Buffer.from(`From: ${o.fullName ? `${displayName(o.fullName)} <${o.sender}>` : o.sender}\r\n`));
  if (!has('date')) out.push(Buffer.from(`Date: ${rfc5322Date(o.now)}\r\n`));
  if (!has('message-id')) out.push(Buffer.from(`Message-ID: <${Date.now()}.${randomBytes(6).toString('hex')}@${o.domain}>\r\n`));
  for (const f of fields) {
    if (f.name === 'bcc') continue;
    for (const l of f.lines) out.push(l, Buffer.from('\r\n'));
  }
  return Buffer.concat(out);
}
