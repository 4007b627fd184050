// The status page in a real browser: Debian's headless Chromium driven by playwright-core, with
// JavaScript switched off (the page must work without it) and a phone-sized window. A failed message
// is seen with its reason, retried with the admin password, and seen delivered. Screenshots go to
// test-output/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { freePort, tempDir, removeDir } from '../lib/relay';
import { cleanup, filesEnding, makeMessage, relayFor, sendAll, sinkFor, waitUntil } from './forward-util';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.resolve(__dirname, '../../test-output');

test(
  'status page in Chromium: see the failed message and its reason, retry it, see it delivered',
  { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is missing: run scripts/install-deps` },
  async (t) => {
    const defer = cleanup(t);
    let refuse = true;
    const sink = await sinkFor(defer, {
      rcpt: (a) => (refuse && a === 'carol@example.net' ? { code: 550, text: '5.1.1 <carol@example.net>: mailbox unavailable' } : undefined),
    });
    const dir = tempDir();
    defer(() => removeDir(dir));
    const password = 'page-retry-pw';
    writeFileSync(path.join(dir, 'admin.pw'), password + '\n');
    const http = await freePort();
    const relay = await relayFor(defer, [
      '--forward-to',
      `127.0.0.1:${sink.port}`,
      '--forward-on-disconnect',
      '--status-port',
      String(http),
      '--admin-password-file',
      path.join(dir, 'admin.pw'),
      '--domain',
      'relaybox.lan',
    ]);
    await relay.waitForLog((l) => l.msg === 'listening for the status page');
    await sendAll(relay.port, [makeMessage('delivered-first'), makeMessage('will-fail', { to: ['carol@example.net'] })]);
    await sink.waitFor(1);
    await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'the failed message');
    const id = filesEnding(relay.spool, '.bad')[0]!.replace('.envelope.bad', '');

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'], timeout: 30000 });
    defer(() => browser.close());
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 }, isMobile: true, deviceScaleFactor: 2 });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    mkdirSync(OUTPUT, { recursive: true });

    const base = `http://127.0.0.1:${http}/`;
    const res = await page.goto(base);
    assert.equal(res?.status(), 200);
    assert.equal(await page.locator('#q-failed').textContent(), '1');
    const item = page.locator(`[id="failed-${id}"]`);
    assert.match((await item.locator('.reason').textContent())!, /550 5\.1\.1 <carol@example\.net>: mailbox unavailable/);
    assert.match((await item.textContent())!, /to <carol@example\.net>/);
    assert.ok(await item.locator('button', { hasText: 'Retry' }).isVisible());
    // Reads on a phone: nothing wider than the screen (measured with scripts on, in a second window).
    const measuring = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true })).newPage();
    await measuring.goto(base);
    const widest = await measuring.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(widest <= 390, `the page is ${widest} px wide on a 390 px screen`);
    await measuring.context().close();
    await page.screenshot({ path: path.join(OUTPUT, 'status-page-failed.png'), fullPage: true });

    // A wrong password retries nothing.
    await item.locator('input[name=password]').fill('not-it');
    await item.locator('button', { hasText: 'Retry' }).click();
    await page.waitForURL(/error=/);
    assert.match((await page.locator('.error').textContent())!, /Wrong admin password/);
    assert.equal(filesEnding(relay.spool, '.bad').length, 1);

    refuse = false;
    const again = page.locator(`[id="failed-${id}"]`);
    await again.locator('input[name=password]').fill(password);
    await again.locator('button', { hasText: 'Retry' }).click();
    await page.waitForURL(/retried=/);
    assert.match((await page.locator('.notice').textContent())!, new RegExp(`Message ${id.replace(/\./g, '\\.')} is queued for another attempt`));
    await sink.waitFor(2);
    await relay.waitForLog((l) => l.msg === 'message forwarded' && l.id === id);

    await page.goto(base);
    assert.equal(await page.locator('#q-failed').textContent(), '0');
    assert.equal(await page.locator(`[id="failed-${id}"]`).count(), 0);
    const delivered = page.locator(`#recent [id="delivered-${id}"]`);
    assert.match((await delivered.textContent())!, /250 sink got it/);
    assert.match((await page.locator('#upstream').textContent())!, new RegExp(`127\\.0\\.0\\.1:${sink.port}`));
    const shot = path.join(OUTPUT, 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10000, 'a real screenshot');
  },
);
