// Failed password checks, counted per client address, for every listener that checks one: SMTP AUTH,
// POP (USER/PASS, APOP, AUTH) and the admin password (admin interface and status page). One instance
// serves them all, so a failure on one listener counts on the others.
//
// Each failure is answered after a delay that doubles with every failure from the address (base, 2x,
// 4x ... capped at 32x). After `limit` failures the address is refused, unchecked, until `lockoutMs`
// has passed since its last failure. A success clears the address's count. Only the guessing address
// is refused: the rightful user elsewhere is not.
//
// IPv6: one host usually holds a whole /64 and can change addresses within it at will, so failures
// also count towards the address's /64, which is refused after PREFIX_FACTOR times the limit. An
// ordinary LAN shares one /64, so the /64 gets more room than one address: one device with a stale
// password locks out only itself. IPv4 addresses (and IPv4-mapped IPv6 ones) count one by one.
//
// Memory is bounded: an entry is forgotten `lockoutMs` after its last failure, and at most
// MAX_TRACKED entries are kept (the one with the oldest failure goes first).
import { addressBytes } from '../net/address-range';

export interface ThrottleSettings {
  /** Failures before an address is refused for a while; 0: never refused. */
  limit: number;
  /** How long the refusal lasts, and how long a failure is remembered. */
  lockoutMs: number;
  /** Delay of the first failure reply; 0: no delay. */
  delayMs: number;
}

export interface Failure {
  /** How long to wait before answering the failure. */
  delayMs: number;
  /** Failures from this address so far. */
  failures: number;
  /** The address (or its /64) is refused from now on. */
  lockedOut: boolean;
}

interface Entry {
  failures: number;
  last: number;
}

/** About 150 bytes an entry: some 1.5 MB at most. */
export const MAX_TRACKED = 10000;
const MAX_DELAY_FACTOR = 32;
export const PREFIX_FACTOR = 4;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The counters an address's failures go to: its own, and for IPv6 its /64's. */
export function throttleKeys(address: string): { address: string; prefix?: string } {
  const bytes = addressBytes(address);
  if (!bytes) return { address: `?${address}` };
  const mapped = bytes.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
  if (mapped) return { address: `4:${bytes.subarray(12).join('.')}` };
  return { address: `6:${hex(bytes)}`, prefix: `6:${hex(bytes.subarray(0, 8))}::/64` };
}

export function pause(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

export class AuthThrottle {
  /** Ordered by last failure, oldest first. */
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly settings: ThrottleSettings,
    private readonly now: () => number = Date.now,
    private readonly maxTracked = MAX_TRACKED,
  ) {}

  /** Addresses and /64s remembered now. */
  get tracked(): number {
    this.forgetExpired();
    return this.entries.size;
  }

  private forgetExpired(): void {
    const oldest = this.now() - this.settings.lockoutMs;
    for (const [key, e] of this.entries) {
      if (e.last > oldest) break;
      this.entries.delete(key);
    }
  }

  private refusedKey(key: string | undefined, limit: number): number {
    const e = key === undefined ? undefined : this.entries.get(key);
    if (!e || e.failures < limit) return 0;
    return Math.max(0, e.last + this.settings.lockoutMs - this.now());
  }

  /** Milliseconds until this address may try again; 0 if it may try now. */
  refusedFor(address: string): number {
    if (this.settings.limit === 0) return 0;
    this.forgetExpired();
    const keys = throttleKeys(address);
    return Math.max(this.refusedKey(keys.address, this.settings.limit), this.refusedKey(keys.prefix, this.settings.limit * PREFIX_FACTOR));
  }

  private count(key: string): number {
    const e = this.entries.get(key) ?? { failures: 0, last: 0 };
    e.failures++;
    e.last = this.now();
    this.entries.delete(key);
    this.entries.set(key, e); // most recent last
    return e.failures;
  }

  /** Record a failure; says how long to wait before answering it. */
  failed(address: string): Failure {
    this.forgetExpired();
    const keys = throttleKeys(address);
    const failures = this.count(keys.address);
    const prefixFailures = keys.prefix === undefined ? 0 : this.count(keys.prefix);
    while (this.entries.size > this.maxTracked) this.entries.delete(this.entries.keys().next().value as string);
    const { limit, delayMs } = this.settings;
    return {
      delayMs: delayMs * Math.min(2 ** (failures - 1), MAX_DELAY_FACTOR),
      failures,
      lockedOut: limit > 0 && (failures >= limit || prefixFailures >= limit * PREFIX_FACTOR),
    };
  }

  /** A right password: the address's count is cleared (its /64's is not: it runs out by itself). */
  succeeded(address: string): void {
    this.entries.delete(throttleKeys(address).address);
  }
}
