// Reads an HTTP request body up to a limit and no further: a declared Content-Length past the limit
// is refused before a byte of the body is read, and a chunked body is dropped as soon as it passes it.
import type { IncomingMessage } from 'node:http';

export type BodyRead = { body: Buffer } | { refused: 'too-large' | 'broken' };

export function readBoundedBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve({ refused: 'too-large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (r: BodyRead) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(r);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        chunks.length = 0;
        req.pause(); // the caller answers with Connection: close; nothing more is read
        return finish({ refused: 'too-large' });
      }
      chunks.push(c);
    };
    const onEnd = () => finish({ body: Buffer.concat(chunks) });
    const onError = () => finish({ refused: 'broken' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
