// The spool: E-MailRelay's directory of <id>.content and <id>.envelope[.new|.busy|.bad] files
// (names.ts spells them). A message's state is the suffix of its envelope file, and every state change
// is one rename, so a crash leaves each message in exactly one state.
//
// States and moves (as Postfix's qmgr documents its queues):
//
//   (none) --newMessage()--> content only, invisible --prepare()--> new --publish()--> ready
//     receive: smtp/ and submit/ make a NewMessage; the server filter sees it as .new (prepare, then
//     commitPrepared); only after the rename to ready and the directory fsync may 250 be said.
//     commit() without a filter runs on the commit thread (commit-thread.ts), in batches.
//     rollback() removes a message that was never acknowledged.
//   ready --lock()--> busy           forward/runner takes a message; losing the rename race to another
//                                    relay on the same spool is normal ("skipped").
//   busy --remove()--> (gone)        forwarded (or every recipient refused and nothing to report).
//   busy --defer()--> ready          temporary failure: a Reason line is appended, envelope rewritten.
//   busy --fail()--> bad             permanent failure, or retried for too long.
//   busy --unlock()--> ready         runner gave up its turn (back-off not due); recover.ts at start-up.
//   bad --unfail()--> ready          admin/status page "retry" (reasons cleared) and unfail-all.
//   bad --removeFailed()--> (gone)   status page "delete".
//   ready --(POP DELE)--> (gone)     pop/mailbox.ts removes what a POP client deleted.
//   receiveCopy(): (none) --> ready  copy:, split: and deliver: filters enqueue into this or another spool.
//
// Retry state lives in the envelope itself, so that nothing is lost when the relay restarts: each
// failed attempt appends a Reason line (and ReasonCode), so the number of Reason lines is the number
// of attempts; the envelope's mtime is when the last attempt failed; the content file's mtime is when
// the message arrived (its age, for --retry-max-age). The admin's unfail starts the history afresh.
//
// The commit cache keeps what this process just committed (envelope, and content up to 64 KiB) so the
// forwarder need not read it back; it is only a shortcut, and everything in it is also on disk.
import { closeSync, close as fsClose, constants as FS, fsync as fsFsync, writev as fsWritev } from 'node:fs';
import { spoolFs } from '../privilege';
import * as path from 'node:path';
import { commitThread, NotTaken, OutcomeUnknown } from './commit-thread';
import { DirSyncer, join, linkOrCopy, syncPath, unlinkQuiet, writeFileSynced } from './durable';
import { decodeEnvelope, encodeEnvelope, withReason, type Envelope } from './envelope';

import { contentName, envelopeName, isSpoolId, parseSpoolName, REWRITE_SUFFIX, type EnvelopeState } from './names';

const WRITE_BUFFER = 256 * 1024;
let sequence = 0;

export function newMessageId(now = Date.now()): string {
  sequence += 1;
  return `emailrelay.${process.pid}.${Math.floor(now / 1000)}.${sequence}`;
}

/** What this process just committed, kept so the forwarder need not read it back. */
export interface Committed {
  env: Envelope;
  /** The content, for messages small enough to keep (else read from the content file). */
  content?: Buffer;
}

/**
 * Recently committed messages, oldest evicted first once over budget. Only a shortcut: everything is
 * on disk, and a message not found here is read from its files.
 */
class CommitCache {
  private readonly entries = new Map<string, Committed & { bytes: number }>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}

  put(id: string, entry: Committed): void {
    if (!this.maxBytes) return;
    const bytes = 512 + (entry.content?.length ?? 0);
    this.entries.set(id, { ...entry, bytes });
    this.bytes += bytes;
    for (const [oldId, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldId);
      this.bytes -= old.bytes;
    }
  }

  take(id: string): Committed | undefined {
    const e = this.entries.get(id);
    if (e) {
      this.entries.delete(id);
      this.bytes -= e.bytes;
    }
    return e;
  }
}

