// The status HTTP server (--status-port): /metrics parsed and checked after known traffic, /health,
// the page's content and its retry action over plain HTTP (the browser test drives it for real).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statusRelay } from '../lib/relay';
import { runTool } from '../lib/smtp-client';
import { cleanup, filesEnding, makeMessage, sendAll, sinkFor, waitUntil, FAST_RETRY } from './forward-util';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format; checks that every sample belongs to a family with HELP and TYPE. */
function parseMetrics(text: string): Sample[] {
  const typed = new Map<string, string>();
  const helped = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    let m = /^# (HELP|TYPE) (\S+) (.+)$/.exec(line);
    if (m) {
      if (m[1] === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram'].includes(m[3]!), line);
        typed.set(m[2]!, m[3]!);
      } else helped.add(m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').split(',').filter(Boolean)) {
      const lm = /^([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"$/.exec(l);
      assert.ok(lm, `bad label ${l}`);
      labels[lm[1]!] = lm[2]!;
    }
    const family = m[1]!.replace(/_(bucket|sum|count)$/, (s) => (typed.get(m![1]!.slice(0, -s.length)) === 'histogram' ? '' : s));
    assert.ok(typed.has(family) && helped.has(family), `sample ${m[1]} has no HELP/TYPE`);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function metrics(port: number): Promise<Sample[]> {
  // curl, the real HTTP client a monitoring check would use.
  const r = await runTool('curl', ['-sS', '--max-time', '10', '-D', '-', `http://127.0.0.1:${port}/metrics`]);
  assert.equal(r.code, 0, r.stderr);
  const [head, body] = r.stdout.split('\r\n\r\n', 2);
  assert.match(head!, /^HTTP\/1\.1 200/);
  assert.match(head!, /content-type: text\/plain; version=0\.0\.4/i);
  return parseMetrics(body!);
}

test('/metrics after known traffic: received, forwarded, failed, deferred, retried, queue, latency, upstream errors, memory', async (t) => {
  const defer = cleanup(t);
  let laterRefused = false; // the message "later" gets one 451, then is accepted
  const sink = await sinkFor(defer, {
    rcpt: (a) => (a === 'bad@example.net' ? { code: 550, text: '5.1.1 no such user' } : undefined),
    data: (m) => (/Subject: later/.test(m.data.toString()) && !laterRefused ? ((laterRefused = true), { code: 451, text: '4.3.0 not now' }) : undefined),
  });
  const { relay, http } = await statusRelay(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', ...FAST_RETRY]);

  let s = await metrics(http);
  assert.equal(value(s, 'relaybox_messages_received_total'), 0);
  assert.equal(value(s, 'relaybox_queue_oldest_age_seconds'), 0);

  await sendAll(relay.port, [makeMessage('one'), makeMessage('two'), makeMessage('later'), makeMessage('refused', { to: ['bad@example.net'] })]);
  await sink.waitFor(3);
  await waitUntil(
    () => filesEnding(relay.spool, '.bad').length === 1 && filesEnding(relay.spool, '.envelope').length === 0,
    'one failed message and an empty queue',
  );
  await relay.waitForLog('message forwarded');
  s = await metrics(http);
  assert.equal(value(s, 'relaybox_messages_received_total'), 4);
  assert.equal(value(s, 'relaybox_messages_forwarded_total'), 3);
  assert.equal(value(s, 'relaybox_messages_failed_total'), 1);
  assert.equal(value(s, 'relaybox_messages_deferred_total'), 1, 'the 451 once');
  assert.equal(value(s, 'relaybox_messages_retried_total'), 1, 'the deferred message tried again');
  assert.equal(value(s, 'relaybox_queue_messages', { state: 'ready' }), 0);
  assert.equal(value(s, 'relaybox_queue_messages', { state: 'busy' }), 0);
  assert.equal(value(s, 'relaybox_queue_messages', { state: 'failed' }), 1);
  assert.equal(value(s, 'relaybox_forward_latency_seconds_count'), 3);
  assert.equal(value(s, 'relaybox_forward_latency_seconds_bucket', { le: '+Inf' }), 3);
  const buckets = s.filter((x) => x.name === 'relaybox_forward_latency_seconds_bucket').map((x) => x.value);
  assert.deepEqual(
    buckets,
    [...buckets].sort((a, b) => a - b),
    'buckets are cumulative',
  );
  assert.ok(value(s, 'relaybox_forward_latency_seconds_sum')! >= 0);
  assert.equal(value(s, 'relaybox_upstream_errors_total', { class: 'permanent' }), 1);
  assert.equal(value(s, 'relaybox_upstream_errors_total', { class: 'temporary' }), 1);
  assert.equal(value(s, 'relaybox_upstream_failing_seconds'), 0, 'refusals are not the upstream failing');
  assert.equal(value(s, 'relaybox_smtp_enabled'), 1);
  assert.ok(value(s, 'process_resident_memory_bytes')! > 10 * 1024 * 1024);
  assert.ok(value(s, 'relaybox_spool_free_bytes')! > 0);

  // A message waiting: the oldest-age gauge counts it.
  await sink.close();
  await sendAll(relay.port, [makeMessage('waits')]);
  await relay.waitForCount('message deferred: temporary failure', 2);
  s = await metrics(http);
  assert.equal(value(s, 'relaybox_queue_messages', { state: 'ready' })! + value(s, 'relaybox_queue_messages', { state: 'busy' })!, 1);
  assert.ok(value(s, 'relaybox_upstream_errors_total', { class: 'connect' })! >= 1);
});

test('status page over HTTP: failed message with its reason, retry needs the password, /health, 404', async (t) => {
  const defer = cleanup(t);
  let refuse = true;
  const sink = await sinkFor(defer, {
    rcpt: (a) => (refuse && a === 'bad@example.net' ? { code: 550, text: '5.1.1 <bad@example.net> no such user' } : undefined),
  });
  const { relay, http } = await statusRelay(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect'], 's3cret-pw');
  await sendAll(relay.port, [makeMessage('refused', { to: ['bad@example.net'] })]);
  await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'a failed message');
  const id = filesEnding(relay.spool, '.bad')[0]!.replace('.envelope.bad', '');

  const base = `http://127.0.0.1:${http}`;
  let res = await fetch(`${base}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy')!, /default-src 'none'/);
  const html = await res.text();
  assert.match(html, /<meta name="viewport"/);
  assert.doesNotMatch(html, /<script/i, 'no JavaScript');
  assert.ok(html.includes(id));
  assert.ok(html.includes('550 5.1.1 &lt;bad@example.net&gt; no such user'), 'the reason, escaped');
  assert.match(html, /<b id="q-failed">1<\/b>/);
  const token = /<input type="hidden" name="token" value="([^"]+)">/.exec(html)![1]!;

  res = await fetch(`${base}/retry`, { method: 'POST', body: new URLSearchParams({ token, id, password: 'wrong' }), redirect: 'manual' });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/?error=wrong-password');
  assert.match(await (await fetch(`${base}/?error=wrong-password`)).text(), /<p class="error" role="alert">Wrong admin password: nothing was done\.<\/p>/);
  assert.doesNotMatch(await (await fetch(`${base}/?error=Call+this+number`)).text(), /Call this number/, 'a crafted link puts no words on the page');
  assert.equal(filesEnding(relay.spool, '.bad').length, 1, 'nothing retried');
  await relay.waitForLog('status page: wrong admin password');

  refuse = false;
  res = await fetch(`${base}/retry`, { method: 'POST', body: new URLSearchParams({ token, id, password: 's3cret-pw' }), redirect: 'manual' });
  assert.equal(res.status, 303);
  await sink.waitFor(1);
  await relay.waitForLog((l) => l.msg === 'message forwarded' && l.id === id);
  const after = await (await fetch(`${base}/`)).text();
  assert.match(after, /<b id="q-failed">0<\/b>/);
  assert.ok(after.includes(`<div class="msg" id="delivered-${id}">`), 'listed under recent deliveries');

  const health = (await (await fetch(`${base}/health`)).json()) as { spool: { freeBytes: number }; memory: { totalBytes: number }; load: number[] };
  assert.ok(health.spool.freeBytes > 0);
  assert.ok(health.memory.totalBytes > 0);
  assert.equal(health.load.length, 3);
  assert.equal((await fetch(`${base}/nowhere`)).status, 404);
  assert.equal((await fetch(`${base}/retry`)).status, 405);
  assert.ok(!JSON.stringify(relay.logs).includes('s3cret-pw'), 'the password is not logged');
});

test('status page without --admin-password-file offers no actions and refuses them', async (t) => {
  const defer = cleanup(t);
  const { relay, http } = await statusRelay(defer, []);
  const html = await (await fetch(`http://127.0.0.1:${http}/`)).text();
  assert.doesNotMatch(html, /<form/);
  assert.match(html, /none: no --forward-to/);
  const res = await fetch(`http://127.0.0.1:${http}/retry`, { method: 'POST', body: new URLSearchParams({ id: 'x', password: '' }), redirect: 'manual' });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/?error=actions-off');
  assert.equal(relay.proc.exitCode, null);
});
