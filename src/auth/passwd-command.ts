// `relaybox passwd`: emailrelay-passwd. Reads one password (stdin, or --password) and prints the
// hashed secret for a secrets-file "md5" line.
import { passwdHash, passwdHashDotted } from './cram';
import { encodeXtext } from './xtext';

const USAGE = `usage: relaybox passwd [--dotted] [--base64] [--hash md5|none] [--password <pw>]
Reads a password from standard input and prints the secret for a secrets file line:
  server md5 <user> <secret>`;

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

export async function runPasswd(args: string[]): Promise<number> {
  let dotted = false;
  let base64 = false;
  let hash = 'md5';
  let password: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--dotted') dotted = true;
    else if (a === '-b' || a === '--base64') base64 = true;
    else if (a === '-H' || a === '--hash') hash = (args[++i] ?? '').toLowerCase();
    else if (a === '-p' || a === '--password') password = args[++i];
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else {
      process.stderr.write(`relaybox passwd: unknown argument "${a}"\n${USAGE}\n`);
      return 1;
    }
  }
  if (hash !== 'md5' && hash !== 'none') {
    process.stderr.write(`relaybox passwd: only the md5 and none hash functions are available\n`);
    return 1;
  }
  let pw = password ?? (await readStdinLine());
  if (base64) pw = Buffer.from(pw, 'base64').toString('utf8');
  if (hash === 'none') process.stdout.write(encodeXtext(pw) + '\n');
  else process.stdout.write((dotted ? passwdHashDotted(pw) : passwdHash(pw)) + '\n');
  return 0;
}
