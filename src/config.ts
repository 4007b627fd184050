// Option values -> the relay's typed configuration, with E-MailRelay's start-up checks (section 1.11).
import * as path from 'node:path';
import * as os from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { UsageError, type OptionValue } from './options/parse';
import { parseSwitches } from './options/switches';
import { OptionSet, readSeconds, readWholeNumber } from './options/option-set';
import { parseForwardTarget, type ForwardTarget } from './net/target';
import { buildPopConfig, type PopConfig } from './pop/config';
import { accessConfig, type AccessConfig } from './smtp/access-config';
import { parseObserveOptions, type ObserveConfig } from './admin/options';
import { parseAddressRange, type AddressRange } from './net/address-range';
import { checkClientSecretsFile } from './auth/client-secrets-check';
import type { ClientAdmission } from './net/client-admission';

export type AnonymousScope = 'vrfy' | 'server' | 'content' | 'client';
export type LogField = 'time' | 'unit' | 'address' | 'port' | 'msgid';

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

export interface SmtpLimits {
  /** --max-recipients; 0: no limit. */
  maxRecipients: number;
  /** --max-command-length, in bytes. */
  maxCommandLength: number;
  /** --command-timeout, in seconds. */
  commandTimeout: number;
  /** --stress-timeout, in seconds. */
  stressTimeout: number;
}

export interface RelayConfig {
  spoolDir: string;
  smtp: boolean;
  serve: boolean;
  port: number;
  interfaces: string[];
  remoteClients: boolean;
  /** Who may connect to the SMTP, POP, admin and status listeners (--remote-clients, --allow-clients). */
  admission: ClientAdmission;
  domain: string;
  size: number;
  anonymous: Set<AnonymousScope>;
  idleTimeout: number;
  /** Limits on the SMTP listener (README "Limits"); relaybox extensions. */
  smtpLimits: SmtpLimits;
  serverSmtp: { pipelining: boolean; smtputf8: boolean; smtputf8strict: boolean; strictparsing: boolean; alabels: boolean };
  /** --bare-lf-clients: more clients (besides local, private and trusted ones) whose bare LF ends a line. */
  bareLfClients: AddressRange[];
  serverTls: null | { implicit: boolean; required: boolean; keyCert: KeyAndCert; verify?: string };
  tls: TlsVersions;
  /** --pop: the POP3 server, or null. */
  pop: PopConfig | null;
  /** Who may send: --server-auth, --server-auth-config, --dnsbl and the relaybox limits (smtp/access-config.ts). */
  access: AccessConfig;

  forwardTo?: ForwardTarget;
  forwardAtStart: boolean;
  forwardOnDisconnect: boolean;
  pollSeconds: number;
  immediate: boolean;
  forwardToSome: boolean;
  /** Forward the spool once and exit: --dont-serve (or --as-client) without --poll, as E-MailRelay. */
  oneShot: boolean;
  clientInterface?: string;
  connectionTimeout: number;
  responseTimeout: number;
  promptTimeout: number;
  clientSmtp: { pipelining: boolean; smtputf8strict: boolean; eightbitstrict: boolean; binarymimestrict: boolean };
  clientTls: { mode: 'none' | 'starttls' | 'implicit'; required: boolean; keyCert?: KeyAndCert; verify?: string; verifyName?: string; verifyHost: boolean; serverName?: string };
  clientAuth?: string;
  clientAuthConfig?: string;
  retry: { enabled: boolean; delay: number; maxDelay: number; maxAge: number };
  forwardConnections: number;
  /** relaybox extensions of issue 6: sender rewriting and the Microsoft identity platform's URL. */
  forwardFromMailbox: boolean;
  oauthAuthority: string;
  /** --oauth-google-authority: Google's device-code and token endpoints for the status page's sign-in. */
  oauthGoogleAuthority: string;

  /** Filter chain items (split at commas) for --filter and --client-filter. */
  filters: { server: string[]; client: string[] };
  filterTimeout: number;
  addressVerifier?: string;
  deliveryDir: string;
  /** Relative program paths in filter and verifier specs are resolved against this. */
  baseDir: string;

