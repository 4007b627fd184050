// The one module that touches smtp-server's internals. relaybox needs a few things smtp-server does
// not offer (E-MailRelay's address rules, an immediate greeting, bare-LF handling, VRFY through the
// address verifier, per-connection AUTH lists, CRAM-SHA*, E-MailRelay's client error limit); each is
// a wrapper around one private member, installed once for the process, and acting only for servers
// created with its marker option (the *_OPTION names), so that any other SMTPServer is untouched.
// What each wrapper decides lives in its own module (lenient.ts, bare-lf.ts, ...); here is only the
// plumbing. The version is checked at start-up, and test/unit/smtp-server-adapter.test.ts checks
// each member below against the installed library: an upgrade means reading this file and that test.
import { randomBytes } from 'node:crypto';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import SASL from 'smtp-server/lib/sasl.js';
import smtpServerPackage from 'smtp-server/package.json';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import type * as net from 'node:net';
import { addBrackets, emailRelayAccepts, LENIENT_OPTION, missingBracketsReply, splitPath, STRICT_REFUSAL_OPTION, type StrictRefusal } from './lenient';
import { AUTH_GATE_OPTION, AUTH_MECHANISMS_OPTION, refusedMechanism, TLS_FIRST, type AuthGate, type MechanismsFor } from './auth-advertise';
import { CRAM_SHA_MECHANISMS, cramChallenge, parseCramResponse } from './sasl-cram';
import { CLIENT_ERROR_LIMIT_OPTION, emailRelayWords, isClientError } from './client-errors';
import { crlfLineEnds, newDataScan, stuffBareLfDots, type BareLfMode, type DataScan } from './bare-lf';
import { BARE_LF_OPTION, BARE_LF_REPLY, BARE_LF_STALL_MS, type BareLfPolicy } from './bare-lf-policy';
import { ACCEPT_REPLIES_OPTION, acceptReply } from './accept-replies';

/** The smtp-server release these wrappers were written for and checked against. */
export const SMTP_SERVER_VERSION = '3.21.6';

/** The private members wrapped or called, by where they live (the contract test checks each one). */
export const WRAPPED_MEMBERS = {
  SMTPConnection: [
    'init',
    '_setListeners',
    'connectionReady',
    '_parseAddressCommand',
    'handler_MAIL',
    'handler_RCPT',
    'handler_VRFY',
    'handler_EHLO',
    'handler_AUTH',
    'handler_DATA',
    '_onTimeout',
    'send',
    'close',
    '_transmissionType',
    '_armTimeout',
    '_onError',
    '_onClose',
  ],
  SMTPStream: ['_write', 'startDataMode', 'continue', '_feedDataStream', '_countDataBytes'],
  SMTPServer: ['_handleProxy', '_expectsProxyHeader'],
  sasl: ['SASL_CRAM-MD5'],
} as const;

/** The private fields read on live objects (the contract test checks them on a real connection). */
export const READ_FIELDS = {
  /** `logger` is also replaced (logDirectly). */
  server: ['connections', 'logger'],
  connection: [
    '_server',
    '_socket',
    '_parser',
    '_closing',
    '_handlerPending',
    '_nextHandler',
    'session',
    'secure',
    'name',
    'id',
    '_upgrading',
    '_closed',
    'remoteAddress',
  ],
  stream: ['_dataMode', '_continueCallback', '_atDataStart', '_lastBytes', '_dataStream'],
} as const;

/**
 * smtp-server waits a fixed 100 ms before its greeting (to catch early talkers). A LAN relay gains
 * nothing from that and a device sending one message per connection loses 100 ms each time: servers
 * with this option greet at once. The maxClients check is kept as smtp-server has it.
 */
export const IMMEDIATE_GREETING_OPTION = 'relayboxImmediateGreeting';

/**
 * VRFY answered by the address verifier (E-MailRelay section 5.2): smtp-server's own handler always
 * says 252. Servers without this option keep smtp-server's answer.
 */
export const VRFY_OPTION = 'relayboxVrfy';
export type VrfyHandler = (address: string, session: SMTPServerSession) => Promise<{ code: number; text: string } | 'abort'>;

