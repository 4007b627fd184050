// Haraka, the other Node.js MTA, for the benchmark: installed from npm outside our tree on first use
// (HARAKA_VERSION into /var/cache/relaybox-bench/haraka), with a private configuration in the run's
// dir. One process (Haraka's default, no cluster) on 127.0.0.1:<port>; clients from 127.0.0.0/8 may
// relay (the relay plugin's ACL); relayed mail goes into Haraka's outbound queue on disk and is
// delivered to 127.0.0.1:<sink>.
//
// No DNS: a plugin of ours answers lookup_rdns (Haraka would ask the system resolver for each
// client's name) and get_mx (it would look up the recipient domain's MX).
// Durability: Haraka's outbound queue writes each file and renames it, without fsync
// (outbound/queue.js), so its 250 does not mean "on disk" as relaybox's and Postfix's do.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const HARAKA_VERSION = '3.3.4';
const CACHE = '/var/cache/relaybox-bench/haraka';
const HARAKA_BIN = path.join(CACHE, 'node_modules/Haraka/bin/haraka');

export interface HarakaInstance {
  queueDir: string;
  proc: ChildProcess;
}

/** Installs Haraka from the npm registry once; the version installed is checked, not assumed. */
export function ensureHaraka(): string {
  const pkg = path.join(CACHE, 'node_modules/Haraka/package.json');
  const installed = existsSync(pkg) ? (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version : '';
  if (installed !== HARAKA_VERSION) {
    mkdirSync(CACHE, { recursive: true });
    execFileSync('npm', ['install', '--prefix', CACHE, '--no-audit', '--no-fund', `Haraka@${HARAKA_VERSION}`], { stdio: 'inherit', timeout: 600_000 });
  }
  return HARAKA_VERSION;
}

const ROUTE_PLUGIN = (sinkPort: number) => `// relaybox benchmark: no DNS, every message to the sink.
exports.hook_lookup_rdns = function (next) {
  next(OK, 'localhost');
};
exports.hook_get_mx = function (next) {
  next(OK, { priority: 0, exchange: '127.0.0.1', port: ${sinkPort} });
};
`;

/** The configuration directory Haraka is started with (-c). */
export function writeHarakaConfig(dir: string, port: number, sinkPort: number): { configDir: string; queueDir: string } {
  const configDir = path.join(dir, 'haraka');
  const queueDir = path.join(configDir, 'queue');
  for (const d of ['plugins', 'queue']) mkdirSync(path.join(configDir, d), { recursive: true });
  // Haraka's own defaults (connection.ini and the rest), then our changes over them.
  cpSync(path.join(CACHE, 'node_modules/Haraka/config'), path.join(configDir, 'config'), { recursive: true });
  const files: Record<string, string> = {
    'config/smtp.ini': `listen=127.0.0.1:${port}\n`,
    'config/me': 'haraka.bench.invalid\n',
    'config/plugins': 'bench_route\nrelay\n',
    'config/relay.ini': '[relay]\nacl=true\n',
    'config/relay_acl_allow': '127.0.0.0/8\n',
    'config/log.ini': '[main]\nlevel=warn\n',
    // The sink offers no TLS; outbound's other defaults (concurrency_max 100, retries) stay.
    'config/outbound.ini': 'enable_tls=false\n',
    'config/queue_dir': `${queueDir}\n`,
    'plugins/bench_route.js': ROUTE_PLUGIN(sinkPort),
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(configDir, name), text);
  return { configDir, queueDir };
}

export function startHaraka(dir: string, port: number, sinkPort: number, stdoutFd: number): HarakaInstance {
  const { configDir, queueDir } = writeHarakaConfig(dir, port, sinkPort);
  const proc = spawn(process.execPath, [HARAKA_BIN, '-c', configDir], { cwd: configDir, stdio: ['ignore', stdoutFd, stdoutFd] });
  return { queueDir, proc };
}

/** Messages still in Haraka's outbound queue (its temporary files included). */
export function harakaQueued(h: HarakaInstance): number {
  try {
    return readdirSync(h.queueDir).filter((n) => !n.startsWith('.')).length;
  } catch {
    return -1;
  }
}
