// The boot-time import: the user's files on the FAT boot partition -> the data partition (the
// relay's working configuration, the secrets) and /run (network, time, SSH). A broken new file
// never replaces the last good one; every outcome becomes a line of STATUS.txt.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { UsageError, parseConfigTextAll, type OptionValue } from '../options/parse';
import { OPTIONS_BY_NAME } from '../options/table';
import { buildConfig, clientAuthProblems, expandShorthands, type RelayConfig } from '../config';
import { parseSecrets, readSecretsFile, formatProblem, type ParsedSecrets } from '../auth/secrets';
import { clientSecretsProblems, type ClientSecretsContext } from '../auth/client-secrets-check';
import { normaliseText, meaningfulLines, forWindows } from './text';
import { NETWORK_DEFAULTS, describeNetwork, parseNetworkConf, renderNetworkFiles, type NetworkSettings } from './network';
import { readIfExists, scrubAndRemove, scrubFile, writeFileDurably } from './fsutil';
import { findKeyFiles, installKeyFiles, pointAtImportedKeys, renewKeyFiles, scrubKeyFiles } from './key-files';
import { nearestOption, plainProblem } from './plain-words';
import { ADMIN_PASSWORD_FILE, importAdminPassword } from './admin-password';
import { importUsers } from './users-import';
import type { ImportPaths } from './import-paths';
import type { Section } from './section';

export interface ImportResult {
  config: Section;
  secrets: Section;
  adminPassword: Section;
  network: Section;
  /** Only when the card has a users file with lines in it. */
  users?: Section;
  /** The settings now in force (the new ones, the last good ones, or the defaults). */
  networkSettings: NetworkSettings;
  /** A working relay configuration exists (new or last good). */
  relayConfigured: boolean;
}

export const SCRUB_NOTE_MARK = '# relaybox: the secrets that were here';
const EXAMPLE_SECRET = /^client\s+plain\s+you@example\.com\s+your-password\b/;
const EXAMPLE_UPSTREAM = /(^|\.)example\.(com|org|net)(:|$)/i;

export const DATA_MOUNT = '/var/lib/relaybox';
const stamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

function scrubNote(now: Date, keyFiles: string[]): string {
  return forWindows(
    [
      `${SCRUB_NOTE_MARK} were imported into the box on ${stamp(now)} and removed from this card.`,
      ...keyFiles.map((f) => `# The key file ${f} was imported with them and removed from this card.`),
      '# To change them, replace these lines with the new ones (same format as before) and restart the box.',
      '# They will be imported and removed again. Lines starting with # are ignored.',
      '',
    ].join('\n'),
  );
}

// ---- relaybox.secrets ----

interface SecretsUse extends ClientSecretsContext {
  /** The relay logs in with these secrets (relaybox.conf has client-auth). */
  clientAuth: boolean;
}

/** How relaybox.conf (the card's, else the one in use) uses the secrets, for checking them as the relay will. */
function secretsUse(p: ImportPaths): SecretsUse {
  const conf = readIfExists(path.join(p.boot, 'relaybox.conf')) ?? readIfExists(path.join(p.data, 'config', 'relaybox.conf'));
  // The card's secrets exist to sign in: a file without a client line is a forgotten login.
  if (conf === undefined) return { clientAuth: true, selectorsPossible: false, requireClientLine: true };
  const names = new Set(expandShorthands(parseConfigTextAll(normaliseText(conf), 'relaybox.conf').values).map((v) => v.spec.name));
  return { clientAuth: names.has('client-auth'), selectorsPossible: names.has('filter') || names.has('client-filter'), requireClientLine: true };
}

/** The values the templates in relaybox.secrets hold in place of the user's own. */
const PLACEHOLDERS = ['11111111-2222-3333-4444-555555555555', 'the-secret-Value', 'your-app-password', 'the-client-id', 'the-client-secret'];

function templatePlaceholders(text: string): string[] {
  return text
    .split('\n')
    .flatMap((line, i) =>
      line.trim().startsWith('#')
        ? []
        : PLACEHOLDERS.filter((x) => line.includes(x)).map(
            (x) => `relaybox.secrets(${i + 1}): "${x}" is the template's example: put your own value there (README.txt says where it comes from)`,
          ),
    );
}

