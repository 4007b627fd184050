// The pieces of the status page's sign-in and recent log that need no network: the "page:" secrets
// lines, the token file's place, the sign-in section and the recent log's ring and texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { parseSecrets } from '../../src/auth/secrets';
import { pageScope, pageTokenFile, SCOPE_GRAPH_DELEGATED, SCOPE_SMTP_DELEGATED } from '../../src/forward/oauth/page-grant';
import { signInSection } from '../../src/admin/signin-page';
import { deviceWarnings, EventLog, recordSteps } from '../../src/admin/event-log';
import type { SignInView } from '../../src/forward/oauth/page-signins';

test('page: lines are read as mailboxes that sign in on the page; a broken one says how to write it', () => {
  const { secrets, problems } = parseSecrets(
    [
      'client oauth-refresh scanner@contoso.com page:microsoft:contoso.onmicrosoft.com:11111111-2222-3333-4444-555555555555',
      'client oauth-refresh me@example.org page:google:123-abc.apps.googleusercontent.com:GOCSPX-a+2Bb second',
      'client oauth-refresh x@contoso.com page:microsoft:contoso.onmicrosoft.com third',
      'client oauth-refresh y@contoso.com page:yahoo:a:b fourth',
    ].join('\n'),
    'relaybox.secrets',
  );
  const ms = secrets.client.get('')!.grant!;
  assert.equal(ms.type, 'oauth-refresh');
  assert.deepEqual(ms.type === 'oauth-refresh' && ms.page, {
    provider: 'microsoft',
    tenant: 'contoso.onmicrosoft.com',
    clientId: '11111111-2222-3333-4444-555555555555',
  });
  const g = secrets.client.get('second')!.grant!;
  assert.ok(g.type === 'oauth-refresh' && g.page?.provider === 'google');
  assert.equal(g.type === 'oauth-refresh' && g.page?.provider === 'google' && g.page.clientSecret.text(), 'GOCSPX-a+b', 'the secret is xtext');
  assert.ok(!JSON.stringify(secrets.client.get('second')).includes('GOCSPX'), 'the client secret is not in JSON');
  const texts = problems.map((p) => `${p.line}: ${p.message}`).join('\n');
  assert.match(texts, /^3: .*"" is not an application \(client\) id: write page:microsoft:<tenant>:<client-id> or page:google:<client-id>:<client-secret>/m);
  assert.match(texts, /^4: .*"page:yahoo" names no provider/m);
});

test('the token file is per mailbox and application, under the state directory; the scope follows the transport', () => {
  const ms = { provider: 'microsoft' as const, tenant: 't', clientId: 'c' };
  const a = pageTokenFile('/spool/.relaybox', 'Scanner@Contoso.com', ms);
  assert.match(a, /^\/spool\/\.relaybox\/signin\/[0-9a-f]{32}\.json$/);
  assert.equal(a, pageTokenFile('/spool/.relaybox', 'scanner@contoso.com', ms), 'the mailbox is case-insensitive');
  assert.notEqual(a, pageTokenFile('/spool/.relaybox', 'scanner@contoso.com', { ...ms, clientId: 'other' }));
  assert.equal(pageScope(ms, false), SCOPE_SMTP_DELEGATED);
  assert.equal(pageScope(ms, true), SCOPE_GRAPH_DELEGATED);
});

function view(over: Partial<SignInView> = {}): SignInView {
  return {
    id: 'abc123',
    mailbox: 'scanner@contoso.com',
    provider: 'microsoft',
    file: 'relaybox.secrets',
    line: 3,
    signedInAt: null,
    token: { validUntil: 0, lastRefreshAt: 0, lastError: '', lastErrorAt: 0 },
    pending: null,
    problem: '',
    ...over,
  };
}

test('the sign-in section: state, code and QR code while pending, escaped, and a button only with actions on', () => {
  const now = Date.parse('2026-12-03T08:00:00Z');
  const idle = signInSection({ signIns: [view()], actionsEnabled: true, formToken: 'tok', now });
  assert.match(idle, /not signed in yet/);
  assert.match(idle, /Microsoft 365, relaybox\.secrets line 3/);
  assert.match(idle, /<form class="retry" method="post" action="\/signin">.*name="id" value="abc123"/s);
  assert.match(idle, /<button type="submit">Sign in<\/button>/);
  const pending = signInSection({
    signIns: [view({ pending: { userCode: 'AB<CD', verificationUrl: 'https://microsoft.com/devicelogin?x="y"', expiresAt: now + 600_000 } })],
    actionsEnabled: true,
    formToken: 'tok',
    now,
  });
  assert.match(pending, /<b class="user-code">AB&lt;CD<\/b>/);
  assert.match(pending, /href="https:\/\/microsoft\.com\/devicelogin\?x=&quot;y&quot;"/);
  assert.match(pending, /<svg role="img" aria-label="QR code of https:\/\/microsoft\.com\/devicelogin\?x=&quot;y&quot;" class="qr" /);
  assert.match(pending, /valid for 10 min 0 s more/);
  assert.doesNotMatch(pending, /action="\/signin"/, 'no second sign-in while one is pending');
  const done = signInSection({
    signIns: [view({ signedInAt: now - 60_000, token: { validUntil: now + 3_600_000, lastRefreshAt: now - 60_000, lastError: '', lastErrorAt: 0 } })],
    actionsEnabled: false,
    formToken: 'tok',
    now,
  });
  assert.match(done, /signed in on 2026-12-03 07:59:00 UTC/);
  assert.match(done, /valid until 2026-12-03 09:00:00 UTC \(1 h 0 min\)/);
  assert.doesNotMatch(done, /<form/);
  assert.match(done, /needs an admin password/);
  assert.equal(signInSection({ signIns: [], actionsEnabled: true, formToken: 'tok', now }), '', 'no section without page: lines');
});

test('the recent log keeps the last events, newest first; device warnings keep only the address and the sentence', () => {
  const events = new EventLog(3);
  const activity = new EventEmitter();
  let clock = 1000;
  const stop = recordSteps(activity, events, () => clock++);
  activity.emit('step', 'received', { id: 'm1', client: '192.168.1.9', from: 'scan@lan' });
  activity.emit('step', 'deferred', { id: 'm1', reason: 'mailbox x is not signed in yet', retryInSeconds: 60 });
  const tap = deviceWarnings(events, () => clock++);
  tap(40, { address: '198.51.100.7', password: 'hunter2' }, 'connection refused: not a local address');
  tap(40, { step: 'failed', address: '1.2.3.4' }, 'a step, counted once already');
  tap(30, { address: '1.2.3.4' }, 'info is not a warning');
  activity.emit('step', 'failed', { id: 'm2', reason: 'mailbox unavailable', code: 550 });
  stop();
  activity.emit('step', 'received', { id: 'm3' });
  const got = events.entries();
  assert.equal(got.length, 3, 'bounded');
  assert.deepEqual(
    got.map((e) => e.text),
    ['failed: 550 mailbox unavailable', 'connection refused: not a local address', 'deferred (will be tried again in 60 s): mailbox x is not signed in yet'],
  );
  assert.deepEqual(got[1], { at: 1002, kind: 'device', address: '198.51.100.7', text: 'connection refused: not a local address' });
});