/**
 * A client that closes the connection in the middle of the TLS handshake is reported as a failed
 * handshake (a server 'error', as smtp-server reports one with a TLS alert). Node's TLS client, for one,
 * refuses a certificate by closing without an alert, and smtp-server takes such a close for a quiet
 * goodbye; E-MailRelay logs it as a "tls error", and so does relaybox for servers with this option.
 */
export const TLS_ABANDONED_OPTION = 'relayboxTlsAbandoned';

/**
 * smtp-server writes a reply to the socket and then logs it: a client that reads the log as soon as it
 * has the reply (E-MailRelay's test suite, a monitoring script) may not find the line yet. Servers with
 * this option log first, as E-MailRelay does.
 */
export const LOG_BEFORE_REPLY_OPTION = 'relayboxLogBeforeReply';

type Proto = Record<string, unknown>;
type Options = Record<string, unknown> & { authMethods: string[]; maxClients?: number };

/** A connection as the wrappers see it (smtp-server's SMTPConnection, private parts included). */
interface Connection {
  _server: { options: Options; connections: Set<unknown>; onAuth: OnAuth; logger: { info(...args: unknown[]): void } };
  _socket: { destroy(): void; destroySoon(): void; write: (...args: unknown[]) => boolean };
  _parser: (StreamLike & object) | false;
  _closing: boolean;
  _handlerPending?: boolean;
  _nextHandler: unknown;
  session: SMTPServerSession;
  secure: boolean;
  name: string;
  id: string;
  remoteAddress: string;
  /** smtp-server's: the TLS handshake (STARTTLS or implicit) is under way; the connection has closed. */
  _upgrading: boolean;
  _closed: boolean;
  emit(event: 'error', err: Error): boolean;
  send(code: number, text?: unknown, context?: unknown): void;
  close(): void;
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  _transmissionType(): string;
  relayboxClientErrors?: number;
  relayboxStallTimer?: NodeJS.Timeout;
  /** The last MAIL FROM or RCPT TO address: as the client wrote it, and the object smtp-server passes on. */
  /** The TLS handshake's failure was reported already. */
  relayboxTlsFailed?: boolean;
  relayboxLastAddress?: { written: string; parsed: { address?: string; localMailbox?: string } };
}

/** smtp-server's SMTPStream (the connection's parser), private parts included. */
interface StreamLike {
  _dataMode: boolean;
  _continueCallback: unknown;
  /** No byte of the current DATA consumed yet (a leading ".\r\n" would end it). */
  _atDataStart: boolean;
  /** The last bytes of the data so far, held back until the next chunk shows what they are part of. */
  _lastBytes: Buffer | false;
  /** The current DATA's output stream. */
  _dataStream: import('node:stream').PassThrough | null;
  _countDataBytes(len: number): void;
  /** Data not yet written to the data stream, held back by the adapter (wrapDataFeed); its last 4 bytes stand for _lastBytes. */
  relayboxOwed?: Buffer;
  /** Set by handler_DATA before the data starts; 'exact' when unset. */
  relayboxBareLfMode?: BareLfMode;
  /** Called after each data chunk with the scan. */
  relayboxOnDataChunk?: (scan: DataScan) => void;
}

type OnAuth = (
  auth: Record<string, unknown>,
  session: unknown,
  cb: (err: (Error & { responseCode?: number }) | null | undefined, response?: { user?: unknown; message?: string; responseCode?: number }) => void,
) => void;
type Handler = (this: Connection, ...args: unknown[]) => unknown;
type Done = () => void;

const connectionProto = (SMTPConnection as unknown as { prototype: Proto }).prototype;
const streamProto = SMTPStream.prototype as unknown as Proto;
const serverProto = (SMTPServer as unknown as { prototype: Proto }).prototype;
const saslTable = SASL as unknown as Record<string, unknown>;

/** An SMTPServer as the connection-id wrapper sees it. */
interface ServerLike {
  options: Options & { ignoredHosts?: string[] };
  _expectsProxyHeader(socket: net.Socket): boolean;
}

const option = <T>(conn: Connection, name: string) => conn._server.options[name] as T | undefined;

/** The member as it is now, refused when the library no longer has it. */
function member<F>(proto: Proto, name: string): F {
  const f = proto[name];
  if (typeof f !== 'function') throw new Error(`smtp-server has changed: ${name} is missing (relaybox needs smtp-server ${SMTP_SERVER_VERSION})`);
  return f as F;
}

