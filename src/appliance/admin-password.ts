// The status page's admin password on the appliance: the user's own, from admin-password.txt on the
// card (imported to the data partition, 0600, and removed from the card like the secrets), or one
// made at first boot, which STATUS.txt shows (it is the only place a user without a shell can read
// it) for as long as it is the one in use.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomInt } from 'node:crypto';
import { forWindows, meaningfulLines } from './text';
import { readIfExists, scrubFile, writeFileDurably } from './fsutil';
import type { ImportPaths } from './import-paths';
import type { Section } from './section';

export const ADMIN_PASSWORD_FILE = 'admin-password.txt';
/** Beside the data partition's password: says it was generated (and may be shown in STATUS.txt). */
const GENERATED_MARK = 'admin-password.generated';
const MIN_LENGTH = 8;
/** No 0/O, 1/l/i: read off a screen and typed on a phone. */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

export function generatePassword(): string {
  const group = () => Array.from({ length: 4 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
  return [group(), group(), group()].join('-');
}

const stamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

function scrubNote(now: Date): string {
  return forWindows(
    [
      `# relaybox: the status page's admin password that was here was imported into the box on ${stamp(now)}`,
      '# and removed from this card. To change it, write the new password on a line of its own below',
      '# (at least 8 characters) and restart the box. Lines starting with # are ignored.',
      '',
    ].join('\n'),
  );
}

export function importAdminPassword(p: ImportPaths, now: Date): Section {
  const s: Section = { title: `Status page admin password (${ADMIN_PASSWORD_FILE})`, lines: [], ok: true };
  const fat = path.join(p.boot, ADMIN_PASSWORD_FILE);
  const kept = path.join(p.data, ADMIN_PASSWORD_FILE);
  const mark = path.join(p.data, GENERATED_MARK);
  const raw = readIfExists(fat);
  const lines = raw === undefined ? [] : meaningfulLines(raw);
  if (lines.length > 1) {
    s.ok = false;
    s.lines.push(`${ADMIN_PASSWORD_FILE} on the card has ${lines.length} lines: write only the password, on one line; it was not imported`);
  } else if (lines.length === 1 && lines[0]!.length < MIN_LENGTH) {
    s.ok = false;
    s.lines.push(`${ADMIN_PASSWORD_FILE} on the card: the password is shorter than ${MIN_LENGTH} characters; it was not imported`);
  } else if (lines.length === 1) {
    writeFileDurably(kept, `${lines[0]}\n`, 0o600, p.owner);
    fs.rmSync(mark, { force: true });
    scrubFile(fat, scrubNote(now));
    s.lines.push(`imported your password on ${stamp(now)} and removed it from the card`);
    return s;
  }
  if (!fs.existsSync(kept)) {
    writeFileDurably(kept, `${generatePassword()}\n`, 0o600, p.owner);
    writeFileDurably(mark, `${stamp(now)}\n`, 0o600);
  }
  if (fs.existsSync(mark)) {
    const password = (readIfExists(kept) ?? '').split('\n')[0]!.trim();
    s.lines.push(`the box made this password at its first start: ${password}`);
    s.lines.push(
      `it opens the Send a test mail, Retry, Delete and Sign in buttons on the status page; to choose your own, write it into ${ADMIN_PASSWORD_FILE} on this card`,
    );
  } else if (s.ok) {
    s.lines.push('in use: the password you put on the card earlier');
  } else {
    s.lines.push('the password in use stays the same');
  }
  return s;
}
