// relaybox-appliance: the appliance's boot-time helper (dist/relaybox-appliance.js).
//   import      boot partition -> data partition and /run; writes STATUS.txt
//   status      adds the live state (SMTP port, upstream, queue, clock) to STATUS.txt
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseConfigText, type OptionValue } from '../options/parse';
import { OPTIONS_BY_NAME } from '../options/table';
import { buildConfig } from '../config';
import { importBootPartition } from './boot-import';
import type { Section } from './section';
import { lanAddresses, probe, renderStatus, summariseSpool, writeStatus, type LiveState } from './status';
import { readLastDelivery } from '../health/last-delivery';
import { deliveryAdvice } from './plain-words';
import { readIfExists, writeFileDurably } from './fsutil';
import { hardwareStatusSection } from './hardware-status';
import { signInStatus } from './signin-status';
import { systemAccounts } from './users-import';

declare const RELAYBOX_VERSION: string;
const VERSION = typeof RELAYBOX_VERSION === 'string' ? RELAYBOX_VERSION : '0.0.0-dev';

interface Args {
  boot: string;
  data: string;
  run: string;
  user: string;
  apply: boolean;
  zoneinfo: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { boot: '/boot/firmware', data: '/var/lib/relaybox', run: '/run', user: 'relaybox', apply: false, zoneinfo: '/usr/share/zoneinfo' };
  for (const arg of argv) {
    const m = /^--(boot|data|run|user|zoneinfo)=(.+)$/.exec(arg);
    if (m) (a as unknown as Record<string, string>)[m[1]!] = m[2]!;
    else if (arg === '--apply') a.apply = true;
    else throw new Error(`unknown argument "${arg}" (use --boot=DIR --data=DIR --run=DIR --user=NAME --zoneinfo=DIR --apply)`);
  }
  return a;
}

