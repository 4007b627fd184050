// "Send a test mail" on the status page (POST /test-mail): the relay's admin protections hold for it
// (form token, Origin, admin password, body limit), and in headless Chromium (JavaScript off, a phone's
// window) a person fills the form, sees each step, and sees a failing step explained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { testPki } from '../lib/certs';
import { scratchDir, statusRelay } from '../lib/relay';
import type { Sink } from '../lib/sink';
import { cleanup, sinkFor } from './forward-util';
import { secretsFile } from './oauth-util';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.resolve(__dirname, '../../test-output');
const MAILBOX = 'scanner@example.com';
const MAIL_PASSWORD = 'mailbox-pw';
const ADMIN_PASSWORD = 'admin-pw-for-test-mail';

/** A sink that signs in the mailbox over STARTTLS and, like Microsoft 365, refuses any other sender (550 5.7.60). */
async function upstream(defer: (fn: () => unknown) => void): Promise<Sink> {
  const pki = testPki();
  return sinkFor(defer, {
    tls: { key: pki.serverKey, cert: pki.serverCert },
    auth: { user: MAILBOX, pass: MAIL_PASSWORD },
    // Microsoft's text: test/fixtures/providers/m365-smtp.office365.com.json, error 5.7.60.
    data: (m) => (m.from === MAILBOX ? undefined : { code: 550, text: '5.7.60 SMTP; Client does not have permissions to send as this sender' }),
  });
}

async function relayWithTestMail(defer: (fn: () => unknown) => void, sink: Sink, password: string | undefined) {
  const dir = scratchDir(defer);
  const secrets = secretsFile(dir, [`client plain ${MAILBOX} ${MAIL_PASSWORD}`]);
  return statusRelay(
    defer,
    [
      '--forward-to',
      `localhost:${sink.port}`,
      '--client-tls',
      '--client-tls-required',
      '--client-tls-verify',
      testPki().caFile,
      '--client-tls-verify-host',
      '--client-auth',
      secrets,
      '--domain',
      'relaybox.lan',
    ],
    password,
  );
}

interface Answer {
  status: number;
  body: string;
}

function post(port: number, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/test-mail',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('POST /test-mail: no token, a foreign Origin, a wrong password or a large body sends nothing; the right password sends one, steps listed', async (t) => {
  const defer = cleanup(t);
  const sink = await upstream(defer);
  const { relay, http: port } = await relayWithTestMail(defer, sink, ADMIN_PASSWORD);
  const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  const form = /<form class="test-mail"[\s\S]*?<\/form>/.exec(html)?.[0];
  assert.ok(form, 'the status page has the test-mail form');
  const token = /name="token" value="([^"]+)"/.exec(form)![1]!;
  const fields = (f: Record<string, string>) => new URLSearchParams(f).toString();

  assert.equal((await post(port, fields({ to: 'bob@example.net', password: ADMIN_PASSWORD }))).status, 403, 'no token');
  assert.equal(
    (await post(port, fields({ token, to: 'bob@example.net', password: ADMIN_PASSWORD }), { Origin: 'http://attacker.example' })).status,
    403,
    'a foreign Origin',
  );
  const wrong = await post(port, fields({ token, to: 'bob@example.net', password: 'not-it' }));
  assert.equal(wrong.status, 200);
  assert.match(wrong.body, /<p class="error" role="alert">Wrong admin password: no test mail was sent\.<\/p>/);
  assert.match(wrong.body, /name="to" value="bob@example\.net"/, 'the typed address is kept');
  const large = await post(port, fields({ token, to: 'bob@example.net', password: ADMIN_PASSWORD, pad: 'x'.repeat(9000) }));
  assert.equal(large.status, 413);
  assert.equal(sink.connections, 0, 'nothing reached the upstream');

  const sent = await post(port, fields({ token, to: 'bob@example.net', from: '', password: ADMIN_PASSWORD }));
  assert.equal(sent.status, 200);
  for (const step of ['settings', 'name resolved', 'connected', 'greeting', 'TLS', 'logged in', 'MAIL FROM accepted', 'RCPT TO accepted', 'DATA accepted']) {
    assert.match(sent.body, new RegExp(`<li class="ok" data-step="${step}">`), `step ${step} ok`);
  }
  assert.match(sent.body, /The upstream server accepted the test mail for bob@example\.net\./);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.from, MAILBOX);
  assert.deepEqual(sink.messages[0]!.to, ['bob@example.net']);
  await relay.waitForLog((l) => l.msg === 'status page: test mail done' && l.result === 'accepted');
  assert.doesNotMatch(JSON.stringify(relay.logs), new RegExp(`${MAIL_PASSWORD}|${ADMIN_PASSWORD}`), 'no password in the log');
});

