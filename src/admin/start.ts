// Starts what --admin, --status-port and --alert-to ask for; main.ts calls this once after the SMTP
// listeners are up, and the returned function at shutdown.
import type { Server } from 'node:net';
import type { NetConfig } from '../net/config';
import type { SmtpConfig } from '../smtp/config';
import type { ObserveConfig } from './options';
import type { Log } from '../log';
import type { AuthThrottle } from '../auth/throttle';
import type { Spool } from '../spool/store';
import type { QueueRunner } from '../forward/runner';
import { UsageError } from '../options/parse';
import { AlertMonitor } from '../health/alerts';
import type { RelayControl } from './actions';
import { createStatusServer } from './http';
import { hostPort, listenAddressesFor, listenOn } from './listen';
import { createAdminServer } from './server';
import { runTestMail, type TestMailConfig } from '../check/test-mail';
import type { PageSignIns } from '../forward/oauth/page-signins';
import type { EventLog } from './event-log';
import type { RelayEvents } from '../events/relay-events';
import type { Activity } from '../events/activity';
import type { SmtpControls } from '../smtp/controls';

/** What the admin interface, status page and alerts read of the relay's settings. */
export type ObserveSettings = TestMailConfig & NetConfig & Pick<SmtpConfig, 'access'> & { observe: ObserveConfig };

export interface ObserveParts {
  cfg: ObserveSettings;
  spool: Spool;
  log: Log;
  runner: QueueRunner | null;
  /** The failed-password counts SMTP AUTH and POP use too. */
  authThrottle: AuthThrottle;
  /** The sign-ins of "page:" secrets lines, for the status page. */
  signIns?: PageSignIns;
  /** The status page's recent log (made when there is a status page). */
  recentLog?: EventLog | null;
  events: RelayEvents;
  activity: Activity;
  smtp: SmtpControls;
  terminate(): void;
}

async function listenAll(server: Server, port: number, hosts: string[], what: string, log: Log): Promise<void> {
  for (const host of hosts) {
    try {
      await listenOn(server, port, host);
    } catch (e) {
      throw new UsageError(`cannot listen for the ${what} on ${hostPort(host, port)}: ${(e as Error).message}`);
    }
    log.info({ address: host, port }, `listening for the ${what}`);
  }
}

/** Returns a function that stops everything started here. */
export async function startObservers(parts: ObserveParts): Promise<() => Promise<void>> {
  const { cfg, spool, log, runner } = parts;
  const o = cfg.observe;
  const control: RelayControl = {
    spool,
    log,
    upstream: cfg.forwardTo?.text,
    requestForward: runner ? (why) => runner.request(why) : null,
    forwardNow: runner ? () => runner.runNow() : null,
    terminate: parts.terminate,
    adminPassword: o.adminPassword,
    adminTerminate: o.adminTerminate,
    dnsbl: !!cfg.access.dnsbl,
    authThrottle: parts.authThrottle,
    testMail: (req) => runTestMail(cfg, req, { log, events: parts.events }),
    events: parts.events,
    activity: parts.activity,
    smtp: parts.smtp,
  };
  const servers: Server[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const track = (s: Server) => {
    servers.push(s);
    s.on('connection', (sock: import('node:net').Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
  };
  // One net.Server per address, as for SMTP.
  if (o.adminPort !== null) {
    for (const host of listenAddressesFor(cfg, 'admin')) {
      const s = createAdminServer(control, cfg.admission);
      track(s);
      await listenAll(s, o.adminPort, [host], 'admin interface', log);
    }
  }
  if (o.statusPort !== null) {
    for (const host of listenAddressesFor(cfg, 'smtp')) {
      const s = createStatusServer(control, {
        admission: cfg.admission,
        title: `relaybox on ${cfg.domain}`,
        hostNames: [cfg.domain, ...o.statusHostNames],
        signIns: parts.signIns,
        events: parts.recentLog ?? undefined,
      });
      track(s);
      await listenAll(s, o.statusPort, [host], 'status page', log);
    }
  }
  let alerts: AlertMonitor | null = null;
  if (o.alerts) {
    if (!runner) log.warn({ to: o.alerts.to }, 'alerts are written into the spool but nothing forwards them: add --forward-to');
    const certificates = [
      ...(cfg.serverTls ? [{ name: `server certificate (${cfg.serverTls.keyCert.files.at(-1)})`, pem: cfg.serverTls.keyCert.cert }] : []),
      ...(cfg.clientTls.keyCert ? [{ name: `client certificate (${cfg.clientTls.keyCert.files.at(-1)})`, pem: cfg.clientTls.keyCert.cert }] : []),
    ];
    alerts = new AlertMonitor({
      config: o.alerts,
      spool,
      log,
      domain: cfg.domain,
      requestForward: control.requestForward,
      certificates,
      activity: parts.activity,
    });
    alerts.start();
  }
  return async () => {
    alerts?.stop();
    const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const sock of sockets) sock.destroy(); // admin connections never time out by themselves
    await closed;
  };
}
