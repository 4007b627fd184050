// E-MailRelay secrets file (reference section 6.1): parsing, lookup, lazy re-reading,
// and the inline "--client-auth=plain:<b64-user>:<b64-pwd>" form.
//
// File format: one record per line, fields separated by spaces/tabs:
//   <client|server> <type>[:b] <id-or-address> <secret-or-keyword> [<client-selector>]
// Blank lines and lines starting with '#' are ignored; a 5th field starting with '#'
// is a comment; more than 5 fields is a warning (the line is still used).
//
// Deliberate choices (E-MailRelay 2.6.1 parity unless noted):
// * Duplicate client secrets are keyed on (type, selector), as in E-MailRelay: one
//   selector may have e.g. both a 'plain' and an 'oauth' secret, and the SASL client
//   chooses among them. A ClientAccount therefore holds at most one secret per type.
// * The ':b' decoration changes the encoding of BOTH fields only for 'plain'. For other
//   types the id is always xtext and the secret base64 (or dotted for md5), so
//   "client oauth:b user <b64>" works as in the real-world token-updater scripts.
// * Stricter than E-MailRelay (these lines can never authenticate anyway): unknown
//   password types, 'oauth' on a server line, 'none' on a client line, and hashed
//   states of the wrong length are reported as errors and the line is skipped.
// * A bad line never spoils the rest of the file: it is reported with its line
//   number and skipped. Problems with level 'error' are the ones E-MailRelay's
//   startup check treats as fatal; `fatal` is set only for file-level failures
//   (the file cannot be read at all).

import { readFileSync, statSync, type Stats } from 'node:fs';
import { asRoot } from '../privilege';
import { decodeXtextBytes } from './xtext';
import { dottedToState, isDotted } from './cram';
import { bestMatch, parseAddressRange, type AddressRange } from '../net/address-range';
import { isGrantType, parseGrantLine, type GrantLine } from './oauth-lines';
import { secretValue, type SecretValue } from './secret-value';

// ---- parsed data ----

/** Server-side password types (after legacy aliases: login->plain, cram-md5/apop->md5). */
export type ServerSecretType = 'plain' | 'md5' | 'sha1' | 'sha256' | 'sha512';
/** Client-side password types. */
export type ClientSecretType = ServerSecretType | 'oauth';

/** Size of a hashed ("masked") state: inner+outer chaining state of the digest. */
const HASHED_STATE_BYTES: Record<Exclude<ServerSecretType, 'plain'>, number> = {
  md5: 32,
  sha1: 40,
  sha256: 64,
  sha512: 128,
};

/**
 * A `server` account line. For 'plain' the secret is the password; for md5/sha*
 * it is the pre-computed HMAC state (see cram.ts), usable only for CRAM-<hash>.
 */
export interface ServerAccount {
  readonly type: ServerSecretType;
  readonly userId: string;
  readonly secret: SecretValue;
  readonly line: number;
}

/** A `server none <address-range> <keyword>` trust line; both fields kept exactly as written. */
export interface TrustLine {
  readonly address: string;
  readonly keyword: string;
  readonly line: number;
  /** The parsed range (address-range.ts). */
  readonly range: AddressRange;
}

/**
 * One `client` secret. 'plain': the password; 'md5'/'sha*': hashed state;
 * 'oauth': the decoded XOAUTH2 initial response ("user=..^Aauth=Bearer ..^A^A"),
 * to be sent base64-encoded as-is.
 */
export interface ClientSecret {
  readonly type: ClientSecretType;
  readonly userId: string;
  readonly secret: SecretValue;
  readonly line: number;
}

/**
 * The client credentials for one selector ('' = lines without a 5th field).
 * An account with no secrets (from "client plain:b = = <selector>") means
 * "valid selector, do not authenticate".
 */
export interface ClientAccount {
  readonly selector: string;
  readonly secrets: Readonly<Partial<Record<ClientSecretType, ClientSecret>>>;
  /** A relaybox OAuth2 grant line (src/auth/oauth-lines.ts): relaybox gets the tokens itself. */
  readonly grant?: GrantLine;
  /** Line that first mentioned this selector (0 for the command-line form). */
  readonly line: number;
}