const SMALL_MESSAGE = 64 * 1024;

/**
 * A rename by the commit thread when it is running (it rides with the next commit batch instead of
 * taking a round trip through libuv's pool), else here. If the thread stopped with the rename sent,
 * it is tried here again; a source that is gone with the target there means the thread had done it.
 */
async function renameOnThread(source: string, target: string): Promise<void> {
  try {
    return await commitThread.rename(source, target);
  } catch (e) {
    if (!leftToCaller(e)) throw e;
    try {
      await spoolFs.rename(source, target);
    } catch (again) {
      if (e instanceof OutcomeUnknown && (again as NodeJS.ErrnoException).code === 'ENOENT' && (await exists(target))) return;
      throw again;
    }
  }
}

/**
 * Unlinks by the commit thread when it is running, in this order and in one message to it; a file
 * already gone is no error. False when the thread did not do them all (not running, or stopped
 * meanwhile): the caller does them.
 */
async function unlinkedOnThread(files: string[]): Promise<boolean> {
  if (!commitThread.running) return false;
  const results = await Promise.allSettled(files.map((f) => commitThread.unlink(f)));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as NodeJS.ErrnoException] : []));
  const real = failures.find((e) => !leftToCaller(e) && e.code !== 'ENOENT');
  if (real) throw real;
  return !failures.some(leftToCaller);
}

/** The commit thread did not do the call (not running), or stopped with it sent: the caller does it. */
function leftToCaller(e: unknown): boolean {
  return e instanceof NotTaken || e instanceof OutcomeUnknown;
}

async function exists(file: string): Promise<boolean> {
  return spoolFs.lstat(file).then(
    () => true,
    () => false,
  );
}

/** An envelope file, read and parsed (the spool's own and the one a filter is given). */
export async function readEnvelopeFile(file: string): Promise<Envelope> {
  return decodeEnvelope(await spoolFs.readFile(file));
}

/** Rewrite an envelope file in place: a temporary file, fsync'd, renamed over it. */
export async function writeEnvelopeFile(file: string, env: Envelope): Promise<void> {
  const tmp = file + REWRITE_SUFFIX;
  await writeFileSynced(tmp, encodeEnvelope(env), 0o660, true);
  await spoolFs.rename(tmp, file);
}

export class Spool {
  readonly dir: string;
  private readonly dirSync: DirSyncer;
  readonly recent: CommitCache;

  /** `cacheBytes`: memory for recently committed messages (0 when nothing here will forward them). */
  constructor(dir: string, cacheBytes = 0) {
    this.dir = path.resolve(dir);
    this.dirSync = new DirSyncer(this.dir);
    this.recent = new CommitCache(cacheBytes);
  }

  contentPath(id: string): string {
    return join(this.dir, contentName(id));
  }

  envelopePath(id: string, state: EnvelopeState): string {
    return join(this.dir, envelopeName(id, state));
  }

