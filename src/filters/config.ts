// The programs run on each message and address: --filter, --client-filter, --address-verifier,
// --filter-timeout, and --delivery-dir for the deliver: filter.
import { readPath, readSeconds, type OptionLookup, type ReadContext } from '../options/option-set';

export interface FilterConfig {
  /** Filter chain items (split at commas) for --filter and --client-filter. */
  filters: { server: string[]; client: string[] };
  filterTimeout: number;
  addressVerifier?: string;
  deliveryDir: string;
  /** Relative program paths in filter and verifier specs are resolved against this. */
  baseDir: string;
}

export function readFilterConfig(opts: OptionLookup, ctx: ReadContext, spoolDir: string): FilterConfig {
  return {
    filters: { server: opts.list('filter'), client: opts.list('client-filter') },
    filterTimeout: readSeconds(opts, 'filter-timeout', 60, false),
    addressVerifier: opts.get('address-verifier'),
    deliveryDir: readPath(opts, 'delivery-dir', ctx.baseDir) ?? spoolDir,
    baseDir: ctx.baseDir,
  };
}
