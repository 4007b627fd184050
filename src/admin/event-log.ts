// The recent log the status page shows: each message's steps (received, filtered, forwarded,
// deferred, failed with the reason) and the warnings about devices (a refused client with its
// address and the hint of what to change). A ring of the last LIMIT events, in memory only; main.ts
// makes one and feeds it from the activity's step events and from the log's warnings.
import type { EventEmitter } from 'node:events';
import type { MessageStep, StepFields } from '../events/relay-events';

export const EVENT_LOG_LIMIT = 200;

export interface LogEvent {
  at: number;
  /** A message's step, or a warning about a device (a refused client, a sloppy one). */
  kind: 'message' | 'device';
  /** The message id (message events). */
  id?: string;
  step?: MessageStep;
  /** The device's address. */
  address?: string;
  text: string;
}

export class EventLog {
  private readonly ring: LogEvent[] = [];
  private next = 0;

  constructor(readonly limit = EVENT_LOG_LIMIT) {}

  add(e: LogEvent): void {
    if (this.ring.length < this.limit) this.ring.push(e);
    else this.ring[this.next] = e;
    this.next = (this.next + 1) % this.limit;
  }

  /** Newest first. */
  entries(): LogEvent[] {
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)].reverse();
  }
}

const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

/** One line saying what happened to the message in this step. */
export function describeStep(step: MessageStep, f: StepFields): string {
  const reason = str(f.reason) ? `${str(f.code) && !str(f.reason).includes(str(f.code)) ? `${str(f.code)} ` : ''}${str(f.reason)}` : '';
  switch (step) {
    case 'received':
      return `received from ${str(f.client) || 'a local program'}${str(f.from) ? ` (from <${str(f.from)}>)` : ''}`;
    case 'filtered':
      return `filter ${str(f.filter)}: ${str(f.outcome)}${reason ? `: ${reason}` : ''}`;
    case 'forwarded':
      return `forwarded to ${str(f.upstream)}${str(f.response) ? `: ${str(f.response)}` : ''}`;
    case 'partial':
      return `forwarded to some recipients; ${reason}`;
    case 'deferred':
      return `deferred (will be tried again${typeof f.retryInSeconds === 'number' ? ` in ${f.retryInSeconds} s` : ''}): ${reason}`;
    case 'failed':
      return `failed: ${reason}`;
    case 'retrying':
      return `trying again (attempt ${str(f.attempt)})`;
    case 'unfailed':
      return `queued again by ${str(f.by) || 'the admin'}`;
    case 'deleted':
      return `deleted by ${str(f.by) || 'the admin'}`;
  }
}

/** Feed the message steps an activity announces into `events`; returns the unsubscribe. */
export function recordSteps(activity: EventEmitter, events: EventLog, now: () => number = Date.now): () => void {
  const onStep = (step: MessageStep, f: StepFields) => events.add({ at: now(), kind: 'message', id: f.id, step, text: describeStep(step, f) });
  activity.on('step', onStep);
  return () => activity.off('step', onStep);
}

/**
 * A log tap (src/log.ts) that keeps the warnings about a device: lines at warning level or above
 * that name a client `address` and are not a message's step. Only the address and the sentence are
 * kept (the sentence carries the hint); never the other fields.
 */
export function deviceWarnings(events: EventLog, now: () => number = Date.now): (level: number, fields: Record<string, unknown>, msg: string) => void {
  return (level, fields, msg) => {
    if (level < 40 || 'step' in fields || typeof fields.address !== 'string' || !fields.address) return;
    events.add({ at: now(), kind: 'device', address: fields.address, text: msg });
  };
}
