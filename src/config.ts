// Option values -> the relay's typed configuration. Each component reads its own slice (net/config.ts,
// smtp/config.ts, forward/config.ts, spool/config.ts, filters/config.ts, process/config.ts, pop/config.ts,
// admin/options.ts); this module refuses what E-MailRelay refuses before any slice is read, runs the
// checks that span components (section 1.11), and puts the slices together.
import { UsageError, type OptionValue } from './options/parse';
import { OptionSet, refuseTogether, type OptionLookup, type ReadContext } from './options/option-set';
import { readNetConfig, type NetConfig } from './net/config';
import { readSmtpConfig, type SmtpConfig } from './smtp/config';
import { readForwardConfig, type ForwardConfig } from './forward/config';
import { readSpoolConfig, type SpoolConfig } from './spool/config';
import { readFilterConfig, type FilterConfig } from './filters/config';
import { readProcessConfig, type ProcessConfig } from './process/config';
import { buildPopConfig, type PopConfig } from './pop/config';
import { parseObserveOptions, type ObserveConfig } from './admin/options';
import { checkClientSecretsFile } from './auth/client-secrets-check';

export type RelayConfig = NetConfig &
  SmtpConfig &
  ForwardConfig &
  SpoolConfig &
  FilterConfig &
  ProcessConfig & {
    /** --pop: the POP3 server, or null. */
    pop: PopConfig | null;
    /** Admin interface, status page, alerts (src/admin, src/health). */
    observe: ObserveConfig;
    warnings: string[];
  };

/** Expand --as-client, --as-proxy and --as-server into the options they stand for. */
export function expandShorthands(values: OptionValue[]): OptionValue[] {
  const out: OptionValue[] = [];
  const fake = (name: string, value: string, where: string): OptionValue => ({ spec: { name, group: 'basic', help: '', support: 'yes' }, value, where });
  for (const v of values) {
    out.push(v);
    const w = `${v.where} (--${v.spec.name})`;
    if (v.spec.name === 'as-client') out.push(fake('log', '', w), fake('no-daemon', '', w), fake('dont-serve', '', w), fake('forward', '', w));
    if (v.spec.name === 'as-proxy') out.push(fake('log', '', w), fake('close-stderr', '', w), fake('forward-on-disconnect', '', w));
    if (v.spec.name === 'as-server') out.push(fake('log', '', w), fake('close-stderr', '', w));
  }
  return out;
}

/** Refuse options that are not implemented yet, and repeats of single-valued ones. */
function refuseUnsupported(values: OptionValue[]): void {
  const problems: string[] = [];
  for (const v of values) {
    const s = v.spec;
    if (s.support === 'planned') {
      problems.push(`${v.where}: --${s.name} is not supported yet${s.issue ? ` (planned, issue ${s.issue})` : ''}; remove it to start`);
    } else if (s.support === 'windows') {
      problems.push(`${v.where}: --${s.name} is a Windows option of E-MailRelay and has no meaning here; remove it`);
    }
  }
  if (problems.length) throw new UsageError(problems.join('\n'));
}

function refuseRepeats(values: OptionValue[]): OptionValue[] {
  const seen = new Map<string, OptionValue>();
  const kept: OptionValue[] = [];
  for (const v of values) {
    const first = seen.get(v.spec.name);
    if (!first || v.spec.many || v.spec.maxCount || !v.spec.arg) {
      if (!first) seen.set(v.spec.name, v);
      kept.push(v);
      continue;
    }
    if (first.value === v.value) continue;
    if (first.where === 'command line' && v.where !== 'command line') continue; // the command line wins over the config file
    throw new UsageError(`${v.where}: --${v.spec.name} is given twice ("${first.value}" at ${first.where}, "${v.value}" here): keep one`);
  }
  return kept;
}

/** Options that only make sense together with listening, or with the SMTP server. */
function refuseWithoutListener(opts: OptionLookup): void {
  for (const o of ['port', 'filter', 'server-auth']) {
    refuseTogether(opts, 'dont-serve', o, `--${o} makes no sense with --dont-serve or --as-client (nothing listens)`);
    refuseTogether(opts, 'no-smtp', o, `--${o} makes no sense with --no-smtp`);
  }
}

/**
 * --processes: what one process serves for the whole relay (a status page, the admin interface, POP,
 * alerts) would see only its own process, so it needs one; so does a relay that does not listen.
 */
function refuseWithProcesses(opts: OptionLookup): void {
  const processes = opts.get('processes');
  if (processes === undefined || processes === '1') return;
  for (const o of ['status-port', 'admin', 'pop', 'alert-to', 'dont-serve', 'no-smtp']) {
    refuseTogether(opts, 'processes', o, `--processes cannot be used with --${o} yet (it needs the relay in one process): remove one of them`);
  }
}

/** Every slice, read from options that passed refuseUnsupported and refuseRepeats. */
export function readRelayConfig(opts: OptionLookup, baseDir: string): RelayConfig {
  refuseWithoutListener(opts);
  refuseWithProcesses(opts);
  const ctx: ReadContext = { baseDir, warnings: [] };
  const net = readNetConfig(opts, ctx);
  const spool = readSpoolConfig(opts, ctx);
  return {
    ...net,
    ...readSmtpConfig(opts, ctx),
    ...readForwardConfig(opts, ctx),
    ...spool,
    ...readFilterConfig(opts, ctx, spool.spoolDir),
    ...readProcessConfig(opts, ctx),
    pop: buildPopConfig(opts, baseDir, ctx.warnings),
    observe: parseObserveOptions(opts, baseDir, net.domain),
    warnings: ctx.warnings,
  };
}

export function buildConfig(rawValues: OptionValue[], baseDir = process.cwd()): RelayConfig {
  refuseUnsupported(rawValues);
  return readRelayConfig(new OptionSet(refuseRepeats(expandShorthands(rawValues))), baseDir);
}

/**
 * Start-up check of the --client-auth secrets file (not the inline plain:<b64>:<b64> form): problems
 * that would leave relaybox forwarding without authenticating, each naming the file and line.
 */
export function clientAuthProblems(cfg: RelayConfig, requireClientLine = false): { problems: string[]; warnings: string[] } {
  if (!cfg.clientAuth || cfg.clientAuth.startsWith('plain:')) return { problems: [], warnings: [] };
  const selectorsPossible = cfg.filters.server.length > 0 || cfg.filters.client.length > 0;
  return checkClientSecretsFile(cfg.clientAuth, { selectorsPossible, requireClientLine });
}
