// What happens to messages and to the upstream, announced by the parts that see it (smtp/, forward/,
// the admin's retry and delete) to the parts that keep or show it (events/activity.ts, which health/
// and admin/ read). main.ts makes one and passes it in; nothing shares an instance through an import.
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

export interface UpstreamSession {
  address: string;
  /** Negotiated TLS version ('no' without TLS). */
  tls: string;
  /** SASL mechanism of the login, '' when none. */
  auth: string;
  /** Expiry of the access token in use (ms since epoch), when the login uses one. */
  tokenExpiresAt?: number;
}

export type UpstreamErrorClass = 'connect' | 'tls' | 'auth' | 'timeout' | 'temporary' | 'permanent' | 'rejected' | 'network';

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

interface EventMap {
  step: [step: MessageStep, fields: StepFields];
  'upstream-connected': [session: UpstreamSession];
  'upstream-error': [address: string | undefined, cls: UpstreamErrorClass, error: string];
  expiry: [name: string, expiresAt: number | null];
}

export class RelayEvents extends EventEmitter<EventMap> {
  /** One step of a message's life: logged as one structured line, then announced. */
  step(log: Log, step: MessageStep, fields: StepFields, msg: string, level: 'info' | 'warn' | 'error' = 'info'): void {
    log[level]({ step, ...fields }, msg);
    this.emit('step', step, fields);
  }

  upstreamConnected(session: UpstreamSession): void {
    this.emit('upstream-connected', session);
  }

  upstreamError(address: string | undefined, cls: UpstreamErrorClass, error: string): void {
    this.emit('upstream-error', address, cls, error);
  }

  /** The expiry date (ms since epoch) of a credential the alerts watch, or null once it is gone. */
  setExpiry(name: string, expiresAt: number | null): void {
    this.emit('expiry', name, expiresAt);
  }
}
