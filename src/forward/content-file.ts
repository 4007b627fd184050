// A spool content file as a stream for the forwarding client, read in pieces of at most `pieceBytes`
// sized to what is left of the file. fs.createReadStream allocates a whole piece for every read,
// including the last one that only finds the end, so a 2 KB message cost two 256 KB buffers and a
// 1 MB one 1.5 MB of them; that garbage, outside V8's heap, is what set off its full collections.
import * as fs from 'node:fs';
import { Readable } from 'node:stream';

export class ContentFileStream extends Readable {
  private fd: number | null = null;
  private size = 0;
  private position = 0;

  constructor(
    private readonly file: string,
    private readonly pieceBytes: number,
  ) {
    super();
  }

  override _construct(done: (e?: Error | null) => void): void {
    fs.open(this.file, 'r', (e, fd) => {
      if (e) return done(e);
      this.fd = fd;
      fs.fstat(fd, (statError, st) => {
        if (statError) return done(statError);
        this.size = st.size;
        done();
      });
    });
  }

  override _read(): void {
    const wanted = Math.min(this.pieceBytes, this.size - this.position);
    if (wanted <= 0 || this.fd === null) {
      this.push(null);
      return;
    }
    const piece = Buffer.allocUnsafeSlow(wanted);
    fs.read(this.fd, piece, 0, wanted, this.position, (e, got) => {
      if (e) return this.destroy(e);
      if (got === 0) {
        this.push(null); // shorter than it was: what there is, as a read stream would
        return;
      }
      this.position += got;
      this.push(got < wanted ? piece.subarray(0, got) : piece);
    });
  }

  override _destroy(e: Error | null, done: (e?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = null;
    if (fd === null) return done(e);
    fs.close(fd, () => done(e));
  }
}