export interface Secrets {
  /** Server accounts by decoded user id (one entry per password type). */
  readonly server: ReadonlyMap<string, readonly ServerAccount[]>;
  /** Password types present among server accounts (drives the advertised mechanisms). */
  readonly serverTypes: ReadonlySet<ServerSecretType>;
  /** Trust lines in file order. */
  readonly trust: readonly TrustLine[];
  /** Client accounts by selector. */
  readonly client: ReadonlyMap<string, ClientAccount>;
}

export interface SecretsProblem {
  readonly file: string;
  /** 1-based line number; 0 for a problem with the file as a whole. */
  readonly line: number;
  readonly message: string;
  /** 'error': the line was skipped; 'warning': the line was still used. */
  readonly level: 'error' | 'warning';
  /** True only when the file as a whole could not be used (e.g. unreadable). */
  readonly fatal: boolean;
  /** The line's first field, when it is one of the two ('client' lines matter to --client-auth). */
  readonly side?: 'client' | 'server';
}

export interface ParsedSecrets {
  readonly secrets: Secrets;
  readonly problems: readonly SecretsProblem[];
}

export function emptySecrets(): Secrets {
  return { server: new Map(), serverTypes: new Set(), trust: [], client: new Map() };
}

/** "file(line): message", like E-MailRelay's diagnostics. */
export function formatProblem(p: SecretsProblem): string {
  return p.line > 0 ? `${p.file}(${p.line}): ${p.message}` : `${p.file}: ${p.message}`;
}

// ---- lookups ----

/** The client account for a selector ('' = default); undefined if the selector is unknown. */
export function findClientAccount(secrets: Secrets, selector = ''): ClientAccount | undefined {
  return secrets.client.get(selector);
}

/** Does this account require authentication (has at least one secret)? */
export function mustAuthenticate(account: ClientAccount): boolean {
  return Object.keys(account.secrets).length > 0 || account.grant !== undefined;
}

/** All server accounts for a user id (exact, case-sensitive match). */
export function serverAccounts(secrets: Secrets, userId: string): readonly ServerAccount[] {
  return secrets.server.get(userId) ?? [];
}

export function findServerAccount(secrets: Secrets, type: ServerSecretType, userId: string): ServerAccount | undefined {
  return serverAccounts(secrets, userId).find((a) => a.type === type);
}

/**
 * The trust line for a peer address (as the socket reports it): the most specific range that
 * contains it, by CIDR arithmetic (address-range.ts).
 */
export function findTrust(secrets: Secrets, address: string): TrustLine | undefined {
  return bestMatch(secrets.trust, address);
}

// ---- field decoding ----

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict-ish base64 check: standard alphabet, padding only at the end, consistent length. */
function decodeBase64(s: string): Buffer | null {
  if (!BASE64_RE.test(s)) return null;
  const body = s.replace(/=+$/, '');
  if (body.length % 4 === 1) return null;
  if (body.length !== s.length && s.length % 4 !== 0) return null;
  return Buffer.from(body, 'base64');
}

/** What to write instead, for a field that is not valid xtext (RFC 3461, as E-MailRelay reads it). */
export const XTEXT_HINT = 'write `+` as `+2B`, a space as `+20` (and any other character outside printable ASCII as + and two hex digits per UTF-8 byte)';
const BASE64_HINT = 'with plain:b both fields are base64; to write them as they are, use plain (xtext) instead';

function canonicalType(t: string): string {
  if (t === 'login') return 'plain';
  if (t === 'cram-md5' || t === 'apop') return 'md5';
  return t;
}

const KNOWN_TYPES: readonly ClientSecretType[] = ['plain', 'md5', 'sha1', 'sha256', 'sha512', 'oauth'];

function isKnownType(t: string): t is ClientSecretType {
  return (KNOWN_TYPES as readonly string[]).includes(t);
}

// ---- parser ----

interface MutableClientAccount {
  selector: string;
  secrets: Partial<Record<ClientSecretType, ClientSecret>>;
  grant?: GrantLine;
  line: number;
}

interface Builder {
  server: Map<string, ServerAccount[]>;
  serverTypes: Set<ServerSecretType>;
  trust: TrustLine[];
  client: Map<string, MutableClientAccount>;
}