/** Every reason the relay would refuse or misread these secrets, "relaybox.secrets(line): ...". */
function secretsErrors(parsed: ParsedSecrets, use: SecretsUse): string[] {
  const errors = parsed.problems.filter((x) => x.level === 'error').map(formatProblem);
  if (use.clientAuth) errors.push(...clientSecretsProblems('relaybox.secrets', parsed, use));
  return [...new Set(errors)];
}

function importSecrets(p: ImportPaths, now: Date): Section {
  const s: Section = { title: 'Secrets (relaybox.secrets)', lines: [], ok: true };
  const fat = path.join(p.boot, 'relaybox.secrets');
  const kept = path.join(p.data, 'relaybox.secrets');
  const haveKept = fs.existsSync(kept);
  const raw = readIfExists(fat);
  const lines = raw === undefined ? [] : meaningfulLines(raw);
  const keysDir = path.join(p.data, 'keys');
  if (lines.length === 0) {
    s.lines.push(haveKept ? `in use: the secrets imported earlier (${stamp(fs.statSync(kept).mtime)})` : 'none: no relaybox.secrets has been imported');
    if (!haveKept) return s;
    const keys = renewKeyFiles(readSecretsFile(kept), p.boot, keysDir, p.owner);
    for (const name of keys.renewed) s.lines.push(`imported the new key file ${name} over the one in use and removed it from the card`);
    for (const x of keys.problems) s.lines.push(`error: ${x}`);
    s.ok = keys.problems.length === 0;
    return s;
  }
  if (lines.some((l) => EXAMPLE_SECRET.test(l))) {
    s.ok = false;
    s.lines.push(
      lines.length > 1
        ? 'relaybox.secrets still holds the example line "client plain you@example.com your-password" beside your own: put a # in front of the example'
        : 'relaybox.secrets still holds the example line "client plain you@example.com your-password": put your own user and password there, or a line from README.txt',
    );
    if (haveKept) s.lines.push('the secrets imported earlier stay in use');
    return s;
  }
  const text = normaliseText(raw!);
  // Parsed as the file on the card, so that a key file's name is looked up next to it.
  const onCard = parseSecrets(text, fat);
  const parsed: ParsedSecrets = { secrets: onCard.secrets, problems: onCard.problems.map((x) => ({ ...x, file: 'relaybox.secrets' })) };
  for (const w of parsed.problems.filter((x) => x.level === 'warning')) s.lines.push(`warning: ${plainProblem(formatProblem(w))}`);
  const keys = findKeyFiles(parsed, p.boot, keysDir);
  const errors = [...secretsErrors(parsed, secretsUse(p)), ...templatePlaceholders(text), ...keys.problems];
  if (errors.length) {
    s.ok = false;
    for (const e of errors) s.lines.push(`error: ${plainProblem(e)}`);
    s.lines.push(`not imported, and left on the card as it is: ${haveKept ? 'the secrets imported earlier stay in use' : 'fix the lines above'}`);
    return s;
  }
  installKeyFiles(keys.files, keysDir, p.owner);
  writeFileDurably(kept, pointAtImportedKeys(text, keys.files), 0o600, p.owner);
  const keyNames = keys.files.filter((f) => f.data).map((f) => path.relative(p.boot, f.source));
  scrubFile(fat, scrubNote(now, [...new Set(keyNames)]));
  const removed = scrubKeyFiles(keys.files, p.boot);
  s.lines.push(`imported ${lines.length} line${lines.length > 1 ? 's' : ''} on ${stamp(now)} and removed ${lines.length > 1 ? 'them' : 'it'} from the card`);
  if (removed.length)
    s.lines.push(`imported the key file${removed.length > 1 ? 's' : ''} ${removed.join(', ')} and removed ${removed.length > 1 ? 'them' : 'it'} from the card`);
  return s;
}

// ---- relaybox.conf and tls/ ----

interface Candidate {
  conf: string;
  tls: Map<string, Buffer>;
  /** tls/ files on the card holding a private key: scrubbed from it once imported. */
  privateKeysOnCard: string[];
  digest: string;
}

function tlsFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  if (!fs.existsSync(dir)) return files;
  for (const name of fs.readdirSync(dir).sort()) {
    const f = path.join(dir, name);
    if (fs.statSync(f).isFile() && !name.startsWith('.') && !name.endsWith('.tmp')) files.set(name, fs.readFileSync(f));
  }
  return files;
}

/** The card's relaybox.conf and tls/, with the tls/ files imported earlier (and scrubbed from the card) where the card has none. */
function readCandidate(boot: string, activeTls: string): Candidate | undefined {
  const raw = readIfExists(path.join(boot, 'relaybox.conf'));
  if (raw === undefined) return undefined;
  const conf = normaliseText(raw);
  const onCard = tlsFiles(path.join(boot, 'tls'));
  const tls = new Map([...tlsFiles(activeTls), ...onCard].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const privateKeysOnCard = [...onCard].filter(([, data]) => data.includes('PRIVATE KEY-----')).map(([name]) => name);
  const h = createHash('sha256').update(conf);
  for (const [name, data] of tls) h.update(`\0${name}\0`).update(data);
  return { conf, tls, privateKeysOnCard, digest: h.digest('hex') };
}

const cmdline = (name: string): OptionValue => ({ spec: OPTIONS_BY_NAME.get(name)!, value: '', where: 'the appliance' });

/**
 * Build the configuration with the relay's own code, collecting every problem: a line the relay
 * refuses is reported and left out, and the rest is built again (bounded by the number of lines).
 */
function buildAll(values: OptionValue[], dir: string): { cfg?: RelayConfig; problems: string[] } {
  const problems: string[] = [];
  const dropped = new Set<string>();
  let remaining = values;
  for (let round = 0; round <= values.length; round++) {
    try {
      return { cfg: buildConfig([cmdline('no-daemon'), ...remaining], dir), problems };
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      const found = e.message.split('\n');
      // An option left out makes others complain about it: those are not news.
      problems.push(...found.filter((x) => ![...dropped].some((name) => x.includes(`--${name} `) || x.includes(`--${name}"`) || x.endsWith(`--${name}`))));
      const lines = new Set(found.map((x) => /^(relaybox\.conf:\d+):/.exec(x)?.[1]).filter(Boolean));
      const names = new Set(remaining.filter((v) => lines.has(v.where)).map((v) => v.spec.name));
      if (!names.size) break; // not about one line: nothing to leave out
      for (const n of names) dropped.add(n);
      remaining = remaining.filter((v) => !names.has(v.spec.name));
    }
  }
  return { problems };
}

const lineOf = (problem: string) => Number(/^relaybox\.conf:(\d+):/.exec(problem)?.[1] ?? 0);

/** Check a relay configuration in dir with the relay's own parser; returns every problem (file:line: ...). */
export function validateRelayConfig(conf: string, dir: string, dataDir = DATA_MOUNT): string[] {
  const parsed = parseConfigTextAll(conf, 'relaybox.conf');
  // The rest is checked as if the unreadable lines said what they meant, so that one typo does not
  // make the options depending on that line complain, and the values they hold are checked too.
  const values = parseConfigTextAll(asMeant(conf, parsed.problems), 'relaybox.conf').values;
  const built = buildAll(values, dir);
  const problems = [...parsed.problems, ...built.problems, ...(built.cfg ? appliancePlace(built.cfg, values, dataDir) : [])];
  return problems.map((x) => x.split(`${dir}/`).join('')).sort((a, b) => lineOf(a) - lineOf(b));
}

/** The configuration with a misspelt option name replaced by the nearest one and a switch's stray value left out. */
function asMeant(conf: string, problems: string[]): string {
  const lines = conf.split('\n');
  for (const problem of problems) {
    const i = lineOf(problem) - 1;
    if (i < 0) continue;
    const unknown = /: unknown option "([^"]+)"/.exec(problem);
    const near = unknown && nearestOption(unknown[1]!);
    const aSwitch = /: "([a-z0-9-]+)" is a switch and takes no value/.exec(problem);
    if (near) lines[i] = lines[i]!.replace(unknown[1]!, near);
    else if (aSwitch) lines[i] = aSwitch[1]!;
  }
  return lines.join('\n');
}

