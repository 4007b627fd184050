// The setup flows of the status page in a real browser (Debian's headless Chromium through
// playwright-core, JavaScript off, a phone-sized window, a fresh profile): sign in with the code and
// the QR code the page shows (the page reloads itself until the sign-in is done), then retry one
// failed message and delete another. Screenshots go to test-output/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { adminPasswordArgs, freePort, scratchDir } from '../lib/relay';
import { cleanup, filesEnding, makeMessage, relayFor, sendAll, waitUntil } from './forward-util';
import { caEnv, oauthSinkFor, secretsFile, standInFor, workDir } from './oauth-util';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.resolve(__dirname, '../../test-output');
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const MB = 'scanner@contoso.test';
const PASSWORD = 'browser-admin-pw';

test(
  'status page in Chromium: sign in with the code shown, then retry one failed message and delete another',
  { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is missing: run scripts/install-deps` },
  async (t) => {
    const defer = cleanup(t);
    const s = await standInFor(defer);
    s.users.add(MB);
    s.microsoftApps.set('pub-app', { tenant: 'contoso.test', publicClient: true, smtpMailboxes: [] });
    let refuse = true;
    const sink = await oauthSinkFor(defer, s, {
      rcpt: (a) => (refuse && a.startsWith('carol') ? { code: 550, text: '5.1.1 <carol@example.net>: mailbox unavailable' } : undefined),
    });
    const secrets = secretsFile(workDir(defer), [`client oauth-refresh ${MB} page:microsoft:contoso.test:pub-app`]);
    const http = await freePort();
    const relay = await relayFor(
      defer,
      [
        '--forward-to',
        `127.0.0.1:${sink.port}`,
        '--client-tls',
        '--forward-on-disconnect',
        '--client-auth',
        secrets,
        '--oauth-authority',
        s.url,
        '--status-port',
        String(http),
        ...adminPasswordArgs(defer, PASSWORD),
        '--domain',
        'relaybox.lan',
      ],
      { env: caEnv() },
    );
    await relay.waitForLog((l) => l.msg === 'listening for the status page');

    const context: BrowserContext = await chromium.launchPersistentContext(scratchDir(defer, 'relaybox-chromium-'), {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      timeout: 30000,
      javaScriptEnabled: false,
      viewport: { width: 390, height: 844 },
      isMobile: true,
      deviceScaleFactor: 2,
    });
    defer(() => context.close());
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    mkdirSync(OUTPUT, { recursive: true });
    const base = `http://127.0.0.1:${http}/`;

    // Sign in.
    await page.goto(base);
    const mailbox = page.locator('#signin .msg');
    assert.match((await mailbox.textContent())!, /not signed in yet/);
    await mailbox.locator('input[name=password]').fill(PASSWORD);
    await mailbox.locator('button', { hasText: 'Sign in' }).click();
    await page.waitForURL(/signin=1/);
    const code = (await page.locator('.user-code').textContent())!;
    assert.deepEqual(s.pendingUserCodes(), [code]);
    assert.equal(await page.locator('a.verification-url').getAttribute('href'), `${s.url}/devicelogin`);
    const qr = page.locator('svg.qr');
    assert.ok(await qr.isVisible(), 'the QR code is drawn');
    const box = (await qr.boundingBox())!;
    assert.ok(box.width >= 100 && Math.abs(box.width - box.height) < 1, `a square QR code, ${box.width}x${box.height}`);
    await page.screenshot({ path: path.join(OUTPUT, 'status-page-signin-code.png'), fullPage: true });
    s.approve(code, MB);
    // No click: the page reloads itself while the sign-in is pending and then shows the result.
    await page.locator('#signin dd', { hasText: /^signed in on / }).waitFor({ timeout: 20000 });
    assert.equal(await page.locator('.user-code').count(), 0);
    await page.screenshot({ path: path.join(OUTPUT, 'status-page-signed-in.png'), fullPage: true });

    // Two messages refused for good: one is retried once the recipient exists, the other deleted.
    await sendAll(relay.port, [makeMessage('retry-me', { to: ['carol@example.net'] }), makeMessage('delete-me', { to: ['carol2@example.net'] })]);
    await waitUntil(() => filesEnding(relay.spool, '.bad').length === 2, 'two failed messages');
    const [retryId, deleteId] = filesEnding(relay.spool, '.bad')
      .map((f) => f.replace('.envelope.bad', ''))
      .sort();
    refuse = false;
    await page.goto(base);
    const toRetry = page.locator(`[id="failed-${retryId}"]`);
    await toRetry.locator('input[name=password]').fill(PASSWORD);
    await toRetry.locator('button', { hasText: 'Retry' }).click();
    await page.waitForURL(/retried=/);
    await sink.waitFor(1);
    assert.equal(sink.messages[0]!.user, MB);

    await page.goto(base);
    const toDelete = page.locator(`[id="failed-${deleteId}"]`);
    await toDelete.locator('input[name=password]').fill('wrong-one');
    await toDelete.locator('button', { hasText: 'Delete' }).click();
    await page.waitForURL(/error=wrong-password/);
    assert.ok(existsSync(path.join(relay.spool, `${deleteId}.envelope.bad`)), 'a wrong password deletes nothing');
    const again = page.locator(`[id="failed-${deleteId}"]`);
    await again.locator('input[name=password]').fill(PASSWORD);
    await again.locator('button', { hasText: 'Delete' }).click();
    await page.waitForURL(/deleted=/);
    assert.match((await page.locator('.notice').textContent())!, new RegExp(`Message ${deleteId!.replace(/\./g, '\\.')} was deleted`));
    assert.ok(!existsSync(path.join(relay.spool, `${deleteId}.envelope.bad`)) && !existsSync(path.join(relay.spool, `${deleteId}.content`)));
    assert.equal(await page.locator('#q-failed').textContent(), '0');
    const log = (await page.locator('#log').textContent())!;
    assert.match(log, new RegExp(`${deleteId!.replace(/\./g, '\\.')} deleted by status page`));
    assert.match(log, new RegExp(`${deleteId!.replace(/\./g, '\\.')} failed: one or more recipients rejected: <carol2@example\\.net> 550 5\\.1\\.1`));
    assert.match(log, /device 127\.0\.0\.1: status page: wrong admin password/);
    assert.equal(sink.messages.length, 1, 'the deleted message never went out');
    await page.screenshot({ path: path.join(OUTPUT, 'status-page-deleted.png'), fullPage: true });
  },
);
