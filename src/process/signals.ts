// The relay's process signals: SIGTERM, SIGINT, SIGHUP and SIGQUIT stop it, SIGPIPE is ignored (a peer
// that went away shows on its socket), and an internal error is logged before the process ends (70).
import type { Log } from '../log';

export function handleSignals(log: Log, stop: (signal: string) => void): void {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, () => stop(sig));
  process.on('SIGPIPE', () => undefined);
  process.on('uncaughtException', (e) => {
    log.fatal({ err: e.stack ?? String(e) }, 'internal error: please report it');
    log.flush();
    process.exit(70);
  });
  process.on('unhandledRejection', (e) => {
    log.error({ err: e instanceof Error ? e.stack : String(e) }, 'internal error (unhandled rejection): please report it');
  });
}