function clientAccountFor(b: Builder, selector: string, line: number): MutableClientAccount {
  let account = b.client.get(selector);
  if (account === undefined) {
    account = { selector, secrets: {}, line };
    b.client.set(selector, account);
  }
  return account;
}

const WS_TRIM = /^[ \t\r\n]+|[ \t\r\n]+$/g;

/**
 * Parse secrets-file text. Never throws: each bad line is reported in `problems`
 * (with its 1-based line number) and skipped; the other lines are still used.
 */
export function parseSecrets(text: string, fileName: string): ParsedSecrets {
  const b: Builder = { server: new Map(), serverTypes: new Set(), trust: [], client: new Map() };
  const problems: SecretsProblem[] = [];
  let side: 'client' | 'server' | undefined;
  const problem = (line: number, level: 'error' | 'warning', message: string): void => {
    problems.push({ file: fileName, line, message, level, fatal: false, ...(side ? { side } : {}) });
  };

  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.replace(WS_TRIM, '');
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/[ \t]+/);
    const first = fields[0]!.toLowerCase();
    side = first === 'client' || first === 'server' ? first : undefined;
    if (fields.length < 4) {
      problem(lineNo, 'error', `too few fields: write ${side ?? '<client|server>'} <type> <user> <password>${side === 'server' ? '' : ' [<selector>]'}`);
      return;
    }
    let selector = fields[4] ?? '';
    if (selector.startsWith('#')) {
      selector = '';
    } else if (fields.length > 5) {
      problem(lineNo, 'warning', 'too many fields');
    }
    const err = processLine(b, lineNo, fields[0]!, fields[1]!, fields[2]!, fields[3]!, selector, problem, fileName);
    if (err !== undefined) problem(lineNo, 'error', err);
  });

  const secrets: Secrets = {
    server: b.server,
    serverTypes: b.serverTypes,
    trust: b.trust,
    client: b.client,
  };
  return { secrets, problems };
}

