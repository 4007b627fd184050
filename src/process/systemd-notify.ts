// systemd's notification protocol (sd_notify): READY=1 once the relay listens, then WATCHDOG=1 from the
// event loop every half of WatchdogSec, so that systemd restarts a relay whose event loop hangs.
// Node's core has no unix datagram socket, so each message is sent by `systemd-notify` (the unit needs
// NotifyAccess=all): a short process every 30 s with WatchdogSec=60s. systemd-notify waits until the
// manager has taken the message (its BARRIER), so the child exiting early cannot lose it.
import { execFile } from 'node:child_process';
import type { Log } from '../log';

const PROGRAM = 'systemd-notify';

function send(socket: string, assignments: string[], timeoutMs: number, log: Log, done: () => void = () => undefined): void {
  execFile(PROGRAM, assignments, { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err) => {
    if (err) log.warn({ err: err.message, message: assignments[0] }, 'cannot notify systemd (systemd-notify failed)');
    done();
  });
}

/**
 * Under systemd (NOTIFY_SOCKET set): send READY=1 and, when WATCHDOG_USEC is set for this process,
 * WATCHDOG=1 at half that period. NOTIFY_SOCKET is taken out of the environment, so that filters and
 * other programs the relay runs cannot speak for it. Nothing happens when not under systemd.
 */
export function notifySystemdReady(log: Log, status: string, env: NodeJS.ProcessEnv = process.env): void {
  const socket = env.NOTIFY_SOCKET;
  const watchdogUsec = Number(env.WATCHDOG_USEC);
  const watchdogPid = env.WATCHDOG_PID;
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[name];
  if (!socket) return;
  send(socket, ['READY=1', `STATUS=${status}`], 10_000, log);
  if (!(watchdogUsec > 0) || (watchdogPid && watchdogPid !== String(process.pid))) return;
  const periodMs = Math.max(1, Math.floor(watchdogUsec / 2000));
  let sending = false;
  // A timer on the event loop: when the loop is blocked, no ping is sent and systemd restarts the relay.
  const timer = setInterval(() => {
    if (sending) return; // the previous ping's process has not finished: do not pile them up
    sending = true;
    send(socket, ['WATCHDOG=1'], periodMs, log, () => {
      sending = false;
    });
  }, periodMs);
  timer.unref();
  log.info({ periodMs }, 'systemd watchdog: pinging');
}
