// Start-up recovery: put back what a crash left behind, but never touch the files of another
// live relaybox on the same spool (it may be receiving into .new or forwarding a .busy).
import { readFileSync } from 'node:fs';
import { spoolFs } from '../privilege';
import { join, unlinkQuiet, writeFileSynced } from './durable';
import { parseSpoolName } from './names';
import type { Spool } from './store';

export interface RecoveryLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const LOCK_NAME = '.relaybox.lock';

/** True if `pid` is a running relaybox (or node) process other than us. */
function isLiveRelay(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    return /relaybox|node/.test(cmdline);
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/**
 * Claim the spool for recovery. Returns the pid of another live owner, or 0 once we own it.
 * The lock file only guards recovery; forwarding is guarded by the atomic rename to .busy.
 */
export async function claimSpool(spool: Spool): Promise<number> {
  const lock = join(spool.dir, LOCK_NAME);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFileSynced(lock, `${process.pid}\n`, 0o644);
      return 0;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = parseInt(await spoolFs.readFile(lock, 'utf8').catch(() => ''), 10);
    if (isLiveRelay(owner)) return owner;
    await unlinkQuiet(lock);
  }
  throw new Error(`cannot claim ${lock}`);
}

export async function releaseSpool(spool: Spool): Promise<void> {
  const lock = join(spool.dir, LOCK_NAME);
  const owner = parseInt(await spoolFs.readFile(lock, 'utf8').catch(() => ''), 10);
  if (owner === process.pid) await unlinkQuiet(lock);
}

/**
 * A message id of E-MailRelay's form names the process that made it. While that process still runs
 * (a `relaybox submit` writing into the spool of a relay that is starting) its files are not leftovers.
 */
function beingWritten(id: string): boolean {
  const m = /^emailrelay\.(\d+)\./.exec(id);
  return !!m && isLiveRelay(Number(m[1]));
}

export interface RecoveryReport {
  unlocked: string[];
  removedNew: string[];
  removedOrphans: string[];
  removedTemp: string[];
}

/**
 * .busy back to ready (the forward was interrupted: it is sent again, at worst a duplicate);
 * .new envelopes and content without any envelope are deleted (never acknowledged);
 * .tmp leftovers of envelope rewrites are deleted.
 */
export async function recoverSpool(spool: Spool, log: RecoveryLog): Promise<RecoveryReport> {
  const report: RecoveryReport = { unlocked: [], removedNew: [], removedOrphans: [], removedTemp: [] };
  const entries = await spoolFs.readdir(spool.dir, { withFileTypes: true });
  const names = entries.filter((e) => !e.isDirectory()).map((e) => e.name);
  const withEnvelope = new Set<string>();
  const noteEnvelope = (name: string) => {
    const parsed = parseSpoolName(name);
    if (parsed?.kind === 'envelope' && parsed.state !== 'new') withEnvelope.add(parsed.id);
  };
  names.forEach(noteEnvelope);
  // --pop-by-name and copy:pop keep envelopes in sub-directories and the content here.
  for (const sub of entries.filter((e) => e.isDirectory() && !e.name.startsWith('.'))) {
    (await spoolFs.readdir(join(spool.dir, sub.name)).catch(() => [] as string[])).forEach(noteEnvelope);
  }
  const hasNewEnvelope = new Set(names.map(parseSpoolName).flatMap((p) => (p?.kind === 'envelope' && p.state === 'new' ? [p.id] : [])));
  for (const name of names) {
    const parsed = parseSpoolName(name);
    if (parsed?.kind === 'envelope' && parsed.state === 'busy') {
      const id = parsed.id;
      if (await spool.unlock(id)) {
        report.unlocked.push(id);
        log.info({ id }, 'recovered a message that was being forwarded when relaybox stopped: it will be forwarded again');
      }
    } else if (parsed?.kind === 'envelope' && parsed.state === 'new') {
      const id = parsed.id;
      if (beingWritten(id)) continue;
      await unlinkQuiet(spool.envelopePath(id, 'new'));
      if (!withEnvelope.has(id)) await unlinkQuiet(spool.contentPath(id));
      report.removedNew.push(id);
      log.warn({ id }, 'removed a message whose reception was interrupted (it was never acknowledged)');
    } else if (parsed?.kind === 'rewrite') {
      await unlinkQuiet(join(spool.dir, name));
      report.removedTemp.push(name);
      log.info({ file: name }, 'removed a temporary file left by an interrupted envelope update');
    } else if (parsed?.kind === 'content') {
      const id = parsed.id;
      if (!withEnvelope.has(id) && !hasNewEnvelope.has(id) && !beingWritten(id)) {
        await unlinkQuiet(join(spool.dir, name));
        report.removedOrphans.push(id);
        log.warn({ id }, 'removed message content that has no envelope (a half-received message)');
      }
    }
  }
  if (report.unlocked.length || report.removedNew.length || report.removedOrphans.length) await spool.syncDir();
  return report;
}
