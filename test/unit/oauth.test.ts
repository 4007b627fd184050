// Pieces of issue 6 that need no network: the XOAUTH2 string (byte-exact test vector), the grant
// lines of the secrets file, next-hop forms (SOCKS, graph:), JWT signing, token-endpoint refusals
// and SMTP replies turned into advice, MIME attachment splitting and sender rewriting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { inspect } from 'node:util';
import { parseSecrets, findClientAccount, mustAuthenticate } from '../../src/auth/secrets';
import { xoauth2Response } from '../../src/forward/oauth/xoauth2';
import { parseForwardTarget } from '../../src/net/target';
import { signJwt } from '../../src/forward/oauth/jwt';
import { describeTokenRefusal } from '../../src/forward/oauth/token-errors';
import { withAdvice } from '../../src/forward/oauth/advice';
import { base64Size, splitAttachments, addressesIn } from '../../src/forward/mime-parts';
import { rewriteFromHeader } from '../../src/forward/sender-rewrite';

test('XOAUTH2 initial response matches the curl test 908/922 vector byte for byte', () => {
  assert.equal(xoauth2Response('user', 'mF_9.B5f-4.1JqM').toString('base64'), 'dXNlcj11c2VyAWF1dGg9QmVhcmVyIG1GXzkuQjVmLTQuMUpxTQEB');
});

test('secrets file: the four grant lines, next to E-MailRelay\'s static "client oauth" line', () => {
  const text = [
    'client oauth-ms-secret scanner@contoso.com contoso.onmicrosoft.com:11111111-2222-3333-4444-555555555555:abc~def+2Bx+3D',
    'client oauth-ms-cert scanner@contoso.com 9188040d-6c67-4c5b-b112-36a304b66dad:app-2:certs/app.pem sel-cert',
    'client oauth-google-sa printer@example.org sa.json sel-google',
    'client oauth-refresh me@contoso.com /var/lib/relaybox/me.token sel-refresh',
    `client oauth me@example.com ${Buffer.from('user=me@example.com\x01auth=Bearer t\x01\x01').toString('base64')} sel-static`,
  ].join('\n');
  const { secrets, problems } = parseSecrets(text, '/etc/relaybox/secrets');
  assert.deepEqual(problems, []);
  const def = findClientAccount(secrets, '')!;
  assert.ok(mustAuthenticate(def));
  const g = def.grant!;
  assert.equal(g.type, 'oauth-ms-secret');
  assert.equal(g.mailbox, 'scanner@contoso.com');
  if (g.type !== 'oauth-ms-secret') throw new Error('type');
  assert.equal(g.tenant, 'contoso.onmicrosoft.com');
  assert.equal(g.secret.text(), 'abc~def+x=');
  assert.ok(!inspect(def, { depth: 9 }).includes('abc~def'), 'the client secret does not show in inspect()');
  assert.ok(!JSON.stringify(def).includes('abc~def'), 'the client secret does not show in JSON');
  const cert = findClientAccount(secrets, 'sel-cert')!.grant!;
  assert.equal(cert.type === 'oauth-ms-cert' && cert.pemFile, '/etc/relaybox/certs/app.pem');
  const sa = findClientAccount(secrets, 'sel-google')!.grant!;
  assert.equal(sa.type === 'oauth-google-sa' && sa.keyFile, '/etc/relaybox/sa.json');
  assert.equal(findClientAccount(secrets, 'sel-refresh')!.grant!.type, 'oauth-refresh');
  assert.equal(findClientAccount(secrets, 'sel-static')!.secrets.oauth!.userId, 'me@example.com');
});

test('secrets file: bad grant lines are reported with their line number and skipped', () => {
  const { problems } = parseSecrets(
    [
      'client oauth-ms-secret notamailbox t:c:s',
      'client oauth-ms-secret a@b.c only-tenant',
      'server oauth-ms-secret a@b.c t:c:s',
      'client oauth-google-sa a@b.c k.json',
      'client oauth-refresh a@b.c other.json',
    ].join('\n'),
    'secrets',
  );
  assert.deepEqual(
    problems.map((p) => [p.line, p.level]),
    [
      [1, 'error'],
      [2, 'error'],
      [3, 'error'],
      [5, 'error'],
    ],
  );
  assert.match(problems[0]!.message, /mailbox/);
  assert.match(problems[1]!.message, /<tenant>:<client-id>:<client-secret>/);
  assert.match(problems[3]!.message, /duplicate client oauth grant/);
});

