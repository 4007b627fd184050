// Sign in from the status page: a "page:" oauth-refresh line, the device-code flow driven through
// the page's form against the HTTPS stand-in for Microsoft's and Google's endpoints, the refresh
// token kept 0600 in the spool's state directory, and the message that waited for the sign-in
// forwarded with XOAUTH2 and the new token, at once (the back-off cleared). Then the ways a sign-in
// ends without a token (declined, expired, slow_down on the way), each said on the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { adminPasswordArgs, freePort, type RelayProcess } from '../lib/relay';
import type { StandIn } from '../lib/oauth-standin';
import { cleanup, deferredMessage, makeMessage, relayFor, sendAll, waitUntil } from './forward-util';
import { assertNotLogged, caEnv, oauthSinkFor, secretsFile, standInFor, workDir } from './oauth-util';

const TENANT = 'contoso.test';
const MB = 'scanner@contoso.test';
const PASSWORD = 'signin-admin-pw';

async function pageText(http: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${http}/`);
  assert.equal(res.status, 200);
  return res.text();
}

/** Press "Sign in" for the first mailbox on the page, with the page's own form token. */
async function pressSignIn(http: number, password = PASSWORD): Promise<Response> {
  const html = await pageText(http);
  const form =
    /<form class="retry" method="post" action="\/signin"><input type="hidden" name="token" value="([^"]+)"><input type="hidden" name="id" value="([^"]+)">/.exec(
      html,
    );
  assert.ok(form, 'the page has a Sign in form');
  return fetch(`http://127.0.0.1:${http}/signin`, {
    method: 'POST',
    body: new URLSearchParams({ token: form[1]!, id: form[2]!, password }),
    redirect: 'manual',
  });
}

async function userCodeOnPage(http: number): Promise<string> {
  let code = '';
  await waitUntil(async () => {
    code = /<b class="user-code">([^<]+)<\/b>/.exec(await pageText(http))?.[1] ?? '';
    return !!code;
  }, 'the user code on the page');
  return code;
}

async function signInRelay(
  defer: (fn: () => unknown) => void,
  s: StandIn,
  sinkPort: number,
  lines: string[],
  extra: string[] = [],
): Promise<{ relay: RelayProcess; http: number; args: string[] }> {
  const dir = workDir(defer);
  const secrets = secretsFile(dir, lines);
  const http = await freePort();
  const args = [
    '--forward-to',
    `127.0.0.1:${sinkPort}`,
    '--client-tls',
    '--forward-on-disconnect',
    '--client-auth',
    secrets,
    '--oauth-authority',
    s.url,
    '--oauth-google-authority',
    s.url,
    '--status-port',
    String(http),
    ...adminPasswordArgs(defer, PASSWORD),
    '--verbose',
    ...extra,
  ];
  const relay = await relayFor(defer, args, { env: caEnv() });
  await relay.waitForLog((l) => l.msg === 'listening for the status page');
  return { relay, http, args };
}

