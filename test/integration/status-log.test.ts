// The status page's recent log: a message's steps (received, forwarded) and a refused device with
// its address and the hint the relay's warning gives (here: a device that sends without logging in
// to a relay that wants a login).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cleanups } from '../lib/cleanup';
import { scratchDir, statusRelay } from '../lib/relay';
import { RawSmtp, swaks, swaksAccepted } from '../lib/smtp-client';
import { sinkFor } from './forward-util';
import { escapeHtml } from '../../src/admin/page-format';

test("recent log on the status page: a message's steps, and a refused device with its address and the hint", async (t) => {
  const defer = cleanups(t);
  const sink = await sinkFor(defer);
  const secrets = path.join(scratchDir(defer), 'server.secrets');
  writeFileSync(secrets, 'server plain alice alice-password\n');
  const { relay, http } = await statusRelay(defer, ['--server-auth', secrets, '--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect']);

  // A device that logs in: its message's steps.
  const sent = await swaks({ port: relay.port, extra: ['--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alice-password'] });
  assert.ok(swaksAccepted(sent), sent.stdout);
  await sink.waitFor(1);
  const forwarded = await relay.waitForLog((l) => l.msg === 'message forwarded');

  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.destroy());
  await smtp.command('EHLO scanner.lan');
  assert.equal((await smtp.command('MAIL FROM:<scanner@lan.example>')).code, 530);
  const warning = await relay.waitForLog((l) => l.level === 40 && /authentication required/.test(l.msg));
  smtp.destroy();

  const page = await (await fetch(`http://127.0.0.1:${http}/`)).text();
  const log = /<section id="log">([\s\S]*?)<\/section>/.exec(page)?.[1] ?? '';
  const device = /<li class="device">[^\n]*<\/li>/.exec(log)?.[0] ?? '';
  assert.ok(device.includes('device 127.0.0.1: '), log);
  assert.match(warning.msg, /: .*AUTH/, 'the warning carries a hint');
  assert.ok(device.includes(escapeHtml(warning.msg)), `the warning's sentence with its hint: ${device}`);
  assert.ok(!page.includes('alice-password'));
  const id = String(forwarded.id).replace(/\./g, '\\.');
  assert.match(log, new RegExp(`<span class="id">${id}</span> received from 127\\.0\\.0\\.1 \\(from &lt;sender@example\\.test&gt;\\)`));
  assert.match(log, new RegExp(`<span class="id">${id}</span> forwarded to 127\\.0\\.0\\.1:${sink.port}: 250 `));
});
