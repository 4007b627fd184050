// --dnsbl: config parsing (E-MailRelay 9.7 syntax) and real lookups against a local DNS server (dns2
// on 127.0.0.1): listed, not listed, threshold, timeout, IPv6 names. Only that server is asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDnsbl, dnsblName, parseDnsblConfig, type DnsblConfig } from '../../src/smtp/dnsbl';
import { startDnsblServer } from '../lib/dnsbl-server';
import { cleanups } from '../lib/cleanup';

test('dnsbl config: zones, threshold, timeout, server; legacy order; errors', () => {
  assert.deepEqual(parseDnsblConfig(['bl.test'], '10.9.9.9'), {
    zones: ['bl.test'],
    threshold: 1,
    timeoutMs: 5000,
    refuseOnTimeout: false,
    server: '10.9.9.9:53',
  });
  assert.deepEqual(parseDnsblConfig(['a.test', 'b.test', '2', '1500', '127.0.0.1:5353']), {
    zones: ['a.test', 'b.test'],
    threshold: 2,
    timeoutMs: 1500,
    refuseOnTimeout: false,
    server: '127.0.0.1:5353',
  });
  assert.deepEqual(parseDnsblConfig(['a.test', '0', '3s', '::1']), {
    zones: ['a.test'],
    threshold: 0,
    timeoutMs: 3000,
    refuseOnTimeout: false,
    server: '[::1]:53',
  });
  assert.deepEqual(parseDnsblConfig(['a.test', '1', '-800']).refuseOnTimeout, true);
  assert.equal(parseDnsblConfig(['a.test', '1', '-800']).timeoutMs, 800);
  // legacy: dns-server,timeout,threshold,zones...
  assert.deepEqual(parseDnsblConfig(['127.0.0.1:53', '1000', '1', 'x.test', 'y.test']), {
    zones: ['x.test', 'y.test'],
    threshold: 1,
    timeoutMs: 1000,
    refuseOnTimeout: false,
    server: '127.0.0.1:53',
  });
  for (const bad of [
    [],
    ['1'],
    ['a.test', '1', 'x'],
    ['a.test', '1', '0'],
    ['a.test', '1', '100', 'not-an-ip'],
    ['a.test', '1', '100', '127.0.0.1', 'extra'],
    ['bad zone'],
  ]) {
    assert.throws(() => parseDnsblConfig(bad, '127.0.0.1'), /--dnsbl/, JSON.stringify(bad));
  }
});

test('dnsbl names: reversed IPv4 octets, IPv6 nibbles, mapped IPv4', () => {
  assert.equal(dnsblName('192.0.2.99', 'bl.test'), '99.2.0.192.bl.test');
  assert.equal(dnsblName('::ffff:192.0.2.99', 'bl.test'), '99.2.0.192.bl.test');
  assert.equal(dnsblName('2001:db8::1', 'bl.test'), `1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.bl.test`);
  assert.equal(dnsblName('nonsense', 'bl.test'), null);
});

function config(port: number, zones: string[], extra: Partial<DnsblConfig> = {}): DnsblConfig {
  return { zones, threshold: 1, timeoutMs: 3000, refuseOnTimeout: false, server: `127.0.0.1:${port}`, ...extra };
}

test('dnsbl lookups against a local DNS server: hit, miss, threshold, IPv6', async (t) => {
  const defer = cleanups(t);
  const dns = await startDnsblServer({ listed: ['99.2.0.192.one.test', '99.2.0.192.two.test', `1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.one.test`] });
  defer(() => dns.close());

  const hit = await checkDnsbl(config(dns.port, ['one.test']), '192.0.2.99');
  assert.deepEqual(hit, { refuse: true, listedBy: ['one.test'], unanswered: [], timedOut: false });
  assert.ok(dns.queries.some((q) => q.name === '99.2.0.192.one.test' && q.type === 1 && q.from === '127.0.0.1'));

  const miss = await checkDnsbl(config(dns.port, ['one.test', 'three.test']), '192.0.2.100');
  assert.deepEqual(miss, { refuse: false, listedBy: [], unanswered: [], timedOut: false });

  // threshold 2: one listing is not enough, two are
  assert.equal((await checkDnsbl(config(dns.port, ['one.test', 'three.test'], { threshold: 2 }), '192.0.2.99')).refuse, false);
  const both = await checkDnsbl(config(dns.port, ['one.test', 'two.test'], { threshold: 2 }), '192.0.2.99');
  assert.equal(both.refuse, true);
  assert.deepEqual(both.listedBy.sort(), ['one.test', 'two.test']);

  // threshold 0: looked up and reported, never refused
  const logOnly = await checkDnsbl(config(dns.port, ['one.test'], { threshold: 0 }), '192.0.2.99');
  assert.deepEqual([logOnly.refuse, logOnly.listedBy], [false, ['one.test']]);

  const v6 = await checkDnsbl(config(dns.port, ['one.test']), '2001:db8::1');
  assert.equal(v6.refuse, true);
  assert.ok(
    dns.queries.some((q) => q.name.endsWith('.2.one.test') && q.type === 28),
    'an AAAA query for an IPv6 client',
  );
});

test('dnsbl timeout: a silent zone lets the client in, or refuses it with a negative timeout', async (t) => {
  const defer = cleanups(t);
  const dns = await startDnsblServer({ listed: [], silentZones: ['slow.test'] });
  defer(() => dns.close());
  const started = Date.now();
  const allowed = await checkDnsbl(config(dns.port, ['slow.test'], { timeoutMs: 300 }), '192.0.2.7');
  const took = Date.now() - started;
  assert.deepEqual(allowed, { refuse: false, listedBy: [], unanswered: ['slow.test'], timedOut: true });
  assert.ok(took >= 290 && took < 2500, `decided at the timeout (${took} ms)`);
  const refused = await checkDnsbl(config(dns.port, ['slow.test'], { timeoutMs: 300, refuseOnTimeout: true }), '192.0.2.7');
  assert.equal(refused.refuse, true);
  assert.equal(refused.timedOut, true);
  // a quick "not listed" from one zone does not end the wait for the other
  const mixed = await checkDnsbl(config(dns.port, ['fast.test', 'slow.test'], { timeoutMs: 300, refuseOnTimeout: true }), '192.0.2.7');
  assert.deepEqual([mixed.refuse, mixed.unanswered], [true, ['slow.test']]);
});

test('dnsbl with no DNS server listening: not listed, decided without waiting for the timeout', async () => {
  const dns = await startDnsblServer({ listed: [] });
  const port = dns.port;
  await dns.close(); // nothing listens on this port now: ICMP port unreachable
  const r = await checkDnsbl(config(port, ['one.test'], { timeoutMs: 1500 }), '192.0.2.7');
  assert.equal(r.refuse, false);
});
