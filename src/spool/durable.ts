// Durable file operations: what is acknowledged must survive kill -9 and power loss.
import { constants as FS } from 'node:fs';
import { spoolFs } from '../privilege';
import * as path from 'node:path';

/** Write a whole file, fsync it, close it. Exclusive create unless `replace`. */
export async function writeFileSynced(file: string, data: Buffer | string, mode = 0o660, replace = false): Promise<void> {
  const flags = replace ? FS.O_WRONLY | FS.O_CREAT | FS.O_TRUNC : FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL;
  const fh = await spoolFs.open(file, flags, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a file (or directory) that is already there. */
export async function syncPath(p: string, directory = false): Promise<void> {
  const fh = await spoolFs.open(p, directory ? FS.O_RDONLY | FS.O_DIRECTORY : FS.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Directory fsyncs coalesced: a rename is durable once a directory fsync that started after it
 * completes. Concurrent commits share one fsync instead of each paying for their own.
 */
export class DirSyncer {
  private inFlight: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    if (!this.inFlight) {
      this.inFlight = this.run().finally(() => {
        this.inFlight = null;
      });
      return this.inFlight;
    }
    // One already running may have started before our rename: wait for the one after it.
    if (!this.next) {
      const after = this.inFlight;
      this.next = after
        .catch(() => undefined)
        .then(() => {
          this.next = null;
          return this.sync();
        });
    }
    return this.next;
  }

  private async run(): Promise<void> {
    const fh = await spoolFs.open(this.dir, FS.O_RDONLY | FS.O_DIRECTORY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

export async function unlinkQuiet(file: string): Promise<boolean> {
  try {
    await spoolFs.unlink(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export function isNoSpace(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

export function join(dir: string, name: string): string {
  return path.join(dir, name);
}

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
