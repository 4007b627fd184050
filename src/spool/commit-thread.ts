// Group commit on one worker thread. A commit's file calls (the rest of the content written, content
// and envelope fsync'd, the envelope renamed from .new into place) run there, and
// the commits that arrive while a batch is in flight wait and form the next batch, which ends with
// ONE directory fsync for all of them. The main thread pays one message each way per batch instead
// of a dozen promise round trips through libuv's pool per message.
//
// The order is the one the kill -9 and power-cut tests rely on: every file of a message fsync'd
// before its rename, every rename before the directory fsync, and the caller told (250) only after
// the directory fsync. A message whose step fails is left out of the later steps and reported with
// its error, so that the caller rolls it back; a failed directory fsync fails every message of the
// batch in that directory.
//
// The content file's descriptor is opened and closed by the main thread (NewMessage); the worker
// only writes and syncs it, so no descriptor is ever closed twice, even if the worker dies. The
// envelope's descriptor is the worker's own (Node closes it should the worker die).
//
// Privileges: ids and umask are per process, so the main thread holds the spool's claim (euid 0
// with --user, umask 007) for as long as a batch is in flight, as spoolFs does around each call.
//
// If the worker cannot be started or dies, the batch in flight fails (the callers roll back and
// answer 4xx) and later commits take the in-thread path (NewMessage's prepare and publish).
//
// Once it runs, the worker also does the spool's other renames and unlinks (a forwarder's lock and
// unlock, a forwarded message's removal): they go with the next message to it, so while a batch is on
// disk they cost no round trip through libuv's pool, and they are answered before that message's
// batch starts its fsyncs. One message is in flight at a time.
//
// The worker's code is a source string (`eval`), so that it is inside the one-file bundle and also
// runs under tsx; it is plain JavaScript with nothing but node: modules.
import { Worker } from 'node:worker_threads';
import { holdSpoolClaim } from '../privilege';

