// A private Exim for tests: `exim4 -bdf -C <conf>` (a daemon in the foreground, own configuration)
// on a free loopback port with STARTTLS, AUTH CRAM-MD5 (cram_md5 authenticator) and AUTH PLAIN
// (plaintext, offered only after STARTTLS) for one fixed user, relaying every recipient to a test
// sink (manualroute to 127.0.0.1, self = send, allow_localhost).
//
// Exim is not installed as a package (Debian's exim4 conflicts with postfix): scripts/install-exim
// unpacks the exim4-daemon-light .deb into /var/cache/relaybox-test/exim. The binary runs as root
// with -C; the file is not in Debian's TRUSTED_CONFIG_LIST (/etc/exim4/trusted_configs), so the
// processes Exim re-executes for delivery give up root ("exim user lost privilege for using -C
// option" in the log), which is all a delivery by the smtp transport needs: that runs as the
// Debian-exim user anyway. exim_path points the re-executions at the unpacked binary (the built-in
// path is /usr/sbin/exim4). The spool, the log directory and the TLS files belong to Debian-exim.
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { testPki } from './certs';
import { freePort, removeDir } from './relay';
import { findProgram, logFileOf, readIfThere, serverDir, systemUser, waitForGreeting } from './server-process';

export const EXIM_CACHE = process.env.RELAYBOX_EXIM_CACHE ?? '/var/cache/relaybox-test/exim';
const EXIM_USER = 'Debian-exim';

export interface EximSetup {
  relayPort: number;
  user: string;
  password: string;
}

export interface Exim {
  port: number;
  dir: string;
  /** Exim's main log. */
  log(): string;
  waitForLog(re: RegExp, ms?: number): Promise<string>;
  stop(): Promise<void>;
}

function eximBinary(): string | undefined {
  return findProgram([path.join(EXIM_CACHE, 'usr/sbin/exim4')]);
}

/** Why the Exim tests cannot run here, or undefined when they can. */
export function eximMissing(): string | undefined {
  if (!eximBinary()) return `no Exim binary in ${EXIM_CACHE} (scripts/install-deps runs scripts/install-exim, which unpacks exim4-daemon-light there)`;
  if (!systemUser(EXIM_USER)) return `there is no "${EXIM_USER}" user (scripts/install-exim creates it)`;
  if (process.getuid?.() !== 0) return 'the private Exim daemon needs root';
  return undefined;
}

/** Exim's string-expansion quoting is not needed: the test user and password are plain words. */
function plainWord(s: string): string {
  if (!/^[A-Za-z0-9@._+-]+$/.test(s)) throw new Error(`exim.ts: "${s}" must be a plain word (letters, digits, @._+-)`);
  return s;
}

export function eximConf(bin: string, dir: string, port: number, setup: EximSetup): string {
  const user = plainWord(setup.user);
  const password = plainWord(setup.password);
  return `# relaybox test: private Exim (test/lib/exim.ts)
exim_path = ${bin}
primary_hostname = exim.test
spool_directory = ${dir}/spool
log_file_path = ${dir}/log/%slog
pid_file_path = ${dir}/exim.pid
daemon_smtp_ports = ${port}
local_interfaces = 127.0.0.1
host_lookup =
rfc1413_hosts =
keep_environment =
tls_advertise_hosts = *
tls_certificate = ${dir}/cert.pem
tls_privatekey = ${dir}/key.pem
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept authenticated = *
  deny message = 5.7.1 authentication required

begin routers
to_sink:
  driver = manualroute
  route_list = * 127.0.0.1
  self = send
  transport = to_sink

begin transports
to_sink:
  driver = smtp
  port = ${setup.relayPort}
  allow_localhost
  hosts_avoid_tls = *

begin retry
* * F,1m,10s

begin authenticators
cram:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = \${if eq{$auth1}{${user}}{${password}}fail}
  server_set_id = $auth1
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and{{eq{$auth2}{${user}}}{eq{$auth3}{${password}}}}}
  server_set_id = $auth2
  server_advertise_condition = \${if def:tls_in_cipher}
`;
}

/** Start the daemon and wait for its greeting. */
export async function startExim(setup: EximSetup): Promise<Exim> {
  const missing = eximMissing();
  if (missing) throw new Error(missing);
  const bin = eximBinary()!;
  const dir = serverDir('relaybox-exim-');
  const port = await freePort();
  const owner = systemUser(EXIM_USER)!;
  for (const d of ['spool', 'log']) {
    mkdirSync(path.join(dir, d));
    chownSync(path.join(dir, d), owner.uid, owner.gid);
  }
  const pki = testPki();
  for (const [from, to] of [
    [pki.serverCertFile, 'cert.pem'],
    [pki.serverKeyFile, 'key.pem'],
  ] as const) {
    copyFileSync(from, path.join(dir, to));
    chownSync(path.join(dir, to), owner.uid, owner.gid);
  }
  const conf = path.join(dir, 'exim.conf');
  writeFileSync(conf, eximConf(bin, dir, port, setup), { mode: 0o644 });
  const logFile = path.join(dir, 'log', 'mainlog');
  const proc: ChildProcess = spawn(bin, ['-C', conf, '-bdf'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const dead = () =>
    proc.exitCode !== null || proc.signalCode !== null
      ? `exit ${proc.exitCode ?? proc.signalCode}: ${output}${readIfThere(logFile)}${readIfThere(path.join(dir, 'log', 'paniclog'))}`
      : undefined;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    }
    removeDir(dir);
  };
  try {
    await waitForGreeting(port, `exim (${conf})`, dead);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    port,
    dir,
    ...logFileOf(logFile, 'Exim'),
    stop,
  };
}
