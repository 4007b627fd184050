// The contract between relaybox and nodemailer's SMTPConnection internals
// (src/forward/smtp-connection-adapter.ts): each private member the adapter reads, changes or wraps
// behaves as it expects, in the installed release, against a real SMTP server on loopback (a small
// one written here, so that each test chooses the EHLO reply and sees every line the client sends).
// A failure here after an upgrade names the member to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { format } from 'node:util';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import {
  addMailFromParameter,
  authMechanisms,
  checkNodemailerVersion,
  createSmtpConnection,
  isClosed,
  NODEMAILER_VERSION,
  offeredExtensions,
  pendingEnvelope,
  PRIVATE_MEMBERS,
  type DataStream,
  tlsProtocol,
  tlsSocket,
  turnOffPipelining,
  type PendingEnvelope,
} from '../../src/forward/smtp-connection-adapter';
import { testPki } from '../lib/certs';

interface ServerOptions {
  /** The EHLO keyword lines after the greeting line; null: EHLO is refused (502), so the client says HELO. */
  ehlo?: string[] | null;
  /** Answer STARTTLS (the keyword is added to EHLO) and go on in TLS; or TLS from the start. */
  tls?: 'starttls' | 'implicit';
}

interface ScriptedServer {
  port: number;
  /** Every command line received, in order. */
  lines: string[];
  /** Every content line received (as sent: dot-stuffed), in order. */
  dataLines: string[];
  close(): Promise<void>;
}

/** A small SMTP server: 250 to all, 550 to recipients starting "refused", content taken and dropped. */
async function startServer(opts: ServerOptions = {}): Promise<ScriptedServer> {
  const pki = opts.tls ? testPki() : undefined;
  const secureContext = pki ? tls.createSecureContext({ key: pki.serverKey, cert: pki.serverCert }) : undefined;
  const sockets = new Set<net.Socket>();
  const state: ScriptedServer = { port: 0, lines: [], dataLines: [], close: async () => undefined };

  const serve = (socket: net.Socket, secure: boolean) => {
    let buffer = '';
    let inData = false;
    const reply = (text: string) => socket.write(`${text}\r\n`);
    const onLine = (line: string) => {
      if (inData) {
        state.dataLines.push(line);
        if (line === '.') {
          inData = false;
          reply('250 2.0.0 queued');
        }
        return;
      }
      state.lines.push(line);
      const verb = line.split(/[ :]/)[0]!.toUpperCase();
      if (verb === 'EHLO') {
        if (opts.ehlo === null) return reply('502 5.5.2 EHLO not here');
        const keywords = [...(opts.ehlo ?? []), ...(opts.tls === 'starttls' && !secure ? ['STARTTLS'] : [])];
        return reply(['contract.test greets you', ...keywords].map((k, i, all) => `250${i === all.length - 1 ? ' ' : '-'}${k}`).join('\r\n'));
      }
      if (verb === 'HELO') return reply('250 contract.test');
      if (verb === 'STARTTLS') {
        reply('220 2.0.0 go ahead');
        socket.removeAllListeners('data');
        const secured = new tls.TLSSocket(socket, { isServer: true, secureContext });
        sockets.add(secured);
        return serve(secured, true);
      }
      if (verb === 'MAIL') return reply('250 2.1.0 sender ok');
      if (verb === 'RCPT') {
        return reply(/^RCPT TO:<refused/i.test(line) ? '550 5.1.1 no such user' : '250 2.1.5 recipient ok');
      }
      if (verb === 'DATA') {
        inData = true;
        return reply('354 go ahead');
      }
      if (verb === 'RSET' || verb === 'NOOP') return reply('250 2.0.0 ok');
      if (verb === 'QUIT') {
        reply('221 2.0.0 bye');
        return socket.end();
      }
      reply('500 5.5.1 unknown command');
    };
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let i = buffer.indexOf('\r\n'); i >= 0; i = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        onLine(line);
      }
    });
    socket.on('error', () => undefined);
  };

  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.write('220 contract.test ESMTP\r\n');
    serve(socket, opts.tls === 'implicit');
  };
  const server = opts.tls === 'implicit' ? tls.createServer({ key: pki!.serverKey, cert: pki!.serverCert }, onConnection) : net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

