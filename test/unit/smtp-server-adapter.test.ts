// The contract between relaybox and smtp-server's internals (src/smtp/smtp-server-adapter.ts): every
// private member the adapter wraps or reads is where it expects it, in the installed release. A
// failure here after an upgrade names the member to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import SASL from 'smtp-server/lib/sasl.js';
import {
  checkSmtpServerVersion,
  dropSessionConnection,
  installSmtpServerAdapter,
  READ_FIELDS,
  SMTP_SERVER_VERSION,
  WRAPPED_MEMBERS,
  IMMEDIATE_GREETING_OPTION,
  LOG_BEFORE_REPLY_OPTION,
} from '../../src/smtp/smtp-server-adapter';
import { ACCEPT_REPLIES_OPTION } from '../../src/smtp/accept-replies';
import { seeded } from '../fuzz/random';

// Read before anything is installed: these are smtp-server's own members.
const pristine = {
  SMTPConnection: (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype,
  SMTPStream: SMTPStream.prototype as unknown as Record<string, unknown>,
  sasl: SASL as unknown as Record<string, unknown>,
  SMTPServer: (SMTPServer as unknown as { prototype: Record<string, unknown> }).prototype,
};
const originals = Object.fromEntries(
  Object.entries(WRAPPED_MEMBERS).flatMap(([where, names]) => names.map((n) => [`${where}.${n}`, pristine[where as keyof typeof pristine][n]])),
);

test('the installed smtp-server is the release the adapter was written for', () => {
  assert.doesNotThrow(() => checkSmtpServerVersion());
  assert.throws(
    () => checkSmtpServerVersion('3.22.0'),
    new RegExp(`built with smtp-server 3\\.22\\.0.*written for ${SMTP_SERVER_VERSION.replace(/\./g, '\\.')}`),
  );
});

test('every member the adapter wraps is a function of the library', () => {
  for (const [name, f] of Object.entries(originals)) assert.equal(typeof f, 'function', `${name} is no longer a function`);
});

test('installing wraps the members (once), and CRAM-SHA* join the sasl table', () => {
  installSmtpServerAdapter();
  const wrappedNow = Object.entries(WRAPPED_MEMBERS).flatMap(([where, names]) =>
    names.map((n) => [`${where}.${n}`, pristine[where as keyof typeof pristine][n]] as const),
  );
  const changed: string[] = wrappedNow.filter(([name, f]) => f !== originals[name]).map(([name]) => name);
  for (const name of [
    'SMTPConnection._parseAddressCommand',
    'SMTPConnection.init',
    'SMTPConnection.handler_VRFY',
    'SMTPConnection.handler_EHLO',
    'SMTPConnection.handler_AUTH',
    'SMTPConnection.handler_DATA',
    'SMTPConnection._onTimeout',
    'SMTPConnection._onError',
    'SMTPConnection._onClose',
    'SMTPConnection.send',
    'SMTPStream._write',
    'SMTPStream.startDataMode',
    'SMTPStream.continue',
    'SMTPStream._feedDataStream',
    'SMTPServer._handleProxy',
  ]) {
    assert.ok(changed.includes(name), `${name} was not wrapped`);
  }
  const before = pristine.SMTPConnection.send;
  installSmtpServerAdapter();
  assert.equal(pristine.SMTPConnection.send, before, 'a second install wraps nothing again');
  for (const m of ['CRAM-SHA1', 'CRAM-SHA256', 'CRAM-SHA512']) assert.equal(typeof pristine.sasl[`SASL_${m}`], 'function');
});

test('the fields the adapter reads are on a live server, connection and parser', async () => {
  installSmtpServerAdapter();
  const server = new SMTPServer({ [IMMEDIATE_GREETING_OPTION]: true, authOptional: true, disabledCommands: ['STARTTLS'], logger: false } as never);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  try {
    const [greeting] = (await once(client, 'data')) as [Buffer];
    assert.match(greeting.toString(), /^220 /, 'greeted at once (the init wrapper)');
    const live = server as unknown as Record<string, unknown>;
    for (const f of READ_FIELDS.server) assert.ok(f in live, `server.${f}`);
    const [conn] = [...(live.connections as Set<Record<string, unknown>>)];
    assert.ok(conn, 'one connection');
    for (const f of READ_FIELDS.connection) assert.ok(f in conn, `connection.${f}`);
    const parser = conn._parser as Record<string, unknown>;
    for (const f of READ_FIELDS.stream) assert.ok(f in parser, `parser.${f}`);
    dropSessionConnection(server, conn.session as never);
    await once(client, 'close');
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** Sends each command and collects the reply to each (one reply line per command here). */
async function dialogue(port: number, commands: string[]): Promise<string[]> {
  const client = net.connect(port, '127.0.0.1');
  client.setEncoding('utf8');
  let buffer = '';
  const replies: string[] = [];
  const next = async (): Promise<string> => {
    for (let i = 0; i < 50 && !buffer.includes('\r\n'); i++) {
      const [d] = (await once(client, 'data', { signal: AbortSignal.timeout(5000) })) as [string];
      buffer += d;
    }
    const at = buffer.indexOf('\r\n');
    assert.ok(at >= 0, 'a reply line');
    const line = buffer.slice(0, at);
    buffer = buffer.slice(at + 2);
    return line;
  };
  try {
    await next();
    for (const c of commands) {
      client.write(`${c}\r\n`);
      let line = await next();
      while (/^\d{3}-/.test(line)) line = await next();
      replies.push(line);
    }
    return replies;
  } finally {
    client.destroy();
  }
}

test("MAIL FROM and RCPT TO are answered in E-MailRelay's words (the send contexts MAIL_FROM_OK, RCPT_TO_OK), with the address as written", async () => {
  installSmtpServerAdapter();
  const open = (extra: Record<string, unknown>) =>
    new SMTPServer({
      [IMMEDIATE_GREETING_OPTION]: true,
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo(address: { address: string; localMailbox?: string }, _s: unknown, cb: () => void) {
        // As server.ts does with a verifier's answer: a rewritten address, or a local mailbox.
        if (address.address === 'rewrite@here') address.address = 'alice@here';
        if (address.address === 'postmaster@here') address.localMailbox = 'postmaster';
        cb();
      },
      ...extra,
    } as never);
  const worded = open({ [ACCEPT_REPLIES_OPTION]: true });
  const plain = open({});
  for (const s of [worded, plain]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const portOf = (s: SMTPServer) => (s.server.address() as net.AddressInfo).port;
  try {
    const commands = ['EHLO c.example', 'MAIL FROM:<me@here>', 'RCPT TO:<rewrite@here>', 'RCPT TO:<postmaster@here>', 'RSET', 'MAIL FROM:<>'];
    const said = await dialogue(portOf(worded), commands);
    assert.deepEqual(
      [said[1], said[2], said[3], said[5]],
      ['250 sender <me@here> OK', '250 recipient <rewrite@here> OK', '250 recipient <postmaster@here>  OK', '250 sender <> OK'],
    );
    const unmarked = await dialogue(portOf(plain), commands);
    assert.deepEqual(
      [unmarked[1], unmarked[2], unmarked[5]],
      ['250 Accepted', '250 Accepted', '250 Accepted'],
      "a server without the option keeps smtp-server's words",
    );
  } finally {
    for (const s of [worded, plain]) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

test('with the option a reply is logged before it is written (smtp-server itself logs after its write)', async () => {
  installSmtpServerAdapter();
  const written: Record<string, number[]> = { held: [], plain: [] };
  const open = (name: string, extra: Record<string, unknown>) => {
    const server: SMTPServer = new SMTPServer({
      [IMMEDIATE_GREETING_OPTION]: true,
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      ...extra,
      logger: {
        info: () => undefined,
        error: () => undefined,
        warn: () => undefined,
        trace: () => undefined,
        // smtp-server's 'S:' line: how much of the connection's output was written by then.
        debug: (_meta: unknown, tag: unknown) => {
          if (tag !== 'S:') return;
          const [conn] = [...(server as unknown as { connections: Set<{ _socket: { bytesWritten: number } }> }).connections];
          written[name]!.push(conn!._socket.bytesWritten);
        },
      },
    } as never);
    return server;
  };
  const servers = [open('held', { [LOG_BEFORE_REPLY_OPTION]: true }), open('plain', {})];
  for (const s of servers) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  try {
    for (const s of servers) await dialogue((s.server.address() as net.AddressInfo).port, ['NOOP']);
    assert.equal(written.held![0], 0, 'the greeting was logged before any byte went out');
    assert.ok(written.plain![0]! > 0, 'without the option smtp-server writes first');
  } finally {
    for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

/** What an SMTPStream makes of this input in data mode: the data, the commands after it, the byte count. */
async function feedData(stream: SMTPStream, chunks: Buffer[]): Promise<{ data: string; commands: string[]; bytes: number; ended: boolean }> {
  const s = stream as unknown as SMTPStream & { oncommand: (c: Buffer, cb?: () => void) => void; dataBytes: number };
  const commands: string[] = [];
  s.oncommand = (c, cb) => {
    commands.push(c.toString('latin1'));
    cb?.();
  };
  const data = s.startDataMode(0) as unknown as import('node:stream').PassThrough;
  const out: Buffer[] = [];
  let ended = false;
  data.on('data', (d: Buffer) => out.push(d));
  data.on('end', () => {
    ended = true;
    s.continue();
  });
  for (const c of chunks) await new Promise<void>((resolve, reject) => s.write(c, (err) => (err ? reject(err) : resolve())));
  return { data: Buffer.concat(out).toString('latin1'), commands, bytes: s.dataBytes, ended };
}

/** An SMTPStream with smtp-server's own _write and _feedDataStream (the adapter's wrappers left out). */
function pristineStream(): SMTPStream {
  const s = new SMTPStream();
  const own = s as unknown as Record<string, unknown>;
  for (const name of ['_write', '_feedDataStream', 'startDataMode', 'continue']) own[name] = originals[`SMTPStream.${name}`];
  return s;
}

/** The adapter's _feedDataStream, smtp-server's own _write (no bare-LF handling) around it. */
function adaptedStream(): SMTPStream {
  installSmtpServerAdapter();
  const s = new SMTPStream();
  const own = s as unknown as Record<string, unknown>;
  for (const name of ['_write', 'startDataMode', 'continue']) own[name] = originals[`SMTPStream.${name}`];
  return s;
}

test("_feedDataStream: the adapter's fast path gives smtp-server's data, end and commands, for random content and chunking", async () => {
  const dense = [0x0d, 0x0a, 0x2e, 0x61, 0x0d, 0x0a, 0x2e, 0x61, 0x61];
  // Mostly text: most chunks take the fast path, and a dot line now and then sits at a boundary.
  const sparse = [...dense, ...Array<number>(40).fill(0x61)];
  for (let seed = 1; seed <= 600; seed++) {
    const next = seeded(seed);
    const alphabet = seed % 2 ? dense : sparse;
    const body = Buffer.alloc(Math.floor(next() * (seed % 2 ? 200 : 2000)));
    for (let i = 0; i < body.length; i++) body[i] = alphabet[Math.floor(next() * alphabet.length)]!;
    const input = Buffer.concat([body, Buffer.from('\r\n.\r\nNOOP\r\n')]);
    const chunks: Buffer[] = [];
    const most = 1 + Math.floor(next() * (seed % 2 ? 40 : 300));
    for (let i = 0; i < input.length;) {
      const n = 1 + Math.floor(next() * most);
      chunks.push(input.subarray(i, i + n));
      i += n;
    }
    const want = await feedData(pristineStream(), chunks);
    const got = await feedData(adaptedStream(), chunks);
    assert.deepEqual(got, want, `seed ${seed}: ${JSON.stringify(input.toString('latin1'))}`);
  }
});

test('_feedDataStream: a 1 MB message in 64 KB chunks, with stuffed dots and CRLF split at chunk boundaries', async () => {
  const line = 'X'.repeat(78) + '\r\n';
  let text = '';
  for (let i = 0; i < 13000; i++) text += i % 101 === 0 ? '..stuffed\r\n' : line;
  const input = Buffer.from(text + '.\r\nQUIT\r\n', 'latin1');
  for (const size of [65536, 65535, 4096, 81]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
    // And chunks cut right after each LF that a stuffed dot follows.
    const cut: Buffer[] = [];
    let from = 0;
    for (let at = input.indexOf('\n..') + 1; at > 0; at = input.indexOf('\n..', at) + 1) {
      cut.push(input.subarray(from, at));
      from = at;
    }
    cut.push(input.subarray(from));
    for (const split of [chunks, cut]) {
      const got = await feedData(adaptedStream(), split);
      assert.deepEqual(got, await feedData(pristineStream(), split), `chunks of ${size}`);
      assert.equal(got.data, text.replace(/^\.\./gm, '.'));
      assert.deepEqual(got.commands, ['QUIT']);
    }
  }
});

test("the relay's connections get counted ids of smtp-server's form (16 base-32 digits), each its own", async () => {
  installSmtpServerAdapter();
  const ids: string[] = [];
  const server = new SMTPServer({
    [IMMEDIATE_GREETING_OPTION]: true,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect(session: { id: string }, cb: () => void) {
      ids.push(session.id);
      cb();
    },
  } as never);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as net.AddressInfo).port;
  try {
    for (let i = 0; i < 20; i++) {
      const client = net.connect(port, '127.0.0.1');
      await once(client, 'data');
      client.destroy();
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  assert.equal(ids.length, 20);
  for (const id of ids) assert.match(id, /^[0-9a-v]{16}$/);
  assert.equal(new Set(ids).size, 20, 'no id given twice');
  const counted = ids.map((id) => parseInt(id.slice(8), 32));
  assert.deepEqual(
    counted,
    counted.map((_, i) => counted[0]! + i),
    'counted, not drawn at random',
  );
});
