// The card's files through the appliance's own programs, end to end on loopback: the importer
// (dist/relaybox-appliance.js import) takes a key file off the card, and the relay started the way
// the image starts it (from the data partition's config directory) signs in with it at an upstream
// that checks tokens from the OAuth stand-in; after a real refusal of the password (Gmail's own 535
// replayed from test/fixtures/providers), STATUS.txt's first line says PROBLEM, and OK after a
// message went through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { relayFor, freePort, scratchDir, type RelayProcess } from '../lib/relay';
import { applianceConfig } from '../lib/appliance-conf';
import { testPki } from '../lib/certs';
import { loadProfile, startReplay } from '../lib/provider-replay';
import { readLastDelivery } from '../../src/health/last-delivery';
import { appCertificate, caEnv, oauthSinkFor, standInFor } from './oauth-util';
import { cleanup, makeMessage, sendAll, waitUntil } from './forward-util';

const APPLIANCE = path.resolve(__dirname, '../../dist/relaybox-appliance.js');
const run = promisify(execFile);

interface Card {
  boot: string;
  data: string;
  run: string;
}
type Defer = (fn: () => unknown) => void;

function card(defer: Defer): Card {
  const root = scratchDir(defer, 'relaybox-card-');
  const c = { boot: path.join(root, 'boot'), data: path.join(root, 'data'), run: path.join(root, 'run') };
  for (const d of Object.values(c)) fs.mkdirSync(d);
  return c;
}

/** The card's relaybox.conf: the shipped one with the test's upstream, ports and spool, and the card's own "client-auth relaybox.secrets". */
async function cardConf(c: Card, upstreamPort: number, extra: string[] = []): Promise<{ port: number; spool: string }> {
  const [port, statusPort] = [await freePort(), await freePort()];
  const spool = path.join(c.data, 'spool');
  applianceConfig(c.boot, { port, spool, sinkPort: upstreamPort, statusPort, clientAuth: 'relaybox.secrets', extra });
  return { port, spool };
}

async function appliance(c: Card, command: 'import' | 'status'): Promise<string> {
  const r = await run(process.execPath, [APPLIANCE, command, `--boot=${c.boot}`, `--data=${c.data}`, `--run=${c.run}`, '--user=relaybox-test-nobody'], {
    timeout: 120_000,
  });
  return r.stdout;
}

/** The relay as the image's unit starts it: --no-daemon and the imported configuration, in its directory. */
function startBox(defer: Defer, c: Card, s: { port: number; spool: string }, env?: NodeJS.ProcessEnv): Promise<RelayProcess> {
  const conf = path.join(c.data, 'config', 'relaybox.conf');
  return relayFor(defer, ['--no-daemon', conf], { raw: true, port: s.port, spool: s.spool, cwd: path.dirname(conf), env, keepSpool: true });
}

const statusText = (c: Card) => fs.readFileSync(path.join(c.boot, 'STATUS.txt'), 'utf8').replace(/\r\n/g, '\n');

test('a certificate key file on the card is imported, scrubbed from the card, and the relay signs in with the imported copy', async (t) => {
  const defer = cleanup(t);
  const s = await standInFor(defer);
  const MB = 'scanner@contoso.test';
  const TENANT = 'contoso.onmicrosoft.com';
  s.users.add(MB);
  const c = card(defer);
  const { certPem } = appCertificate(c.boot); // app.pem (key and certificate) on the card, as the user copies it
  for (const made of ['app.key', 'app.crt']) fs.rmSync(path.join(c.boot, made));
  s.microsoftApps.set('app-cert', { tenant: TENANT, certificate: certPem, smtpMailboxes: [MB] });
  const sink = await oauthSinkFor(defer, s);
  const box = await cardConf(c, sink.port, [`oauth-authority ${s.url}`]);
  fs.writeFileSync(path.join(c.boot, 'relaybox.secrets'), `client oauth-ms-cert ${MB} ${TENANT}:app-cert:app.pem\r\n`);
  const pemBytes = fs.readFileSync(path.join(c.boot, 'app.pem'));

  const out = await appliance(c, 'import');
  assert.match(out, /imported the key file app\.pem and removed it from the card/, out);
  assert.ok(!fs.existsSync(path.join(c.boot, 'app.pem')), 'the key file is gone from the card');
  for (const name of fs.readdirSync(c.boot)) {
    assert.ok(!fs.readFileSync(path.join(c.boot, name)).includes('PRIVATE KEY'), `no private key left on the card (${name})`);
  }
  const copy = path.join(c.data, 'keys', 'app.pem');
  assert.deepEqual(fs.readFileSync(copy), pemBytes);
  assert.equal(fs.statSync(copy).mode & 0o777, 0o600);
  assert.match(fs.readFileSync(path.join(c.data, 'relaybox.secrets'), 'utf8'), new RegExp(`^client oauth-ms-cert ${MB} ${TENANT}:app-cert:${copy}$`, 'm'));
  assert.match(statusText(c), /^STARTING: /);

  const relay = await startBox(defer, c, box, caEnv());
  await sendAll(relay.port, [makeMessage('imported-key')]);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]!.user, MB, 'signed in as the mailbox with a token got with the imported key');
  assert.deepEqual(
    s.tokenRequests.map((r) => r.status),
    [200],
  );
});

test("STATUS.txt's first line: PROBLEM with the advice after the provider refuses the password (535), OK after a message went through", async (t) => {
  const defer = cleanup(t);
  const pki = testPki();
  const user = 'printer@gmail.test';
  const replay = await startReplay({
    profile: loadProfile('gmail-smtp.gmail.com'),
    key: pki.serverKey,
    cert: pki.serverCert,
    passwords: { [user]: 'right-app-password' },
  });
  defer(() => replay.close());

  for (const [password, expected] of [
    [
      'wrong-app-password',
      /^PROBLEM: (1 message failed|the last attempt to forward a message failed): the provider refused the user or password from relaybox\.secrets: .*\[.*535.*5\.7\.8/,
    ],
    ['right-app-password', /^OK: the last message was forwarded at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ and nothing has failed$/],
  ] as const) {
    const c = card(defer);
    const box = await cardConf(c, replay.port);
    fs.writeFileSync(path.join(c.boot, 'relaybox.secrets'), `client plain ${user} ${password}\r\n`);
    await appliance(c, 'import');
    const relay = await startBox(defer, c, box);
    await appliance(c, 'status');
    assert.match(statusText(c).split('\n')[0]!, /^NOT TESTED YET: /, 'nothing forwarded yet: not OK');

    await sendAll(relay.port, [makeMessage(`status-${password}`)]);
    const state = path.join(box.spool, '.relaybox');
    await waitUntil(() => readLastDelivery(state) !== undefined, 'the relay records the delivery attempt');
    await appliance(c, 'status');
    const status = statusText(c);
    assert.match(status.split('\n')[0]!, expected, status);
    assert.ok(!status.includes(password), 'no password in STATUS.txt');
  }
  assert.equal(replay.messages.length, 1, 'only the message with the right password arrived');
});
