// The machine's limit for durable small files, for context: create a 2 KB file, write, fsync,
// close, rename it into place, fsync the directory; as many as possible for a fixed time.
// Sequential (one writer, synchronous calls: the raw disk/journal round trip) and with 10
// concurrent writers (fs.promises through libuv's thread pool: lets the journal batch commits).
// Run as a script it prints JSON: node --import tsx scripts/bench/fsync-probe.ts <dir> [seconds]
import { closeSync, constants as FS, fsyncSync, mkdtempSync, openSync, promises as fsp, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';

export interface FsyncProbe {
  sequentialPerSec: number;
  concurrent10PerSec: number;
}

const DATA = Buffer.alloc(2048, 'x');

function syncDir(dir: string): void {
  const fd = openSync(dir, FS.O_RDONLY | FS.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function sequential(dir: string, ms: number): number {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) {
    const tmp = path.join(dir, `s${n}.tmp`);
    const fd = openSync(tmp, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o600);
    writeSync(fd, DATA);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path.join(dir, `s${n}`));
    syncDir(dir);
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

async function concurrent(dir: string, ms: number, writers: number): Promise<number> {
  const start = performance.now();
  let n = 0;
  const one = async (i: number): Promise<void> => {
    const tmp = path.join(dir, `c${i}.tmp`);
    const fh = await fsp.open(tmp, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o600);
    try {
      await fh.write(DATA);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path.join(dir, `c${i}`));
    const d = await fsp.open(dir, FS.O_RDONLY | FS.O_DIRECTORY);
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  };
  let next = 0;
  await Promise.all(Array.from({ length: writers }, async () => {
    while (performance.now() - start < ms) {
      await one(next++);
      n++;
    }
  }));
  return n / ((performance.now() - start) / 1000);
}

/** Measure in a fresh directory under `parent` (same filesystem as the spools); removes it after. */
export async function fsyncProbe(parent: string, seconds = 2): Promise<FsyncProbe> {
  const dir = mkdtempSync(path.join(parent, 'fsync-probe-'));
  try {
    const sequentialPerSec = sequential(dir, seconds * 1000);
    rmSync(dir, { recursive: true, force: true });
    const dir2 = mkdtempSync(path.join(parent, 'fsync-probe-'));
    try {
      const concurrent10PerSec = await concurrent(dir2, seconds * 1000, 10);
      return { sequentialPerSec, concurrent10PerSec };
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  fsyncProbe(process.argv[2] ?? '/tmp', Number(process.argv[3] ?? 2)).then((r) => console.log(JSON.stringify(r)));
}
