// How fast can a message be made durable, by way of committing? Compares, on the spool's filesystem,
// relaybox's own Spool commit with other ways of doing the same durable steps (content file and
// envelope file written and synced, envelope renamed into place, directory synced):
//   spool        the real Spool.newMessage / write / commit (group commit on the spool's commit thread)
//   spool-in-thread  the same with the commit thread off (promise-based fs calls, libuv's pool)
//   async-fsync  the same steps as bare fs.promises calls, fsync
//   async-fdatasync  the same with fdatasync
//   worker-fsync, worker-fdatasync  commits collected into batches; a worker thread does each batch
//                with synchronous calls and one directory fsync per batch, one message each way
//   worker-writeall-*  the same, but every file of the batch is written before the first sync
//   poolN-*      N worker threads, each doing one whole commit (directory fsync included) with synchronous calls
// Run: node --import tsx scripts/bench/commit-modes.ts <dir on the spool's filesystem> [seconds] [bytes] [writers]
// (COMMIT_MODES=spool,spool-in-thread runs only those)
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { constants as FS, mkdtempSync, promises as fsp, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { Spool } from '../../src/spool/store';
import { newEnvelope, encodeEnvelope } from '../../src/spool/envelope';
import { DirSyncer } from '../../src/spool/durable';
import { commitThread } from '../../src/spool/commit-thread';

/** CPU time of this process's main thread so far, in ms (Linux: its task's utime + stime; NaN elsewhere). */
function mainThreadCpuMs(): number {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

type Commit = (id: number, content: Buffer, envelope: Buffer) => Promise<void>;

async function drive(ms: number, writers: number, commit: Commit, content: Buffer, envelope: Buffer): Promise<number> {
  const start = performance.now();
  let n = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() - start < ms) {
        await commit(next++, content, envelope);
        n++;
      }
    }),
  );
  return n / ((performance.now() - start) / 1000);
}

function asyncCommit(dir: string, datasync: boolean): Commit {
  const dirSync = new DirSyncer(dir);
  const writeSynced = async (file: string, data: Buffer) => {
    const fh = await fsp.open(file, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o660);
    try {
      await fh.write(data);
      await (datasync ? fh.datasync() : fh.sync());
    } finally {
      await fh.close();
    }
  };
  return async (id, content, envelope) => {
    await Promise.all([writeSynced(path.join(dir, `m${id}.content`), content), writeSynced(path.join(dir, `m${id}.envelope.new`), envelope)]);
    await fsp.rename(path.join(dir, `m${id}.envelope.new`), path.join(dir, `m${id}.envelope`));
    await dirSync.sync();
  };
}

