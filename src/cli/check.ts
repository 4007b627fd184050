// `relaybox check [config-file] --to <address>`: the status page's test mail from a shell. Prints
// each step and, where one failed, what to change. Exit 0: the upstream accepted the mail; 1: a step
// failed (a broken config file is a failed step too); 2: the command itself was wrong.
import * as path from 'node:path';
import { buildConfig, clientAuthProblems } from '../config';
import { parseCommandLine, readConfigFile, type OptionValue } from '../options/parse';
import { dropPrivileges, lookupUser } from '../process/daemon';
import { runTestMail, type Step } from '../check/test-mail';

export const CHECK_USAGE = `usage: relaybox check [config-file] --to <address> [--from <address>] [relaybox options]
Sends a test mail straight to the upstream server of the config file (not through the spool) and
shows each step: name resolved, connected, TLS, logged in, MAIL/RCPT/DATA accepted. Where a step
fails it says what to change. Exit status: 0 sent, 1 a step failed, 2 usage error.`;

const LABEL: Record<Step['status'], string> = { ok: 'ok', warning: 'warning', failed: 'FAILED', skipped: 'skipped' };

export function formatSteps(steps: Step[]): string {
  return steps
    .map((s) => {
      const head = `  ${LABEL[s.status].padEnd(8)} ${s.name}: ${s.detail}`;
      return s.advice ? `${head}\n           what to do: ${s.advice}` : head;
    })
    .join('\n');
}

/** Takes --to and --from (with a value or =value) out of the arguments. */
function takeAddresses(argv: string[]): { to?: string; from?: string; rest: string[] } | { error: string } {
  const out: { to?: string; from?: string; rest: string[] } = { rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(to|from)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) {
      out.rest.push(argv[i]!);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) return { error: `--${m[1]} needs an address` };
    out[m[1] as 'to' | 'from'] = value;
  }
  return out;
}

export async function runCheckCommand(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out.write(`${CHECK_USAGE}\n`);
    return 0;
  }
  const args = takeAddresses(argv);
  if ('error' in args) {
    err.write(`relaybox check: ${args.error}\n${CHECK_USAGE}\n`);
    return 2;
  }
  if (!args.to) {
    err.write(`relaybox check: say where the test mail goes: --to <address>\n${CHECK_USAGE}\n`);
    return 2;
  }
  let values: OptionValue[];
  let configFile: string | undefined;
  try {
    const parsed = parseCommandLine(args.rest);
    values = [...parsed.values];
    configFile = parsed.configFile;
  } catch (e) {
    err.write(`relaybox check: ${(e as Error).message}\n${CHECK_USAGE}\n`);
    return 2;
  }
  const baseDir = process.env.RELAYBOX_BASE_DIR ?? process.cwd();
  let steps: Step[];
  try {
    if (configFile) values.push(...readConfigFile(path.resolve(baseDir, configFile)));
    const cfg = buildConfig(values, baseDir);
    const { problems, warnings } = clientAuthProblems(cfg);
    if (problems.length) throw new Error(problems.join('; '));
    for (const w of warnings) out.write(`relaybox check: warning: ${w}\n`);
    // As root, the test runs as the relay would (--user, default daemon) once the secrets are read, so
    // a token file or cache it rewrites stays the relay's own.
    const userName = cfg.user ?? 'daemon';
    const runAs = process.getuid?.() === 0 && userName !== 'root' ? await lookupUser(userName) : null;
    if (process.getuid?.() === 0 && userName !== 'root' && !runAs)
      throw new Error(`there is no user "${userName}" to run as (the user option in ${configFile ?? 'the options'})`);
    out.write(`relaybox check: a test mail to ${args.to} through ${cfg.forwardTo?.text ?? '(no upstream)'}\n`);
    steps = await runTestMail(
      cfg,
      { to: args.to, from: args.from },
      { configFile: configFile ?? 'the command line', afterSecretsRead: runAs ? () => dropPrivileges(runAs) : undefined },
    );
  } catch (e) {
    steps = [{ name: 'settings', status: 'failed', detail: (e as Error).message, advice: `Correct ${configFile ?? 'the options'} where the message says.` }];
  }
  out.write(`${formatSteps(steps)}\n`);
  const failed = steps.some((s) => s.status === 'failed');
  out.write(failed ? 'The test mail was not sent: see the step marked FAILED.\n' : `The upstream server accepted the test mail for ${args.to}.\n`);
  return failed ? 1 : 0;
}
