// What the relay has been doing, kept from its events for the admin interface, the status page,
// /metrics and the alerts: counters, the latency histogram, recent deliveries, the upstream's state,
// watched credential expiries. Readers that react to a change listen here ('step', 'upstream'), so
// that they see the record already updated.
import { EventEmitter } from 'node:events';
import type { MessageStep, RelayEvents, StepFields, UpstreamErrorClass, UpstreamSession } from './relay-events';

export interface Delivery {
  id: string;
  at: number;
  upstream: string;
  response: string;
  ms: number;
}

export interface UpstreamState extends UpstreamSession {
  connectedAt: number;
  lastError: string;
  lastErrorAt: number;
  /** Since when every attempt has failed (0: the last attempt worked). */
  failingSince: number;
}

/** Upper bounds (seconds) of the forwarding latency histogram. */
export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

const RECENT = 20;

interface ActivityEvents {
  step: [step: MessageStep, fields: StepFields];
  upstream: [change: 'connected' | 'error'];
}

export class Activity extends EventEmitter<ActivityEvents> {
  readonly startedAt = Date.now();
  readonly counts = { received: 0, forwarded: 0, failed: 0, retried: 0, deferred: 0 };
  readonly latency = { buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
  readonly upstreamErrors = new Map<UpstreamErrorClass, number>();
  readonly recent: Delivery[] = [];
  upstream: UpstreamState | null = null;
  /** Expiry dates (ms since epoch) of credentials the alerts watch besides the TLS certificates, by name. */
  readonly expiries = new Map<string, number>();

  constructor(events: RelayEvents) {
    super();
    events.on('step', (step, fields) => this.step(step, fields));
    events.on('upstream-connected', (session) => this.upstreamConnected(session));
    events.on('upstream-error', (address, cls, error) => this.upstreamError(address, cls, error));
    events.on('expiry', (name, at) => (at === null ? this.expiries.delete(name) : this.expiries.set(name, at)));
  }

  private step(step: MessageStep, fields: StepFields): void {
    if (step === 'received') this.counts.received++;
    else if (step === 'forwarded') this.counts.forwarded++;
    else if (step === 'failed') this.counts.failed++;
    else if (step === 'retrying' || step === 'unfailed') this.counts.retried++;
    else if (step === 'deferred') this.counts.deferred++;
    if (step === 'forwarded' && typeof fields.ms === 'number') this.delivered(fields);
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

  private upstreamConnected(session: UpstreamSession): void {
    this.upstream = { lastError: '', lastErrorAt: 0, ...this.upstream, ...session, connectedAt: Date.now(), failingSince: 0 };
    this.emit('upstream', 'connected');
  }

  private upstreamError(address: string | undefined, cls: UpstreamErrorClass, error: string): void {
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
}