const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { O_WRONLY, O_CREAT, O_EXCL, O_RDONLY, O_DIRECTORY } = fs.constants;
function writeAll(fd, data) {
  for (let at = 0; at < data.length; ) at += fs.writeSync(fd, data, at, data.length - at);
}
function fsyncAsync(fd) {
  return new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
}
function failure(e) {
  return { message: String(e && e.message), code: e && e.code, errno: e && e.errno, syscall: e && e.syscall, path: e && e.path };
}
// A spool file move (rename) or removal (unlink) the main thread asked for, done at once; ENOENT is
// for the caller to judge (a message another process took or removed).
function fileOp(op) {
  try {
    if (op.kind === 'rename') fs.renameSync(op.from, op.to);
    else fs.unlinkSync(op.path);
    return null;
  } catch (e) {
    return failure(e);
  }
}
parentPort.on('message', async ({ ops, jobs, fault }) => {
  if (ops.length) parentPort.postMessage({ kind: 'ops', results: ops.map(fileOp) });
  if (!jobs.length) return;
  const errors = jobs.map(() => null);
  const envFds = jobs.map(() => -1);
  const step = (i, work) => {
    if (errors[i]) return;
    try { work(); } catch (e) { errors[i] = failure(e); }
  };
  // Every file's bytes first (into the page cache: quick), then every fsync at once.
  jobs.forEach((j, i) => step(i, () => {
    if (j.data) writeAll(j.fd, j.data);
    envFds[i] = fs.openSync(j.envNew, O_WRONLY | O_CREAT | O_EXCL, 0o660);
    writeAll(envFds[i], j.envelope);
  }));
  // The fsyncs go through libuv's pool all at once, not one after another: concurrent fsyncs share
  // the journal commits and the disk's cache flushes (ext4 flushes the cache on each fsync even when
  // the journal has nothing more to commit), which one synchronous fsync after another would not.
  await Promise.all(jobs.map((j, i) => errors[i] ? null : Promise.all([fsyncAsync(j.fd), fsyncAsync(envFds[i])]).catch((e) => { if (!errors[i]) errors[i] = failure(e); })));
  jobs.forEach((j, i) => {
    if (envFds[i] < 0) return;
    try { fs.closeSync(envFds[i]); } catch (e) { if (!errors[i]) errors[i] = failure(e); }
  });
  // Only messages whose files are both on disk are renamed into place.
  jobs.forEach((j, i) => step(i, () => fs.renameSync(j.envNew, j.envReady)));
  const dirs = new Map();
  jobs.forEach((j, i) => {
    if (errors[i]) return;
    if (!dirs.has(j.dir)) dirs.set(j.dir, []);
    dirs.get(j.dir).push(i);
  });
  let dirFailed = false;
  for (const [dir, members] of dirs) {
    try {
      if (fault === 'dirsync') throw Object.assign(new Error("EIO: i/o error, fsync '" + dir + "' (injected)"), { code: 'EIO', errno: -5, syscall: 'fsync', path: dir });
      const d = fs.openSync(dir, O_RDONLY | O_DIRECTORY);
      try { fs.fsyncSync(d); } finally { fs.closeSync(d); }
    } catch (e) {
      dirFailed = true;
      for (const i of members) errors[i] = failure(e);
    }
  }
  parentPort.postMessage({ kind: 'batch', errors, dirFailed });
});
`;

/** One message's commit as the worker does it. */
export interface CommitJob {
  /** The content file, open for writing (the caller closes it once the commit has settled). */
  fd: number;
  /** Content not yet written (appended at the file's offset), or null. */
  data: Buffer | null;
  /** `data` is a copy made for this job alone: its memory moves to the worker instead of being copied. */
  dataOwned?: boolean;
  envelope: Buffer;
  /** The envelope's .new path, its ready path, and the directory holding both. */
  envNew: string;
  envReady: string;
  dir: string;
}

/** The commit thread did nothing with this commit (it is not running): commit in-thread instead. */
export class NotTaken extends Error {
  constructor() {
    super('the commit thread is not running');
  }
}

interface Pending {
  job: CommitJob;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Failure {
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

/** What the commit thread has done, for tests and the benchmark. */
export interface CommitThreadStats {
  batches: number;
  messages: number;
  largestBatch: number;
  /** Batches whose directory fsync (or the worker) failed. */
  failedBatches: number;
  /** The worker died or could not be started; commits run in-thread since. */
  gone: boolean;
  /** Renames and unlinks the worker did for the main thread. */
  fileOps: number;
}

/** The memory of the batch's owned content, whole ArrayBuffers only (a pooled Buffer's is shared). */
function movable(batch: Pending[]): ArrayBuffer[] {
  const moved = new Set<ArrayBuffer>();
  for (const { job } of batch) {
    const d = job.data;
    if (job.dataOwned && d && d.byteOffset === 0 && d.buffer.byteLength === d.length && d.buffer instanceof ArrayBuffer) moved.add(d.buffer);
  }
  return [...moved];
}

function errorFrom(f: Failure): Error {
  const e = new Error(f.message) as NodeJS.ErrnoException;
  if (f.code) e.code = f.code;
  if (f.errno !== undefined) e.errno = f.errno;
  if (f.syscall) e.syscall = f.syscall;
  if (f.path) e.path = f.path;
  return e;
}

/** Each caller told what the worker said of its part: done, or the failure. */
function answer(pending: { resolve: () => void; reject: (e: Error) => void }[], failures: (Failure | null)[]): void {
  pending.forEach((p, i) => {
    const f = failures[i];
    if (f) p.reject(errorFrom(f));
    else p.resolve();
  });
}

/** A file move or removal for the worker (see fileOp in the worker's source). */
type FileOp = { kind: 'rename'; from: string; to: string } | { kind: 'unlink'; path: string };

interface PendingOp {
  op: FileOp;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** The commit thread stopped with this file call sent: it may or may not have been done. */
export class OutcomeUnknown extends Error {
  constructor() {
    super('the commit thread stopped during a file call');
  }
}

class CommitThread {
  private worker: Worker | null = null;
  private waiting: Pending[] = [];
  private inFlight: Pending[] | null = null;
  private opsWaiting: PendingOp[] = [];
  private opsInFlight: PendingOp[] | null = null;
  private launchQueued = false;
  private release: (() => void) | null = null;
  private fault: 'dirsync' | null = null;
  enabled = true;
  readonly stats: CommitThreadStats = { batches: 0, messages: 0, largestBatch: 0, failedBatches: 0, gone: false, fileOps: 0 };

  /** True when commits should go to the worker (false: the caller commits in-thread). */
  get usable(): boolean {
    return this.enabled && !this.stats.gone;
  }

  /** The worker is up (file calls go to it only then: they never start it). */
  get running(): boolean {
    return this.usable && this.worker !== null;
  }

  /** Start the worker ahead of the first commit, so that its start-up is not in a client's wait. */
  warm(): void {
    if (this.usable && !this.worker) this.start();
  }

  commit(job: CommitJob): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      this.launch();
    });
  }

  /**
   * A rename or unlink in the spool, done by the worker: with the next batch while one is on disk (no
   * round trip of its own through libuv's pool), else at once. NotTaken when the worker is not running.
   */
  fileOp(op: FileOp): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.running) return reject(new NotTaken());
      this.opsWaiting.push({ op, resolve, reject });
      // After this tick: the calls made together (a removal's two unlinks) go in one message.
      if (this.launchQueued) return;
      this.launchQueued = true;
      queueMicrotask(() => {
        this.launchQueued = false;
        this.launch();
      });
    });
  }

  injectFault(fault: 'dirsync' | null): void {
    this.fault = fault;
  }

  private start(): Worker | null {
    try {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv: [], // plain JavaScript: none of the main thread's loaders (tsx) or profiling flags
        stdout: false,
        stderr: false,
        resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 64 },
      });
      w.on('message', (r: Reply) => (r.kind === 'ops' ? this.opsDone(r.results) : this.settle(r.errors, r.dirFailed)));
      w.on('error', () => undefined); // 'exit' follows and fails the batch
      w.on('messageerror', () => void w.terminate());
      w.on('exit', () => this.died(w));
      w.unref(); // after the listeners: adding a 'message' listener refs the worker again
      this.worker = w;
      return w;
    } catch {
      this.stats.gone = true;
      return null;
    }
  }

  /** One message to the worker at a time: the file calls and the commits waiting, together. */
  private launch(): void {
    if (this.inFlight || this.opsInFlight || (!this.waiting.length && !this.opsWaiting.length)) return;
    const batch = this.waiting;
    const ops = this.opsWaiting;
    this.waiting = [];
    this.opsWaiting = [];
    const w = this.worker ?? (this.stats.gone ? null : this.start());
    if (!w) {
      for (const p of [...batch, ...ops]) p.reject(new NotTaken());
      return;
    }
    this.inFlight = batch.length ? batch : null;
    this.opsInFlight = ops.length ? ops : null;
    this.release = holdSpoolClaim();
    w.ref();
    try {
      w.postMessage({ ops: ops.map((p) => p.op), jobs: batch.map((p) => p.job), fault: this.fault }, movable(batch));
    } catch (e) {
      // Nothing reached the worker: all fails here rather than waiting for a reply that never comes.
      this.inFlight = this.opsInFlight = null;
      this.idle();
      for (const p of [...batch, ...ops]) p.reject(e as Error);
      this.launch();
    }
  }

  /** Nothing in flight any more: the spool's claim is given back and the worker may let the process exit. */
  private idle(): void {
    if (this.inFlight || this.opsInFlight) return;
    this.release?.();
    this.release = null;
    this.worker?.unref();
  }

  private opsDone(results: (Failure | null)[]): void {
    const ops = this.opsInFlight ?? [];
    this.opsInFlight = null;
    this.stats.fileOps += ops.length;
    this.idle();
    answer(ops, results);
    this.launch();
  }

  private settle(errors: (Failure | null)[], dirFailed: boolean): void {
    const batch = this.inFlight ?? [];
    this.inFlight = null;
    this.idle();
    this.stats.batches += 1;
    this.stats.messages += batch.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    if (dirFailed) this.stats.failedBatches += 1;
    answer(batch, errors);
    this.launch();
  }

  private died(w: Worker): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.stats.gone = true;
    const lost = this.inFlight ?? [];
    const opsLost = this.opsInFlight ?? [];
    this.inFlight = this.opsInFlight = null;
    this.idle();
    if (lost.length) this.stats.failedBatches += 1;
    const e = new Error('the commit thread stopped during the commit');
    for (const p of lost) p.reject(e);
    for (const p of opsLost) p.reject(new OutcomeUnknown());
    for (const p of [...this.waiting.splice(0), ...this.opsWaiting.splice(0)]) p.reject(new NotTaken());
  }

  /** Stop the worker (tests: what a worker that dies does to the commits in flight). */
  async stop(): Promise<void> {
    await this.worker?.terminate();
  }
}

/** What the worker answers: the file calls at once, then the batch once it is on disk. */
type Reply = { kind: 'ops'; results: (Failure | null)[] } | { kind: 'batch'; errors: (Failure | null)[]; dirFailed: boolean };

const thread = new CommitThread();

/** The process's one commit thread (one for every Spool: ids and umask are per process anyway). */
export const commitThread = {
  get usable(): boolean {
    return thread.usable;
  },
  /** The worker is up: file calls go to it (they never start it). */
  get running(): boolean {
    return thread.running;
  },
  warm: () => thread.warm(),
  commit: (job: CommitJob) => thread.commit(job),
  /** A spool rename on the commit thread; NotTaken when it is not running, OutcomeUnknown when it stopped meanwhile. */
  rename: (from: string, to: string) => thread.fileOp({ kind: 'rename', from, to }),
  /** A spool unlink on the commit thread; errors as rename's. */
  unlink: (path: string) => thread.fileOp({ kind: 'unlink', path }),
  stats: (): CommitThreadStats => ({ ...thread.stats }),
  /** Off: every commit in-thread (the benchmark's "before", and the fallback's tests). On again after the worker died: a new one. */
  setEnabled(on: boolean): void {
    thread.enabled = on;
    if (on) thread.stats.gone = false;
  },
  /** Tests: each batch from now on fails at its directory fsync (EIO), after its renames; null ends it. */
  injectFault: (fault: 'dirsync' | null) => thread.injectFault(fault),
  /** Tests: stop the worker as if it had died. */
  kill: () => thread.stop(),
};
