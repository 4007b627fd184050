// The POP3 listener (--pop): a plain node:net server, --remote-clients access as for SMTP, STLS with
// the --server-tls certificate, accounts from the `server` lines of the --pop-auth secrets file
// (re-read when it changes).
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { RelayConfig } from '../config';
import type { Log } from '../log';
import { watchSecrets, type SecretsWatcher } from '../auth/secrets';
import { secretsMechanisms } from '../auth/server-mechanisms';
import { isLocalAddress, unmapAddress } from '../smtp/access';
import { legacyTlsCiphers } from '../tls-files';
import type { PopConfig } from './config';
import { PopSession, type PopContext } from './session';

/** Read the --pop-auth secrets (a start-up error if the file cannot be used) and warn if it has no POP accounts. */
export function popSecrets(pop: PopConfig, log: Log): SecretsWatcher {
  const logger = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m), error: (m: string) => log.error(m) };
  const watcher = watchSecrets(pop.secretsFile, () => undefined, logger);
  if (!secretsMechanisms(watcher.current(), false).length) {
    log.warn({ file: pop.secretsFile }, '--pop-auth: the secrets file has no "server plain" or "server md5" lines: no POP user can log in');
  }
  return watcher;
}

export function createPopServer(cfg: RelayConfig, pop: PopConfig, secrets: SecretsWatcher, log: Log): net.Server {
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
    secrets: () => secrets.current(),
    mechanismFilter: cfg.access.mechanismFilter,
    log,
    idleTimeoutMs: cfg.idleTimeout * 1000,
    handshakeTimeoutMs: cfg.connectionTimeout * 1000,
  };
  const server = net.createServer((socket) => {
    const address = unmapAddress(socket.remoteAddress ?? '');
    socket.on('error', () => undefined);
    if (!cfg.remoteClients && !isLocalAddress(address)) {
      log.warn({ address }, 'pop connection refused: not a local or private address (use --remote-clients to allow it)');
      socket.end('-ERR access denied\r\n');
      return;
    }
    log.debug({ address, port: socket.remotePort }, 'pop connection');
    new PopSession(socket, ctx, address);
  });
  server.on('error', (err) => log.error({ err: err.message }, 'pop server error'));
  return server;
}
