// A private Dovecot instance for tests: its submission service on a free loopback port with
// STARTTLS, relaying what it accepts to a test sink (submission_relay_host/port), users from a
// passwd-file, and optionally tokens checked by an OAuth2 introspection endpoint (RFC 7662).
// Its auth service also listens on a socket Postfix can use (smtpd_sasl_type = dovecot).
//
// The configuration is written for the installed major version: Debian 12 has Dovecot 2.3, Debian 13
// has 2.4, whose syntax changed (dovecot_config_version, named passdb/userdb blocks, ssl_server_*,
// auth_allow_cleartext, mail_driver/mail_path, the oauth2 {} block instead of an oauth2 passdb).
// Sources: https://doc.dovecot.org/2.3/ and the 2.3-to-2.4 upgrade notes of dovecot/documentation.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { freePort, removeDir } from './relay';
import { testPki } from './certs';
import { logFileOf, programOnPath, readIfThere, serverDir, waitForGreeting } from './server-process';

export type DovecotMajor = '2.3' | '2.4';

export interface DovecotSetup {
  /** Where the submission service relays accepted mail (the test sink). */
  relayPort: number;
  /** auth_mechanisms, lower case: e.g. ['plain', 'login'] or ['oauthbearer']. */
  mechanisms: string[];
  /** passwd-file users (checked with PLAIN/LOGIN): user -> password. */
  users?: Record<string, string>;
  /** XOAUTH2/OAUTHBEARER tokens checked by this RFC 7662 endpoint (credentials in the URL). */
  introspectionUrl?: string;
}

export interface DovecotFiles {
  dir: string;
  port: number;
  caFile: string;
  certFile: string;
  keyFile: string;
  passwdFile: string;
}

export interface Dovecot {
  major: DovecotMajor;
  port: number;
  dir: string;
  /** The auth socket for Postfix's smtpd_sasl_path (mode 0666). */
  authSocket: string;
  /** Everything Dovecot logged so far. */
  log(): string;
  /** Resolves once the log has a line matching `re`. */
  waitForLog(re: RegExp, ms?: number): Promise<string>;
  stop(): Promise<void>;
}

/** The major version of the installed dovecot ('2.3' or '2.4'), or undefined when it is missing. */
export function dovecotMajor(): DovecotMajor | undefined {
  const bin = programOnPath('dovecot');
  if (!bin) return undefined;
  const v = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (/^2\.3\./.test(v)) return '2.3';
  if (/^2\.4\./.test(v)) return '2.4';
  throw new Error(`Dovecot ${v} is installed; the tests have configurations for 2.3 (Debian 12) and 2.4 (Debian 13) only`);
}

/** Why the Dovecot tests cannot run here, or undefined when they can. */
export function dovecotMissing(): string | undefined {
  if (!programOnPath('dovecot')) return 'dovecot is not installed (scripts/install-deps installs dovecot-core and dovecot-submissiond)';
  if (!existsSync('/usr/lib/dovecot/submission')) return "Dovecot's submission service is not installed (apt-get install dovecot-submissiond)";
  return undefined;
}

const OAUTH_MECHS = new Set(['xoauth2', 'oauthbearer']);

function passwordMechs(setup: DovecotSetup): string[] {
  return setup.mechanisms.filter((m) => !OAUTH_MECHS.has(m));
}

function oauthMechs(setup: DovecotSetup): string[] {
  return setup.mechanisms.filter((m) => OAUTH_MECHS.has(m));
}

/** dovecot.conf for Dovecot 2.3 (Debian 12). */
export function dovecotConf23(setup: DovecotSetup, f: DovecotFiles): string {
  const lines = [
    `# relaybox test instance (test/lib/dovecot.ts), Dovecot 2.3`,
    `base_dir = ${f.dir}/run`,
    `state_dir = ${f.dir}/state`,
    `instance_name = relaybox-test-${path.basename(f.dir)}`,
    `log_path = ${f.dir}/dovecot.log`,
    `protocols = submission`,
    `listen = 127.0.0.1`,
    `hostname = dovecot.test`,
    `ssl = yes`,
    `ssl_cert = <${f.certFile}`,
    `ssl_key = <${f.keyFile}`,
    `disable_plaintext_auth = yes`,
    `auth_mechanisms = ${setup.mechanisms.join(' ')}`,
    // no auth cache, no failure delay: each attempt goes to the passdb or the introspection endpoint
    `auth_cache_size = 0`,
    `auth_failure_delay = 0`,
    `mail_location = maildir:${f.dir}/mail/%u`,
    `submission_relay_host = 127.0.0.1`,
    `submission_relay_port = ${setup.relayPort}`,
    `submission_relay_trusted = no`,
    `submission_relay_ssl = no`,
  ];
  if (passwordMechs(setup).length) {
    lines.push(`passdb {`, `  driver = passwd-file`, `  mechanisms = ${passwordMechs(setup).join(' ')}`, `  args = username_format=%u ${f.passwdFile}`, `}`);
  }
  if (oauthMechs(setup).length) {
    lines.push(`passdb {`, `  driver = oauth2`, `  mechanisms = ${oauthMechs(setup).join(' ')}`, `  args = ${f.dir}/dovecot-oauth2.conf.ext`, `}`);
  }
  lines.push(
    `userdb {`,
    `  driver = static`,
    `  args = uid=nobody gid=nogroup home=${f.dir}/home/%u`,
    `}`,
    `service submission-login {`,
    `  inet_listener submission {`,
    `    port = ${f.port}`,
    `  }`,
    `}`,
    `service auth {`,
    `  unix_listener auth-postfix {`,
    `    mode = 0666`,
    `  }`,
    `}`,
  );
  return lines.join('\n') + '\n';
}

