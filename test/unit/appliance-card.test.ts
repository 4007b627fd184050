// The card's contract (issue 15, item 2), run on the host against temporary directories standing in
// for the FAT boot partition and the data partition: the provider templates of image/boot import as
// they are written, key files are imported and scrubbed, every mistake in every file is listed at
// once in plain words, and STATUS.txt's first line says OK only when forwarding works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { importBootPartition } from '../../src/appliance/boot-import';
import { headline, renderStatus, writeStatus, type LiveState } from '../../src/appliance/status';
import { deliveryAdvice, nearestOption, plainProblem } from '../../src/appliance/plain-words';
import { parseConfigTextAll } from '../../src/options/parse';

const TEMPLATES = path.join(__dirname, '..', '..', 'image', 'boot');
const template = (name: string) => fs.readFileSync(path.join(TEMPLATES, name), 'utf8');
const NOW = new Date('2026-12-03T04:00:00Z');
const LATER = new Date('2026-12-04T04:00:00Z');

interface Card {
  boot: string;
  data: string;
  run: string;
  dataMount: string;
}

function card(t: { after(fn: () => void): void }): Card {
  const root = fs.mkdtempSync(path.join(tmpdir(), 'relaybox-card-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const c = { boot: path.join(root, 'boot'), data: path.join(root, 'data'), run: path.join(root, 'run'), dataMount: path.join(root, 'data') };
  for (const d of [c.boot, c.data, c.run]) fs.mkdirSync(d);
  for (const f of ['relaybox.conf', 'relaybox.secrets', 'network.conf']) fs.copyFileSync(path.join(TEMPLATES, f), path.join(c.boot, f));
  // The spool line as the box has it, on this test's data partition.
  edit(c, 'relaybox.conf', [[/^spool-dir .*$/m, `spool-dir ${c.data}/spool`]]);
  return c;
}

function edit(c: Card, file: string, edits: [RegExp, string][]): void {
  const f = path.join(c.boot, file);
  let text = fs.readFileSync(f, 'utf8');
  for (const [from, to] of edits) {
    assert.match(text, from, `${file} has no line matching ${from}`);
    text = text.replace(from, to);
  }
  fs.writeFileSync(f, text);
}

/** A template's secrets lines (the commented ones under its "--- X:" heading), uncommented. */
function templateLines(letter: string): string[] {
  const text = template('relaybox.secrets');
  const start = text.indexOf(`# --- ${letter}:`);
  assert.ok(start >= 0, `relaybox.secrets has a template ${letter}`);
  const end = text.indexOf('# --- ', start + 6);
  return text
    .slice(start, end < 0 ? undefined : end)
    .split('\n')
    .filter((l) => l.startsWith('#client '))
    .map((l) => l.slice(1));
}

/** A template line with the user's own values in place of the template's examples. */
const fill = (line: string) =>
  line
    .replace('11111111-2222-3333-4444-555555555555', '0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d')
    .replace('the-secret-Value', 'Qx8~abc.DEF_ghi-jkl')
    .replace('your-app-password', 'abcdefghijklmnop')
    .replace('the-client-id', '1234567890-abc.apps.googleusercontent.com')
    .replace('the-client-secret', 'GOCSPX-abc');

/** Use a template: its secrets line instead of the example, and its relaybox.conf changes. */
function useTemplate(c: Card, secretsLine: string, conf: [RegExp, string][]): void {
  edit(c, 'relaybox.secrets', [[/^client plain you@example\.com your-password$/m, `#client plain you@example.com your-password\n${secretsLine}`]]);
  edit(c, 'relaybox.conf', conf);
}

function appPem(dir: string): Buffer {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'app.key', '-out', 'app.crt', '-days', '2', '-subj', '/CN=relaybox app'],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const pem = Buffer.concat([fs.readFileSync(path.join(dir, 'app.key')), fs.readFileSync(path.join(dir, 'app.crt'))]);
  fs.rmSync(path.join(dir, 'app.key'));
  fs.rmSync(path.join(dir, 'app.crt'));
  return pem;
}

function saJson(): Buffer {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return Buffer.from(
    JSON.stringify({
      type: 'service_account',
      project_id: 'p',
      private_key_id: 'k1',
      client_email: 'relay@p.iam.gserviceaccount.com',
      client_id: '1',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      token_uri: 'https://oauth2.googleapis.com/token',
    }),
  );
}

const MS = [/^forward-to .*$/m, 'forward-to smtp.office365.com:587'] as [RegExp, string];
const GOOGLE = [/^forward-to .*$/m, 'forward-to smtp.gmail.com:587'] as [RegExp, string];
const GRAPH: [RegExp, string][] = [
  [/^forward-to .*$/m, 'forward-to graph:'],
  [/^client-tls$/m, '#client-tls'],
  [/^client-tls-required$/m, '#client-tls-required'],
  [/^client-tls-verify /m, '#client-tls-verify '],
];

test('every provider template (A to G) is imported as written in README.txt and relaybox.secrets', (t) => {
  const readme = template('README.txt');
  const templates: [string, [RegExp, string][]][] = [
    ['A', [MS]],
    ['B', [MS]],
    ['C', GRAPH],
    ['D', [GOOGLE]],
    ['E', [GOOGLE]],
    ['F', [[/^forward-to .*$/m, 'forward-to mail.provider.test:587']]],
    ['G', [MS]],
  ];
  for (const [letter, conf] of templates) {
    assert.match(readme, new RegExp(`^${letter}  `, 'm'), `README.txt explains template ${letter}`);
    const lines = letter === 'C' ? templateLines('A') : letter === 'F' ? ['client plain printer@provider.test Tr0ub4dor-and-3'] : templateLines(letter);
    assert.ok(lines.length, `template ${letter} has a line`);
    for (const example of lines) {
      const c = card(t);
      const line = fill(example);
      for (const [, to] of conf)
        if (to.startsWith('forward-to'))
          assert.ok(readme.includes(letter === 'F' ? 'forward-to <its name>:587' : to), `README.txt gives "${to}" for ${letter}`);
      useTemplate(c, line, conf);
      if (line.includes('app.pem')) fs.writeFileSync(path.join(c.boot, 'app.pem'), appPem(c.boot));
      if (line.includes('sa.json')) fs.writeFileSync(path.join(c.boot, 'sa.json'), saJson());
      const r = importBootPartition(c, NOW);
      assert.equal(r.secrets.ok, true, `${letter}: ${line}\n${r.secrets.lines.join('\n')}`);
      assert.equal(r.config.ok, true, `${letter}: ${line}\n${r.config.lines.join('\n')}`);
      assert.ok(!fs.readFileSync(path.join(c.boot, 'relaybox.secrets'), 'utf8').includes(line), `${letter}: the line left the card`);
    }
  }
});

test("key files named by grant lines are imported 0600, the line points at the copy, and the card's files are zeroed and removed", (t) => {
  const c = card(t);
  const pem = appPem(c.boot);
  const sa = saJson();
  fs.writeFileSync(path.join(c.boot, 'app.pem'), pem);
  fs.mkdirSync(path.join(c.boot, 'keys'));
  fs.writeFileSync(path.join(c.boot, 'keys', 'sa.json'), sa);
  edit(c, 'relaybox.conf', [GOOGLE]);
  edit(c, 'relaybox.secrets', [
    [
      /^client plain .*$/m,
      [
        'client oauth-ms-cert scanner@contoso.com contoso.onmicrosoft.com:0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d:app.pem ms',
        'client oauth-google-sa scanner@example.org keys/sa.json',
      ].join('\r\n'),
    ],
  ]);
  // A hard link sees the card file's own bytes after the import: they must be zeros, not the key.
  fs.linkSync(path.join(c.boot, 'app.pem'), path.join(c.run, 'app.pem.seen'));
  const r = importBootPartition(c, NOW);
  assert.equal(r.secrets.ok, true, r.secrets.lines.join('\n'));
  assert.match(r.secrets.lines.join('\n'), /imported the key files app\.pem, keys\/sa\.json and removed them from the card/);

  assert.ok(!fs.existsSync(path.join(c.boot, 'app.pem')) && !fs.existsSync(path.join(c.boot, 'keys', 'sa.json')), 'gone from the card');
  assert.deepEqual(fs.readFileSync(path.join(c.run, 'app.pem.seen')), Buffer.alloc(pem.length), 'overwritten with zeros before removal');
  const keys = path.join(c.data, 'keys');
  assert.equal(fs.statSync(keys).mode & 0o777, 0o700);
  assert.deepEqual(fs.readFileSync(path.join(keys, 'app.pem')), pem);
  assert.deepEqual(fs.readFileSync(path.join(keys, 'sa.json')), sa);
  for (const f of ['app.pem', 'sa.json']) assert.equal(fs.statSync(path.join(keys, f)).mode & 0o777, 0o600, f);

  const kept = fs.readFileSync(path.join(c.data, 'relaybox.secrets'), 'utf8');
  assert.match(
    kept,
    new RegExp(`^client oauth-ms-cert scanner@contoso\\.com contoso\\.onmicrosoft\\.com:0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d:${keys}/app\\.pem ms$`, 'm'),
  );
  assert.match(kept, new RegExp(`^client oauth-google-sa scanner@example\\.org ${keys}/sa\\.json$`, 'm'));
  const note = fs.readFileSync(path.join(c.boot, 'relaybox.secrets'), 'utf8');
  assert.match(note, /The key file app\.pem was imported with them and removed from this card/);
  assert.ok(!note.includes('oauth-ms-cert'), 'the secrets left the card');

  // A later card names app.pem again without the file (it was taken away): the imported copy serves.
  fs.writeFileSync(
    path.join(c.boot, 'relaybox.secrets'),
    'client oauth-ms-cert scanner@contoso.com contoso.onmicrosoft.com:0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d:app.pem\n',
  );
  const again = importBootPartition(c, LATER);
  assert.equal(again.secrets.ok, true, again.secrets.lines.join('\n'));
  assert.match(fs.readFileSync(path.join(c.data, 'relaybox.secrets'), 'utf8'), new RegExp(`:${keys}/app\\.pem$`, 'm'));
});

test('a missing, unreadable or wrong key file is an error naming the secrets line, and nothing is imported or scrubbed', (t) => {
  const c = card(t);
  edit(c, 'relaybox.conf', [MS]);
  const secrets = [
    '# the app',
    'client oauth-ms-cert scanner@contoso.com contoso.onmicrosoft.com:0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d:app.pem',
    'client oauth-google-sa scanner@example.org sa.json s2',
    'client oauth-google-sa other@example.org other.json s3',
  ].join('\r\n');
  fs.writeFileSync(path.join(c.boot, 'relaybox.secrets'), secrets);
  fs.mkdirSync(path.join(c.boot, 'sa.json')); // unreadable as a file
  fs.writeFileSync(path.join(c.boot, 'other.json'), '{"type":"authorized_user"}');
  const r = importBootPartition(c, NOW);
  assert.equal(r.secrets.ok, false);
  const text = r.secrets.lines.join('\n');
  assert.match(
    text,
    /relaybox\.secrets, line 2: the PEM file with the app's private key and certificate "app\.pem" named on this line is not on the card: copy it onto the card/,
  );
  assert.match(text, /relaybox\.secrets, line 3: cannot read the service account's JSON key file "sa\.json" \(EISDIR\): copy it onto the card again/);
  assert.match(text, /relaybox\.secrets, line 4: "other\.json" is not a service-account key \(download it in the Google Cloud console/);
  assert.match(text, /not imported, and left on the card as it is/);
  assert.equal(fs.readFileSync(path.join(c.boot, 'relaybox.secrets'), 'utf8'), secrets);
  assert.ok(fs.existsSync(path.join(c.boot, 'other.json')));
  assert.ok(!fs.existsSync(path.join(c.data, 'relaybox.secrets')));
  assert.ok(!fs.existsSync(path.join(c.data, 'keys')));
});

test('secrets are checked as the relay reads them: a raw "+", "client plian", a space in a password are refused and left on the card', (t) => {
  for (const [line, expected] of [
    ['client plian printer@provider.test secret', /line 1: invalid password type: \[plian\]/],
    ['client plain printer@provider.test pass+word', /line 1: .*xtext/i],
    ['client plain printer@provider.test my password', /line 1: the fifth field is an account selector.*write the space as \+20/],
    ['clinet plain printer@provider.test secret', /line 1: invalid value in first field: \[clinet\]/],
  ] as const) {
    const c = card(t);
    edit(c, 'relaybox.conf', [[/^forward-to .*$/m, 'forward-to mail.provider.test:587']]);
    fs.writeFileSync(path.join(c.boot, 'relaybox.secrets'), `${line}\r\n`);
    const r = importBootPartition(c, NOW);
    assert.equal(r.secrets.ok, false, line);
    assert.match(r.secrets.lines.join('\n'), expected, `${line}: ${r.secrets.lines.join('\n')}`);
    assert.equal(fs.readFileSync(path.join(c.boot, 'relaybox.secrets'), 'utf8'), `${line}\r\n`, 'left on the card');
    assert.equal(r.relayConfigured, false);
  }
});

test('STATUS.txt lists every mistake in relaybox.conf, relaybox.secrets and network.conf at once, with file, line and fix, in words without a command line', (t) => {
  const c = card(t);
  const conf = template('relaybox.conf').split('\n');
  const lineOf = (start: string) => conf.findIndex((l) => l.startsWith(start)) + 1;
  edit(c, 'relaybox.conf', [
    [/^forward-to .*$/m, 'forward-too smtp.office365.com:587'],
    [/^poll 60$/m, 'poll sixty'],
    [/^port 25$/m, 'prot 25'],
    [/^size 36700160$/m, 'size -5'],
    [/^status-port 80$/m, 'status-port 99999'],
  ]);
  fs.writeFileSync(
    path.join(c.boot, 'relaybox.secrets'),
    'client plain scanner@contoso.com pass word\r\nclient oauth-ms-cert scanner@contoso.com contoso:app:app.pem x\r\n',
  );
  fs.writeFileSync(path.join(c.boot, 'network.conf'), 'hostname = my_box\r\naddress = 10.0.0.300/24\r\nssh = maybe\r\n');
  const r = importBootPartition(c, NOW);
  const status = renderStatus({ version: '1.0', bootedAt: '2026-12-03T03:59:00Z' }, [
    r.config,
    r.secrets,
    r.network,
    { title: 'Relay', lines: ['not started'], ok: false },
  ]);
  assert.ok(writeStatus(c.boot, status));
  const written = fs.readFileSync(path.join(c.boot, 'STATUS.txt'), 'utf8').replace(/\r\n/g, '\n');
  assert.match(
    written.split('\n')[0]!,
    /^PROBLEM: the settings on the card: Relay configuration \(relaybox\.conf, tls\/\); Secrets \(relaybox\.secrets\); Network \(network\.conf\)/,
  );
  for (const expected of [
    `relaybox.conf, line ${lineOf('forward-to')}: "forward-too" is not a setting: did you mean "forward-to"?`,
    `relaybox.conf, line ${lineOf('poll')}: "poll" needs a whole number of seconds, not "sixty"`,
    `relaybox.conf, line ${lineOf('port')}: "prot" is not a setting: did you mean "port"?`,
    `relaybox.conf, line ${lineOf('size')}: "size"`,
    `relaybox.conf, line ${lineOf('status-port')}: "status-port" must be a whole number from 1 to 65535, not "99999"`,
    'relaybox.secrets, line 1: the fifth field is an account selector',
    'relaybox.secrets, line 2: the PEM file with the app\'s private key and certificate "app.pem" named on this line is not on the card',
    'network.conf, line 1: hostname "my_box" is not valid',
    'network.conf, line 2: address "10.0.0.300/24" is not valid',
    'network.conf, line 3: ssh must be "on" or "off"',
  ])
    assert.ok(written.includes(expected), `STATUS.txt has "${expected}":\n${written}`);
  assert.ok(!/--help|relaybox\.conf:\d|\(\d+\):|--[a-z]/.test(written), `no command-line words:\n${written}`);
  assert.ok(!written.includes('needs a server to forward to'), `no knock-on errors of the misspelt forward-to:\n${written}`);
  assert.equal(written.match(/^ {2}error: /gm)?.length, 11, written);
});

test('plain words: the nearest option for a typo, no command line, positions as "line N"', () => {
  assert.equal(nearestOption('forward-too'), 'forward-to');
  assert.equal(nearestOption('clinet-tls'), 'client-tls');
  assert.equal(nearestOption('completely-different'), undefined);
  assert.equal(
    plainProblem('relaybox.conf:3: unknown option "xyzzy-plugh" (relaybox --help --verbose lists them all)'),
    'relaybox.conf, line 3: "xyzzy-plugh" is not a setting: check the spelling against the option table in the relaybox README, or remove the line',
  );
  assert.equal(plainProblem('/var/lib/relaybox/config/relaybox.secrets(2): too few fields'), 'relaybox.secrets, line 2: too few fields');
  // Delivery errors: the relay's own advice, in the card's words.
  assert.match(
    deliveryAdvice(
      "550 the mailbox a@b.test may not send as this message's sender: turn on --forward-from-mailbox to rewrite the sender [550 5.7.60 SendAsDenied]",
    ),
    /add the line "forward-from-mailbox" to relaybox\.conf to rewrite the sender/,
  );
  assert.equal(
    deliveryAdvice('the refresh token has expired or was revoked: run "relaybox oauth login" again'),
    "the refresh token has expired or was revoked: sign in again from the box's page",
  );
  assert.ok(
    !/relaybox oauth|--[a-z]/.test(
      deliveryAdvice(
        'Microsoft 365 refused the token for a@b.test: sign in as that mailbox with "relaybox oauth login" (scope SMTP.Send), and check --client-auth',
      ),
    ),
  );
  assert.match(deliveryAdvice('535 authentication failed (tried XOAUTH2): 535 5.7.8 no'), /^the provider refused the token of the OAuth2 line/);
  assert.match(deliveryAdvice('unable to verify the first certificate'), /^the provider's certificate was not accepted: check that "forward-to"/);
  // Every problem the parser reports for a bad line comes back with its line.
  const { problems } = parseConfigTextAll('port 25\nbogus\n--log\nlog yes\n', 'relaybox.conf');
  assert.deepEqual(
    problems.map((p) => /^relaybox\.conf:(\d+)/.exec(p)?.[1]),
    ['2', '3', '4'],
  );
});

test("STATUS.txt's first line: OK only after a forwarded message with nothing failed, PROBLEM with the reason and advice otherwise", () => {
  const ok = { title: 'Secrets (relaybox.secrets)', lines: [], ok: true };
  const live = (l: Partial<LiveState>): LiveState => ({ answering: true, queue: { waiting: 0, failed: 0 }, notSignedIn: [], ...l });
  const forwarded = { outcome: 'forwarded' as const, at: '2026-12-03T05:00:00.123Z', id: 'm1' };
  assert.equal(headline([ok], live({ last: forwarded })), 'OK: the last message was forwarded at 2026-12-03T05:00:00Z and nothing has failed');
  assert.match(headline([ok], live({})), /^NOT TESTED YET: /);
  const failed = headline(
    [ok],
    live({
      last: forwarded,
      queue: { waiting: 0, failed: 1, failedError: '535 authentication failed (tried PLAIN, LOGIN): 535 5.7.8 Username and Password not accepted' },
    }),
  );
  assert.match(failed, /^PROBLEM: 1 message failed: the provider refused the user or password from relaybox\.secrets: .*\[535 authentication failed/);
  const deferred = headline([ok], live({ last: { outcome: 'deferred', at: forwarded.at, id: 'm2', code: '421', reason: 'connection timed out' } }));
  assert.match(deferred, /^PROBLEM: the last attempt to forward a message failed: 421 connection timed out/);
  assert.match(
    headline([ok], live({ last: forwarded, queue: { waiting: 3, failed: 0, oldestDeferredMs: 3 * 3600_000, lastError: '451 try later' } })),
    /^PROBLEM: messages have waited for over 3 hour\(s\): 451 try later/,
  );
  assert.match(
    headline([ok], live({ last: forwarded, notSignedIn: ['scanner@contoso.com'] })),
    /^PROBLEM: scanner@contoso\.com has not signed in yet: sign in from the box's page/,
  );
  assert.match(headline([ok], live({ last: forwarded, answering: false })), /^PROBLEM: the relay does not answer on its SMTP port/);
  assert.match(headline([{ ...ok, ok: false }], live({ last: forwarded })), /^PROBLEM: the settings on the card: Secrets \(relaybox\.secrets\)/);
  const underVoltage = { title: 'Hardware', lines: ['Power: UNDER-VOLTAGE now'], ok: false };
  assert.match(
    headline([ok, underVoltage], live({ last: forwarded })),
    /^PROBLEM: the hardware \(power supply, temperature or storage\): see Hardware below \(details below\)$/,
  );
});

test("the card's defaults: no remote-clients, the upstream certificate verified, the status page on, the spool on the data partition", () => {
  const { values, problems } = parseConfigTextAll(template('relaybox.conf'), 'relaybox.conf');
  assert.deepEqual(problems, []);
  const value = (name: string) => values.find((v) => v.spec.name === name)?.value;
  const has = (name: string) => values.some((v) => v.spec.name === name);
  assert.ok(!has('remote-clients'), 'no remote-clients');
  assert.equal(value('allow-clients'), 'on-link');
  assert.equal(value('client-tls-verify'), '<default>');
  assert.ok(has('client-tls-required'));
  assert.equal(value('status-port'), '80');
  assert.equal(value('spool-dir'), '/var/lib/relaybox/spool');
  assert.equal(value('client-auth'), 'relaybox.secrets');
});

test('a template line still holding an example value is refused, naming the line and the value', (t) => {
  const c = card(t);
  edit(c, 'relaybox.conf', [MS]);
  const [line] = templateLines('A');
  useTemplate(c, line!.replace('scanner@contoso.com', 'printer@firm.test'), []);
  const r = importBootPartition(c, NOW);
  assert.equal(r.secrets.ok, false);
  const at =
    fs
      .readFileSync(path.join(c.boot, 'relaybox.secrets'), 'utf8')
      .split('\n')
      .findIndex((l) => l.startsWith('client oauth-ms-secret')) + 1;
  assert.match(
    r.secrets.lines.join('\n'),
    new RegExp(`relaybox\\.secrets, line ${at}: "11111111-2222-3333-4444-555555555555" is the template's example: put your own value there`),
  );
  assert.match(r.secrets.lines.join('\n'), /"the-secret-Value" is the template's example/);
});

test('a renewed key file put on the card under the imported name replaces the copy and is scrubbed; a broken one is refused and the copy kept', (t) => {
  const c = card(t);
  edit(c, 'relaybox.conf', [MS]);
  const first = appPem(c.boot);
  fs.writeFileSync(path.join(c.boot, 'app.pem'), first);
  edit(c, 'relaybox.secrets', [
    [/^client plain .*$/m, 'client oauth-ms-cert scanner@contoso.com contoso.onmicrosoft.com:0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d:app.pem'],
  ]);
  assert.equal(importBootPartition(c, NOW).secrets.ok, true);
  const copy = path.join(c.data, 'keys', 'app.pem');

  fs.writeFileSync(path.join(c.boot, 'app.pem'), 'not a key');
  const broken = importBootPartition(c, LATER);
  assert.equal(broken.secrets.ok, false);
  assert.match(
    broken.secrets.lines.join('\n'),
    /the new app\.pem on the card was not imported \("app\.pem" holds no certificate.*\); the one imported earlier stays in use/,
  );
  assert.deepEqual(fs.readFileSync(copy), first);

  const renewed = appPem(c.run);
  fs.writeFileSync(path.join(c.boot, 'app.pem'), renewed);
  const r = importBootPartition(c, LATER);
  assert.equal(r.secrets.ok, true, r.secrets.lines.join('\n'));
  assert.match(r.secrets.lines.join('\n'), /imported the new key file app\.pem over the one in use and removed it from the card/);
  assert.deepEqual(fs.readFileSync(copy), renewed);
  assert.equal(fs.statSync(copy).mode & 0o777, 0o600);
  assert.ok(!fs.existsSync(path.join(c.boot, 'app.pem')));
});
