// E-MailRelay envelope file codec (the `<id>.envelope` file), byte-compatible with E-MailRelay 2.6.1.
//
// Established from E-MailRelay's own reader and writer (src/gstore/genvelope.cpp, gfilestore.cpp,
// gstoredfile.cpp, glib/gstr.cpp, glib/gxtext.cpp) and the functional reference section 3.2:
//
// * Writing: always format "#2821.8", CRLF, fixed field order, `Key: value` (an empty value gives a
//   trailing space), the ToCount line followed by every To-Local line and then every To-Remote line.
//   Authentication, MailFromAuthIn, MailFromAuthOut and ForwardTo are written xtext-normalised
//   (xtext-decoded then re-encoded, as E-MailRelay does); a canonical xtext value is unchanged.
//   The client certificate is trimmed and folded: every LF becomes CRLF + space.
// * Reading: lines end at LF; any trailing CRs are removed, so bare-LF files are accepted, and a
//   missing final line end is accepted. Each field must be the expected `X-MailRelay-<Key>: ` line
//   (or exactly `X-MailRelay-<Key>:`, read as empty); anything else is an error naming the line.
//   Values are whitespace-trimmed. Lines starting with a space or tab continue the previous value
//   (RFC-2822 unfolding: the first character becomes LF). ToCount must be an unsigned 32-bit decimal;
//   exactly that many lines must follow, each `X-MailRelay-To-Local: ` or `X-MailRelay-To-Remote: `
//   in any interleaving (E-MailRelay keeps the two lists apart, so the interleaving is not kept).
//   The End line is any line starting `X-MailRelay-End`. Content values other than the four known
//   names read as `unknown`; Utf8MailboxNames is true only for `1`. MailFromAuthIn/Out must be
//   valid xtext (printable ASCII, `+` followed by two hex digits), or `+`, or empty.
// * Older formats accepted on read (E-MailRelay's FileStore::format(-n) and Envelope::read()). After
//   Format, Content, From, ToCount, the To lines, Authentication and Client they have, before End:
//     #2821.8 (2.5)    ClientCertificate MailFromAuthIn MailFromAuthOut ForwardTo ForwardToAddress
//                      ClientAccountSelector Utf8MailboxNames
//     #2821.7 (2.5rc)  ClientCertificate MailFromAuthIn MailFromAuthOut ForwardTo ForwardToAddress
//                      Utf8MailboxNames
//     #2821.6 (2.4)    ClientCertificate MailFromAuthIn MailFromAuthOut ForwardTo ForwardToAddress
//     #2821.5 (2.0)    ClientCertificate MailFromAuthIn MailFromAuthOut
//     #2821.4 (1.9)    ClientName ClientCertificate      (ClientName is read and discarded)
//     #2821.3 (orig.)  nothing more
//   A missing field is an error in every format, as in E-MailRelay.
// * Lines after End are kept as they are, except that trailing whitespace is removed from each line:
//   that is what E-MailRelay's Envelope::copyExtra() does whenever it rewrites an envelope, and
//   decode-then-encode is such a rewrite here.
// * Failure reasons: E-MailRelay's StoredFile::addReason() writes `X-MailRelay-Reason: <text>` with
//   the text made printable ASCII byte by byte (G::Str::toPrintableAscii: `\` doubled, 0x20-0x7E kept,
//   LF/CR/TAB/NUL as \n \r \t \0, every other byte \xNN with lower-case hex), then
//   `X-MailRelay-ReasonCode: <code>`, or `X-MailRelay-ReasonCode:` with no space when the code is
//   zero or absent.
//
// The file is read as UTF-8 (E-MailRelay stores addresses as UTF-8 bytes), so UTF-8 addresses
// round-trip exactly; invalid UTF-8 bytes decode to U+FFFD.

import { constants as bufferConstants } from 'node:buffer';

export type ContentType = '7bit' | '8bit' | 'binarymime' | 'unknown';

