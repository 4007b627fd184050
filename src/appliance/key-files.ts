// Key files named by the card's grant lines (oauth-ms-cert's PEM file, oauth-google-sa's JSON key):
// checked with the relay's own readers, copied into the data partition (0600, the relay's user),
// the secrets line rewritten to name the copy, and the card's file scrubbed once all is imported.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createPrivateKey } from 'node:crypto';
import type { ParsedSecrets } from '../auth/secrets';
import type { GrantLine } from '../auth/oauth-lines';
import { readCertificateCredential, parseServiceAccountKey } from '../forward/oauth/jwt';
import { scrubAndRemove, writeFileDurably, type Owner } from './fsutil';

export interface KeyFile {
  /** The secrets line that names it. */
  line: number;
  /** The file as the line names it, resolved (on the card, or already on the box). */
  source: string;
  /** What the imported secrets line names: the copy on the data partition, or the source when it is not on the card. */
  target: string;
  /** The bytes to copy, when the file is on the card. */
  data?: Buffer;
}

type KeyGrant = Extract<GrantLine, { type: 'oauth-ms-cert' | 'oauth-google-sa' }>;

const keyFileOf = (g: KeyGrant) => (g.type === 'oauth-ms-cert' ? g.pemFile : g.keyFile);

function isKeyGrant(g: GrantLine | undefined): g is KeyGrant {
  return g?.type === 'oauth-ms-cert' || g?.type === 'oauth-google-sa';
}

/** The relay's own reading of the file: throws with what is wrong. */
function checkKey(g: KeyGrant, text: string, name: string): void {
  if (g.type === 'oauth-ms-cert') {
    readCertificateCredential(text, name);
    return;
  }
  const sa = parseServiceAccountKey(text, name);
  try {
    createPrivateKey(sa.private_key);
  } catch (e) {
    throw new Error(`${name} holds no usable private key: ${(e as Error).message}`);
  }
}

const WHAT: Record<KeyGrant['type'], string> = {
  'oauth-ms-cert': "the PEM file with the app's private key and certificate",
  'oauth-google-sa': "the service account's JSON key file",
};

/**
 * The key files the parsed secrets name (the secrets were parsed as a file in `boot`, so relative
 * names are on the card), each checked. Problems are "relaybox.secrets(line): ...".
 */
export function findKeyFiles(parsed: ParsedSecrets, boot: string, keysDir: string): { files: KeyFile[]; problems: string[] } {
  const files: KeyFile[] = [];
  const problems: string[] = [];
  const grants = [...parsed.secrets.client.values()]
    .map((a) => a.grant)
    .filter(isKeyGrant)
    .sort((a, b) => a.line - b.line);
  const targets = new Map<string, string>();
  for (const g of grants) {
    const source = keyFileOf(g);
    const bad = (message: string) => problems.push(`relaybox.secrets(${g.line}): ${message}`);
    const rel = path.relative(boot, source);
    const onCard = !rel.startsWith('..') && !path.isAbsolute(rel);
    const name = onCard ? rel : source;
    const target = path.join(keysDir, path.basename(source).replace(/[^A-Za-z0-9._-]/g, '_'));
    if (!fs.existsSync(source)) {
      // Named again on a later card, after the first import took the file away: the copy serves.
      if (onCard && fs.existsSync(target)) files.push({ line: g.line, source, target });
      else
        bad(
          `${WHAT[g.type]} "${name}" named on this line is not ${onCard ? 'on the card' : 'on the box'}: copy it onto the card, next to relaybox.secrets, and write just its name on this line`,
        );
      continue;
    }
    if (!onCard) {
      files.push({ line: g.line, source, target: source });
      continue;
    }
    let data: Buffer;
    try {
      data = fs.readFileSync(source);
    } catch (e) {
      bad(`cannot read ${WHAT[g.type]} "${name}" (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): copy it onto the card again`);
      continue;
    }
    try {
      checkKey(g, data.toString('utf8'), `"${name}"`);
    } catch (e) {
      bad(`${(e as Error).message}`);
      continue;
    }
    if (targets.has(target) && targets.get(target) !== source) {
      bad(`two key files are called "${path.basename(target)}": rename one of them (the file and its line)`);
      continue;
    }
    targets.set(target, source);
    files.push({ line: g.line, source, target, data });
  }
  return { files, problems };
}

/** The secrets text with each key file's line naming the target instead of the card's file. */
export function pointAtImportedKeys(text: string, files: KeyFile[]): string {
  const lines = text.split('\n');
  for (const f of files) {
    if (f.target === f.source) continue;
    const fields = lines[f.line - 1]!.trim().split(/[ \t]+/);
    const field = fields[3]!;
    const second = fields[1]!.toLowerCase() === 'oauth-ms-cert' ? field.indexOf(':', field.indexOf(':') + 1) : -1;
    fields[3] = second >= 0 ? `${field.slice(0, second + 1)}${f.target}` : f.target;
    lines[f.line - 1] = fields.join(' ');
  }
  return lines.join('\n');
}

/** Copy the card's key files into the data partition (0600, the relay's user). */
export function installKeyFiles(files: KeyFile[], keysDir: string, owner?: Owner): void {
  const fromCard = files.filter((f) => f.data);
  if (!fromCard.length) return;
  fs.mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(keysDir, 0o700);
  if (owner) fs.chownSync(keysDir, owner.uid, owner.gid);
  for (const f of fromCard) writeFileDurably(f.target, f.data!, 0o600, owner);
}

/** Zero and remove the card's copies; returns the names removed (relative to the card). */
export function scrubKeyFiles(files: KeyFile[], boot: string): string[] {
  const removed = new Set<string>();
  for (const f of files) {
    if (!f.data || removed.has(f.source) || !fs.existsSync(f.source)) continue;
    scrubAndRemove(f.source);
    removed.add(f.source);
  }
  return [...removed].map((s) => path.relative(boot, s));
}

/**
 * A key file put on the card again under the name of one imported earlier (a renewed certificate,
 * a new service-account key), while the secrets stay as they are: checked, written over the copy,
 * scrubbed from the card. `parsed` is the secrets file in use (its lines name the copies).
 */
export function renewKeyFiles(parsed: ParsedSecrets, boot: string, keysDir: string, owner?: Owner): { renewed: string[]; problems: string[] } {
  const renewed: string[] = [];
  const problems: string[] = [];
  for (const g of [...parsed.secrets.client.values()].map((a) => a.grant).filter(isKeyGrant)) {
    const copy = keyFileOf(g);
    const name = path.basename(copy);
    const onCard = path.join(boot, name);
    if (path.dirname(copy) !== keysDir || renewed.includes(name) || !fs.existsSync(onCard)) continue;
    try {
      const data = fs.readFileSync(onCard);
      checkKey(g, data.toString('utf8'), `"${name}"`);
      writeFileDurably(copy, data, 0o600, owner);
    } catch (e) {
      problems.push(`the new ${name} on the card was not imported (${(e as Error).message}); the one imported earlier stays in use`);
      continue;
    }
    scrubAndRemove(onCard);
    renewed.push(name);
  }
  return { renewed, problems };
}
