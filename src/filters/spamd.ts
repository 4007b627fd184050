// spam: and spam-edit: (section 4.5): the content goes to SpamAssassin's spamd with "PROCESS
// SPAMC/1.4". spam: rejects what spamd calls spam; spam-edit: passes everything and replaces the
// content with spamd's rewritten message.
import * as net from 'node:net';
import { createReadStream } from 'node:fs';
import { spoolFs } from '../privilege';
import { once } from 'node:events';
import { parseNetAddress } from '../net/target';
import type { Filter, FilterContext } from './filter';
import { syncPath } from './files';
import { fail, ok, type FilterResult } from './result';

const MAX_HEADER = 64 * 1024;

export function spamFilter(address: string, edit: boolean, ctx: FilterContext): Filter {
  const target = parseNetAddress(address);
  return {
    name: `${edit ? 'spam-edit' : 'spam'}:${address}`,
    async run(input) {
      const socket = target.kind === 'unix' ? net.connect(target.path) : net.connect(target.port, target.host);
      const timer = setTimeout(() => socket.destroy(new Error('timeout')), ctx.timeoutMs);
      try {
        return await exchange(socket, input.contentPath, edit);
      } catch (e) {
        return fail('failed', `spamd: ${(e as Error).message}`);
      } finally {
        clearTimeout(timer);
        socket.destroy();
      }
    },
  };
}

async function exchange(socket: net.Socket, contentPath: string, edit: boolean): Promise<FilterResult> {
  const errored = new Promise<never>((_, reject) => socket.once('error', reject));
  errored.catch(() => undefined);
  const connected = socket.connecting ? once(socket, 'connect') : Promise.resolve();
  const size = (await spoolFs.stat(contentPath)).size;
  await Promise.race([connected, errored]);
  socket.write(`PROCESS SPAMC/1.4\r\nContent-length: ${size}\r\n\r\n`);
  const source = createReadStream(contentPath);
  source.pipe(socket, { end: false });
  await Promise.race([once(source, 'end'), errored]);
  socket.end();

  let head = Buffer.alloc(0);
  let headerEnd = -1;
  const reader = socket[Symbol.asyncIterator]();
  while (headerEnd < 0) {
    const next = await Promise.race([reader.next(), errored]);
    if (next.done) throw new Error('spamd closed the connection without a complete response');
    head = Buffer.concat([head, next.value as Buffer]);
    headerEnd = head.indexOf('\r\n\r\n');
    if (headerEnd < 0 && head.length > MAX_HEADER) throw new Error('response header too long');
  }
  const lines = head.subarray(0, headerEnd).toString('latin1').split('\r\n');
  const status = /^SPAMD\/\d+\.\d+ (\d+) (.*)$/.exec(lines[0] ?? '');
  if (!status) throw new Error(`unexpected response "${(lines[0] ?? '').slice(0, 80)}"`);
  if (status[1] !== '0') throw new Error(`spamd error ${status[1]} ${status[2]}`);
  const headers = new Map(
    lines.slice(1).map((l) => {
      const colon = l.indexOf(':');
      return [l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim()] as [string, string];
    }),
  );
  const spam = headers.get('spam');
  if (spam === undefined) throw new Error('no Spam: header in the response');
  if (!edit) {
    if (/^false/i.test(spam)) return ok();
    return fail('rejected', `spam: ${spam}`);
  }
  const length = Number(headers.get('content-length'));
  if (!Number.isFinite(length)) throw new Error('no Content-length: header in the response');
  const tmp = `${contentPath}.spamd`;
  const out = (await spoolFs.open(tmp, 'w', 0o660)).createWriteStream();
  let written = 0;
  const write = async (b: Buffer) => {
    written += b.length;
    if (!out.write(b)) await once(out, 'drain');
  };
  try {
    await write(head.subarray(headerEnd + 4));
    for (;;) {
      const next = await Promise.race([reader.next(), errored]);
      if (next.done) break;
      await write(next.value as Buffer);
    }
    out.end();
    await once(out, 'finish');
    if (written !== length) throw new Error(`spamd sent ${written} bytes, not the ${length} it announced`);
    await syncPath(tmp);
    await spoolFs.rename(tmp, contentPath);
  } catch (e) {
    out.destroy();
    await spoolFs.unlink(tmp).catch(() => undefined);
    throw e;
  }
  return ok();
}
