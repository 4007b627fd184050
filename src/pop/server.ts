// The POP3 listener (--pop): a plain node:net server, --remote-clients access as for SMTP, STLS with
// the --server-tls certificate, accounts from --pop-auth (accounts.ts), failed logins counted in the
// throttle SMTP AUTH and the admin password share (src/auth/throttle.ts).
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { NetConfig } from '../net/config';
import type { SpoolConfig } from '../spool/config';
import type { MechanismFilter } from '../auth/server-mechanisms';
import type { Log } from '../log';
import type { AuthThrottle } from '../auth/throttle';
import { admitsClient, NOT_ADMITTED, unmapAddress } from '../net/client-admission';
import { legacyTlsCiphers } from '../tls-files';
import type { PopAccounts } from './accounts';
import type { PopConfig } from './config';
import { PopSession, type PopContext } from './session';

/** What the POP server reads besides its own slice: the network face, the spool, and limits it shares with SMTP. */
export type PopServerSettings = NetConfig &
  SpoolConfig & {
    idleTimeout: number;
    connectionTimeout: number;
    access: { mechanismFilter: MechanismFilter; pamConcurrency: number };
  };

export function createPopServer(cfg: PopServerSettings, pop: PopConfig, accounts: PopAccounts, log: Log, throttle: AuthThrottle): net.Server {
  const serverTls = cfg.serverTls;
  const ctx: PopContext = {
    spoolDir: cfg.spoolDir,
    domain: cfg.domain,
    byName: pop.byName,
    noDelete: pop.noDelete,
    tls: serverTls
      ? {
          context: tls.createSecureContext({
            key: serverTls.keyCert.key,
            cert: serverTls.keyCert.cert,
            minVersion: cfg.tls.minVersion,
            maxVersion: cfg.tls.maxVersion,
            ...legacyTlsCiphers(cfg.tls),
          }),
          required: serverTls.required,
        }
      : null,
    accounts,
    mechanismFilter: cfg.access.mechanismFilter,
    throttle,
    log,
    idleTimeoutMs: cfg.idleTimeout * 1000,
    handshakeTimeoutMs: cfg.connectionTimeout * 1000,
  };
  const server = net.createServer((socket) => {
    const address = unmapAddress(socket.remoteAddress ?? '');
    socket.on('error', () => undefined);
    if (!admitsClient(cfg.admission, address)) {
      log.warn({ address }, `pop connection refused: ${NOT_ADMITTED}`);
      socket.end('-ERR access denied\r\n');
      return;
    }
    log.debug({ address, port: socket.remotePort }, 'pop connection');
    new PopSession(socket, ctx, address);
  });
  server.on('error', (err) => log.error({ err: err.message }, 'pop server error'));
  return server;
}
