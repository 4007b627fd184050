// Options of the admin interface, the status page and the alerts (section 1.5 and relaybox extensions).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../options/parse';
import { readWholeNumber, type OptionSet } from '../options/option-set';

export interface ObserveConfig {
  /** --admin port, or null. */
  adminPort: number | null;
  adminTerminate: boolean;
  /** From --admin-password-file; never logged. */
  adminPassword: string | null;
  statusPort: number | null;
  /** --status-host-names: names the Host header may carry besides the box's own. */
  statusHostNames: string[];
  alerts: null | {
    to: string;
    from: string;
    intervalSeconds: number;
    diskPercent: number;
    upstreamSeconds: number;
    expiryDays: number;
  };
}

function readPassword(opts: OptionSet, baseDir: string): string | null {
  const v = opts.get('admin-password-file');
  if (v === undefined) return null;
  const file = path.resolve(baseDir, v);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${opts.where('admin-password-file')}: cannot read the admin password file "${file}": ${(e as Error).message}`);
  }
  const password = text.split(/\r?\n/)[0]!.trim();
  if (!password) throw new UsageError(`${opts.where('admin-password-file')}: the first line of "${file}" is empty: put the admin password there`);
  return password;
}

export function parseObserveOptions(opts: OptionSet, baseDir: string, domain: string): ObserveConfig {
  const requires = (name: string, needed: string, msg: string) => {
    if (opts.has(name) && !opts.has(needed)) throw new UsageError(`${opts.where(name)}: ${msg}`);
  };
  requires('admin-terminate', 'admin', '--admin-terminate needs --admin');
  requires('status-host-names', 'status-port', '--status-host-names needs --status-port');
  for (const o of ['alert-from', 'alert-interval', 'alert-disk-percent', 'alert-upstream-seconds', 'alert-expiry-days']) {
    requires(o, 'alert-to', `--${o} needs --alert-to (the address alerts go to)`);
  }
  if (opts.has('admin-password-file') && !opts.has('admin') && !opts.has('status-port')) {
    throw new UsageError(`${opts.where('admin-password-file')}: --admin-password-file needs --admin or --status-port`);
  }
  for (const o of ['admin', 'status-port']) {
    if (opts.has(o) && opts.has('dont-serve')) throw new UsageError(`${opts.where(o)}: --${o} makes no sense with --dont-serve or --as-client (nothing listens)`);
  }
  const to = opts.get('alert-to');
  if (to !== undefined && !/^[^\s@<>]+@[^\s@<>]+$/.test(to)) throw new UsageError(`${opts.where('alert-to')}: --alert-to needs a mail address such as admin@example.com, not "${to}"`);
  const from = opts.get('alert-from') ?? `relaybox@${domain}`;
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(from)) throw new UsageError(`${opts.where('alert-from')}: --alert-from needs a mail address, not "${from}"`);
  return {
    adminPort: opts.has('admin') ? readWholeNumber(opts, 'admin', 0, 1, 65535) : null,
    adminTerminate: opts.has('admin-terminate'),
    adminPassword: readPassword(opts, baseDir),
    statusPort: opts.has('status-port') ? readWholeNumber(opts, 'status-port', 0, 1, 65535) : null,
    statusHostNames: opts.list('status-host-names'),
    alerts: to === undefined ? null : {
      to,
      from,
      intervalSeconds: readWholeNumber(opts, 'alert-interval', 3600, 1, 365 * 86400),
      diskPercent: readWholeNumber(opts, 'alert-disk-percent', 10, 0, 100),
      upstreamSeconds: readWholeNumber(opts, 'alert-upstream-seconds', 1800, 1, 365 * 86400),
      expiryDays: readWholeNumber(opts, 'alert-expiry-days', 14, 0, 36500),
    },
  };
}
