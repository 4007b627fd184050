// --forward-from-mailbox: send a message as the mailbox relaybox signs in as. Microsoft 365 refuses
// a sender the mailbox has no Send As right for (550 5.7.60 SendAsDenied). The envelope sender and
// the From header become the mailbox; the original From is kept as Reply-To (unless there is one),
// and its display name is kept. A Sender header would name the device again, so it goes.
import { promises as fsp } from 'node:fs';
import type { Envelope } from '../spool/envelope';

function headerEnd(data: Buffer): number {
  const crlf = data.indexOf('\r\n\r\n');
  const lf = data.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 2;
  return lf >= 0 ? lf + 1 : data.length;
}

/** The display name of a From value, if it has one: `"Scanner 3" <a@b>` gives `"Scanner 3"`. */
function displayName(value: string): string | undefined {
  const m = /^\s*(.*?)\s*<[^>]*>\s*$/s.exec(value);
  const name = m?.[1]?.trim();
  return name ? name : undefined;
}

export function rewriteFromHeader(message: Buffer, mailbox: string): Buffer {
  const end = headerEnd(message);
  const head = message.subarray(0, end).toString('latin1');
  const eol = head.includes('\r\n') ? '\r\n' : '\n';
  // Header fields with their folded continuation lines.
  const fields = head.split(/\r?\n(?![ \t])/).filter((f) => f.length);
  let originalFrom: string | undefined;
  let hasReplyTo = false;
  const kept: string[] = [];
  for (const f of fields) {
    const name = /^([^:\s]+):/.exec(f)?.[1]?.toLowerCase();
    if (name === 'from' && originalFrom === undefined) {
      originalFrom = f.slice(f.indexOf(':') + 1).replace(/\r?\n/g, '').trim();
      continue;
    }
    if (name === 'sender') continue;
    if (name === 'reply-to') hasReplyTo = true;
    kept.push(f);
  }
  const nameOf = originalFrom ? displayName(originalFrom) : undefined;
  const added = [`From: ${nameOf ? `${nameOf} ` : ''}<${mailbox}>`];
  if (originalFrom && !hasReplyTo) added.push(`Reply-To: ${originalFrom}`);
  const newHead = [...added, ...kept].join(eol) + eol;
  return Buffer.concat([Buffer.from(newHead, 'latin1'), message.subarray(end)]);
}

export async function rewriteSender(env: Envelope, content: Buffer | string, mailbox: string): Promise<{ env: Envelope; content: Buffer }> {
  const data = typeof content === 'string' ? await fsp.readFile(content) : content;
  return { env: { ...env, from: mailbox }, content: rewriteFromHeader(data, mailbox) };
}
