// The status page's "Sign in" for the mailboxes of "page:" oauth-refresh lines: starts the
// device-code flow, polls in the background until someone has signed in (or the code expired, or
// the sign-in was declined), then keeps the refresh token in the state directory (0600) and asks
// the runner to try the waiting messages at once. Tokens and codes for the token endpoint never
// reach the log; the user code is shown on the page only while the sign-in is pending.
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { GrantLine, PageSignIn } from '../../auth/oauth-lines';
import { readSecretsFile } from '../../auth/secrets';
import { pollDeviceFlow, SLOW_DOWN_STEP_MS, startDeviceFlow, type DeviceStart } from './device-flow';
import { pageClient, pageEndpoints, pageScope, pageTokenFile, type Authorities } from './page-grant';
import { saveTokenFile, type TokenFile } from './token-file';
import type { TokenLog, TokenSources, TokenState } from './tokens';

export type PageGrant = Extract<GrantLine, { page: PageSignIn }>;

export interface PendingSignIn {
  userCode: string;
  verificationUrl: string;
  expiresAt: number;
}

export interface SignInView {
  /** The grant line's key: names the mailbox in the page's forms. */
  id: string;
  mailbox: string;
  provider: PageSignIn['provider'];
  /** The secrets file's name and the line, to say where the mailbox is set. */
  file: string;
  line: number;
  /** When someone last signed in (from the token file), or null. */
  signedInAt: number | null;
  token: TokenState;
  pending: PendingSignIn | null;
  /** How the last sign-in on the page ended, when it did not work. */
  problem: string;
}

export interface PageSignInDeps {
  /** The --client-auth secrets file (undefined: none, or an inline plain: value). */
  secretsFile: string | undefined;
  stateDir: string;
  tokens: TokenSources;
  authorities: Authorities;
  /** The relay forwards through Microsoft Graph (Mail.Send) rather than SMTP (SMTP.Send). */
  graph: boolean;
  log: TokenLog;
  /** A mailbox has just signed in: retry what waits for it. */
  signedIn(mailbox: string): void;
  now?: () => number;
}

interface Flow {
  pending: PendingSignIn | null;
  problem: string;
  timer: NodeJS.Timeout | null;
}

const PROVIDER_NAME = { microsoft: 'Microsoft', google: 'Google' } as const;

export class PageSignIns {
  private readonly flows = new Map<string, Flow>();
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly deps: PageSignInDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The "page:" lines of the secrets file as it is now. */
  grants(): PageGrant[] {
    if (!this.deps.secretsFile) return [];
    const out: PageGrant[] = [];
    for (const account of readSecretsFile(this.deps.secretsFile).secrets.client.values()) {
      const g = account.grant;
      if (g?.type === 'oauth-refresh' && g.page) out.push(g);
    }
    return out;
  }

  private tokenFile(g: PageGrant): string {
    return pageTokenFile(this.deps.stateDir, g.mailbox, g.page);
  }

  async list(): Promise<SignInView[]> {
    return Promise.all(
      this.grants().map(async (g) => {
        const flow = this.flows.get(g.key);
        const pending = flow?.pending && flow.pending.expiresAt > this.now() ? flow.pending : null;
        return {
          id: g.key,
          mailbox: g.mailbox,
          provider: g.page.provider,
          file: path.basename(this.deps.secretsFile ?? ''),
          line: g.line,
          signedInAt: this.signedInAt(g),
          token: await this.deps.tokens.for(g).state(),
          pending,
          problem: flow?.problem ?? '',
        };
      }),
    );
  }

  private signedInAt(g: PageGrant): number | null {
    try {
      const t = Date.parse((JSON.parse(readFileSync(this.tokenFile(g), 'utf8')) as TokenFile).signed_in_at ?? '');
      return Number.isNaN(t) ? 0 : t;
    } catch {
      return null;
    }
  }