export interface Envelope {
  content: ContentType;
  /** Envelope sender, no angle brackets, '' for <>. */
  from: string;
  /** X-MailRelay-To-Local mailboxes. */
  toLocal: string[];
  /** X-MailRelay-To-Remote addresses. */
  toRemote: string[];
  /** Xtext as stored. */
  authentication: string;
  /** Peer IP, host part only. */
  client: string;
  /** PEM text (unfolded, with \n line ends) or ''. */
  clientCertificate: string;
  mailFromAuthIn: string;
  mailFromAuthOut: string;
  forwardTo: string;
  forwardToAddress: string;
  clientAccountSelector: string;
  utf8MailboxNames: boolean;
  /** Lines after X-MailRelay-End, kept verbatim (without line ends; trailing whitespace removed on read, as E-MailRelay's rewrite does): Reason/ReasonCode pairs, split-group lines, anything else. */
  tail: string[];
}

/** A malformed envelope (or, from encodeEnvelope, a value that cannot be written); `line` is 1-based. */
export class EnvelopeError extends Error {
  readonly line: number;
  /** The message without the line number. */
  readonly detail: string;
  constructor(line: number, detail: string) {
    super(`envelope line ${line}: ${detail}`);
    this.name = 'EnvelopeError';
    this.line = line;
    this.detail = detail;
  }
}

/** The prefix of every envelope field. */
export const FIELD_PREFIX = 'X-MailRelay-';
/** The format id written by encodeEnvelope. */
export const ENVELOPE_FORMAT = '#2821.8';

const X = FIELD_PREFIX;
const CRLF = '\r\n';
const CONTENT_TYPES: readonly ContentType[] = ['7bit', '8bit', 'binarymime', 'unknown'];

type TrailingField =
  'ClientName' | 'ClientCertificate' | 'MailFromAuthIn' | 'MailFromAuthOut' | 'ForwardTo' | 'ForwardToAddress' | 'ClientAccountSelector' | 'Utf8MailboxNames';

/** Per known format id, the fields after X-MailRelay-Client and before X-MailRelay-End. */
const TRAILING_FIELDS: ReadonlyMap<string, readonly TrailingField[]> = new Map<string, readonly TrailingField[]>([
  ['#2821.8', ['ClientCertificate', 'MailFromAuthIn', 'MailFromAuthOut', 'ForwardTo', 'ForwardToAddress', 'ClientAccountSelector', 'Utf8MailboxNames']],
  ['#2821.7', ['ClientCertificate', 'MailFromAuthIn', 'MailFromAuthOut', 'ForwardTo', 'ForwardToAddress', 'Utf8MailboxNames']],
  ['#2821.6', ['ClientCertificate', 'MailFromAuthIn', 'MailFromAuthOut', 'ForwardTo', 'ForwardToAddress']],
  ['#2821.5', ['ClientCertificate', 'MailFromAuthIn', 'MailFromAuthOut']],
  ['#2821.4', ['ClientName', 'ClientCertificate']],
  ['#2821.3', []],
]);

/** The format ids decodeEnvelope accepts, newest first. */
export const KNOWN_FORMATS: readonly string[] = [...TRAILING_FIELDS.keys()];

// ---------------------------------------------------------------------------------------------
// construction and reasons

export function newEnvelope(partial: Partial<Envelope> = {}): Envelope {
  return {
    content: partial.content ?? 'unknown',
    from: partial.from ?? '',
    toLocal: [...(partial.toLocal ?? [])],
    toRemote: [...(partial.toRemote ?? [])],
    authentication: partial.authentication ?? '',
    client: partial.client ?? '',
    clientCertificate: partial.clientCertificate ?? '',
    mailFromAuthIn: partial.mailFromAuthIn ?? '',
    mailFromAuthOut: partial.mailFromAuthOut ?? '',
    forwardTo: partial.forwardTo ?? '',
    forwardToAddress: partial.forwardToAddress ?? '',
    clientAccountSelector: partial.clientAccountSelector ?? '',
    utf8MailboxNames: partial.utf8MailboxNames ?? false,
    tail: [...(partial.tail ?? [])],
  };
}

