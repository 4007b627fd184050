// relaybox: receive -> spool -> forward. Entry point of the one-file bundle.
import './process/heap'; // first: V8 flags for the whole start-up

// fsyncs run on libuv's thread pool; with more threads, concurrent commits share journal flushes.
// Read by libuv when the pool first starts, which is after this line.
process.env.UV_THREADPOOL_SIZE ??= '16';
import { promises as fsp, constants as FS } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SMTPServer } from 'smtp-server';
import { recordLastDelivery } from './health/last-delivery';
import { buildConfig, clientAuthProblems, type RelayConfig } from './config';
import { createLog, LogFileError, type Log } from './log';
import { helpText } from './options/help';
import { versionText } from './options/version';
import { parseCommandLine, readConfigFile, UsageError, type OptionValue } from './options/parse';
import { createSmtpServer } from './smtp/server';
import { createServerAccess, type ServerAccess } from './smtp/server-access';
import { Spool } from './spool/store';
import { claimSpool, recoverSpool, releaseSpool } from './spool/recover';
import { QueueRunner } from './forward/runner';
import { upstreamConnector } from './forward/connect';
import { checkNodemailerVersion } from './forward/smtp-connection-adapter';
import { becomeOrdinary, setuidRootCaller } from './privilege';
import { DAEMON_CHILD_ENV, type UserIds, lookupUser, removePidFile, runAsDaemon, signalReady, writePidFile } from './process/daemon';
import { notifySystemdReady } from './process/systemd-notify';
import { handleSignals } from './process/signals';
import { isRelayProcess, relayProcessReady, superviseRelayProcesses } from './process/relay-processes';
import { TokenSources } from './forward/oauth/tokens';
import { SCOPE_OUTLOOK_APP } from './forward/oauth/grants';
import { graphScope } from './forward/graph';
import { closePolicy, createPolicy, type Policy } from './policy';
import { AuthThrottle } from './auth/throttle';
import { isInlineClientAuth } from './auth/secrets';
import { PageSignIns } from './forward/oauth/page-signins';
import { RelayEvents } from './events/relay-events';
import { Activity } from './events/activity';
import { SmtpControls } from './smtp/controls';
import { deviceWarnings, EventLog, recordSteps } from './admin/event-log';
// Loaded when used (import() in the one-file bundle: the module's code runs only then): the
// subcommands, POP, and the admin interface, status page and alerts. Each pulls in code and node
// built-ins (http, zlib, child_process ...) that a plain relay never runs, and every module run at
// start-up stays in the heap for the life of the process.

declare const RELAYBOX_VERSION: string;
export const VERSION = typeof RELAYBOX_VERSION === 'string' ? RELAYBOX_VERSION : '0.0.0-dev';
const BASE_DIR_ENV = 'RELAYBOX_BASE_DIR';
/**
 * Memory for recently committed messages, forwarded from memory instead of read back. With
 * --forward-on-commit a message rarely waits long; a larger cache mostly follows the backlog (conn50 peak
 * RSS 82 / 88 / 93 / 96 MB with 0 / 2 / 4 / 8 MB).
 */
const COMMIT_CACHE_BYTES = 2 * 1024 * 1024;

function fail(message: string, code = 1): never {
  process.stderr.write(`relaybox: error: ${message}\n`);
  process.exit(code);
}

/** Listening addresses: --interface entries for one listener (E-MailRelay's smtp=/pop= qualifiers), or all. */
function listenAddresses(cfg: RelayConfig, kind: 'smtp' | 'pop' = 'smtp'): string[] {
  const out: string[] = [];
  for (const raw of cfg.interfaces) {
    const m = /^(?:(smtp|pop|admin)=)?(.+)$/.exec(raw)!;
    if (m[1] && m[1] !== kind) continue;
    const name = m[2]!;
    if (name.startsWith('client=')) throw new UsageError(`--interface: "client=" is not allowed (use --client-interface)`);
    if (name.startsWith('/') || name.startsWith('fd#'))
      throw new UsageError(`--interface ${name}: unix-domain sockets and inherited sockets are not supported yet`);
    const nic = /^(.+?)(?:-(ipv4|ipv6))?$/.exec(name)!;
    const addrs = os.networkInterfaces()[nic[1]!];
    if (addrs) {
      for (const a of addrs) if (!nic[2] || a.family.toLowerCase() === nic[2]) out.push(a.address);
    } else {
      out.push(name);
    }
  }
  return out.length ? out : ['::'];
}

function listen(server: SMTPServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.server.once('error', onError);
    server.listen(port, host, () => {
      server.server.removeListener('error', onError);
      resolve();
    });
  });
}

