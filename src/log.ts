// pino without transports (they break in a one-file bundle): E-MailRelay's text lines on stderr, or
// relaybox's JSON lines on stdout with --log-format=json; or either to --log-file with %d/%h rotation.
import pino, { type Logger, type DestinationStream } from 'pino';
import { mkdirSync, openSync } from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import { asRoot } from './privilege';
import { emailrelayWording } from './log-wording';

export type Log = Logger;

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** %d -> YYYYMMDD, %h -> HH, as E-MailRelay's --log-file. */
export function expandLogName(pattern: string, d = new Date()): string {
  return pattern.replace(/%d/g, `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}`).replace(/%h/g, pad(d.getHours()));
}

/** --log-file could not be opened: which file, and why. */
export class LogFileError extends Error {}

/**
 * The log file, opened when the name changes: as root when running as root with --user (E-MailRelay
 * claims root for it too), so a root-owned log file works. The first open happens at once, so a
 * file that cannot be written stops start-up with a plain error.
 */
class RotatingFile implements DestinationStream {
  private name = '';
  private dest: ReturnType<typeof pino.destination> | null = null;
  constructor(private readonly pattern: string) {
    this.open(expandLogName(pattern));
  }
  private open(name: string): void {
    let fd: number;
    try {
      fd = asRoot(() => {
        mkdirSync(path.dirname(name), { recursive: true });
        return openSync(name, 'a', 0o640);
      });
    } catch (e) {
      throw new LogFileError(
        `cannot open the log file ${name} (--log-file): ${(e as Error).message}; name a file in a directory that exists, or that can be made`,
      );
    }
    this.dest?.end();
    // Written as each line comes, as E-MailRelay does: a script that reads the file after a reply finds its line.
    this.dest = pino.destination({ dest: fd, sync: true });
    this.name = name;
  }
  write(line: string): void {
    const name = expandLogName(this.pattern);
    if (name !== this.name) {
      try {
        this.open(name);
      } catch (e) {
        // Keep writing to the old file rather than lose the log; say so once per name.
        this.name = name;
        this.dest!.write(`${(e as Error).message}\n`);
      }
    }
    this.dest!.write(line);
  }
  flushSync(): void {
    this.dest?.flushSync();
  }
}

// --verbose lines (pino's debug) are E-MailRelay's verbose "info"; --debug lines (trace) its "debug".
const LEVEL_NAMES: Record<number, string> = { 10: 'debug', 20: 'info', 30: 'info', 40: 'warning', 50: 'error', 60: 'error' };
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

function textTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}.${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Formats pino's JSON as E-MailRelay's `relaybox: [time: ]level: [address ]text key=value ...`, key lines in its words. */
class TextLines implements DestinationStream {
  constructor(
    private readonly out: DestinationStream,
    private readonly fields: Set<string>,
  ) {}
  write(json: string): void {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(json);
    } catch {
      this.out.write(json);
      return;
    }
    const parts = ['relaybox:'];
    if (this.fields.has('time') && typeof o.time === 'number') parts.push(textTime(o.time) + ':');
    parts.push((LEVEL_NAMES[o.level as number] ?? 'info') + ':');
    if (this.fields.has('address') && o.address) parts.push(`${o.address}${this.fields.has('port') && o.port ? ':' + o.port : ''}`);
    if (this.fields.has('msgid') && o.id) parts.push(`${o.id}:`);
    const worded = emailrelayWording(String(o.msg ?? ''), o);
    parts.push(worded ? worded.text : String(o.msg ?? ''));
    for (const [k, v] of Object.entries(o)) {
      if (SKIP.has(k) || worded?.used.includes(k)) continue;
      parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
    }
    // One line per entry, as E-MailRelay writes: line breaks inside a text (an OpenSSL error) become spaces.
    this.out.write(
      parts
        .join(' ')
        .replace(/\s*[\r\n]+\s*/g, ' ')
        .trimEnd() + '\n',
    );
  }
}

/** Sees each line that is written (level, fields, message): the status page's recent log. */
export type LogTap = (level: number, fields: Record<string, unknown>, msg: string) => void;

export type LogField = 'time' | 'unit' | 'address' | 'port' | 'msgid';
export const LOG_FIELDS: LogField[] = ['time', 'unit', 'address', 'port', 'msgid'];

/** --log, --verbose, --debug, --log-file, --log-format, --log-time, --log-address (process/config.ts). */
export interface LogConfig {
  level: 'warn' | 'info' | 'debug' | 'trace';
  file?: string;
  format: 'json' | 'text';
  fields: Set<LogField>;
}

