// The appliance's status page password, through the appliance's own code paths: the boot-time
// import (dist/relaybox-appliance.js import) on a card made from image/boot's templates, then the
// relay started from the configuration the import left on the data partition. The password the box
// made at first boot is read from STATUS.txt, as the user would, and deletes a failed message on the
// page; the user's own admin-password.txt replaces it and leaves the card.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { cleanups, type Defer } from '../lib/cleanup';
import { freePort, relayFor, scratchDir, type RelayProcess } from '../lib/relay';
import { makeMessage, writeSpooled } from './forward-util';

const APPLIANCE = path.resolve(__dirname, '../../dist/relaybox-appliance.js');
const TEMPLATES = path.resolve(__dirname, '../../image/boot');

interface Card {
  boot: string;
  data: string;
  run: string;
}

function makeCard(defer: Defer): Card {
  const root = scratchDir(defer, 'relaybox-card-');
  const c = { boot: path.join(root, 'boot'), data: path.join(root, 'data'), run: path.join(root, 'run') };
  for (const d of Object.values(c)) mkdirSync(d);
  for (const f of ['relaybox.conf', 'relaybox.secrets', 'network.conf']) copyFileSync(path.join(TEMPLATES, f), path.join(c.boot, f));
  // The user's three edits (nothing is forwarded in this test: the upstream is a closed port).
  const conf = path.join(c.boot, 'relaybox.conf');
  // The data partition is c.data here, not /var/lib/relaybox: the importer wants the spool on it.
  writeFileSync(
    conf,
    readFileSync(conf, 'utf8')
      .replace(/^forward-to .*$/m, 'forward-to 127.0.0.1:9')
      .replace(/^spool-dir .*$/m, `spool-dir ${path.join(c.data, 'spool')}`),
  );
  writeFileSync(path.join(c.boot, 'relaybox.secrets'), 'client plain printer@provider.test Tr0ub4dor-and-3\r\n');
  return c;
}

async function importCard(c: Card): Promise<string> {
  await promisify(execFile)(process.execPath, [APPLIANCE, 'import', `--boot=${c.boot}`, `--data=${c.data}`, `--run=${c.run}`, '--user=root'], {
    timeout: 30000,
  });
  return readFileSync(path.join(c.boot, 'STATUS.txt'), 'utf8');
}

/** The relay as the box starts it (the imported configuration, in its directory as systemd's WorkingDirectory), on test ports. */
async function startBox(defer: Defer, c: Card): Promise<{ r: RelayProcess; http: number }> {
  const [port, http] = [await freePort(), await freePort()];
  const spool = path.join(c.data, 'spool');
  const r = await relayFor(
    defer,
    [
      path.join(c.data, 'config', 'relaybox.conf'),
      '--no-daemon',
      '--user',
      'root',
      '--log-format',
      'json',
      '--port',
      String(port),
      '--status-port',
      String(http),
      '--interface',
      '127.0.0.1',
      '--spool-dir',
      spool,
    ],
    { raw: true, port, spool, keepSpool: true, cwd: path.join(c.data, 'config') },
  );
  await r.waitForLog((l) => l.msg === 'listening for the status page');
  return { r, http };
}

async function deleteOnPage(http: number, id: string, password: string): Promise<string> {
  const html = await (await fetch(`http://127.0.0.1:${http}/`)).text();
  const token = /name="token" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(token, 'the page has a form');
  const res = await fetch(`http://127.0.0.1:${http}/delete`, { method: 'POST', body: new URLSearchParams({ token, id, password }), redirect: 'manual' });
  assert.equal(res.status, 303);
  return res.headers.get('location')!;
}

function failedMessage(spool: string, id: string): void {
  writeSpooled(spool, id, makeMessage(id));
  renameSync(path.join(spool, `${id}.envelope`), path.join(spool, `${id}.envelope.bad`));
}

test("appliance: the admin password made at first boot is in STATUS.txt and opens the page's buttons; admin-password.txt on the card replaces it and is scrubbed", async (t) => {
  const defer = cleanups(t);
  const c = makeCard(defer);
  const status = await importCard(c);
  const made = /the box made this password at its first start: (\S+)/.exec(status)?.[1];
  assert.ok(made, `STATUS.txt shows the password:\n${status}`);
  assert.ok(status.includes('\r\n'), 'STATUS.txt is written for Notepad');

  const spool = path.join(c.data, 'spool');
  failedMessage(spool, 'emailrelay.1.1.1');
  const first = await startBox(defer, c);
  assert.match(await deleteOnPage(first.http, 'emailrelay.1.1.1', 'not-the-password'), /error=wrong-password/);
  assert.ok(existsSync(path.join(spool, 'emailrelay.1.1.1.envelope.bad')));
  assert.equal(await deleteOnPage(first.http, 'emailrelay.1.1.1', made), '/?deleted=emailrelay.1.1.1');
  assert.ok(
    !existsSync(path.join(spool, 'emailrelay.1.1.1.envelope.bad')) && !existsSync(path.join(spool, 'emailrelay.1.1.1.content')),
    'envelope and content are gone',
  );
  await first.r.waitForLog((l) => l.msg === 'failed message deleted' && l.id === 'emailrelay.1.1.1');
  await first.r.stop();

  // The user's own password on the card: imported, removed from the card, the made one retired.
  const own = 'our-office-pw-2026';
  writeFileSync(path.join(c.boot, 'admin-password.txt'), `${own}\r\n`);
  const again = await importCard(c);
  assert.ok(!again.includes(made) && !again.includes(own), `STATUS.txt shows no password now:\n${again}`);
  assert.match(again, /imported your password on .* and removed it from the card/);
  assert.ok(!readFileSync(path.join(c.boot, 'admin-password.txt'), 'utf8').includes(own), 'scrubbed from the card');
  failedMessage(spool, 'emailrelay.2.2.2');
  const second = await startBox(defer, c);
  assert.match(await deleteOnPage(second.http, 'emailrelay.2.2.2', made), /error=wrong-password/);
  assert.equal(await deleteOnPage(second.http, 'emailrelay.2.2.2', own), '/?deleted=emailrelay.2.2.2');
});
