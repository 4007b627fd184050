// --pop, --pop-port, --pop-auth, --pop-by-name, --pop-no-delete -> the POP server's settings, with
// E-MailRelay's start-up checks (reference section 1.11).
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { readWholeNumber, requireOneOf, usageError, type OptionLookup } from '../options/option-set';
import { DEFAULT_PAM_SERVICE } from '../auth/pam';

/** Where POP accounts come from: the `server` lines of a secrets file, or PAM. */
export type PopAuth = { kind: 'secrets'; file: string } | { kind: 'pam'; service: string };

export interface PopConfig {
  port: number;
  auth: PopAuth;
  byName: boolean;
  noDelete: boolean;
}

type Options = Pick<OptionLookup, 'has' | 'get' | 'where'>;

export function buildPopConfig(opts: Options, baseDir: string, warnings: string[]): PopConfig | null {
  if (!opts.has('pop')) {
    for (const o of ['pop-port', 'pop-auth', 'pop-by-name', 'pop-no-delete']) requireOneOf(opts, o, ['pop'], `--${o} needs --pop`);
    return null;
  }
  if (opts.has('dont-serve')) throw usageError(opts, 'pop', '--pop makes no sense with --dont-serve or --as-client (nothing listens)');
  const auth = opts.get('pop-auth');
  if (auth === undefined) throw usageError(opts, 'pop', '--pop needs --pop-auth <secrets-file> (its "server" lines are the POP accounts)');
  let popAuth: PopAuth;
  if (auth === '/pam') {
    warnings.push('--pop-auth /pam is the deprecated spelling of pam:');
    popAuth = { kind: 'pam', service: DEFAULT_PAM_SERVICE };
  } else if (auth.startsWith('pam:')) {
    const service = auth.slice(4) || DEFAULT_PAM_SERVICE;
    if (!/^[A-Za-z0-9._-]+$/.test(service)) throw usageError(opts, 'pop-auth', `--pop-auth ${auth}: "${service}" is not a PAM service name`);
    popAuth = { kind: 'pam', service };
  } else {
    const file = path.resolve(baseDir, auth);
    if (!existsSync(file)) throw usageError(opts, 'pop-auth', `--pop-auth: there is no secrets file "${file}" (or use pam: for PAM)`);
    popAuth = { kind: 'secrets', file };
  }
  const port = readWholeNumber(opts, 'pop-port', 110, 0, 65535);
  return { port, auth: popAuth, byName: opts.has('pop-by-name'), noDelete: opts.has('pop-no-delete') };
}
