// Just enough MIME for Graph's large-message path: take attachments out of a message's top-level
// multipart body (to be uploaded separately) until the rest is small enough for one request.
// The message is otherwise passed on byte for byte.

export interface Attachment {
  name: string;
  contentType: string;
  contentId?: string;
  isInline: boolean;
  data: Buffer;
}

export interface HeaderField {
  name: string;
  value: string;
}

/** Byte offset where the body starts (after the blank line), and the unfolded header fields. */
export function parseHeader(data: Buffer, from = 0, to = data.length): { fields: HeaderField[]; bodyStart: number } {
  const slice = data.subarray(from, to);
  const crlf = slice.indexOf('\r\n\r\n');
  const lf = slice.indexOf('\n\n');
  let end: number;
  let sep: number;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) [end, sep] = [crlf, 4];
  else if (lf >= 0) [end, sep] = [lf, 2];
  else [end, sep] = [slice.length, 0];
  const text = slice.subarray(0, end).toString('latin1');
  const fields: HeaderField[] = [];
  for (const raw of text.split(/\r?\n(?![ \t])/)) {
    const colon = raw.indexOf(':');
    if (colon <= 0) continue;
    fields.push({
      name: raw.slice(0, colon).trim().toLowerCase(),
      value: raw
        .slice(colon + 1)
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim(),
    });
  }
  return { fields, bodyStart: from + end + sep };
}

function header(fields: HeaderField[], name: string): string | undefined {
  return fields.find((f) => f.name === name)?.value;
}

/** A parameter of a structured header (boundary, filename, name), with RFC 2231 filename*=. */
function param(value: string | undefined, name: string): string | undefined {
  if (!value) return undefined;
  const ext = new RegExp(`(?:^|;)\\s*${name}\\*=([^']*)'[^']*'([^;]*)`, 'i').exec(value);
  if (ext) {
    const bytes = ext[2]!.trim().replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString(/utf-?8/i.test(ext[1]!) ? 'utf8' : 'latin1');
  }
  const m = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i').exec(value);
  return m ? (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]) : undefined;
}

/** RFC 2047 encoded words (=?utf-8?B?...?=) in a file name. */
function decodeWords(s: string): string {
  return s.replace(/=\?([^?]+)\?([bqBQ])\?([^?]*)\?=/g, (_all, charset: string, enc: string, text: string) => {
    const bytes =
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(
            text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          );
    return bytes.toString(/utf-?8/i.test(charset) ? 'utf8' : 'latin1');
  });
}

function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  const enc = (encoding ?? '').toLowerCase();
  if (enc === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (enc === 'quoted-printable') {
    const text = body.toString('latin1').replace(/=\r?\n/g, '');
    return Buffer.from(
      text.replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    );
  }
  return body;
}

interface Part {
  start: number;
  end: number;
  attachment?: Attachment;
}

/** The base64 size of a message: what a Graph request with it weighs. */
export function base64Size(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/**
 * Take attachments (largest first) out of a multipart message until its base64 form is at most
 * `limit` bytes. null when that cannot be done (not multipart, or too little to take out).
 */
export function splitAttachments(data: Buffer, limit: number): { mime: Buffer; attachments: Attachment[] } | null {
  const top = parseHeader(data);
  const type = header(top.fields, 'content-type') ?? '';
  if (!/^\s*multipart\//i.test(type)) return null;
  const boundary = param(type, 'boundary');
  if (!boundary) return null;
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  // Delimiter lines start a line: find each "--boundary" at the start of a line in the body.
  const starts: number[] = [];
  let i = top.bodyStart;
  for (;;) {
    const at = data.indexOf(delimiter, i);
    if (at < 0) break;
    if (at === top.bodyStart || data[at - 1] === 0x0a) starts.push(at);
    i = at + delimiter.length;
  }
  if (starts.length < 2) return null;
  const parts: Part[] = [];
  for (let k = 0; k + 1 < starts.length; k++) {
    const lineEnd = data.indexOf('\n', starts[k]!);
    const partStart = lineEnd + 1;
    // The CRLF before the next delimiter belongs to the delimiter.
    let partEnd = starts[k + 1]!;
    if (data[partEnd - 1] === 0x0a) partEnd--;
    if (data[partEnd - 1] === 0x0d) partEnd--;
    const h = parseHeader(data, partStart, partEnd);
    const disposition = header(h.fields, 'content-disposition');
    const ctype = header(h.fields, 'content-type') ?? 'application/octet-stream';
    const filename = param(disposition, 'filename') ?? param(ctype, 'name');
    const part: Part = { start: starts[k]!, end: starts[k + 1]! };
    if (filename && !/^\s*multipart\//i.test(ctype)) {
      const cid = header(h.fields, 'content-id')?.replace(/^<|>$/g, '');
      part.attachment = {
        name: decodeWords(filename),
        contentType: ctype.split(';')[0]!.trim(),
        contentId: cid,
        isInline: /^\s*inline/i.test(disposition ?? '') && !!cid,
        data: decodeBody(data.subarray(h.bodyStart, partEnd), header(h.fields, 'content-transfer-encoding')),
      };
    }
    parts.push(part);
  }
  const candidates = parts.filter((p) => p.attachment).sort((a, b) => b.end - b.start - (a.end - a.start));
  const removed = new Set<Part>();
  let size = data.length;
  for (const p of candidates) {
    if (base64Size(size) <= limit) break;
    removed.add(p);
    size -= p.end - p.start;
  }
  if (!removed.size || base64Size(size) > limit) return null;
  const pieces: Buffer[] = [data.subarray(0, starts[0]!)];
  for (const p of parts) if (!removed.has(p)) pieces.push(data.subarray(p.start, p.end));
  pieces.push(data.subarray(starts[starts.length - 1]!));
  return { mime: Buffer.concat(pieces), attachments: parts.filter((p) => removed.has(p)).map((p) => p.attachment!) };
}

/** The addresses in an address-list header value (To, Cc, Bcc), lower-cased. */
export function addressesIn(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  // Drop quoted display names and comments, then take <addr> or bare addr tokens.
  const cleaned = value.replace(/"(?:[^"\\]|\\.)*"/g, ' ').replace(/\([^)]*\)/g, ' ');
  const re = /<([^<>\s]+@[^<>\s]+)>|([^\s<>,;:]+@[^\s<>,;:]+)/g;
  for (let m = re.exec(cleaned); m; m = re.exec(cleaned)) out.push((m[1] ?? m[2]!).toLowerCase());
  return out;
}

export function headerValues(data: Buffer, name: string): string[] {
  return parseHeader(data)
    .fields.filter((f) => f.name === name)
    .map((f) => f.value);
}
