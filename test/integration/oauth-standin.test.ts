// The stand-ins refuse what Microsoft's and Google's token endpoints refuse, checked with relaybox's
// own assertion code (src/forward/oauth/jwt.ts) and refusal wording (token-errors.ts): an expired
// client assertion, an assertion signed with another key, an expired service-account JWT, a scope
// the app may not have.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import * as https from 'node:https';
import { readFileSync } from 'node:fs';
import { testPki } from '../lib/certs';
import { SCOPE_GOOGLE, SCOPE_GRAPH, SCOPE_OUTLOOK } from '../lib/oauth-standin';
import { clientAssertion, parseServiceAccountKey, readCertificateCredential, serviceAccountAssertion } from '../../src/forward/oauth/jwt';
import { describeTokenRefusal } from '../../src/forward/oauth/token-errors';
import { cleanup } from './forward-util';
import { appCertificate, serviceAccountKey, standInFor, workDir } from './oauth-util';

function post(url: string, form: Record<string, string>): Promise<{ status: number; text: string }> {
  return request(url, 'application/x-www-form-urlencoded', new URLSearchParams(form).toString());
}

function request(url: string, contentType: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca: testPki().ca, headers: { 'content-type': contentType, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('Microsoft stand-in: a valid certificate assertion gets a token; an expired one, a foreign key or a bad scope does not', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const dir = workDir(defer);
  const { pemFile, certPem } = appCertificate(dir);
  s.microsoftApps.set('app', { tenant: 't1', certificate: certPem, smtpMailboxes: [] });
  const url = `${s.url}/t1/oauth2/v2.0/token`;
  const cred = readCertificateCredential(readFileSync(pemFile, 'utf8'), pemFile);
  const form = (assertion: string, scope = SCOPE_OUTLOOK) => ({
    grant_type: 'client_credentials',
    client_id: 'app',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  });

  const ok = await post(url, form(clientAssertion(cred, 'app', url, Date.now())));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(JSON.parse(ok.text).access_token, s.tokens[0]!.value);

  const expired = await post(url, form(clientAssertion(cred, 'app', url, Date.now() - 2 * 3600_000)));
  assert.equal(expired.status, 401);
  const e = describeTokenRefusal(expired.status, expired.text);
  assert.equal(e.permanent, true);
  assert.match(e.message, /check the clock/);
  assert.match(e.message, /AADSTS700024/);

  const other = appCertificate(workDir(defer));
  const foreign = readCertificateCredential(readFileSync(other.pemFile, 'utf8'), other.pemFile);
  const wrongKey = await post(url, form(clientAssertion({ ...foreign, x5t: cred.x5t }, 'app', url, Date.now())));
  assert.equal(wrongKey.status, 401);
  assert.match(wrongKey.text, /AADSTS700027.*signature/);

  const badScope = await post(url, form(clientAssertion(cred, 'app', url, Date.now()), 'https://outlook.office365.com/SMTP.SendAsApp'));
  assert.equal(badScope.status, 400);
  assert.match(describeTokenRefusal(badScope.status, badScope.text).message, /the scope was refused/);
  assert.equal(s.tokens.length, 1);
});

test('Google stand-in: the service-account JWT is verified; expired, foreign-signed or undelegated ones are refused', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.users.add('u@example.org');
  const dir = workDir(defer);
  const { keyFile } = serviceAccountKey(dir, s);
  const sa = parseServiceAccountKey(readFileSync(keyFile, 'utf8'), keyFile);
  const url = `${s.url}/token`;
  const grant = (assertion: string) => post(url, { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion });

  assert.equal((await grant(serviceAccountAssertion(sa, 'u@example.org', SCOPE_GOOGLE, Date.now()))).status, 200);

  const expired = await grant(serviceAccountAssertion(sa, 'u@example.org', SCOPE_GOOGLE, Date.now() - 2 * 3600_000));
  assert.equal(expired.status, 400);
  assert.match(describeTokenRefusal(expired.status, expired.text).message, /check the clock/);

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forged = await grant(
    serviceAccountAssertion({ ...sa, private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }, 'u@example.org', SCOPE_GOOGLE, Date.now()),
  );
  assert.match(describeTokenRefusal(forged.status, forged.text).message, /Google refused the service-account key/);

  const unknownUser = await grant(serviceAccountAssertion(sa, 'nobody@example.org', SCOPE_GOOGLE, Date.now()));
  assert.match(describeTokenRefusal(unknownUser.status, unknownUser.text).message, /Google does not know the mailbox/);

  s.googleAccounts.get(sa.client_email)!.delegatedScopes = [];
  const undelegated = await grant(serviceAccountAssertion(sa, 'u@example.org', SCOPE_GOOGLE, Date.now()));
  assert.equal(undelegated.status, 401);
  assert.match(describeTokenRefusal(undelegated.status, undelegated.text).message, /Domain-wide delegation/);
  assert.equal(s.tokens.length, 1);
});

