// File operations the built-in filters share: durable copies and links, maildir delivery, and the
// envelope read/write round trip that keeps fields a filter does not touch.
import { spoolFs } from '../privilege';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEnvelope, encodeEnvelope, type Envelope } from '../spool/envelope';
import { linkOrCopy, syncPath, unlinkQuiet, writeFileSynced } from '../spool/durable';
import { REWRITE_SUFFIX } from '../spool/names';

export { syncPath };

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

export async function readEnvelopeFile(p: string): Promise<Envelope> {
  return decodeEnvelope(await spoolFs.readFile(p));
}

/** Rewrite an envelope in place, durably (a temporary file renamed over it). */
export async function writeEnvelopeFile(p: string, env: Envelope): Promise<void> {
  const tmp = p + REWRITE_SUFFIX;
  await writeFileSynced(tmp, encodeEnvelope(env), 0o660, true);
  await spoolFs.rename(tmp, p);
}

export async function removeMessage(files: { contentPath: string; envelopePath: string }): Promise<void> {
  await unlinkQuiet(files.envelopePath);
  await unlinkQuiet(files.contentPath);
}


