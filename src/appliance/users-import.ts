// The users file on the card ("users.txt" or "users": `name password` lines) -> local accounts on
// the box, for --server-auth pam: (pam_unix checks them). Each line adds an account or changes its
// password; the passwords are stored only as SHA-512 crypt hashes, and the file is scrubbed once
// they are in. All lines or none: a file with a mistake is left alone and STATUS.txt names the line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { normaliseText, forWindows } from './text';
import { readIfExists, scrubFile } from './fsutil';
import { sha512Crypt } from './sha512-crypt';
import type { Section } from './section';

export const USERS_FILES = ['users.txt', 'users'];
export const USERS_NOTE_MARK = '# relaybox: users imported into the box on';
const NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const MIN_PASSWORD = 8;
/** Accounts below this uid belong to the system (root, relaybox, daemons): never touched. */
const FIRST_USER_UID = 1000;

/** The system side: the one place that runs the account tools. */
export interface Accounts {
  uidOf(name: string): number | undefined;
  /** Runs fn with the root file system writable (the appliance's root is mounted read-only). */
  withWritableRoot(fn: () => void): void;
  add(name: string): void;
  /** "name:$6$..." lines for chpasswd --encrypted. */
  setHashes(lines: string): void;
}

const rootIsReadOnly = () =>
  (readIfExists('/proc/self/mountinfo') ?? '').split('\n').some((l) => {
    const f = l.split(' ');
    return f[4] === '/' && f[5]?.split(',').includes('ro');
  });

/** The real accounts of this machine: /etc/passwd, useradd, chpasswd, mount (argument lists, no shell). */
export const systemAccounts: Accounts = {
  uidOf(name) {
    const line = (readIfExists('/etc/passwd') ?? '').split('\n').find((l) => l.startsWith(`${name}:`));
    return line === undefined ? undefined : Number(line.split(':')[2]);
  },
  withWritableRoot(fn) {
    const remount = rootIsReadOnly();
    if (remount) execFileSync('mount', ['-o', 'remount,rw', '/']);
    try {
      fn();
    } finally {
      if (remount) execFileSync('mount', ['-o', 'remount,ro', '/']);
    }
  },
  add(name) {
    execFileSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--comment', 'relaybox mail user', name], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  },
  setHashes(lines) {
    execFileSync('chpasswd', ['--encrypted'], { input: lines, stdio: ['pipe', 'ignore', 'pipe'] });
  },
};

interface Entry {
  name: string;
  password: string;
}

function parseUsers(text: string, file: string, accounts: Accounts): { entries: Entry[]; problems: string[] } {
  const entries: Entry[] = [];
  const problems: string[] = [];
  normaliseText(text)
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const where = `${file}, line ${i + 1}`;
      const m = /^(\S+)(?:\s+(.*))?$/.exec(line)!;
      const [name, password] = [m[1]!, m[2] ?? ''];
      if (!NAME.test(name)) {
        problems.push(`${where}: "${name}" cannot be a user name: use small letters, digits, - and _ (starting with a letter), at most 32 characters`);
      } else if (password.length < MIN_PASSWORD) {
        problems.push(
          `${where}: the password for "${name}" is ${password ? 'too short' : 'missing'}: write the name, a space, then a password of at least ${MIN_PASSWORD} characters`,
        );
      } else if (entries.some((e) => e.name === name)) {
        problems.push(`${where}: "${name}" is named twice: keep one line for it`);
      } else if ((accounts.uidOf(name) ?? FIRST_USER_UID) < FIRST_USER_UID) {
        problems.push(`${where}: "${name}" is one of the box's own system accounts: choose another name`);
      } else {
        entries.push({ name, password });
      }
    });
  return { entries, problems };
}

function scrubNote(names: string[], stamp: string): string {
  return forWindows(
    [
      `${USERS_NOTE_MARK} ${stamp}: ${names.join(', ')} (their passwords were removed from this card).`,
      '# To add a user or change a password, write lines "name password" below (one user a line) and restart the box.',
      '# Users not named here keep their passwords. Lines starting with # are ignored.',
      '',
    ].join('\n'),
  );
}

/** Import the users file from the boot partition, if there is one with lines in it. */
export function importUsers(boot: string, now: Date, accounts: Accounts): Section | undefined {
  const file = USERS_FILES.map((f) => path.join(boot, f)).find((f) => fs.existsSync(f));
  if (!file) return undefined;
  const name = path.basename(file);
  const s: Section = { title: `Users (${name})`, lines: [], ok: true };
  const { entries, problems } = parseUsers(readIfExists(file) ?? '', name, accounts);
  if (problems.length) {
    s.ok = false;
    s.lines.push(...problems.map((p) => `error: ${p}`), `not imported: fix the lines above (no user was added or changed)`);
    return s;
  }
  if (entries.length === 0) return undefined;
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z');
  const added = entries.filter((e) => accounts.uidOf(e.name) === undefined).map((e) => e.name);
  try {
    accounts.withWritableRoot(() => {
      for (const n of added) accounts.add(n);
      accounts.setHashes(entries.map((e) => `${e.name}:${sha512Crypt(e.password)}\n`).join(''));
    });
  } catch (e) {
    s.ok = false;
    const err = e as Error & { stderr?: Buffer };
    s.lines.push(
      `error: the users could not be saved (${(err.stderr?.toString().trim() || err.message).split('\n')[0]}): the file is left on the card, restart the box to try again`,
    );
    return s;
  }
  scrubFile(
    file,
    scrubNote(
      entries.map((e) => e.name),
      stamp,
    ),
  );
  const changed = entries.map((e) => e.name).filter((n) => !added.includes(n));
  if (added.length) s.lines.push(`added ${added.join(', ')}`);
  if (changed.length) s.lines.push(`new password for ${changed.join(', ')}`);
  s.lines.push(`imported on ${stamp}; the passwords were removed from the card`);
  return s;
}
