import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';

import {
  cramDigest,
  cramHash,
  cramResponse,
  dottedToState,
  hmacFromKey,
  hmacMd5FromState,
  isDotted,
  md5State,
  md5WithState,
  passwdHash,
  passwdHashDotted,
  stateToDotted,
} from '../../src/auth/cram';

const FOOBAR_B64 = '3pIN0aPbd5aN0S4ogKA3w2P3P9XH0hXchLP1W+adpQE=';
const FOOBAR_DOTTED = '3507327710.2524437411.674156941.3275202688.3577739107.3692417735.1542828932.27631078';
const MD5_IV = Buffer.from('0123456789abcdeffedcba9876543210', 'hex');

test('cram: emailrelay-passwd test vector', () => {
  assert.equal(passwdHash('foobar'), FOOBAR_B64);
  assert.equal(passwdHash(Buffer.from('foobar')), FOOBAR_B64);
  assert.equal(passwdHash('foobar').length, 44);
  assert.equal(passwdHashDotted('foobar'), FOOBAR_DOTTED);
});

test('cram: dotted <-> state conversion', () => {
  const state = Buffer.from(FOOBAR_B64, 'base64');
  assert.equal(isDotted(FOOBAR_DOTTED), true);
  assert.deepEqual(dottedToState(FOOBAR_DOTTED), state);
  assert.equal(stateToDotted(state), FOOBAR_DOTTED);
  assert.equal(isDotted('1.2.3.4.5.6.7'), false);
  assert.equal(isDotted('1.2.3.4.5.6.7.8'), true);
  assert.equal(isDotted('1.2.3.4.5.6.7.'), false); // under 15 characters, as in E-MailRelay
  assert.deepEqual(dottedToState('1.2.3.4.5.6.7.8')?.readUInt32LE(28), 8);
  assert.equal(dottedToState(FOOBAR_B64), null);
});

test('cram: md5WithState from the IV equals MD5 for many lengths', () => {
  for (let n = 0; n <= 200; n++) {
    const data = randomBytes(n);
    assert.deepEqual(md5WithState(MD5_IV, 0, data), createHash('md5').update(data).digest(), `length ${n}`);
  }
});

test('cram: md5WithState resumes a saved state', () => {
  const prefix = randomBytes(128);
  const rest = randomBytes(77);
  const state = md5State(prefix);
  assert.deepEqual(md5WithState(state, 128, rest), createHash('md5').update(prefix).update(rest).digest());
  assert.throws(() => md5State(randomBytes(10)));
  assert.throws(() => md5WithState(state, 10, rest));
});

test('cram: HMAC-MD5 from the saved state equals node HMAC-MD5', () => {
  const passwords: (string | Buffer)[] = ['foobar', '', 'x', 'a'.repeat(63), 'a'.repeat(64), 'a'.repeat(65), 'pässwörd ✓', randomBytes(200)];
  const challenges = ['', '<1896.697170952@postoffice.example.net>', 'x'.repeat(300)];
  for (const pw of passwords) {
    const state = Buffer.from(passwdHash(pw), 'base64');
    assert.equal(state.length, 32);
    for (const ch of challenges) {
      assert.deepEqual(hmacMd5FromState(state, ch), createHmac('md5', pw).update(ch).digest());
    }
  }
});

test('cram: hmacFromKey', () => {
  for (const h of ['md5', 'sha1', 'sha256', 'sha512'] as const) {
    assert.deepEqual(hmacFromKey(h, 'key', 'msg'), createHmac(h, 'key').update('msg').digest());
  }
});

test('cram: RFC 2195 example response', () => {
  // RFC 2195 section 2: user tim, password tanstaaftanstaaf
  const challenge = Buffer.from('<1896.697170952@postoffice.reston.mci.net>').toString('base64');
  const response = cramResponse('CRAM-MD5', 'tim', 'tanstaaftanstaaf', challenge);
  assert.equal(Buffer.from(response, 'base64').toString(), 'tim b913a602c7eda7a495b4e6e7334d3890');
  // same from the hashed state
  const state = Buffer.from(passwdHash('tanstaaftanstaaf'), 'base64');
  assert.equal(cramResponse('CRAM-MD5', 'tim', { type: 'md5', value: state }, challenge), response);
  assert.equal(cramResponse('CRAM-MD5', 'tim', { type: 'plain', value: 'tanstaaftanstaaf' }, challenge), response);
});

test('cram: SHA mechanisms with a plain secret; md5 state refused for them', () => {
  const ch = Buffer.from('<123.456@host>');
  const b64 = ch.toString('base64');
  for (const [mech, h] of [
    ['CRAM-SHA1', 'sha1'],
    ['CRAM-SHA256', 'sha256'],
    ['CRAM-SHA512', 'sha512'],
  ] as const) {
    const expect = createHmac(h, 'pw').update(ch).digest('hex');
    assert.equal(Buffer.from(cramResponse(mech, 'bob', 'pw', b64), 'base64').toString(), `bob ${expect}`);
    assert.equal(cramHash(mech.toLowerCase()), h);
    assert.throws(() => cramDigest(mech, { type: 'md5', value: Buffer.alloc(32) }, ch), /hashed md5/);
  }
  assert.equal(cramHash('PLAIN'), undefined);
});
