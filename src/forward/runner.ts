// The queue runner: forwarding runs over the ready messages, triggered by start-up, --poll, client
// disconnects, --immediate and retry timers. A message's state lives in its file name; its retry
// history lives in the Reason lines of its envelope, so nothing here has to survive a restart.
import type { ForwardConfig, RetryConfig } from './config';
import type { Log } from '../log';
import { reasons, withReason, type Envelope } from '../spool/envelope';
import type { Spool } from '../spool/store';
import type { Upstream } from './upstream';
import { ForwardError } from './forward-error';
import { recipientsRejectedReason } from './reply-wording';
import { networkErrorWords } from '../net/error-words';
import type { FilterChain } from '../filters/chain';
import { classifyUpstreamError, type RelayEvents } from '../events/relay-events';
import { isTooManySessions, SessionLimit } from './session-limit';

export interface RunSummary {
  sent: number;
  failed: number;
  deferred: number;
  /** Set when the run could not reach the upstream at all. */
  error?: string;
}

export type Outcome = 'sent' | 'failed' | 'deferred' | 'skipped';

/** What one attempt on a message leaves for --immediate's reply to the client. */
export interface AttemptNote {
  /** Set when a client or routing filter failed the message: the response E-MailRelay gives in proxy mode. */
  filterResponse?: string;
  /** The last Reason line of the envelope as the attempt left it. */
  reason?: { reason: string; code: string };
  /** The upstream's reply that refused the message: proxy mode passes it on as it is, as E-MailRelay does. */
  upstreamReply?: { code: number; text: string };
}

/** What --immediate answers the client once forwarding has been tried. */
export interface ImmediateReply {
  ok: boolean;
  code?: number;
  text: string;
}

/** 250, a failing filter's response (452, as E-MailRelay answers), or the reason the message was deferred or failed. */
function immediateReply(outcome: Outcome, note: AttemptNote): ImmediateReply {
  if (outcome === 'sent' || outcome === 'skipped') return { ok: true, text: 'message processed' };
  if (note.filterResponse !== undefined) return { ok: false, code: 452, text: note.filterResponse };
  if (note.upstreamReply) return { ok: false, ...note.upstreamReply };
  return { ok: false, code: Number(note.reason?.code) || undefined, text: note.reason?.reason ?? 'forwarding failed' };
}

/**
 * The session to a message's own route, kept while the next messages have the same route: a change of
 * route (or account) drops it and opens another, as E-MailRelay does.
 */
interface RoutedSession {
  key?: string;
  up?: Upstream;
  /** Next hops that could not be reached in this run: their other messages wait for the next run, as E-MailRelay's do. */
  unreachable?: Set<string>;
  /** The run this session works for (not set for --immediate). */
  run?: LiveRun;
}

function closeRouted(routed: RoutedSession): void {
  routed.up?.close();
  routed.up = undefined;
}

/** A message's own next hop or client account, from its envelope (per-message routing). */
export interface Route {
  /** ForwardToAddress, when set. */
  address?: string;
  /** ClientAccountSelector, when set. */
  selector?: string;
}

export interface RunnerDeps {
  cfg: ForwardConfig;
  spool: Spool;
  log: Log;
  /** A session with --forward-to, or with a message's own route. */
  connect(route?: Route): Promise<Upstream>;
  clientFilter?: FilterChain;
  /** Where each message's steps and the upstream's troubles are announced. */
  events: RelayEvents;
  now?: () => number;
}

export function routeOf(env: Envelope): Route | null {
  if (!env.forwardToAddress && !env.clientAccountSelector) return null;
  return { address: env.forwardToAddress || undefined, selector: env.clientAccountSelector || undefined };
}

export function retryDelayMs(retry: RetryConfig, failures: number): number {
  const exp = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(retry.delay * 2 ** exp, retry.maxDelay) * 1000;
}

function printable(s: string): string {
  // Long enough for a reason that says what to fix followed by the server's reply.
  return s
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim()
    .slice(0, 1000);
}

/** How long an upstream session stays open between forwarding runs. */
const IDLE_UPSTREAM_MS = 2000;

/** The upstream refused one session more than it allows; the message `id` is back in ready, untouched. */
class SessionRefused extends Error {
  constructor(
    readonly id: string,
    reply: string,
  ) {
    super(reply);
  }
}

