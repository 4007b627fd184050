import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderPage, duration, type PageData } from '../../src/admin/page';
import { classifyUpstreamError } from '../../src/admin/activity';
import { checkPassword, type RelayControl } from '../../src/admin/actions';

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
    queue: { ready: 0, busy: 0, failed: 1, oldestAgeSeconds: null, failures: [
      { id: 'emailrelay.1.2.3', from: 'a@b', to: ['"><script>alert(1)</script>@x'], reason: '550 <script>bad</script>', code: '550', attempts: 1, ageSeconds: 3 },
    ] },
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

test('ten wrong admin passwords in a minute lock both front ends for the rest of that minute', () => {
  const control = { adminPassword: 'right' } as unknown as RelayControl;
  const t0 = 1_000_000;
  assert.equal(checkPassword(control, 'right', t0), 'ok');
  for (let i = 0; i < 10; i++) assert.equal(checkPassword(control, `wrong${i}`, t0 + i), 'wrong');
  assert.equal(checkPassword(control, 'right', t0 + 100), 'locked', 'even the right one, while locked');
  assert.equal(checkPassword(control, 'right', t0 + 61_000), 'ok', 'a minute later');
  assert.equal(checkPassword({ adminPassword: null } as unknown as RelayControl, '', t0 + 62_000), 'wrong', 'no password configured: nothing matches');
});
