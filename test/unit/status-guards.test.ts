// The status page's guards: the CSRF form token (src/admin/form-token.ts) and the Host header check
// (src/admin/host-names.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { checkFormToken, issueFormToken, FORM_TOKEN_LIFETIME_MS } from '../../src/admin/form-token';
import { hostAllowed, hostOf } from '../../src/admin/host-names';

test('form token: good for the client it was issued to, until it expires', () => {
  const now = Date.UTC(2026, 0, 1);
  const token = issueFormToken('192.168.1.20', now);
  assert.equal(checkFormToken(token, '192.168.1.20', now + 1000), 'ok');
  assert.equal(checkFormToken(token, '192.168.1.21', now + 1000), 'invalid', 'another address');
  assert.equal(checkFormToken(token, '192.168.1.20', now + FORM_TOKEN_LIFETIME_MS + 1000), 'expired');
  assert.equal(checkFormToken('', '192.168.1.20', now), 'invalid');
  assert.equal(
    checkFormToken(
      token.replace(/^[0-9a-z]/, (c) => (c === '1' ? '2' : '1')),
      '192.168.1.20',
      now,
    ),
    'invalid',
    'a changed time',
  );
  assert.equal(checkFormToken(`${token}x`, '192.168.1.20', now), 'invalid');
});

test('Host header: the host part, without port, brackets or a final dot', () => {
  assert.equal(hostOf('Relaybox.LAN:8025'), 'relaybox.lan');
  assert.equal(hostOf('relaybox.lan.'), 'relaybox.lan');
  assert.equal(hostOf('[::1]:8025'), '::1');
  assert.equal(hostOf('192.168.1.20'), '192.168.1.20');
  assert.ok(hostAllowed(undefined, []), 'no Host (HTTP/1.0) is not a browser');
  assert.ok(hostAllowed('127.0.0.1:8025', []));
  assert.ok(hostAllowed('[::ffff:127.0.0.1]:8025', []));
  assert.ok(hostAllowed(`${os.hostname()}:8025`, []));
  assert.ok(hostAllowed('box.example.lan', ['box.example.lan']));
  assert.ok(!hostAllowed('attacker.example', ['box.example.lan']));
  assert.ok(!hostAllowed('box.example.lan.attacker.example', ['box.example.lan']));
  assert.ok(!hostAllowed('', []));
});
