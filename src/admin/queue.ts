// The spool as the admin side sees it: counts per state, the oldest waiting message, the failed
// messages with their reasons, and un-failing (E-MailRelay's "unfail-all", section 3.3).
import { spoolFs } from '../process/privilege';
import { writeFileSynced } from '../spool/durable';
import { decodeEnvelope, encodeEnvelope, FIELD_PREFIX, reasons, type Envelope } from '../spool/envelope';
import { stateOf, type Spool } from '../spool/store';

export interface FailedMessage {
  id: string;
  from: string;
  to: string[];
  /** The last failure reason and code, and how many failures the envelope records. */
  reason: string;
  code: string;
  attempts: number;
  ageSeconds: number;
}

export interface QueueSnapshot {
  ready: number;
  busy: number;
  failed: number;
  /** Age of the oldest message waiting to be forwarded (ready or busy), null when none waits. */
  oldestAgeSeconds: number | null;
  failures: FailedMessage[];
}

/** The failed messages listed in full; more are counted but not read. */
const LISTED_FAILURES = 100;

async function ageSeconds(spool: Spool, id: string, now: number): Promise<number | null> {
  try {
    return Math.max(0, (now - (await spoolFs.stat(spool.contentPath(id))).mtimeMs) / 1000);
  } catch {
    return null;
  }
}

export async function queueSnapshot(spool: Spool, now = Date.now()): Promise<QueueSnapshot> {
  const names = await spoolFs.readdir(spool.dir);
  const ids = { ready: [] as string[], busy: [] as string[], bad: [] as string[] };
  for (const n of names) {
    const state = stateOf(n);
    if (state === 'ready') ids.ready.push(n.slice(0, -'.envelope'.length));
    else if (state === 'busy') ids.busy.push(n.slice(0, -'.envelope.busy'.length));
    else if (state === 'bad') ids.bad.push(n.slice(0, -'.envelope.bad'.length));
  }
  let oldest: number | null = null;
  for (const id of [...ids.ready, ...ids.busy]) {
    const age = await ageSeconds(spool, id, now);
    if (age !== null && (oldest === null || age > oldest)) oldest = age;
  }
  const failures: FailedMessage[] = [];
  for (const id of ids.bad.sort().slice(0, LISTED_FAILURES)) {
    let env: Envelope | null = null;
    let unreadable = '';
    try {
      env = await spool.readEnvelope(id, 'bad');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // retried meanwhile
      unreadable = (e as Error).message;
    }
    const rs = env ? reasons(env) : [];
    const last = rs.at(-1);
    failures.push({
      id,
      from: env?.from ?? '',
      to: env?.toRemote ?? [],
      reason: unreadable ? `envelope cannot be read: ${unreadable}` : last?.reason ?? '(no reason recorded)',
      code: last?.code ?? '',
      attempts: rs.length,
      ageSeconds: (await ageSeconds(spool, id, now)) ?? 0,
    });
  }
  return { ready: ids.ready.length, busy: ids.busy.length, failed: ids.bad.length, oldestAgeSeconds: oldest, failures };
}

const REASON_PREFIX = `${FIELD_PREFIX}Reason`;

/** The envelope without its Reason/ReasonCode lines (the failure history starts afresh). */
export function withoutReasons(env: Envelope): Envelope {
  return { ...env, tail: env.tail.filter((l) => !l.startsWith(REASON_PREFIX)) };
}

/**
 * Make one failed message ready again, its failure reasons cleared. Returns the reasons it had (for
 * the log, so nothing is lost) and its client, or null when there is no such failed message. The envelope is
 * rewritten in place (tmp file renamed over the .bad) and then renamed to ready: every step atomic.
 */
export interface Unfailed {
  /** The failure reasons the envelope had, oldest first. */
  reasons: { reason: string; code: string }[];
  client: string;
}

/** An id that names a file in the spool directory and nothing else. */
const spoolId = (id: string) => /^[^/\\\0]+$/.test(id) && !id.startsWith('.');

export async function unfail(spool: Spool, id: string): Promise<Unfailed | null> {
  if (!spoolId(id)) return null;
  const bad = spool.envelopePath(id, 'bad');
  let env: Envelope;
  try {
    env = decodeEnvelope(await spoolFs.readFile(bad));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // An envelope we cannot parse is renamed back unchanged, as E-MailRelay's unfail-all does.
    if (!(await spool.move(id, 'bad', 'ready'))) return null;
    await spool.syncDir();
    return { reasons: [], client: '' };
  }
  const tmp = bad + '.tmp';
  await writeFileSynced(tmp, encodeEnvelope(withoutReasons(env)), 0o660, true);
  await spoolFs.rename(tmp, bad);
  if (!(await spool.move(id, 'bad', 'ready'))) return null;
  await spool.syncDir();
  return { reasons: reasons(env), client: env.client };
}

/** Every failed message back to ready (admin "unfail-all"); returns the ids with their old reasons. */
export async function unfailAll(spool: Spool): Promise<Map<string, Unfailed>> {
  const done = new Map<string, Unfailed>();
  for (const id of (await spool.listState('bad')).sort()) {
    const old = await unfail(spool, id).catch(() => null); // errors ignored, as E-MailRelay does
    if (old) done.set(id, old);
  }
  return done;
}

export interface Removed extends Unfailed {
  from: string;
  to: string[];
}

/**
 * Delete one failed message: its envelope first (then the message is gone for every reader), then
 * its content. Returns what it was, for the log, or null when there is no such failed message.
 */
export async function removeFailed(spool: Spool, id: string): Promise<Removed | null> {
  if (!spoolId(id)) return null;
  let env: Envelope | null = null;
  try {
    env = await spool.readEnvelope(id, 'bad');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // an unreadable envelope is deleted all the same: that is what the user asked for
  }
  try {
    await spoolFs.unlink(spool.envelopePath(id, 'bad'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  await spool.remove(id, 'bad');
  await spool.syncDir();
  return { reasons: env ? reasons(env) : [], client: env?.client ?? '', from: env?.from ?? '', to: env?.toRemote ?? [] };
}
