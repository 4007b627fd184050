// The admin's policy hooks, built from the configuration: --filter, --client-filter and
// --address-verifier. A bad spec stops start-up with a message that names it.
import * as path from 'node:path';
import type { FilterConfig } from './filters/config';
import type { SpoolConfig } from './spool/config';
import type { NetConfig } from './net/config';
import type { Log } from './log';
import { createFilterChain, type FilterChain } from './filters/chain';
import type { FilterSide } from './filters/result';
import { createVerifier } from './verifiers/create';
import type { Verifier } from './verifiers/verifier';

export interface Policy {
  serverFilter?: FilterChain;
  clientFilter?: FilterChain;
  verifier?: Verifier;
}

/** "@app" in a program path: the directory relaybox is installed in. */
export function appDir(): string {
  return path.dirname(path.resolve(process.argv[1] ?? '.'));
}

export function createPolicy(cfg: FilterConfig & SpoolConfig & Pick<NetConfig, 'domain'>, log: Log): Policy {
  const dirs = { baseDir: cfg.baseDir, appDir: appDir() };
  const chain = (side: FilterSide, items: string[]) =>
    items.length
      ? createFilterChain(
          items,
          { side, spoolDir: cfg.spoolDir, deliveryDir: cfg.deliveryDir, domain: cfg.domain, timeoutMs: cfg.filterTimeout * 1000, log },
          dirs,
        )
      : undefined;
  return {
    serverFilter: chain('server', cfg.filters.server),
    clientFilter: chain('client', cfg.filters.client),
    verifier: cfg.addressVerifier ? createVerifier(cfg.addressVerifier, { domain: cfg.domain, timeoutMs: cfg.filterTimeout * 1000, ...dirs }) : undefined,
  };
}

export function closePolicy(p: Policy): void {
  p.serverFilter?.close();
  p.clientFilter?.close();
  p.verifier?.close?.();
}
