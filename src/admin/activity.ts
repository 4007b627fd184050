// What the relay has been doing, for the admin interface, the status page, /metrics and the alerts:
// counters, the latency histogram, recent deliveries, the upstream's state. The runner and the SMTP
// server report each step of a message's life here with one call, which also writes the step's
// structured log line (message id, client, upstream, response), so the log tells a message's story.
import { EventEmitter } from 'node:events';
import type { Log } from '../log';

export type MessageStep = 'filtered' | 'received' | 'retrying' | 'forwarded' | 'partial' | 'deferred' | 'failed' | 'unfailed' | 'deleted';

export interface StepFields {
  id: string;
  /** The submitting client's address (the envelope's Client field). */
  client?: string;
  upstream?: string;
  /** The upstream's reply to a forwarded message. */
  response?: string;
  /** Why a message failed or was deferred (the upstream's reply, when it gave one). */
  reason?: string;
  code?: number | string;
  [k: string]: unknown;
}

export interface Delivery {
  id: string;
  at: number;
  upstream: string;
  response: string;
  ms: number;
}

export interface UpstreamState {
  address: string;
  /** Negotiated TLS version of the last session ('no' without TLS). */
  tls: string;
  /** SASL mechanism of the last login, '' when none. */
  auth: string;
  connectedAt: number;
  /** Expiry of the access token in use (ms since epoch), when the login uses one. */
  tokenExpiresAt?: number;
  lastError: string;
  lastErrorAt: number;
  /** Since when every attempt has failed (0: the last attempt worked). */
  failingSince: number;
}

export type UpstreamErrorClass = 'connect' | 'tls' | 'auth' | 'timeout' | 'temporary' | 'permanent' | 'rejected' | 'network';

/** Upper bounds (seconds) of the forwarding latency histogram. */
export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

const RECENT = 20;

export class Activity extends EventEmitter {
  readonly startedAt = Date.now();
  readonly counts = { received: 0, forwarded: 0, failed: 0, retried: 0, deferred: 0 };
  readonly latency = { buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
  readonly upstreamErrors = new Map<UpstreamErrorClass, number>();
  readonly recent: Delivery[] = [];
  upstream: UpstreamState | null = null;
  /** Admin "smtp disable" sets this: new SMTP sessions are then refused with 421. */
  smtpEnabled = true;
  /** Admin "dnsbl stop [seconds]": no DNSBL look-ups until then (Infinity: until "dnsbl start"). */
  dnsblSuspendedUntil = 0;

  dnsblSuspended(now = Date.now()): boolean {
    return now < this.dnsblSuspendedUntil;
  }
  /**
   * Expiry dates (ms since epoch) of credentials the alerts watch besides the TLS certificates, by
   * name: e.g. an OAuth2 refresh token or client secret, set by whatever code loads it.
   */
  readonly expiries = new Map<string, number>();

  setExpiry(name: string, expiresAt: number | null): void {
    if (expiresAt === null) this.expiries.delete(name);
    else this.expiries.set(name, expiresAt);
  }

  /** One step of a message's life: counted, logged as one structured line, announced to listeners. */
  step(log: Log, step: MessageStep, fields: StepFields, msg: string, level: 'info' | 'warn' | 'error' = 'info'): void {
    if (step === 'received') this.counts.received++;
    else if (step === 'forwarded') this.counts.forwarded++;
    else if (step === 'failed') this.counts.failed++;
    else if (step === 'retrying' || step === 'unfailed') this.counts.retried++;
    else if (step === 'deferred') this.counts.deferred++;
    if (step === 'forwarded' && typeof fields.ms === 'number') this.delivered(fields);
    log[level]({ step, ...fields }, msg);
    this.emit('step', step, fields);
  }

  private delivered(f: StepFields): void {
    const seconds = (f.ms as number) / 1000;
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) this.latency.buckets[i]!++;
    });
    this.latency.sum += seconds;
    this.latency.count++;
    this.recent.unshift({ id: f.id, at: Date.now(), upstream: f.upstream ?? '', response: f.response ?? '', ms: f.ms as number });
    this.recent.length = Math.min(this.recent.length, RECENT);
    if (this.upstream) this.upstream.failingSince = 0;
  }

  upstreamConnected(info: { address: string; tls: string; auth: string; tokenExpiresAt?: number }): void {
    this.upstream = { lastError: '', lastErrorAt: 0, ...this.upstream, ...info, connectedAt: Date.now(), failingSince: 0 };
    this.emit('upstream', 'connected');
  }

  upstreamError(address: string | undefined, cls: UpstreamErrorClass, error: string): void {
    this.upstreamErrors.set(cls, (this.upstreamErrors.get(cls) ?? 0) + 1);
    // A refused recipient or message is the upstream working as it should: only session trouble counts as failing.
    if (cls === 'rejected' || cls === 'permanent') return;
    const now = Date.now();
    const u = this.upstream ?? { address: address ?? '', tls: '', auth: '', connectedAt: 0, lastError: '', lastErrorAt: 0, failingSince: 0 };
    u.lastError = error;
    u.lastErrorAt = now;
    if (!u.failingSince) u.failingSince = now;
    this.upstream = u;
    this.emit('upstream', 'error');
  }

  /** A line for admin "notify" listeners (E-MailRelay's asynchronous EVENT lines). */
  notice(text: string): void {
    this.emit('notice', text);
  }
}

/** Sorts an error from the forwarding client into a class for /metrics. */
export function classifyUpstreamError(e: { message: string; code?: number; permanent?: boolean; atConnect?: boolean }): UpstreamErrorClass {
  const m = e.message.toLowerCase();
  if (m.startsWith('authentication failed')) return 'auth';
  if (/tls|certificate|ssl/.test(m)) return 'tls';
  if (/timed? ?out|timeout/.test(m)) return 'timeout';
  if (e.code !== undefined && e.code >= 500) return 'permanent';
  if (e.code !== undefined && e.code >= 400) return 'temporary';
  if (e.atConnect) return 'connect';
  return 'network';
}

/** The process's one record of activity (the runner, the SMTP server and the admin side share it). */
export const activity = new Activity();