export function createLog(cfg: { log: LogConfig }, tap?: LogTap): Log {
  // Text on stderr, as E-MailRelay logs (through process.stderr, so --close-stderr silences it);
  // relaybox's JSON on stdout, as before.
  const base: DestinationStream = cfg.log.file
    ? new RotatingFile(cfg.log.file)
    : cfg.log.format === 'text'
      ? process.stderr
      : pino.destination({ dest: 1, sync: false });
  const stream = cfg.log.format === 'text' ? new TextLines(base, cfg.log.fields) : base;
  return pino(
    {
      level: cfg.log.level,
      base: { pid: process.pid },
      timestamp: cfg.log.format === 'json' || cfg.log.fields.has('time') ? pino.stdTimeFunctions.epochTime : false,
      // Belt and braces: anything named like a secret is never written.
      redact: { paths: ['pass', 'password', 'secret', '*.pass', '*.password', '*.secret', 'auth.pass'], censor: '[secret]' },
      ...(tap
        ? {
            hooks: {
              logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void, level: number) {
                const [first, second] = args;
                if (first && typeof first === 'object' && typeof second === 'string') tap(level, first as Record<string, unknown>, second);
                return method.apply(this, args);
              },
            },
          }
        : {}),
    },
    stream,
  );
}

/** A client's socket going away (reset, broken pipe, timeout) is its business, not an error of ours. */
const CLIENT_SOCKET_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH']);

/**
 * smtp-server's dialogue lines (`'C:', line`, `'S:', reply`, `'C: <%s bytes of DATA>'`) as E-MailRelay
 * writes them: `rx<<: "EHLO x"`, `tx>>: "250 ok"`, one line per reply line. smtp-server has
 * already hidden AUTH credentials.
 */
function protocolTrace(args: unknown[]): string[] | null {
  const [tag, payload] = args;
  if (tag === 'C:') return [`rx<<: "${String(payload)}"`];
  if (tag === 'S:')
    return String(payload)
      .split('\r\n')
      .map((l) => `tx>>: "${l}"`);
  if (typeof tag === 'string' && tag.startsWith('C: <')) return ['rx<<: [message content not logged]', 'rx<<: "."'];
  return null;
}

/** smtp-server logs bunyan-style (`debug(meta, 'S:', payload)`); pino drops the extra arguments. */
export function smtpServerLogger(log: Log): Record<string, (...args: unknown[]) => void> {
  type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  const adapt =
    (level: Level) =>
    (meta: unknown, ...args: unknown[]) => {
      // Most calls are the dialogue (a dozen lines a session), shown only at --verbose: without it, nothing to build.
      if (level === 'trace' && !log.isLevelEnabled('debug')) return;
      let lvl = level;
      const code = (meta as { err?: { code?: string } } | null)?.err?.code;
      if ((lvl === 'error' || lvl === 'warn') && code && CLIENT_SOCKET_ERRORS.has(code)) lvl = 'debug';
      // A client that botches its TLS handshake is worth a line, but it is not the relay's error.
      else if ((lvl === 'error' || lvl === 'warn') && code && code.startsWith('ERR_SSL_')) lvl = 'info';
      const trace = protocolTrace(args);
      if (trace) {
        // The SMTP dialogue, at --verbose, in E-MailRelay's rx<</tx>> form.
        if (log.isLevelEnabled('debug')) for (const line of trace) log.debug(line);
        return;
      }
      if (!log.isLevelEnabled(lvl)) return;
      if (meta && typeof meta === 'object') log[lvl]({ ...(meta as object), component: 'smtp-server' }, util.format(...args));
      else log[lvl]({ component: 'smtp-server' }, util.format(meta, ...args));
    };
  // smtp-server's info lines are per-connection chatter: they belong to --debug.
  return { trace: adapt('trace'), debug: adapt('trace'), info: adapt('trace'), warn: adapt('warn'), error: adapt('error'), fatal: adapt('fatal') };
}

/**
 * nodemailer's transaction log (the forwarding client's dialogue) at --verbose, in E-MailRelay's
 * client form: `tx>>: "EHLO x"` for what we send, `rx<<: "250 ok"` for each reply line. nodemailer
 * has already hidden AUTH credentials.
 */
export function clientDialogueLogger(log: Log): Record<string, (entry: Record<string, unknown>, message: string, ...args: unknown[]) => void> {
  let peer = '';
  const onEntry = (entry: Record<string, unknown>, message: string, ...args: unknown[]) => {
    if (entry?.remoteAddress) peer = `${String(entry.remoteAddress)}:${String(entry.remotePort)}`;
    // Implicit TLS ("Secure connection established to ...") or STARTTLS done: E-MailRelay's line.
    // nodemailer logs a format string ("%s established to %s:%s") and its arguments.
    const text = util.format(message, ...args);
    if (/^Secure connection established|^Connection upgraded with STARTTLS/.test(text)) log.debug({ address: peer }, 'tls established');
    if (entry?.tnx !== 'client' && entry?.tnx !== 'server') return;
    const arrow = entry.tnx === 'client' ? 'tx>>' : 'rx<<';
    for (const line of text.split(/\r?\n/)) if (line) log.debug(`${arrow}: "${line}"`);
  };
  return Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((level) => [level, onEntry]));
}
