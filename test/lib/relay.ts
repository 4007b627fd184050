// Start the real bundle (dist/relaybox.js) as a child process and follow its JSON log.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const BUNDLE = path.resolve(__dirname, '../../dist/relaybox.js');

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface RelayProcess {
  port: number;
  spool: string;
  proc: ChildProcess;
  logs: LogLine[];
  stderr: string;
  /** Resolves with the first log line (already seen or to come) that matches. */
  waitForLog(match: string | ((l: LogLine) => boolean), ms?: number): Promise<LogLine>;
  /** Resolves with the number of matching lines once there are at least n. */
  waitForCount(match: string | ((l: LogLine) => boolean), n: number, ms?: number): Promise<number>;
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
  exited: Promise<number | null>;
}

export function tempDir(prefix = 'relaybox-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A temporary directory removed after the test. */
export function scratchDir(defer: (fn: () => unknown) => void, prefix = 'relaybox-test-'): string {
  const dir = tempDir(prefix);
  defer(() => removeDir(dir));
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function matcher(m: string | ((l: LogLine) => boolean)): (l: LogLine) => boolean {
  return typeof m === 'string' ? (l) => l.msg === m : m;
}

export interface StartOptions {
  spool?: string;
  port?: number;
  /** Do not add --port/--interface/--spool-dir/--no-daemon/--log/--user defaults. */
  raw?: boolean;
  /** Leave the log in E-MailRelay's text form (on stderr); by default the tests ask for JSON on stdout. */
  textLog?: boolean;
  /** Wait for this log message before resolving (default 'relaybox started'); null: do not wait. */
  readyMessage?: string | null;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run node through this command, e.g. ['ip', 'netns', 'exec', name] (it must exec, keeping the pid). */
  wrapper?: string[];
}

export async function startRelay(args: string[], opts: StartOptions = {}): Promise<RelayProcess> {
  const spool = opts.spool ?? tempDir('relaybox-spool-');
  const port = opts.port ?? (await freePort());
  const defaults = opts.raw ? [] : ['--no-daemon', '--log', '--user', 'root', '--port', String(port), '--interface', '127.0.0.1', '--spool-dir', spool];
  const json = opts.textLog ? [] : ['--log-format', 'json'];
  const command = [...(opts.wrapper ?? []), process.execPath, BUNDLE, ...json, ...defaults, ...args];
  const proc = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  const logs: LogLine[] = [];
  const listeners = new Set<() => void>();
  let buffered = '';
  const relay: RelayProcess = {
    port,
    spool,
    proc,
    logs,
    stderr: '',
    exited: new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)))),
    waitForLog(m, ms = 15000) {
      const test = matcher(m);
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(test);
          if (found) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(
            new Error(
              `no log line matching ${String(m)} within ${ms} ms; last lines:\n${logs
                .slice(-8)
                .map((l) => JSON.stringify(l))
                .join('\n')}\nstderr: ${relay.stderr}`,
            ),
          );
        }, ms);
        listeners.add(check);
        check();
      });
    },
    waitForCount(m, n, ms = 30000) {
      const test = matcher(m);
      return new Promise((resolve, reject) => {
        const check = () => {
          const count = logs.filter(test).length;
          if (count >= n) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(count);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`fewer than ${n} log lines matching ${String(m)} within ${ms} ms (${logs.filter(test).length})`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const code = await relay.exited;
      clearTimeout(timer);
      return code;
    },
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await relay.exited;
    },
  };
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ level: 30, msg: line });
      }
    }
    for (const l of [...listeners]) l();
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => {
    relay.stderr += c;
  });
  const ready = opts.readyMessage === undefined ? 'relaybox started' : opts.readyMessage;
  if (ready) {
    await Promise.race([
      relay.waitForLog(ready, 15000),
      relay.exited.then((code) => {
        throw new Error(`relaybox exited with ${code} before it was ready: ${relay.stderr}`);
      }),
    ]);
  }
  return relay;
}

/** A relay stopped (and its spool removed, unless `keepSpool`) after the test. */
export async function relayFor(defer: (fn: () => unknown) => void, args: string[], opts: StartOptions & { keepSpool?: boolean } = {}): Promise<RelayProcess> {
  const relay = await startRelay(args, opts);
  defer(async () => {
    await relay.stop();
    if (!opts.keepSpool) removeDir(relay.spool);
  });
  return relay;
}

/** A process's resident set size in MB (VmRSS), or null once it has gone. */
export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** `--admin-password-file <file>` with the password in a scratch file, or nothing without one. */
export function adminPasswordArgs(defer: (fn: () => unknown) => void, password?: string): string[] {
  if (!password) return [];
  const file = path.join(scratchDir(defer), 'pw');
  writeFileSync(file, password + '\n');
  return ['--admin-password-file', file];
}

/** A relay with the status page on a free port (and the admin password, if given), once it listens. */
export async function statusRelay(defer: (fn: () => unknown) => void, args: string[], password?: string): Promise<{ relay: RelayProcess; http: number }> {
  const http = await freePort();
  const relay = await relayFor(defer, ['--status-port', String(http), ...adminPasswordArgs(defer, password), ...args]);
  await relay.waitForLog((l) => l.msg === 'listening for the status page' && l.port === http);
  return { relay, http };
}
