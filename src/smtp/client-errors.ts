// Protocol errors from an SMTP client, as E-MailRelay treats them (src/gsmtp/gsmtpserverprotocol.cpp,
// badClientEvent): unknown commands (500) and commands out of sequence (503) are counted over the
// whole connection, and the connection is closed after the reply to the 8th. smtp-server's own
// limit (421 at the 10th unknown command, reset by each accepted message) lets a client that sends
// one message between bursts of junk stay forever. Postfix, for comparison, slows a client down
// after smtpd_soft_error_limit (10) errors and drops it at smtpd_hard_error_limit (20).
// The two replies E-MailRelay's clients match on are worded as E-MailRelay words them.
// Wrapped once, for the process, for servers created with the marker option (the limit).
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

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

interface Connection {
  _server: { options: Record<string, unknown> };
  _closing?: boolean;
  _socket: { destroySoon(): void };
  relayboxClientErrors?: number;
  close(): void;
}
type Send = (this: Connection, code: number, data: unknown, context?: unknown) => void;

let installed = false;

export function installClientErrorLimit(): void {
  if (installed) return;
  const proto = (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype;
  const send = proto.send as Send | undefined;
  if (typeof send !== 'function' || typeof proto.close !== 'function') {
    throw new Error('smtp-server has changed: send/close are missing (relaybox needs the pinned smtp-server 3.21.6)');
  }
  proto.send = function (this: Connection, code: number, data: unknown, context?: unknown) {
    const limit = this._server.options[CLIENT_ERROR_LIMIT_OPTION] as number | undefined;
    if (!limit) return send.call(this, code, data, context);
    send.call(this, code, emailRelayWords(code, data), context);
    if (!isClientError(code)) return;
    this.relayboxClientErrors = (this.relayboxClientErrors ?? 0) + 1;
    if (this.relayboxClientErrors < limit || this._closing) return;
    this.close();
    // Closed outright once the reply is out, as E-MailRelay does: what the client still sends is
    // refused by the kernel (a reset) rather than read and discarded.
    this._socket.destroySoon();
  };
  installed = true;
}
