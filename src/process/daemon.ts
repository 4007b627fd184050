// Daemonising (E-MailRelay runs in the background unless --no-daemon), the pid file and --user's ids.
import { spawn } from 'node:child_process';
import { promises as fsp, mkdirSync, writeFileSync, unlinkSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { asRoot } from '../privilege';

export const DAEMON_CHILD_ENV = 'RELAYBOX_DAEMON_CHILD';

/**
 * Node cannot fork: start the same program again detached (new session, stdio to /dev/null or the
 * log file), wait until it says it is listening, and exit with its status.
 */
export function runAsDaemon(argv: string[], closeStderr: boolean): Promise<number> {
  return new Promise((resolve) => {
    // With --close-stderr the child's stderr is a pipe through us that ends when we exit, so
    // start-up errors are still seen and nothing keeps the caller's terminal or pipe open.
    const child = spawn(process.execPath, [...process.execArgv, ...argv], {
      detached: true,
      cwd: '/',
      stdio: ['ignore', 'ignore', closeStderr ? 'pipe' : 'inherit', 'ipc'],
      env: { ...process.env, [DAEMON_CHILD_ENV]: '1' },
    });
    child.stderr?.pipe(process.stderr);
    child.once('message', (m) => {
      if (m === 'ready') {
        child.stderr?.unpipe(process.stderr);
        child.stderr?.destroy();
        child.disconnect();
        child.unref();
        resolve(0);
      }
    });
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

/** Tell a waiting parent (runAsDaemon) that start-up is complete. */
export function signalReady(): void {
  if (process.send && process.env[DAEMON_CHILD_ENV]) {
    process.send('ready');
    process.disconnect?.();
  }
}

/** Written as root with the user's group, world-readable, as E-MailRelay writes it. */
export function writePidFile(file: string): void {
  asRoot(() => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
  });
}

export function removePidFile(file: string): void {
  asRoot(() => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // already gone
    }
  });
}

export interface UserIds {
  name: string;
  uid: number;
  gid: number;
}

/** Look a user up in /etc/passwd (no native calls needed). */
export async function lookupUser(name: string): Promise<UserIds | null> {
  const passwd = await fsp.readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/** Switch to an unprivileged user for good, every id (`relaybox check` once the secrets are read). */
export function dropPrivileges(user: UserIds): void {
  if (!process.setgid || !process.setuid) return;
  process.setgroups?.([user.gid]);
  process.setgid(user.gid);
  process.setuid(user.uid);
}
