import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { SaslExchange } from '../../src/auth/sasl-server';
import { passwdHash } from '../../src/auth/cram';
import { parseSecrets } from '../../src/auth/secrets';

const { secrets } = parseSecrets(`server plain alice alice+20pw\nserver md5 carol ${passwdHash('carol pw')}\n`, 'test');

function exchange(mech: ConstructorParameters<typeof SaslExchange>[0]) {
  return new SaslExchange(mech, () => secrets, 'relay.test');
}

test('PLAIN with and without an initial response ends in the credentials; authorisation id must match', () => {
  assert.deepEqual(exchange('PLAIN').start(Buffer.from('\0alice\0alice pw')), { kind: 'password', user: 'alice', password: 'alice pw' });
  assert.equal(exchange('PLAIN').start(Buffer.from('bob\0alice\0alice pw')).kind, 'failure');
  assert.equal(exchange('PLAIN').start(Buffer.from('garbage')).kind, 'failure');
  const x = exchange('PLAIN');
  assert.deepEqual(x.start(null), { kind: 'challenge', data: Buffer.alloc(0) });
  assert.deepEqual(x.step(Buffer.from('alice\0alice\0pw')), { kind: 'password', user: 'alice', password: 'pw' });
});

test('LOGIN asks Username: then Password:', () => {
  const x = exchange('LOGIN');
  assert.equal((x.start(null) as { data: Buffer }).data.toString(), 'Username:');
  assert.equal((x.step(Buffer.from('alice')) as { data: Buffer }).data.toString(), 'Password:');
  assert.deepEqual(x.step(Buffer.from('alice pw')), { kind: 'password', user: 'alice', password: 'alice pw' });
});

test('CRAM-MD5 with plain and hashed secrets, CRAM-SHA256 with plain; no initial response allowed', () => {
  for (const [mech, hash, user, pw] of [
    ['CRAM-MD5', 'md5', 'alice', 'alice pw'],
    ['CRAM-MD5', 'md5', 'carol', 'carol pw'],
    ['CRAM-SHA256', 'sha256', 'alice', 'alice pw'],
  ] as const) {
    const x = exchange(mech);
    const step = x.start(null);
    assert.equal(step.kind, 'challenge');
    const challenge = (step as { data: Buffer }).data.toString();
    assert.match(challenge, /^<\d+\.\d+@relay\.test>$/);
    const digest = createHmac(hash, pw).update(challenge).digest('hex');
    assert.deepEqual(x.step(Buffer.from(`${user} ${digest}`)), { kind: 'success', user }, `${mech} ${user}`);
    const y = exchange(mech);
    y.start(null);
    assert.equal(y.step(Buffer.from(`${user} ${'0'.repeat(digest.length)}`)).kind, 'failure');
  }
  assert.equal(exchange('CRAM-SHA1').start(null).kind, 'challenge');
  const sha = exchange('CRAM-SHA1');
  const c = (sha.start(null) as { data: Buffer }).data.toString();
  assert.equal(
    sha.step(Buffer.from(`carol ${createHmac('sha1', 'carol pw').update(c).digest('hex')}`)).kind,
    'failure',
    'a hashed md5 secret is for CRAM-MD5 only',
  );
  assert.equal(exchange('CRAM-MD5').start(Buffer.from('x')).kind, 'failure');
});