function lookupOwner(name: string): { uid: number; gid: number } | undefined {
  const line = (readIfExists('/etc/passwd') ?? '').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function bootedAt(): string {
  const btime = /^btime (\d+)$/m.exec(readIfExists('/proc/stat') ?? '');
  const t = btime ? Number(btime[1]) * 1000 : Date.now() - os.uptime() * 1000;
  return new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
}

const importFile = (a: Args) => path.join(a.run, 'relaybox', 'import-status.json');

function runImport(a: Args): number {
  const owner = process.getuid?.() === 0 ? lookupOwner(a.user) : undefined;
  const accounts = a.apply ? systemAccounts : undefined;
  const result = importBootPartition({ boot: a.boot, data: a.data, run: a.run, zoneinfo: a.zoneinfo, owner, dataMount: a.data, accounts });
  const net = result.networkSettings;
  if (a.apply) {
    // Side effects on the running system: the hostname, /etc/localtime's target, SSH host keys.
    try {
      execFileSync('hostname', [net.hostname]);
    } catch (e) {
      result.network.lines.push(`warning: could not set the hostname: ${(e as Error).message}`);
    }
    const link = path.join(a.run, 'relaybox', 'localtime');
    fs.rmSync(link, { force: true });
    fs.symlinkSync(path.join(a.zoneinfo, net.timezone), link);
    if (net.ssh) {
      const key = path.join(a.data, 'ssh', 'ssh_host_ed25519_key');
      if (!fs.existsSync(key)) {
        fs.mkdirSync(path.dirname(key), { recursive: true, mode: 0o700 });
        execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${net.hostname}`, '-f', key]);
      }
    }
  }
  const sections = [result.config, result.secrets, result.adminPassword, result.network, ...(result.users ? [result.users] : [])];
  writeFileDurably(importFile(a), JSON.stringify({ bootedAt: bootedAt(), sections }, null, 1));
  const relay: Section = { title: 'Relay', lines: [result.relayConfigured ? 'starting' : 'not started: no good configuration'], ok: result.relayConfigured };
  writeStatus(a.boot, renderStatus({ version: VERSION, bootedAt: bootedAt() }, [...sections, relay]));
  for (const s of sections) for (const l of s.lines) process.stdout.write(`${s.title}: ${l}\n`);
  return 0;
}

/** NTP has synchronised the clock, a battery-backed RTC set it at boot, or the kernel command line
 * says `relaybox.clock=trusted` (a virtual machine or a board whose clock is set some other way).
 * relaybox-clock.service waits for the same with image/overlay/usr/lib/relaybox/wait-clock.sh. */
function clockIsSet(run: string): boolean {
  if (fs.existsSync(path.join(run, 'systemd', 'timesync', 'synchronized'))) return true;
  if (/(^|\s)relaybox\.clock=trusted(\s|$)/.test(readIfExists('/proc/cmdline') ?? '')) return true;
  return readIfExists('/sys/class/rtc/rtc0/hctosys')?.trim() === '1';
}

/** Mailboxes with an oauth-refresh line whose token file does not exist yet (nobody has signed in). */
async function runStatus(a: Args): Promise<number> {
  const saved = JSON.parse(readIfExists(importFile(a)) ?? '{"sections":[]}') as { bootedAt?: string; sections: Section[] };
  const relay: Section = { title: 'Relay', lines: [], ok: true };
  const confFile = path.join(a.data, 'config', 'relaybox.conf');
  const conf = readIfExists(confFile);
  let live: LiveState | undefined;
  if (conf === undefined) {
    relay.ok = false;
    relay.lines.push('not running: no good configuration');
  } else {
    const noDaemon: OptionValue = { spec: OPTIONS_BY_NAME.get('no-daemon')!, value: '', where: 'the appliance' };
    const cfg = buildConfig([noDaemon, ...parseConfigText(conf, 'relaybox.conf')], path.dirname(confFile));
    const local = cfg.interfaces.find((i) => /^[\d.]+$|:/.test(i)) ?? '127.0.0.1';
    // Run right after the relay starts: give it up to a minute to open its port.
    const host = local === '0.0.0.0' || local === '::' ? '127.0.0.1' : local;
    let smtp = await probe(host, cfg.port, 10000);
    for (let i = 0; i < 30 && !smtp.ok; i++) {
      await new Promise((r) => setTimeout(r, 2000));
      smtp = await probe(host, cfg.port, 10000);
    }
    relay.ok = smtp.ok;
    relay.lines.push(smtp.ok ? `listening on port ${cfg.port}: ${smtp.text}` : `NOT answering on port ${cfg.port}: ${smtp.text}`);
    relay.lines.push(`addresses of this box: ${lanAddresses().join(', ') || 'none yet'}`);
    relay.lines.push(clockIsSet(a.run) ? 'clock: set' : 'clock: NOT set yet (waiting for NTP): the relay starts once it is set');
    if (cfg.forwardTo?.kind === 'tcp') {
      const up = await probe(cfg.forwardTo.host, cfg.forwardTo.port, 15000);
      relay.lines.push(
        up.ok || up.text.startsWith('220') ? `upstream ${cfg.forwardTo.text}: reachable` : `upstream ${cfg.forwardTo.text}: NOT reachable (${up.text})`,
      );
    }
    const signIns = cfg.clientAuth && !cfg.clientAuth.startsWith('plain:') ? signInStatus(cfg.clientAuth, cfg.spoolDir) : undefined;
    relay.lines.push(...(signIns?.lines ?? []));
    const q = summariseSpool(cfg.spoolDir);
    const last = readLastDelivery(path.join(cfg.spoolDir, '.relaybox'));
    relay.lines.push(`queue: ${q.waiting} waiting, ${q.failed} failed`);
    if (last) relay.lines.push(`last delivery: ${last.outcome} at ${last.at.replace(/\.\d+Z$/, 'Z')}`);
    const lastError = q.lastError ?? (last && last.outcome !== 'forwarded' ? `${last.code ? `${last.code} ` : ''}${last.reason ?? ''}` : undefined);
    if (lastError) relay.lines.push(`last delivery error: ${deliveryAdvice(lastError)}`);
    relay.ok = smtp.ok && q.failed === 0 && (!last || last.outcome === 'forwarded') && (signIns?.ok ?? true);
    live = { answering: smtp.ok, queue: q, last, notSignedIn: signIns?.notSignedIn ?? [] };
  }
  const hardware = await hardwareStatusSection(path.join(a.data, 'spool'));
  const changed = writeStatus(a.boot, renderStatus({ version: VERSION, bootedAt: saved.bootedAt ?? bootedAt() }, [...saved.sections, relay, hardware], live));
  process.stdout.write(changed ? 'STATUS.txt updated\n' : 'STATUS.txt unchanged\n');
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const a = parseArgs(rest);
  if (cmd === 'import') return runImport(a);
  if (cmd === 'status') return runStatus(a);
  throw new Error(`usage: relaybox-appliance import|status [--boot=DIR --data=DIR --run=DIR --user=NAME --apply]`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    process.stderr.write(`relaybox-appliance: error: ${e.message}\n`);
    process.exitCode = 1;
  },
);