  daemon: boolean;
  closeStderr: boolean;
  pidFile?: string;
  user?: string;
  log: { level: 'warn' | 'info' | 'debug' | 'trace'; file?: string; format: 'json' | 'text'; fields: Set<LogField> };
  /** Admin interface, status page, alerts (src/admin). */
  observe: ObserveConfig;
  warnings: string[];
}

/** A comma list of address ranges (as in `server none` lines): --bare-lf-clients, --allow-clients. */
function addressRanges(opts: OptionSet, name: string, texts = opts.list(name)): AddressRange[] {
  return texts.map((text) => {
    const r = parseAddressRange(text);
    if ('error' in r) throw new UsageError(`${opts.where(name)}: --${name}: ${r.error} (use addresses, address/bits or a.b.c.*, separated by commas)`);
    return r;
  });
}

/** --remote-clients and --allow-clients: who may connect to any listener. */
function clientAdmission(opts: OptionSet): ClientAdmission {
  const items = opts.list('allow-clients');
  const onLink = items.some((t) => t.toLowerCase() === 'on-link');
  return { remoteClients: opts.has('remote-clients'), onLink, ranges: addressRanges(opts, 'allow-clients', items.filter((t) => t.toLowerCase() !== 'on-link')) };
}

function readKeyCert(opts: OptionSet, name: string, base: string): KeyAndCert {
  const files = opts.all(name).map((v) => path.resolve(base, v.value));
  if (files.length > 2) throw new UsageError(`${opts.all(name)[2].where}: --${name} may be given at most twice (key file, then certificate file)`);
  const read = (f: string) => {
    try {
      return readFileSync(f);
    } catch (e) {
      throw new UsageError(`${opts.where(name)}: cannot read --${name} file "${f}": ${(e as Error).message}`);
    }
  };
  const first = read(files[0]);
  const second = files[1] ? read(files[1]) : first;
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(first.toString('latin1'))) {
    throw new UsageError(`${opts.where(name)}: "${files[0]}" holds no private key (give one PEM file with key and certificate, or the key file then the certificate file)`);
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(second.toString('latin1'))) {
    throw new UsageError(`${opts.where(name)}: "${files[1] ?? files[0]}" holds no certificate`);
  }
  return { key: first, cert: second, files };
}

const TLS_KEYWORDS: Record<string, TlsVersions['minVersion']> = {
  'tlsv1.0': 'TLSv1', 'tlsv1.1': 'TLSv1.1', 'tlsv1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3',
};

function parseTlsConfig(opts: OptionSet, warnings: string[]): TlsVersions {
  const result: TlsVersions = { minVersion: 'TLSv1.2', noverify: false };
  const ignoreExtra = opts.list('tls-config').includes('ignoreextra');
  for (const word of opts.list('tls-config').map((w) => w.toLowerCase())) {
    if (TLS_KEYWORDS[word]) result.minVersion = TLS_KEYWORDS[word];
    else if (word.startsWith('-') && TLS_KEYWORDS[word.slice(1)]) result.maxVersion = TLS_KEYWORDS[word.slice(1)];
    else if (word === 'noverify') result.noverify = true;
    else if (word === 'sslv3' || word === '-sslv3') throw new UsageError(`${opts.where('tls-config')}: SSLv3 is not available (the oldest version relaybox can speak is tlsv1.0)`);
    else if (['openssl', 'ignoreextra', 'op_all', 'op_no_ticket', 'op_no_resumption', 'op_server_preference'].includes(word)) continue;
    else if (word === 'mbedtls') throw new UsageError(`${opts.where('tls-config')}: relaybox uses OpenSSL (through node) only; remove "mbedtls"`);
    else if (!ignoreExtra) warnings.push(`--tls-config: unknown keyword "${word}" ignored (add "ignoreextra" to silence this)`);
  }
  return result;
}

function logLevel(opts: OptionSet): RelayConfig['log']['level'] {
  if (opts.has('debug')) return 'trace';
  if (opts.all('verbose').length > 0) return 'debug';
  return opts.has('log') ? 'info' : 'warn';
}

