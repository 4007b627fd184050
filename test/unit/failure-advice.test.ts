// The test mail's advice (src/check/failure-advice.ts): which refusal, at which step, gets which words.
// Replies are the providers' own texts from test/fixtures/providers/*.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failureAdvice, splitAdvice, tlsWarning, type AdviceContext, type StepName } from '../../src/check/failure-advice';
import { loadProfile } from '../lib/provider-replay';

const ctx: AdviceContext = {
  configFile: 'relaybox.conf',
  secretsFile: 'relaybox.secrets',
  secretsLine: 4,
  host: 'smtp.example.com',
  port: 587,
  tlsMode: 'starttls',
  mailbox: 'scanner@contoso.test',
  from: 'printer@contoso.test',
  to: 'bob@example.net',
};
const advice = (step: StepName, message: string, response?: string, c: Partial<AdviceContext> = {}) =>
  failureAdvice(step, { message, response }, { ...ctx, ...c });
const reply = (profile: string, code: string) =>
  loadProfile(profile)
    .errors[code]!.map((l) => l.line)
    .join('\n');

test('name and connection failures: the host, the port, the config file, and what blocks it', () => {
  assert.match(
    advice('name resolved', 'cannot look up smtp.example.com: ENOTFOUND getaddrinfo ENOTFOUND smtp.example.com')!,
    /The name smtp\.example\.com does not exist\. Check the spelling of forward-to in relaybox\.conf/,
  );
  assert.match(advice('name resolved', 'cannot look up smtp.example.com: EAI_AGAIN getaddrinfo EAI_AGAIN')!, /no answer from its DNS server/);
  assert.match(
    advice('connected', 'connect ECONNREFUSED 192.0.2.1:587')!,
    /smtp\.example\.com port 587 refuses connections\. Check the port in forward-to in relaybox\.conf/,
  );
  for (const m of ['Connection timeout', 'connect ETIMEDOUT 192.0.2.1:25', 'connect EHOSTUNREACH 192.0.2.1:25']) {
    assert.match(advice('connected', m)!, /No answer from smtp\.example\.com port 587\. A firewall or your internet provider blocks this port/, m);
  }
});

test('465 vs 587: no greeting with STARTTLS means implicit TLS; a plain greeting under implicit TLS means STARTTLS', () => {
  assert.match(
    advice('greeting', 'Greeting never received')!,
    /expects TLS from the first byte \(implicit TLS, usually port 465\)\. In relaybox\.conf, replace client-tls with client-tls-connection/,
  );
  assert.equal(
    advice('greeting', 'Greeting never received', undefined, { tlsMode: 'implicit' }),
    undefined,
    'not the 465 advice when TLS from the first byte is already on',
  );
  const openssl = '802C8322AC7F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n';
  assert.match(
    advice('TLS', openssl, undefined, { tlsMode: 'implicit', port: 587 })!,
    /port 587 starts in plain text and switches to TLS later with STARTTLS.*Replace client-tls-connection with client-tls/,
  );
  assert.equal(splitAdvice(openssl).detail, 'TLS error: wrong version number');
  // A server's reply ending in brackets is a reply, not "advice [reply]".
  const ms = '550 5.7.60 SMTP; Client does not have permissions to send as this sender [MW2PR1901MB2155.namprd19.prod.outlook.com]';
  assert.deepEqual(splitAdvice(ms), { detail: ms });
  assert.deepEqual(splitAdvice(`DATA: ${ms}`), { detail: `DATA: ${ms}` });
  assert.deepEqual(splitAdvice('send from the mailbox [DATA: 550 5.7.60 x [y]]'), { advice: 'send from the mailbox', detail: 'DATA: 550 5.7.60 x [y]' });
});

test('certificates: self-signed, expired, another name, unknown CA, each with its own words', () => {
  assert.match(advice('TLS', 'Error initiating TLS - self-signed certificate')!, /self-signed.*client-tls-verify in relaybox\.conf instead of <default>/);
  assert.match(advice('TLS', 'certificate has expired')!, /has expired: its administrator has to renew it/);
  assert.match(
    advice('TLS', "Hostname/IP does not match certificate's altnames: Host: smtp.example.com. is not in the cert's altnames: DNS:mail.example.org")!,
    /certificate is for another name than smtp\.example\.com\. Write forward-to in relaybox\.conf with the name the provider documents/,
  );
  assert.match(advice('TLS', 'unable to get local issuer certificate')!, /signed by an authority the box does not know/);
  assert.match(advice('TLS', 'Error upgrading connection with STARTTLS', reply('m365-smtp.office365.com', '4.7.66'))!, /TLS 1\.2 or newer/);
});

