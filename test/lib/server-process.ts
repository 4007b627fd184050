// Shared pieces of the launchers for real mail servers (Dovecot, Postfix, Exim): finding their
// programs, waiting for an SMTP greeting on a port, and a scratch directory other users can enter.
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** The first executable of these paths, or undefined. */
export function findProgram(candidates: string[]): string | undefined {
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // try the next
    }
  }
  return undefined;
}

/** A program on PATH or in the sbin directories (which a non-root PATH may lack). */
export function programOnPath(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  return findProgram(dirs.map((d) => path.join(d, name)));
}

/**
 * A temporary directory with mode 0755: the servers' unprivileged processes (dovenull, postfix,
 * Debian-exim) must reach their sockets and files inside it.
 */
export function serverDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** The uid and gid of a system user, from /etc/passwd. */
export function systemUser(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function greetingOnce(port: number, ms: number): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (v: string | null) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), ms);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      text += d;
      if (/^\d{3} .*\r?\n/m.test(text)) {
        sock.write('QUIT\r\n');
        done(text);
      }
    });
    sock.on('error', () => done(null));
    sock.on('close', () => done(text || null));
  });
}

/**
 * Resolves with the server's greeting once something on 127.0.0.1:port answers with a 220 line.
 * Connection attempts repeat every 50 ms until `ms` has passed; `alive` is asked before each
 * attempt so a server that died does not cost the whole wait.
 */
export async function waitForGreeting(port: number, what: string, alive: () => string | undefined, ms = 20000): Promise<string> {
  const deadline = Date.now() + ms;
  let last: string | null;
  for (;;) {
    const dead = alive();
    if (dead) throw new Error(`${what} is not running: ${dead}`);
    last = await greetingOnce(port, 2000);
    if (last && /^220[ -]/m.test(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what} did not greet on 127.0.0.1:${port} within ${ms} ms (last answer: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves once `cond` holds (checked every 50 ms), else rejects after `ms` naming `what`. */
export async function waitFor(cond: () => boolean, what: string, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The text of a file, or '' when it is not there (yet). */
export function readIfThere(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A server's log file: its text so far, and a wait for the first line matching a pattern. */
export function logFileOf(file: string, server: string): { log(): string; waitForLog(re: RegExp, ms?: number): Promise<string> } {
  return {
    log: () => readIfThere(file),
    async waitForLog(re, ms = 15000) {
      let found: string | undefined;
      await waitFor(
        () =>
          !!(found = readIfThere(file)
            .split('\n')
            .find((l) => re.test(l))),
        `a ${server} log line matching ${re}; log:\n${readIfThere(file)}`,
        ms,
      );
      return found!;
    },
  };
}
