import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { parseSecrets } from '../../src/auth/secrets';
import { applyFilter, parseServerAuthConfig, secretsMechanisms } from '../../src/auth/server-mechanisms';
import { verifyWithSecrets } from '../../src/auth/server-verify';
import { AuthThrottle } from '../../src/auth/throttle';
import { ConnectionLimits } from '../../src/smtp/connection-limits';
import { parseServerAuth } from '../../src/smtp/access-config';

const FOOBAR_HASH = '3pIN0aPbd5aN0S4ogKA3w2P3P9XH0hXchLP1W+adpQE=';

test('mechanisms from the secrets: plain lines give all, md5 hashes only CRAM-MD5, nothing gives PLAIN over TLS', () => {
  const all = parseSecrets('server plain a b', 'x').secrets;
  assert.deepEqual(secretsMechanisms(all, false), ['CRAM-SHA512', 'CRAM-SHA256', 'CRAM-SHA1', 'CRAM-MD5', 'PLAIN', 'LOGIN']);
  const hashed = parseSecrets(`server md5 a ${FOOBAR_HASH}`, 'x').secrets;
  assert.deepEqual(secretsMechanisms(hashed, false), ['CRAM-MD5']);
  const none = parseSecrets('server none 10.0.0.0/8 lan', 'x').secrets;
  assert.deepEqual(secretsMechanisms(none, false), []);
  assert.deepEqual(secretsMechanisms(none, true), ['PLAIN']);
});

test('--server-auth-config: m:/x: for both unless a:/d: are given; empty m: allows nothing', () => {
  const mechs = ['CRAM-SHA256', 'CRAM-MD5', 'PLAIN', 'LOGIN'];
  const f1 = parseServerAuthConfig('m:;a:plain');
  assert.deepEqual(applyFilter(mechs, f1, false), []);
  assert.deepEqual(applyFilter(mechs, f1, true), ['PLAIN']);
  const f2 = parseServerAuthConfig('x:login,cram-md5');
  assert.deepEqual(applyFilter(mechs, f2, false), ['CRAM-SHA256', 'PLAIN']);
  assert.deepEqual(applyFilter(mechs, f2, true), ['CRAM-SHA256', 'PLAIN']);
  const f3 = parseServerAuthConfig('m:cram-sha256,cram-md5;d:cram-md5');
  assert.deepEqual(applyFilter(mechs, f3, false), ['CRAM-SHA256', 'CRAM-MD5']);
  assert.deepEqual(applyFilter(mechs, f3, true), ['CRAM-SHA256', 'PLAIN', 'LOGIN']);
  assert.deepEqual(applyFilter(mechs, parseServerAuthConfig('plain'), false), ['PLAIN'], 'a bare list is an m: list');
  assert.deepEqual(applyFilter(mechs, parseServerAuthConfig(undefined), true), mechs);
  assert.throws(() => parseServerAuthConfig('z:plain'), /unknown list "z:"/);
  assert.throws(() => parseServerAuthConfig('m:pl ain'), /not a SASL mechanism name/);
});

test('credential checks against the secrets: plain, plain:b, md5 hash, CRAM with every hash, wrong ones', () => {
  const { secrets } = parseSecrets(
    [
      'server plain alice pw+2Bx', // "pw+x"
      `server plain:b ${Buffer.from('böb').toString('base64')} ${Buffer.from('pässword').toString('base64')}`,
      `server md5 carol ${FOOBAR_HASH}`,
    ].join('\n'),
    'v.auth',
  );
  assert.equal(verifyWithSecrets(secrets, { method: 'PLAIN', username: 'alice', password: 'pw+x' }), true);
  assert.equal(verifyWithSecrets(secrets, { method: 'LOGIN', username: 'alice', password: 'pw+2Bx' }), false);
  assert.equal(verifyWithSecrets(secrets, { method: 'PLAIN', username: 'böb', password: 'pässword' }), true);
  assert.equal(verifyWithSecrets(secrets, { method: 'PLAIN', username: 'carol', password: 'foobar' }), false);
  assert.equal(verifyWithSecrets(secrets, { method: 'PLAIN', username: 'nobody', password: '' }), false);
  const challenge = '<1234.5678@relay.test>';
  for (const hash of ['md5', 'sha1', 'sha256', 'sha512'] as const) {
    const method = `CRAM-${hash.toUpperCase()}`;
    const good = createHmac(hash, 'pw+x').update(challenge).digest('hex');
    assert.equal(verifyWithSecrets(secrets, { method, username: 'alice', challenge, challengeResponse: good }), true, method);
    assert.equal(verifyWithSecrets(secrets, { method, username: 'alice', challenge, challengeResponse: good.toUpperCase() }), true, 'hex case');
    assert.equal(verifyWithSecrets(secrets, { method, username: 'alice', challenge: challenge + 'x', challengeResponse: good }), false);
    const carol = createHmac(hash, 'foobar').update(challenge).digest('hex');
    assert.equal(
      verifyWithSecrets(secrets, { method, username: 'carol', challenge, challengeResponse: carol }),
      hash === 'md5',
      `${method} with a hashed md5 secret`,
    );
  }
  assert.equal(verifyWithSecrets(secrets, { method: 'CRAM-MD5', username: 'alice', challenge }), false, 'no response');
  assert.equal(verifyWithSecrets(secrets, { method: 'XOAUTH2', username: 'alice' }), false);
});

