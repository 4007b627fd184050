// The SMTP session policy in-process (issue 17): the handlers smtp-server calls before DATA, given a
// configuration built from real options, a real secrets file, a real verifier program and a plain
// session object, with no network. Each case checks the reply a client would get and what the log says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { parseCommandLine } from '../../src/options/parse';
import { buildConfig } from '../../src/config';
import { SmtpControls } from '../../src/smtp/controls';
import { createServerAccess } from '../../src/smtp/server-access';
import { AuthThrottle } from '../../src/auth/throttle';
import { createVerifier } from '../../src/verifiers/create';
import { TLS_FIRST } from '../../src/smtp/auth-advertise';
import {
  acceptRecipient,
  acceptSender,
  admitConnection,
  authGate,
  bareLfPolicy,
  toALabels,
  vrfyHandler,
  type Recipient,
  type SessionPolicy,
} from '../../src/smtp/session-policy';
import { scratchDir } from '../lib/relay';
import { testPki } from '../lib/certs';

interface Line {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A policy for these options; `drops` records the sessions the verifier asked to drop. */
function policyFor(argv: string[], extra: Partial<SessionPolicy> = {}) {
  const cfg = buildConfig(parseCommandLine(argv).values, '/base');
  const lines: Line[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const drops: SMTPServerSession[] = [];
  const p: SessionPolicy = { cfg, log, controls: new SmtpControls(), drop: (s) => void drops.push(s), ...extra };
  return { p, lines, drops };
}

function sessionFrom(remoteAddress: string, over: Record<string, unknown> = {}): SMTPServerSession {
  return {
    id: 'session-1',
    remoteAddress,
    remotePort: 40001,
    secure: false,
    envelope: { mailFrom: false, rcptTo: [] },
    ...over,
  } as unknown as SMTPServerSession;
}

type Reply = { code: number | undefined; message: string } | 'ok';

/** What a handler answered: 'ok', or the code and text of its error. */
function answer(call: (cb: (err?: Error | null) => void) => void): Promise<Reply> {
  return new Promise((resolve) => call((err) => resolve(err ? { code: (err as { responseCode?: number }).responseCode, message: err.message } : 'ok')));
}

function address(a: string, args: Record<string, unknown> = {}): Recipient {
  return { address: a, args } as SMTPServerAddress;
}

test('connect: refused while the admin has SMTP disabled (421), and from a remote address without --remote-clients (554, logged)', async () => {
  const { p, lines } = policyFor([]);
  assert.equal(await answer((cb) => admitConnection(p, sessionFrom('127.0.0.1'), cb)), 'ok');
  assert.deepEqual(await answer((cb) => admitConnection(p, sessionFrom('192.0.2.7'), cb)), { code: 554, message: 'access denied' });
  assert.ok(
    lines.some((l) => l.msg.startsWith('connection refused: ') && l.address === '192.0.2.7'),
    'the refusal is logged with the address',
  );
  p.controls.enabled = false;
  const disabled = await answer((cb) => admitConnection(p, sessionFrom('127.0.0.1'), cb));
  assert.equal(typeof disabled === 'object' && disabled.code, 421);

  const remote = policyFor(['--remote-clients']).p;
  assert.equal(await answer((cb) => admitConnection(remote, sessionFrom('192.0.2.7'), cb)), 'ok');
});

test('relay refusal: with --server-auth, MAIL FROM needs AUTH (530) unless a "server none" line trusts the client', async (t) => {
  const dir = scratchDir((fn) => t.after(fn));
  const secrets = path.join(dir, 'secrets');
  fs.writeFileSync(secrets, 'server plain alice alicepw\nserver none 10.0.0.0/8 lan\n');
  const { p, lines } = policyFor(['--server-auth', secrets]);
  p.access = createServerAccess(p.cfg.access, p.log, false, new AuthThrottle({ limit: 3, lockoutMs: 60_000, delayMs: 0 }), p.controls);

  const stranger = sessionFrom('192.168.1.5');
  assert.deepEqual(await answer((cb) => acceptSender(p, address('a@example.com'), stranger, cb)), { code: 530, message: 'authentication required' });
  assert.ok(
    lines.some((l) => l.level === 40 && l.msg.includes('"server none <address-range> <keyword>"')),
    'the log says how to let the client in',
  );
  assert.equal(await answer((cb) => acceptSender(p, address('a@example.com'), sessionFrom('10.1.2.3'), cb)), 'ok', 'a trusted network');
  assert.equal(await answer((cb) => acceptSender(p, address('a@example.com'), sessionFrom('192.168.1.5', { user: 'alice' }), cb)), 'ok', 'after AUTH');
  // AUTH and VRFY are behind the same gate.
  assert.deepEqual(authGate(p)(stranger, false), { code: 530, message: 'authentication required' });
  assert.equal(authGate(p)(sessionFrom('10.1.2.3'), false), null);
});

test('--server-tls-required: MAIL FROM, AUTH and VRFY before STARTTLS get 530 "Must issue a STARTTLS command first"', async () => {
  const pki = testPki();
  const { p, lines } = policyFor(['--server-tls', '--server-tls-certificate', pki.serverPemFile, '--server-tls-required']);
  const plain = sessionFrom('127.0.0.1');
  assert.deepEqual(await answer((cb) => acceptSender(p, address('a@example.com'), plain, cb)), { code: TLS_FIRST.code, message: TLS_FIRST.message });
  assert.ok(lines.some((l) => l.msg.includes('--server-tls-required refuses')));
  assert.deepEqual(authGate(p)(plain, false), TLS_FIRST);
  assert.equal(await answer((cb) => acceptSender(p, address('a@example.com'), sessionFrom('127.0.0.1', { secure: true }), cb)), 'ok');
});

test('--max-recipients: the recipient past the limit gets 452 4.5.3, the ones before it are accepted', async () => {
  const { p } = policyFor(['--max-recipients', '2']);
  const session = sessionFrom('127.0.0.1');
  const rcptTo = session.envelope.rcptTo as Recipient[];
  for (const a of ['one@example.com', 'two@example.com']) {
    const r = address(a);
    assert.equal(await answer((cb) => acceptRecipient(p, r, session, cb)), 'ok', a);
    rcptTo.push(r); // as smtp-server does after an accepted RCPT
  }
  assert.deepEqual(await answer((cb) => acceptRecipient(p, address('three@example.com'), session, cb)), { code: 452, message: '4.5.3 Too many recipients' });
});

test('address rules: empty recipient, control characters, international domains, --server-smtp-config smtputf8strict', async () => {
  const { p } = policyFor(['--server-smtp-config', 'smtputf8strict']);
  const session = sessionFrom('127.0.0.1');
  assert.deepEqual(await answer((cb) => acceptRecipient(p, address(''), session, cb)), { code: 553, message: 'mailbox name not allowed: empty recipient' });
  assert.deepEqual(await answer((cb) => acceptSender(p, address('a\rb@example.com'), session, cb)), {
    code: 553,
    message: 'mailbox name not allowed: control characters in the sender',
  });

  const idn = address('user@bücher.example');
  assert.equal(await answer((cb) => acceptRecipient(p, idn, session, cb)), 'ok');
  assert.equal(idn.address, 'user@xn--bcher-kva.example', 'kept in A-labels');
  assert.equal(toALabels('user@[192.0.2.1]'), 'user@[192.0.2.1]');
  assert.equal(toALabels('user@xn--ü.example'), null);
  assert.deepEqual(await answer((cb) => acceptRecipient(p, address('user@xn--ü.example'), session, cb)), {
    code: 553,
    message: 'mailbox name not allowed: invalid international domain in <user@xn--ü.example>',
  });

  assert.deepEqual(await answer((cb) => acceptSender(p, address('jörg@example.com'), session, cb)), {
    code: 553,
    message: 'mailbox name not allowed: UTF-8 address without the SMTPUTF8 parameter',
  });
  assert.equal(await answer((cb) => acceptSender(p, address('jörg@example.com', { SMTPUTF8: true }), session, cb)), 'ok');
});

/** A verifier program with E-MailRelay's contract, deciding by the recipient's local part. */
function verifierProgram(dir: string): string {
  const file = path.join(dir, 'verifier.sh');
  fs.writeFileSync(
    file,
    [
      '#!/bin/sh',
      '# $1 recipient, $2 from, $3 peer, $4 domain, $5 mechanism, $6 authentication id',
      'case "$1" in',
      '  local@*) echo "Local User $5 $3 <$2>"; echo mailbox1; exit 0 ;;',
      '  remote@*) echo; echo rewritten@example.net; exit 1 ;;',
      '  gone@*) echo "no such user"; echo "unknown mailbox"; exit 2 ;;',
      '  later@*) echo "try again later"; echo "directory down"; exit 3 ;;',
      '  drop@*) exit 100 ;;',
      'esac',
      'exit 2',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return file;
}

test('the address verifier at RCPT: local mailbox, rewritten remote, 550, 450, and abort drops the connection', async (t) => {
  const dir = scratchDir((fn) => t.after(fn));
  const verifier = createVerifier(verifierProgram(dir), { domain: 'relay.test', timeoutMs: 10_000, baseDir: dir, appDir: dir });
  const { p, lines, drops } = policyFor(['--domain', 'relay.test'], { verifier });
  const session = sessionFrom('127.0.0.1', { envelope: { mailFrom: { address: 'sender@example.com', args: {} }, rcptTo: [] } });

  const local = address('local@relay.test');
  assert.equal(await answer((cb) => acceptRecipient(p, local, session, cb)), 'ok');
  assert.equal(local.localMailbox, 'mailbox1');
  assert.equal(local.address, 'local@relay.test', 'a local recipient keeps its address');
  const verified = lines.find((l) => l.msg === 'recipient verified' && l.recipient === 'local@relay.test');
  assert.equal(verified?.result, 'local');

  const remote = address('remote@example.com');
  assert.equal(await answer((cb) => acceptRecipient(p, remote, session, cb)), 'ok');
  assert.equal(remote.address, 'rewritten@example.net');
  assert.equal(remote.localMailbox, undefined);

  assert.deepEqual(await answer((cb) => acceptRecipient(p, address('gone@example.com'), session, cb)), { code: 550, message: 'no such user' });
  assert.ok(lines.some((l) => l.msg === 'recipient refused by the address verifier' && l.reason === 'unknown mailbox' && l.temporary === false));
  assert.deepEqual(await answer((cb) => acceptRecipient(p, address('later@example.com'), session, cb)), { code: 450, message: 'try again later' });

  // Abort: no reply at all, the connection is dropped.
  const dropped = new Promise<'dropped'>((resolve) => {
    p.drop = (s) => {
      drops.push(s);
      resolve('dropped');
    };
  });
  const outcome = await Promise.race([answer((cb) => acceptRecipient(p, address('drop@example.com'), session, cb)), dropped]);
  assert.equal(outcome, 'dropped');
  assert.deepEqual(drops, [session]);
});

test("VRFY through the verifier: 250 with the full name and E-MailRelay's arguments, 252, 550, 450, abort; none without a verifier", async (t) => {
  const dir = scratchDir((fn) => t.after(fn));
  const verifier = createVerifier(verifierProgram(dir), { domain: 'relay.test', timeoutMs: 10_000, baseDir: dir, appDir: dir });
  const { p } = policyFor(['--domain', 'relay.test'], { verifier });
  const vrfy = vrfyHandler(p)!;
  const session = sessionFrom('::ffff:127.0.0.1');
  // The full name line echoes the mechanism, the peer (unmapped) and the empty sender of a VRFY.
  assert.deepEqual(await vrfy('local@relay.test', session), { code: 250, text: 'Local User none 127.0.0.1:40001 <>' });
  assert.deepEqual(await vrfy('remote@example.com', session), { code: 252, text: 'cannot verify but will accept: rewritten@example.net' });
  assert.deepEqual(await vrfy('gone@example.com', session), { code: 550, text: 'no such user' });
  assert.deepEqual(await vrfy('later@example.com', session), { code: 450, text: 'try again later' });
  assert.equal(await vrfy('drop@example.com', session), 'abort');
  assert.equal(vrfyHandler(policyFor([]).p), undefined);
});

test('bare LF: local clients and --bare-lf-clients may end DATA with a bare LF, other clients must use CRLF.CRLF', () => {
  const plain = bareLfPolicy(policyFor(['--remote-clients']).p);
  assert.equal(plain.modeFor(sessionFrom('127.0.0.1')), 'crlf');
  assert.equal(plain.modeFor(sessionFrom('192.0.2.7')), 'exact');
  const listed = bareLfPolicy(policyFor(['--remote-clients', '--bare-lf-clients', '192.0.2.0/24']).p);
  assert.equal(listed.modeFor(sessionFrom('192.0.2.7')), 'crlf');
  assert.equal(listed.modeFor(sessionFrom('198.51.100.7')), 'exact');
});
