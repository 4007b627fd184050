// What a bare LF means inside DATA, decided per client when DATA starts (smtp-server-adapter.ts
// applies it to smtp-server's SMTPStream):
//
// - 'crlf' (loopback, private and link-local clients, `server none` trusted ones, --bare-lf-clients):
//   a bare LF ends a line, as Postfix 3.7 and Postfix 3.9's $mynetworks exclusion have it. Each bare
//   LF becomes CRLF before smtp-server's parser sees it, so "\n.\n", "\r\n.\n" and "\n.\r\n" end the
//   data, dot-unstuffing applies per line, and the content is stored with CRLF line ends.
// - 'exact' (everyone else): only CRLF.CRLF ends the data. SMTP lines end in CRLF, so a dot after a
//   bare LF is message text, not dot-stuffing: E-MailRelay keeps it, smtp-server strips it ("a\n..b"
//   would be stored as "a\n.b"). Such a dot is doubled before the parser sees it, so its unstuffing
//   gives the original bytes back. A bare-LF end-of-data line is noted, so that a client left
//   waiting after one can be told why (server.ts).
//
// Only bytes up to the end-of-data line are touched, because smtp-server feeds whatever follows that
// line (pipelined commands) back into _write in command mode.

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');

export type BareLfMode = 'exact' | 'crlf';

export interface DataScan {
  mode: BareLfMode;
  /** The last raw bytes before the next chunk; starts as CRLF (the data starts at a line start). */
  tail: number[];
  /** Raw bytes seen since the data started. */
  offset: number;
  ended: boolean;
  /** 'exact' mode: a line holding only a dot was ended, or started, by a bare LF. */
  sawBareLfEnd: boolean;
  /** 'exact' mode: the bytes received so far end with such a line (the client may be waiting). */
  endsWithBareLfEnd: boolean;
}

export function newDataScan(mode: BareLfMode = 'exact'): DataScan {
  return { mode, tail: [CR, LF], offset: 0, ended: false, sawBareLfEnd: false, endsWithBareLfEnd: false };
}

/** The byte at k (negative: from the tail of the previous chunks). */
function byteAt(scan: DataScan, chunk: Buffer, k: number): number | undefined {
  return k >= 0 ? chunk[k] : scan.tail[scan.tail.length + k];
}

function keepTail(scan: DataScan, chunk: Buffer, end: number): void {
  scan.tail = [...scan.tail, ...chunk.subarray(Math.max(0, end - 5), end)].slice(-5);
  scan.offset += end;
}

/** 'exact' mode: the chunk with every dot that follows a bare LF doubled, up to the end-of-data line. */
export function stuffBareLfDots(scan: DataScan, chunk: Buffer): Buffer {
  const at = (k: number) => byteAt(scan, chunk, k);
  const dots: number[] = [];
  let end = chunk.length;
  // smtp-server never unstuffs right after a bare LF that is the very first byte of the data.
  const bareLfBefore = (p: number) => at(p - 1) === LF && at(p - 2) !== CR && scan.offset + p > 1;
  if (chunk[0] === DOT && bareLfBefore(0)) dots.push(0);
  let lastBareLfEnd = -1;
  for (let lf = chunk.indexOf(LF); lf >= 0; lf = chunk.indexOf(LF, lf + 1)) {
    if (at(lf - 1) === CR && at(lf - 2) === DOT && at(lf - 3) === LF && at(lf - 4) === CR) {
      end = lf + 1;
      scan.ended = true;
      break;
    }
    const dotLine = (at(lf - 1) === DOT && at(lf - 2) === LF) || (at(lf - 1) === CR && at(lf - 2) === DOT && at(lf - 3) === LF);
    if (dotLine) lastBareLfEnd = lf;
    if (chunk[lf + 1] === DOT && bareLfBefore(lf + 1)) dots.push(lf + 1);
  }
  if (lastBareLfEnd >= 0) scan.sawBareLfEnd = true;
  if (!scan.ended) scan.endsWithBareLfEnd = lastBareLfEnd >= 0 ? lastBareLfEnd === chunk.length - 1 : false;
  else scan.endsWithBareLfEnd = false;
  keepTail(scan, chunk, end);
  if (!dots.length) return chunk;
  const parts: Buffer[] = [];
  let from = 0;
  for (const d of dots) {
    parts.push(chunk.subarray(from, d), Buffer.from('.'));
    from = d;
  }
  parts.push(chunk.subarray(from));
  return Buffer.concat(parts);
}

/** 'crlf' mode: the chunk with every bare LF made CRLF, up to the end-of-data line (which a bare LF may end). */
export function crlfLineEnds(scan: DataScan, chunk: Buffer): Buffer {
  const at = (k: number) => byteAt(scan, chunk, k);
  const bare: number[] = [];
  let end = chunk.length;
  for (let lf = chunk.indexOf(LF); lf >= 0; lf = chunk.indexOf(LF, lf + 1)) {
    if (at(lf - 1) !== CR) bare.push(lf);
    // A line holding only a dot, whatever ends it and the line before it.
    const dotLine = (at(lf - 1) === DOT && at(lf - 2) === LF) || (at(lf - 1) === CR && at(lf - 2) === DOT && at(lf - 3) === LF);
    if (dotLine) {
      end = lf + 1;
      scan.ended = true;
      break;
    }
  }
  keepTail(scan, chunk, end);
  if (!bare.length) return chunk;
  const parts: Buffer[] = [];
  let from = 0;
  for (const lf of bare) {
    parts.push(chunk.subarray(from, lf), CRLF);
    from = lf + 1;
  }
  parts.push(chunk.subarray(from));
  return Buffer.concat(parts);
}