/**
 * The two lines E-MailRelay appends to a failed envelope (without line ends). A code of 0 or ''
 * (or a non-finite number) gives an empty ReasonCode, as in E-MailRelay.
 */
export function reasonLines(reason: string, code: number | ''): [string, string] {
  const codeText = typeof code === 'number' && Number.isFinite(code) && Math.trunc(code) !== 0 ? String(Math.trunc(code)) : '';
  return [`${X}Reason: ${toPrintableAscii(reason)}`, codeText === '' ? `${X}ReasonCode:` : `${X}ReasonCode: ${codeText}`];
}

/** A copy of the envelope with an X-MailRelay-Reason / X-MailRelay-ReasonCode pair appended to the tail. */
export function withReason(e: Envelope, reason: string, code: number | ''): Envelope {
  const copy = newEnvelope(e);
  copy.tail.push(...reasonLines(reason, code));
  return copy;
}

/** The Reason/ReasonCode pairs in the tail, oldest first; a Reason without a following ReasonCode has code ''. */
export function reasons(e: Envelope): { reason: string; code: string }[] {
  const result: { reason: string; code: string }[] = [];
  const reasonKey = `${X}Reason:`;
  const codeKey = `${X}ReasonCode:`;
  for (let i = 0; i < e.tail.length; i++) {
    const line = e.tail[i]!;
    if (!line.startsWith(reasonKey)) continue;
    const reason = trimWs(line.slice(reasonKey.length));
    let code = '';
    const next = e.tail[i + 1];
    if (next !== undefined && next.startsWith(codeKey)) {
      code = trimWs(next.slice(codeKey.length));
      i++;
    }
    result.push({ reason, code });
  }
  return result;
}

/** G::Str::toPrintableAscii() with the default '\' escape, applied to the UTF-8 bytes of the text. */
export function toPrintableAscii(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b === 0x00) out += '\\0';
    else out += '\\x' + b.toString(16).padStart(2, '0');
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// encoding

/** Writes the envelope as E-MailRelay 2.6.1 does: format #2821.8, CRLF, fixed order, then the tail lines. */
export function encodeEnvelope(e: Envelope): Buffer {
  const lines: string[] = [];
  const field = (key: string, value: string): void => {
    lines.push(`${X}${key}: ${value}`);
  };
  const singleLine = (key: string, value: string): string => {
    if (value.includes('\n')) throw new EnvelopeError(lines.length + 1, `cannot write a line break in ${X}${key}`);
    return value;
  };

  field('Format', ENVELOPE_FORMAT);
  field('Content', CONTENT_TYPES.includes(e.content) ? e.content : 'unknown');
  field('From', foldedValue(e.from));
  field('ToCount', String(e.toLocal.length + e.toRemote.length));
  for (const to of e.toLocal) field('To-Local', singleLine('To-Local', to));
  for (const to of e.toRemote) field('To-Remote', singleLine('To-Remote', to));
  field('Authentication', xnormalise(e.authentication));
  field('Client', foldedValue(e.client));
  field('ClientCertificate', foldedCertificate(e.clientCertificate));
  field('MailFromAuthIn', xnormalise(e.mailFromAuthIn));
  field('MailFromAuthOut', xnormalise(e.mailFromAuthOut));
  field('ForwardTo', xnormalise(e.forwardTo));
  field('ForwardToAddress', foldedValue(e.forwardToAddress));
  field('ClientAccountSelector', foldedValue(e.clientAccountSelector));
  field('Utf8MailboxNames', e.utf8MailboxNames ? '1' : '0');
  lines.push(`${X}End: 1`);
  for (const line of e.tail) {
    if (line.includes('\n')) throw new EnvelopeError(lines.length + 1, 'cannot write a line break inside a line after the end line');
    lines.push(line);
  }
  return Buffer.from(lines.join(CRLF) + CRLF, 'utf8');
}

