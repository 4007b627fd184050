// Alert emails (--alert-to): spool disk nearly full, upstream failing for a while, messages failed,
// TLS certificates expiring. An alert is written into the spool like any received message and
// forwarded by the runner, so an alert raised while the upstream is down waits there and goes out
// once it is back. Each kind is sent at most once per --alert-interval; what is held back is counted
// and mentioned in the next alert of that kind. (The limit is kept in memory: a restart resets it.)
import { X509Certificate } from 'node:crypto';
import type { Log } from '../log';
import type { AlertsConfig } from './alerts-config';
import type { Activity } from '../events/activity';
import type { MessageStep, StepFields } from '../events/relay-events';
import { newEnvelope } from '../spool/envelope';
import type { Spool } from '../spool/store';
import { spoolSpace } from './health';
import { duration } from '../format';

export type AlertKind = 'disk' | 'upstream' | 'failed' | 'certificate';

export interface AlertDeps {
  config: AlertsConfig;
  spool: Spool;
  log: Log;
  domain: string;
  /** Ask the runner to forward (null without an upstream: alerts then wait in the spool). */
  requestForward: ((why: string) => void) | null;
  /** Certificates in use, to watch for expiry: a name for the alert and the PEM text. */
  certificates: { name: string; pem: Buffer }[];
  /** The relay's activity: message steps, the upstream's state, other watched expiries. */
  activity: Activity;
}

const PERIODIC_MS = 60_000;

function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 200);
}

function rfc2822Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

export class AlertMonitor {
  private readonly lastSent = new Map<AlertKind, number>();
  private readonly heldBack = new Map<AlertKind, number>();
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  private stopped = false;
  private readonly onStep = (step: MessageStep, f: StepFields) => this.stepHappened(step, f);
  private readonly onUpstream = () => void this.checkAll();

  constructor(private readonly deps: AlertDeps) {}

  start(): void {
    this.deps.activity.on('step', this.onStep);
    this.deps.activity.on('upstream', this.onUpstream);
    this.timer = setInterval(() => void this.checkAll(), PERIODIC_MS);
    this.timer.unref();
    void this.checkAll();
  }

  stop(): void {
    this.stopped = true;
    this.deps.activity.off('step', this.onStep);
    this.deps.activity.off('upstream', this.onUpstream);
    if (this.timer) clearInterval(this.timer);
  }

  /** The condition checks, at start, every minute and after each message step (one at a time). */
  private async checkAll(): Promise<void> {
    if (this.checking || this.stopped) return;
    this.checking = true;
    try {
      await this.checkDisk();
      await this.checkUpstream();
      await this.checkCertificates();
    } catch (e) {
      this.deps.log.error({ err: (e as Error).message }, 'alert check failed');
    } finally {
      this.checking = false;
    }
  }

  private stepHappened(step: MessageStep, f: StepFields): void {
    // A failed alert does not raise another (it is in the failed list, and the log says why).
    if (step === 'failed' && !this.isAlert(f)) {
      void this.raise('failed', `message ${f.id} failed`, [
        `A message could not be delivered and was moved to the failed state (.bad):`,
        '',
        `  message id: ${f.id}`,
        `  client:     ${f.client ?? 'unknown'}`,
        `  upstream:   ${f.upstream ?? 'none'}`,
        `  reason:     ${f.code ? `${f.code} ` : ''}${f.reason ?? f.response ?? 'unknown'}`,
        '',
        'Retry it from the status page or with the admin command "unfail-all", then "forward".',
      ]);
    }
    void this.checkAll();
  }

  private readonly alertIds = new Set<string>();

  private isAlert(f: StepFields): boolean {
    return this.alertIds.has(f.id);
  }

  private async checkDisk(): Promise<void> {
    const space = await spoolSpace(this.deps.spool.dir);
    if (!space || space.freePercent >= this.deps.config.diskPercent) return;
    await this.raise('disk', `spool disk nearly full (${space.freePercent.toFixed(1)} % free)`, [
      `The file system of the spool directory ${space.path} has ${space.freePercent.toFixed(1)} % free`,
      `(${Math.round(space.freeBytes / 1048576)} MiB of ${Math.round(space.totalBytes / 1048576)} MiB); the alert threshold is ${this.deps.config.diskPercent} %.`,
      'When it is full, relaybox refuses new mail with 452 until space is freed.',
    ]);
  }

