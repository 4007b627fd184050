// The POP accounts: the `server` lines of the --pop-auth secrets file (re-read when it changes), or
// PAM (--pop-auth pam:[service]). Both give the mechanisms to offer and a password check; only a
// secrets file can do APOP and CRAM-*, which need the password (or its hash) on our side.
import type { Log } from '../log';
import { createPamChecker, loadPamAddon, type PamResult } from '../auth/pam';
import { emptySecrets, watchSecrets, type Secrets } from '../auth/secrets';
import { PAM_MECHANISMS, secretsMechanisms } from '../auth/server-mechanisms';
import { verifyWithSecrets } from '../auth/server-verify';
import type { PopAuth } from './config';

export interface PopAccounts {
  /** The secrets (empty with PAM). */
  secrets(): Secrets;
  /** Mechanisms before --server-auth-config filtering. */
  mechanisms(secure: boolean): string[];
  checkPassword(user: string, password: string, address: string): Promise<PamResult>;
}

/** Throws (a start-up error) if the secrets file or the PAM addon cannot be used. */
export function popAccounts(auth: PopAuth, pamConcurrency: number, log: Log): PopAccounts {
  if (auth.kind === 'pam') {
    const pam = createPamChecker(loadPamAddon(), auth.service, pamConcurrency, (code, message) =>
      log.debug({ code, pam: message }, 'pam refused the pop login'),
    );
    log.info({ service: auth.service }, 'pop authentication with pam');
    const none = emptySecrets();
    return {
      secrets: () => none,
      mechanisms: () => [...PAM_MECHANISMS],
      checkPassword: (user, password, address) => pam.check(user, password, address),
    };
  }
  const logger = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m), error: (m: string) => log.error(m) };
  const watcher = watchSecrets(auth.file, () => undefined, logger);
  if (!secretsMechanisms(watcher.current(), false).length) {
    log.warn({ file: auth.file }, '--pop-auth: the secrets file has no "server plain" or "server md5" lines: no POP user can log in');
  }
  return {
    secrets: () => watcher.current(),
    mechanisms: (secure) => secretsMechanisms(watcher.current(), secure),
    checkPassword: async (user, password) => (verifyWithSecrets(watcher.current(), { method: 'PLAIN', username: user, password }) ? 'ok' : 'denied'),
  };
}
