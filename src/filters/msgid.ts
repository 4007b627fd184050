// msgid: (section 4.6): adds a Message-ID header field to a message that has none.
import { createReadStream } from 'node:fs';
import { spoolFs } from '../privilege';
import { pipeline } from 'node:stream/promises';
import type { Filter, FilterContext } from './filter';
import { syncPath } from './files';
import { fail, ok } from './result';

const MAX_HEADER_LINE = 10000;
const MAX_HEADER_READ = 1024 * 1024;
let counter = 0;

/** The header section's text, or a reason it cannot be read. */
async function readHeader(file: string): Promise<string | { error: string }> {
  const fh = await spoolFs.open(file, 'r');
  try {
    let text = '';
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (!bytesRead) return { error: 'no blank line after the header' };
      text += buf.subarray(0, bytesRead).toString('latin1');
      const end = /\r?\n\r?\n/.exec(text);
      if (end) return text.slice(0, end.index);
      if (/^(?:\r?\n)/.test(text)) return '';
      if (text.length > MAX_HEADER_READ) return { error: 'header section too long' };
    }
  } finally {
    await fh.close();
  }
}

export function msgidFilter(ctx: FilterContext): Filter {
  return {
    name: 'msgid:',
    async run(input) {
      const header = await readHeader(input.contentPath);
      if (typeof header !== 'string') return fail('failed', `msgid: ${header.error}`);
      const lines = header.split(/\r?\n/);
      if (lines.some((l) => l.length > MAX_HEADER_LINE)) return fail('failed', 'msgid: header line too long');
      if (lines.some((l) => /^message-id[ \t]*:/i.test(l))) return ok();
      const now = Date.now();
      const id = `${Math.floor(now / 1000)}.${(now % 1000) * 1000}.${process.pid}.${++counter}@${ctx.domain}`;
      const tmp = `${input.contentPath}.msgid`;
      const out = (await spoolFs.open(tmp, 'wx', 0o660)).createWriteStream();
      out.write(`Message-ID: <${id}>\r\n`);
      await pipeline(createReadStream(input.contentPath), out);
      await syncPath(tmp);
      await spoolFs.rename(tmp, input.contentPath);
      return ok();
    },
  };
}