const LOG_FIELDS: LogField[] = ['time', 'unit', 'address', 'port', 'msgid'];

/** Expand --as-client, --as-proxy and --as-server into the options they stand for. */
export function expandShorthands(values: OptionValue[]): OptionValue[] {
  const out: OptionValue[] = [];
  const fake = (name: string, value: string, where: string): OptionValue => ({ spec: { name, group: 'basic', help: '', support: 'yes' }, value, where });
  for (const v of values) {
    out.push(v);
    const w = `${v.where} (--${v.spec.name})`;
    if (v.spec.name === 'as-client') out.push(fake('log', '', w), fake('no-daemon', '', w), fake('dont-serve', '', w), fake('forward', '', w));
    if (v.spec.name === 'as-proxy') out.push(fake('log', '', w), fake('close-stderr', '', w), fake('forward-on-disconnect', '', w));
    if (v.spec.name === 'as-server') out.push(fake('log', '', w), fake('close-stderr', '', w));
  }
  return out;
}

/** Refuse options that are not implemented yet, and repeats of single-valued ones. */
function refuseUnsupported(values: OptionValue[]): void {
  const problems: string[] = [];
  for (const v of values) {
    const s = v.spec;
    if (s.support === 'planned') {
      problems.push(`${v.where}: --${s.name} is not supported yet${s.issue ? ` (planned, issue ${s.issue})` : ''}; remove it to start`);
    } else if (s.support === 'windows') {
      problems.push(`${v.where}: --${s.name} is a Windows option of E-MailRelay and has no meaning here; remove it`);
    }
  }
  if (problems.length) throw new UsageError(problems.join('\n'));
}

function refuseRepeats(values: OptionValue[]): OptionValue[] {
  const seen = new Map<string, OptionValue>();
  const kept: OptionValue[] = [];
  for (const v of values) {
    const first = seen.get(v.spec.name);
    if (!first || v.spec.many || v.spec.maxCount || !v.spec.arg) {
      if (!first) seen.set(v.spec.name, v);
      kept.push(v);
      continue;
    }
    if (first.value === v.value) continue;
    if (first.where === 'command line' && v.where !== 'command line') continue; // the command line wins over the config file
    throw new UsageError(`${v.where}: --${v.spec.name} is given twice ("${first.value}" at ${first.where}, "${v.value}" here): keep one`);
  }
  return kept;
}