  /** Start (or keep) a sign-in for the line with this id; returns the mailbox, or null for no such line. */
  async start(id: string): Promise<string | null> {
    const g = this.grants().find((x) => x.key === id);
    if (!g) return null;
    const current = this.flows.get(id);
    if (current?.pending && current.pending.expiresAt > this.now()) return g.mailbox;
    if (current?.timer) clearTimeout(current.timer);
    const flow: Flow = { pending: null, problem: '', timer: null };
    this.flows.set(id, flow);
    const { deviceUrl, tokenUrl } = pageEndpoints(g.page, this.deps.authorities);
    const scope = pageScope(g.page, this.deps.graph);
    let d: DeviceStart;
    try {
      d = await startDeviceFlow(deviceUrl, pageClient(g.page), scope, this.now());
    } catch (e) {
      flow.problem = `${PROVIDER_NAME[g.page.provider]} did not start the sign-in: ${(e as Error).message}`;
      this.deps.log.warn({ mailbox: g.mailbox, err: (e as Error).message }, 'status page: cannot start the sign-in');
      return g.mailbox;
    }
    flow.pending = { userCode: d.userCode, verificationUrl: d.verificationUrl, expiresAt: d.expiresAt };
    this.deps.log.info(
      { mailbox: g.mailbox, provider: g.page.provider, expiresInSeconds: Math.round((d.expiresAt - this.now()) / 1000) },
      'status page: sign-in started, waiting for someone to enter the code',
    );
    this.poll(g, flow, d, tokenUrl, scope, d.intervalMs);
    return g.mailbox;
  }

  private poll(g: PageGrant, flow: Flow, d: DeviceStart, tokenUrl: string, scope: string, intervalMs: number): void {
    const end = (problem: string) => {
      flow.pending = null;
      flow.timer = null;
      flow.problem = problem;
      if (problem) this.deps.log.warn({ mailbox: g.mailbox, problem }, 'status page: the sign-in did not work');
    };
    if (this.stopped) return;
    if (this.now() >= d.expiresAt) return end('the code expired before anyone signed in: press Sign in again');
    flow.timer = setTimeout(() => {
      flow.timer = null;
      pollDeviceFlow(tokenUrl, pageClient(g.page), d.deviceCode)
        .then(async (r) => {
          if (this.stopped || this.flows.get(g.key) !== flow) return;
          if (r.kind === 'pending') return this.poll(g, flow, d, tokenUrl, scope, intervalMs);
          if (r.kind === 'slow-down') return this.poll(g, flow, d, tokenUrl, scope, intervalMs + SLOW_DOWN_STEP_MS);
          if (r.kind === 'expired') return end('the code expired before anyone signed in: press Sign in again');
          if (r.kind === 'declined') return end('the sign-in was declined: press Sign in again and accept the permissions');
          if (!r.token.refresh_token) return end(`${PROVIDER_NAME[g.page.provider]} sent no refresh token: the application must allow offline access`);
          await this.keep(g, tokenUrl, scope, r.token.refresh_token);
          // Signed in from here on: the code leaves the page now, not after the first token is in place.
          end('');
          await this.deps.tokens.for(g).accept(r.token);
          this.deps.log.info({ mailbox: g.mailbox, provider: g.page.provider }, 'status page: signed in; the refresh token is kept on the data partition');
          this.deps.signedIn(g.mailbox);
        })
        .catch((e: Error) => {
          if (this.flows.get(g.key) === flow) end(`the sign-in failed: ${e.message}`);
        });
    }, intervalMs);
    flow.timer.unref?.();
  }

  private async keep(g: PageGrant, tokenUrl: string, scope: string, refreshToken: string): Promise<void> {
    const file = this.tokenFile(g);
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await saveTokenFile(file, {
      provider: g.page.provider,
      token_url: tokenUrl,
      client_id: g.page.clientId,
      scope,
      refresh_token: refreshToken,
      mailbox: g.mailbox,
      signed_in_at: new Date(this.now()).toISOString(),
    });
  }

  /** Shutdown: no more polls. */
  stop(): void {
    this.stopped = true;
    for (const f of this.flows.values()) if (f.timer) clearTimeout(f.timer);
  }
}