test('sign-in refusals: Microsoft 5.7.139 (both texts), Gmail 534 5.7.9 and 535 5.7.8, a plain 535 naming the secrets line', () => {
  const basic = advice('logged in', 'authentication failed (tried LOGIN)', reply('m365-smtp.office365.com', '5.7.139'))!;
  assert.match(
    basic,
    /Microsoft no longer accepts a password for scanner@contoso\.test.*replace the client line in relaybox\.secrets \(line 4\) with an OAuth2 line/,
  );
  const tenant = advice('logged in', 'authentication failed (tried LOGIN)', reply('m365-smtp.office365.com', '5.7.139-tenant'))!;
  assert.match(tenant, /SMTP AUTH is turned off for scanner@contoso\.test or the tenant: run Set-CASMailbox/);
  assert.match(
    advice('logged in', 'x', reply('gmail-smtp.gmail.com', '5.7.9-app-password'))!,
    /Google wants an app password.*2-Step Verification.*relaybox\.secrets \(line 4\)/,
  );
  assert.match(advice('logged in', 'x', reply('gmail-smtp.gmail.com', '5.7.8'))!, /Google refused the user name or password.*app password/);
  assert.match(
    advice('logged in', 'x', reply('m365-smtp.office365.com', '5.7.3'))!,
    /Microsoft refused the user name or password in the client line in relaybox\.secrets \(line 4\)/,
  );
  assert.match(
    advice('logged in', 'x', '535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6')!,
    /The server refused the user name or password in the client line in relaybox\.secrets \(line 4\)/,
  );
  // A grant line's 5.7.3 is the app's permissions, not a password (src/forward/oauth/advice.ts).
  assert.match(advice('logged in', 'x', reply('m365-smtp.office365.com', '5.7.3'), { grant: 'oauth-ms-secret' })!, /SMTP\.SendAsApp/);
  // Advice relaybox already put in the message (token endpoint, client-auth) is kept.
  assert.equal(
    advice('logged in', "the client secret is wrong: copy the secret's Value [token endpoint refused (HTTP 401 invalid_client)]"),
    "the client secret is wrong: copy the secret's Value",
  );
});

test('the mail transaction: SendAsDenied, relaying denied, an unknown recipient, a temporary refusal; an unknown reply has no advice', () => {
  const sendAs = advice('DATA accepted', 'DATA: 550 5.7.60', reply('m365-smtp.office365.com', '5.7.60'))!;
  assert.match(
    sendAs,
    /The mailbox scanner@contoso\.test may not send as printer@contoso\.test\. The From must be the signed-in mailbox.*forward-from-mailbox in relaybox\.conf/,
  );
  assert.match(advice('RCPT TO accepted', 'x', '554 5.7.1 <bob@example.net>: Relay access denied')!, /does not pass on mail from this box/);
  assert.match(
    advice('RCPT TO accepted', 'x', '550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown')!,
    /recipient bob@example\.net does not exist: check the address you typed/,
  );
  assert.match(advice('MAIL FROM accepted', 'x', '451 4.3.0 Temporary server error')!, /temporary error/);
  assert.equal(advice('DATA accepted', 'x', '552 5.3.4 Message size exceeds fixed limit'), undefined);
});

test('a TLS session weaker than it should be: not encrypted, certificate not checked, host name not checked', () => {
  assert.match(tlsWarning(null, { ...ctx, tlsMode: 'none' })!, /not encrypted.*client-tls and client-tls-required to relaybox\.conf/);
  assert.match(tlsWarning(null, ctx)!, /did not offer STARTTLS.*Add client-tls-required to relaybox\.conf/);
  const unchecked = tlsWarning({ version: 'TLSv1.3', checked: false, verified: false, verifyError: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, ctx)!;
  assert.match(
    unchecked,
    /not checked.*client-tls-verify <default> and client-tls-verify-host to relaybox\.conf \(it would fail now: DEPTH_ZERO_SELF_SIGNED_CERT/,
  );
  assert.equal(tlsWarning({ version: 'TLSv1.3', checked: true, verified: true }, ctx), undefined);
  assert.equal(tlsWarning({ version: 'TLSv1.3', checked: true, verified: true }, { ...ctx, hostChecked: true }), undefined);
  assert.match(
    tlsWarning({ version: 'TLSv1.3', checked: true, verified: true }, { ...ctx, hostChecked: false })!,
    /not that it was issued for .*Add client-tls-verify-host to relaybox\.conf/,
  );
});
