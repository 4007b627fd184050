// Which mechanism the forwarding client uses, with which secret, against the AUTH lists real
// servers send (issue 13): a password account never sends a token mechanism, a token account never a
// password one, a refused mechanism is followed by the next, and a mismatch fails with what to do.
// The server here is a script of replies; the replay of whole provider dialogues is in
// test/integration/provider-dialogues.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createClientLogin, AuthFailure, type AuthSession } from '../../src/forward/client-auth';
import { oauthBearerResponse, replyOf, type SmtpReply } from '../../src/forward/sasl-client';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const GMAIL = 'LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH'.split(' ');
const M365 = ['LOGIN', 'XOAUTH2'];
const b64 = (s: string) => Buffer.from(s).toString('base64');
const XOAUTH_BLOB = b64('user=scanner@contoso.com\x01auth=Bearer tok-1\x01\x01');

function secretsFile(t: { after(fn: () => void): void }, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'relaybox-client-auth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'secrets');
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** A server that answers each line from `replies` (by the command's first word or the whole line). */
function session(offered: string[], answer: (line: string, sent: string[]) => string, extra: Partial<AuthSession> = {}): AuthSession & { sent: string[] } {
  const sent: string[] = [];
  return {
    offered,
    secure: true,
    server: 'smtp.example.net',
    sent,
    send: async (line: string): Promise<SmtpReply> => {
      sent.push(line);
      return replyOf(answer(line, sent));
    },
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<AuthFailure> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(e instanceof AuthFailure, `expected an AuthFailure, got ${String(e)}`);
  return e;
}

test("a password account facing Gmail's AUTH list uses PLAIN, never XOAUTH2 with its password", async (t) => {
  const login = createClientLogin(secretsFile(t, 'client plain scanner@gmail.com app+20pass\n'), undefined, quiet);
  const s = session(GMAIL, (l) => (l === `AUTH PLAIN ${b64('\0scanner@gmail.com\0app pass')}` ? '235 2.7.0 Accepted' : '535 5.7.8 no'));
  assert.deepEqual(await login.authenticate(s), { mechanism: 'PLAIN', user: 'scanner@gmail.com', tokenExpiresAt: undefined });
  assert.equal(s.sent.length, 1);
});

test('a "client oauth" account facing Microsoft 365\'s AUTH LOGIN XOAUTH2 uses XOAUTH2 with its string as it is', async (t) => {
  const login = createClientLogin(secretsFile(t, `client oauth scanner@contoso.com ${XOAUTH_BLOB}\n`), undefined, quiet);
  const s = session(M365, (l) => (l === `AUTH XOAUTH2 ${XOAUTH_BLOB}` ? '235 2.7.0 Authentication successful' : '504 5.7.4 Unrecognized authentication type'));
  assert.equal((await login.authenticate(s)).mechanism, 'XOAUTH2');
  assert.deepEqual(s.sent, [`AUTH XOAUTH2 ${XOAUTH_BLOB}`]);
});

test('a token account uses OAUTHBEARER (RFC 7628) where XOAUTH2 is not offered', async (t) => {
  const login = createClientLogin(secretsFile(t, `client oauth scanner@contoso.com ${XOAUTH_BLOB}\n`), undefined, quiet);
  const expected = b64('n,a=scanner@contoso.com,\x01auth=Bearer tok-1\x01\x01');
  assert.equal(oauthBearerResponse('scanner@contoso.com', 'tok-1').toString('base64'), expected);
  const s = session(['PLAIN', 'LOGIN', 'OAUTHBEARER'], (l) => (l === `AUTH OAUTHBEARER ${expected}` ? '235 2.7.0 ok' : '535 5.7.8 no'));
  assert.equal((await login.authenticate(s)).mechanism, 'OAUTHBEARER');
});

test("a refused token: Google's 334 JSON challenge is answered with an empty line (XOAUTH2) or ^A (OAUTHBEARER), then the next mechanism", async (t) => {
  const login = createClientLogin(secretsFile(t, `client oauth scanner@contoso.com ${XOAUTH_BLOB}\n`), undefined, quiet);
  const challenge = b64('{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}');
  const s = session(GMAIL, (l) => {
    if (l.startsWith('AUTH ')) return `334 ${challenge}`;
    return '535-5.7.8 Username and Password not accepted. For more information, go to\r\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials';
  });
  const e = await failure(login.authenticate(s));
  assert.deepEqual(
    s.sent.map((l) => (l.split(' ')[0] === 'AUTH' ? l.split(' ').slice(0, 2).join(' ') : l)),
    ['AUTH XOAUTH2', '', 'AUTH OAUTHBEARER', 'AQ=='],
  );
  assert.equal(e.code, 535);
  assert.equal(e.permanent, true);
  assert.match(e.message, /tried XOAUTH2, OAUTHBEARER/);
  assert.match(e.message, /Username and Password not accepted/);
});

test('a refused mechanism is followed by the next usable one in the same session', async (t) => {
  const login = createClientLogin(secretsFile(t, 'client plain alice secret\n'), undefined, quiet);
  const s = session(['CRAM-MD5', 'PLAIN', 'LOGIN'], (l, sent) => {
    if (l === 'AUTH CRAM-MD5') return `334 ${b64('<1.2@example.net>')}`;
    if (sent[sent.length - 2] === 'AUTH CRAM-MD5') return '535 5.7.8 CRAM-MD5 refused';
    if (l.startsWith('AUTH PLAIN')) return '535 5.7.8 PLAIN refused';
    if (l === 'AUTH LOGIN') return '334 VXNlcm5hbWU6';
    if (l === b64('alice')) return '334 UGFzc3dvcmQ6';
    return l === b64('secret') ? '235 2.7.0 ok' : '535 5.7.8 bad';
  });
  assert.equal((await login.authenticate(s)).mechanism, 'LOGIN');
});

test('all refused: the last reply is the reason; 5xx is permanent, 4xx (454 4.7.0) temporary', async (t) => {
  const login = createClientLogin(secretsFile(t, 'client plain alice secret\n'), undefined, quiet);
  const permanent = await failure(login.authenticate(session(['PLAIN'], () => '535 5.7.3 Authentication unsuccessful')));
  assert.equal(permanent.code, 535);
  assert.equal(permanent.permanent, true);
  const temporary = await failure(login.authenticate(session(['PLAIN', 'LOGIN'], () => '454 4.7.0 Temporary authentication failure')));
  assert.equal(temporary.code, 454);
  assert.equal(temporary.permanent, false);
});

test('--client-auth-config m:/x: lists are honoured', async (t) => {
  const file = secretsFile(t, 'client plain alice secret\n');
  const s1 = session(['PLAIN', 'LOGIN'], (l) => (l === 'AUTH LOGIN' ? '334 VXNlcm5hbWU6' : l === b64('alice') ? '334 UGFzc3dvcmQ6' : '235 ok'));
  assert.equal((await createClientLogin(file, 'm:LOGIN', quiet).authenticate(s1)).mechanism, 'LOGIN');
  const e = await failure(createClientLogin(file, 'x:PLAIN,LOGIN', quiet).authenticate(session(['PLAIN', 'LOGIN'], () => '235 ok')));
  assert.equal(e.permanent, true);
  assert.match(e.message, /--client-auth-config rules out PLAIN LOGIN/);
});

test('nothing fits: a permanent failure that says what the server offers, what the account has and what to do', async (t) => {
  const password = createClientLogin(secretsFile(t, 'client plain scanner@contoso.com pw\n'), undefined, quiet);
  const ms = await failure(password.authenticate(session(['XOAUTH2'], () => '235 ok', { server: 'smtp.office365.com' })));
  assert.equal(ms.permanent, true);
  assert.match(ms.message, /offers AUTH XOAUTH2 and this account has only a password/);
  assert.match(ms.message, /Microsoft 365 no longer accepts passwords for SMTP: use an oauth-ms-cert, oauth-ms-secret or oauth-refresh line/);

  const token = createClientLogin(secretsFile(t, `client oauth scanner@contoso.com ${XOAUTH_BLOB}\n`), undefined, quiet);
  const ses = await failure(token.authenticate(session(['PLAIN', 'LOGIN'], () => '235 ok', { server: 'email-smtp.eu-west-1.amazonaws.com' })));
  assert.match(ses.message, /offers AUTH PLAIN LOGIN and this account has only an OAuth2 token/);
  assert.match(ses.message, /does not take OAuth2 tokens: use a "client plain" line/);

  const md5 = createClientLogin(secretsFile(t, 'client md5 alice 3pIN0aPbd5aN0S4ogKA3w2P3P9XH0hXchLP1W+adpQE=\n'), undefined, quiet);
  assert.match((await failure(md5.authenticate(session(['PLAIN', 'LOGIN'], () => '235 ok')))).message, /works only with CRAM-MD5/);

  const exchange = await failure(password.authenticate(session(['NTLM', 'GSSAPI'], () => '235 ok', { secure: false })));
  assert.match(exchange.message, /does not do NTLM or GSSAPI/);
  assert.match(exchange.message, /add client-tls/);

  const none = await failure(password.authenticate(session([], () => '235 ok', { secure: false })));
  assert.match(none.message, /^authentication is not supported by the remote smtp server/);
});

test('a server that drops the connection after a refusal: the refusal is the reason', async (t) => {
  const login = createClientLogin(secretsFile(t, 'client plain alice secret\n'), undefined, quiet);
  const s = session(['PLAIN', 'LOGIN'], () => '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.');
  s.send = async (line) => {
    if (line.startsWith('AUTH PLAIN')) return replyOf('535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.');
    throw new Error('Connection closed unexpectedly');
  };
  const e = await failure(login.authenticate(s));
  assert.equal(e.code, 535);
  assert.match(e.message, /SMTP AUTH is turned off/);
});

test('an account without secrets ("client plain:b = = sel") does not sign in; an unknown selector fails', async (t) => {
  const file = secretsFile(t, 'client plain:b = = quiet\nclient plain alice secret\n');
  assert.equal(createClientLogin(file, undefined, quiet, 'quiet').needed(), false);
  assert.equal(createClientLogin(file, undefined, quiet).needed(), true);
  const unknown = createClientLogin(file, undefined, quiet, 'nope');
  assert.equal(unknown.needed(), true);
  assert.match(
    (await failure(unknown.authenticate(session(['PLAIN'], () => '235 ok')))).message,
    /no "client" line for the envelope's ClientAccountSelector "nope"/,
  );
});
