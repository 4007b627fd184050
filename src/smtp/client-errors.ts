// Protocol errors from an SMTP client, as E-MailRelay treats them (src/gsmtp/gsmtpserverprotocol.cpp,
// badClientEvent): unknown commands (500) and commands out of sequence (503) are counted over the
// whole connection, and the connection is closed after the reply to the 8th. smtp-server's own
// limit (421 at the 10th unknown command, reset by each accepted message) lets a client that sends
// one message between bursts of junk stay forever. Postfix, for comparison, slows a client down
// after smtpd_soft_error_limit (10) errors and drops it at smtpd_hard_error_limit (20).
// The two replies E-MailRelay's clients match on are worded as E-MailRelay words them.
// The wrapper is in smtp-server-adapter.ts, for servers created with the marker option (the limit).

export const CLIENT_ERROR_LIMIT_OPTION = 'relayboxClientErrorLimit';
/** E-MailRelay's ServerProtocol::Config::client_error_limit. */
export const EMAILRELAY_CLIENT_ERROR_LIMIT = 8;

/** smtp-server's reply texts and E-MailRelay's for the same reply (gsmtpserversend.cpp). */
const EMAILRELAY_WORDS: ReadonlyArray<[number, RegExp, string]> = [
  [500, /^Error: command not recognized$/, 'command unrecognized'],
  [501, /^Error: Syntax: (?:HELO|EHLO) hostname$/, 'parameter required'],
];

/** The reply text E-MailRelay sends where smtp-server would send `text`. */
export function emailRelayWords(code: number, text: unknown): unknown {
  if (typeof text !== 'string') return text;
  for (const [c, pattern, words] of EMAILRELAY_WORDS) if (c === code && pattern.test(text)) return words;
  return text;
}

/** True for a reply that E-MailRelay counts against the client. */
export function isClientError(code: number): boolean {
  return code === 500 || code === 503;
}