test('throttle: doubling delay up to 32x, refusal at the limit until the lockout has passed, success clears', () => {
  let now = 1_000_000;
  const th = new AuthThrottle({ limit: 3, lockoutMs: 60_000, delayMs: 100 }, () => now);
  assert.equal(th.refusedFor('a'), 0);
  assert.deepEqual(th.failed('a'), { delayMs: 100, failures: 1, lockedOut: false });
  assert.deepEqual(th.failed('a'), { delayMs: 200, failures: 2, lockedOut: false });
  assert.equal(th.refusedFor('a'), 0);
  assert.deepEqual(th.failed('a'), { delayMs: 400, failures: 3, lockedOut: true });
  assert.equal(th.refusedFor('a'), 60_000);
  assert.equal(th.refusedFor('b'), 0);
  now += 59_000;
  assert.equal(th.refusedFor('a'), 1_000);
  now += 1_000;
  assert.equal(th.refusedFor('a'), 0, 'the lockout is over and the count forgotten');
  assert.equal(th.failed('a').failures, 1);
  th.succeeded('a');
  assert.equal(th.failed('a').failures, 1);
  const big = new AuthThrottle({ limit: 0, lockoutMs: 60_000, delayMs: 10 }, () => now);
  let last = 0;
  for (let i = 0; i < 10; i++) last = big.failed('x').delayMs;
  assert.equal(last, 320, 'capped at 32x');
  assert.equal(big.refusedFor('x'), 0, 'limit 0 never refuses');
});

test('connection limits: per address, total, released once', () => {
  const l = new ConnectionLimits(3, 2);
  assert.equal(l.admit('1', 'a'), null);
  assert.equal(l.admit('2', 'a'), null);
  assert.equal(l.admit('3', 'a'), 'too many connections from your address');
  assert.equal(l.admit('4', 'b'), null);
  assert.equal(l.admit('5', 'c'), 'too many connections');
  l.release('3', 'a'); // never admitted: no effect
  assert.equal(l.open(), 3);
  l.release('1', 'a');
  l.release('1', 'a');
  assert.equal(l.open(), 2);
  assert.equal(l.admit('6', 'a'), null);
  const unlimited = new ConnectionLimits(0, 0);
  for (let i = 0; i < 100; i++) assert.equal(unlimited.admit(String(i), 'a'), null);
});

test('--server-auth values: a file, pam:, pam:<service>, /pam', () => {
  const w: string[] = [];
  assert.deepEqual(parseServerAuth('secrets.auth', '/etc/relaybox', w), { kind: 'secrets', file: '/etc/relaybox/secrets.auth' });
  assert.deepEqual(parseServerAuth('pam:', '/', w), { kind: 'pam', service: 'emailrelay' });
  assert.deepEqual(parseServerAuth('pam:smtp', '/', w), { kind: 'pam', service: 'smtp' });
  assert.deepEqual(w, []);
  assert.deepEqual(parseServerAuth('/pam', '/', w), { kind: 'pam', service: 'emailrelay' });
  assert.match(w[0], /deprecated/);
  assert.throws(() => parseServerAuth('pam:../x', '/', w), /not a PAM service name/);
});
