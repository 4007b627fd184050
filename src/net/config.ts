// The relay's network face, shared by every listener and by the client: its name (--domain), what it
// keeps quiet about (--anonymous), where it listens (--interface), who may connect (--remote-clients,
// --allow-clients), the TLS versions (--tls-config) and the server certificate (--server-tls*).
import * as os from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../options/parse';
import { refuseTogether, requireOneOf, usageError, type OptionLookup, type ReadContext } from '../options/option-set';
import { parseAddressRange, type AddressRange } from './address-range';
import type { ClientAdmission } from './client-admission';

export type AnonymousScope = 'vrfy' | 'server' | 'content' | 'client';

export interface TlsVersions {
  minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  noverify: boolean;
}

export interface KeyAndCert {
  key: Buffer;
  cert: Buffer;
  files: string[];
}

export interface ServerTls {
  implicit: boolean;
  required: boolean;
  keyCert: KeyAndCert;
  verify?: string;
}

export interface NetConfig {
  domain: string;
  anonymous: Set<AnonymousScope>;
  interfaces: string[];
  remoteClients: boolean;
  /** Who may connect to the SMTP, POP, admin and status listeners (--remote-clients, --allow-clients). */
  admission: ClientAdmission;
  tls: TlsVersions;
  serverTls: ServerTls | null;
}

/** A comma list of address ranges (as in `server none` lines): --bare-lf-clients, --allow-clients. */
export function readAddressRanges(opts: OptionLookup, name: string, texts = opts.list(name)): AddressRange[] {
  return texts.map((text) => {
    const r = parseAddressRange(text);
    if ('error' in r) throw usageError(opts, name, `--${name}: ${r.error} (use addresses, address/bits or a.b.c.*, separated by commas)`);
    return r;
  });
}

function readAdmission(opts: OptionLookup): ClientAdmission {
  const items = opts.list('allow-clients');
  const onLink = items.some((t) => t.toLowerCase() === 'on-link');
  return {
    remoteClients: opts.has('remote-clients'),
    onLink,
    ranges: readAddressRanges(
      opts,
      'allow-clients',
      items.filter((t) => t.toLowerCase() !== 'on-link'),
    ),
  };
}

/** --server-tls-certificate, --client-tls-certificate: one PEM file with both, or the key file then the certificate file. */
export function readKeyCert(opts: OptionLookup, name: string, baseDir: string): KeyAndCert {
  const files = opts.all(name).map((v) => path.resolve(baseDir, v.value));
  if (files.length > 2) throw new UsageError(`${opts.all(name)[2]!.where}: --${name} may be given at most twice (key file, then certificate file)`);
  const read = (f: string) => {
    try {
      return readFileSync(f);
    } catch (e) {
      throw usageError(opts, name, `cannot read --${name} file "${f}": ${(e as Error).message}`);
    }
  };
  const first = read(files[0]!);
  const second = files[1] ? read(files[1]) : first;
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(first.toString('latin1'))) {
    throw usageError(opts, name, `"${files[0]}" holds no private key (give one PEM file with key and certificate, or the key file then the certificate file)`);
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(second.toString('latin1'))) {
    throw usageError(opts, name, `"${files[1] ?? files[0]}" holds no certificate`);
  }
  return { key: first, cert: second, files };
}

/** A CA file or directory option: <default> and <none> as they are, a path resolved against baseDir. */
export function readCaOption(opts: OptionLookup, name: string, baseDir: string): string | undefined {
  const v = opts.get(name);
  if (!v) return v;
  const file = path.resolve(baseDir, v);
  if (v !== '<default>' && v !== '<none>' && !existsSync(file)) {
    throw usageError(opts, name, `--${name}: there is no CA file or directory "${v}" (or use <default> for the system's CA list)`);
  }
  return v.startsWith('<') ? v : file;
}

const TLS_KEYWORDS: Record<string, TlsVersions['minVersion']> = {
  'tlsv1.0': 'TLSv1',
  'tlsv1.1': 'TLSv1.1',
  'tlsv1.2': 'TLSv1.2',
  'tlsv1.3': 'TLSv1.3',
};