/** Start-up check: the installed smtp-server is the one these wrappers were written for. */
export function checkSmtpServerVersion(version = (smtpServerPackage as { version: string }).version): void {
  if (version !== SMTP_SERVER_VERSION) {
    throw new Error(
      `relaybox was built with smtp-server ${version}, but its SMTP server wrappers were written for ${SMTP_SERVER_VERSION}: check src/smtp/smtp-server-adapter.ts against the new release`,
    );
  }
}

// ---- the wrappers ----

/** The connection ids of this process: a random start, then counted (unique, and cheap). */
const connectionIds = { prefix: randomBytes(5).readUIntBE(0, 5).toString(32).padStart(8, '0'), next: 0 };

/**
 * smtp-server names each connection with 10 bytes from the system's random generator, a system call
 * and a BigInt conversion for every connection. Connections without a PROXY header (all of the
 * relay's) get a counted id of the same form instead: 16 base-32 digits, unique in the process.
 */
function wrapConnectionIds(): void {
  const original = member<(this: ServerLike, socket: net.Socket, callback: (e: Error | null, o?: object) => void) => void>(serverProto, '_handleProxy');
  member(serverProto, '_expectsProxyHeader');
  serverProto._handleProxy = function (this: ServerLike, socket: net.Socket, callback: (e: Error | null, o?: object) => void) {
    // The relay's servers are the ones with IMMEDIATE_GREETING_OPTION; any other keeps smtp-server's ids.
    if (!this.options[IMMEDIATE_GREETING_OPTION] || this._expectsProxyHeader(socket)) return original.call(this, socket, callback);
    const id = connectionIds.prefix + (connectionIds.next++ % 2 ** 40).toString(32).padStart(8, '0');
    const ignore = this.options.ignoredHosts?.includes(socket.remoteAddress ?? '');
    setImmediate(() => callback(null, { id, ignore }));
  };
}

function wrapAddressParsing(): void {
  type Parser = (this: Connection, name: string, command: unknown) => { address?: string } | false;
  const original = member<Parser>(connectionProto, '_parseAddressCommand');
  // Stands in for an address smtp-server would refuse, so that it still parses the parameters.
  const placeholder = '<postmaster@relaybox.invalid>';
  connectionProto._parseAddressCommand = function (this: Connection, name: string, command: unknown) {
    if (command === undefined || command === null) return original.call(this, name, command);
    const text = option(this, LENIENT_OPTION) ? addBrackets(command.toString()) : command.toString();
    const path = splitPath(text);
    const parse = () => {
      const parsed = original.call(this, name, path ? path.command : text);
      if (parsed && path && parsed.address) parsed.address = path.address;
      if (parsed || !path || !emailRelayAccepts(path.address)) return parsed;
      const retried = original.call(this, name, path.command.replace(/<[^<>]*>/, placeholder));
      if (retried) retried.address = path.address;
      return retried;
    };
    const parsed = parse();
    this.relayboxLastAddress = parsed ? { written: path?.address ?? parsed.address ?? '', parsed } : undefined;
    return parsed;
  };
  for (const name of ['handler_MAIL', 'handler_RCPT']) {
    const handler = member<Handler>(connectionProto, name);
    connectionProto[name] = function (this: Connection, command: unknown, callback: Done) {
      const reply = option(this, LENIENT_OPTION) ? null : missingBracketsReply(String(command ?? ''));
      if (!reply) return handler.call(this, command, callback);
      option<StrictRefusal>(this, STRICT_REFUSAL_OPTION)?.(this.session, reply);
      this.send(501, reply);
      return callback();
    };
  }
}

function wrapGreeting(): void {
  const init = member<Handler>(connectionProto, 'init');
  member(connectionProto, '_setListeners');
  member(connectionProto, 'connectionReady');
  connectionProto.init = function (this: Connection) {
    if (!option(this, IMMEDIATE_GREETING_OPTION)) return init.call(this);
    this._setListeners(() => {
      const max = this._server.options.maxClients;
      if (max && this._server.connections.size > max) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      this.connectionReady();
    });
  };
}