/** A connection through the adapter, connected (EHLO and STARTTLS done), closed after the test. */
async function connected(t: { after(fn: () => unknown): void }, server: ScriptedServer, options: SMTPConnection.Options = {}): Promise<SMTPConnection> {
  const conn = createSmtpConnection({
    host: '127.0.0.1',
    port: server.port,
    name: 'client.test',
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 10000,
    tls: { rejectUnauthorized: false },
    ...options,
  });
  t.after(() => conn.close());
  await new Promise<void>((resolve, reject) => {
    conn.once('error', reject);
    conn.connect((err) => (err ? reject(err) : resolve()));
  });
  return conn;
}

function send(conn: SMTPConnection, to: string[], content: Buffer | Readable): Promise<SMTPConnection.SentMessageInfo> {
  return new Promise((resolve, reject) => conn.send({ from: 'sender@contract.test', to }, content, (err, info) => (err ? reject(err) : resolve(info))));
}

const message = Buffer.from('Subject: contract\r\n\r\nhello\r\n');

test('the installed nodemailer is the release the adapter was written for', () => {
  assert.doesNotThrow(() => checkNodemailerVersion());
  assert.equal(new SMTPConnection({}).version, NODEMAILER_VERSION, "the library's own version field agrees");
  assert.throws(
    () => checkNodemailerVersion('10.7.0'),
    /built with nodemailer 10\.7\.0.*written for nodemailer 10\.6\.1: check src\/forward\/smtp-connection-adapter\.ts/,
  );
});

test('every private member the adapter uses is on a connected SMTPConnection', async (t) => {
  const server = await startServer({ ehlo: ['PIPELINING'] });
  t.after(() => server.close());
  const conn = await connected(t, server);
  const live = conn as unknown as Record<string, unknown>;
  for (const name of [...PRIVATE_MEMBERS.read, ...PRIVATE_MEMBERS.changed]) assert.ok(name in live && live[name] !== undefined, `${name} is no longer set`);
  for (const name of PRIVATE_MEMBERS.wrapped) assert.equal(typeof live[name], 'function', `${name} is no longer a function`);
  assert.ok(Array.isArray(live._supportedExtensions), '_supportedExtensions is an array (turnOffPipelining splices it)');
});

test('_ehloLines: every AUTH mechanism offered, also those nodemailer does not implement', async (t) => {
  const server = await startServer({ ehlo: ['PIPELINING', 'AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER CRAM-SHA256', 'SIZE 1000'] });
  t.after(() => server.close());
  const conn = await connected(t, server);
  assert.deepEqual(authMechanisms(conn, ['fallback']), ['PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER', 'CRAM-SHA256']);
});

test('_ehloLines: unset after HELO, so the fallback list is used', async (t) => {
  const server = await startServer({ ehlo: null });
  t.after(() => server.close());
  const conn = await connected(t, server);
  assert.ok(
    server.lines.some((l) => l.startsWith('HELO ')),
    'the client fell back to HELO',
  );
  assert.deepEqual(authMechanisms(conn, ['PLAIN']), ['PLAIN']);
});

test('_supportedExtensions: the extensions nodemailer acts on, as offered', async (t) => {
  const rich = await startServer({ ehlo: ['PIPELINING', 'SMTPUTF8', '8BITMIME', 'SIZE 1000'] });
  const bare = await startServer({ ehlo: ['SIZE 1000'] });
  t.after(() => rich.close());
  t.after(() => bare.close());
  const offered = offeredExtensions(await connected(t, rich));
  for (const x of ['PIPELINING', 'SMTPUTF8', '8BITMIME', 'SIZE']) assert.ok(offered.includes(x), `${x} listed`);
  const notOffered = offeredExtensions(await connected(t, bare));
  for (const x of ['PIPELINING', 'SMTPUTF8', '8BITMIME']) assert.ok(!notOffered.includes(x), `${x} not listed`);
});

/**
 * nodemailer's transaction log of a connection: each command as it is written and each reply as it is
 * read, in that order (a pipelining client writes RCPT before it reads MAIL's reply).
 */
