// The spool: E-MailRelay's directory of <id>.content and <id>.envelope[.new|.busy|.bad] files.
// A message's state is the suffix of its envelope file; every state change is one rename.
import { constants as FS } from 'node:fs';
import { spoolFs } from '../process/privilege';
import * as path from 'node:path';
import { DirSyncer, join, syncPath, unlinkQuiet, writeFileSynced } from './durable';
import { decodeEnvelope, encodeEnvelope, withReason, type Envelope } from './envelope';

export type EnvelopeState = 'new' | 'ready' | 'busy' | 'bad';

const SUFFIX: Record<EnvelopeState, string> = {
  new: '.envelope.new',
  ready: '.envelope',
  busy: '.envelope.busy',
  bad: '.envelope.bad',
};

const WRITE_BUFFER = 64 * 1024;
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
    return join(this.dir, `${id}.content`);
  }

  envelopePath(id: string, state: EnvelopeState): string {
    return join(this.dir, id + SUFFIX[state]);
  }

  /** Start a new message: its content file is created now, nothing is visible until commit(). */
  async newMessage(): Promise<NewMessage> {
    for (let attempt = 0; ; attempt++) {
      const id = newMessageId();
      try {
        const fh = await spoolFs.open(this.contentPath(id), FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o660);
        return new NewMessage(this, id, fh);
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
    const names = await spoolFs.readdir(this.dir);
    const suffix = SUFFIX[state];
    return names.filter((n) => stateOf(n) === state).map((n) => n.slice(0, -suffix.length));
  }

  async readEnvelope(id: string, state: EnvelopeState): Promise<Envelope> {
    return decodeEnvelope(await spoolFs.readFile(this.envelopePath(id, state)));
  }

  async move(id: string, from: EnvelopeState, to: EnvelopeState): Promise<boolean> {
    try {
      await spoolFs.rename(this.envelopePath(id, from), this.envelopePath(id, to));
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
    await unlinkQuiet(this.envelopePath(id, state));
    await unlinkQuiet(this.contentPath(id));
  }

  /** Rewrite a busy envelope (via a .tmp file renamed over it) and move it to `to`. */
  async rewriteAndMove(id: string, env: Envelope, to: EnvelopeState): Promise<void> {
    const busy = this.envelopePath(id, 'busy');
    const tmp = busy + '.tmp';
    await writeFileSynced(tmp, encodeEnvelope(env), 0o660, true);
    await spoolFs.rename(tmp, busy);
    if (to !== 'busy') await spoolFs.rename(busy, this.envelopePath(id, to));
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

export function stateOf(name: string): EnvelopeState | null {
  if (name.endsWith('.envelope')) return 'ready';
  if (name.endsWith('.envelope.busy')) return 'busy';
  if (name.endsWith('.envelope.bad')) return 'bad';
  if (name.endsWith('.envelope.new')) return 'new';
  return null;
}

/** A message being received: add content, then commit() or rollback(). Never both. */
export class NewMessage {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private done = false;
  /** Every chunk, while the message is small enough to keep in the commit cache. */
  private small: Buffer[] | null = [];
  bytes = 0;
  /** A server filter took the message over (exit 100): it was answered 250 but may not be in the spool. */
  abandoned = false;

  constructor(
    private readonly spool: Spool,
    readonly id: string,
    private fh: import('node:fs/promises').FileHandle | null,
  ) {}


  async write(chunk: Buffer): Promise<void> {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.bytes += chunk.length;
    if (this.small && this.bytes <= SMALL_MESSAGE) this.small.push(chunk);
    else this.small = null;
    if (this.bufferedBytes >= WRITE_BUFFER) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.bufferedBytes || !this.fh) return;
    const data = this.buffered.length === 1 ? this.buffered[0] : Buffer.concat(this.buffered, this.bufferedBytes);
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.fh.write(data);
  }

  /**
   * Content fsync'd, envelope written and fsync'd as .new, renamed to .envelope, directory fsync'd.
   * Only after this resolves may the client be told 250.
   */
  async commit(env: Envelope): Promise<void> {
    await this.prepare(env);
    await this.publish();
    this.spool.recent.put(this.id, { env, content: this.small ? Buffer.concat(this.small, this.bytes) : undefined });
  }

  /** Everything written and fsync'd, the envelope as .new: what a server filter sees. */
  async prepare(env: Envelope): Promise<void> {
    if (this.done || !this.fh) throw new Error('message already finished');
    try {
      await this.flush();
      await Promise.all([this.fh.sync(), writeFileSynced(this.spool.envelopePath(this.id, 'new'), encodeEnvelope(env))]);
      await this.fh.close();
      this.fh = null;
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
      this.done = true;
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
    if (this.done) throw new Error('message already finished');
    try {
      await spoolFs.rename(this.spool.envelopePath(this.id, 'new'), this.spool.envelopePath(this.id, 'ready'));
      await this.spool.syncDir();
      this.done = true;
    } catch (e) {
      await this.rollback();
      throw e;
    }
  }

  /** Remove whatever was written. Safe to call more than once and after a failed commit. */
  async rollback(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.buffered = [];
    if (this.fh) {
      await this.fh.close().catch(() => undefined);
      this.fh = null;
    }
    await unlinkQuiet(this.spool.envelopePath(this.id, 'new')).catch(() => undefined);
    await unlinkQuiet(this.spool.envelopePath(this.id, 'ready')).catch(() => undefined);
    await unlinkQuiet(this.spool.contentPath(this.id)).catch(() => undefined);
  }
}
