// Connection limits: at most `perAddress` open SMTP connections from one client address and at most
// `total` altogether (0: no limit). Each accepted connection is counted once and released once.
// From 3/4 of `total` open the relay is busy (Postfix's stress mode): timeouts are cut then.
export class ConnectionLimits {
  private readonly byAddress = new Map<string, number>();
  private readonly counted = new Set<string>();

  constructor(
    private readonly total: number,
    private readonly perAddress: number,
  ) {}

  /** Count a new connection; returns the reason if it must be refused (nothing is counted then). */
  admit(sessionId: string, address: string): string | null {
    if (this.total && this.counted.size >= this.total) return 'too many connections';
    const n = this.byAddress.get(address) ?? 0;
    if (this.perAddress && n >= this.perAddress) return 'too many connections from your address';
    this.byAddress.set(address, n + 1);
    this.counted.add(`${sessionId}\0${address}`);
    return null;
  }

  release(sessionId: string, address: string): void {
    if (!this.counted.delete(`${sessionId}\0${address}`)) return;
    const n = (this.byAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.byAddress.delete(address);
    else this.byAddress.set(address, n);
  }

  open(): number {
    return this.counted.size;
  }

  /** The share of `total` from which the relay counts as busy. */
  static readonly BUSY_SHARE = 3 / 4;

  busy(): boolean {
    return this.total > 0 && this.counted.size >= Math.ceil(this.total * ConnectionLimits.BUSY_SHARE);
  }
}
