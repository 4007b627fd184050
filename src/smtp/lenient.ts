// Address parsing as E-MailRelay does it, on top of smtp-server's parser (the wrapper is in
// smtp-server-adapter.ts):
// - the address is kept as the client wrote it: smtp-server turns xn-- domains into Unicode, which
//   with `noalabels` would store an A-label address as UTF-8 (and flag the message as needing SMTPUTF8);
// - a quoted local part may hold spaces ("john doe"@example.com): smtp-server splits the command on them;
// - an address smtp-server finds malformed but E-MailRelay takes (a domain with "_", a sender
//   without a domain such as <scanner>, "a..b@host") is accepted: E-MailRelay's only rules are
//   "printable, valid UTF-8, not starting or ending with @" (GStore::MessageStore::addressStyle).
//   Control and invisible characters, unquoted spaces (splitPath) and malformed parameters are still refused;
// - `nostrictparsing`: MAIL FROM:user@host and RCPT TO:user@host without angle brackets are accepted,
//   as E-MailRelay 2.6 does, only for servers created with the marker option. Without it they get
//   a 501 that names the fix, and the server's STRICT_REFUSAL_OPTION callback (if any) hears of it.
import type { SMTPServerSession } from 'smtp-server';

export const LENIENT_OPTION = 'relayboxAddBrackets';
export const STRICT_REFUSAL_OPTION = 'relayboxStrictRefusal';

/** Told when an address without angle brackets is refused: the session and the reply sent. */
export type StrictRefusal = (session: SMTPServerSession, reply: string) => void;

const BARE = /^(\s*(?:MAIL\s+FROM|RCPT\s+TO)\s*:\s*)([^<>\s]+)(\s.*)?$/i;
const QUOTED = /"(?:[^"\\]|\\.)*"/g;
const PATH = /^(\s*(?:MAIL\s+FROM|RCPT\s+TO)\s*:\s*)<((?:"(?:[^"\\]|\\.)*"|[^<>"\s])*)>/i;
const SOURCE_ROUTE = /^@[^\s,:@]+(?:,@[^\s,:@]+)*:/;
// smtp-server's ADDRESS_UNSAFE_CHARS: control characters, DEL, C1 and zero-width characters.
const UNSAFE = /[\x00-\x1F\x7F-\x9F\u200B\u2060\uFEFF]/;

/** E-MailRelay's address rule: anything printable that neither starts nor ends with "@". */
export function emailRelayAccepts(address: string): boolean {
  return address !== '' && !address.startsWith('@') && !address.endsWith('@') && !UNSAFE.test(address);
}

export function addBrackets(command: string): string {
  const m = BARE.exec(command);
  return m ? `${m[1]}<${m[2]}>${m[3] ?? ''}` : command;
}

/** The address between the angle brackets as written (source route dropped), and the command with
 * spaces in quoted parts replaced so that smtp-server can split off the parameters. */
export function splitPath(command: string): { address: string; command: string } | null {
  const m = PATH.exec(command);
  if (!m) return null;
  const masked = m[2]!.replace(QUOTED, (q) => q.replace(/[ \t]/g, '_'));
  return { address: m[2]!.replace(SOURCE_ROUTE, ''), command: `${m[1]}<${masked}>${command.slice(m[0].length)}` };
}

/** The 501 text for a MAIL FROM or RCPT TO whose address has no angle brackets; null if it has them. */
export function missingBracketsReply(command: string): string | null {
  const m = BARE.exec(command);
  if (!m) return null;
  const verb = /^\s*MAIL/i.test(m[1]!) ? 'MAIL FROM' : 'RCPT TO';
  return `5.5.4 ${verb} needs angle brackets: ${verb}:<${m[2]}> (or set server-smtp-config nostrictparsing)`;
}
