// A bare CR (one not followed by LF) in message content, normalised once, at receipt, so that the
// filters, POP RETR and the upstream all see the same lines.
//
// As in Postfix, only LF (in CRLF) ends a line, so "Subject: x\rX-Injected: yes" is one header line.
// Postfix then passes the CR on and leaves the next hop to guess (some take it for a line end, and
// nodemailer's SMTP client, our forwarder, makes it CRLF); relaybox replaces it with a space, so
// the line stays one line everywhere. The replacement keeps the length: sizes and offsets hold.
// End-of-data detection and dot-unstuffing have already happened (bare-lf.ts, smtp-server), so this
// cannot end a message early. BODY=BINARYMIME content is left as it is.
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;

export interface BareCrScan {
  /** The previous chunk ended with a CR, held back until the next byte shows whether LF follows. */
  pendingCr: boolean;
}

export function newBareCrScan(): BareCrScan {
  return { pendingCr: false };
}

/** The chunk with every bare CR made a space; a CR at the very end is held back for the next chunk. */
export function replaceBareCr(scan: BareCrScan, chunk: Buffer): Buffer {
  let input = chunk;
  if (scan.pendingCr) {
    input = Buffer.concat([Buffer.from([CR]), chunk]);
    scan.pendingCr = false;
  }
  let out = input;
  let copied = false;
  let end = input.length;
  for (let i = input.indexOf(CR); i >= 0; i = input.indexOf(CR, i + 1)) {
    if (i === input.length - 1) {
      scan.pendingCr = true;
      end = i;
      break;
    }
    if (input[i + 1] === LF) continue;
    if (!copied) {
      out = Buffer.from(input);
      copied = true;
    }
    out[i] = SPACE;
  }
  return end === out.length ? out : out.subarray(0, end);
}

/** What is left at the end of the data: a held-back CR had no LF after it. */
export function flushBareCr(scan: BareCrScan): Buffer {
  if (!scan.pendingCr) return Buffer.alloc(0);
  scan.pendingCr = false;
  return Buffer.from([SPACE]);
}