  private async checkUpstream(): Promise<void> {
    const u = this.deps.activity.upstream;
    if (!u?.failingSince) return;
    const seconds = (Date.now() - u.failingSince) / 1000;
    if (seconds < this.deps.config.upstreamSeconds) return;
    await this.raise('upstream', `upstream ${u.address} failing for ${duration(seconds)}`, [
      `Every attempt to forward to ${u.address} has failed since ${new Date(u.failingSince).toISOString()}.`,
      `Last error (${new Date(u.lastErrorAt).toISOString()}): ${u.lastError}`,
      '',
      'Messages wait in the spool and are retried; this alert was sent through the same upstream, so it',
      'arrives once the upstream works again.',
    ]);
  }

  private async checkCertificates(): Promise<void> {
    const limit = Date.now() + this.deps.config.expiryDays * 86_400_000;
    const expiring: string[] = [];
    for (const c of this.deps.certificates) {
      let validTo: number;
      try {
        validTo = Date.parse(new X509Certificate(c.pem).validTo);
      } catch {
        continue; // the TLS set-up reports unreadable certificates at start-up
      }
      if (validTo <= limit) expiring.push(`  ${c.name}: ${validTo < Date.now() ? 'expired' : 'expires'} ${new Date(validTo).toISOString()}`);
    }
    for (const [name, at] of this.deps.activity.expiries) {
      if (at <= limit) expiring.push(`  ${name}: ${at < Date.now() ? 'expired' : 'expires'} ${new Date(at).toISOString()}`);
    }
    if (!expiring.length) return;
    await this.raise('certificate', `certificate or secret expiring within ${this.deps.config.expiryDays} days`, [
      `These expire within ${this.deps.config.expiryDays} days (--alert-expiry-days):`,
      ...expiring,
      '',
      'Renew them and restart relaybox.',
    ]);
  }

  /** Queue an alert email unless one of this kind went out within --alert-interval. */
  async raise(kind: AlertKind, subject: string, body: string[]): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    const last = this.lastSent.get(kind);
    if (last !== undefined && now - last < this.deps.config.intervalSeconds * 1000) {
      const held = (this.heldBack.get(kind) ?? 0) + 1;
      this.heldBack.set(kind, held);
      // A lasting condition is seen at every check: say so once per interval, count the rest.
      if (held === 1)
        this.deps.log.info(
          { alert: kind, subject, nextInSeconds: Math.ceil((last + this.deps.config.intervalSeconds * 1000 - now) / 1000) },
          'alert held back (--alert-interval)',
        );
      return;
    }
    this.lastSent.set(kind, now);
    const held = this.heldBack.get(kind) ?? 0;
    this.heldBack.delete(kind);
    const { config, domain, log, spool } = this.deps;
    const text = [
      `relaybox on ${domain}: ${subject}.`,
      '',
      ...body,
      ...(held
        ? [
            '',
            kind === 'failed'
              ? `${held} more message${held > 1 ? 's' : ''} failed since the last alert of this kind (held back by --alert-interval ${config.intervalSeconds} s).`
              : `Held back since the last alert of this kind (--alert-interval ${config.intervalSeconds} s): seen at ${held} later check${held > 1 ? 's' : ''}.`,
          ]
        : []),
      '',
      '-- ',
      'relaybox alert (--alert-to)',
    ];
    let id: string;
    try {
      const msg = await spool.newMessage();
      id = msg.id;
      this.alertIds.add(id);
      const headers = [
        `From: relaybox <${config.from}>`,
        `To: <${config.to}>`,
        `Subject: [relaybox alert] ${headerSafe(subject)}`,
        `Date: ${rfc2822Date(new Date(now))}`,
        `Message-ID: <${id}@${headerSafe(domain)}>`,
        'Auto-Submitted: auto-generated',
        `X-Relaybox-Alert: ${kind}`,
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
      ];
      await msg.write(Buffer.from([...headers, '', ...text].join('\r\n') + '\r\n', 'utf8'));
      await msg.commit(newEnvelope({ content: '8bit', from: config.from, toRemote: [config.to], client: '127.0.0.1' }));
    } catch (e) {
      // Not sent: allow the next check to try again.
      this.lastSent.delete(kind);
      log.error({ alert: kind, err: (e as Error).message }, 'cannot write an alert message into the spool');
      return;
    }
    log.warn({ alert: kind, id, to: config.to, subject }, 'alert queued');
    this.deps.requestForward?.(`alert (${kind})`);
  }
}
