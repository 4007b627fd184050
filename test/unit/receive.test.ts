// Receiving one message in-process (issue 17): DATA from a stream into a real spool in a temporary
// directory, with a session object as smtp-server hands it over and real server filters; no network.
// What the client would hear is the promise's value or its error's code and text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { parseCommandLine } from '../../src/options/parse';
import { buildConfig } from '../../src/config';
import { Spool } from '../../src/spool/store';
import { RelayEvents } from '../../src/events/relay-events';
import { createFilterChain } from '../../src/filters/chain';
import { receive, type Receiver } from '../../src/smtp/receive';
import { scratchDir } from '../lib/relay';

const silent = pino({ level: 'silent' });

function receiverFor(dir: string, extra: Partial<Receiver> = {}): Receiver {
  const cfg = buildConfig(parseCommandLine(['--domain', 'relay.test', '--spool-dir', dir]).values, dir);
  return { cfg, spool: new Spool(dir), log: silent, events: new RelayEvents(), clientCertificate: () => '', ...extra };
}

function sessionWith(rcptTo: { address: string; localMailbox?: string }[], mailArgs: Record<string, unknown> = {}): SMTPServerSession {
  return {
    id: 'session-1',
    remoteAddress: '::ffff:192.0.2.7',
    remotePort: 40001,
    hostNameAppearsAs: 'device.lan',
    secure: false,
    envelope: { mailFrom: { address: 'device@example.com', args: mailArgs }, rcptTo: rcptTo.map((r) => ({ args: {}, ...r })) },
  } as unknown as SMTPServerSession;
}

/** A DATA stream as smtp-server passes it: the content, then the end (or an error while read, or too many bytes). */
function dataStream(content: string, end: 'end' | 'too large' | Error = 'end'): SMTPServerDataStream {
  let sent = false;
  const stream = new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.from(content));
      } else if (end instanceof Error) this.destroy(end);
      else this.push(null);
    },
  });
  return Object.assign(stream, { sizeExceeded: end === 'too large', byteLength: content.length }) as unknown as SMTPServerDataStream;
}

type Heard = string | { code: number | undefined; message: string };

async function heard(p: Promise<string>): Promise<Heard> {
  return p.catch((e: Error) => ({ code: (e as { responseCode?: number }).responseCode, message: e.message }));
}

test('a message is committed before its 250: Received line first, bare CR made a space, the envelope from the session', async (t) => {
  const dir = scratchDir((fn) => t.after(fn));
  const r = receiverFor(dir, { clientCertificate: (s) => (s.id === 'session-1' ? 'CLIENT PEM' : '') });
  const session = sessionWith([{ address: 'a@example.com' }, { address: 'local@relay.test', localMailbox: 'postmaster' }, { address: 'jörg@example.com' }], {
    AUTH: '<>',
  });
  assert.equal(await heard(receive(r, dataStream('Subject: x\r\n\r\none\rtwo\r\n'), session)), 'message processed');

  const { ready, new: half } = await r.spool.listStates();
  assert.equal(ready.length, 1);
  assert.deepEqual(half, []);
  const env = await r.spool.readEnvelope(ready[0]!, 'ready');
  assert.equal(env.from, 'device@example.com');
  assert.deepEqual(env.toRemote, ['a@example.com', 'jörg@example.com']);
  assert.deepEqual(env.toLocal, ['postmaster']);
  assert.equal(env.client, '192.0.2.7');
  assert.equal(env.mailFromAuthIn, '<>');
  assert.equal(env.clientCertificate, 'CLIENT PEM');
  assert.equal(env.utf8MailboxNames, true);

  const content = fs.readFileSync(r.spool.contentPath(ready[0]!), 'utf8');
  assert.match(content, /^Received: from device\.lan \(\[192\.0\.2\.7\]\)/);
  assert.ok(content.endsWith('\r\nSubject: x\r\n\r\none two\r\n'), JSON.stringify(content.slice(-40)));
});

test('too large: 552 and nothing in the spool; a client gone mid-DATA: 451 and nothing in the spool', async (t) => {
  const dir = scratchDir((fn) => t.after(fn));
  const r = receiverFor(dir);
  const session = sessionWith([{ address: 'a@example.com' }]);
  assert.deepEqual(await heard(receive(r, dataStream('Subject: big\r\n\r\n', 'too large'), session)), {
    code: 552,
    message: 'message size exceeds fixed maximum message size',
  });
  assert.deepEqual(await heard(receive(r, dataStream('Subject: cut\r\n\r\n', new Error('socket closed')), session)), {
    code: 451,
    message: 'message incomplete',
  });
  assert.deepEqual(await r.spool.listStates(), { new: [], ready: [], busy: [], bad: [] });
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => !f.startsWith('.')),
    [],
    'no content file left behind either',
  );
});

/** A server filter program (E-MailRelay section 4.1): $1 is the content file, $2 the envelope. */
function filterProgram(dir: string, name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, ['#!/bin/sh', ...lines, ''].join('\n'), { mode: 0o755 });
  return file;
}

test('--filter: a failing filter removes the message and the client hears its response; one that takes the message away (100) gets 250', async (t) => {
  const dir = scratchDir((fn) => t.after(fn));
  const spoolDir = path.join(dir, 'spool');
  fs.mkdirSync(spoolDir);
  const ctx = { side: 'server' as const, spoolDir, deliveryDir: spoolDir, domain: 'relay.test', timeoutMs: 10_000, log: silent };
  const session = sessionWith([{ address: 'a@example.com' }]);

  const failing = receiverFor(spoolDir, {
    filter: createFilterChain([filterProgram(dir, 'refuse.sh', ['echo "<<550 not wanted here>>"', 'echo "[[spam score 99]]"', 'exit 1'])], ctx, {
      baseDir: dir,
      appDir: dir,
    }),
  });
  assert.deepEqual(await heard(receive(failing, dataStream('Subject: spam\r\n\r\n'), session)), { code: 550, message: 'not wanted here' });
  assert.deepEqual(await failing.spool.listStates(), { new: [], ready: [], busy: [], bad: [] });

  const abandoning = receiverFor(spoolDir, {
    filter: createFilterChain([filterProgram(dir, 'take.sh', ['rm -f "$1" "$2"', 'exit 100'])], ctx, { baseDir: dir, appDir: dir }),
  });
  assert.equal(await heard(receive(abandoning, dataStream('Subject: quiet\r\n\r\n'), session)), 'message processed');
  assert.deepEqual(await abandoning.spool.listStates(), { new: [], ready: [], busy: [], bad: [] });
});

test('--immediate: a forwarding failure is the reply (452 unless it has a 4xx/5xx code), and the message stays committed', async (t) => {
  const dir = scratchDir((fn) => t.after(fn));
  const asked: string[] = [];
  const r = receiverFor(dir, {
    forwardNow: async (id) => {
      asked.push(id);
      return asked.length === 1 ? { ok: false, code: 550, text: 'mailbox unavailable' } : { ok: false, text: 'forwarding failed' };
    },
  });
  const session = sessionWith([{ address: 'a@example.com' }]);
  assert.deepEqual(await heard(receive(r, dataStream('Subject: one\r\n\r\n'), session)), { code: 550, message: 'mailbox unavailable' });
  assert.deepEqual(await heard(receive(r, dataStream('Subject: two\r\n\r\n'), session)), { code: 452, message: 'forwarding failed' });
  assert.deepEqual((await r.spool.listStates()).ready.sort(), [...asked].sort(), 'each was committed before forwarding was tried, and kept');
});
