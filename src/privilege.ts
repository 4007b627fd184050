// E-MailRelay's privilege model. Started as root with --user, the real ids stay root and the
// effective ids become the user's; root is claimed back (effective uid only, so the effective
// group stays the user's) around the file work of the spool, the pid file and the log file. Those
// files are then root:<the user's group>, and a root-only spool still works. Child programs
// (filters, verifiers) run as the user, all ids, as E-MailRelay runs them.
// Started as an ordinary user (the .deb's and the appliance's User=), nothing here changes ids.
import { open as openCallback, promises as fsp } from 'node:fs';

export interface Identity {
  uid: number;
  gid: number;
}

/** Umask while spool files are written: group read-write, nothing for others (E-MailRelay's). */
const SPOOL_UMASK = 0o007;

let ordinary: Identity | null = null;
let rootClaims = 0;
let umaskClaims = 0;
let savedUmask = 0;

/** Effective ids to the user, supplementary groups to the user's group; real ids stay root. */
export function becomeOrdinary(user: Identity): void {
  process.setgroups!([user.gid]);
  process.setegid!(user.gid);
  process.seteuid!(user.uid);
  ordinary = { uid: user.uid, gid: user.gid };
}

/**
 * Started set-user-id root by an ordinary user (a setuid copy of the program): the ids to become,
 * the caller's real ones whatever --user says, with root kept as the saved uid to claim back, as
 * E-MailRelay does (gprocess_unix.cpp, beOrdinary). Null when not started that way.
 */
export function setuidRootCaller(): Identity | null {
  if (typeof process.geteuid !== 'function') return null;
  const uid = process.getuid!();
  return uid !== 0 && process.geteuid() === 0 ? { uid, gid: process.getgid!() } : null;
}

/** The user's ids while the relay runs as root with --user, else null. */
export function ordinaryIdentity(): Identity | null {
  return ordinary && { ...ordinary };
}

function claim(spoolUmask: boolean): void {
  if (rootClaims++ === 0 && ordinary) process.seteuid!(0);
  if (spoolUmask && umaskClaims++ === 0) savedUmask = process.umask(SPOOL_UMASK);
}

function release(spoolUmask: boolean): void {
  if (spoolUmask && --umaskClaims === 0) process.umask(savedUmask);
  if (--rootClaims === 0 && ordinary) process.seteuid!(ordinary.uid);
}

/** Run `work` with root's effective uid (when running as root with --user); the group stays the user's. */
export function asRoot<T>(work: () => T, spoolUmask = false): T {
  claim(spoolUmask);
  try {
    return work();
  } finally {
    release(spoolUmask);
  }
}

/**
 * Claim root and the spool's umask until the returned function is called (once): for spool file work
 * done by another thread (spool/commit-thread.ts), which runs with the process's ids meanwhile.
 */
export function holdSpoolClaim(): () => void {
  claim(true);
  let held = true;
  return () => {
    if (held) release(true);
    held = false;
  };
}

/**
 * The same for asynchronous work, with the spool's umask: root is kept until it settles. The ids
 * are the process's, so whatever else runs meanwhile runs with them too, as in E-MailRelay's threads.
 */
async function asRootWhile<T>(work: () => Promise<T>): Promise<T> {
  claim(true);
  try {
    return await work();
  } finally {
    release(true);
  }
}

/**
 * Start a child process as the user, every id: `start` gets the uid and gid to hand to spawn (none
 * when the relay is not running as root). It runs as root, which setting a child's ids needs.
 */
export function startAsUser<T>(start: (ids: Partial<Identity>) => T): T {
  if (!ordinary) return start({});
  const ids = { ...ordinary };
  return asRoot(() => start(ids));
}

function privileged<F extends (...args: never[]) => Promise<unknown>>(f: F): F {
  return ((...args: Parameters<F>) => asRootWhile(() => f(...args) as Promise<unknown>)) as unknown as F;
}

/** fs.open as a promise of the bare descriptor (for one that another thread writes to). */
function openFd(file: string, flags: number, mode?: number): Promise<number> {
  return new Promise((resolve, reject) => openCallback(file, flags, mode, (e, fd) => (e ? reject(e) : resolve(fd))));
}

/** fs.promises for the spool: each call runs as root (see above) until it settles. */
export const spoolFs = {
  open: privileged(fsp.open),
  openFd: privileged(openFd),
  readdir: privileged(fsp.readdir),
  readFile: privileged(fsp.readFile),
  writeFile: privileged(fsp.writeFile),
  rename: privileged(fsp.rename),
  unlink: privileged(fsp.unlink),
  rm: privileged(fsp.rm),
  stat: privileged(fsp.stat),
  lstat: privileged(fsp.lstat),
  mkdir: privileged(fsp.mkdir),
  link: privileged(fsp.link),
  copyFile: privileged(fsp.copyFile),
  access: privileged(fsp.access),
  chmod: privileged(fsp.chmod),
  utimes: privileged(fsp.utimes),
};
