// E-MailRelay's wording for the text log's key lines, the ones scripts and monitoring grep for
// (E-MailRelay 2.6: gmultiserver.cpp, gsmtpserver.cpp, gpopserver.cpp, gsocketprotocol.cpp,
// unit.cpp, gsmtpforward.cpp). The JSON log keeps relaybox's own messages and fields.

type Fields = Record<string, unknown>;

/** A text line, and the fields it has used up (the rest follow it as key=value). */
export interface Worded {
  text: string;
  used: string[];
}

/** E-MailRelay's display form of an address and port: a.b.c.d:port, or ipv6.port. */
function peer(f: Fields): string {
  const address = String(f.address ?? '');
  if (f.port === undefined) return address;
  return address.includes(':') ? `${address}.${f.port}` : `${address}:${f.port}`;
}

/** relaybox's reasons for a forwarding run, in E-MailRelay's words (unit.cpp). */
function forwardingReason(why: string): string {
  if (why === 'poll') return 'poll';
  if (/filter asked for the spool to be scanned/.test(why)) return 'rescan';
  if (/^client disconnected/.test(why)) return 'client disconnect';
  if (/^start-up/.test(why)) return 'startup';
  if (/admin/.test(why)) return 'admin';
  return why;
}

const FILTER_OUTCOMES: Record<string, string> = { ok: 'ok', fail: 'failed', abandon: 'ok(abandon)' };

/** gfilter.cpp's Filter::strtype. */
function filterType(f: Fields): string {
  if (f.side !== 'client') return 'filter';
  return f.routing ? 'routing-filter' : 'client-filter';
}

const SERVER_NAMES: Record<string, string> = {
  'listening for smtp': 'smtp',
  'listening for pop': 'pop',
  'listening for the admin interface': 'admin',
};

/** gsmtpforward.cpp's warning when a session with a next hop fails (err already in E-MailRelay's words). */
const connectionFailed = (f: Fields): Worded => ({ text: `smtp connection failed: ${String(f.err ?? '')}`, used: ['err'] });

const WORDING: Record<string, (f: Fields) => Worded> = {
  'smtp connection': (f) => ({ text: `smtp connection from ${peer(f)}`, used: ['address', 'port'] }),
  'smtp connection closed': (f) => ({ text: `smtp connection closed: ${peer(f)}`, used: ['address', 'port'] }),
  'pop connection': (f) => ({ text: `pop connection from ${peer(f)}`, used: ['address', 'port'] }),
  'pop connection closed': (f) => ({ text: `pop connection closed: ${peer(f)}`, used: ['address', 'port'] }),
  'tls established': (f) => ({
    text: `tls protocol established with ${peer(f)}${f.protocol ? ` protocol ${String(f.protocol)}` : ''}${f.cipher ? ` cipher ${String(f.cipher)}` : ''}`,
    used: ['address', 'port', 'protocol', 'cipher'],
  }),
  'forwarding run requested': (f) => ({ text: `forwarding: [${forwardingReason(String(f.why ?? ''))}]`, used: ['why'] }),
  'no messages to send': () => ({ text: 'forwarding: no messages to send', used: [] }),
  // gexecutablefilter.cpp and gfilter.cpp: "<type> [<filter>]: [<id>]: running <program>", and the result.
  'filter running': (f) => ({
    text: `${filterType(f)} [${String(f.filter)}]: [${String(f.id)}]: running ${String(f.filter)}`,
    used: ['side', 'routing', 'filter', 'id'],
  }),
  'filter result': (f) => ({
    text:
      `${filterType(f)} [${String(f.filter)}]: [${String(f.id)}]: ${FILTER_OUTCOMES[String(f.outcome)] ?? String(f.outcome)}` +
      (f.outcome === 'fail' ? ` response=[${String(f.response ?? '')}] reason=[${String(f.reason ?? '')}]` : ''),
    used: ['side', 'routing', 'filter', 'id', 'outcome', 'response', 'reason'],
  }),
  // gnewfile.cpp (there at the .new envelope; here once the message is committed).
  'new envelope file': (f) => ({ text: `new envelope file [${String(f.id)}]`, used: ['id'] }),
  'message rejected by filter': (f) => ({ text: `rejected by filter: [${String(f.reason ?? '')}]`, used: ['reason'] }),
  'forwarding run finished': () => ({ text: 'forwarding: no more messages to send', used: [] }),
  "cannot connect to the message's own next hop": connectionFailed,
  'skipping message with unconnectable address': (f) => ({
    text: `forwarding [${String(f.id)}]: skipping message with unconnectable address [${String(f.address)}]`,
    used: ['id', 'address'],
  }),
  'cannot forward: the upstream server is not reachable or refused the session': connectionFailed,
};

/**
 * A failed message's reason with the reply's code left to code=, as E-MailRelay keeps Reason and
 * ReasonCode apart ("DATA: 499 failed for testing" is "DATA: failed for testing", code=499): the
 * upstream's reply itself then stands once in the log, in the proxy-mode reply line.
 */
function reasonWithoutCode(f: Fields): string | undefined {
  if (typeof f.reason !== 'string') return undefined;
  const m = /^((?:[A-Z][A-Z ]*: )?)(\d{3}) (.*)$/.exec(f.reason);
  return m && String(f.code) === m[2] ? `${m[1]}${m[3]}` : f.reason;
}

/** E-MailRelay's words for one of the key lines, or null to write relaybox's own message. */
export function emailrelayWording(msg: string, fields: Fields): Worded | null {
  // gstoredfile.cpp: every message failed is "failing envelope [...]" (there with the two file names;
  // here the id, as spool/names.ts alone spells file names); relaybox's why follows.
  if (fields.step === 'failed' && typeof fields.id === 'string') {
    const reason = reasonWithoutCode(fields);
    return { text: `failing envelope [${fields.id}]: ${msg}${reason === undefined ? '' : ` reason=${reason}`}`, used: ['step', 'id', 'reason'] };
  }
  // gssl_openssl.cpp: a failed handshake is a "tls error: ..."; relaybox's advice follows.
  if (/^TLS handshake with (a client|the upstream server) failed/.test(msg)) return { text: `tls error: ${String(fields.err ?? '')}: ${msg}`, used: ['err'] };
  const server = SERVER_NAMES[msg];
  if (server) return { text: `${server} server on ${peer(fields)}`, used: ['address', 'port', 'tls'] };
  return WORDING[msg]?.(fields) ?? null;
}
