// The boot-time import: the user's files on the FAT boot partition -> the data partition (the
// relay's working configuration, the secrets) and /run (network, time, SSH). A broken new file
// never replaces the last good one; every outcome becomes a line of STATUS.txt.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { UsageError, parseConfigText, type OptionValue } from '../options/parse';
import { OPTIONS_BY_NAME } from '../options/table';
import { buildConfig, clientAuthProblems } from '../config';
import { parseSecrets, readSecretsFile, formatProblem } from '../auth/secrets';
import { normaliseText, meaningfulLines, forWindows } from './text';
import { NETWORK_DEFAULTS, describeNetwork, parseNetworkConf, renderNetworkFiles, type NetworkSettings } from './network';
import { readIfExists, scrubFile, writeFileDurably, type Owner } from './fsutil';
import { importUsers, type Accounts } from './users-import';

export interface ImportPaths {
  /** The FAT boot partition (/boot/firmware). */
  boot: string;
  /** The data partition (/var/lib/relaybox): secrets, the working configuration, the spool. */
  data: string;
  /** Where generated network, time and SSH settings go (/run). */
  run: string;
  zoneinfo?: string;
  /** The relay's user: owns the secrets and the spool. */
  owner?: Owner;
  /** Where the data partition is mounted at run time, which the spool must be under (default: /var/lib/relaybox). */
  dataMount?: string;
  /** The box's accounts, for the users file (left alone without). */
  accounts?: Accounts;
}

export interface Section {
  title: string;
  lines: string[];
  ok: boolean;
}

