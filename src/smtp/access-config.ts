// Options about who may send: --server-auth, --server-auth-config, --dnsbl and relaybox's limits
// (failed AUTH throttling, connection limits, AUTH without TLS from public addresses, PAM concurrency).
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { UsageError } from '../options/parse';
import { readWholeNumber, requireOneOf, usageError, type OptionLookup } from '../options/option-set';
import { parseServerAuthConfig, type MechanismFilter } from '../auth/server-mechanisms';
import { DEFAULT_PAM_SERVICE } from '../auth/pam';
import { parseDnsblConfig, type DnsblConfig } from './dnsbl';

type Options = OptionLookup;

export type ServerAuthSource = { kind: 'secrets'; file: string } | { kind: 'pam'; service: string };

export interface AccessConfig {
  serverAuth?: ServerAuthSource;
  mechanismFilter: MechanismFilter;
  dnsbl?: DnsblConfig;
  authFailureLimit: number;
  authFailureLockoutMs: number;
  authFailureDelayMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  plaintextAuthFromPublic: boolean;
  pamConcurrency: number;
}

/** "pam:", "pam:<service>" (relaybox extension) and E-MailRelay's deprecated "/pam". */
export function parseServerAuth(value: string, baseDir: string, warnings: string[]): ServerAuthSource {
  if (value === '/pam') {
    warnings.push('--server-auth /pam is the deprecated spelling of pam:');
    return { kind: 'pam', service: DEFAULT_PAM_SERVICE };
  }
  if (value.startsWith('pam:')) {
    const service = value.slice(4) || DEFAULT_PAM_SERVICE;
    if (!/^[A-Za-z0-9._-]+$/.test(service)) throw new UsageError(`--server-auth ${value}: "${service}" is not a PAM service name`);
    return { kind: 'pam', service };
  }
  return { kind: 'secrets', file: path.resolve(baseDir, value) };
}

export function accessConfig(opts: Options, baseDir: string, warnings: string[]): AccessConfig {
  requireOneOf(opts, 'server-auth-config', ['server-auth'], '--server-auth-config needs --server-auth');
  requireOneOf(
    opts,
    'dnsbl',
    ['remote-clients'],
    '--dnsbl needs --remote-clients (without it only local and private addresses can connect, and those are never looked up)',
  );

  const authValue = opts.get('server-auth');
  let serverAuth: ServerAuthSource | undefined;
  if (authValue !== undefined) {
    serverAuth = parseServerAuth(authValue, baseDir, warnings);
    if (serverAuth.kind === 'secrets' && !existsSync(serverAuth.file)) {
      throw usageError(opts, 'server-auth', `--server-auth: there is no secrets file "${serverAuth.file}" (or use pam: for PAM)`);
    }
  }
  let mechanismFilter: MechanismFilter;
  try {
    mechanismFilter = parseServerAuthConfig(opts.get('server-auth-config'));
  } catch (e) {
    throw usageError(opts, 'server-auth-config', (e as Error).message);
  }
  let dnsbl: DnsblConfig | undefined;
  if (opts.has('dnsbl')) {
    try {
      dnsbl = parseDnsblConfig(opts.list('dnsbl'));
    } catch (e) {
      throw usageError(opts, 'dnsbl', (e as Error).message);
    }
  }
  if (opts.has('remote-clients') && !serverAuth) {
    warnings.push('--remote-clients without --server-auth: any address that can reach this relay may send mail through it (an open relay)');
  }
  return {
    serverAuth,
    mechanismFilter,
    dnsbl,
    authFailureLimit: readWholeNumber(opts, 'auth-failure-limit', 5, 0, 1000),
    authFailureLockoutMs: readWholeNumber(opts, 'auth-failure-lockout', 600, 1, 86400) * 1000,
    authFailureDelayMs: readWholeNumber(opts, 'auth-failure-delay', 1000, 0, 60000),
    maxConnections: readWholeNumber(opts, 'max-connections', 200, 0, 100000),
    maxConnectionsPerAddress: readWholeNumber(opts, 'max-connections-per-address', 20, 0, 100000),
    plaintextAuthFromPublic: opts.has('plaintext-auth-from-public'),
    pamConcurrency: readWholeNumber(opts, 'pam-concurrency', 2, 1, 64),
  };
}