async function prepareSpool(cfg: RelayConfig, log: Log, owner: UserIds | null): Promise<Spool> {
  // Keep recently committed messages in memory for the forwarder, when there is one.
  const spool = new Spool(cfg.spoolDir, cfg.forwardTo && !cfg.oneShot ? COMMIT_CACHE_BYTES : 0);
  // A relay process of --processes: its supervisor has made, claimed and recovered the spool.
  if (isRelayProcess()) return spool;
  const created = await fsp.mkdir(cfg.spoolDir, { recursive: true, mode: 0o770 }).catch((e: Error) => {
    throw new UsageError(`cannot create the spool directory ${cfg.spoolDir}: ${e.message}`);
  });
  if (created && owner) {
    // A spool directory we made ourselves belongs to the user we will run as.
    await fsp.chown(cfg.spoolDir, owner.uid, owner.gid);
    log.info({ spool: cfg.spoolDir, user: owner.name }, 'created the spool directory');
  }
  await fsp.access(cfg.spoolDir, FS.W_OK | FS.R_OK).catch(() => {
    throw new UsageError(`cannot write to the spool directory ${cfg.spoolDir}: check its owner and permissions`);
  });
  const otherPid = await claimSpool(spool);
  if (otherPid) log.warn({ spool: spool.dir, pid: otherPid }, 'another relaybox is using this spool: start-up recovery skipped');
  else await recoverSpool(spool, log);
  return spool;
}

/** The SMTP listeners, one per --interface address, sharing one ServerAccess; start-up ends on a failure. */
async function startSmtp(
  cfg: RelayConfig,
  spool: Spool,
  log: Log,
  parts: { runner: QueueRunner | null; policy: Policy; events: RelayEvents; controls: SmtpControls; authThrottle: AuthThrottle },
): Promise<SMTPServer[]> {
  const { runner, policy, events, controls, authThrottle } = parts;
  let access: ServerAccess;
  try {
    access = createServerAccess(cfg.access, log, !!cfg.serverTls, authThrottle, controls, !!cfg.serverTls?.required);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'cannot set up smtp authentication');
    log.flush();
    fail((e as Error).message);
  }
  const servers: SMTPServer[] = [];
  for (const host of listenAddresses(cfg)) {
    const server = createSmtpServer(
      cfg,
      spool,
      log,
      {
        disconnected: () => {
          if (cfg.forwardOnDisconnect) runner?.request('client disconnected');
        },
        forwardNow: cfg.immediate && runner ? (id) => runner.forwardImmediate(id) : undefined,
        rescan: () => runner?.request('a filter asked for the spool to be scanned'),
        committed: cfg.forwardOnCommit && runner ? (id) => runner.offer(id) : undefined,
        access,
        events,
        controls,
      },
      { filter: policy.serverFilter, verifier: policy.verifier },
    );
    try {
      await listen(server, cfg.port, host);
    } catch (e) {
      log.error({ err: (e as Error).message, address: host, port: cfg.port }, 'cannot listen');
      log.flush();
      fail(`cannot listen on ${host.includes(':') ? `[${host}]` : host}:${cfg.port}: ${(e as Error).message}`, 2);
    }
    servers.push(server);
    log.info({ address: host, port: cfg.port, tls: cfg.serverTls ? (cfg.serverTls.implicit ? 'implicit' : 'starttls') : 'no' }, 'listening for smtp');
  }
  return servers;
}

