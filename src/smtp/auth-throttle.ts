// Failed SMTP AUTH attempts, counted per client address: each failure is answered after a delay
// that doubles with every failure (base, 2x, 4x ... capped at 32x), and after `limit` failures the
// address gets a temporary refusal (454) for every AUTH until `lockoutMs` has passed since its last
// failure. A success clears the address's count. The table is bounded: the oldest entries go first.
export interface ThrottleSettings {
  /** Failures before AUTH is refused for a while; 0: never refused. */
  limit: number;
  /** How long the refusal lasts, and how long a failure is remembered. */
  lockoutMs: number;
  /** Delay of the first failure reply; 0: no delay. */
  delayMs: number;
}

interface Entry {
  failures: number;
  last: number;
}

const MAX_ENTRIES = 10000;
const MAX_DELAY_FACTOR = 32;

export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly settings: ThrottleSettings, private readonly now: () => number = Date.now) {}

  private entry(address: string): Entry | undefined {
    const e = this.entries.get(address);
    if (e && this.now() - e.last >= this.settings.lockoutMs) {
      this.entries.delete(address);
      return undefined;
    }
    return e;
  }

  /** Milliseconds until this address may try again; 0 if it may try now. */
  refusedFor(address: string): number {
    const e = this.entry(address);
    if (!e || this.settings.limit === 0 || e.failures < this.settings.limit) return 0;
    return Math.max(0, e.last + this.settings.lockoutMs - this.now());
  }

  /** Record a failure; returns how long to wait before answering it. */
  failed(address: string): { delayMs: number; failures: number; lockedOut: boolean } {
    const e = this.entry(address) ?? { failures: 0, last: 0 };
    e.failures++;
    e.last = this.now();
    this.entries.delete(address);
    this.entries.set(address, e); // most recent last
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    const factor = Math.min(2 ** (e.failures - 1), MAX_DELAY_FACTOR);
    return {
      delayMs: this.settings.delayMs * factor,
      failures: e.failures,
      lockedOut: this.settings.limit > 0 && e.failures >= this.settings.limit,
    };
  }

  succeeded(address: string): void {
    this.entries.delete(address);
  }
}