test('page sign-in (Microsoft): code, address and QR code on the page; after the sign-in the waiting message goes with the new token', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  s.users.add(MB);
  s.microsoftApps.set('pub-app', { tenant: TENANT, publicClient: true, smtpMailboxes: [] });
  const sink = await oauthSinkFor(defer, s);
  const { relay, http, args } = await signInRelay(defer, s, sink.port, [`client oauth-refresh ${MB} page:microsoft:${TENANT}:pub-app`]);

  // Until someone signs in, the message waits (deferred, not failed) and says why.
  await sendAll(relay.port, [makeMessage('waits-for-signin')]);
  const waiting = await deferredMessage(relay.spool);
  assert.match(waiting.reasons[0]!.reason, /mailbox scanner@contoso\.test is not signed in yet: open the box's page and press Sign in/);
  const before = await pageText(http);
  assert.match(before, /not signed in yet: messages for this mailbox wait until someone signs in/);
  assert.match(before, /deferred \(will be tried again in \d+ s\): mailbox scanner@contoso\.test is not signed in yet/, 'the recent log shows the step');
  assert.equal(s.tokenRequests.length, 0, 'no token request without a sign-in');

  const wrong = await pressSignIn(http, 'not-the-password');
  assert.equal(wrong.status, 303);
  assert.match(wrong.headers.get('location')!, /error=wrong-password/);
  assert.deepEqual(s.pendingUserCodes(), [], 'a wrong password starts nothing');

  const res = await pressSignIn(http);
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/?signin=1');
  const code = await userCodeOnPage(http);
  assert.deepEqual(s.pendingUserCodes(), [code], 'the code on the page is the one Microsoft handed out');
  const pending = await pageText(http);
  assert.ok(pending.includes(`href="${s.url}/devicelogin"`), 'the verification address is a link');
  assert.match(pending, /<svg role="img" aria-label="QR code of https:\/\/127\.0\.0\.1:\d+\/devicelogin" class="qr" [^>]*viewBox="0 0 \d+ \d+"/);
  assert.match(pending, /<meta http-equiv="refresh" content="5;url=\/">/, 'the page reloads itself while the sign-in is pending');

  s.approve(code, MB);
  await relay.waitForLog((l) => /signed in; the refresh token is kept/.test(l.msg) && l.mailbox === MB);
  // Forwarded at once: the deferred message's back-off (60 s and more by default) was cleared.
  await sink.waitFor(1, 10000);
  assert.equal(sink.messages[0]!.user, MB);
  const used = sink.uses.at(-1)!;
  assert.ok(used.ok, used.why);
  const issued = s.tokens.find((tk) => tk.value === used.token)!;
  assert.equal(issued.kind, 'ms-user');
  assert.equal(issued.user, MB);
  assert.equal(s.tokenRequests.filter((r) => r.grant === 'refresh_token').length, 0, 'the token from the sign-in itself was used');

  const signinDir = path.join(relay.spool, '.relaybox', 'signin');
  const files = readdirSync(signinDir);
  assert.equal(files.length, 1);
  const tokenFile = path.join(signinDir, files[0]!);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  assert.equal(statSync(signinDir).mode & 0o777, 0o700);
  const saved = JSON.parse(readFileSync(tokenFile, 'utf8'));
  assert.equal(saved.mailbox, MB);
  assert.match(saved.refresh_token, /^rt\./);

  const after = await pageText(http);
  assert.match(after, /<dt>State<\/dt><dd>signed in on \d{4}-\d\d-\d\d /);
  assert.match(after, /<dt>Access token<\/dt><dd>valid until /);
  assert.doesNotMatch(after, /class="user-code"/, 'the code is gone once used');
  assert.doesNotMatch(after, /http-equiv="refresh"/);
  assert.ok(!after.includes(issued.value) && !after.includes(saved.refresh_token), 'no token on the page');
  assertNotLogged(relay, [issued.value, saved.refresh_token, code]);

  // After a restart, without the cached access token, the kept refresh token gets a new one (and
  // Microsoft's new refresh token is kept): nobody signs in again.
  await relay.stop();
  rmSync(path.join(relay.spool, '.relaybox', 'oauth'), { recursive: true, force: true });
  const again = await relayFor(defer, args, { env: caEnv(), keepSpool: true, spool: relay.spool });
  await sendAll(again.port, [makeMessage('after-restart')]);
  await sink.waitFor(2, 10000);
  assert.ok(sink.uses.at(-1)!.ok);
  assert.deepEqual(
    s.tokenRequests.filter((r) => r.grant === 'refresh_token').map((r) => r.status),
    [200],
  );
  const rotated = JSON.parse(readFileSync(tokenFile, 'utf8'));
  assert.notEqual(rotated.refresh_token, saved.refresh_token, 'the new refresh token was kept');
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  assertNotLogged(again, [saved.refresh_token, rotated.refresh_token]);
});

test('page sign-in (Google): slow_down is obeyed, a declined sign-in and an expired code are said on the page and keep nothing; then a sign-in that works', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const user = 'me@example.org';
  s.users.add(user);
  const sink = await oauthSinkFor(defer, s, { google: true });
  const { relay, http } = await signInRelay(defer, s, sink.port, [`client oauth-refresh ${user} page:google:gclient.apps.googleusercontent.com:GOCSPX-s3cret`]);

  // Declined: Google answers access_denied.
  s.slowDowns = 1;
  assert.equal((await pressSignIn(http)).status, 303);
  const code = await userCodeOnPage(http);
  await waitUntil(() => s.devicePolls.some((p) => p.error === 'slow_down') && s.devicePolls.length >= 2, 'a poll after the slow_down');
  const slowed = s.devicePolls.findIndex((p) => p.error === 'slow_down');
  const gap = s.devicePolls[slowed + 1]!.at - s.devicePolls[slowed]!.at;
  assert.ok(gap >= 5500, `after slow_down the next poll waits the interval plus 5 s (waited ${gap} ms)`);
  s.decline(code);
  await relay.waitForLog((l) => l.msg === 'status page: the sign-in did not work' && /declined/.test(String(l.problem)), 15000);
  assert.match(await pageText(http), /<dt>Last sign-in<\/dt><dd>the sign-in was declined: press Sign in again and accept the permissions<\/dd>/);

  // Expired: nobody signed in within expires_in.
  s.device.lifetimeSeconds = 2;
  assert.equal((await pressSignIn(http)).status, 303);
  await userCodeOnPage(http);
  await relay.waitForLog((l) => l.msg === 'status page: the sign-in did not work' && /expired/.test(String(l.problem)), 15000);
  const page = await pageText(http);
  assert.match(page, /the code expired before anyone signed in: press Sign in again/);
  assert.match(page, /not signed in yet/);
  assert.throws(() => readdirSync(path.join(relay.spool, '.relaybox', 'signin')), /ENOENT/, 'no token file without a sign-in');

  // Signed in at last: a message goes with Google's token for the user (334/535-style upstream).
  s.device.lifetimeSeconds = 120;
  assert.equal((await pressSignIn(http)).status, 303);
  s.approve(await userCodeOnPage(http), user);
  await relay.waitForLog((l) => /signed in; the refresh token is kept/.test(l.msg) && l.mailbox === user);
  await sendAll(relay.port, [makeMessage('google-after-signin')]);
  await sink.waitFor(1, 10000);
  assert.equal(sink.messages[0]!.user, user);
  assert.equal(s.tokens.find((tk) => tk.value === sink.uses.at(-1)!.token)?.kind, 'google');
  assertNotLogged(relay, ['GOCSPX-s3cret', ...s.tokens.map((tk) => tk.value)]);
});
