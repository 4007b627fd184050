// The one error type of forwarding (SMTP and Graph alike): what went wrong, and what the queue runner
// should do about it (retry or fail the message, stop the run, wait before the next try).
import type { OAuthError } from './oauth/token-errors';

export interface ForwardErrorOptions {
  /** The upstream's reply code (SMTP) or HTTP status (Graph). */
  code?: number;
  /** Retrying cannot help: the message fails (.bad). */
  permanent: boolean;
  /** The session failed before any message was sent (connect, greeting, TLS, sign-in). */
  atConnect: boolean;
  /** The upstream's own words, on one line. */
  response?: string;
  /** The upstream asked to wait this long before trying again (HTTP Retry-After). */
  retryAfterMs?: number;
  /** No connection was made at all (refused, no route, DNS, connect timeout). */
  unreached?: boolean;
}

export class ForwardError extends Error {
  readonly code: number | undefined;
  readonly permanent: boolean;
  readonly atConnect: boolean;
  readonly response: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly unreached: boolean;

  constructor(message: string, options: ForwardErrorOptions) {
    super(message);
    this.code = options.code;
    this.permanent = options.permanent;
    this.atConnect = options.atConnect;
    this.response = options.response;
    this.retryAfterMs = options.retryAfterMs;
    this.unreached = options.unreached ?? false;
  }
}

/** A token that could not be had: permanent when the configuration is at fault. */
export function oauthForwardError(e: OAuthError): ForwardError {
  return new ForwardError(e.message, { permanent: e.permanent, atConnect: true, retryAfterMs: e.retryAfterMs });
}