async function start(values: OptionValue[]): Promise<void> {
  const baseDir = process.env[BASE_DIR_ENV] ?? process.cwd();
  const cfg = buildConfig(values, baseDir);
  const secretsCheck = clientAuthProblems(cfg);
  if (secretsCheck.problems.length) throw new UsageError(secretsCheck.problems.join('\n'));

  if (cfg.daemon && !process.env[DAEMON_CHILD_ENV]) {
    process.env[BASE_DIR_ENV] = baseDir;
    process.exit(await runAsDaemon(process.argv.slice(1), cfg.closeStderr));
  }

  // The status page's recent log: message steps and warnings about devices, the last 200.
  const recentLog = cfg.observe.statusPort !== null ? new EventLog() : null;
  let log: Log;
  try {
    log = createLog(cfg, recentLog ? deviceWarnings(recentLog) : undefined);
  } catch (e) {
    if (e instanceof LogFileError) fail(e.message);
    throw e;
  }
  // What happens to messages and the upstream, announced by the parts that see it; kept in `activity`.
  const events = new RelayEvents();
  const activity = new Activity(events);
  const smtpControls = new SmtpControls();
  if (recentLog) recordSteps(activity, recentLog);
  for (const w of [...cfg.warnings, ...secretsCheck.warnings]) log.warn(w);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const userName = cfg.user ?? 'daemon';
  let runAs: UserIds | null = null;
  if (isRoot && userName !== 'root') {
    runAs = await lookupUser(userName);
    if (!runAs) fail(`--user: there is no user "${userName}" (relaybox started as root runs as "daemon" unless --user names another; --user=root keeps root)`);
  }
  let policy: Policy;
  try {
    policy = createPolicy(cfg, log);
  } catch (e) {
    log.flush();
    fail((e as Error).message);
  }
  const spool = await prepareSpool(cfg, log, runAs);
  if (cfg.processes > 1 && !isRelayProcess()) return supervise(cfg, log, spool);

  const target = cfg.forwardTo;
  checkNodemailerVersion(); // the forwarding client's library: refused now, not at the first message
  // OAuth2 grant lines: tokens are cached in the spool's state directory (not a message directory).
  const stateDir = path.join(spool.dir, '.relaybox');
  const tokens = new TokenSources(
    {
      authority: cfg.oauthAuthority,
      microsoftScope: target?.kind === 'graph' ? graphScope(target.baseUrl) : SCOPE_OUTLOOK_APP,
      stateDir,
      now: Date.now,
      warn: (m) => log.warn(m),
      expiry: (name, at) => events.setExpiry(name, at),
    },
    stateDir,
    log,
  );
  const connect = upstreamConnector(cfg, log, events, tokens);
  const runner = target ? new QueueRunner({ cfg, spool, log, connect, clientFilter: policy.clientFilter, events }) : null;
  if (runner) recordLastDelivery(path.join(spool.dir, '.relaybox'), log, activity);

  if (cfg.oneShot) {
    const summary = await runner!.runNow();
    if (!summary.sent && !summary.failed && !summary.deferred && !summary.error) log.info('no messages to send');
    log.flush();
    await releaseSpool(spool);
    process.exitCode = summary.error ? 1 : 0;
    return;
  }

  // One count of failed passwords per client address for SMTP AUTH, POP and the admin password.
  const authThrottle = new AuthThrottle({
    limit: cfg.access.authFailureLimit,
    lockoutMs: cfg.access.authFailureLockoutMs,
    delayMs: cfg.access.authFailureDelayMs,
  });
  const servers = cfg.smtp ? await startSmtp(cfg, spool, log, { runner, policy, events, controls: smtpControls, authThrottle }) : [];

  // Mailboxes of "page:" secrets lines sign in from the status page; then what waits is tried at once.
  const signIns = new PageSignIns({
    secretsFile: cfg.clientAuth && !isInlineClientAuth(cfg.clientAuth) ? cfg.clientAuth : undefined,
    stateDir,
    tokens,
    authorities: { microsoft: cfg.oauthAuthority, google: cfg.oauthGoogleAuthority },
    graph: target?.kind === 'graph',
    log,
    signedIn: (mailbox) => runner?.retryWaitingNow(`${mailbox} signed in on the status page`),
  });
  const o = cfg.observe;
  const observing = o.adminPort !== null || o.statusPort !== null || !!o.alerts;
  const startObservers = observing ? (await import('./admin/start')).startObservers : async () => async () => undefined;
  const stopObservers = await startObservers({
    cfg,
    spool,
    log,
    runner,
    authThrottle,
    signIns,
    recentLog,
    events,
    activity,
    smtp: smtpControls,
    terminate: () => void shutdown('admin terminate'),
  }).catch((e: Error) => {
    log.error({ err: e.message }, 'cannot start the admin interface or status page');
    log.flush();
    return fail(e.message, e instanceof UsageError ? 2 : 1);
  });
  const popServers = cfg.pop ? await (await import('./pop/start')).startPop(cfg, cfg.pop, log, listenAddresses(cfg, 'pop'), authThrottle) : [];

  if (runAs) {
    // As E-MailRelay: the real ids stay root, to claim back for the spool, pid and log files.
    becomeOrdinary(runAs);
    log.info({ user: runAs.name }, 'running as an unprivileged user');
  } else if (setuidRootCaller()) {
    becomeOrdinary(setuidRootCaller()!);
    log.info({ uid: process.getuid!() }, 'started set-user-id root: running as the user who started it');
  }
  if (cfg.pidFile && !isRelayProcess()) writePidFile(cfg.pidFile);

  if (!target) {
    // Info, not a warning: a spool that POP or a script empties is a setup E-MailRelay users run.
    log.info({ spool: spool.dir }, 'no upstream server configured (--forward-to): messages are stored in the spool until one is named');
  } else {
    log.info({ upstream: target.text, spool: spool.dir }, 'forwarding to the upstream server');
    if (cfg.forwardAtStart) runner!.request('start-up (--forward)');
    else if (cfg.retry.enabled && (cfg.forwardOnDisconnect || cfg.forwardOnCommit || cfg.pollSeconds))
      runner!.request('start-up: retry what is already in the spool');
    // Not unref'd: with --no-smtp or --dont-serve and no admin, polling is what keeps the relay running.
    if (cfg.pollSeconds) setInterval(() => runner!.request('poll'), cfg.pollSeconds * 1000);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    runner?.stop();
    signIns.stop();
    await Promise.race([
      Promise.all([...[...servers, ...popServers].map((s) => new Promise<void>((r) => s.close(() => r()))), stopObservers()]),
      new Promise((r) => setTimeout(r, 5000).unref()),
    ]);
    await Promise.race([runner?.idle(), new Promise((r) => setTimeout(r, 5000).unref())]);
    closePolicy(policy);
    if (cfg.pidFile && !isRelayProcess()) removePidFile(cfg.pidFile);
    await releaseSpool(spool).catch(() => undefined);
    log.flush();
    setTimeout(() => process.exit(0), 50).unref();
  };
  handleSignals(log, (signal) => void shutdown(signal));
  if (isRelayProcess()) {
    log.info({ version: VERSION }, 'relay process started');
    relayProcessReady();
    return;
  }
  log.info({ version: VERSION }, 'relaybox started');
  signalReady();
  notifySystemdReady(log, cfg.smtp ? `listening for SMTP on port ${cfg.port}` : 'running');
  if (cfg.closeStderr) {
    // fd 2 stays open (pointing nowhere) so a stray write cannot hit a reused descriptor.
    process.stderr.on('error', () => undefined);
    process.stderr.write = (() => true) as typeof process.stderr.write;
  }
}

