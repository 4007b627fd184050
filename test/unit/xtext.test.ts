import { test } from 'node:test';
import assert from 'node:assert/strict';

import { decodeXtext, decodeXtextBytes, encodeXtext, isXtext } from '../../src/auth/xtext';

test('xtext: printable ASCII other than + and = is copied', () => {
  assert.equal(encodeXtext('alice@example.com'), 'alice@example.com');
  assert.equal(encodeXtext('!"#$%&\'()*,-./:;<>?[\\]^_`{|}~'), '!"#$%&\'()*,-./:;<>?[\\]^_`{|}~');
});

test('xtext: space, +, =, controls, DEL are +XX with uppercase hex', () => {
  assert.equal(encodeXtext('a b'), 'a+20b');
  assert.equal(encodeXtext('a+b=c'), 'a+2Bb+3Dc');
  assert.equal(encodeXtext('\t\r\n\x00\x7f'), '+09+0D+0A+00+7F');
  assert.equal(encodeXtext('\x1f'), '+1F');
});

test('xtext: # is left alone, as E-MailRelay does (it is a valid RFC 3461 xchar)', () => {
  assert.equal(encodeXtext('#secret'), '#secret');
  assert.equal(decodeXtext('+23secret'), '#secret');
});

test('xtext: non-ASCII is encoded as its UTF-8 bytes', () => {
  assert.equal(encodeXtext('é'), '+C3+A9');
  assert.equal(encodeXtext('日'), '+E6+97+A5');
  assert.equal(decodeXtext('+C3+A9'), 'é');
  assert.equal(encodeXtext(Uint8Array.of(0xff, 0x41)), '+FFA');
  assert.deepEqual(decodeXtextBytes('+FFA'), Buffer.from([0xff, 0x41]));
});

test('xtext: round trip', () => {
  for (const s of ['', 'plain', 'p@ss word+=#', 'tab\there', 'ünïcødé ✓', '+++===']) {
    const e = encodeXtext(s);
    assert.ok(isXtext(e, true), `strict-valid: ${e}`);
    assert.equal(decodeXtext(e), s);
  }
});

test('xtext: decode accepts lowercase hex, rejects malformed +XX', () => {
  assert.equal(decodeXtext('a+2bb'), 'a+b');
  assert.equal(decodeXtext('abc+'), null);
  assert.equal(decodeXtext('abc+4'), null);
  assert.equal(decodeXtext('+G0'), null);
  assert.equal(decodeXtext('+4+41'), null);
  assert.equal(decodeXtext('é'), null);
  assert.equal(decodeXtext('a\tb'), null);
});

test('xtext: strict validity', () => {
  assert.equal(isXtext('a=b'), true);
  assert.equal(isXtext('a=b', true), false);
  assert.equal(isXtext('a b', true), false);
  assert.equal(isXtext('+2b', true), false);
  assert.equal(isXtext('+2B', true), true);
});
