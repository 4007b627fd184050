// Options of the admin interface, the status page and the alerts (section 1.5 and relaybox extensions).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { readWholeNumber, refuseTogether, requireOneOf, usageError, type OptionLookup } from '../options/option-set';
import { readAlertsConfig, type AlertsConfig } from '../health/alerts-config';

export interface ObserveConfig {
  /** --admin port, or null. */
  adminPort: number | null;
  adminTerminate: boolean;
  /** From --admin-password-file; never logged. */
  adminPassword: string | null;
  statusPort: number | null;
  /** --status-host-names: names the Host header may carry besides the box's own. */
  statusHostNames: string[];
  alerts: AlertsConfig | null;
}

function readPassword(opts: OptionLookup, baseDir: string): string | null {
  const v = opts.get('admin-password-file');
  if (v === undefined) return null;
  const file = path.resolve(baseDir, v);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw usageError(opts, 'admin-password-file', `cannot read the admin password file "${file}": ${(e as Error).message}`);
  }
  const password = text.split(/\r?\n/)[0]!.trim();
  if (!password) throw usageError(opts, 'admin-password-file', `the first line of "${file}" is empty: put the admin password there`);
  return password;
}

export function parseObserveOptions(opts: OptionLookup, baseDir: string, domain: string): ObserveConfig {
  requireOneOf(opts, 'admin-terminate', ['admin'], '--admin-terminate needs --admin');
  requireOneOf(opts, 'status-host-names', ['status-port'], '--status-host-names needs --status-port');
  requireOneOf(opts, 'admin-password-file', ['admin', 'status-port'], '--admin-password-file needs --admin or --status-port');
  for (const o of ['admin', 'status-port']) refuseTogether(opts, 'dont-serve', o, `--${o} makes no sense with --dont-serve or --as-client (nothing listens)`);
  const alerts = readAlertsConfig(opts, domain);
  return {
    adminPort: opts.has('admin') ? readWholeNumber(opts, 'admin', 0, 1, 65535) : null,
    adminTerminate: opts.has('admin-terminate'),
    adminPassword: readPassword(opts, baseDir),
    statusPort: opts.has('status-port') ? readWholeNumber(opts, 'status-port', 0, 1, 65535) : null,
    statusHostNames: opts.list('status-host-names'),
    alerts,
  };
}