/**
 * --processes N: this process supervises N relay processes (process/relay-processes.ts) and handles no
 * mail. It has recovered the spool; it keeps the pid file and stops them all on a signal.
 */
async function supervise(cfg: RelayConfig, log: Log, spool: Spool): Promise<void> {
  let stopping = false;
  const stop = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: why }, 'stopping');
    await relays.stop();
    if (cfg.pidFile) removePidFile(cfg.pidFile);
    await releaseSpool(spool).catch(() => undefined);
    log.flush();
    setTimeout(() => process.exit(code), 50).unref();
  };
  const relays = superviseRelayProcesses(
    cfg.processes,
    log,
    () => recoverSpool(spool, log).then(() => undefined),
    (why) => {
      log.error(why);
      void stop('relay processes keep ending', 1);
    },
  );
  handleSignals(log, (signal) => void stop(signal, 0));
  try {
    await relays.ready;
  } catch (e) {
    log.error({ err: (e as Error).message }, 'cannot start the relay processes');
    await stop('start-up failed', 1);
    return;
  }
  if (cfg.pidFile) writePidFile(cfg.pidFile);
  log.info({ version: VERSION, processes: cfg.processes, pids: relays.pids().join(' ') }, 'relaybox started');
  signalReady();
  notifySystemdReady(log, `${cfg.processes} relay processes listening for SMTP on port ${cfg.port}`);
}

export async function main(argv: string[], invokedAs = ''): Promise<void> {
  if (invokedAs === 'sendmail' || argv[0] === 'submit') {
    const { runSubmit } = await import('./submit/command');
    process.exitCode = await runSubmit(invokedAs === 'sendmail' ? argv : argv.slice(1), invokedAs === 'sendmail' ? 'sendmail' : 'relaybox submit');
    return;
  }
  if (argv[0] === 'oauth') {
    process.exitCode = await (await import('./forward/oauth/login-command')).runOauthCommand(argv.slice(1));
    return;
  }
  if (argv[0] === 'check') {
    process.exitCode = await (await import('./cli/check')).runCheckCommand(argv.slice(1));
    return;
  }
  if (argv[0] === 'passwd') {
    process.exitCode = await (await import('./auth/passwd-command')).runPasswd(argv.slice(1));
    return;
  }
  if (argv[0] === 'hardware') {
    process.exitCode = await (await import('./health/hardware-command')).runHardwareCommand(argv.slice(1));
    return;
  }
  try {
    const parsed = parseCommandLine(argv);
    const names = new Set(parsed.values.map((v) => v.spec.name));
    const verbose = names.has('verbose');
    if (names.has('help')) {
      process.stdout.write(helpText(verbose) + '\n');
      return;
    }
    if (names.has('version')) {
      process.stdout.write(versionText(VERSION, verbose));
      return;
    }
    const values = [...parsed.values];
    if (parsed.configFile) values.push(...readConfigFile(path.resolve(process.env[BASE_DIR_ENV] ?? process.cwd(), parsed.configFile)));
    await start(values);
  } catch (e) {
    if (e instanceof UsageError) fail(`${e.message}`);
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2), path.basename(process.argv[1] ?? '')).catch((e: Error) => fail(e.stack ?? e.message));
}