/** Handle one record; returns an error message if the line must be skipped. */
function processLine(
  b: Builder,
  lineNo: number,
  sideField: string,
  typeField: string,
  idField: string,
  secretField: string,
  selector: string,
  problem: (line: number, level: 'error' | 'warning', message: string) => void,
  fileName: string,
): string | undefined {
  const side = sideField.toLowerCase();
  if (side !== 'server' && side !== 'client') return `invalid value in first field: [${sideField}]`;

  const colon = typeField.indexOf(':');
  const baseType = canonicalType((colon < 0 ? typeField : typeField.slice(0, colon)).toLowerCase());
  const decoration = colon < 0 ? '' : typeField.slice(colon + 1).toLowerCase();
  if (decoration !== '' && decoration !== 'b') return `invalid password type: [${typeField}]`;
  const base64Fields = decoration === 'b';

  if (side === 'server' && baseType === 'none') {
    if (selector !== '') problem(lineNo, 'warning', 'fifth field ignored on a server line');
    const range = parseAddressRange(idField);
    if ('error' in range) return range.error;
    if (range.hostBitsSet) problem(lineNo, 'warning', `address range "${idField}" has host bits set: it is used as the whole network`);
    if (b.trust.some((t) => t.address === idField)) return 'duplicate server trust address';
    b.trust.push({ address: idField, keyword: secretField, line: lineNo, range });
    return undefined;
  }

  if (side === 'client' && baseType === 'plain' && base64Fields && idField === '=' && secretField === '=') {
    clientAccountFor(b, selector, lineNo); // selector that means "do not authenticate"
    return undefined;
  }

  if (isGrantType(baseType)) {
    if (side === 'server') return `${baseType} lines are only valid on client lines`;
    const grant = parseGrantLine(baseType, idField, secretField, lineNo, fileName, secretValue);
    if (typeof grant === 'string') return grant;
    if (b.client.get(selector)?.grant) return 'duplicate client oauth grant (one grant line per selector)';
    clientAccountFor(b, selector, lineNo).grant = grant;
    return undefined;
  }
  if (!isKnownType(baseType)) {
    return `invalid password type: [${typeField}]: use ${
      side === 'client'
        ? 'plain, plain:b, md5, oauth, oauth:b, oauth-ms-secret, oauth-ms-cert, oauth-google-sa or oauth-refresh'
        : 'plain, plain:b, md5, sha1, sha256, sha512 or none'
    }`;
  }
  if (side === 'server' && baseType === 'oauth') return 'oauth secrets are only valid on client lines';

  // id: base64 for plain:b, otherwise xtext
  const idBytes = baseType === 'plain' && base64Fields ? decodeBase64(idField) : decodeXtextBytes(idField);
  if (idBytes === null) {
    return baseType === 'plain' && base64Fields
      ? `invalid base64 encoding in third field: ${BASE64_HINT}`
      : `invalid xtext encoding in third field: ${XTEXT_HINT}`;
  }
  if (idBytes.length === 0) return 'empty id';

  let secretBytes: Buffer | null;
  let secretEncoding: string;
  if (baseType === 'plain') {
    secretEncoding = base64Fields ? 'base64' : 'xtext';
    secretBytes = base64Fields ? decodeBase64(secretField) : decodeXtextBytes(secretField);
  } else if (baseType === 'md5' && isDotted(secretField)) {
    secretEncoding = 'dotted';
    secretBytes = dottedToState(secretField);
  } else {
    secretEncoding = 'base64';
    secretBytes = decodeBase64(secretField);
  }
  if (secretBytes === null) {
    return `invalid ${secretEncoding} encoding in fourth field${
      secretEncoding === 'xtext'
        ? `: ${XTEXT_HINT}`
        : secretEncoding === 'base64' && baseType === 'plain'
          ? `: ${BASE64_HINT}`
          : baseType === 'oauth'
            ? ': the fourth field of an oauth line is the base64 of the whole XOAUTH2 initial response'
            : ''
    }`;
  }
  if (secretBytes.length === 0) return 'empty secret';
  if (baseType !== 'plain' && baseType !== 'oauth') {
    const want = HASHED_STATE_BYTES[baseType];
    if (secretBytes.length !== want) {
      return `invalid ${baseType} hashed secret: ${secretBytes.length} bytes, expected ${want}`;
    }
  }

  const userId = idBytes.toString('utf8');
  const secret = secretValue(secretBytes);

  if (side === 'server') {
    const type = baseType as ServerSecretType;
    if (selector !== '') problem(lineNo, 'warning', 'fifth field ignored on a server line');
    const list = b.server.get(userId) ?? [];
    if (list.some((a) => a.type === type)) return 'duplicate server secret';
    list.push({ type, userId, secret, line: lineNo });
    b.server.set(userId, list);
    b.serverTypes.add(type);
    return undefined;
  }

  const existing = b.client.get(selector);
  if (existing?.secrets[baseType] !== undefined) return 'duplicate client secret';
  const account = clientAccountFor(b, selector, lineNo);
  account.secrets[baseType] = { type: baseType, userId, secret, line: lineNo };
  return undefined;
}

// ---- command-line form ----

/** Is a --client-auth value the inline "plain:<b64-user>:<b64-pwd>" form rather than a file name? */
export function isInlineClientAuth(spec: string): boolean {
  return spec.startsWith('plain:');
}

/**
 * Parse "plain:<b64-user>:<b64-pwd>" into a default-selector client account with a
 * single 'plain' secret. The error message never contains the password.
 */
export function parseInlineClientAuth(spec: string): { account: ClientAccount } | { error: string } {
  if (!isInlineClientAuth(spec)) return { error: 'not of the form plain:<base64-user>:<base64-password>' };
  const rest = spec.slice('plain:'.length);
  const colon = rest.indexOf(':');
  if (colon < 0) return { error: 'missing password: expected plain:<base64-user>:<base64-password>' };
  const id = decodeBase64(rest.slice(0, colon));
  const pwd = decodeBase64(rest.slice(colon + 1));
  if (id === null) return { error: 'invalid base64 encoding of the user id' };
  if (pwd === null) return { error: 'invalid base64 encoding of the password' };
  if (id.length === 0) return { error: 'empty user id' };
  if (pwd.length === 0) return { error: 'empty password' };
  const secret: ClientSecret = { type: 'plain', userId: id.toString('utf8'), secret: secretValue(pwd), line: 0 };
  return { account: { selector: '', secrets: { plain: secret }, line: 0 } };
}

// ---- files ----

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Read and parse a secrets file. Never throws: if the file cannot be read the result
 * has empty secrets and a single fatal problem (line 0).
 */
