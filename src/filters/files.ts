// File operations the built-in filters share: durable copies and links, and maildir delivery (the
// envelope's read/write round trip is the spool's: readEnvelopeFile and writeEnvelopeFile in spool/store.ts).
import { spoolFs } from '../privilege';
import * as os from 'node:os';
import * as path from 'node:path';
import { linkOrCopy, syncPath, unlinkQuiet } from '../spool/durable';

export { syncPath };

export async function isDirectory(p: string): Promise<boolean> {
  return spoolFs.stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
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

export async function removeMessage(files: { contentPath: string; envelopePath: string }): Promise<void> {
  await unlinkQuiet(files.envelopePath);
  await unlinkQuiet(files.contentPath);
}