test('--forward-to forms: E-MailRelay SOCKS4a, socks5://, socks4a://, graph:', () => {
  assert.deepEqual(parseForwardTarget('smtp.example.com:25@127.0.0.1:9050'), {
    kind: 'tcp',
    host: 'smtp.example.com',
    port: 25,
    text: 'smtp.example.com:25@127.0.0.1:9050',
    socks: { host: '127.0.0.1', port: 9050, version: 4 },
  });
  const onion = 'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion';
  const t5 = parseForwardTarget(`${onion}:25@socks5://[::1]:1080`);
  assert.equal(t5.kind === 'tcp' && t5.host, onion);
  assert.deepEqual(t5.kind === 'tcp' && t5.socks, { host: '::1', port: 1080, version: 5 });
  const t4 = parseForwardTarget('mx.example:587@socks4a://localhost:9050');
  assert.equal(t4.kind === 'tcp' && t4.socks?.version, 4);
  assert.deepEqual(parseForwardTarget('graph:'), { kind: 'graph', baseUrl: 'https://graph.microsoft.com', text: 'graph:' });
  assert.deepEqual(parseForwardTarget('graph:https://graph.microsoft.us/'), {
    kind: 'graph',
    baseUrl: 'https://graph.microsoft.us',
    text: 'graph:https://graph.microsoft.us/',
  });
  assert.throws(() => parseForwardTarget('mx:25@http://proxy:8080'), /socks5:\/\/\[user:password@\]host:port/);
  const auth = parseForwardTarget('mx.example:25@socks5://tor%20user:p%40ss:w@127.0.0.1:9050');
  assert.deepEqual(auth.kind === 'tcp' && auth.socks, { host: '127.0.0.1', port: 9050, version: 5, auth: { user: 'tor user', password: 'p@ss:w' } });
  assert.equal(auth.text, 'mx.example:25@socks5://tor%20user:****@127.0.0.1:9050');
  assert.throws(() => parseForwardTarget('mx:25@socks4a://u:p@h:1'), /only SOCKS5 takes a user name/);
  assert.throws(
    () => parseForwardTarget('mx@socks5://u:secretpw@h:1'),
    (e: Error) => !e.message.includes('secretpw'),
  );
  assert.throws(() => parseForwardTarget('graph:http://x'), /https/);
});

test('signJwt: RS256 over base64url header and claims, verifiable with the public key', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwt = signJwt({ kid: 'k1' }, { iss: 'a', exp: 5 }, privateKey);
  const [h, c, sig] = jwt.split('.');
  assert.deepEqual(JSON.parse(Buffer.from(h!, 'base64url').toString()), { alg: 'RS256', typ: 'JWT', kid: 'k1' });
  assert.deepEqual(JSON.parse(Buffer.from(c!, 'base64url').toString()), { iss: 'a', exp: 5 });
  assert.ok(verify('sha256', Buffer.from(`${h}.${c}`), publicKey, Buffer.from(sig!, 'base64url')));
});

test('token endpoint refusals: configuration errors are permanent with advice, the rest temporary', () => {
  const ms = (code: number, error: string, text: string) =>
    JSON.stringify({ error, error_description: `AADSTS${code}: ${text}\r\nTrace ID: x`, error_codes: [code] });
  const expired = describeTokenRefusal(401, ms(7000222, 'invalid_client', 'The provided client secret keys are expired.'));
  assert.equal(expired.permanent, true);
  assert.match(expired.message, /client secret has expired: create a new one/);
  assert.doesNotMatch(expired.message, /Trace ID/);
  const wrong = describeTokenRefusal(401, ms(7000215, 'invalid_client', 'Invalid client secret provided.'));
  assert.match(wrong.message, /Value \(not its Secret ID\)/);
  assert.match(describeTokenRefusal(400, ms(70011, 'invalid_scope', 'bad scope')).message, /SMTP\.SendAsApp/);
  assert.match(
    describeTokenRefusal(
      400,
      JSON.stringify({
        error: 'unauthorized_client',
        error_description: 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
      }),
    ).message,
    /Domain-wide delegation/,
  );
  const busy = describeTokenRefusal(503, '<html>busy</html>', 2000);
  assert.equal(busy.permanent, false);
  assert.equal(busy.retryAfterMs, 2000);
  assert.equal(describeTokenRefusal(429, '{}').permanent, false);
});

