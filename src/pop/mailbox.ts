// A POP mailbox (reference section 9.1): the committed `<id>.envelope` files of the spool directory,
// or of `<spool>/<user>/` with --pop-by-name, whose content may be in that directory or, for copies
// made by `copy:pop`, in the main spool directory. A message's size is its content file's size.
import { constants as FS } from 'node:fs';
import { spoolFs } from '../privilege';
import * as path from 'node:path';
import { contentName, parseSpoolName } from '../spool/names';
import { unlinkQuiet } from '../spool/durable';

export interface MailboxMessage {
  id: string;
  /** Absolute path of the content file. */
  content: string;
  /** Absolute path of the committed envelope file. */
  envelope: string;
  size: number;
  /** The content is the main spool directory's, shared with other users' mailboxes. */
  shared: boolean;
}

/** A user name that can safely name a directory under the spool. */
export function isSafeMailboxName(user: string): boolean {
  return user.length > 0 && user.length <= 255 && user !== '.' && user !== '..' && !/[/\\\0]/.test(user) && !user.startsWith('.');
}

export function mailboxDir(spoolDir: string, user: string, byName: boolean): string {
  return byName ? path.join(spoolDir, user) : spoolDir;
}

/** The committed messages of a mailbox directory, in file-name order (E-MailRelay's order). */
export async function listMailbox(spoolDir: string, dir: string): Promise<MailboxMessage[]> {
  const names = (await spoolFs.readdir(dir)).sort();
  const out: MailboxMessage[] = [];
  for (const name of names) {
    const parsed = parseSpoolName(name);
    if (parsed?.kind !== 'envelope' || parsed.state !== 'ready') continue;
    const id = parsed.id;
    let content = path.join(dir, contentName(id));
    let shared = false;
    let st = await spoolFs.stat(content).catch(() => null);
    if (!st && dir !== spoolDir) {
      content = path.join(spoolDir, contentName(id));
      shared = true;
      st = await spoolFs.stat(content).catch(() => null);
    }
    if (!st || !st.isFile() || st.size === 0) continue; // no content (or empty, as E-MailRelay skips): nothing to serve
    out.push({ id, content, envelope: path.join(dir, name), size: st.size, shared });
  }
  return out;
}

/** Does any envelope (in any state) for `id` remain in the spool directory or a sub-directory? */
async function envelopeRemains(spoolDir: string, id: string): Promise<boolean> {
  const entries = await spoolFs.readdir(spoolDir, { withFileTypes: true });
  const isOurs = (n: string) => {
    const parsed = parseSpoolName(n);
    return parsed?.kind === 'envelope' && parsed.id === id;
  };
  if (entries.some((e) => !e.isDirectory() && isOurs(e.name))) return true;
  for (const sub of entries.filter((e) => e.isDirectory() && !e.name.startsWith('.'))) {
    const names = await spoolFs.readdir(path.join(spoolDir, sub.name)).catch(() => [] as string[]);
    if (names.some(isOurs)) return true;
  }
  return false;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await spoolFs.open(dir, FS.O_RDONLY | FS.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Remove messages marked with DELE (at QUIT): envelope first, then content; shared content in the
 * main spool directory only once no other envelope refers to it. Returns the ids that could not be
 * removed (with the reason).
 */
export async function removeMessages(spoolDir: string, messages: MailboxMessage[]): Promise<{ id: string; error: string }[]> {
  const failed: { id: string; error: string }[] = [];
  const dirs = new Set<string>();
  for (const m of messages) {
    try {
      // Gone already (another session deleted it, or the forwarder took it as .busy): leave its content alone.
      if (!(await unlinkQuiet(m.envelope))) continue;
      dirs.add(path.dirname(m.envelope));
      if (!m.shared || !(await envelopeRemains(spoolDir, m.id))) {
        await unlinkQuiet(m.content);
        dirs.add(path.dirname(m.content));
      }
    } catch (e) {
      failed.push({ id: m.id, error: (e as Error).message });
    }
  }
  for (const d of dirs) await syncDir(d).catch(() => undefined);
  return failed;
}