function wrapVrfy(): void {
  const original = member<Handler>(connectionProto, 'handler_VRFY');
  connectionProto.handler_VRFY = function (this: Connection, command: Buffer, callback: Done) {
    const verify = option<VrfyHandler>(this, VRFY_OPTION);
    const arg = command
      .toString()
      .trim()
      .split(/\s+/)
      .slice(1)
      .join(' ')
      .replace(/^<(.*)>$/, '$1');
    if (!verify || !arg) return original.call(this, command, callback);
    verify(arg, this.session).then(
      (r) => {
        if (r === 'abort') this._socket.destroy();
        else this.send(r.code, r.text);
        callback();
      },
      (e: Error) => {
        this.send(450, `cannot verify: ${e.message}`);
        callback();
      },
    );
  };
}

/** Runs a handler with the connection's own AUTH list in place of the server's (both read it synchronously). */
function withAuthList<T>(conn: Connection, list: string[], fn: () => T): T {
  const options = conn._server.options;
  const saved = options.authMethods;
  options.authMethods = list;
  try {
    return fn();
  } finally {
    options.authMethods = saved;
  }
}

function wrapAuthLists(): void {
  const ehlo = member<Handler>(connectionProto, 'handler_EHLO');
  const auth = member<Handler>(connectionProto, 'handler_AUTH');
  connectionProto.handler_EHLO = function (this: Connection, command: Buffer | string, callback: Done) {
    const mechanismsFor = option<MechanismsFor>(this, AUTH_MECHANISMS_OPTION);
    if (!mechanismsFor) return ehlo.call(this, command, callback);
    return withAuthList(this, mechanismsFor(this.session, this.secure).offered, () => ehlo.call(this, command, callback));
  };
  connectionProto.handler_AUTH = function (this: Connection, command: Buffer | string, callback: Done) {
    const mechanismsFor = option<MechanismsFor>(this, AUTH_MECHANISMS_OPTION);
    if (!mechanismsFor || this.session.user) return auth.call(this, command, callback);
    const method = (command.toString().trim().split(/\s+/)[1] ?? '').toUpperCase();
    const m = mechanismsFor(this.session, this.secure);
    const refusal = m.tlsFirst ? TLS_FIRST : refusedMechanism(m, method, this.secure);
    if (refusal) {
      this.send(refusal.code, refusal.message);
      return callback();
    }
    return withAuthList(this, m.offered, () => auth.call(this, command, callback));
  };
}

/** With --server-auth, VRFY needs AUTH (or a trusted address) as MAIL does; wraps the verifier's VRFY. */
function wrapVrfyAuthGate(): void {
  const vrfy = member<Handler>(connectionProto, 'handler_VRFY');
  connectionProto.handler_VRFY = function (this: Connection, command: Buffer | string, callback: Done) {
    const refusal = option<AuthGate>(this, AUTH_GATE_OPTION)?.(this.session, this.secure);
    if (refusal) {
      this.send(refusal.code, refusal.message);
      return callback();
    }
    return vrfy.call(this, command, callback);
  };
}

function cramToken(this: Connection, method: string, challenge: string, rawToken: Buffer | string, callback: Done): void {
  const parsed = parseCramResponse(rawToken, SASL.CONTROL_CHARS);
  if ('reply' in parsed) {
    this.send(501, parsed.reply);
    return callback();
  }
  const { username, challengeResponse } = parsed;
  this._server.onAuth({ method, username, challenge, challengeResponse }, this.session, (err, response) => {
    if (err) {
      this._server.logger.info(
        { tnx: 'autherror', cid: this.id, method, user: username },
        'Authentication error for %s using %s. %s',
        username,
        method,
        err.message,
      );
      this.send(err.responseCode || 535, err.message);
      return callback();
    }
    if (!response?.user) {
      this._server.logger.info({ tnx: 'authfail', cid: this.id, method, user: username }, 'Authentication failed for %s using %s', username, method);
      this.send(response?.responseCode || 535, response?.message || 'Error: Authentication credentials invalid');
      return callback();
    }
    this._server.logger.info({ tnx: 'auth', cid: this.id, method, user: username }, '%s authenticated using %s', username, method);
    this.session.user = response.user as SMTPServerSession['user'];
    (this.session as { transmissionType?: string }).transmissionType = this._transmissionType();
    this.send(235, 'Authentication successful');
    callback();
  });
}