test('SMTP replies a human must act on get advice; others are left alone', () => {
  const ms = { grant: 'oauth-ms-secret', mailbox: 'scanner@contoso.com' };
  const a = withAdvice('authentication failed: 535 5.7.3 Authentication unsuccessful [X]', ms);
  assert.match(a, /SMTP\.SendAsApp/);
  assert.match(a, /New-ServicePrincipal/);
  assert.match(a, /Add-MailboxPermission -Identity scanner@contoso\.com/);
  assert.match(a, /\[authentication failed: 535 5\.7\.3 Authentication unsuccessful \[X\]\]$/);
  assert.match(withAdvice('535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.', ms), /Set-CASMailbox/);
  assert.match(
    withAdvice('535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [BN9PR03CA0034.namprd03.prod.outlook.com]', ms),
    /no longer accepts passwords.*OAuth2 line/,
  );
  assert.match(withAdvice('550 5.7.30 Basic authentication is not supported for Client Submission.', {}), /no longer accepts passwords/);
  assert.match(withAdvice('MAIL FROM: 550 5.7.60 SMTP; Client does not have permissions to send as this sender', ms), /--forward-from-mailbox/);
  assert.equal(withAdvice('550 5.1.1 user unknown', ms), '550 5.1.1 user unknown');
});

test('splitAttachments: the largest attachments come out, decoded, until the rest fits', () => {
  const big = Buffer.alloc(300_000, 7);
  const small = Buffer.from('hello attachment');
  const mime = Buffer.from(
    [
      'From: a@b.c',
      'To: x@y.z',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="BND"',
      '',
      'preamble',
      '--BND',
      'Content-Type: text/plain',
      '',
      'the body',
      '--BND',
      'Content-Type: application/pdf; name="scan.pdf"',
      'Content-Disposition: attachment; filename="scan.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      big.toString('base64').replace(/.{76}/g, '$&\r\n'),
      '--BND',
      'Content-Type: text/plain; name="=?utf-8?B?w6ku?="',
      "Content-Disposition: attachment; filename*=utf-8''%C3%A9t%C3%A9.txt",
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'hello=20attachment',
      '--BND--',
      '',
    ].join('\r\n'),
  );
  const split = splitAttachments(mime, 200_000)!;
  assert.equal(split.attachments.length, 1);
  assert.equal(split.attachments[0]!.name, 'scan.pdf');
  assert.equal(split.attachments[0]!.contentType, 'application/pdf');
  assert.ok(split.attachments[0]!.data.equals(big));
  assert.ok(base64Size(split.mime.length) <= 200_000);
  assert.match(split.mime.toString(), /the body\r\n--BND\r\nContent-Type: text\/plain; name=.*hello=20attachment\r\n--BND--\r\n$/s);
  const both = splitAttachments(mime, 400)!;
  assert.equal(both.attachments.length, 2);
  assert.equal(both.attachments[1]!.name, 'été.txt');
  assert.ok(both.attachments[1]!.data.equals(small));
  assert.equal(splitAttachments(Buffer.from('Subject: x\r\n\r\nplain'), 1), null);
  assert.deepEqual(addressesIn('"Doe, John" <J@x.org>, b@y.org (Bee)'), ['j@x.org', 'b@y.org']);
});

test('rewriteFromHeader: From becomes the mailbox, keeps the display name, the old From becomes Reply-To', () => {
  const msg = Buffer.from('Received: from x\r\nFrom: "Scanner 3"\r\n <scan3@device.lan>\r\nSender: dev@lan\r\nSubject: s\r\n\r\nFrom: body line\r\n');
  const out = rewriteFromHeader(msg, 'scanner@contoso.com').toString();
  assert.equal(
    out,
    'From: "Scanner 3" <scanner@contoso.com>\r\nReply-To: "Scanner 3" <scan3@device.lan>\r\nReceived: from x\r\nSubject: s\r\n\r\nFrom: body line\r\n',
  );
  const kept = rewriteFromHeader(Buffer.from('From: a@b.c\r\nReply-To: r@b.c\r\n\r\nx'), 'm@d.e').toString();
  assert.equal(kept, 'From: <m@d.e>\r\nReply-To: r@b.c\r\n\r\nx');
});
