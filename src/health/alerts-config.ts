// --alert-to and the options that go with it: where alerts go, how often, and their thresholds.
import { readWholeNumber, usageError, requireOneOf, type OptionLookup } from '../options/option-set';

export interface AlertsConfig {
  to: string;
  from: string;
  intervalSeconds: number;
  diskPercent: number;
  upstreamSeconds: number;
  expiryDays: number;
}

const MAIL_ADDRESS = /^[^\s@<>]+@[^\s@<>]+$/;

export function readAlertsConfig(opts: OptionLookup, domain: string): AlertsConfig | null {
  for (const o of ['alert-from', 'alert-interval', 'alert-disk-percent', 'alert-upstream-seconds', 'alert-expiry-days']) {
    requireOneOf(opts, o, ['alert-to'], `--${o} needs --alert-to (the address alerts go to)`);
  }
  const to = opts.get('alert-to');
  if (to === undefined) return null;
  if (!MAIL_ADDRESS.test(to)) throw usageError(opts, 'alert-to', `--alert-to needs a mail address such as admin@example.com, not "${to}"`);
  const from = opts.get('alert-from') ?? `relaybox@${domain}`;
  if (!MAIL_ADDRESS.test(from)) throw usageError(opts, 'alert-from', `--alert-from needs a mail address, not "${from}"`);
  return {
    to,
    from,
    intervalSeconds: readWholeNumber(opts, 'alert-interval', 3600, 1, 365 * 86400),
    diskPercent: readWholeNumber(opts, 'alert-disk-percent', 10, 0, 100),
    upstreamSeconds: readWholeNumber(opts, 'alert-upstream-seconds', 1800, 1, 365 * 86400),
    expiryDays: readWholeNumber(opts, 'alert-expiry-days', 14, 0, 36500),
  };
}