/** A forwarding run under way: the messages it still has to try, and its sessions' workers. */
interface LiveRun {
  queue: string[];
  /** Every message this run has taken on, so a later listing does not bring one back. */
  seen: Set<string>;
  workers: Set<Promise<void>>;
  refilling: Promise<void> | null;
  /** Start another worker for each waiting message, up to the session limit. */
  grow: () => void;
}

/** A message joins the run's queue, unless the run has taken it on already; false then. */
function takeOn(live: LiveRun, id: string): boolean {
  if (live.seen.has(id)) return false;
  live.seen.add(id);
  live.queue.push(id);
  return true;
}

/** No session with the upstream could be opened; `outcome` is what became of the message that tried. */
class UpstreamUnreachable extends Error {
  constructor(
    message: string,
    readonly outcome: Outcome,
  ) {
    super(message);
  }
}

export class QueueRunner {
  private running: Promise<RunSummary> | null = null;
  private again = false;
  private readonly deferredUntil = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private timerDue = 0;
  private upstreamFailures = 0;
  private upstreamRetryAt = 0;
  private stopped = false;
  /** A client filter asked for this run to stop after the message it saw (exit codes 102, 104, 105). */
  private stopScan = false;
  private readonly idleSessions: Upstream[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  /** Messages deferred before this time are tried at once (retryWaitingNow), whatever their back-off. */
  private backoffClearedAt = 0;
  private live: LiveRun | null = null;
  private readonly sessionLimit: SessionLimit;

  constructor(private readonly deps: RunnerDeps) {
    this.now = deps.now ?? Date.now;
    this.sessionLimit = new SessionLimit(deps.cfg.forwardConnections, this.now);
  }

  /**
   * A message was just committed (--forward-on-commit): it joins the run under way, which opens
   * another session for it if every session is busy and the limit allows; else a run starts.
   */
  offer(id: string): void {
    const live = this.live;
    if (!live || this.stopped || this.stopScan) return this.request('message committed');
    if (takeOn(live, id)) live.grow();
  }

  /** Ask for a forwarding run; one more is queued if a run is active ("still busy"). */
  request(why: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.deps.log.debug({ why }, 'forwarding run requested');
    this.running = this.run()
      .catch((e: Error) => {
        this.deps.log.error({ err: e.message }, 'forwarding run failed');
        return { sent: 0, failed: 0, deferred: 0, error: e.message } as RunSummary;
      })
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.request('queued trigger');
        }
      });
  }

  /**
   * Something that held every message up is fixed (a mailbox signed in on the status page): forget
   * the back-off of the upstream and of every waiting message, and run now.
   */
  retryWaitingNow(why: string): void {
    this.deferredUntil.clear();
    this.upstreamFailures = 0;
    this.upstreamRetryAt = 0;
    this.backoffClearedAt = this.now();
    this.request(why);
  }

  /** Resolves once no run is active (and none is queued). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** One run now, awaited (--as-client, admin flush). */
  async runNow(): Promise<RunSummary> {
    await this.idle();
    this.running = this.run(true);
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  /** An idle upstream session from an earlier run, if one is still open. */
  private takeIdle(): Upstream | null {
    for (let u = this.idleSessions.pop(); u; u = this.idleSessions.pop()) {
      if (u.usable) return u;
      u.close();
    }
    return null;
  }

  /**
   * Keep a session open for a short while after a run (as Postfix's connection cache does): a device
   * sending one message per connection then costs one upstream session per burst, not per message.
   */
  private release(u: Upstream): void {
    if (!u.usable || this.stopped || this.deps.cfg.oneShot || this.idleSessions.length >= this.deps.cfg.forwardConnections) {
      u.close();
      return;
    }
    this.idleSessions.push(u);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.closeIdle(), IDLE_UPSTREAM_MS);
    this.idleTimer.unref?.();
  }

  private closeIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    for (const u of this.idleSessions.splice(0)) u.close();
  }

  stop(): void {
    this.closeIdle();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(at: number): void {
    if (this.stopped || this.deps.cfg.oneShot) return;
    if (this.timer && this.timerDue <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = at;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.request('retry timer');
      },
      Math.max(0, at - this.now()),
    );
    this.timer.unref?.();
  }

  private scheduleNextRetry(): void {
    let next = Infinity;
    for (const due of this.deferredUntil.values()) next = Math.min(next, due);
    if (this.upstreamRetryAt > this.now()) next = Math.min(next, this.upstreamRetryAt);
    if (Number.isFinite(next)) this.schedule(next);
  }

  private async run(force = false): Promise<RunSummary> {
    const { spool, cfg, log } = this.deps;
    const summary: RunSummary = { sent: 0, failed: 0, deferred: 0 };
    const now = this.now();
    if (!force && this.upstreamRetryAt > now) {
      this.scheduleNextRetry();
      return summary;
    }
    const ids = (await spool.listReady()).filter((id) => (this.deferredUntil.get(id) ?? 0) <= now);
    for (const id of ids) this.deferredUntil.delete(id);
    if (!ids.length) {
      this.scheduleNextRetry();
      return summary;
    }
    // The default next hop refused the session: its messages wait for the back-off, while messages
    // with a route of their own (another account, another server) still go in this run.
    let defaultDown = false;
    this.stopScan = false;
    const unreachable = new Set<string>();
    const live: LiveRun = { queue: ids, seen: new Set(ids), workers: new Set(), refilling: null, grow: () => undefined };
    const more = async (): Promise<void> => {
      // Triggers that came during the run (--forward-on-disconnect, --poll) bring what was committed since.
      if (!this.again || defaultDown || force) return;
      this.again = false;
      const at = this.now();
      for (const id of await spool.listReady()) {
        if ((this.deferredUntil.get(id) ?? 0) > at || !takeOn(live, id)) continue;
        this.deferredUntil.delete(id);
      }
    };
    const next = async (): Promise<string | undefined> => {
      if (!live.queue.length) {
        live.refilling ??= more().finally(() => (live.refilling = null));
        await live.refilling;
      }
      const id = live.queue.shift();
      live.grow();
      return id;
    };
    const worker = async (first: string) => {
      let upstream: Upstream | null = this.takeIdle();
      const routed: RoutedSession = { unreachable, run: live };
      try {
        for (let id: string | undefined = first; id && !this.stopScan && !this.stopped; id = await next()) {
          const result = await this.forwardOne(
            id,
            async () => {
              if (!upstream || !upstream.usable) {
                upstream?.close();
                upstream = null;
                upstream = await this.deps.connect();
              }
              return upstream;
            },
            () => defaultDown,
            {},
            routed,
          ).catch((e: unknown) => {
            if (e instanceof SessionRefused) {
              // One session too many: the message goes to another, and this session ends.
              this.sessionLimit.lowerTo(live.workers.size - 1);
              log.info(
                { upstream: cfg.forwardTo?.text, sessions: this.sessionLimit.current(), reply: e.message },
                'the upstream allows fewer sessions at once',
              );
              live.queue.unshift(e.id);
              upstream?.close();
              upstream = null;
              return 'stop' as const;
            }
            if (!(e instanceof UpstreamUnreachable)) throw e;
            defaultDown = true;
            summary.error = e.message;
            return e.outcome;
          });
          if (result === 'stop') break;
          if (result === 'sent') summary.sent++;
          else if (result === 'failed') summary.failed++;
          else if (result === 'deferred') summary.deferred++;
        }
      } finally {
        closeRouted(routed);
        if (upstream) this.release(upstream);
      }
    };
    // Another session for each message waiting while every session is busy, up to the limit.
    live.grow = () => {
      while (live.queue.length && live.workers.size < this.sessionLimit.current() && !this.stopScan && !this.stopped) {
        const w: Promise<void> = worker(live.queue.shift()!).finally(() => {
          live.workers.delete(w);
          live.grow();
        });
        live.workers.add(w);
      }
    };
    this.live = live;
    try {
      live.grow();
      while (live.workers.size) await Promise.all(live.workers);
    } finally {
      this.live = null;
    }
    if (summary.error) {
      this.upstreamFailures++;
      const wait = retryDelayMs(cfg.retry, this.upstreamFailures);
      // With --no-retry every trigger tries again, as E-MailRelay does.
      if (cfg.retry.enabled) this.upstreamRetryAt = this.now() + wait;
      log.warn(
        { upstream: cfg.forwardTo?.text, err: networkErrorWords(summary.error), retryInSeconds: cfg.retry.enabled && !cfg.oneShot ? wait / 1000 : undefined },
        'cannot forward: the upstream server is not reachable or refused the session',
      );
    } else if (summary.sent) {
      this.upstreamFailures = 0;
      this.upstreamRetryAt = 0;
    }
    if (summary.sent || summary.failed || summary.deferred) log.info({ ...summary }, 'forwarding run finished');
    if (cfg.retry.enabled) this.scheduleNextRetry();
    return summary;
  }

  /**
   * --immediate: forward a just-committed message, and say what the client is told. The session stays open
   * for the next one (as the runs' sessions do), so a client sending several messages costs one upstream
   * session, as E-MailRelay's proxy.
   */
  async forwardImmediate(id: string): Promise<ImmediateReply> {
    let up: Upstream | null = null;
    const note: AttemptNote = {};
    const routed: RoutedSession = {};
    let outcome: Outcome;
    try {
      outcome = await this.forwardOne(
        id,
        async () => (up = this.takeIdle() ?? (await this.deps.connect())),
        () => false,
        note,
        routed,
      );
    } catch (e) {
      if (!(e instanceof UpstreamUnreachable)) throw e;
      outcome = e.outcome;
    } finally {
      closeRouted(routed);
      const session = up as Upstream | null;
      if (session) this.release(session);
    }
    return immediateReply(outcome, note);
  }

  /**
   * Forward one ready message. Throws UpstreamUnreachable when no session with the default next
   * hop could be opened; `defaultDown` says one already failed in this run (the message then waits).
   */
  async forwardOne(id: string, upstream: () => Promise<Upstream>, defaultDown: () => boolean, note: AttemptNote, routed: RoutedSession): Promise<Outcome> {
    const { spool, cfg, log } = this.deps;
    if (!(await spool.lock(id))) return 'skipped';
    const committed = spool.recent.take(id);
    let env: Envelope;
    try {
      env = committed?.env ?? (await spool.readEnvelope(id, 'busy'));
    } catch (e) {
      this.deps.events.step(
        log,
        'failed',
        { id, reason: (e as Error).message },
        'envelope cannot be read: message failed (fix or delete the .bad file)',
        'error',
      );
      await spool.move(id, 'busy', 'bad');
      return 'failed';
    }
    // (A routing filter may still give such a message a route: it is tried, and fails fast.)
    if (defaultDown() && !routeOf(env) && !(this.deps.clientFilter && env.forwardTo)) {
      await spool.unlock(id);
      return 'skipped';
    }
    const failures = reasons(env).length;
    if (failures > 0 && cfg.retry.enabled) {
      const deferredAt = await spool.envelopeMtimeMs(id, 'busy');
      const due = deferredAt + retryDelayMs(cfg.retry, failures);
      // The back-off paces automatic triggers; a one-shot run (--as-client) tries every message, as E-MailRelay does.
      if (due > this.now() && !cfg.oneShot && deferredAt > this.backoffClearedAt) {
        await spool.unlock(id);
        this.deferredUntil.set(id, due);
        return 'skipped';
      }
      if ((await spool.contentAgeMs(id, this.now())) > cfg.retry.maxAge * 1000) {
        const last = reasons(env).at(-1);
        await this.settle(
          id,
          env,
          'bad',
          `expired: not delivered within ${cfg.retry.maxAge} seconds (last error: ${last?.reason ?? 'unknown'})`,
          last?.code ? Number(last.code) || '' : '',
          note,
        );
        this.deps.events.step(
          log,
          'failed',
          { id, client: env.client, upstream: cfg.forwardTo?.text, reason: last?.reason, attempts: failures },
          'message failed: retried for too long',
          'warn',
        );
        return 'failed';
      }
      this.deps.events.step(log, 'retrying', { id, client: env.client, upstream: cfg.forwardTo?.text, attempt: failures + 1 }, 'retrying a message');
    }
    let content = committed?.content;
    const filter = this.deps.clientFilter;
    let filtered = false;
    if (filter && env.forwardTo) {
      // A routing filter: it runs before connecting, to say where the message goes.
      const r = await this.runClientFilter(id, env, true, note);
      if (typeof r === 'string') return r;
      [env, content, filtered] = [r, undefined, true];
    }
    if (!env.toRemote.length) {
      await this.settle(id, env, 'bad', 'no remote recipients', '', note);
      this.deps.events.step(log, 'failed', { id, client: env.client, reason: 'no remote recipients' }, 'message failed: no remote recipients', 'warn');
      return 'failed';
    }
    const route = routeOf(env);
    if (route?.address && routed.unreachable?.has(route.address)) {
      await spool.unlock(id);
      log.info({ id, address: route.address }, 'skipping message with unconnectable address');
      return 'skipped';
    }
    let up: Upstream;
    try {
      if (route) {
        const key = `${route.address ?? ''}\n${route.selector ?? ''}`;
        if (routed.up && (routed.key !== key || !routed.up.usable)) closeRouted(routed);
        routed.up ??= await this.deps.connect(route);
        routed.key = key;
        up = routed.up;
      } else up = await upstream();
    } catch (e) {
      const fe = e instanceof ForwardError ? e : new ForwardError((e as Error).message, { permanent: false, atConnect: true });
      if (!route) {
        await this.refusedOneTooMany(id, fe, routed.run);
        throw new UpstreamUnreachable(fe.message, await this.transientOrFail(id, env, fe, true, note));
      }
      // A routed next hop that cannot be reached holds up only its own messages.
      if (fe.unreached && route.address) routed.unreachable?.add(route.address);
      log.warn({ id, route, err: networkErrorWords(fe.message) }, "cannot connect to the message's own next hop");
      return this.transientOrFail(id, env, fe, true, note);
    }
    try {
      if (filter && !filtered) {
        const r = await this.runClientFilter(id, env, false, note);
        if (typeof r === 'string') return r;
        [env, content] = [r, undefined];
      }
      const started = this.now();
      const result = await up.send(env, content ?? spool.contentPath(id), !cfg.forwardToSome);
      if (!result.rejected.length) {
        await spool.remove(id);
        this.deps.events.step(
          log,
          'forwarded',
          { id, client: env.client, upstream: up.description, to: env.toRemote.length, ms: this.now() - started, response: printable(result.response) },
          'message forwarded',
        );
        return 'sent';
      }
      return await this.partial(id, env, result.accepted, result.rejected, note);
    } catch (e) {
      const fe = e instanceof ForwardError ? e : new ForwardError((e as Error).message, { permanent: false, atConnect: false });
      if (fe.code && fe.response?.startsWith(`${fe.code} `)) note.upstreamReply = { code: fe.code, text: fe.response.slice(4) };
      if (!route) await this.refusedOneTooMany(id, fe, routed.run);
      const outcome = await this.transientOrFail(id, env, fe, false, note);
      // The upstream refused the session, not this message (Graph: no permission, throttled): the
      // next message would fare no better, so the run stops and backs off (a routed hop: only its own).
      if (fe.atConnect && !route) throw new UpstreamUnreachable(fe.message, outcome);
      return outcome;
    }
  }

  /**
   * Throws SessionRefused, with the message back in ready, when the upstream refused a session for
   * being one too many while this run's other sessions work: the message is not at fault.
   */
  private async refusedOneTooMany(id: string, fe: ForwardError, run: LiveRun | undefined): Promise<void> {
    if (!isTooManySessions(fe) || !run || run.workers.size < 2) return;
    await this.deps.spool.unlock(id);
    throw new SessionRefused(id, fe.response ?? fe.message);
  }

  /**
   * --client-filter on a busy message. Ok: the envelope as the filter left it. Otherwise what became
   * of the message: failed (ReasonCode 550 unless the filter gave a code), or skipped (abandoned).
   */
  private async runClientFilter(id: string, env: Envelope, routing: boolean, note: AttemptNote): Promise<Envelope | Outcome> {
    const { spool, log } = this.deps;
    const r = await this.deps.clientFilter!.run({ id, contentPath: spool.contentPath(id), envelopePath: spool.envelopePath(id, 'busy'), routing });
    if (r.special) this.stopScan = true;
    if (r.outcome === 'abandon') {
      await spool.unlock(id);
      this.deps.events.step(log, 'filtered', { id, client: env.client, filter: r.filter, outcome: 'abandon' }, 'message abandoned by the client filter');
      return 'skipped';
    }
    const current = await spool.readEnvelope(id, 'busy').catch(() => null);
    if (r.outcome === 'ok' && current) {
      this.deps.events.step(log, 'filtered', { id, client: env.client, filter: r.filter, outcome: 'ok' }, 'message passed the client filter');
      return current;
    }
    const reason = r.outcome === 'ok' ? 'the client filter left an unreadable envelope' : routing ? `routing filter failed: ${r.reason}` : r.reason;
    await this.settle(id, current ?? env, 'bad', reason, r.code ?? 550, note);
    note.filterResponse = routing ? 'routing failed' : r.response || 'rejected';
    this.deps.events.step(
      log,
      'failed',
      { id, client: env.client, filter: r.filter, reason, code: r.code ?? 550 },
      'message failed by the client filter',
      'warn',
    );
    return 'failed';
  }

  /** Some recipients refused. With --forward-to-some the others got it; the rest is failed or retried. */
  private async partial(
    id: string,
    env: Envelope,
    accepted: string[],
    rejected: { address: string; code?: number; response: string }[],
    note: AttemptNote,
  ): Promise<Outcome> {
    const { cfg, log } = this.deps;
    const delivered = cfg.forwardToSome ? accepted : [];
    const deliveredSet = new Set(delivered);
    const remaining = delivered.length ? env.toRemote.filter((a) => !deliveredSet.has(a)) : env.toRemote;
    const kept = { ...env, toRemote: remaining };
    const temporary = rejected.every((r) => r.code !== undefined && r.code < 500);
    const reason = printable(recipientsRejectedReason(!cfg.forwardToSome, accepted.length > 0, rejected));
    const code = rejected.find((r) => r.code)?.code ?? '';
    const step = { id, client: env.client, upstream: routeOf(env)?.address ?? cfg.forwardTo?.text, reason, code };
    this.deps.events.upstreamError(step.upstream, 'rejected', reason);
    if (delivered.length) this.deps.events.step(log, 'partial', { ...step, delivered: delivered.length }, 'message forwarded to some recipients');
    if (temporary && cfg.retry.enabled) {
      await this.settle(id, kept, 'ready', reason, code, note);
      this.deps.events.step(log, 'deferred', step, 'message deferred: recipients temporarily refused', 'warn');
      return 'deferred';
    }
    await this.settle(id, kept, 'bad', reason, code, note);
    this.deps.events.step(log, 'failed', step, 'message failed: recipients refused', 'warn');
    return 'failed';
  }

  /**
   * A failed attempt. A failed session (sign-in, TLS, greeting, no connection) says nothing about the
   * message: with automatic retry it waits like the rest of the queue, whatever the reply's code, so a
   * password that expires overnight does not turn the queue into failures. With --no-retry, as
   * E-MailRelay: a server that could not be reached fails nothing, any other failure fails the message in hand.
   */
  private async transientOrFail(id: string, env: Envelope, e: ForwardError, atConnect: boolean, note: AttemptNote): Promise<Outcome> {
    const { spool, cfg, log } = this.deps;
    const reason = printable(e.message);
    const upstream = routeOf(env)?.address ?? cfg.forwardTo?.text;
    const step = { id, client: env.client, upstream, reason, code: e.code };
    const session = atConnect || e.atConnect;
    this.deps.events.upstreamError(upstream, classifyUpstreamError({ ...e, message: reason, atConnect: session }), reason);
    if (cfg.retry.enabled && (session || !e.permanent)) {
      await this.settle(id, env, 'ready', reason, e.code ?? '', note);
      // An upstream's Retry-After (Graph throttling) is honoured when it asks for longer than the back-off.
      const due = this.now() + Math.max(retryDelayMs(cfg.retry, reasons(env).length + 1), e.retryAfterMs ?? 0);
      this.deferredUntil.set(id, due);
      const what = session && e.permanent ? 'message deferred: the upstream refused the session' : 'message deferred: temporary failure';
      this.deps.events.step(log, 'deferred', { ...step, retryInSeconds: cfg.oneShot ? undefined : Math.round((due - this.now()) / 1000) }, what, 'warn');
      return 'deferred';
    }
    if (session && e.unreached) {
      await spool.unlock(id);
      note.reason = reasons(env).at(-1);
      return 'deferred';
    }
    // E-MailRelay ends the run after a failed session, whatever the message's route: the rest wait for the next trigger.
    if (session) this.stopScan = true;
    await this.settle(id, env, 'bad', reason, e.code ?? '', note);
    if (e.permanent) this.deps.events.step(log, 'failed', step, 'message failed: the upstream refused it permanently', 'warn');
    else this.deps.events.step(log, 'failed', step, 'message failed (automatic retry is off)', 'warn');
    return 'failed';
  }

  /** A busy message back to ready (defer) or to .bad (fail) with a Reason line; the note keeps the line as it reads back. */
  private async settle(id: string, env: Envelope, to: 'ready' | 'bad', reason: string, code: number | '', note: AttemptNote): Promise<void> {
    if (to === 'ready') await this.deps.spool.defer(id, env, reason, code);
    else await this.deps.spool.fail(id, env, reason, code);
    note.reason = reasons(withReason(env, reason, code)).at(-1);
  }
}
