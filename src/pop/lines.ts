// Input lines of a text protocol with a length limit: a line longer than the limit is reported once
// and skipped up to its end, so a client cannot make the server buffer without bound.

export type InputLine = { kind: 'line'; text: string } | { kind: 'too-long' };

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private discarding = false;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): InputLine[] {
    const out: InputLine[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        this.clear();
        continue;
      }
      if (this.pendingBytes + piece.length > this.maxBytes) {
        this.clear();
        out.push({ kind: 'too-long' });
        continue;
      }
      const line = this.pendingBytes ? Buffer.concat([...this.pending, piece]) : piece;
      this.clear();
      const end = line.length && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
      out.push({ kind: 'line', text: line.subarray(0, end).toString('utf8') });
    }
    const rest = chunk.subarray(start);
    if (rest.length && !this.discarding) {
      if (this.pendingBytes + rest.length > this.maxBytes) {
        this.clear();
        this.discarding = true;
        out.push({ kind: 'too-long' });
      } else {
        this.pending.push(Buffer.from(rest));
        this.pendingBytes += rest.length;
      }
    }
    return out;
  }

  /** Forget buffered input (after STLS nothing sent in plain text may be used). */
  clear(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }
}
