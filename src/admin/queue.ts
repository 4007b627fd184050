// The spool as the admin side sees it: counts per state, the oldest waiting message, the failed
// messages with their reasons, and un-failing (E-MailRelay's "unfail-all", section 3.3).
import { FIELD_PREFIX, reasons, type Envelope } from '../spool/envelope';
import type { Spool } from '../spool/store';

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
    return Math.max(0, (await spool.contentAgeMs(id, now)) / 1000);
  } catch {
    return null;
  }
}

export async function queueSnapshot(spool: Spool, now = Date.now()): Promise<QueueSnapshot> {
  const ids = await spool.listStates();
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
      reason: unreadable ? `envelope cannot be read: ${unreadable}` : (last?.reason ?? '(no reason recorded)'),
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

export interface Unfailed {
  /** The failure reasons the envelope had, oldest first. */
  reasons: { reason: string; code: string }[];
  client: string;
}

/**
 * Make one failed message ready again, its failure reasons cleared. Returns the reasons it had (for
 * the log, so nothing is lost) and its client, or null when there is no such failed message. The envelope is
 * rewritten in place (tmp file renamed over the .bad) and then renamed to ready: every step atomic.
 */
export async function unfail(spool: Spool, id: string): Promise<Unfailed | null> {
  const was = await spool.unfail(id, withoutReasons);
  if (!was) return null;
  return { reasons: was.env ? reasons(was.env) : [], client: was.env?.client ?? '' };
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
  const was = await spool.removeFailed(id);
  if (!was) return null;
  const env = was.env;
  return { reasons: env ? reasons(env) : [], client: env?.client ?? '', from: env?.from ?? '', to: env?.toRemote ?? [] };
}
