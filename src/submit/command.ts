// `relaybox submit` and the `sendmail` entry point: a message from standard input into the spool,
// committed exactly as the SMTP server commits one (content and envelope fsync'd, then renamed into
// place), so the running relay forwards it at its next forwarding run (--poll, a disconnect, ...).
import { promises as fsp, constants as FS, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readConfigFile, UsageError } from '../options/parse';
import { isNoSpace } from '../spool/durable';
import { newEnvelope } from '../spool/envelope';
import { Spool } from '../spool/store';
import { EX_CANTCREAT, EX_CONFIG, EX_OK, EX_TEMPFAIL, EX_USAGE, SubmitError, parseSubmitArgs, usageText, type SubmitArgs } from './args';
import { addressesIn, envelopeAddress, finalHeader, inputLines, readHeader } from './message';

declare const RELAYBOX_VERSION: string;

/** Where each way of installing relaybox keeps its config file, in the order they are looked for. */
export const DEFAULT_CONFIGS = [
  '/etc/relaybox/relaybox.conf', // the .deb
  '/var/lib/relaybox/config/relaybox.conf', // the appliance, imported from the card
  '/etc/relaybox.conf', // installed by hand, as the README once showed
];
const DEFAULT_SPOOL = '/var/spool/emailrelay';

/** --spool-dir, else spool-dir from the config file (-C, or the first of DEFAULT_CONFIGS that exists), else the default. */
export function findSpoolDir(a: SubmitArgs, defaultConfigs: readonly string[] = DEFAULT_CONFIGS): string {
  if (a.spoolDir) return path.resolve(a.spoolDir);
  const file = a.configFile ?? defaultConfigs.find((f) => statSync(f, { throwIfNoEntry: false }));
  if (!file) return DEFAULT_SPOOL;
  let values;
  try {
    values = readConfigFile(path.resolve(file));
  } catch (e) {
    throw new SubmitError(EX_CONFIG, e instanceof UsageError ? e.message : String(e));
  }
  const v = values.find((x) => x.spec.name === 'spool-dir');
  return v ? path.resolve(path.dirname(path.resolve(file)), v.value) : DEFAULT_SPOOL;
}

/**
 * Files are made group-readable and -writable for the relay (umask 007, as E-MailRelay's submit).
 * Run as root, the files are created as the spool directory's owner, so a relay running as an
 * unprivileged --user can forward and delete them.
 */
async function prepareSpoolAccess(dir: string): Promise<void> {
  process.umask(0o007);
  let st;
  try {
    st = await fsp.stat(dir);
  } catch (e) {
    throw new SubmitError(
      EX_CANTCREAT,
      `the spool directory ${dir} does not exist (${(e as NodeJS.ErrnoException).code}): start the relay once to create it, or give --spool-dir`,
    );
  }
  if (!st.isDirectory()) throw new SubmitError(EX_CANTCREAT, `${dir} is not a directory`);
  if (process.getuid?.() === 0 && st.uid !== 0 && process.setegid && process.seteuid) {
    process.setegid(st.gid);
    process.seteuid(st.uid);
  }
  await fsp.access(dir, FS.W_OK | FS.X_OK).catch(() => {
    throw new SubmitError(
      EX_CANTCREAT,
      `cannot write to the spool directory ${dir}: run as its owner or as a member of its group (and give the directory group write permission)`,
    );
  });
}

async function submit(a: SubmitArgs, stdin: AsyncIterable<Buffer | string>): Promise<string> {
  const spoolDir = findSpoolDir(a);
  const domain = os.hostname();
  const lines = inputLines(stdin, a.dotEnds);
  const { fields, firstBodyLine, separator } = await readHeader(lines);

  // A leading backslash (sendmail's "no alias expansion") is dropped, as emailrelay-submit does.
  const recipients = a.recipients.map((r) => envelopeAddress(r.replace(/^\\/, ''), 'recipient'));
  if (a.fromHeaders || recipients.length === 0) {
    recipients.push(...addressesIn(fields, ['to', 'cc', 'bcc']).map((r) => envelopeAddress(r, 'recipient in the header')));
  }
  const unique = [...new Set(recipients)];
  if (unique.length === 0) {
    throw new SubmitError(
      EX_USAGE,
      a.fromHeaders
        ? 'no recipients: the To:, Cc: and Bcc: headers name nobody'
        : 'no recipients: name them as arguments, or use -t to take them from the headers',
    );
  }
  let sender: string;
  if (a.from !== undefined) sender = a.from === '' || a.from === '<>' ? '' : envelopeAddress(a.from, 'sender');
  else {
    const fromHeader = addressesIn(fields, ['from'])[0] ?? addressesIn(fields, ['sender'])[0];
    sender = fromHeader ? envelopeAddress(fromHeader, 'sender in the From: header') : `${os.userInfo().username}@${domain}`;
  }

  await prepareSpoolAccess(spoolDir);
  const spool = new Spool(spoolDir);
  const msg = await spool.newMessage().catch((e: NodeJS.ErrnoException) => {
    throw new SubmitError(isNoSpace(e) ? EX_TEMPFAIL : EX_CANTCREAT, `cannot create a message file in ${spoolDir}: ${e.message}`);
  });
  let eightBit = false;
  const write = async (data: Buffer) => {
    if (!eightBit && data.some((b) => b >= 0x80)) eightBit = true;
    await msg.write(data);
  };
  const CRLF = Buffer.from('\r\n');
  try {
    await write(finalHeader(fields, { sender, fullName: a.fullName, domain }));
    if (separator || firstBodyLine) await write(CRLF);
    if (firstBodyLine) await write(Buffer.concat([firstBodyLine, CRLF]));
    for await (const line of lines) await write(Buffer.concat([line, CRLF]));
    const env = newEnvelope({
      content: a.body ?? (eightBit ? '8bit' : '7bit'),
      from: sender,
      toRemote: unique,
      client: '127.0.0.1', // what emailrelay-submit writes
      utf8MailboxNames: [sender, ...unique].some((x) => /[^\x00-\x7f]/.test(x)),
    });
    await msg.commit(env);
  } catch (e) {
    await msg.rollback();
    if (e instanceof SubmitError) throw e;
    throw new SubmitError(EX_TEMPFAIL, `cannot store the message in ${spoolDir}: ${(e as Error).message}${isNoSpace(e) ? ' (the disk is full)' : ''}`);
  }
  return spool.contentPath(msg.id);
}

/** Returns the exit code. `name` is how we were called, for messages. */
export async function runSubmit(argv: string[], name: string, stdin: AsyncIterable<Buffer | string> = process.stdin): Promise<number> {
  let a: SubmitArgs;
  try {
    a = parseSubmitArgs(argv);
    if (a.help) {
      process.stdout.write(usageText(name) + '\n');
      return EX_OK;
    }
    if (a.version) {
      process.stdout.write(`relaybox ${typeof RELAYBOX_VERSION === 'string' ? RELAYBOX_VERSION : '0.0.0-dev'}\n`);
      return EX_OK;
    }
    const contentPath = await submit(a, stdin);
    if (a.verbose) process.stdout.write(contentPath + '\n');
    return EX_OK;
  } catch (e) {
    if (e instanceof SubmitError) {
      process.stderr.write(`${name}: ${e.message}\n`);
      if (e.exitCode === EX_USAGE) process.stderr.write(`(${name} --help shows the options)\n`);
      return e.exitCode;
    }
    process.stderr.write(`${name}: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return EX_TEMPFAIL;
  } finally {
    // Input not read (an early error, or text after a lone ".") must not keep the process alive.
    if (stdin === process.stdin) process.stdin.destroy();
  }
}
