// The machine's limit for durable files, for context: create a file, write it, fsync, close,
// rename it into place, fsync the directory; as many as possible for a fixed time. With one writer
// the calls are synchronous (the raw disk/journal round trip); with N writers they go through
// fs.promises and libuv's thread pool, as relaybox's do (lets the journal batch commits; the run
// script sets UV_THREADPOOL_SIZE=16, relaybox's own default, so up to 16 are in flight at once).
// Run as a script it prints JSON:
//   node --import tsx scripts/bench/fsync-probe.ts <dir> [seconds] [bytes] [writers]
import { closeSync, constants as FS, fsyncSync, mkdtempSync, openSync, promises as fsp, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';

function syncDir(dir: string): void {
  const fd = openSync(dir, FS.O_RDONLY | FS.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function sequential(dir: string, ms: number, data: Buffer): number {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) {
    const tmp = path.join(dir, `s${n}.tmp`);
    const fd = openSync(tmp, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o600);
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path.join(dir, `s${n}`));
    syncDir(dir);
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

async function concurrent(dir: string, ms: number, data: Buffer, writers: number): Promise<number> {
  const start = performance.now();
  let n = 0;
  const one = async (i: number): Promise<void> => {
    const tmp = path.join(dir, `c${i}.tmp`);
    const fh = await fsp.open(tmp, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o600);
    try {
      await fh.write(data);
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
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() - start < ms) {
        await one(next++);
        n++;
      }
    }),
  );
  return n / ((performance.now() - start) / 1000);
}

/**
 * Durable files per second of `bytes` each with `writers` concurrent writers, measured for
 * `seconds` in a fresh directory under `parent` (the same filesystem as the spools); removed after.
 */
export async function fsyncFilesPerSec(parent: string, seconds: number, bytes: number, writers: number): Promise<number> {
  const dir = mkdtempSync(path.join(parent, 'fsync-probe-'));
  try {
    const data = Buffer.alloc(bytes, 'x');
    return writers <= 1 ? sequential(dir, seconds * 1000, data) : await concurrent(dir, seconds * 1000, data, writers);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [dir = '/tmp', seconds = '2', bytes = '2048', writers = '1'] = process.argv.slice(2);
  fsyncFilesPerSec(dir, Number(seconds), Number(bytes), Number(writers)).then((perSec) =>
    console.log(JSON.stringify({ bytes: Number(bytes), writers: Number(writers), filesPerSec: Math.round(perSec) })),
  );
}
