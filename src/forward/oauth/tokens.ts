// Access tokens for the OAuth2 grant lines: fetched when needed, refreshed before they expire,
// kept in memory and on disk (<spool>/.relaybox/oauth, mode 0600) so a restart does not ask again.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { GrantLine } from '../../auth/oauth-lines';
import { writeFileSynced } from '../../spool/durable';
import { fetchToken, grantScope, type GrantContext } from './grants';

export interface AccessToken {
  token: string;
  expiresAt: number;
  /** Fetched just now for this request (not from a cache): a refusal then is not about age. */
  fresh: boolean;
}

export interface TokenLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Refresh this long before expiry: 5 minutes, or a quarter of a short lifetime. */
function refreshMargin(lifetimeMs: number): number {
  return Math.min(5 * 60_000, lifetimeMs / 4);
}

interface CacheEntry {
  access_token: string;
  expires_at: number;
  issued_at: number;
}

/** What the status page shows of a token source. */
export interface TokenState {
  /** When the access token in hand expires (0: none). */
  validUntil: number;
  /** When the last token was obtained (0: not since start). */
  lastRefreshAt: number;
  lastError: string;
  lastErrorAt: number;
}

export class TokenSource {
  private current: CacheEntry | null = null;
  private lastRefreshAt = 0;
  private lastError = '';
  private lastErrorAt = 0;
  private loading: Promise<void> | null = null;
  private inFlight: Promise<AccessToken> | null = null;
  readonly scope: string;
  private readonly file: string;

  constructor(
    readonly grant: GrantLine,
    private readonly ctx: GrantContext,
    stateDir: string,
    private readonly log: TokenLog,
  ) {
    this.scope = grantScope(grant, ctx);
    const name = createHash('sha256').update(`${grant.key}\n${this.scope}`).digest('hex').slice(0, 32);
    this.file = path.join(stateDir, 'oauth', `${name}.json`);
  }

  get mailbox(): string {
    return this.grant.mailbox;
  }

  private usable(e: CacheEntry | null): e is CacheEntry {
    const now = this.ctx.now();
    return !!e && now < e.expires_at - refreshMargin(e.expires_at - e.issued_at);
  }

  /** Read the disk cache once; concurrent callers wait for the same read. */
  private load(): Promise<void> {
    this.loading ??= this.readCache();
    return this.loading;
  }

  private async readCache(): Promise<void> {
    try {
      const j = JSON.parse(await fsp.readFile(this.file, 'utf8')) as CacheEntry;
      if (typeof j.access_token === 'string' && typeof j.expires_at === 'number' && typeof j.issued_at === 'number') this.current = j;
    } catch {
      // no cache yet, or unreadable: a new token is fetched
    }
  }

  private async save(e: CacheEntry): Promise<void> {
    try {
      await fsp.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await fsp.rm(tmp, { force: true });
      await writeFileSynced(tmp, JSON.stringify(e), 0o600);
      await fsp.rename(tmp, this.file);
    } catch (err) {
      this.log.warn({ file: this.file, err: (err as Error).message }, 'cannot keep the access token on disk: it is kept in memory only');
    }
  }

  /** A token valid for a while yet; refreshed first when it is close to expiry. */
  async get(): Promise<AccessToken> {
    await this.load();
    if (this.usable(this.current)) return { token: this.current.access_token, expiresAt: this.current.expires_at, fresh: false };
    return this.refresh();
  }

  /** A new token, whatever the cache holds (one request at a time). */
  refresh(): Promise<AccessToken> {
    this.inFlight ??= (async () => {
      const issued = this.ctx.now();
      let answer;
      try {
        answer = await fetchToken(this.grant, this.ctx);
      } catch (e) {
        this.lastError = (e as Error).message;
        this.lastErrorAt = this.ctx.now();
        throw e;
      }
      return this.accept(answer, issued);
    })().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Keep a token obtained elsewhere (the status page's sign-in) as the current one. */
  async accept(answer: { access_token: string; expires_in: number }, issued = this.ctx.now()): Promise<AccessToken> {
    await this.load();
    const entry: CacheEntry = { access_token: answer.access_token, issued_at: issued, expires_at: issued + answer.expires_in * 1000 };
    this.current = entry;
    this.lastRefreshAt = issued;
    this.lastError = '';
    this.log.info({ grant: this.grant.type, mailbox: this.grant.mailbox, expiresInSeconds: answer.expires_in }, 'obtained an OAuth2 access token');
    await this.save(entry);
    return { token: entry.access_token, expiresAt: entry.expires_at, fresh: true };
  }

  async state(): Promise<TokenState> {
    await this.load();
    return {
      validUntil: this.current?.expires_at ?? 0,
      lastRefreshAt: this.lastRefreshAt || (this.current?.issued_at ?? 0),
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
    };
  }

  /** The upstream refused this token: forget it, so the next get() fetches another. */
  invalidate(token: string): void {
    if (this.current?.access_token === token) {
      this.current = null;
      void fsp.rm(this.file, { force: true }).catch(() => undefined);
    }
  }
}

/** One TokenSource per grant line and scope, kept across re-reads of the secrets file. */
export class TokenSources {
  private readonly sources = new Map<string, TokenSource>();
  constructor(
    private readonly ctx: GrantContext,
    private readonly stateDir: string,
    private readonly log: TokenLog,
  ) {}

  /** Throws an OAuthError when the grant's files cannot be read. */
  for(grant: GrantLine): TokenSource {
    const key = `${grant.key}\n${grantScope(grant, this.ctx)}`;
    let s = this.sources.get(key);
    if (!s) this.sources.set(key, (s = new TokenSource(grant, this.ctx, this.stateDir, this.log)));
    return s;
  }
}