test('Graph stand-in: sendMail needs a Graph token, and a request over 4 MB gets 413 as from Microsoft', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.users.add('m@contoso.test');
  s.microsoftApps.set('app', { tenant: 't1', secret: 'sec', smtpMailboxes: [], graphMailSend: true });
  const token = async (scope: string) =>
    JSON.parse((await post(`${s.url}/t1/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: 'app', client_secret: 'sec', scope })).text)
      .access_token as string;
  const send = (tok: string, body: string) => request(`${s.url}/v1.0/users/m@contoso.test/sendMail`, 'text/plain', body, { authorization: `Bearer ${tok}` });
  const mime = Buffer.from('From: <m@contoso.test>\r\nTo: <a@example.net>\r\nSubject: x\r\n\r\nbody\r\n').toString('base64');
  const outlookToken = await token(SCOPE_OUTLOOK);
  assert.equal((await send(outlookToken, mime)).status, 401, 'an Exchange token is not a Graph token');
  const graphToken = await token(SCOPE_GRAPH);
  assert.equal((await send(graphToken, mime)).status, 202);
  const big = await send(graphToken, 'A'.repeat(4 * 1024 * 1024 + 4));
  assert.equal(big.status, 413);
  assert.match(big.text, /RequestBodyTooLarge/);
  assert.equal(s.graphSent.length, 1);
});

test('introspection endpoint (RFC 7662): the caller must authenticate; inactive tokens get only {"active":false}', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.introspectionClients.set('rs', 'rs-secret');
  const good = s.issueToken('google', 'client-1', SCOPE_GOOGLE, 'user@example.org');
  const expired = s.issueToken('google', 'client-1', SCOPE_GOOGLE, 'user@example.org');
  expired.expiresAt = Date.now() - 1;
  const url = `${s.url}/introspect`;
  const form = (token: string) => new URLSearchParams({ token, token_type_hint: 'access_token' }).toString();
  const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });
  const type = 'application/x-www-form-urlencoded';

  const anonymous = await request(url, type, form(good.value));
  assert.equal(anonymous.status, 401);
  assert.equal(JSON.parse(anonymous.text).error, 'invalid_client');
  assert.equal((await request(url, type, form(good.value), basic('rs', 'wrong'))).status, 401);
  assert.equal((await request(url, type, '', basic('rs', 'rs-secret'))).status, 400);

  const active = await request(url, type, form(good.value), basic('rs', 'rs-secret'));
  assert.equal(active.status, 200);
  const claims = JSON.parse(active.text);
  assert.equal(claims.active, true);
  assert.equal(claims.username, 'user@example.org');
  assert.equal(claims.scope, SCOPE_GOOGLE);
  assert.equal(claims.client_id, 'client-1');
  assert.equal(claims.exp, Math.floor(good.expiresAt / 1000));
  for (const token of [expired.value, 'never-issued']) {
    const r = await request(url, type, form(token), basic('rs', 'rs-secret'));
    assert.deepEqual([r.status, JSON.parse(r.text)], [200, { active: false }]);
  }
  good.revoked = true;
  assert.deepEqual(JSON.parse((await request(url, type, form(good.value), basic('rs', 'rs-secret'))).text), { active: false });
  assert.deepEqual(
    s.introspections.map((i) => i.status),
    [401, 401, 400, 200, 200, 200, 200],
  );
});
