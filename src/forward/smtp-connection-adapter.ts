// The one module that touches nodemailer's SMTPConnection internals. The forwarding client needs a few
// things nodemailer's public API does not give: every EHLO line (it keeps only the AUTH mechanisms it
// implements), its list of extensions (to check SMTPUTF8 and 8BITMIME, and to turn pipelining off), the
// TLS socket, the recipients refused while the content is being sent (forward-to-all abandons the
// transaction), a MAIL FROM parameter (AUTH=, which it has no option for), and a faster dot-stuffing of
// the content (dot-stuff.ts, the same bytes as nodemailer's). Each is one private member, read or
// wrapped here only. The version is checked at start-up, and
// test/unit/smtp-connection-adapter.test.ts checks each member below against the installed library
// and a real SMTP server: an upgrade means reading this file and that test.
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import nodemailerPackage from 'nodemailer/package.json';
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { offeredMechanisms } from './sasl-client';
import { dotStuff } from './dot-stuff';

/** The nodemailer release this adapter was written for and checked against. */
export const NODEMAILER_VERSION = '10.6.1';

/** The private members of a live SMTPConnection used here (the contract test checks each one). */
export const PRIVATE_MEMBERS = {
  read: ['_ehloLines', '_supportedExtensions', '_socket', '_envelope'],
  changed: ['_supportedExtensions'],
  wrapped: ['_sendCommand', '_createSendStream'],
  /** On the content stream _createSendStream returns (nodemailer's DataStream). */
  dataStream: ['_transform', 'lastByte', 'inByteCount', 'outByteCount'],
} as const;

/** A recipient refusal as nodemailer records it. */
export type RecipientError = Error & { recipient?: string; responseCode?: number; response?: string };

/** The transaction in progress: complete once the server asked for the content (354). */
export interface PendingEnvelope {
  accepted: string[];
  rejectedErrors: RecipientError[];
}

/** An SMTPConnection as this module sees it, private parts included. */
interface Internals {
  /** The EHLO reply's lines after the first, without the code; unset after HELO. */
  _ehloLines?: string[];
  /** What nodemailer acts on, of SMTPUTF8 DSN 8BITMIME REQUIRETLS PIPELINING SIZE. */
  _supportedExtensions: string[];
  /** The socket in use: the TLS socket once the session is encrypted. */
  _socket: net.Socket | tls.TLSSocket | false | null;
  _envelope: (Partial<PendingEnvelope> & object) | false;
  _sendCommand(command: string, logText?: string): void;
  _createSendStream(callback: (...args: unknown[]) => void): DataStream;
}

/** nodemailer's DataStream (a Transform), the content on its way to the socket, as this module sees it. */
export interface DataStream {
  _transform(chunk: Buffer | string, encoding: BufferEncoding, done: (err?: Error | null) => void): void;
  push(chunk: Buffer): boolean;
  /** The content's last byte so far; false before the first. */
  lastByte: number | false;
  inByteCount: number;
  outByteCount: number;
}

const internals = (conn: SMTPConnection) => conn as unknown as Internals;

/** Start-up check: the installed nodemailer is the one this adapter was written for. */
export function checkNodemailerVersion(version = (nodemailerPackage as { version: string }).version): void {
  if (version !== NODEMAILER_VERSION) {
    throw new Error(
      `relaybox was built with nodemailer ${version}, but its forwarding client was written for nodemailer ${NODEMAILER_VERSION}: check src/forward/smtp-connection-adapter.ts against the new release`,
    );
  }
}

/** A new (not yet connected) nodemailer connection, refused for a nodemailer this was not written for. */
export function createSmtpConnection(options: SMTPConnection.Options): SMTPConnection {
  checkNodemailerVersion();
  const conn = new SMTPConnection(options);
  fastDotStuffing(conn);
  return conn;
}

/**
 * DataStream's _transform, with the same output and counters: dot-stuffing found with Buffer.indexOf
 * (dot-stuff.ts) rather than nodemailer's loop over every byte in JavaScript.
 */
export function stuffTransform(this: DataStream, chunk: Buffer | string, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
  if (!chunk || !chunk.length) return done();
  const input = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  this.inByteCount += input.length;
  const out = dotStuff(input, this.lastByte === false ? undefined : this.lastByte);
  this.outByteCount += out.length;
  this.push(out);
  this.lastByte = input[input.length - 1]!;
  done();
}

/** Each content stream of this connection dot-stuffs with stuffTransform. */
function fastDotStuffing(conn: SMTPConnection): void {
  const raw = internals(conn);
  const create = raw._createSendStream.bind(conn);
  raw._createSendStream = (callback) => {
    const stream = create(callback);
    stream._transform = stuffTransform;
    return stream;
  };
}

/** The AUTH mechanisms EHLO offered, all of them; `fallback` (nodemailer's own list) after HELO. */
export function authMechanisms(conn: SMTPConnection, fallback: string[] = []): string[] {
  const lines = internals(conn)._ehloLines;
  return lines ? offeredMechanisms(lines) : fallback;
}

/** The extensions the server offered that nodemailer acts on (SMTPUTF8, 8BITMIME, PIPELINING, ...). */
export function offeredExtensions(conn: SMTPConnection): readonly string[] {
  return internals(conn)._supportedExtensions;
}

/** nodemailer pipelines whenever the server offers it: after this it waits for each reply. Call once connected. */
export function turnOffPipelining(conn: SMTPConnection): void {
  const list = internals(conn)._supportedExtensions;
  const i = list.indexOf('PIPELINING');
  if (i >= 0) list.splice(i, 1);
}

/** The TLS socket of an encrypted session (implicit TLS, or after STARTTLS); undefined in plain text. */
export function tlsSocket(conn: SMTPConnection): tls.TLSSocket | undefined {
  const socket = internals(conn)._socket;
  return conn.secure && socket ? (socket as tls.TLSSocket) : undefined;
}

/** The TLS version in use ("TLSv1.3"), or "no" in plain text. */
export function tlsProtocol(conn: SMTPConnection): string {
  if (!conn.secure) return 'no';
  return tlsSocket(conn)?.getProtocol?.() ?? 'yes';
}

/** Closed for good: by either side, or after an error. (nodemailer's public flag.) */
export function isClosed(conn: SMTPConnection): boolean {
  return conn.destroyed;
}

/** The transaction in progress, or undefined between transactions. */
export function pendingEnvelope(conn: SMTPConnection): PendingEnvelope | undefined {
  const envelope = internals(conn)._envelope;
  if (!envelope) return undefined;
  return { accepted: envelope.accepted ?? [], rejectedErrors: envelope.rejectedErrors ?? [] };
}

/**
 * Adds `parameter()` (e.g. "AUTH=<>") to each MAIL FROM command this connection sends, when it gives
 * one: nodemailer builds MAIL FROM itself and has no option for further parameters.
 */
export function addMailFromParameter(conn: SMTPConnection, parameter: () => string | undefined): void {
  const raw = internals(conn);
  const sendCommand = raw._sendCommand.bind(conn);
  raw._sendCommand = (command, ...rest) => {
    const extra = /^MAIL FROM:/i.test(command) ? parameter() : undefined;
    sendCommand(extra ? `${command} ${extra}` : command, ...rest);
  };
}
