import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderPage, type PageData } from '../../src/admin/page';
import { duration } from '../../src/format';
import { classifyUpstreamError } from '../../src/events/relay-events';
import { checkPassword, lockedForSeconds, type RelayControl } from '../../src/admin/actions';
import { AuthThrottle } from '../../src/auth/throttle';

const health = {
  spool: { path: '/s', freeBytes: 1, totalBytes: 2, freePercent: 50 },
  memory: { totalBytes: 2, availableBytes: 1, processRssBytes: 1, processHeapUsedBytes: 1 },
  load: [0, 0, 0] as [number, number, number],
  cpuTemperatureCelsius: 48.5,
  systemUptimeSeconds: 90000,
  processUptimeSeconds: 5,
};

function page(over: Partial<PageData> = {}): string {
  return renderPage({
    title: 'relaybox on <box>',
    queue: {
      ready: 0,
      busy: 0,
      failed: 1,
      oldestAgeSeconds: null,
      failures: [
        {
          id: 'emailrelay.1.2.3',
          from: 'a@b',
          to: ['"><script>alert(1)</script>@x'],
          reason: '550 <script>bad</script>',
          code: '550',
          attempts: 1,
          ageSeconds: 3,
        },
      ],
    },
    recent: [],
    upstream: null,
    health,
    smtpEnabled: true,
    counts: { received: 1, forwarded: 0, failed: 1, retried: 0 },
    actionsEnabled: true,
    formToken: 'token-1',
    now: 0,
    ...over,
  });
}

test('the status page escapes everything from the spool and the network', () => {
  const html = page({ notice: '<img src=x>' });
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<img/);
  assert.ok(html.includes('550 &lt;script&gt;bad&lt;/script&gt;'), 'code not repeated when the reason starts with it');
  assert.ok(html.includes('relaybox on &lt;box&gt;'));
  assert.ok(html.includes('48.5 °C'));
});

test('retry forms only when actions are enabled', () => {
  assert.match(page(), /<form class="retry" method="post" action="\/retry">/);
  assert.match(page(), /<button type="submit" class="delete" formaction="\/delete">Delete<\/button>/);
  const logged = page({ events: [{ at: 0, kind: 'device', address: '10.0.0.9', text: 'refused <b>: use starttls' }] });
  assert.match(logged, /<li class="device">.*device 10\.0\.0\.9: refused &lt;b&gt;: use starttls<\/li>/);
  const off = page({ actionsEnabled: false });
  assert.doesNotMatch(off, /<form/);
  assert.match(off, /--admin-password-file/);
});

test('durations read as a person would say them', () => {
  assert.equal(duration(5), '5 s');
  assert.equal(duration(125), '2 min 5 s');
  assert.equal(duration(7260), '2 h 1 min');
  assert.equal(duration(90000), '1 d 1 h');
});

test('upstream errors are sorted into classes', () => {
  assert.equal(classifyUpstreamError({ message: 'authentication failed: 535 nope', code: 535 }), 'auth');
  assert.equal(classifyUpstreamError({ message: 'connect ECONNREFUSED 127.0.0.1:25', atConnect: true }), 'connect');
  assert.equal(classifyUpstreamError({ message: 'Greeting never received (timeout)', atConnect: true }), 'timeout');
  assert.equal(classifyUpstreamError({ message: 'certificate has expired', atConnect: true }), 'tls');
  assert.equal(classifyUpstreamError({ message: 'DATA: 451 later', code: 451 }), 'temporary');
  assert.equal(classifyUpstreamError({ message: 'RCPT TO: 550 no', code: 550 }), 'permanent');
  assert.equal(classifyUpstreamError({ message: 'socket closed' }), 'network');
});

test('wrong admin passwords lock out the address they come from, on both front ends, and no other; SMTP and POP failures count too', async () => {
  let now = 1_000_000;
  const authThrottle = new AuthThrottle({ limit: 3, lockoutMs: 600_000, delayMs: 0 }, () => now);
  const control = { adminPassword: 'right', authThrottle } as unknown as RelayControl;
  assert.equal(await checkPassword(control, 'right', '192.168.1.9'), 'ok');
  for (let i = 0; i < 3; i++) assert.equal(await checkPassword(control, `wrong${i}`, '192.168.1.66'), 'wrong');
  assert.equal(await checkPassword(control, 'right', '192.168.1.66'), 'locked', 'even the right one, from the guessing address');
  assert.equal(lockedForSeconds(control, '192.168.1.66'), 600);
  assert.equal(await checkPassword(control, 'right', '192.168.1.9'), 'ok', 'the administrator elsewhere gets in');
  authThrottle.failed('192.168.1.7'); // SMTP AUTH or POP failures from the same address count
  authThrottle.failed('192.168.1.7');
  assert.equal(await checkPassword(control, 'wrong', '192.168.1.7'), 'wrong');
  assert.equal(await checkPassword(control, 'right', '192.168.1.7'), 'locked');
  now += 600_000;
  assert.equal(await checkPassword(control, 'right', '192.168.1.66'), 'ok', 'after the lockout');
  assert.equal(
    await checkPassword({ adminPassword: null, authThrottle } as unknown as RelayControl, '', '192.168.1.9'),
    'wrong',
    'no password configured: nothing matches',
  );
});