/** What the appliance adds to the relay's checks: the spool on the data partition, no example upstream, a usable login. */
function appliancePlace(cfg: RelayConfig, values: OptionValue[], dataDir: string): string[] {
  const problems: string[] = [];
  const under = (p: string, root: string) => p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
  const where = (name: string) => values.find((v) => v.spec.name === name)?.where ?? 'relaybox.conf';
  if (!under(cfg.spoolDir, dataDir)) {
    problems.push(`${where('spool-dir')}: the spool must be on the data partition: write "spool-dir ${dataDir}/spool"`);
  }
  for (const [name, file] of [
    ['log-file', cfg.log.file],
    ['pid-file', cfg.pidFile],
  ] as const) {
    if (file && !under(file, dataDir) && !under(file, '/run')) {
      problems.push(`${where(name)}: ${file} is on the read-only system partition: remove "${name}" (the log goes to the journal)`);
    }
  }
  if (cfg.forwardTo && EXAMPLE_UPSTREAM.test(cfg.forwardTo.text)) {
    problems.push(`${where('forward-to')}: "forward-to ${cfg.forwardTo.text}" is the example: name your provider's SMTP server (like smtp.office365.com:587)`);
  }
  if (cfg.clientAuth && !cfg.clientAuth.startsWith('plain:')) {
    if (!fs.existsSync(cfg.clientAuth)) {
      problems.push(
        `${where('client-auth')}: no login has been imported yet: relaybox.secrets on the card needs a line the box can use (a template from README.txt; the Secrets part of STATUS.txt says what is wrong with it)`,
      );
    } else {
      const serverLines = readSecretsFile(cfg.clientAuth).problems.filter((x) => x.level === 'error' && x.side === 'server');
      problems.push(...serverLines.map(formatProblem), ...clientAuthProblems(cfg, true).problems);
    }
  }
  return problems;
}

/** Zero and remove tls/ private keys from the card once they are in the configuration in use. */
function scrubImportedKeys(boot: string, names: string[], s: Section): void {
  for (const name of names) scrubAndRemove(path.join(boot, 'tls', name));
  if (names.length)
    s.lines.push(
      `the private key${names.length > 1 ? 's' : ''} tls/${names.join(', tls/')} ${names.length > 1 ? 'were' : 'was'} imported and removed from the card`,
    );
}

function importConfig(p: ImportPaths, now: Date): { section: Section; configured: boolean } {
  const s: Section = { title: 'Relay configuration (relaybox.conf, tls/)', lines: [], ok: true };
  const active = path.join(p.data, 'config');
  const activeConf = path.join(active, 'relaybox.conf');
  const haveActive = fs.existsSync(activeConf);
  const importedAt = readIfExists(path.join(active, 'imported-at'))?.trim();
  const lastGood = haveActive
    ? `still running the last good configuration, imported on ${importedAt ?? 'an earlier boot'}`
    : 'the relay is not running: there is no good configuration yet';
  const cand = readCandidate(p.boot, path.join(active, 'tls'));
  if (!cand) {
    s.ok = haveActive;
    s.lines.push(`there is no relaybox.conf on the card; ${lastGood}`);
    return { section: s, configured: haveActive };
  }
  if (haveActive && readIfExists(path.join(active, 'source.sha256'))?.trim() === cand.digest) {
    s.lines.push(`unchanged: running the configuration imported on ${importedAt}`);
    scrubImportedKeys(p.boot, cand.privateKeysOnCard, s); // left on the card by a version that did not scrub them
    return { section: s, configured: true };
  }
  const staging = path.join(p.data, 'config.new');
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(path.join(staging, 'tls'), { recursive: true, mode: 0o755 });
  fs.symlinkSync('../relaybox.secrets', path.join(staging, 'relaybox.secrets'));
  fs.symlinkSync(`../${ADMIN_PASSWORD_FILE}`, path.join(staging, ADMIN_PASSWORD_FILE));
  for (const [name, data] of cand.tls) {
    writeFileDurably(path.join(staging, 'tls', name), data, 0o600, p.owner);
  }
  writeFileDurably(path.join(staging, 'relaybox.conf'), cand.conf, 0o644);
  const problems = validateRelayConfig(cand.conf, staging, p.dataMount ?? DATA_MOUNT);
  if (problems.length) {
    fs.rmSync(staging, { recursive: true, force: true });
    s.ok = false;
    for (const x of problems) s.lines.push(`error: ${plainProblem(x)}`);
    s.lines.push(`the new relaybox.conf was not applied; ${lastGood}`);
    return { section: s, configured: haveActive };
  }
  writeFileDurably(path.join(staging, 'imported-at'), `${stamp(now)}\n`);
  writeFileDurably(path.join(staging, 'source.sha256'), `${cand.digest}\n`);
  const old = path.join(p.data, 'config.old');
  fs.rmSync(old, { recursive: true, force: true });
  if (haveActive) fs.renameSync(active, old);
  fs.renameSync(staging, active);
  fs.rmSync(old, { recursive: true, force: true });
  const dfd = fs.openSync(p.data, 'r');
  fs.fsyncSync(dfd);
  fs.closeSync(dfd);
  s.lines.push(`imported the new relaybox.conf${cand.tls.size ? ` and ${cand.tls.size} file(s) from tls/` : ''} on ${stamp(now)}`);
  scrubImportedKeys(p.boot, cand.privateKeysOnCard, s);
  return { section: s, configured: true };
}

