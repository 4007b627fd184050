// AlertMonitor on a real spool directory: a watched secret's expiry (set by other code through
// the relay's events) raises one alert message in the spool, and the next is held back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AlertMonitor } from '../../src/health/alerts';
import { Activity } from '../../src/events/activity';
import { RelayEvents } from '../../src/events/relay-events';
import { Spool } from '../../src/spool/store';
import { decodeEnvelope } from '../../src/spool/envelope';
import type { Log } from '../../src/log';
import { tempDir, removeDir } from '../lib/relay';

test('a watched secret expiring within --alert-expiry-days: one alert in the spool, then held back', async (t) => {
  const dir = tempDir();
  t.after(() => removeDir(dir));
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const record = (level: string) => (fields: Record<string, unknown>, msg: string) => void lines.push({ level, fields, msg });
  const log = { info: record('info'), warn: record('warn'), error: record('error'), debug: record('debug') } as unknown as Log;
  const requests: string[] = [];
  const name = 'Microsoft client secret (test)';
  const events = new RelayEvents();
  const activity = new Activity(events);
  events.setExpiry(name, Date.now() + 3 * 86_400_000);
  const monitor = new AlertMonitor({
    config: { to: 'ops@example.org', from: 'relaybox@box.lan', intervalSeconds: 3600, diskPercent: 0, upstreamSeconds: 1800, expiryDays: 14 },
    spool: new Spool(dir),
    log,
    domain: 'box.lan',
    requestForward: (why) => requests.push(why),
    certificates: [],
    activity,
  });
  t.after(() => monitor.stop());
  monitor.start();
  const deadline = Date.now() + 10000;
  while (!lines.some((l) => l.msg === 'alert queued')) {
    assert.ok(Date.now() < deadline, 'no alert within 10 s');
    await new Promise((r) => setImmediate(r));
  }
  const envelopes = readdirSync(dir).filter((n) => n.endsWith('.envelope'));
  assert.equal(envelopes.length, 1);
  const env = decodeEnvelope(readFileSync(path.join(dir, envelopes[0]!)));
  assert.deepEqual(env.toRemote, ['ops@example.org']);
  assert.equal(env.from, 'relaybox@box.lan');
  const content = readFileSync(path.join(dir, envelopes[0]!.replace('.envelope', '.content')), 'utf8');
  assert.match(content, /^Subject: \[relaybox alert\] certificate or secret expiring within 14 days\r$/m);
  assert.ok(content.includes(`${name}: expires `));
  assert.match(content, /^Auto-Submitted: auto-generated\r$/m);
  assert.deepEqual(requests, ['alert (certificate)']);

  await monitor.raise('certificate', 'again', ['again']);
  assert.equal(readdirSync(dir).filter((n) => n.endsWith('.envelope')).length, 1, 'held back within --alert-interval');
  assert.ok(lines.some((l) => l.msg === 'alert held back (--alert-interval)' && l.fields.alert === 'certificate'));
});