/** smtp-server looks mechanisms up as "SASL_<NAME>" in its sasl module: the three CRAM-SHA* go there. */
function addCramSha(): void {
  member(saslTable, 'SASL_CRAM-MD5');
  if (!(SASL.CONTROL_CHARS instanceof RegExp))
    throw new Error(`smtp-server has changed: sasl CONTROL_CHARS is missing (relaybox needs smtp-server ${SMTP_SERVER_VERSION})`);
  for (const method of CRAM_SHA_MECHANISMS) {
    saslTable[`SASL_${method}`] = function (this: Connection, args: string[], callback: Done): void {
      if (args.length) {
        this.send(501, `Error: syntax: AUTH ${method}`);
        return callback();
      }
      const challenge = cramChallenge(randomBytes(16), this.name);
      this._nextHandler = (raw: Buffer | string, cb: Done) => cramToken.call(this, method, challenge, raw, cb);
      this.send(334, Buffer.from(challenge).toString('base64'));
      callback();
    };
  }
}

/** smtp-server's "250 Accepted" to MAIL FROM and RCPT TO, which it sends with these contexts. */
const ACCEPT_CONTEXTS: Record<string, 'MAIL' | 'RCPT'> = { MAIL_FROM_OK: 'MAIL', RCPT_TO_OK: 'RCPT' };

function wrapAcceptReplies(): void {
  const send = member<Handler>(connectionProto, 'send');
  connectionProto.send = function (this: Connection, code: number, data: unknown, context?: unknown) {
    const command = typeof context === 'string' ? ACCEPT_CONTEXTS[context] : undefined;
    const last = this.relayboxLastAddress;
    if (!command || code !== 250 || !last || !option(this, ACCEPT_REPLIES_OPTION)) return send.call(this, code, data, context);
    return send.call(this, code, acceptReply({ command, address: last.written, local: last.parsed.localMailbox !== undefined }), context);
  };
}

