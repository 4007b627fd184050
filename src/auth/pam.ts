// --server-auth pam: checking passwords with PAM through node-linux-pam's N-API addon (which runs
// pam_authenticate and then the account stage, pam_acct_mgmt, on the libuv thread pool).
//
// The addon (node-linux-pam.node) ships beside dist/relaybox.js and is loaded only when PAM is
// configured; it is required by path, so the bundle runs without node_modules. A missing or broken
// addon is a start-up error. Concurrent PAM calls are capped: a failed pam_unix login takes about
// 2 s (its fail delay) and holds a thread-pool thread, so a burst of bad logins must not take every
// thread that fs and crypto also need. Calls beyond the cap wait in a short queue; beyond that the
// attempt gets a temporary failure.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export const ADDON_FILE = 'node-linux-pam.node';
/** E-MailRelay's PAM service name. */
export const DEFAULT_PAM_SERVICE = 'emailrelay';

interface PamOptions {
  username: string;
  password: string;
  serviceName: string;
  remoteHost: string;
}
type PamAddon = (options: PamOptions, callback: (err: Error | null, code: number) => void) => void;

/** Where the addon may be: beside the bundle, or in node_modules when running from the sources. */
export function addonCandidates(): string[] {
  const override = process.env.RELAYBOX_PAM_ADDON;
  if (override) return [override];
  const besideBundle = path.join(__dirname, ADDON_FILE);
  if (!__filename.endsWith('.ts')) return [besideBundle];
  return [besideBundle, path.join(__dirname, '..', '..', 'node_modules', 'node-linux-pam', 'build', 'Release', ADDON_FILE)];
}

/** Load the addon; throws an Error saying what to do if it cannot be loaded. */
export function loadPamAddon(candidates = addonCandidates()): PamAddon {
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new Error(
      `--server-auth pam: needs the PAM addon ${ADDON_FILE} beside relaybox.js (looked in ${candidates.join(', ')}); ` +
        'build it with scripts/install-deps and make build (it needs libpam0g-dev), or use a secrets file instead of pam:',
    );
  }
  let loaded: unknown;
  try {
    loaded = createRequire(__filename)(found);
  } catch (e) {
    throw new Error(
      `--server-auth pam: cannot load the PAM addon ${found}: ${(e as Error).message} (is libpam0g installed, and was the addon built for this machine?)`,
    );
  }
  if (typeof loaded !== 'function') throw new Error(`--server-auth pam: ${found} is not the node-linux-pam addon`);
  return loaded as PamAddon;
}

export type PamResult = 'ok' | 'denied' | 'busy';

export interface PamChecker {
  readonly service: string;
  check(username: string, password: string, remoteHost: string): Promise<PamResult>;
  /** Calls running and waiting now (for tests and logs). */
  load(): { running: number; waiting: number };
}

export function createPamChecker(addon: PamAddon, service: string, maxConcurrent: number, onError?: (code: number, message: string) => void): PamChecker {
  let running = 0;
  const waiting: (() => void)[] = [];
  const maxWaiting = maxConcurrent * 8;

  const call = (o: PamOptions) =>
    new Promise<PamResult>((resolve) => {
      try {
        addon(o, (err, code) => {
          if (!err && code === 0) return resolve('ok');
          onError?.(code, err ? err.message : `PAM code ${code}`);
          resolve('denied');
        });
      } catch (e) {
        onError?.(-1, (e as Error).message);
        resolve('denied');
      }
    });

  return {
    service,
    load: () => ({ running, waiting: waiting.length }),
    async check(username, password, remoteHost) {
      if (running >= maxConcurrent) {
        if (waiting.length >= maxWaiting) return 'busy';
        await new Promise<void>((r) => waiting.push(r));
      } else {
        running++;
      }
      try {
        return await call({ username, password, serviceName: service, remoteHost });
      } finally {
        const next = waiting.shift();
        if (next)
          next(); // the slot passes to the next waiter
        else running--;
      }
    },
  };
}
