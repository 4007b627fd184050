// --pop, --pop-port, --pop-auth, --pop-by-name, --pop-no-delete -> the POP server's settings, with
// E-MailRelay's start-up checks (reference section 1.11).
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { UsageError } from '../options/parse';

export interface PopConfig {
  port: number;
  /** Absolute path of the secrets file whose `server` lines are the POP accounts. */
  secretsFile: string;
  byName: boolean;
  noDelete: boolean;
}

/** The lookups of config.ts's OptionSet that this needs. */
interface Options {
  has(name: string): boolean;
  get(name: string): string | undefined;
  where(name: string): string;
}

export function buildPopConfig(opts: Options, baseDir: string): PopConfig | null {
  const usage = (name: string, msg: string): never => {
    throw new UsageError(`${opts.where(name)}: ${msg}`);
  };
  if (!opts.has('pop')) {
    for (const o of ['pop-port', 'pop-auth', 'pop-by-name', 'pop-no-delete']) {
      if (opts.has(o)) usage(o, `--${o} needs --pop`);
    }
    return null;
  }
  if (opts.has('dont-serve')) usage('pop', '--pop makes no sense with --dont-serve or --as-client (nothing listens)');
  const auth = opts.get('pop-auth');
  if (auth === undefined) usage('pop', '--pop needs --pop-auth <secrets-file> (its "server" lines are the POP accounts)');
  if (auth === 'pam:' || auth === '/pam' || auth!.startsWith('pam:')) {
    usage('pop-auth', '--pop-auth pam: (PAM accounts) is not supported for POP yet (PAM works for --server-auth only): use a secrets file with "server plain <user> <password>" lines');
  }
  const secretsFile = path.resolve(baseDir, auth!);
  if (!existsSync(secretsFile)) usage('pop-auth', `--pop-auth: there is no secrets file "${secretsFile}"`);
  let port = 110;
  const p = opts.get('pop-port');
  if (p !== undefined) {
    if (!/^\d+$/.test(p) || Number(p) > 65535) usage('pop-port', `--pop-port must be a number from 0 to 65535, not "${p}"`);
    port = Number(p);
  }
  return { port, secretsFile, byName: opts.has('pop-by-name'), noDelete: opts.has('pop-no-delete') };
}