export interface ImportResult {
  config: Section;
  secrets: Section;
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

function scrubNote(now: Date): string {
  return forWindows([
    `${SCRUB_NOTE_MARK} were imported into the box on ${stamp(now)} and removed from this card.`,
    '# To change them, replace these lines with the new ones (same format as before) and restart the box.',
    '# They will be imported and removed again. Lines starting with # are ignored.',
    '',
  ].join('\n'));
}

// ---- relaybox.secrets ----

function importSecrets(p: ImportPaths, now: Date): Section {
  const s: Section = { title: 'Secrets (relaybox.secrets)', lines: [], ok: true };
  const fat = path.join(p.boot, 'relaybox.secrets');
  const kept = path.join(p.data, 'relaybox.secrets');
  const haveKept = fs.existsSync(kept);
  const raw = readIfExists(fat);
  const lines = raw === undefined ? [] : meaningfulLines(raw);
  if (lines.length === 0) {
    s.lines.push(haveKept ? `in use: the secrets imported earlier (${stamp(fs.statSync(kept).mtime)})` : 'none: no relaybox.secrets has been imported');
    return s;
  }
  if (lines.some((l) => EXAMPLE_SECRET.test(l))) {
    s.ok = false;
    s.lines.push('relaybox.secrets still holds the example line "client plain you@example.com your-password": put your own user and password there');
    if (haveKept) s.lines.push('the secrets imported earlier stay in use');
    return s;
  }
  const text = normaliseText(raw!);
  const parsed = parseSecrets(text, 'relaybox.secrets');
  const errors = parsed.problems.filter((x) => x.level === 'error');
  for (const w of parsed.problems.filter((x) => x.level === 'warning')) s.lines.push(`warning: ${formatProblem(w)}`);
  if (errors.length) {
    s.ok = false;
    for (const e of errors) s.lines.push(`error: ${formatProblem(e)}`);
    s.lines.push(haveKept ? 'not imported: the secrets imported earlier stay in use' : 'not imported: fix the lines above');
    return s;
  }
  writeFileDurably(kept, text, 0o600, p.owner);
  scrubFile(fat, scrubNote(now));
  s.lines.push(`imported ${lines.length} line${lines.length > 1 ? 's' : ''} on ${stamp(now)} and removed them from the card`);
  return s;
}

// ---- relaybox.conf and tls/ ----

interface Candidate {
  conf: string;
  tls: Map<string, Buffer>;
  digest: string;
}

function readCandidate(boot: string): Candidate | undefined {
  const raw = readIfExists(path.join(boot, 'relaybox.conf'));
  if (raw === undefined) return undefined;
  const conf = normaliseText(raw);
  const tls = new Map<string, Buffer>();
  const tlsDir = path.join(boot, 'tls');
  if (fs.existsSync(tlsDir)) {
    for (const name of fs.readdirSync(tlsDir).sort()) {
      const f = path.join(tlsDir, name);
      if (fs.statSync(f).isFile() && !name.startsWith('.')) tls.set(name, fs.readFileSync(f));
    }
  }
  const h = createHash('sha256').update(conf);
  for (const [name, data] of tls) h.update(`\0${name}\0`).update(data);
  return { conf, tls, digest: h.digest('hex') };
}

const cmdline = (name: string): OptionValue => ({ spec: OPTIONS_BY_NAME.get(name)!, value: '', where: 'the appliance' });

/** Check a relay configuration in dir with the relay's own parser; returns problems (file:line: ...). */
export function validateRelayConfig(conf: string, dir: string, dataDir = DATA_MOUNT): string[] {
  const problems: string[] = [];
  let values: OptionValue[];
  try {
    values = parseConfigText(conf, 'relaybox.conf');
    const cfg = buildConfig([cmdline('no-daemon'), ...values], dir);
    const under = (p: string, root: string) => p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
    const where = (name: string) => values.find((v) => v.spec.name === name)?.where ?? 'relaybox.conf';
    if (!under(cfg.spoolDir, dataDir)) {
      problems.push(`${where('spool-dir')}: the spool must be on the data partition: write "spool-dir ${dataDir}/spool"`);
    }
    for (const [name, file] of [['log-file', cfg.log.file], ['pid-file', cfg.pidFile]] as const) {
      if (file && !under(file, dataDir) && !under(file, '/run')) {
        problems.push(`${where(name)}: ${file} is on the read-only system partition: remove "${name}" (the log goes to the journal)`);
      }
    }
    if (cfg.forwardTo && EXAMPLE_UPSTREAM.test(cfg.forwardTo.text)) {
      problems.push(`${where('forward-to')}: "forward-to ${cfg.forwardTo.text}" is the example: name your provider's SMTP server (like smtp.office365.com:587)`);
    }
    if (cfg.clientAuth && !cfg.clientAuth.startsWith('plain:')) {
      if (!fs.existsSync(cfg.clientAuth)) {
        problems.push(`${where('client-auth')}: there are no secrets yet: put your user and password into relaybox.secrets on the card`);
      } else {
        const serverLines = readSecretsFile(cfg.clientAuth).problems.filter((x) => x.level === 'error' && x.side === 'server');
        problems.push(...serverLines.map(formatProblem), ...clientAuthProblems(cfg));
      }
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    problems.push(...e.message.split('\n'));
  }
  return problems;
}

function importConfig(p: ImportPaths, now: Date): { section: Section; configured: boolean } {
  const s: Section = { title: 'Relay configuration (relaybox.conf, tls/)', lines: [], ok: true };
  const active = path.join(p.data, 'config');
  const activeConf = path.join(active, 'relaybox.conf');
  const haveActive = fs.existsSync(activeConf);
  const importedAt = readIfExists(path.join(active, 'imported-at'))?.trim();
  const lastGood = haveActive ? `still running the last good configuration, imported on ${importedAt ?? 'an earlier boot'}` : 'the relay is not running: there is no good configuration yet';
  const cand = readCandidate(p.boot);
  if (!cand) {
    s.ok = haveActive;
    s.lines.push(`there is no relaybox.conf on the card; ${lastGood}`);
    return { section: s, configured: haveActive };
  }
  if (haveActive && readIfExists(path.join(active, 'source.sha256'))?.trim() === cand.digest) {
    s.lines.push(`unchanged: running the configuration imported on ${importedAt}`);
    return { section: s, configured: true };
  }
  const staging = path.join(p.data, 'config.new');
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(path.join(staging, 'tls'), { recursive: true, mode: 0o755 });
  fs.symlinkSync('../relaybox.secrets', path.join(staging, 'relaybox.secrets'));
  for (const [name, data] of cand.tls) {
    writeFileDurably(path.join(staging, 'tls', name), data, 0o640, p.owner ? { uid: 0, gid: p.owner.gid } : undefined);
  }
  writeFileDurably(path.join(staging, 'relaybox.conf'), cand.conf, 0o644);
  const problems = validateRelayConfig(cand.conf, staging, p.dataMount ?? DATA_MOUNT);
  if (problems.length) {
    fs.rmSync(staging, { recursive: true, force: true });
    s.ok = false;
    for (const x of problems) s.lines.push(`error: ${x}`);
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
      for (const x of parsed.problems) s.lines.push(`error: ${x.file}:${x.line}: ${x.message}`);
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
  if (!fs.existsSync(spool)) {
    fs.mkdirSync(spool, { mode: 0o750 });
    if (p.owner) fs.chownSync(spool, p.owner.uid, p.owner.gid);
  }
  const secrets = importSecrets(p, now);
  const config = importConfig(p, now);
  const network = importNetwork(p);
  const users = p.accounts && importUsers(p.boot, now, p.accounts);
  return { config: config.section, secrets, network: network.section, users, networkSettings: network.settings, relayConfigured: config.configured };
}
