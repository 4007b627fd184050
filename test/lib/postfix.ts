// A private Postfix instance as a submission server for tests: its own config_directory,
// queue_directory and data_directory in a temp dir, one smtpd on a free loopback port with STARTTLS
// and SASL through Dovecot's auth socket (smtpd_sasl_type = dovecot), everything relayed to a test
// sink. Logs go to <dir>/maillog (maillog_file, Postfix 3.4+). No chroot, no DNS, no local delivery.
// scripts/bench/postfix.ts runs a similar instance for the benchmark.
import { execFile } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { processTree, readStat } from '../../scripts/bench/procfs';
import { testPki } from './certs';
import { freePort, removeDir } from './relay';
import { logFileOf, programOnPath, readIfThere, serverDir, systemUser, waitFor, waitForGreeting } from './server-process';
import { masterCf } from '../../scripts/bench/postfix';

export interface PostfixSetup {
  /** Where accepted mail is relayed (the test sink). */
  relayPort: number;
  /** Dovecot's auth socket (Dovecot.authSocket). */
  saslPath: string;
}

export interface Postfix {
  port: number;
  dir: string;
  log(): string;
  waitForLog(re: RegExp, ms?: number): Promise<string>;
  stop(): Promise<void>;
}

/** Why the Postfix tests cannot run here, or undefined when they can. */
export function postfixMissing(): string | undefined {
  if (!programOnPath('postfix')) return 'postfix is not installed (scripts/install-deps installs it)';
  if (!systemUser('postfix')) return 'there is no "postfix" user (is the postfix package installed?)';
  if (process.getuid?.() !== 0) return 'a private Postfix instance needs root';
  return undefined;
}

export function postfixMainCf(dir: string, setup: PostfixSetup): string {
  return `# relaybox test: private Postfix submission instance (test/lib/postfix.ts)
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
myhostname = postfix.test
mydomain = postfix.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# only authenticated clients may relay: loopback is not trusted by address
mynetworks =
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
relayhost = [127.0.0.1]:${setup.relayPort}
smtp_tls_security_level = none
smtp_host_lookup = native
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
biff = no
smtpd_tls_security_level = may
smtpd_tls_cert_file = ${dir}/cert.pem
smtpd_tls_key_file = ${dir}/key.pem
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = ${setup.saslPath}
smtpd_sasl_authenticated_header = no
`;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (((err as { code?: unknown }).code as number) ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, out: `${stdout}${stderr}`.trim() });
    });
  });
}

/** Write the configuration, `postfix -c <dir> start`, and wait for smtpd's greeting. */
export async function startPostfix(setup: PostfixSetup): Promise<Postfix> {
  const missing = postfixMissing();
  if (missing) throw new Error(missing);
  const bin = programOnPath('postfix')!;
  const dir = serverDir('relaybox-postfix-');
  const port = await freePort();
  const configDir = path.join(dir, 'etc');
  const dataDir = path.join(dir, 'data');
  for (const d of [configDir, path.join(dir, 'queue'), dataDir]) mkdirSync(d, { recursive: true, mode: 0o755 });
  const pf = systemUser('postfix')!;
  chownSync(dataDir, pf.uid, pf.gid);
  const pki = testPki();
  copyFileSync(pki.serverCertFile, path.join(dir, 'cert.pem'));
  copyFileSync(pki.serverKeyFile, path.join(dir, 'key.pem'));
  writeFileSync(path.join(configDir, 'main.cf'), postfixMainCf(dir, setup));
  writeFileSync(path.join(configDir, 'master.cf'), masterCf(port));
  const logFile = path.join(dir, 'maillog');
  const pidFile = path.join(dir, 'queue', 'pid', 'master.pid');
  const masterPid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0);
  let tree: { pid: number; comm: string }[] = [];
  const alive = (t: { pid: number; comm: string }) => {
    const s = readStat(t.pid);
    return !!s && s.state !== 'Z' && s.comm === t.comm;
  };
  const stop = async () => {
    const pid = masterPid();
    if (pid) tree = processTree(pid).map((s) => ({ pid: s.pid, comm: s.comm }));
    await run(bin, ['-c', configDir, 'stop'], 30000);
    try {
      await waitFor(() => !tree.some(alive), 'the Postfix processes to end', 10000);
    } catch {
      for (const t of tree.filter(alive)) process.kill(t.pid, 'SIGKILL');
    }
    removeDir(dir);
  };
  const started = await run(bin, ['-c', configDir, 'start'], 60000);
  const dead = () => {
    const pid = masterPid();
    const s = pid ? readStat(pid) : null;
    return started.code !== 0 || !s || s.state === 'Z'
      ? `postfix -c ${configDir} start: exit ${started.code}: ${started.out}\n${readIfThere(logFile)}`
      : undefined;
  };
  try {
    await waitForGreeting(port, 'postfix smtpd', dead);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    port,
    dir,
    ...logFileOf(logFile, 'Postfix'),
    stop,
  };
}
