// Writes that survive a power cut: write a temporary file, fsync it, rename it into place, fsync
// the directory. Used for everything the appliance keeps on the data and boot partitions.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Owner {
  uid: number;
  gid: number;
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // FAT directories cannot always be fsync'd; the file itself was.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function writeFileDurably(file: string, content: string | Buffer, mode = 0o644, owner?: Owner): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, mode); // the umask does not get a say
  if (owner) fs.chownSync(tmp, owner.uid, owner.gid);
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

/** Overwrite a file's bytes in place with zeros (the same clusters on FAT) and sync them. */
function zeroFile(fd: number, size: number): void {
  fs.writeSync(fd, Buffer.alloc(size), 0, size, 0);
  fs.fsyncSync(fd);
}

/** Zero a file's bytes, then give it new text. */
export function scrubFile(file: string, replacement: string): void {
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r+');
  try {
    zeroFile(fd, size);
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, replacement, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Zero a file's bytes, then remove it. */
export function scrubAndRemove(file: string): void {
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r+');
  try {
    zeroFile(fd, size);
  } finally {
    fs.closeSync(fd);
  }
  fs.unlinkSync(file);
  fsyncDir(path.dirname(file));
}

export function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Write only when the content differs: spares the SD card. Returns whether it wrote. */
export function writeIfChanged(file: string, content: string, mode = 0o644): boolean {
  if (readIfExists(file) === content) return false;
  writeFileDurably(file, content, mode);
  return true;
}
