// The shared authentication throttle (src/auth/throttle.ts): what counts as one address, the IPv6
// /64 count, expiry and the cap on remembered addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, PREFIX_FACTOR, throttleKeys } from '../../src/auth/throttle';

test('keys: IPv4 and IPv4-mapped IPv6 are one address; IPv6 is written one way and also counts for its /64', () => {
  assert.deepEqual(throttleKeys('192.0.2.7'), { address: '4:192.0.2.7' });
  assert.deepEqual(throttleKeys('::ffff:192.0.2.7'), { address: '4:192.0.2.7' });
  const a = throttleKeys('2001:db8:1:2::5');
  assert.deepEqual(throttleKeys('2001:0DB8:0001:0002:0000:0000:0000:0005'), a);
  assert.deepEqual(throttleKeys('2001:db8:1:2::5%eth0'), a);
  assert.equal(a.prefix, throttleKeys('2001:db8:1:2:ffff::1').prefix, 'same /64');
  assert.notEqual(a.prefix, throttleKeys('2001:db8:1:3::5').prefix, 'another /64');
  assert.deepEqual(throttleKeys('not an address'), { address: '?not an address' });
});

test('IPv6: one address is locked at the limit, its /64 neighbours are not; the /64 is locked after PREFIX_FACTOR times the limit', () => {
  const now = 1_000_000;
  const th = new AuthThrottle({ limit: 2, lockoutMs: 60_000, delayMs: 0 }, () => now);
  th.failed('2001:db8::1');
  assert.equal(th.failed('2001:db8::1').lockedOut, true);
  assert.equal(th.refusedFor('2001:db8::1'), 60_000);
  assert.equal(th.refusedFor('2001:db8::2'), 0, 'a neighbour in the same /64 is not refused yet');
  // rotating through the /64: each new address starts at one failure, but the /64 adds up
  let n = 2;
  for (let total = 2; total < 2 * PREFIX_FACTOR - 1; total++) assert.equal(th.failed(`2001:db8::${(n++).toString(16)}`).lockedOut, false);
  assert.equal(th.failed(`2001:db8::${n.toString(16)}`).lockedOut, true, `the /64 locks at ${2 * PREFIX_FACTOR}`);
  assert.equal(th.refusedFor('2001:db8::ffff'), 60_000, 'a fresh address in the /64 is refused');
  assert.equal(th.refusedFor('2001:db8:0:1::1'), 0, 'the next /64 is not');
  th.succeeded('2001:db8::ffff');
  assert.equal(th.refusedFor('2001:db8::ffff'), 60_000, 'a success does not clear the /64');
});

test('memory: failures are forgotten after the lockout, and at most maxTracked entries are kept (oldest failure first)', () => {
  let now = 1_000_000;
  const th = new AuthThrottle({ limit: 1, lockoutMs: 60_000, delayMs: 0 }, () => now, 100);
  for (let i = 0; i < 1000; i++) {
    th.failed(`10.0.${i >> 8}.${i & 255}`);
    now += 1;
  }
  assert.equal(th.tracked, 100);
  assert.equal(th.refusedFor('10.0.3.231'), 60_000 - 1, 'the newest are kept');
  assert.equal(th.refusedFor('10.0.0.0'), 0, 'the oldest went first');
  now += 60_000;
  assert.equal(th.tracked, 0, 'all forgotten once their lockout is over');
  th.failed('2001:db8::1');
  assert.equal(th.tracked, 2, 'an IPv6 failure: the address and its /64');
});