export function readSecretsFile(path: string): ParsedSecrets {
  let text: string;
  try {
    // Read as root when running as root with --user: secrets files are often root's alone.
    text = asRoot(() => readFileSync(path, 'utf8'));
  } catch (e) {
    return {
      secrets: emptySecrets(),
      problems: [{ file: path, line: 0, message: `cannot read secrets file: ${errorMessage(e)}`, level: 'error', fatal: true }],
    };
  }
  return parseSecrets(text, path);
}

/** Minimal logger (a pino logger fits). Messages never contain secret values. */
export interface SecretsLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface WatchSecretsOptions {
  /** Clock in milliseconds (injectable for tests); default Date.now. */
  readonly now?: () => number;
  /** Minimum interval between file checks; default 1000 ms. */
  readonly intervalMs?: number;
  /**
   * Reasons to refuse a re-read version (each naming file and line), judged against the secrets in
   * use; a refused version is logged as an error and the previous secrets stay in use.
   */
  readonly refuse?: (next: ParsedSecrets, previous: Secrets) => readonly string[];
}

export interface SecretsWatcher {
  readonly path: string;
  /** The current secrets; checks the file (stat) at most once per interval. */
  current(): Secrets;
  /** Problems from the last successful read. */
  problems(): readonly SecretsProblem[];
}

function fileSignature(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

function logProblems(log: SecretsLogger, problems: readonly SecretsProblem[]): void {
  for (const p of problems) {
    if (p.level === 'error') log.error(`secrets file problem: ${formatProblem(p)}`);
    else log.warn(`secrets file problem: ${formatProblem(p)}`);
  }
}

/**
 * Keep a secrets file's contents up to date, lazily: current() stats the file at
 * most once per interval and re-reads it when its identity, size or mtime changed
 * (E-MailRelay checks only the mtime, at most once a second). If the file becomes
 * unreadable the last good secrets are kept and the failure is logged once (until
 * it changes or the file is readable again). `onChange` runs after each successful
 * re-read (not after the initial read) and must not throw.
 * Throws if the file cannot be read initially (E-MailRelay fails at startup too).
 */
export function watchSecrets(
  path: string,
  onChange: (secrets: Secrets, problems: readonly SecretsProblem[]) => void,
  log: SecretsLogger,
  options: WatchSecretsOptions = {},
): SecretsWatcher {
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? 1000;

  let signature = '';
  try {
    signature = fileSignature(statSync(path));
  } catch (e) {
    throw new Error(`cannot read secrets file: ${errorMessage(e)}`);
  }
  const initial = readSecretsFile(path);
  const fatal = initial.problems.find((p) => p.fatal);
  if (fatal !== undefined) throw new Error(formatProblem(fatal));
  logProblems(log, initial.problems);

  let secrets = initial.secrets;
  let problems = initial.problems;
  let lastCheck = now();
  let reportedFailure: string | undefined;

  const fail = (message: string): void => {
    if (reportedFailure !== message) {
      reportedFailure = message;
      log.error(`${message}: keeping the previous secrets`);
    }
  };

  const check = (): void => {
    let sig: string;
    try {
      sig = fileSignature(asRoot(() => statSync(path)));
    } catch (e) {
      fail(`cannot read secrets file: ${errorMessage(e)}`);
      return;
    }
    if (sig === signature && reportedFailure === undefined) return;
    if (sig !== signature) log.info(`re-reading secrets file: ${path}`);
    const result = readSecretsFile(path);
    const fatalProblem = result.problems.find((p) => p.fatal);
    if (fatalProblem !== undefined) {
      fail(formatProblem(fatalProblem));
      return;
    }
    const refused = options.refuse?.(result, secrets) ?? [];
    if (refused.length > 0) {
      fail(refused.join('; '));
      return;
    }
    reportedFailure = undefined;
    signature = sig;
    secrets = result.secrets;
    problems = result.problems;
    logProblems(log, problems);
    onChange(secrets, problems);
  };

  return {
    path,
    current(): Secrets {
      const t = now();
      if (t - lastCheck >= interval || t < lastCheck) {
        lastCheck = t;
        check();
      }
      return secrets;
    },
    problems: () => problems,
  };
}
