// File operations the built-in filters share: durable copies and links, maildir delivery, and the
// envelope read/write round trip that keeps fields a filter does not touch.
import { constants as FS } from 'node:fs';
import { spoolFs } from '../process/privilege';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEnvelope, encodeEnvelope, type Envelope } from '../spool/envelope';
import { syncPath, unlinkQuiet, writeFileSynced } from '../spool/durable';

export { syncPath };

/** A hard link when asked for and possible, else a copy; fsync'd either way. */
export async function linkOrCopy(from: string, to: string, hardlink: boolean): Promise<void> {
  if (hardlink) {
    try {
      await spoolFs.link(from, to);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
    }
  }
  await spoolFs.copyFile(from, to, FS.COPYFILE_EXCL);
  await syncPath(to);
}

export async function isDirectory(p: string): Promise<boolean> {
  return spoolFs.stat(p).then((s) => s.isDirectory(), () => false);
}

export async function isMaildir(dir: string): Promise<boolean> {
  const subs = await Promise.all(['tmp', 'cur', 'new'].map((d) => isDirectory(path.join(dir, d))));
  return subs.every(Boolean);
}

let maildirSequence = 0;

/** Deliver the content into a maildir: written under tmp/, then renamed into new/. */
export async function deliverToMaildir(dir: string, contentPath: string, hardlink: boolean): Promise<string> {
  maildirSequence++;
  const name = `${Math.floor(Date.now() / 1000)}.${process.pid}.${os.hostname().replace(/[/:]/g, '_')}.${maildirSequence}`;
  const tmp = path.join(dir, 'tmp', name);
  await linkOrCopy(contentPath, tmp, hardlink);
  await spoolFs.rename(tmp, path.join(dir, 'new', name));
  await syncPath(path.join(dir, 'new'), true);
  return name;
}

/**
 * Copy a message into another spool-like directory, committed: the envelope given as file bytes
 * (encoded once by a caller that copies to many places) and, unless `envelopeOnly`, the content.
 */
export async function copyMessage(
  id: string,
  contentPath: string,
  envelope: Buffer,
  dir: string,
  opts: { hardlink: boolean; envelopeOnly?: boolean },
): Promise<void> {
  if (!opts.envelopeOnly) await linkOrCopy(contentPath, path.join(dir, `${id}.content`), opts.hardlink);
  const tmp = path.join(dir, `${id}.envelope.new`);
  await writeFileSynced(tmp, envelope, 0o660, true);
  await spoolFs.rename(tmp, path.join(dir, `${id}.envelope`));
  await syncPath(dir, true);
}

export async function readEnvelopeFile(p: string): Promise<Envelope> {
  return decodeEnvelope(await spoolFs.readFile(p));
}

/** Rewrite an envelope in place, durably (a temporary file renamed over it). */
export async function writeEnvelopeFile(p: string, env: Envelope): Promise<void> {
  const tmp = `${p}.tmp`;
  await writeFileSynced(tmp, encodeEnvelope(env), 0o660, true);
  await spoolFs.rename(tmp, p);
}

export async function removeMessage(files: { contentPath: string; envelopePath: string }): Promise<void> {
  await unlinkQuiet(files.envelopePath);
  await unlinkQuiet(files.contentPath);
}

/** Filter parameters: "a;b=c;d" -> a set of words and a map of values. */
export function filterParams(text: string): { words: Set<string>; values: Map<string, string> } {
  const words = new Set<string>();
  const values = new Map<string, string>();
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq > 0) values.set(part.slice(0, eq).toLowerCase(), part.slice(eq + 1));
    else words.add(part.toLowerCase());
  }
  return { words, values };
}
