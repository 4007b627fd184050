import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressBytes, parseAddressRange, rangeContains, type AddressRange } from '../../src/net/address-range';
import { findTrust, parseSecrets } from '../../src/auth/secrets';

function range(text: string): AddressRange {
  const r = parseAddressRange(text);
  if ('error' in r) throw new Error(r.error);
  return r;
}

function check(text: string, inside: string[], outside: string[]): void {
  const r = range(text);
  for (const a of inside) assert.equal(rangeContains(r, a), true, `${a} should be in ${text}`);
  for (const a of outside) assert.equal(rangeContains(r, a), false, `${a} should not be in ${text}`);
}

test('address bytes: IPv4, IPv6, compressed forms, embedded IPv4, zone ids', () => {
  assert.deepEqual([...addressBytes('1.2.3.4')!], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
  assert.deepEqual(addressBytes('::ffff:1.2.3.4'), addressBytes('1.2.3.4'));
  assert.deepEqual(addressBytes('::FFFF:0102:0304'), addressBytes('1.2.3.4'));
  assert.deepEqual([...addressBytes('2001:db8::1')!], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...addressBytes('::')!], new Array(16).fill(0));
  assert.deepEqual(addressBytes('fe80::1%eth0'), addressBytes('fe80::1'));
  assert.equal(addressBytes('1.2.3'), null);
  assert.equal(addressBytes('host.example'), null);
});

test('IPv4 CIDR: /32, /24, /21 (not the /22 E-MailRelay generates), /0', () => {
  check('192.168.1.20', ['192.168.1.20', '::ffff:192.168.1.20'], ['192.168.1.21', '192.168.1.2']);
  check('192.168.1.20/32', ['192.168.1.20'], ['192.168.1.21']);
  check('192.168.1.0/24', ['192.168.1.0', '192.168.1.255', '::ffff:192.168.1.7'], ['192.168.2.0', '192.168.0.255']);
  // 10.0.8.0/21 is 10.0.8.0 - 10.0.15.255; E-MailRelay's generated form would only match 10.0.8.0 - 10.0.11.255.
  check('10.0.8.0/21', ['10.0.8.0', '10.0.11.255', '10.0.12.1', '10.0.15.255'], ['10.0.7.255', '10.0.16.0']);
  check('172.16.0.0/12', ['172.16.0.1', '172.31.255.255'], ['172.32.0.0', '172.15.255.255']);
  check('0.0.0.0/0', ['1.2.3.4', '255.255.255.255', '::ffff:8.8.8.8'], ['::1', '2001:db8::1']);
  check('1.2.3.4/31', ['1.2.3.4', '1.2.3.5'], ['1.2.3.3', '1.2.3.6']);
  check('128.0.0.0/1', ['128.0.0.0', '255.1.1.1'], ['127.255.255.255']);
});

test('IPv4 wildcards', () => {
  check('192.168.1.*', ['192.168.1.0', '192.168.1.255'], ['192.168.2.1']);
  check('192.168.*.*', ['192.168.0.1', '192.168.255.255'], ['192.169.0.1']);
  check('10.*.*.*', ['10.1.2.3'], ['11.0.0.0']);
  check('*.*.*.*', ['1.2.3.4', '::ffff:1.2.3.4'], ['::1']);
});

test('IPv6 CIDR: /128, /64, /0, IPv4-mapped ranges', () => {
  check('::1', ['::1', '0:0:0:0:0:0:0:1'], ['::2', '127.0.0.1']);
  check('::1/128', ['::1'], ['::']);
  check('fe80::/64', ['fe80::1', 'fe80::ffff:ffff:ffff:ffff', 'fe80::1%eth0'], ['fe80:0:0:1::1', 'fe81::1']);
  check('2001:db8::/32', ['2001:db8:ffff::1'], ['2001:db9::1']);
  check('fd00::/8', ['fd12:3456::1'], ['fc00::1']);
  check('::/0', ['::1', '2001:db8::1', '1.2.3.4'], []);
  // the mapped form of an IPv4 network matches IPv4 peers in both notations
  check('::ffff:192.168.0.0/120', ['192.168.0.9', '::ffff:192.168.0.9'], ['192.168.1.9']);
  check('2001:db8::5/127', ['2001:db8::4', '2001:db8::5'], ['2001:db8::6']);
});

test('bad ranges are refused with a reason', () => {
  for (const bad of [
    '192.168.1.0/33',
    '::1/129',
    '300.1.1.1',
    '1.2.3.*/24',
    'host.example',
    '192.168.*.1',
    '::ffff:1.2.3.4/64',
    '1.2.3.4/',
    '1.2.3.4/x',
    'fe80::1%eth0',
  ]) {
    assert.ok('error' in parseAddressRange(bad), bad);
  }
  const r = parseAddressRange('192.168.1.5/24');
  assert.ok(!('error' in r) && r.hostBitsSet);
  assert.equal(rangeContains(r as AddressRange, '192.168.1.99'), true);
});

test('trust lines: the most specific range wins; bad ranges are reported with their line and skipped', () => {
  const { secrets, problems } = parseSecrets(
    [
      'server none *.*.*.* anyone',
      'server none 192.168.0.0/16 lan',
      'server none 192.168.7.0/24 office',
      'server none 192.168.7.9 printer',
      'server none 10.0.0.0/33 broken',
      'server none fd00::/8 ula',
      'server none 10.1.1.1/8 sloppy',
    ].join('\n'),
    'trust.auth',
  );
  assert.deepEqual(
    problems.map((p) => [p.line, p.level]),
    [
      [5, 'error'],
      [7, 'warning'],
    ],
  );
  assert.match(problems[0].message, /invalid prefix length in "10.0.0.0\/33"/);
  assert.equal(findTrust(secrets, '192.168.7.9')?.keyword, 'printer');
  assert.equal(findTrust(secrets, '::ffff:192.168.7.9')?.keyword, 'printer');
  assert.equal(findTrust(secrets, '192.168.7.10')?.keyword, 'office');
  assert.equal(findTrust(secrets, '192.168.8.1')?.keyword, 'lan');
  assert.equal(findTrust(secrets, '10.200.0.1')?.keyword, 'sloppy');
  assert.equal(findTrust(secrets, '8.8.8.8')?.keyword, 'anyone');
  assert.equal(findTrust(secrets, 'fd00::1')?.keyword, 'ula');
  assert.equal(findTrust(secrets, '2001:db8::1'), undefined);
});
