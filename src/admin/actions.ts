// What the admin interface and the status page can do to the relay. main.ts supplies the relay's
// parts; both front ends call these, so a retry from either is logged and counted the same way.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Log } from '../log';
import type { Spool } from '../spool/store';
import type { RunSummary } from '../forward/runner';
import type { RelayEvents } from '../events/relay-events';
import type { Activity } from '../events/activity';
import type { SmtpControls } from '../smtp/controls';
import { pause, type AuthThrottle } from '../auth/throttle';
import { removeFailed, unfail, unfailAll, type Unfailed } from './queue';
import type { Step, TestMailRequest } from '../check/test-mail';

export interface RelayControl {
  spool: Spool;
  log: Log;
  /** The --forward-to text, when there is an upstream. */
  upstream?: string;
  /** Ask for a forwarding run (null when there is no upstream). */
  requestForward: ((why: string) => void) | null;
  /** One forwarding run now, awaited. */
  forwardNow: (() => Promise<RunSummary>) | null;
  /** Stop the process (admin "terminate"). */
  terminate(): void;
  adminPassword: string | null;
  adminTerminate: boolean;
  /** --dnsbl is configured (admin "dnsbl stop|start" can suspend it). */
  dnsbl: boolean;
  /** Failed passwords per client address, shared with SMTP AUTH and POP. */
  authThrottle: AuthThrottle;
  /** A test mail straight to the upstream, step by step (src/check/test-mail.ts). */
  testMail?(req: TestMailRequest): Promise<Step[]>;
  /** Where a retry or delete is announced. */
  events: RelayEvents;
  /** What the relay has been doing (counters, the upstream's state), for status and metrics. */
  activity: Activity;
  /** "smtp disable" and "dnsbl stop". */
  smtp: SmtpControls;
}

export type PasswordCheck = 'ok' | 'wrong' | 'locked';

/**
 * Constant-time check of the admin password given from `address` (both front ends). An address with
 * too many failed passwords or logins (--auth-failure-limit, counted with SMTP AUTH and POP) is
 * refused unchecked; other addresses are not. A wrong password is answered after the throttle's delay.
 */
export async function checkPassword(control: RelayControl, given: string, address: string): Promise<PasswordCheck> {
  if (control.adminPassword === null) return 'wrong';
  if (control.authThrottle.refusedFor(address) > 0) return 'locked';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(control.adminPassword).digest();
  if (timingSafeEqual(a, b)) {
    control.authThrottle.succeeded(address);
    return 'ok';
  }
  await pause(control.authThrottle.failed(address).delayMs);
  return 'wrong';
}

/** Whole seconds until `address` may give a password again. */
export function lockedForSeconds(control: RelayControl, address: string): number {
  return Math.ceil(control.authThrottle.refusedFor(address) / 1000);
}

function logUnfailed(control: RelayControl, id: string, old: Unfailed, by: string): void {
  control.events.step(
    control.log,
    'unfailed',
    { id, client: old.client, upstream: control.upstream, by, clearedReasons: old.reasons.map((r) => `${r.code ? r.code + ' ' : ''}${r.reason}`) },
    'failed message made ready again',
  );
}

/** Retry one failed message: ready again, reasons cleared, a forwarding run requested. */
export async function retryFailed(control: RelayControl, id: string, by: string): Promise<boolean> {
  const old = await unfail(control.spool, id);
  if (!old) return false;
  logUnfailed(control, id, old, by);
  control.requestForward?.(`${by}: retry ${id}`);
  return true;
}

/** Every failed message ready again (E-MailRelay "unfail-all"); returns how many. */
export async function retryAllFailed(control: RelayControl, by: string): Promise<number> {
  const done = await unfailAll(control.spool);
  for (const [id, old] of done) logUnfailed(control, id, old, by);
  return done.size;
}

/** Delete one failed message (its .bad envelope and its content), logged with what it was. */
export async function deleteFailed(control: RelayControl, id: string, by: string): Promise<boolean> {
  const gone = await removeFailed(control.spool, id);
  if (!gone) return false;
  control.events.step(
    control.log,
    'deleted',
    { id, client: gone.client, from: gone.from, to: gone.to.length, by, clearedReasons: gone.reasons.map((r) => `${r.code ? r.code + ' ' : ''}${r.reason}`) },
    'failed message deleted',
  );
  return true;
}
