// How many sessions with the default upstream a forwarding run may hold at once: --forward-connections,
// lowered for a while when the upstream refuses one session more than it allows. Exchange Online allows
// three per mailbox and answers the message of a fourth with "432 4.3.2 Concurrent connections limit
// exceeded" (https://learn.microsoft.com/en-us/exchange/troubleshoot/send-emails/smtp-submission-improvements);
// Exchange Server's receive connectors greet one too many with "421 4.3.2 The maximum number of
// concurrent connections has exceeded a limit".
import type { ForwardError } from './forward-error';

/** How long a lowered limit holds before the configured one is tried again. */
export const LOWERED_LIMIT_MS = 10 * 60_000;

/** The upstream says it has too many sessions from us, not that anything is wrong with the message. */
export function isTooManySessions(e: ForwardError): boolean {
  if (e.code !== 432 && e.code !== 421) return false;
  return /(^|\D)4\.3\.2(\D|$)|concurrent connection|thread limit/i.test(e.response ?? e.message);
}

export class SessionLimit {
  private lowered = 0;
  private until = 0;

  constructor(
    private readonly configured: number,
    private readonly now: () => number,
  ) {}

  current(): number {
    return this.lowered && this.now() < this.until ? this.lowered : this.configured;
  }

  /** The upstream took `sessions` at once and refused one more. */
  lowerTo(sessions: number): void {
    this.lowered = Math.max(1, Math.min(sessions, this.configured));
    this.until = this.now() + LOWERED_LIMIT_MS;
  }
}