/** The oauth2 passdb's args file for Dovecot 2.3. */
export function oauth2Conf23(setup: DovecotSetup, f: DovecotFiles): string {
  return (
    [
      `introspection_mode = post`,
      `introspection_url = ${setup.introspectionUrl}`,
      `force_introspection = yes`,
      `username_attribute = username`,
      `active_attribute = active`,
      `active_value = true`,
      `tls_ca_cert_file = ${f.caFile}`,
    ].join('\n') + '\n'
  );
}

/**
 * dovecot.conf for Dovecot 2.4 (Debian 13). Written from the 2.4 documentation and the 2.3-to-2.4
 * upgrade notes; not run here (this machine has 2.3).
 */
export function dovecotConf24(setup: DovecotSetup, f: DovecotFiles): string {
  const lines = [
    `dovecot_config_version = 2.4.0`,
    `dovecot_storage_version = 2.4.0`,
    `# relaybox test instance (test/lib/dovecot.ts), Dovecot 2.4`,
    `base_dir = ${f.dir}/run`,
    `state_dir = ${f.dir}/state`,
    `instance_name = relaybox-test-${path.basename(f.dir)}`,
    `log_path = ${f.dir}/dovecot.log`,
    `protocols = submission`,
    `listen = 127.0.0.1`,
    `hostname = dovecot.test`,
    `ssl = yes`,
    `ssl_server_cert_file = ${f.certFile}`,
    `ssl_server_key_file = ${f.keyFile}`,
    `auth_allow_cleartext = no`,
    `auth_mechanisms = ${setup.mechanisms.join(' ')}`,
    `auth_cache_size = 0`,
    `auth_failure_delay = 0`,
    `mail_driver = maildir`,
    `mail_path = ${f.dir}/mail/%{user}`,
    `submission_relay_host = 127.0.0.1`,
    `submission_relay_port = ${setup.relayPort}`,
    `submission_relay_trusted = no`,
    `submission_relay_ssl = no`,
  ];
  if (passwordMechs(setup).length) {
    lines.push(`passdb passwd-file {`, `  passwd_file_path = ${f.passwdFile}`, `  mechanisms_filter = ${passwordMechs(setup).join(' ')}`, `}`);
  }
  if (oauthMechs(setup).length) {
    // 2.4: the OAuth2 mechanisms use this block directly, no passdb (doc: auth/databases/oauth2).
    lines.push(
      `oauth2 {`,
      `  introspection_mode = post`,
      `  introspection_url = ${setup.introspectionUrl}`,
      `  force_introspection = yes`,
      `  username_attribute = username`,
      `  active_attribute = active`,
      `  active_value = true`,
      `  ssl_client_ca_file = ${f.caFile}`,
      `}`,
    );
  }
  lines.push(
    `userdb static {`,
    `  fields {`,
    `    uid = nobody`,
    `    gid = nogroup`,
    `    home = ${f.dir}/home/%{user}`,
    `  }`,
    `}`,
    `service submission-login {`,
    `  inet_listener submission {`,
    `    port = ${f.port}`,
    `  }`,
    `}`,
    `service auth {`,
    `  unix_listener auth-postfix {`,
    `    mode = 0666`,
    `  }`,
    `}`,
  );
  return lines.join('\n') + '\n';
}

/** A passwd-file line with a SHA512-CRYPT hash (made by openssl passwd -6). */
function passwdLine(user: string, password: string): string {
  const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: password, encoding: 'utf8' }).trim();
  return `${user}:{SHA512-CRYPT}${hash}`;
}

/** Start `dovecot -F -c <conf>` and wait for its submission greeting. */
export async function startDovecot(setup: DovecotSetup): Promise<Dovecot> {
  const missing = dovecotMissing();
  if (missing) throw new Error(missing);
  const major = dovecotMajor()!;
  const bin = programOnPath('dovecot')!;
  const dir = serverDir('relaybox-dovecot-');
  const pki = testPki();
  const files: DovecotFiles = {
    // the auth process (user dovecot) reads the CA file; the test PKI's directory is root's only
    dir,
    port: await freePort(),
    caFile: path.join(dir, 'ca.pem'),
    certFile: pki.serverCertFile,
    keyFile: pki.serverKeyFile,
    passwdFile: path.join(dir, 'passwd'),
  };
  copyFileSync(pki.caFile, files.caFile);
  mkdirSync(path.join(dir, 'mail'));
  chmodSync(path.join(dir, 'mail'), 0o1777);
  // read by the auth process, which runs as the dovecot user (test hashes only)
  writeFileSync(
    files.passwdFile,
    Object.entries(setup.users ?? {})
      .map(([u, p]) => passwdLine(u, p) + '\n')
      .join(''),
    { mode: 0o644 },
  );
  const conf = path.join(dir, 'dovecot.conf');
  if (major === '2.3') {
    writeFileSync(conf, dovecotConf23(setup, files));
    if (setup.introspectionUrl) writeFileSync(path.join(dir, 'dovecot-oauth2.conf.ext'), oauth2Conf23(setup, files), { mode: 0o644 });
  } else {
    writeFileSync(conf, dovecotConf24(setup, files));
  }
  const logFile = path.join(dir, 'dovecot.log');
  const proc: ChildProcess = spawn(bin, ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const dead = () =>
    proc.exitCode !== null || proc.signalCode !== null ? `exit ${proc.exitCode ?? proc.signalCode}: ${output}${readIfThere(logFile)}` : undefined;

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
    await waitForGreeting(files.port, `dovecot (${conf})`, dead);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    major,
    port: files.port,
    dir,
    authSocket: path.join(dir, 'run', 'auth-postfix'),
    ...logFileOf(logFile, 'Dovecot'),
    stop,
  };
}