test('POST /test-mail without an admin password configured: the page says so and sends nothing', async (t) => {
  const defer = cleanup(t);
  const sink = await upstream(defer);
  const { http: port } = await relayWithTestMail(defer, sink, undefined);
  const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  assert.match(html, /<section id="test-mail"><h2>Send a test mail<\/h2><p class="muted">Sending a test mail from this page needs an admin password/);
  assert.doesNotMatch(html, /<form class="test-mail"/);
  const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const r = await post(port, new URLSearchParams({ token, to: 'bob@example.net', password: 'anything' }).toString());
  assert.match(r.body, /Sending a test mail needs an admin password/);
  assert.equal(sink.connections, 0);
});

test(
  'status page in Chromium: send a test mail and see each step; a refused sender is explained (SendAsDenied)',
  { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is missing: run scripts/install-deps` },
  async (t) => {
    const defer = cleanup(t);
    const sink = await upstream(defer);
    const { http: port } = await relayWithTestMail(defer, sink, ADMIN_PASSWORD);
    const profile = scratchDir(defer, 'relaybox-chromium-');
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30000,
      javaScriptEnabled: false,
      viewport: { width: 390, height: 844 },
      isMobile: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    defer(() => context.close());
    const page = await context.newPage();
    page.setDefaultTimeout(30000);
    mkdirSync(OUTPUT, { recursive: true });

    await page.goto(`http://127.0.0.1:${port}/`);
    const section = page.locator('#test-mail');
    await section.locator('input[name=to]').fill('bob@example.net');
    await section.locator('input[name=password]').fill(ADMIN_PASSWORD);
    await section.locator('button', { hasText: 'Send a test mail' }).click();
    await page.waitForURL(/\/test-mail$/);
    assert.match((await page.locator('#test-mail-result').textContent())!, /accepted the test mail for bob@example\.net/);
    assert.equal(await page.locator('#steps li.failed').count(), 0);
    assert.match((await page.locator('#steps li[data-step="TLS"]').textContent())!, /TLSv1\.[23].*certificate verified/);
    assert.match((await page.locator('#steps li[data-step="logged in"]').textContent())!, /as scanner@example\.com with AUTH CRAM-MD5/);
    assert.match((await page.locator('#steps li[data-step="DATA accepted"]').textContent())!, /250 .*sink got it/);
    await sink.waitFor(1);
    await page.screenshot({ path: path.join(OUTPUT, 'status-test-mail-ok.png'), fullPage: true });

    // The answer page carries the form again: this time from a sender the mailbox may not send as.
    const again = page.locator('#test-mail');
    await again.locator('input[name=from]').fill('printer@example.com');
    await again.locator('input[name=password]').fill(ADMIN_PASSWORD);
    await again.locator('button', { hasText: 'Send a test mail' }).click();
    await page.locator('#test-mail-result.error').waitFor();
    const failed = page.locator('#steps li.failed');
    assert.equal(await failed.count(), 1);
    assert.equal(await failed.getAttribute('data-step'), 'DATA accepted');
    assert.match((await failed.locator('.detail').textContent())!, /^550 5\.7\.60 SMTP; Client does not have permissions to send as this sender$/);
    assert.match(
      (await failed.locator('.advice').textContent())!,
      /What to do: The mailbox scanner@example\.com may not send as printer@example\.com\. The From must be the signed-in mailbox/,
    );
    const widest = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(widest <= 390, `the answer page is ${widest} px wide on a 390 px screen`);
    await page.screenshot({ path: path.join(OUTPUT, 'status-test-mail-failed.png'), fullPage: true });
    assert.equal(sink.messages.length, 1, 'the refused mail was not accepted');
  },
);
