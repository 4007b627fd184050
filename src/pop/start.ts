// Start the POP listeners (--pop) on the addresses --interface gives them (pop= or unqualified).
import type * as net from 'node:net';
import type { Log } from '../log';
import type { AuthThrottle } from '../auth/throttle';
import { UsageError } from '../options/parse';
import type { PopConfig } from './config';
import { popAccounts, type PopAccounts } from './accounts';
import { createPopServer, type PopServerSettings } from './server';

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

export async function startPop(cfg: PopServerSettings, pop: PopConfig, log: Log, hosts: string[], throttle: AuthThrottle): Promise<net.Server[]> {
  let accounts: PopAccounts;
  try {
    accounts = popAccounts(pop.auth, cfg.access.pamConcurrency, log);
  } catch (e) {
    throw new UsageError(`--pop-auth ${pop.auth.kind === 'pam' ? `pam:${pop.auth.service}` : pop.auth.file}: ${(e as Error).message}`);
  }
  const servers: net.Server[] = [];
  for (const host of hosts) {
    const server = createPopServer(cfg, pop, accounts, log, throttle);
    try {
      await listen(server, pop.port, host);
    } catch (e) {
      for (const s of servers) s.close();
      log.error({ err: (e as Error).message, address: host, port: pop.port }, 'cannot listen for pop');
      log.flush();
      process.stderr.write(`relaybox: error: cannot listen for POP on ${host.includes(':') ? `[${host}]` : host}:${pop.port}: ${(e as Error).message}\n`);
      process.exit(2);
    }
    servers.push(server);
    log.info(
      {
        address: host,
        port: pop.port,
        tls: cfg.serverTls ? (cfg.serverTls.required ? 'STLS required' : 'STLS') : 'no',
        byName: pop.byName,
        noDelete: pop.noDelete,
      },
      'listening for pop',
    );
  }
  return servers;
}