function readTlsVersions(opts: OptionLookup, warnings: string[]): TlsVersions {
  const result: TlsVersions = { minVersion: 'TLSv1.2', noverify: false };
  const ignoreExtra = opts.list('tls-config').includes('ignoreextra');
  for (const word of opts.list('tls-config').map((w) => w.toLowerCase())) {
    if (TLS_KEYWORDS[word]) result.minVersion = TLS_KEYWORDS[word];
    else if (word.startsWith('-') && TLS_KEYWORDS[word.slice(1)]) result.maxVersion = TLS_KEYWORDS[word.slice(1)];
    else if (word === 'noverify') result.noverify = true;
    else if (word === 'sslv3' || word === '-sslv3')
      throw usageError(opts, 'tls-config', 'SSLv3 is not available (the oldest version relaybox can speak is tlsv1.0)');
    else if (['openssl', 'ignoreextra', 'op_all', 'op_no_ticket', 'op_no_resumption', 'op_server_preference'].includes(word)) continue;
    else if (word === 'mbedtls') throw usageError(opts, 'tls-config', 'relaybox uses OpenSSL (through node) only; remove "mbedtls"');
    else if (!ignoreExtra) warnings.push(`--tls-config: unknown keyword "${word}" ignored (add "ignoreextra" to silence this)`);
  }
  return result;
}

function readAnonymous(opts: OptionLookup): Set<AnonymousScope> {
  const anonymous = new Set<AnonymousScope>();
  for (const v of opts.all('anonymous')) {
    const scopes = v.value ? v.value.split(',').map((s) => s.trim()) : ['vrfy', 'server', 'content', 'client'];
    for (const s of scopes) {
      if (!['vrfy', 'server', 'content', 'client'].includes(s))
        throw usageError({ where: () => v.where }, 'anonymous', `--anonymous: unknown scope "${s}" (use vrfy, server, content, client)`);
      anonymous.add(s as AnonymousScope);
    }
  }
  return anonymous;
}

function readServerTls(opts: OptionLookup, baseDir: string): ServerTls | null {
  refuseTogether(opts, 'server-tls', 'server-tls-connection', 'use either --server-tls (STARTTLS) or --server-tls-connection (implicit TLS), not both');
  requireOneOf(opts, 'server-tls-required', ['server-tls', 'server-tls-connection'], '--server-tls-required needs --server-tls or --server-tls-connection');
  for (const o of ['server-tls-certificate', 'server-tls-verify']) {
    requireOneOf(opts, o, ['server-tls', 'server-tls-connection'], `--${o} needs --server-tls or --server-tls-connection`);
  }
  if (!opts.has('server-tls') && !opts.has('server-tls-connection')) return null;
  if (!opts.has('server-tls-certificate')) {
    throw usageError(
      opts,
      opts.has('server-tls') ? 'server-tls' : 'server-tls-connection',
      'server TLS needs --server-tls-certificate (a PEM file with the private key and certificate)',
    );
  }
  return {
    implicit: opts.has('server-tls-connection'),
    required: opts.has('server-tls-required'),
    keyCert: readKeyCert(opts, 'server-tls-certificate', baseDir),
    verify: readCaOption(opts, 'server-tls-verify', baseDir),
  };
}

export function readNetConfig(opts: OptionLookup, ctx: ReadContext): NetConfig {
  if (opts.has('domain') && !opts.get('domain')) throw usageError(opts, 'domain', '--domain must not be empty');
  const domain = opts.get('domain') ?? os.hostname();
  if (/[^\x21-\x7e]/.test(domain)) ctx.warnings.push(`--domain "${domain}" is not plain ASCII: use its A-label (xn--) form`);
  return {
    domain,
    anonymous: readAnonymous(opts),
    interfaces: opts.list('interface'),
    remoteClients: opts.has('remote-clients'),
    admission: readAdmission(opts),
    tls: readTlsVersions(opts, ctx.warnings),
    serverTls: readServerTls(opts, ctx.baseDir),
  };
}
