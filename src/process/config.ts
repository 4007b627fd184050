// How the process runs: in the background or not (--no-daemon, --close-stderr), --pid-file, --user, and
// the log (--log, --verbose, --debug, --log-file, --log-format, --log-time, --log-address).
import { readPath, readWholeNumber, requireOneOf, usageError, type OptionLookup, type ReadContext } from '../options/option-set';
import { LOG_FIELDS, type LogConfig, type LogField } from '../log';

export interface ProcessConfig {
  /** False with --dont-serve: nothing listens. */
  serve: boolean;
  /** --processes: relay processes sharing the listening sockets and the spool (1: this one). */
  processes: number;
  daemon: boolean;
  closeStderr: boolean;
  pidFile?: string;
  user?: string;
  log: LogConfig;
}

function readLogLevel(opts: OptionLookup): LogConfig['level'] {
  if (opts.has('debug')) return 'trace';
  if (opts.all('verbose').length > 0) return 'debug';
  return opts.has('log') ? 'info' : 'warn';
}

function readLog(opts: OptionLookup, ctx: ReadContext): LogConfig {
  requireOneOf(opts, 'verbose', ['log', 'help', 'version'], '--verbose needs --log (or one of --as-server, --as-proxy, --as-client)');
  requireOneOf(opts, 'debug', ['log'], '--debug needs --log');
  const formats = opts.list('log-format').map((f) => f.toLowerCase());
  for (const f of formats) {
    if (![...LOG_FIELDS, 'text', 'json'].includes(f))
      throw usageError(opts, 'log-format', `--log-format: unknown keyword "${f}" (use ${LOG_FIELDS.join(', ')}, text or json)`);
  }
  const fields = new Set<LogField>(formats.filter((f): f is LogField => (LOG_FIELDS as string[]).includes(f)));
  if (opts.has('log-time')) fields.add('time');
  if (opts.has('log-address')) fields.add('address');
  if (opts.has('close-stderr') && !opts.has('log-file') && opts.has('log') && !opts.has('no-daemon')) {
    ctx.warnings.push('logging goes nowhere once relaybox runs in the background with stderr closed: add --log-file (or --no-daemon under systemd)');
  }
  return {
    level: readLogLevel(opts),
    file: readPath(opts, 'log-file', ctx.baseDir),
    // E-MailRelay's text lines unless the relaybox keyword "json" asks for JSON ("text" is accepted too).
    format: formats.includes('json') ? 'json' : 'text',
    fields,
  };
}

export function readProcessConfig(opts: OptionLookup, ctx: ReadContext): ProcessConfig {
  return {
    serve: !opts.has('dont-serve'),
    processes: readWholeNumber(opts, 'processes', 1, 1, 64),
    daemon: !opts.has('no-daemon'),
    closeStderr: opts.has('close-stderr'),
    pidFile: readPath(opts, 'pid-file', ctx.baseDir),
    user: opts.get('user'),
    log: readLog(opts, ctx),
  };
}
