// Command line of `relaybox submit` and of the `sendmail` entry point: sendmail's options (-t, -f,
// -F, -i, -oi, -B, -C, -o* delivery and error modes) and emailrelay-submit's long names (--spool-dir,
// --from, --to, --verbose). Single-letter options follow sendmail where the two disagree.

export const EX_OK = 0;
export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_SOFTWARE = 70;
export const EX_CANTCREAT = 73;
export const EX_TEMPFAIL = 75;
export const EX_CONFIG = 78;

export class SubmitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface SubmitArgs {
  spoolDir?: string;
  configFile?: string;
  /** Envelope sender (-f/--from); '' means the null sender <>. */
  from?: string;
  /** -F: the sender's full name, for a From: header that has to be added. */
  fullName?: string;
  recipients: string[];
  /** -t: recipients also from the To:, Cc: and Bcc: headers. */
  fromHeaders: boolean;
  /** Without -i (-oi) a line holding a single "." ends the message, as in sendmail. */
  dotEnds: boolean;
  /** -B: BODY type for the envelope (7BIT or 8BITMIME); otherwise from the content. */
  body?: '7bit' | '8bit';
  verbose: boolean;
  help: boolean;
  version: boolean;
}

export function usageText(name: string): string {
  return `usage: ${name} [options] [recipient ...] < message
Writes the message on standard input into the relaybox spool, to be forwarded like mail
received over SMTP.
  -t                  also take recipients from the To:, Cc: and Bcc: headers
                      (with no recipients at all, the headers are used anyway)
  -f, --from <addr>   envelope sender (default: the From: header, else <user>@<host>)
  -F <name>           full name for a From: header that has to be added
  -i, -oi             a line with a single "." does not end the message
  --to <addr>         a recipient (as many as needed; same as a recipient argument)
  -s, --spool-dir <dir>  spool directory (default: the spool-dir of the config file,
                      else /var/spool/emailrelay)
  -C, --config <file> relaybox config file to take spool-dir from (default: the
                      first that exists of /etc/relaybox/relaybox.conf (.deb),
                      /var/lib/relaybox/config/relaybox.conf (appliance),
                      /etc/relaybox.conf)
  -B 7BIT|8BITMIME    body type for the envelope (default: from the content)
  -v, --verbose       print the path of the new content file
  -odb -odi -odq -odd -oem -oee -oep -oeq -oew -om -bm -U
                      accepted for sendmail compatibility; they change nothing
  -h, --help          this text
Exit codes: 0 stored, 64 usage, 65 bad message, 73 spool not writable, 75 try again, 78 bad config.`;
}

/** Options that only make sense for a real sendmail's queue runner or error reporting. */
const ACCEPTED_NO_EFFECT = new Set([
  '-odb',
  '-odi',
  '-odq',
  '-odd',
  '-odbackground',
  '-odinteractive',
  '-oem',
  '-oee',
  '-oep',
  '-oeq',
  '-oew',
  '-om',
  '-bm',
  '-U',
]);
/** Sendmail modes other than "deliver a message": refused clearly. */
const OTHER_MODES = new Set(['-bp', '-bs', '-bd', '-bD', '-bi', '-bt', '-bv', '-bh', '-bH', '-q']);

export function parseSubmitArgs(argv: readonly string[]): SubmitArgs {
  const a: SubmitArgs = { recipients: [], fromHeaders: false, dotEnds: true, verbose: false, help: false, version: false };
  const usage = (msg: string): never => {
    throw new SubmitError(EX_USAGE, msg);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (name: string, attached: string): string => {
      if (attached) return attached;
      if (i + 1 >= argv.length) usage(`${name} needs a value`);
      return argv[++i]!;
    };
    if (arg === '--') {
      a.recipients.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg : arg.slice(0, eq);
      const attached = eq < 0 ? '' : arg.slice(eq + 1);
      switch (name) {
        case '--spool-dir':
          a.spoolDir = value(name, attached);
          break;
        case '--config':
          a.configFile = value(name, attached);
          break;
        case '--from':
          a.from = value(name, attached);
          break;
        case '--to':
          a.recipients.push(value(name, attached));
          break;
        case '--verbose':
          a.verbose = true;
          break;
        case '--help':
          a.help = true;
          break;
        case '--version':
          a.version = true;
          break;
        default:
          usage(`unknown option "${name}"`);
      }
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      a.recipients.push(arg);
      continue;
    }
    if (ACCEPTED_NO_EFFECT.has(arg)) continue;
    if (OTHER_MODES.has(arg) || arg.startsWith('-q'))
      usage(`"${arg}" is not supported: relaybox's sendmail only submits messages (use the relay's own options to look at or run the queue)`);
    if (arg === '-oi' || arg === '-i') {
      a.dotEnds = false;
      continue;
    }
    const letter = arg[1]!;
    const attached = arg.slice(2);
    switch (letter) {
      case 't':
        if (attached) usage(`unknown option "${arg}"`);
        a.fromHeaders = true;
        break;
      case 'v':
        if (attached) usage(`unknown option "${arg}"`);
        a.verbose = true;
        break;
      case 'h':
        if (attached) usage(`unknown option "${arg}"`);
        a.help = true;
        break;
      case 'V':
        if (attached) usage(`unknown option "${arg}"`);
        a.version = true;
        break;
      case 'f':
      case 'r':
        a.from = value(`-${letter}`, attached);
        break;
      case 'F':
        a.fullName = value('-F', attached);
        break;
      case 's':
        a.spoolDir = value('-s', attached);
        break;
      case 'C':
        a.configFile = value('-C', attached);
        break;
      case 'B': {
        const b = value('-B', attached).toUpperCase();
        if (b === '7BIT') a.body = '7bit';
        else if (b === '8BITMIME') a.body = '8bit';
        else usage(`-B takes 7BIT or 8BITMIME, not "${b}"`);
        break;
      }
      default:
        usage(`unknown option "${arg}"`);
    }
  }
  return a;
}
