// The content as it goes out after DATA: nodemailer's DataStream rules, byte for byte, but found with
// Buffer.indexOf instead of a JavaScript loop over every byte (nodemailer's own loop was the largest
// single cost of forwarding a 1 MB message). smtp-connection-adapter.ts puts this in place of
// DataStream's _transform; test/unit/dot-stuff.test.ts compares the two on random input and chunking.
//
// nodemailer's rules, for each byte b of the content, with p the byte before it in the content (none
// at the start):
// - p is CR and b is not LF: a bare CR becomes CRLF ("\n" is inserted before b), and a dot there is
//   stuffed as at the start of any other line ("\n." is inserted);
// - b is LF and p is not CR: a bare LF becomes CRLF ("\r" before b);
// - b is a dot and p is LF or there is no p: the dot at the start of a line is doubled.
// Only a byte that is LF, or that follows CR or LF, or that starts the content can match, so only the
// positions of CR and LF are looked at.
const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const INSERT_LF = Buffer.from('\n');
const INSERT_LF_DOT = Buffer.from('\n.');
const INSERT_CR = Buffer.from('\r');
const INSERT_DOT = Buffer.from('.');

/** What is inserted before the byte at i, whose previous byte is `prev` (undefined: the content's first byte). */
function insertion(b: number, prev: number | undefined): Buffer | undefined {
  if (prev === CR && b !== LF) return b === DOT ? INSERT_LF_DOT : INSERT_LF;
  if (b === LF && prev !== CR) return INSERT_CR;
  if (b === DOT && (prev === LF || prev === undefined)) return INSERT_DOT;
  return undefined;
}

/**
 * One chunk of content as sent: dots at line starts doubled, bare CR and bare LF made CRLF.
 * `prev`: the last byte of the previous chunk, undefined for the first. Returns the chunk itself when
 * nothing is inserted (the common case), else a new buffer.
 */
export function dotStuff(chunk: Buffer, prev: number | undefined): Buffer {
  const len = chunk.length;
  let parts: Buffer[] | null = null;
  let from = 0;
  let total = 0;
  let checked = -1;
  const check = (i: number): void => {
    if (i <= checked || i >= len) return;
    checked = i;
    const what = insertion(chunk[i]!, i ? chunk[i - 1] : prev);
    if (!what) return;
    parts ??= [];
    if (i > from) parts.push(chunk.subarray(from, i));
    parts.push(what);
    total += what.length;
    from = i;
  };
  check(0);
  let cr = chunk.indexOf(CR);
  let lf = chunk.indexOf(LF);
  while (cr >= 0 || lf >= 0) {
    if (cr >= 0 && lf === cr + 1) {
      // CRLF, the usual line end: only the byte after it can need anything.
      check(lf + 1);
      cr = chunk.indexOf(CR, lf + 1);
      lf = chunk.indexOf(LF, lf + 1);
      continue;
    }
    let at: number;
    if (lf < 0 || (cr >= 0 && cr < lf)) {
      at = cr;
      cr = chunk.indexOf(CR, cr + 1);
    } else {
      at = lf;
      lf = chunk.indexOf(LF, lf + 1);
    }
    check(at);
    check(at + 1);
  }
  if (!parts) return chunk;
  const out = parts as Buffer[];
  if (from < len) out.push(chunk.subarray(from));
  return Buffer.concat(out, len + total);
}
