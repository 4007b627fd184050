// SMTP lines end in CRLF, so a dot after a bare LF is message text, not dot-stuffing: E-MailRelay
// keeps it, smtp-server strips it ("a\n..b" would be stored as "a\n.b"). The fix, installed once
// for the process: in data mode such a dot is doubled before smtp-server's parser sees it, so its
// unstuffing gives the original bytes back. Only bytes up to the end-of-data line are touched,
// because smtp-server feeds whatever follows that line (pipelined commands) back into _write.
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

export interface DataScan {
  /** The last raw bytes before the next chunk; starts as CRLF (the data starts at a line start). */
  tail: number[];
  /** Raw bytes seen since the data started. */
  offset: number;
  ended: boolean;
}

export function newDataScan(): DataScan {
  return { tail: [CR, LF], offset: 0, ended: false };
}

/** The chunk with every dot that follows a bare LF doubled, up to the end-of-data line. */
export function stuffBareLfDots(scan: DataScan, chunk: Buffer): Buffer {
  const at = (k: number) => (k >= 0 ? chunk[k] : scan.tail[scan.tail.length + k]);
  const dots: number[] = [];
  let end = chunk.length;
  // smtp-server never unstuffs right after a bare LF that is the very first byte of the data.
  const bareLfBefore = (p: number) => at(p - 1) === LF && at(p - 2) !== CR && scan.offset + p > 1;
  if (chunk[0] === DOT && bareLfBefore(0)) dots.push(0);
  for (let lf = chunk.indexOf(LF); lf >= 0; lf = chunk.indexOf(LF, lf + 1)) {
    if (at(lf - 1) === CR && at(lf - 2) === DOT && at(lf - 3) === LF && at(lf - 4) === CR) {
      end = lf + 1;
      scan.ended = true;
      break;
    }
    if (chunk[lf + 1] === DOT && bareLfBefore(lf + 1)) dots.push(lf + 1);
  }
  scan.tail = [...scan.tail, ...chunk.subarray(Math.max(0, end - 4), end)].slice(-4);
  scan.offset += end;
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

type Write = (this: StreamLike, chunk: Buffer, encoding: BufferEncoding, next: (err?: Error | null) => void) => void;
type Start = (this: StreamLike, ...args: unknown[]) => unknown;
interface StreamLike {
  _dataMode: boolean;
}

const scans = new WeakMap<StreamLike, DataScan>();
let installed = false;

export function installBareLfDotFix(): void {
  if (installed) return;
  const proto = SMTPStream.prototype as unknown as Record<string, unknown>;
  const write = proto._write as Write | undefined;
  const start = proto.startDataMode as Start | undefined;
  if (typeof write !== 'function' || typeof start !== 'function') {
    throw new Error('smtp-server has changed: SMTPStream._write/startDataMode are missing (the bare-LF fix needs the pinned smtp-server 3.21.6)');
  }
  proto.startDataMode = function (this: StreamLike, ...args: unknown[]) {
    scans.set(this, newDataScan());
    return start.apply(this, args);
  };
  proto._write = function (this: StreamLike, chunk: Buffer, encoding: BufferEncoding, next: (err?: Error | null) => void) {
    const scan = scans.get(this);
    const data = this._dataMode && scan && !scan.ended && Buffer.isBuffer(chunk) && chunk.length ? stuffBareLfDots(scan, chunk) : chunk;
    return write.call(this, data, encoding, next);
  };
  installed = true;
}