/** E-MailRelay's EnvelopeImp::folded(): trim, drop CRs, fold every LF as CRLF + space. */
function foldedCertificate(pem: string): string {
  return trimWs(pem).replace(/\r/g, '').replace(/\n/g, '\r\n ');
}

/**
 * Other single-value fields are written as they are (as E-MailRelay does); a value holding a line
 * break (possible only after reading a folded hand-edited field) is folded so that it reads back.
 */
function foldedValue(value: string): string {
  return value.includes('\n') ? value.replace(/\r*\n/g, '\r\n ') : value;
}

/** G::Xtext::encode(G::Xtext::decode(s)) on the UTF-8 bytes of s. */
function xnormalise(s: string): string {
  if (/^[\x21-\x2a\x2c-\x3c\x3e-\x7e]*$/.test(s)) return s; // nothing to decode or encode
  const bytes = Buffer.from(s, 'utf8');
  const decoded: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x2b) {
      if (i + 2 >= bytes.length) break; // E-MailRelay drops an incomplete escape at the end
      decoded.push((unhex(bytes[i + 1]!) << 4) | unhex(bytes[i + 2]!));
      i += 2;
    } else {
      decoded.push(b);
    }
  }
  let out = '';
  for (const b of decoded) {
    if (b >= 0x21 && b <= 0x7e && b !== 0x3d && b !== 0x2b) out += String.fromCharCode(b);
    else out += '+' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function unhex(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return 0;
}

/** G::Xtext::valid(s) (non-strict): printable ASCII, every '+' followed by two hex digits. */
function xtextValid(s: string): boolean {
  return /^(?:[\x20-\x2a\x2c-\x7e]|\+[0-9A-Fa-f]{2})*$/.test(s);
}

// ---------------------------------------------------------------------------------------------
// decoding

const WS = ' \t\n\r';

function trimWs(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && WS.includes(s[start]!)) start++;
  while (end > start && WS.includes(s[end - 1]!)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

function trimRightChars(s: string, chars: string): string {
  let end = s.length;
  while (end > 0 && chars.includes(s[end - 1]!)) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** Printable, bounded text of a line for an error message. */
function shown(line: string): string {
  const cut = line.length > 60 ? line.slice(0, 60) + '...' : line;
  return JSON.stringify(cut);
}

class LineReader {
  /** Index of the next line. */
  pos = 0;
  constructor(readonly lines: readonly string[]) {}

  /** Line number (1-based) of the next line; past the end for a missing line. */
  get lineNo(): number {
    return this.pos + 1;
  }

  /** The next line with trailing CRs removed, or undefined at the end of the file. */
  next(): string | undefined {
    if (this.pos >= this.lines.length) return undefined;
    const line = this.lines[this.pos]!;
    this.pos++;
    return trimRightChars(line, '\r');
  }

  /** Reads `X-MailRelay-<key>: value` (with continuation lines) and returns the trimmed value. */
  value(key: string): { value: string; line: number } {
    const lineNo = this.lineNo;
    const prefix = `${X}${key}:`;
    let line = this.next();
    if (line === undefined) throw new EnvelopeError(lineNo, `expected "${prefix}", found the end of the file`);
    if (line === prefix) return { value: '', line: lineNo };
    if (!line.startsWith(prefix + ' ')) throw new EnvelopeError(lineNo, `expected "${prefix}", found ${shown(line)}`);
    for (;;) {
      const following = this.lines[this.pos];
      if (following === undefined || (following[0] !== ' ' && following[0] !== '\t')) break;
      line += '\n' + trimRightChars(following, '\r').slice(1);
      this.pos++;
    }
    return { value: trimWs(line.slice(prefix.length)), line: lineNo };
  }
}

function splitLines(text: string): string[] {
  if (text.length === 0) return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop(); // the final line end, if there is one
  return lines;
}

/** Reads an envelope in any known format (#2821.3 to #2821.8). Throws only EnvelopeError. */
export function decodeEnvelope(data: Buffer | string): Envelope {
  const raw: unknown = data; // checked at run time too: callers may not be typed
  let text: string;
  if (typeof raw === 'string') {
    text = raw;
  } else if (raw instanceof Uint8Array) {
    if (raw.length > bufferConstants.MAX_STRING_LENGTH) throw new EnvelopeError(1, 'envelope file too large');
    text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  } else {
    throw new EnvelopeError(1, 'envelope data is neither a Buffer nor a string');
  }

  const r = new LineReader(splitLines(text));
  const e = newEnvelope();

  const format = r.value('Format');
  const trailing = TRAILING_FIELDS.get(format.value);
  if (trailing === undefined) throw new EnvelopeError(format.line, `unknown format id ${shown(format.value)}`);

  const content = r.value('Content').value;
  e.content = (CONTENT_TYPES as readonly string[]).includes(content) ? (content as ContentType) : 'unknown';
  e.from = r.value('From').value;

  const toCount = r.value('ToCount');
  if (!/^[0-9]+$/.test(toCount.value) || Number(toCount.value) > 0xffffffff) {
    throw new EnvelopeError(toCount.line, `invalid ToCount ${shown(toCount.value)}`);
  }
  const count = Number(toCount.value);
  const localPrefix = `${X}To-Local: `;
  const remotePrefix = `${X}To-Remote: `;
  for (let i = 0; i < count; i++) {
    // bounded by the number of lines: a missing or non-To line ends the loop with an error
    const lineNo = r.lineNo;
    const line = r.next();
    if (line !== undefined && line.startsWith(localPrefix)) e.toLocal.push(trimWs(line.slice(localPrefix.length)));
    else if (line !== undefined && line.startsWith(remotePrefix)) e.toRemote.push(trimWs(line.slice(remotePrefix.length)));
    else {
      const found = line === undefined ? 'the end of the file' : shown(line);
      throw new EnvelopeError(lineNo, `expected recipient ${i + 1} of ToCount ${count} ("${localPrefix}" or "${remotePrefix}"), found ${found}`);
    }
  }

  e.authentication = r.value('Authentication').value;
  e.client = r.value('Client').value;

  for (const key of trailing) {
    const field = r.value(key);
    switch (key) {
      case 'ClientName':
        break; // #2821.4 only; E-MailRelay reads and ignores it
      case 'ClientCertificate':
        e.clientCertificate = field.value;
        break;
      case 'MailFromAuthIn':
      case 'MailFromAuthOut':
        if (field.value !== '' && field.value !== '+' && !xtextValid(field.value)) {
          throw new EnvelopeError(field.line, `invalid xtext in ${X}${key}`);
        }
        if (key === 'MailFromAuthIn') e.mailFromAuthIn = field.value;
        else e.mailFromAuthOut = field.value;
        break;
      case 'ForwardTo':
        e.forwardTo = field.value;
        break;
      case 'ForwardToAddress':
        e.forwardToAddress = field.value;
        break;
      case 'ClientAccountSelector':
        e.clientAccountSelector = field.value;
        break;
      case 'Utf8MailboxNames':
        e.utf8MailboxNames = field.value === '1';
        break;
    }
  }

  const endNo = r.lineNo;
  const end = r.next();
  if (end === undefined || !end.startsWith(`${X}End`)) {
    throw new EnvelopeError(endNo, `expected "${X}End: 1", found ${end === undefined ? 'the end of the file' : shown(end)}`);
  }

  for (let line = r.next(); line !== undefined; line = r.next()) e.tail.push(trimRightChars(line, WS));
  return e;
}