// One batch: each file written and synced (or, writeAllFirst, all written before the first sync),
// each envelope renamed into place, then one directory fsync. The pool sends batches of one.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const create = (file) => fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o660);
parentPort.on('message', ({ dir, datasync, writeAllFirst, batch }) => {
  const sync = datasync ? fs.fdatasyncSync : fs.fsyncSync;
  const files = batch.flatMap((m) => [[path.join(dir, 'w' + m.id + '.content'), m.content], [path.join(dir, 'w' + m.id + '.envelope.new'), m.envelope]]);
  if (writeAllFirst) {
    // The first sync's journal commit carries the files written before it.
    const fds = files.map(([file, data]) => { const fd = create(file); fs.writeSync(fd, data); return fd; });
    for (const fd of fds) { sync(fd); fs.closeSync(fd); }
  } else {
    for (const [file, data] of files) {
      const fd = create(file);
      try { fs.writeSync(fd, data); sync(fd); } finally { fs.closeSync(fd); }
    }
  }
  for (const m of batch) fs.renameSync(path.join(dir, 'w' + m.id + '.envelope.new'), path.join(dir, 'w' + m.id + '.envelope'));
  const d = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try { fs.fsyncSync(d); } finally { fs.closeSync(d); }
  parentPort.postMessage(batch.length);
});
`;

function workerCommit(dir: string, datasync: boolean, writeAllFirst = false): { commit: Commit; stop(): Promise<number> } {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  let waiting: { id: number; content: Buffer; envelope: Buffer; done: () => void }[] = [];
  let inFlight: (() => void)[] | null = null;
  const launch = () => {
    if (inFlight || !waiting.length) return;
    const batch = waiting;
    waiting = [];
    inFlight = batch.map((m) => m.done);
    worker.postMessage({ dir, datasync, writeAllFirst, batch: batch.map(({ id, content, envelope }) => ({ id, content, envelope })) });
  };
  worker.on('message', () => {
    const done = inFlight!;
    inFlight = null;
    for (const d of done) d();
    launch();
  });
  return {
    commit: (id, content, envelope) =>
      new Promise<void>((done) => {
        waiting.push({ id, content, envelope, done });
        launch();
      }),
    stop: () => worker.terminate(),
  };
}

/** N workers, each commit whole in one of them: one message each way instead of ten promise round trips. */
function poolCommit(dir: string, size: number, datasync: boolean): { commit: Commit; stop(): Promise<number> } {
  const idle: Worker[] = [];
  const queue: { id: number; content: Buffer; envelope: Buffer; done: () => void }[] = [];
  const busy = new Map<Worker, () => void>();
  const dispatch = () => {
    while (idle.length && queue.length) {
      const w = idle.pop()!;
      const m = queue.shift()!;
      busy.set(w, m.done);
      w.postMessage({ dir, datasync, batch: [{ id: m.id, content: m.content, envelope: m.envelope }] });
    }
  };
  const workers = Array.from({ length: size }, () => {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', () => {
      const done = busy.get(w)!;
      busy.delete(w);
      idle.push(w);
      done();
      dispatch();
    });
    idle.push(w);
    return w;
  });
  return {
    commit: (id, content, envelope) =>
      new Promise<void>((done) => {
        queue.push({ id, content, envelope, done });
        dispatch();
      }),
    stop: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
      return 0;
    },
  };
}

async function spoolCommit(dir: string, onThread: boolean): Promise<Commit> {
  commitThread.setEnabled(onThread);
  const spool = new Spool(dir);
  return async (_id, content) => {
    const m = await spool.newMessage();
    await m.write(content);
    await m.commit(newEnvelope({ from: 'a@example.com', toRemote: ['b@example.com'], client: '127.0.0.1' }));
  };
}

async function main(): Promise<void> {
  const [parent = '/tmp', seconds = '3', bytes = '2048', writers = '10'] = process.argv.slice(2);
  const ms = Number(seconds) * 1000;
  const content = Buffer.alloc(Number(bytes), 'x');
  const envelope = Buffer.from(encodeEnvelope(newEnvelope({ from: 'a@example.com', toRemote: ['b@example.com'], client: '127.0.0.1' })));
  const modes: [string, (dir: string) => Promise<{ commit: Commit; stop?: () => Promise<number> }>][] = [
    ['spool', async (dir) => ({ commit: await spoolCommit(dir, true) })],
    ['spool-in-thread', async (dir) => ({ commit: await spoolCommit(dir, false) })],
    ['async-fsync', async (dir) => ({ commit: asyncCommit(dir, false) })],
    ['async-fdatasync', async (dir) => ({ commit: asyncCommit(dir, true) })],
    ['worker-fsync', async (dir) => workerCommit(dir, false)],
    ['worker-fdatasync', async (dir) => workerCommit(dir, true)],
    ['worker-writeall-fsync', async (dir) => workerCommit(dir, false, true)],
    ['worker-writeall-fdatasync', async (dir) => workerCommit(dir, true, true)],
    ['pool4-fsync', async (dir) => poolCommit(dir, 4, false)],
    ['pool8-fsync', async (dir) => poolCommit(dir, 8, false)],
    ['pool8-fdatasync', async (dir) => poolCommit(dir, 8, true)],
  ];
  const wanted = process.env.COMMIT_MODES?.split(',');
  for (const [name, make] of modes.filter(([n]) => !wanted || wanted.includes(n))) {
    const dir = mkdtempSync(path.join(parent, `commit-${name}-`));
    try {
      const m = await make(dir);
      const stats0 = commitThread.stats();
      const cpu0 = process.cpuUsage();
      const main0 = mainThreadCpuMs();
      const elu0 = performance.eventLoopUtilization();
      const rate = await drive(ms, Number(writers), m.commit, content, envelope);
      // The main thread's busy time is what limits a one-process relay; CPU counts every thread.
      const elu = performance.eventLoopUtilization(elu0);
      const cpu = process.cpuUsage(cpu0);
      const mainCpu = mainThreadCpuMs() - main0;
      await m.stop?.();
      const stats = commitThread.stats();
      const batches = stats.batches - stats0.batches;
      const commits = (rate * ms) / 1000;
      console.log(
        JSON.stringify({
          mode: name,
          bytes: Number(bytes),
          writers: Number(writers),
          commitsPerSec: Math.round(rate),
          cpuMsPer1000: Math.round(((cpu.user + cpu.system) / 1000 / commits) * 1000),
          mainThreadMsPer1000: Math.round((elu.active / commits) * 1000),
          mainThreadCpuMsPer1000: Math.round((mainCpu / commits) * 1000),
          ...(batches ? { commitsPerBatch: Math.round(((stats.messages - stats0.messages) / batches) * 10) / 10 } : {}),
        }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

void main();