function oauthAuthority(opts: OptionSet, name = 'oauth-authority', fallback = 'https://login.microsoftonline.com', example = 'https://login.microsoftonline.us'): string {
  const v = opts.get(name);
  if (v === undefined) return fallback;
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:') throw new UsageError(`${opts.where(name)}: --${name} must be an https URL such as ${example}, not "${v}"`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

export function buildConfig(rawValues: OptionValue[], baseDir = process.cwd()): RelayConfig {
  refuseUnsupported(rawValues);
  const opts = new OptionSet(refuseRepeats(expandShorthands(rawValues)));
  const warnings: string[] = [];
  const usage = (name: string, msg: string): never => {
    throw new UsageError(`${opts.where(name)}: ${msg}`);
  };
  const requires = (name: string, needed: string[], msg: string) => {
    if (opts.has(name) && !needed.some((n) => opts.has(n))) usage(name, msg);
  };
  const excludes = (a: string, b: string, msg: string) => {
    if (opts.has(a) && opts.has(b)) usage(b, msg);
  };

  // E-MailRelay's usage checks (section 1.11).
  excludes('as-client', 'forward-to', '--forward-to cannot be used with --as-client, which already names the server');
  excludes('as-proxy', 'forward-to', '--forward-to cannot be used with --as-proxy, which already names the server');
  excludes('client-tls', 'client-tls-connection', 'use either --client-tls (STARTTLS) or --client-tls-connection (implicit TLS), not both');
  excludes('server-tls', 'server-tls-connection', 'use either --server-tls (STARTTLS) or --server-tls-connection (implicit TLS), not both');
  for (const o of ['port', 'filter', 'server-auth']) {
    excludes('dont-serve', o, `--${o} makes no sense with --dont-serve or --as-client (nothing listens)`);
    excludes('no-smtp', o, `--${o} makes no sense with --no-smtp`);
  }
  requires('client-auth-config', ['client-auth'], '--client-auth-config needs --client-auth');
  requires('verbose', ['log', 'help', 'version'], '--verbose needs --log (or one of --as-server, --as-proxy, --as-client)');
  requires('debug', ['log'], '--debug needs --log');
  requires('server-tls-required', ['server-tls', 'server-tls-connection'], '--server-tls-required needs --server-tls or --server-tls-connection');
  for (const o of ['server-tls-certificate', 'server-tls-verify']) {
    requires(o, ['server-tls', 'server-tls-connection'], `--${o} needs --server-tls or --server-tls-connection`);
  }
  for (const o of ['client-tls-required', 'client-tls-certificate', 'client-tls-verify', 'client-tls-server-name']) {
    requires(o, ['client-tls', 'client-tls-connection'], `--${o} needs --client-tls or --client-tls-connection`);
  }
  requires('client-tls-verify-name', ['client-tls-verify'], '--client-tls-verify-name needs --client-tls-verify');
  if ((opts.has('server-tls') || opts.has('server-tls-connection')) && !opts.has('server-tls-certificate')) {
    usage(opts.has('server-tls') ? 'server-tls' : 'server-tls-connection', 'server TLS needs --server-tls-certificate (a PEM file with the private key and certificate)');
  }
  for (const o of ['server-tls-verify', 'client-tls-verify']) {
    const v = opts.get(o);
    if (v && v !== '<default>' && v !== '<none>' && !existsSync(path.resolve(baseDir, v))) {
      usage(o, `--${o}: there is no CA file or directory "${v}" (or use <default> for the system's CA list)`);
    }
  }
  if (opts.get('poll') === '0') usage('poll', '--poll 0 is not allowed: use --forward-on-disconnect to forward as soon as a client disconnects');

  const forwardSpec = opts.get('as-client') ?? opts.get('as-proxy') ?? opts.get('forward-to');
  const forwardWhere = opts.has('forward-to') ? opts.where('forward-to') : opts.has('as-client') ? opts.where('as-client') : opts.where('as-proxy');
  let forwardTo: ForwardTarget | undefined;
  if (forwardSpec !== undefined) {
    try {
      forwardTo = parseForwardTarget(forwardSpec);
    } catch (e) {
      throw new UsageError(`${forwardWhere}: ${(e as Error).message}`);
    }
  }
  for (const o of ['forward', 'forward-on-disconnect', 'poll', 'immediate', 'forward-to-some', 'client-filter']) {
    if (opts.has(o) && !forwardTo) usage(o, `--${o} needs a server to forward to: add --forward-to host:port`);
  }
  if (forwardTo?.kind === 'graph') {
    if (!opts.has('client-auth') || opts.get('client-auth')!.startsWith('plain:')) usage('forward-to', 'forwarding through Microsoft Graph needs --client-auth with a secrets file holding an oauth-ms-secret, oauth-ms-cert or oauth-refresh line');
    for (const o of ['client-tls', 'client-tls-connection', 'client-interface']) excludes('forward-to', o, `--${o} has no meaning with a Graph --forward-to (Graph is always HTTPS)`);
  }
  requires('forward-from-mailbox', ['client-auth'], '--forward-from-mailbox needs --client-auth (the mailbox is the one relaybox signs in as)');
  if (opts.has('client-interface') && forwardTo?.kind === 'unix') usage('client-interface', '--client-interface cannot be used with a unix-domain --forward-to');
  if (opts.has('domain') && !opts.get('domain')) usage('domain', '--domain must not be empty');

  const domain = opts.get('domain') ?? os.hostname();
  if (/[^\x21-\x7e]/.test(domain)) warnings.push(`--domain "${domain}" is not plain ASCII: use its A-label (xn--) form`);

  const anonymous = new Set<AnonymousScope>();
  for (const v of opts.all('anonymous')) {
    const scopes = v.value ? v.value.split(',').map((s) => s.trim()) : ['vrfy', 'server', 'content', 'client'];
    for (const s of scopes) {
      if (!['vrfy', 'server', 'content', 'client'].includes(s)) throw new UsageError(`${v.where}: --anonymous: unknown scope "${s}" (use vrfy, server, content, client)`);
      anonymous.add(s as AnonymousScope);
    }
  }

  const server = parseSwitches(opts.list('server-smtp-config').join(','),
    { pipelining: true, chunking: false, smtputf8: false, smtputf8strict: false, strictparsing: true, alabels: true, linger: true },
    '--server-smtp-config');
  warnings.push(...server.unknown);
  if (server.switches.chunking) usage('server-smtp-config', '--server-smtp-config chunking (BDAT) is not supported yet: remove "chunking"');
  const client = parseSwitches(opts.list('client-smtp-config').join(','),
    // Pipelining is on unless switched off (E-MailRelay's default is off; RFC 2920 servers must cope).
    { pipelining: true, smtputf8strict: true, eightbitstrict: false, binarymimestrict: true, linger: true },
    '--client-smtp-config');
  warnings.push(...client.unknown);

  const size = readWholeNumber(opts, 'size', 0, 0, Number.MAX_SAFE_INTEGER);
  const port = readWholeNumber(opts, 'port', 25, 0, 65535);

  const formats = opts.list('log-format').map((f) => f.toLowerCase());
  for (const f of formats) {
    if (![...LOG_FIELDS, 'text', 'json'].includes(f)) usage('log-format', `--log-format: unknown keyword "${f}" (use ${LOG_FIELDS.join(', ')}, text or json)`);
  }
  const fields = new Set<LogField>(formats.filter((f): f is LogField => (LOG_FIELDS as string[]).includes(f)));
  if (opts.has('log-time')) fields.add('time');
  if (opts.has('log-address')) fields.add('address');
  // E-MailRelay's text lines unless the relaybox keyword "json" asks for JSON ("text" is accepted too).
  const format = formats.includes('json') ? 'json' : 'text';

  const serverTls = opts.has('server-tls') || opts.has('server-tls-connection')
    ? {
        implicit: opts.has('server-tls-connection'),
        required: opts.has('server-tls-required'),
        keyCert: readKeyCert(opts, 'server-tls-certificate', baseDir),
        verify: resolveCa(opts.get('server-tls-verify')),
      }
    : null;

  const clientTlsMode = opts.has('client-tls-connection') ? 'implicit' : opts.has('client-tls') ? 'starttls' : 'none';
  const clientAuth = opts.get('client-auth');

  const retryDelay = readSeconds(opts, 'retry-delay', 60, false);
  const retryMaxDelay = readSeconds(opts, 'retry-max-delay', 3600, false);
  if (retryMaxDelay < retryDelay) usage('retry-max-delay', `--retry-max-delay (${retryMaxDelay}) must not be less than --retry-delay (${retryDelay})`);

  function resolveCa(v: string | undefined): string | undefined {
    return v && !v.startsWith('<') ? path.resolve(baseDir, v) : v;
  }
  const resolvePath = (p: string | undefined) => (p === undefined ? undefined : path.resolve(baseDir, p));
  const spoolDir = resolvePath(opts.get('spool-dir')) ?? '/var/spool/emailrelay';
  if (opts.has('close-stderr') && !opts.has('log-file') && opts.has('log') && !opts.has('no-daemon')) {
    warnings.push('logging goes nowhere once relaybox runs in the background with stderr closed: add --log-file (or --no-daemon under systemd)');
  }

  return {
    spoolDir,
    smtp: !opts.has('no-smtp') && !opts.has('dont-serve'),
    serve: !opts.has('dont-serve'),
    port,
    interfaces: opts.list('interface'),
    remoteClients: opts.has('remote-clients'),
    admission: clientAdmission(opts),
    domain,
    size,
    anonymous,
    idleTimeout: readSeconds(opts, 'idle-timeout', 1800, false),
    smtpLimits: {
      maxRecipients: readWholeNumber(opts, 'max-recipients', 1000, 0, 1_000_000),
      maxCommandLength: readWholeNumber(opts, 'max-command-length', 2048, 512, 65536),
      commandTimeout: readSeconds(opts, 'command-timeout', 300, false),
      stressTimeout: readSeconds(opts, 'stress-timeout', 10, false),
    },
    serverSmtp: server.switches,
    bareLfClients: addressRanges(opts, 'bare-lf-clients'),
    serverTls,
    tls: parseTlsConfig(opts, warnings),
    pop: buildPopConfig(opts, baseDir, warnings),
    access: accessConfig(opts, baseDir, warnings),
    forwardTo,
    forwardAtStart: opts.has('forward'),
    forwardOnDisconnect: opts.has('forward-on-disconnect'),
    pollSeconds: readSeconds(opts, 'poll', 0),
    immediate: opts.has('immediate'),
    forwardToSome: opts.has('forward-to-some'),
    oneShot: opts.has('dont-serve') && !opts.has('poll'),
    clientInterface: opts.get('client-interface'),
    connectionTimeout: readSeconds(opts, 'connection-timeout', 40, false),
    responseTimeout: readSeconds(opts, 'response-timeout', 1800, false),
    promptTimeout: readSeconds(opts, 'prompt-timeout', 20, false),
    clientSmtp: client.switches,
    clientTls: {
      mode: clientTlsMode,
      required: opts.has('client-tls-required') || clientTlsMode === 'implicit',
      keyCert: opts.has('client-tls-certificate') ? readKeyCert(opts, 'client-tls-certificate', baseDir) : undefined,
      verify: resolveCa(opts.get('client-tls-verify')),
      verifyName: opts.get('client-tls-verify-name'),
      verifyHost: opts.has('client-tls-verify-host'),
      serverName: opts.get('client-tls-server-name'),
    },
    clientAuth: clientAuth && !clientAuth.startsWith('plain:') ? path.resolve(baseDir, clientAuth) : clientAuth,
    clientAuthConfig: opts.get('client-auth-config'),
    retry: {
      enabled: !opts.has('no-retry'),
      delay: retryDelay,
      maxDelay: retryMaxDelay,
      maxAge: readSeconds(opts, 'retry-max-age', 432000, false),
    },
    forwardConnections: readWholeNumber(opts, 'forward-connections', 1, 1, 64),
    forwardFromMailbox: opts.has('forward-from-mailbox'),
    oauthAuthority: oauthAuthority(opts),
    oauthGoogleAuthority: oauthAuthority(opts, 'oauth-google-authority', 'https://oauth2.googleapis.com', 'https://oauth2.googleapis.com'),
    filters: { server: opts.list('filter'), client: opts.list('client-filter') },
    filterTimeout: readSeconds(opts, 'filter-timeout', 60, false),
    addressVerifier: opts.get('address-verifier'),
    deliveryDir: resolvePath(opts.get('delivery-dir')) ?? spoolDir,
    baseDir,
    daemon: !opts.has('no-daemon'),
    closeStderr: opts.has('close-stderr'),
    pidFile: resolvePath(opts.get('pid-file')),
    user: opts.get('user'),
    log: { level: logLevel(opts), file: resolvePath(opts.get('log-file')), format, fields },
    observe: parseObserveOptions(opts, baseDir, domain),
    warnings,
  };
}

/**
 * Start-up check of the --client-auth secrets file (not the inline plain:<b64>:<b64> form): problems
 * that would leave relaybox forwarding without authenticating, each naming the file and line.
 */
export function clientAuthProblems(cfg: RelayConfig, requireClientLine = false): { problems: string[]; warnings: string[] } {
  if (!cfg.clientAuth || cfg.clientAuth.startsWith('plain:')) return { problems: [], warnings: [] };
  const selectorsPossible = cfg.filters.server.length > 0 || cfg.filters.client.length > 0;
  return checkClientSecretsFile(cfg.clientAuth, { selectorsPossible, requireClientLine });
}
