import { test } from 'node:test';
import assert from 'node:assert/strict';

import { isLocalAddress, unmapAddress } from '../../src/net/client-admission';

// Without --remote-clients only these may connect (E-MailRelay 1.3): 127/8, 10/8, 172.16/12,
// 192.168/16, 169.254/16, ::1, fe80::/10, fc00::/7 and the IPv4-mapped forms of the IPv4 ranges.
const LOCAL = [
  '127.0.0.1',
  '127.0.0.0',
  '127.255.255.255',
  '127.1.2.3',
  '10.0.0.0',
  '10.0.0.1',
  '10.255.255.255',
  '172.16.0.0',
  '172.16.0.1',
  '172.20.1.1',
  '172.31.255.255',
  '192.168.0.0',
  '192.168.1.20',
  '192.168.255.255',
  '169.254.0.0',
  '169.254.1.1',
  '169.254.255.255',
  '::1',
  'fe80::',
  'fe80::1',
  'fe80::fc:ff:fe00:1',
  'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  'fc00::',
  'fc00::1',
  'fd00::2',
  'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  '::ffff:10.1.2.3',
  '::ffff:127.0.0.1',
  '::FFFF:192.168.0.1',
  '::ffff:172.31.255.255',
  'fe80::1%eth0',
  'fe80::1%1',
];

const REMOTE = [
  '8.8.8.8',
  '1.1.1.1',
  '0.0.0.0',
  '255.255.255.255',
  '9.255.255.255',
  '11.0.0.0',
  '126.255.255.255',
  '128.0.0.0',
  '172.15.255.255',
  '172.32.0.0',
  '192.167.255.255',
  '192.169.0.0',
  '169.253.255.255',
  '169.255.0.0',
  '192.0.2.1',
  '198.51.100.1',
  '203.0.113.1',
  '100.64.0.1',
  '::',
  '::2',
  '2001:db8::1',
  '2001:4860:4860::8888',
  'fec0::1',
  'fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  'fe00::1',
  '::ffff:8.8.8.8',
  '::ffff:172.15.255.255',
  '::ffff:192.0.2.1',
];

const NOT_ADDRESSES = ['', 'localhost', '127.0.0.1.5', '256.1.1.1', 'not an address', '::ffff:', '10.0.0.1/8', ':::1'];

test('local and private addresses may connect without --remote-clients', () => {
  for (const a of LOCAL) assert.equal(isLocalAddress(a), true, a);
});

test('public and special-purpose addresses are not local', () => {
  for (const a of REMOTE) assert.equal(isLocalAddress(a), false, a);
});

test('172.16/12 edges: 172.15.255.255 is remote, 172.16.0.0 and 172.31.255.255 are local, 172.32.0.0 is remote', () => {
  assert.equal(isLocalAddress('172.15.255.255'), false);
  assert.equal(isLocalAddress('172.16.0.0'), true);
  assert.equal(isLocalAddress('172.31.255.255'), true);
  assert.equal(isLocalAddress('172.32.0.0'), false);
});

test('the answers stay right when asked again, and after more addresses than are remembered (1024)', () => {
  for (let round = 0; round < 2; round++) {
    for (const a of LOCAL) assert.equal(isLocalAddress(a), true, a);
    for (const a of REMOTE) assert.equal(isLocalAddress(a), false, a);
    for (let i = 0; i < 1500; i++) assert.equal(isLocalAddress(`10.9.${i >> 8}.${i & 255}`), true);
    for (let i = 0; i < 1500; i++) assert.equal(isLocalAddress(`2001:db8::${i.toString(16)}`), false);
  }
});

test('IPv4-mapped IPv6 addresses are judged by their IPv4 address', () => {
  assert.equal(isLocalAddress('::ffff:10.1.2.3'), true);
  assert.equal(isLocalAddress('::ffff:8.8.8.8'), false);
  assert.equal(unmapAddress('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(unmapAddress('::FFFF:8.8.8.8'), '8.8.8.8');
  assert.equal(unmapAddress('2001:db8::1'), '2001:db8::1');
  assert.equal(unmapAddress('127.0.0.1'), '127.0.0.1');
});

test('strings that are not IP addresses are never local (and do not throw)', () => {
  for (const a of NOT_ADDRESSES) assert.equal(isLocalAddress(a), false, JSON.stringify(a));
});