// ---- network.conf ----

function importNetwork(p: ImportPaths): { section: Section; settings: NetworkSettings } {
  const s: Section = { title: 'Network (network.conf)', lines: [], ok: true };
  const keptFile = path.join(p.data, 'network.conf');
  const fromCard = readIfExists(path.join(p.boot, 'network.conf'));
  const kept = readIfExists(keptFile);
  const fallback = (): NetworkSettings => (kept !== undefined ? parseNetworkConf(kept, 'network.conf', p.zoneinfo).settings : { ...NETWORK_DEFAULTS });
  let settings: NetworkSettings;
  if (fromCard === undefined) {
    settings = fallback();
    s.lines.push(`there is no network.conf on the card: using ${kept !== undefined ? 'the last good one' : 'the defaults'}`);
  } else {
    const parsed = parseNetworkConf(fromCard, 'network.conf', p.zoneinfo);
    if (parsed.problems.length) {
      s.ok = false;
      for (const x of parsed.problems) s.lines.push(`error: ${plainProblem(`${x.file}:${x.line}: ${x.message}`)}`);
      settings = fallback();
      s.lines.push(`the new network.conf was not applied: using ${kept !== undefined ? 'the last good one' : 'the defaults (DHCP)'}`);
    } else {
      settings = parsed.settings;
      const text = normaliseText(fromCard);
      if (kept !== text) writeFileDurably(keptFile, text, 0o600);
    }
  }
  for (const [rel, content] of renderNetworkFiles(settings)) {
    const f = path.join(p.run, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    writeFileDurably(f, content, rel.includes('wpa_supplicant') ? 0o600 : 0o644);
  }
  s.lines.push(describeNetwork(settings));
  return { section: s, settings };
}

export function importBootPartition(p: ImportPaths, now = new Date()): ImportResult {
  fs.mkdirSync(p.data, { recursive: true });
  const spool = path.join(p.data, 'spool');
  // The spool, and its state directory, where the relay records its last delivery for STATUS.txt.
  for (const [dir, mode] of [
    [spool, 0o750],
    [path.join(spool, '.relaybox'), 0o700],
  ] as const) {
    if (fs.existsSync(dir)) continue;
    fs.mkdirSync(dir, { mode });
    if (p.owner) fs.chownSync(dir, p.owner.uid, p.owner.gid);
  }
  const secrets = importSecrets(p, now);
  const adminPassword = importAdminPassword(p, now);
  const config = importConfig(p, now);
  const network = importNetwork(p);
  const users = p.accounts && importUsers(p.boot, now, p.accounts);
  return {
    config: config.section,
    secrets,
    adminPassword,
    network: network.section,
    users,
    networkSettings: network.settings,
    relayConfigured: config.configured,
  };
}