function transcript(): { lines: string[]; logger: Record<string, (entry: Record<string, unknown>, message: string, ...args: unknown[]) => void> } {
  const lines: string[] = [];
  const onEntry = (entry: Record<string, unknown>, text: string, ...args: unknown[]) => {
    if (entry.tnx === 'client' || entry.tnx === 'server') lines.push(`${entry.tnx === 'client' ? 'C' : 'S'}: ${format(text, ...args)}`);
  };
  return { lines, logger: Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((level) => [level, onEntry])) };
}

/** Was RCPT written before MAIL's reply was read? */
function pipelined(lines: string[]): boolean {
  const rcpt = lines.indexOf('C: RCPT TO:<one@contract.test>');
  const mailReply = lines.indexOf('S: 250 2.1.0 sender ok');
  assert.ok(rcpt >= 0 && mailReply >= 0, `both in the transaction log: ${lines.join(' | ')}`);
  return rcpt < mailReply;
}

test('_supportedExtensions: nodemailer pipelines when PIPELINING is listed', async (t) => {
  const server = await startServer({ ehlo: ['PIPELINING'] });
  t.after(() => server.close());
  const log = transcript();
  const conn = await connected(t, server, { logger: log.logger as never, transactionLog: true });
  await send(conn, ['one@contract.test'], message);
  assert.equal(pipelined(log.lines), true);
});

test('_supportedExtensions: with PIPELINING taken out, nodemailer waits for each reply', async (t) => {
  const server = await startServer({ ehlo: ['PIPELINING'] });
  t.after(() => server.close());
  const log = transcript();
  const conn = await connected(t, server, { logger: log.logger as never, transactionLog: true });
  turnOffPipelining(conn);
  assert.ok(!offeredExtensions(conn).includes('PIPELINING'));
  await send(conn, ['one@contract.test'], message);
  assert.equal(pipelined(log.lines), false);
});

test('_socket: the TLS socket after STARTTLS, with the TLS version and the server certificate', async (t) => {
  const server = await startServer({ ehlo: ['PIPELINING'], tls: 'starttls' });
  t.after(() => server.close());
  const conn = await connected(t, server);
  assert.ok(server.lines.includes('STARTTLS'));
  const socket = tlsSocket(conn);
  assert.ok(socket instanceof tls.TLSSocket, 'the socket in use is the upgraded one');
  assert.match(tlsProtocol(conn), /^TLSv1\.[23]$/);
  assert.equal(socket.getPeerCertificate().subject?.CN, 'relay.test');
});

test('_socket: the TLS socket with implicit TLS; none in plain text', async (t) => {
  const implicit = await startServer({ ehlo: ['PIPELINING'], tls: 'implicit' });
  const plain = await startServer({ ehlo: ['PIPELINING'] });
  t.after(() => implicit.close());
  t.after(() => plain.close());
  const secure = await connected(t, implicit, { secure: true });
  assert.ok(tlsSocket(secure) instanceof tls.TLSSocket);
  assert.match(tlsProtocol(secure), /^TLSv1\.[23]$/);
  const clear = await connected(t, plain, { ignoreTLS: true });
  assert.equal(tlsSocket(clear), undefined);
  assert.equal(tlsProtocol(clear), 'no');
});

test('destroyed (public): set once the server closes the connection', async (t) => {
  const server = await startServer({ ehlo: [] });
  t.after(() => server.close());
  const conn = await connected(t, server);
  assert.equal(isClosed(conn), false);
  const ended = once(conn, 'end');
  conn.quit();
  await ended;
  assert.equal(isClosed(conn), true);
});

test('_envelope: the accepted and refused recipients, complete when the content is read', async (t) => {
  const server = await startServer({ ehlo: ['PIPELINING'] });
  t.after(() => server.close());
  const conn = await connected(t, server);
  assert.equal(pendingEnvelope(conn), undefined, 'no transaction yet');
  let seen: PendingEnvelope | undefined;
  const content = Readable.from(
    (async function* () {
      seen = pendingEnvelope(conn);
      yield message;
    })(),
  );
  const info = await send(conn, ['one@contract.test', 'refused@contract.test'], content);
  assert.deepEqual(info.accepted, ['one@contract.test']);
  assert.ok(seen, 'a pending envelope while the content is sent');
  assert.deepEqual(seen.accepted, ['one@contract.test']);
  assert.deepEqual(
    seen.rejectedErrors.map((e) => [e.recipient, e.responseCode]),
    [['refused@contract.test', 550]],
  );
});

