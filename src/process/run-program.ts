// Runs a filter or verifier program as E-MailRelay does (section 4.2): execve with an argument list,
// no shell, a minimal environment, stdin and stderr on /dev/null, stdout captured, a process group
// of its own so that a timeout can stop everything the program started; as the --user, every id.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { startAsUser } from '../privilege';

export interface ProgramResult {
  /** The exit code; 128+n when killed by signal n; 127 when it could not be run. */
  exitCode: number;
  /** The first `maxOutput` bytes of stdout. */
  output: string;
  timedOut: boolean;
  /** Why it could not be started (exit code 127). */
  execError?: string;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
const KILL_GRACE_MS = 5000;

/** A JavaScript program is run with the node that runs relaybox. */
function commandFor(program: string, args: string[]): [string, string[]] {
  return /\.(m?js|cjs)$/.test(program) ? [process.execPath, [program, ...args]] : [program, args];
}

export function runProgram(program: string, args: string[], timeoutMs: number, maxOutput = 1024): Promise<ProgramResult> {
  const [file, argv] = commandFor(program, args);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let settled = false;
    let timedOut = false;
    const finish = (r: ProgramResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const child = startAsUser((ids) =>
      spawn(file, argv, {
        env: { PATH: '/usr/bin:/bin', IFS: ' \t\n' },
        stdio: ['ignore', 'pipe', 'ignore'],
        detached: true,
        cwd: process.cwd(),
        ...ids,
      }),
    );
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // the group has already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS).unref();
      finish({ exitCode: 128 + 15, output: Buffer.concat(chunks).toString('utf8'), timedOut: true });
    }, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      if (kept >= maxOutput) return;
      const part = d.subarray(0, maxOutput - kept);
      chunks.push(part);
      kept += part.length;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      const text = `filter exec error: ${path.basename(program)}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied (is it executable?)' : e.message}`;
      finish({ exitCode: 127, output: `<<${text}>>`, timedOut: false, execError: text });
    });
    child.on('close', (code, signal) => {
      const exitCode = code ?? 128 + (signal ? (SIGNALS[signal] ?? 15) : 15);
      finish({ exitCode, output: Buffer.concat(chunks).toString('utf8'), timedOut });
    });
  });
}
