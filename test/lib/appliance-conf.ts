// The appliance's own default configuration (image/boot/relaybox.conf, with all its options) made
// runnable in a test: only what cannot run here is replaced (the upstream becomes a loopback sink
// whose certificate the test CA signed, the ports, the spool, the secrets file, JSON logs), and the
// relay stays in the foreground as root, listening where the test says.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { testPki } from './certs';

export const APPLIANCE_CONF = path.resolve(__dirname, '../../image/boot/relaybox.conf');

/** The admin password the test configuration's admin-password-file holds. */
export const APPLIANCE_ADMIN_PASSWORD = 'appliance-admin-pw';

export interface ApplianceSetting {
  port: number;
  spool: string;
  sinkPort: number;
  statusPort: number;
  /** Where the relay listens (default 127.0.0.1). */
  interfaces?: string;
  /** Replace the appliance's client-tls-verify line with this one (default: the test CA). */
  verify?: string;
  /** The client-auth line's file (default: relaybox.secrets in dir, written with a password line). */
  clientAuth?: string;
  /** Lines added at the end. */
  extra?: string[];
}

/** Writes relaybox.conf and relaybox.secrets into `dir`; throws if a line it replaces is gone. */
export function applianceConfig(dir: string, s: ApplianceSetting): string {
  const replace: Record<string, string | null> = {
    'forward-to': `forward-to 127.0.0.1:${s.sinkPort}`,
    'client-tls-verify': s.verify ?? `client-tls-verify ${testPki().caFile}`,
    'client-auth': `client-auth ${s.clientAuth ?? path.join(dir, 'relaybox.secrets')}`,
    port: `port ${s.port}`,
    'status-port': `status-port ${s.statusPort}`,
    'admin-password-file': `admin-password-file ${path.join(dir, 'admin-password.txt')}`,
    'spool-dir': `spool-dir ${s.spool}`,
    'log-format': null, // the test reads the JSON log lines
  };
  const seen = new Set<string>();
  const lines = readFileSync(APPLIANCE_CONF, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const key = /^\s*([a-z0-9-]+)/.exec(line)?.[1];
      if (!key || line.trimStart().startsWith('#') || !(key in replace)) return [line];
      seen.add(key);
      return replace[key] === null ? [] : [replace[key]!];
    });
  for (const key of Object.keys(replace)) assert.ok(seen.has(key), `${APPLIANCE_CONF} has no "${key}" line any more: update test/lib/appliance-conf.ts`);
  if (!s.clientAuth) writeFileSync(path.join(dir, 'relaybox.secrets'), 'client plain box@example.test box-password\n');
  writeFileSync(path.join(dir, 'admin-password.txt'), `${APPLIANCE_ADMIN_PASSWORD}\n`, { mode: 0o600 });
  lines.push(`interface ${s.interfaces ?? '127.0.0.1'}`, 'no-daemon', 'user root', ...(s.extra ?? []));
  const conf = path.join(dir, 'relaybox.conf');
  writeFileSync(conf, lines.join('\n') + '\n');
  return conf;
}