  /** Start a new message: its content file is created now, nothing is visible until commit(). */
  async newMessage(): Promise<NewMessage> {
    for (let attempt = 0; ; attempt++) {
      const id = newMessageId();
      try {
        const fd = await spoolFs.openFd(this.contentPath(id), FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o660);
        commitThread.warm();
        return new NewMessage(this, id, fd);
      } catch (e) {
        // A restarted process can reuse a pid within the same second: take the next number.
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 1000) throw e;
      }
    }
  }

  /** Make a committed rename durable (coalesced with concurrent commits). */
  syncDir(): Promise<void> {
    return this.dirSync.sync();
  }

  /** Ids of messages ready to forward, in E-MailRelay's lexical file-name order. */
  async listReady(): Promise<string[]> {
    return (await this.listState('ready')).sort();
  }

  async listState(state: EnvelopeState): Promise<string[]> {
    return (await this.listStates())[state];
  }

  /** Every message's id by the state of its envelope, from one reading of the directory. */
  async listStates(): Promise<Record<EnvelopeState, string[]>> {
    const ids: Record<EnvelopeState, string[]> = { new: [], ready: [], busy: [], bad: [] };
    for (const name of await spoolFs.readdir(this.dir)) {
      const parsed = parseSpoolName(name);
      if (parsed?.kind === 'envelope') ids[parsed.state].push(parsed.id);
    }
    return ids;
  }

  async readEnvelope(id: string, state: EnvelopeState): Promise<Envelope> {
    return readEnvelopeFile(this.envelopePath(id, state));
  }

  async move(id: string, from: EnvelopeState, to: EnvelopeState): Promise<boolean> {
    const [source, target] = [this.envelopePath(id, from), this.envelopePath(id, to)];
    try {
      await renameOnThread(source, target);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /** Take a ready message for forwarding. False if another forwarder (or process) got it first. */
  lock(id: string): Promise<boolean> {
    return this.move(id, 'ready', 'busy');
  }

  unlock(id: string): Promise<boolean> {
    return this.move(id, 'busy', 'ready');
  }

  /** Forwarded: the message is gone from the spool. */
  async remove(id: string, state: EnvelopeState = 'busy'): Promise<void> {
    // The envelope first: a content file without one is left over, an envelope without one would be sent.
    const files = [this.envelopePath(id, state), this.contentPath(id)];
    if (await unlinkedOnThread(files)) return;
    for (const f of files) await unlinkQuiet(f);
  }

  /** Rewrite an envelope in place: a temporary file, fsync'd, renamed over it. */
  rewrite(id: string, state: EnvelopeState, env: Envelope): Promise<void> {
    return writeEnvelopeFile(this.envelopePath(id, state), env);
  }

  /** Rewrite a busy envelope and move it to `to`. */
  async rewriteAndMove(id: string, env: Envelope, to: EnvelopeState): Promise<void> {
    await this.rewrite(id, 'busy', env);
    if (to !== 'busy') await spoolFs.rename(this.envelopePath(id, 'busy'), this.envelopePath(id, to));
    await this.syncDir();
  }

  /** A failed message's envelope (null when it cannot be parsed), or undefined when there is no such message. */
  private async failedEnvelope(id: string): Promise<{ env: Envelope | null } | undefined> {
    if (!isSpoolId(id)) return undefined;
    try {
      return { env: await this.readEnvelope(id, 'bad') };
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : { env: null };
    }
  }

  /**
   * A failed message back to ready, its envelope rewritten first by `clean` (the admin's "unfail" clears
   * the failure reasons). Returns the envelope it had (null when it could not be parsed: then it is moved
   * back unchanged, as E-MailRelay's unfail-all does), or undefined when there is no such failed message.
   */
  async unfail(id: string, clean: (env: Envelope) => Envelope): Promise<{ env: Envelope | null } | undefined> {
    const found = await this.failedEnvelope(id);
    if (!found) return undefined;
    const { env } = found;
    if (env) await this.rewrite(id, 'bad', clean(env));
    if (!(await this.move(id, 'bad', 'ready'))) return undefined;
    await this.syncDir();
    return { env };
  }

  /**
   * Delete a failed message: its envelope first (then it is gone for every reader), then its content.
   * Returns the envelope it had (null when unreadable: deleted all the same), or undefined when there is
   * no such failed message.
   */
  async removeFailed(id: string): Promise<{ env: Envelope | null } | undefined> {
    const found = await this.failedEnvelope(id);
    if (!found) return undefined;
    const { env } = found;
    try {
      await spoolFs.unlink(this.envelopePath(id, 'bad'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    await unlinkQuiet(this.contentPath(id));
    await this.syncDir();
    return { env };
  }

  /**
   * Take in a copy of another spool's message (the copy: and split: filters, copy:pop): the content
   * linked or copied unless `envelopeOnly`, then the envelope bytes committed under the same id.
   */
  async receiveCopy(id: string, contentFrom: string, envelope: Buffer, opts: { hardlink: boolean; envelopeOnly?: boolean }): Promise<void> {
    if (!opts.envelopeOnly) await linkOrCopy(contentFrom, this.contentPath(id), opts.hardlink);
    const pending = this.envelopePath(id, 'new');
    await writeFileSynced(pending, envelope, 0o660, true);
    await spoolFs.rename(pending, this.envelopePath(id, 'ready'));
    await this.syncDir();
  }

  /** Permanent failure: the envelope gets the reason and ends as .bad. */
  fail(id: string, env: Envelope, reason: string, code: number | ''): Promise<void> {
    return this.rewriteAndMove(id, withReason(env, reason, code), 'bad');
  }

  /** Temporary failure: the reason is recorded (it counts the attempts) and the message is ready again. */
  defer(id: string, env: Envelope, reason: string, code: number | ''): Promise<void> {
    return this.rewriteAndMove(id, withReason(env, reason, code), 'ready');
  }

  async contentAgeMs(id: string, now = Date.now()): Promise<number> {
    const st = await spoolFs.stat(this.contentPath(id));
    return now - st.mtimeMs;
  }

  async envelopeMtimeMs(id: string, state: EnvelopeState): Promise<number> {
    return (await spoolFs.stat(this.envelopePath(id, state))).mtimeMs;
  }
}

// fs calls on a bare descriptor, as promises (the content file's, which the commit thread also uses).

/** Every chunk written in order; a short write goes on from where it stopped. */
async function fdWritevAll(fd: number, chunks: Buffer[]): Promise<void> {
  let rest = chunks;
  while (rest.length) {
    let written = await new Promise<number>((resolve, reject) => fsWritev(fd, rest, (e, n) => (e ? reject(e) : resolve(n))));
    let i = 0;
    while (i < rest.length && written >= rest[i]!.length) written -= rest[i++]!.length;
    rest = rest.slice(i);
    if (written && rest.length) rest = [rest[0]!.subarray(written), ...rest.slice(1)];
  }
}

function fdSync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsFsync(fd, (e) => (e ? reject(e) : resolve())));
}

function fdClose(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsClose(fd, (e) => (e ? reject(e) : resolve())));
}

/** A message being received: add content, then commit() or rollback(). Never both. */
export class NewMessage {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Committed, rolled back, or its commit under way: nothing more may be done with it. */
  private finished = false;
  /** Every chunk, while the message is small enough to keep in the commit cache. */
  private small: Buffer[] | null = [];
  bytes = 0;
  /** A server filter took the message over (exit 100): it was answered 250 but may not be in the spool. */
  abandoned = false;

  constructor(
    private readonly spool: Spool,
    readonly id: string,
    /** The content file, open for writing, until it is committed or rolled back. */
    private fd: number | null,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.bytes += chunk.length;
    if (this.small && this.bytes <= SMALL_MESSAGE) this.small.push(chunk);
    else this.small = null;
    if (this.bufferedBytes >= WRITE_BUFFER) await this.flush();
  }

  /** What is buffered and not yet written, taken out of the buffer (null if nothing); owned: a copy made here. */
  private takeBuffered(): { data: Buffer | null; owned: boolean } {
    if (!this.bufferedBytes) return { data: null, owned: false };
    const owned = this.buffered.length > 1;
    const data = owned ? Buffer.concat(this.buffered, this.bufferedBytes) : this.buffered[0]!;
    this.buffered = [];
    this.bufferedBytes = 0;
    return { data, owned };
  }

  private async flush(): Promise<void> {
    if (this.fd === null || !this.bufferedBytes) return;
    // The chunks as they came, in one system call: no copy into one buffer.
    const chunks = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    await fdWritevAll(this.fd, chunks);
  }

  /**
   * Content fsync'd, envelope written and fsync'd as .new, renamed to .envelope, directory fsync'd.
   * Only after this resolves may the client be told 250. Rolled back if it fails. Done on the commit
   * thread, in a batch with the commits that arrive meanwhile, unless that is not running.
   */
  async commit(env: Envelope): Promise<void> {
    if (this.finished || this.fd === null) throw new Error('message already finished');
    if (commitThread.usable && (await this.commitOnThread(env))) return;
    await this.prepare(env);
    await this.publish();
    this.remember(env);
  }

  /** The commit on the commit thread: true once done, false if it did not take it (then nothing was done). */
  private async commitOnThread(env: Envelope): Promise<boolean> {
    const fd = this.fd!;
    const { data, owned } = this.takeBuffered();
    this.finished = true;
    try {
      const dir = this.spool.dir;
      await commitThread.commit({
        fd,
        data,
        dataOwned: owned,
        envelope: encodeEnvelope(env),
        envNew: this.spool.envelopePath(this.id, 'new'),
        envReady: this.spool.envelopePath(this.id, 'ready'),
        dir,
      });
    } catch (e) {
      if (e instanceof NotTaken) {
        this.finished = false;
        if (data) this.buffered = [data];
        this.bufferedBytes = data?.length ?? 0;
        return false;
      }
      await this.undo();
      throw e;
    }
    this.fd = null;
    try {
      closeSync(fd); // its data is on disk: nothing here waits for the disk
    } catch {
      // nothing to lose: the commit is complete
    }
    this.remember(env);
    return true;
  }

  private remember(env: Envelope): void {
    this.spool.recent.put(this.id, { env, content: this.small ? Buffer.concat(this.small, this.bytes) : undefined });
  }

  /** Everything written and fsync'd, the envelope as .new: what a server filter sees. */
  async prepare(env: Envelope): Promise<void> {
    if (this.finished || this.fd === null) throw new Error('message already finished');
    try {
      await this.flush();
      await Promise.all([fdSync(this.fd), writeFileSynced(this.spool.envelopePath(this.id, 'new'), encodeEnvelope(env))]);
      const fd = this.fd;
      this.fd = null;
      await fdClose(fd);
    } catch (e) {
      await this.rollback();
      throw e;
    }
  }

  /**
   * Commit a prepared message as its files now are (a filter may have rewritten them): both
   * fsync'd again, then published. `bestEffort`: a filter that abandoned the message may have
   * removed the files; whatever is left is committed and errors are ignored.
   */
  async commitPrepared(bestEffort = false): Promise<void> {
    const envNew = this.spool.envelopePath(this.id, 'new');
    if (bestEffort) {
      this.finished = true;
      await Promise.all([syncPath(this.spool.contentPath(this.id)), syncPath(envNew)]).catch(() => undefined);
      await spoolFs.rename(envNew, this.spool.envelopePath(this.id, 'ready')).catch(() => undefined);
      await this.spool.syncDir().catch(() => undefined);
      return;
    }
    await Promise.all([syncPath(this.spool.contentPath(this.id)), syncPath(envNew)]).catch(async (e) => {
      await this.rollback();
      throw e;
    });
    await this.publish();
  }

  private async publish(): Promise<void> {
    if (this.finished) throw new Error('message already finished');
    try {
      await spoolFs.rename(this.spool.envelopePath(this.id, 'new'), this.spool.envelopePath(this.id, 'ready'));
      await this.spool.syncDir();
      this.finished = true;
    } catch (e) {
      await this.rollback();
      throw e;
    }
  }

  /** Remove whatever was written. Safe to call more than once and after a failed commit. */
  async rollback(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.undo();
  }

  private async undo(): Promise<void> {
    this.buffered = [];
    this.bufferedBytes = 0;
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      await fdClose(fd).catch(() => undefined);
    }
    await unlinkQuiet(this.spool.envelopePath(this.id, 'new')).catch(() => undefined);
    await unlinkQuiet(this.spool.envelopePath(this.id, 'ready')).catch(() => undefined);
    await unlinkQuiet(this.spool.contentPath(this.id)).catch(() => undefined);
  }
}