function wrapClientErrorLimit(): void {
  const send = member<Handler>(connectionProto, 'send');
  member(connectionProto, 'close');
  connectionProto.send = function (this: Connection, code: number, data: unknown, context?: unknown) {
    const limit = option<number>(this, CLIENT_ERROR_LIMIT_OPTION);
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
}

const scans = new WeakMap<StreamLike, DataScan>();

/** The scan of the data in progress on a parser (undefined outside DATA). */
export function currentScan(parser: object): DataScan | undefined {
  const s = parser as StreamLike;
  return s._dataMode ? scans.get(s) : undefined;
}

function wrapDataStream(): void {
  type Write = (this: StreamLike, chunk: Buffer, encoding: BufferEncoding, next: (err?: Error | null) => void) => void;
  const write = member<Write>(streamProto, '_write');
  const start = member<(this: StreamLike, ...args: unknown[]) => unknown>(streamProto, 'startDataMode');
  member(streamProto, 'continue');
  // smtp-server's continue() runs the pending continuation and only then clears it. The continuation
  // feeds the pipelined input after a message back in; when that holds a whole second message and the
  // handlers answer synchronously, the second message's continuation is set inside the call and then
  // cleared: the commands after it (QUIT, a third message) were never read. Cleared first here.
  streamProto.continue = function (this: StreamLike) {
    const pending = this._continueCallback;
    if (typeof pending === 'function') {
      this._continueCallback = false;
      (pending as () => void)();
    } else this._continueCallback = true;
  };
  streamProto.startDataMode = function (this: StreamLike, ...args: unknown[]) {
    scans.set(this, newDataScan(this.relayboxBareLfMode ?? 'exact'));
    this.relayboxOwed = undefined;
    return start.apply(this, args);
  };
  // Only bytes up to the end-of-data line are touched: smtp-server feeds whatever follows that line
  // (pipelined commands) back into _write in command mode.
  streamProto._write = function (this: StreamLike, chunk: Buffer, encoding: BufferEncoding, next: (err?: Error | null) => void) {
    const scan = scans.get(this);
    if (!(this._dataMode && scan && !scan.ended && Buffer.isBuffer(chunk) && chunk.length)) return write.call(this, chunk, encoding, next);
    const data = scan.mode === 'crlf' ? crlfLineEnds(scan, chunk) : stuffBareLfDots(scan, chunk);
    this.relayboxOnDataChunk?.(scan);
    return write.call(this, data, encoding, next);
  };
}

const LF = 0x0a;
const DOT = 0x2e;
const LF_DOT = Buffer.from('\n.');
const NOTHING = Buffer.alloc(0);

/**
 * Would smtp-server find a dot at the start of a line (the end of the data, or a stuffed dot) in
 * `last` + `chunk`? It looks at positions 2 to length - 3 for a dot after an LF.
 */
export function dotAfterLf(last: Buffer, chunk: Buffer): boolean {
  const n = last.length;
  const end = n + chunk.length - 3;
  for (let j = 1; j < n; j++) if (last[j] === LF && (j + 1 < n ? last[j + 1] : chunk[0]) === DOT && j + 1 <= end) return true;
  const k = chunk.indexOf(LF_DOT, n ? 0 : 1);
  return k >= 0 && n + k + 1 <= end;
}

/**
 * smtp-server's _feedDataStream looks at every byte in JavaScript for a dot at the start of a line, and
 * copies every chunk to put the 4 bytes it held back from the one before in front of it. Here a chunk
 * without such a dot (Buffer.indexOf, in C++) is held back whole instead ("owed"), and written whole
 * once the next chunk shows that nothing happens across the boundary either: the same bytes in the same
 * order as smtp-server writes them, without the byte loop and the copy. A chunk with such a dot (and
 * the first of the data, and a short one) goes to smtp-server, with what is owed written first and
 * smtp-server's own state put back as it would have it: the last 4 bytes in _lastBytes.
 */
function wrapDataFeed(): void {
  type Feed = (this: StreamLike, chunk: Buffer, done: (err?: Error | null) => void) => void;
  const feed = member<Feed>(streamProto, '_feedDataStream');
  member(streamProto, '_countDataBytes');
  /** Counted and written, as smtp-server does; true if the data stream wants a drain first. */
  const emit = (stream: StreamLike, dataStream: NonNullable<StreamLike['_dataStream']>, buf: Buffer): boolean => {
    stream._countDataBytes(buf.length);
    return dataStream.writable && !dataStream.write(buf) && !dataStream.destroyed;
  };
  streamProto._feedDataStream = function (this: StreamLike, chunk: Buffer, done: (err?: Error | null) => void) {
    const dataStream = this._dataStream;
    const owed = this.relayboxOwed;
    this.relayboxOwed = undefined;
    const last = owed ? owed.subarray(owed.length - 4) : this._lastBytes || NOTHING;
    if (this._atDataStart || !dataStream || chunk.length < 8 || dotAfterLf(last, chunk)) {
      if (owed && dataStream) {
        emit(this, dataStream, owed.subarray(0, owed.length - 4));
        this._lastBytes = last;
      }
      return feed.call(this, chunk, done);
    }
    if (owed) this.relayboxOwed = chunk;
    else {
      // smtp-server's state: its last bytes go in front of this chunk (one copy, once per message).
      this.relayboxOwed = last.length ? Buffer.concat([last, chunk], last.length + chunk.length) : chunk;
      this._lastBytes = false;
    }
    if (!owed || !emit(this, dataStream, owed)) return done();
    const onDrain = () => {
      dataStream.removeListener('drain', onDrain);
      dataStream.removeListener('close', onDrain);
      done();
    };
    dataStream.once('drain', onDrain);
    dataStream.once('close', onDrain);
  };
}

function refuseBareLf(conn: Connection, policy: BareLfPolicy, after: 'stall' | 'timeout'): void {
  clearTimeout(conn.relayboxStallTimer);
  policy.refused(conn.session, after);
  conn.send(421, `4.4.2 ${conn.name} ${BARE_LF_REPLY}`);
}

function wrapBareLfPolicy(): void {
  const data = member<Handler>(connectionProto, 'handler_DATA');
  const timeout = member<Handler>(connectionProto, '_onTimeout');
  connectionProto.handler_DATA = function (this: Connection, ...args: unknown[]) {
    const policy = option<BareLfPolicy>(this, BARE_LF_OPTION);
    const parser = this._parser;
    if (policy && parser) {
      parser.relayboxBareLfMode = policy.modeFor(this.session);
      const stallMs = Math.min(BARE_LF_STALL_MS, policy.idleMs);
      parser.relayboxOnDataChunk = (scan) => {
        clearTimeout(this.relayboxStallTimer);
        if (!scan.endsWithBareLfEnd) return;
        this.relayboxStallTimer = setTimeout(() => {
          if (this._closing || this._parser !== parser || currentScan(parser) !== scan) return;
          refuseBareLf(this, policy, 'stall');
        }, stallMs);
        this.relayboxStallTimer.unref();
      };
    }
    return data.apply(this, args);
  };
  connectionProto._onTimeout = function (this: Connection, ...args: unknown[]) {
    const policy = option<BareLfPolicy>(this, BARE_LF_OPTION);
    const scan = this._parser ? currentScan(this._parser) : undefined;
    if (policy && scan?.sawBareLfEnd && !this._closing && !this._handlerPending) return refuseBareLf(this, policy, 'timeout');
    return timeout.apply(this, args);
  };
}

function wrapLogBeforeReply(): void {
  const send = member<Handler>(connectionProto, 'send');
  connectionProto.send = function (this: Connection, ...args: unknown[]) {
    const socket = this._socket;
    // A 421 closes the connection inside send(): nothing may be held past that.
    if (!option(this, LOG_BEFORE_REPLY_OPTION) || !socket || args[0] === 421) return send.apply(this, args);
    // send() writes once and logs right after: the write is held until the log line is out.
    const write = socket.write;
    let held: unknown[] | null = null;
    socket.write = (...w: unknown[]) => {
      held = w;
      return true;
    };
    try {
      return send.apply(this, args);
    } finally {
      socket.write = write;
      if (held) write.apply(socket, held);
    }
  };
}

function wrapAbandonedHandshake(): void {
  const onError = member<Handler>(connectionProto, '_onError');
  const onClose = member<Handler>(connectionProto, '_onClose');
  connectionProto._onError = function (this: Connection, ...args: unknown[]) {
    if (this._upgrading) this.relayboxTlsFailed = true;
    return onError.apply(this, args);
  };
  connectionProto._onClose = function (this: Connection, ...args: unknown[]) {
    if (this._upgrading && !this.relayboxTlsFailed && !this._closed && option(this, TLS_ABANDONED_OPTION)) {
      this.relayboxTlsFailed = true;
      this.emit(
        'error',
        Object.assign(new Error('the client closed the connection during the TLS handshake'), { code: 'ECONNRESET', remoteAddress: this.remoteAddress }),
      );
    }
    return onClose.apply(this, args);
  };
}

let installed = false;

/** Check the version and install every wrapper, once for the process. */
export function installSmtpServerAdapter(): void {
  if (installed) return;
  checkSmtpServerVersion();
  member(connectionProto, '_transmissionType');
  member(connectionProto, '_armTimeout');
  wrapLogBeforeReply(); // first: the other send wrappers (which may close the connection) call it
  wrapAddressParsing();
  wrapGreeting();
  wrapDataStream();
  wrapDataFeed();
  wrapBareLfPolicy();
  wrapVrfy();
  wrapVrfyAuthGate(); // after wrapVrfy: the gate comes first
  addCramSha();
  wrapAuthLists();
  wrapClientErrorLimit();
  wrapAcceptReplies();
  wrapAbandonedHandshake();
  wrapConnectionIds();
  installed = true;
}

// ---- what server.ts reaches for on live connections ----

interface LiveConnection {
  session: SMTPServerSession;
  _closing?: boolean;
  _socket: { destroy(): void };
  _armTimeout(): void;
}

const liveConnections = (server: SMTPServer) => (server as unknown as { connections: Set<LiveConnection> }).connections;

/** Drop the connection of a session at once (the address verifier asked for it). */
export function dropSessionConnection(server: SMTPServer, session: SMTPServerSession): void {
  for (const c of liveConnections(server)) if (c.session === session) c._socket.destroy();
}

/**
 * smtp-server wraps the logger it is given in nodemailer's, which copies an object for each of the
 * dozen lines it logs per session (every command and reply), even when the level is off. The
 * server's logger is replaced by the relay's own, which drops a line before any work when its
 * level is off.
 */
export function logDirectly(server: SMTPServer, logger: Record<string, (...args: unknown[]) => void>): void {
  (server as unknown as { logger: typeof logger }).logger = logger;
}

/** Restart the idle timer of every open connection, with the server's socketTimeout as it is now. */
export function rearmTimeouts(server: SMTPServer): void {
  for (const c of liveConnections(server)) if (!c._closing) c._armTimeout();
}