test('_sendCommand: the MAIL FROM parameter goes on MAIL FROM only, when there is one', async (t) => {
  const server = await startServer({ ehlo: ['PIPELINING', '8BITMIME'] });
  t.after(() => server.close());
  const conn = await connected(t, server);
  let parameter: string | undefined = 'AUTH=<>';
  addMailFromParameter(conn, () => parameter);
  await send(conn, ['one@contract.test'], message);
  parameter = undefined;
  await send(conn, ['two@contract.test'], message);
  const mail = server.lines.filter((l) => /^(MAIL|RCPT) /.test(l));
  assert.deepEqual(mail, [
    'MAIL FROM:<sender@contract.test> AUTH=<>',
    'RCPT TO:<one@contract.test>',
    'MAIL FROM:<sender@contract.test>',
    'RCPT TO:<two@contract.test>',
  ]);
});

test('_createSendStream: a DataStream with the fields stuffTransform keeps; the content is sent dot-stuffed, with CRLF line ends', async (t) => {
  const server = await startServer({ ehlo: ['PIPELINING'] });
  t.after(() => server.close());
  const conn = await connected(t, server);
  const raw = conn as unknown as { _createSendStream(cb: unknown): DataStream };
  const create = raw._createSendStream;
  let stream: DataStream | undefined;
  raw._createSendStream = (cb) => (stream = create.call(conn, cb));
  const content = Buffer.from('.first\r\nbare\nlf\r\n..two\r\nend');
  const info = await send(conn, ['one@contract.test'], content);
  assert.ok(stream, 'the content went through _createSendStream');
  for (const name of PRIVATE_MEMBERS.dataStream) assert.ok(name in stream, `the content stream has no ${name}`);
  assert.equal(stream._transform.name, 'stuffTransform', "relaybox's dot-stuffing is in place");
  assert.deepEqual(server.dataLines, ['..first', 'bare', 'lf', '...two', 'end', '.']);
  assert.equal(stream.inByteCount, content.length);
  assert.equal(info.messageSize, content.length + 2 + 1 + 5, "nodemailer's size: two dots and a CR inserted, and the end line");
});

// Not a private member, but undocumented all the same: the log lines that src/log.ts (--verbose's
// dialogue and "tls established") and upstream.ts's session observer (relaybox check) read.
test("nodemailer's log: the connection line, the STARTTLS line, and the dialogue entries", async (t) => {
  const server = await startServer({ ehlo: ['PIPELINING'], tls: 'starttls' });
  t.after(() => server.close());
  const entries: { entry: Record<string, unknown>; message: string; text: string }[] = [];
  const onEntry = (entry: Record<string, unknown>, message: string, ...args: unknown[]) => entries.push({ entry, message, text: format(message, ...args) });
  const logger = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((level) => [level, onEntry]));
  await connected(t, server, { logger: logger as never, transactionLog: true });
  const network = entries.find((e) => e.entry.tnx === 'network' && /established to/.test(e.message));
  assert.ok(network, 'a network entry whose message says "established to"');
  assert.equal(network.entry.remoteAddress, '127.0.0.1');
  assert.equal(network.entry.remotePort, server.port);
  assert.equal(network.text, `Connection established to 127.0.0.1:${server.port}`);
  assert.ok(
    entries.some((e) => /^Connection upgraded with STARTTLS/.test(e.message)),
    'the STARTTLS line',
  );
  const dialogue = entries.filter((e) => e.entry.tnx === 'client' || e.entry.tnx === 'server').map((e) => `${String(e.entry.tnx)}: ${e.text}`);
  assert.ok(dialogue.includes('client: EHLO client.test') && dialogue.includes('client: STARTTLS'), dialogue.join(' | '));
  assert.ok(dialogue.includes('server: 220 2.0.0 go ahead'), dialogue.join(' | '));
});
