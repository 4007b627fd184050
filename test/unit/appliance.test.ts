// The appliance's boot-time import, run on the host against temporary directories standing in for
// the FAT boot partition, the data partition and /run. The templates are the real files of image/boot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { importBootPartition, validateRelayConfig } from '../../src/appliance/boot-import';
import { parseNetworkConf, renderNetworkFiles } from '../../src/appliance/network';
import { renderStatus, summariseSpool, writeStatus } from '../../src/appliance/status';
import { normaliseText } from '../../src/appliance/text';
import { signInStatus } from '../../src/appliance/signin-status';
import { pageTokenFile } from '../../src/forward/oauth/page-grant';
import { testPki } from '../lib/certs';
import { encodeEnvelope, newEnvelope, withReason } from '../../src/spool/envelope';

const TEMPLATES = path.join(__dirname, '..', '..', 'image', 'boot');
const template = (name: string) => fs.readFileSync(path.join(TEMPLATES, name), 'utf8');

interface Card {
  boot: string;
  data: string;
  run: string;
}

function card(t: { after(fn: () => void): void }): Card {
  const root = fs.mkdtempSync(path.join(tmpdir(), 'relaybox-card-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const c = { boot: path.join(root, 'boot'), data: path.join(root, 'data'), run: path.join(root, 'run') };
  for (const d of Object.values(c)) fs.mkdirSync(d);
  for (const f of ['relaybox.conf', 'relaybox.secrets', 'network.conf']) fs.copyFileSync(path.join(TEMPLATES, f), path.join(c.boot, f));
  return c;
}

/** What a Windows user produces: the template edited in Notepad (BOM, CRLF, stray trailing spaces). */
function editLikeWindows(file: string, edits: [RegExp, string][]): void {
  let text = fs.readFileSync(file, 'utf8');
  for (const [from, to] of edits) {
    assert.match(text, from, `${path.basename(file)} has no line matching ${from}`);
    text = text.replace(from, to);
  }
  fs.writeFileSync(
    file,
    '\uFEFF' +
      text
        .split('\n')
        .map((l) => (l ? `${l}  ` : l))
        .join('\r\n'),
  );
}

const PASSWORD = 'Tr0ub4dor-and-3';
function configure(c: Card, upstream = 'mail.provider.test:587'): void {
  editLikeWindows(path.join(c.boot, 'relaybox.conf'), [[/^forward-to .*$/m, `forward-to ${upstream}`]]);
  editLikeWindows(path.join(c.boot, 'relaybox.secrets'), [[/^client plain .*$/m, `client plain printer@provider.test ${PASSWORD}`]]);
}

const NOW = new Date('2026-11-28T04:00:00Z');
const LATER = new Date('2026-11-29T09:30:00Z');

test('text from Windows: BOM, CRLF and trailing spaces are removed', () => {
  assert.equal(normaliseText('\uFEFFport 25  \r\nlog\t\r\n'), 'port 25\nlog\n');
});

test('the untouched templates are refused with the example lines named, and nothing is imported', (t) => {
  const c = card(t);
  const r = importBootPartition(c, NOW);
  assert.equal(r.relayConfigured, false);
  assert.equal(r.secrets.ok, false);
  assert.match(r.secrets.lines.join('\n'), /still holds the example line/);
  assert.equal(fs.readFileSync(path.join(c.boot, 'relaybox.secrets'), 'utf8'), template('relaybox.secrets'), 'the template is left alone');
  const conf = r.config.lines.join('\n');
  const forwardLine =
    template('relaybox.conf')
      .split('\n')
      .findIndex((l) => l.startsWith('forward-to')) + 1;
  assert.match(conf, new RegExp(`relaybox\\.conf, line ${forwardLine}: "forward-to smtp\\.example\\.com:587" is the example`));
  assert.ok(!fs.existsSync(path.join(c.data, 'config')));
});

test('the template works after editing three things, even saved by Notepad; the password leaves the card', (t) => {
  const c = card(t);
  configure(c);
  const r = importBootPartition(c, NOW);
  assert.equal(r.config.ok, true, r.config.lines.join('\n'));
  assert.equal(r.secrets.ok, true, r.secrets.lines.join('\n'));
  assert.equal(r.relayConfigured, true);

  const kept = path.join(c.data, 'relaybox.secrets');
  assert.equal(fs.statSync(kept).mode & 0o777, 0o600);
  assert.match(fs.readFileSync(kept, 'utf8'), new RegExp(`^client plain printer@provider.test ${PASSWORD}$`, 'm'));
  const onCard = fs.readFileSync(path.join(c.boot, 'relaybox.secrets'), 'utf8');
  assert.ok(!onCard.includes(PASSWORD), 'the password is gone from the card');
  assert.match(onCard, /imported into the box on 2026-11-28T04:00:00Z/);

  const active = path.join(c.data, 'config');
  const conf = fs.readFileSync(path.join(active, 'relaybox.conf'), 'utf8');
  assert.match(conf, /^forward-to mail\.provider\.test:587$/m);
  assert.ok(!conf.includes('\r') && !conf.includes('\uFEFF') && !/ $/m.test(conf), 'stored as plain LF text');
  assert.equal(fs.readlinkSync(path.join(active, 'relaybox.secrets')), '../relaybox.secrets');
  assert.deepEqual(validateRelayConfig(conf, active), [], "the stored configuration passes the relay's own checks");
  assert.ok(fs.statSync(path.join(c.data, 'spool')).isDirectory());

  // The next boot: nothing new to import, the scrub note is not mistaken for secrets.
  const again = importBootPartition(c, LATER);
  assert.match(again.config.lines.join('\n'), /unchanged: running the configuration imported on 2026-11-28T04:00:00Z/);
  assert.match(again.secrets.lines.join('\n'), /in use: the secrets imported earlier/);
  assert.match(fs.readFileSync(kept, 'utf8'), new RegExp(PASSWORD));
});

test('a broken new relaybox.conf leaves the last good one running and says which line is wrong', (t) => {
  const c = card(t);
  configure(c);
  importBootPartition(c, NOW);
  const conf = path.join(c.boot, 'relaybox.conf');
  fs.writeFileSync(
    conf,
    fs
      .readFileSync(conf, 'utf8')
      .replace(/^poll 60/m, 'poll sixty')
      .replace(/^port 25/m, 'prot 25'),
  );
  const r = importBootPartition(c, LATER);
  assert.equal(r.config.ok, false);
  assert.equal(r.relayConfigured, true);
  const text = r.config.lines.join('\n');
  const portLine =
    template('relaybox.conf')
      .split('\n')
      .findIndex((l) => l === 'port 25') + 1;
  const pollLine =
    template('relaybox.conf')
      .split('\n')
      .findIndex((l) => l === 'poll 60') + 1;
  assert.match(text, new RegExp(`relaybox\\.conf, line ${portLine}: "prot" is not a setting: did you mean "port"\\?`));
  assert.match(text, new RegExp(`relaybox\\.conf, line ${pollLine}: "poll" needs a whole number of seconds, not "sixty"`), 'both errors, not only the first');
  assert.ok(!/--help|relaybox\.conf:\d/.test(text), `plain words: ${text}`);
  assert.match(text, /still running the last good configuration, imported on 2026-11-28T04:00:00Z/);
  assert.match(fs.readFileSync(path.join(c.data, 'config', 'relaybox.conf'), 'utf8'), /^port 25$/m);
  assert.ok(!fs.existsSync(path.join(c.data, 'config.new')));

  // Fixed on the next boot: applied.
  fs.writeFileSync(
    conf,
    fs
      .readFileSync(conf, 'utf8')
      .replace(/^poll sixty/m, 'poll 120')
      .replace(/^prot 25/m, 'port 25'),
  );
  const fixed = importBootPartition(c, LATER);
  assert.equal(fixed.config.ok, true, fixed.config.lines.join('\n'));
  assert.match(fs.readFileSync(path.join(c.data, 'config', 'relaybox.conf'), 'utf8'), /^poll 120$/m);
});

test('the appliance refuses a spool on the read-only root and secrets that cannot work', (t) => {
  const c = card(t);
  configure(c);
  importBootPartition(c, NOW);
  const conf = path.join(c.boot, 'relaybox.conf');
  fs.writeFileSync(conf, fs.readFileSync(conf, 'utf8').replace(/^spool-dir .*$/m, 'spool-dir /var/spool/emailrelay'));
  const r = importBootPartition(c, LATER);
  assert.match(r.config.lines.join('\n'), /the spool must be on the data partition/);

  fs.writeFileSync(path.join(c.boot, 'relaybox.secrets'), 'client plain onlyauser\r\n');
  const s = importBootPartition(c, LATER);
  assert.equal(s.secrets.ok, false);
  assert.match(s.secrets.lines.join('\n'), /relaybox\.secrets, line 1: too few fields/);
  assert.match(s.secrets.lines.join('\n'), /the secrets imported earlier stay in use/);
  assert.match(fs.readFileSync(path.join(c.data, 'relaybox.secrets'), 'utf8'), new RegExp(PASSWORD));
});

test('the appliance refuses secrets whose password has a space (read as the account selector): the relay would not authenticate', (t) => {
  const c = card(t);
  editLikeWindows(path.join(c.boot, 'relaybox.conf'), [[/^forward-to .*$/m, 'forward-to mail.provider.test:587']]);
  editLikeWindows(path.join(c.boot, 'relaybox.secrets'), [[/^client plain .*$/m, 'client plain printer@provider.test my password']]);
  const before = fs.readFileSync(path.join(c.boot, 'relaybox.secrets'));
  const r = importBootPartition(c, NOW);
  assert.equal(r.relayConfigured, false);
  assert.equal(r.secrets.ok, false, 'not imported as OK');
  const line =
    fs
      .readFileSync(path.join(TEMPLATES, 'relaybox.secrets'), 'utf8')
      .split('\n')
      .findIndex((l) => l.startsWith('client plain')) + 1;
  assert.match(r.secrets.lines.join('\n'), new RegExp(`relaybox\\.secrets, line ${line}: the fifth field is an account selector.*write the space as \\+20`));
  assert.match(r.secrets.lines.join('\n'), /not imported, and left on the card as it is/);
  assert.deepEqual(fs.readFileSync(path.join(c.boot, 'relaybox.secrets')), before, "the card's file is not scrubbed");
  assert.ok(!fs.existsSync(path.join(c.data, 'relaybox.secrets')));
});

test("tls/ on the card is copied beside the configuration and checked by the relay's parser", (t) => {
  const c = card(t);
  configure(c);
  const pki = testPki();
  fs.mkdirSync(path.join(c.boot, 'tls'));
  fs.writeFileSync(path.join(c.boot, 'tls', 'key.pem'), pki.serverKey);
  const conf = path.join(c.boot, 'relaybox.conf');
  fs.writeFileSync(conf, fs.readFileSync(conf, 'utf8').replace(/^#(server-tls.*)$/gm, '$1'));
  const missing = importBootPartition(c, NOW);
  assert.equal(missing.config.ok, false);
  assert.match(missing.config.lines.join('\n'), /relaybox\.conf, line \d+: cannot read "server-tls-certificate" file "tls\/cert\.pem": there is no such file/);
  assert.ok(fs.existsSync(path.join(c.boot, 'tls', 'key.pem')), 'the key stays on the card while the configuration is refused');

  fs.writeFileSync(path.join(c.boot, 'tls', 'cert.pem'), pki.serverCert);
  const r = importBootPartition(c, LATER);
  assert.equal(r.config.ok, true, r.config.lines.join('\n'));
  assert.match(r.config.lines.join('\n'), /and 2 file\(s\) from tls\//);
  assert.deepEqual(fs.readFileSync(path.join(c.data, 'config', 'tls', 'cert.pem')), pki.serverCert);
  assert.deepEqual(fs.readFileSync(path.join(c.data, 'config', 'tls', 'key.pem')), pki.serverKey);
  assert.equal(fs.statSync(path.join(c.data, 'config', 'tls', 'key.pem')).mode & 0o777, 0o600);
  assert.ok(!fs.existsSync(path.join(c.boot, 'tls', 'key.pem')), 'the private key is scrubbed from the card');
  assert.ok(fs.existsSync(path.join(c.boot, 'tls', 'cert.pem')), 'the certificate (public) stays');
  assert.match(r.config.lines.join('\n'), /the private key tls\/key\.pem was imported and removed from the card/);
  // The next boot: the key is no longer on the card, and that is no change.
  const again = importBootPartition(c, new Date(LATER.getTime() + 60000));
  assert.match(again.config.lines.join('\n'), /unchanged/);
  assert.deepEqual(fs.readFileSync(path.join(c.data, 'config', 'tls', 'key.pem')), pki.serverKey);
});

test('network.conf: static address, Wi-Fi, time and SSH become files for networkd, wpa_supplicant, timesyncd and sshd', (t) => {
  const c = card(t);
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk6WwJ5mTf5+3k0Oy6eLhY0s6r5x1U9bXhYw7Q0sQfZ admin@laptop';
  fs.writeFileSync(
    path.join(c.boot, 'network.conf'),
    [
      '\uFEFFhostname = mailbox ',
      'address = 192.168.7.20/24',
      'gateway = 192.168.7.1',
      'dns = 192.168.7.1, 9.9.9.9',
      'wifi_ssid = "Office"',
      'wifi_passphrase = correct horse',
      'wifi_country = gb',
      'timezone = Europe/London',
      'ntp = ntp.lan 192.168.7.1',
      'ssh = on',
      `ssh_key = ${key}`,
      '',
    ].join('\r\n'),
  );
  const r = importBootPartition(c, NOW);
  assert.equal(r.network.ok, true, r.network.lines.join('\n'));
  const read = (rel: string) => fs.readFileSync(path.join(c.run, rel), 'utf8');
  const wired = read('systemd/network/10-relaybox-wired.network');
  assert.match(wired, /^Address=192\.168\.7\.20\/24$/m);
  assert.match(wired, /^Gateway=192\.168\.7\.1$/m);
  assert.match(wired, /^DNS=9\.9\.9\.9$/m);
  assert.match(read('relaybox/wpa_supplicant-wlan0.conf'), /country=GB\nnetwork=\{\n {2}ssid="Office"\n {2}psk="correct horse"\n\}/);
  assert.equal(fs.statSync(path.join(c.run, 'relaybox/wpa_supplicant-wlan0.conf')).mode & 0o777, 0o600);
  assert.equal(read('systemd/timesyncd.conf.d/relaybox.conf'), '[Time]\nNTP=ntp.lan 192.168.7.1\n');
  assert.equal(read('relaybox/hostname'), 'mailbox\n');
  assert.equal(read('relaybox/timezone'), 'Europe/London\n');
  assert.match(read('relaybox/sshd_config'), /^PasswordAuthentication no$/m);
  assert.equal(read('relaybox/authorized_keys'), `${key}\n`);
});

test('a broken network.conf is reported line by line and the last good one stays in force', (t) => {
  const c = card(t);
  importBootPartition(c, NOW); // the template: DHCP
  assert.match(fs.readFileSync(path.join(c.run, 'systemd/network/10-relaybox-wired.network'), 'utf8'), /^DHCP=yes$/m);
  fs.writeFileSync(
    path.join(c.boot, 'network.conf'),
    'hostname = box\naddress = 192.168.1.300/24\ntimezone = Mars/Olympus\nssh = on\nwifi_ssid = x\nfoo = 1\n',
  );
  const r = importBootPartition(c, LATER);
  assert.equal(r.network.ok, false);
  const text = r.network.lines.join('\n');
  assert.match(text, /network\.conf, line 2: address "192\.168\.1\.300\/24" is not valid/);
  assert.match(text, /network\.conf, line 3: timezone "Mars\/Olympus" is unknown/);
  assert.match(text, /network\.conf, line 4: ssh = on needs at least one ssh_key/);
  assert.match(text, /network\.conf, line 5: Wi-Fi needs wifi_country/);
  assert.match(text, /network\.conf, line 6: unknown setting "foo"/);
  assert.match(text, /using the last good one/);
  assert.match(fs.readFileSync(path.join(c.run, 'systemd/network/10-relaybox-wired.network'), 'utf8'), /^DHCP=yes$/m);
  assert.equal(fs.readFileSync(path.join(c.run, 'relaybox/hostname'), 'utf8'), 'relaybox\n');
});

test('parseNetworkConf alone: the defaults are DHCP, no Wi-Fi, no SSH', () => {
  const { settings, problems } = parseNetworkConf(template('network.conf'), 'network.conf');
  assert.deepEqual(problems, []);
  const files = renderNetworkFiles(settings);
  assert.deepEqual([...files.keys()].sort(), ['relaybox/hostname', 'relaybox/timezone', 'systemd/network/10-relaybox-wired.network']);
});

test('STATUS.txt is written in CRLF and rewritten only when its content changes', (t) => {
  const c = card(t);
  configure(c);
  const r = importBootPartition(c, NOW);
  const sections = [r.config, r.secrets, r.network];
  const text = renderStatus({ version: '1.2.3', bootedAt: '2026-11-28T03:59:00Z' }, sections);
  assert.equal(writeStatus(c.boot, text), true);
  const file = path.join(c.boot, 'STATUS.txt');
  const written = fs.readFileSync(file, 'utf8');
  assert.match(written, /^STARTING: the settings were accepted and the relay is starting/, 'no OK before anything was forwarded');
  assert.match(written, /\r\nrelaybox appliance 1\.2\.3: STATUS\r\n/);
  assert.ok(!written.includes(PASSWORD));
  fs.utimesSync(file, new Date(NOW.getTime() - 60000), new Date(NOW.getTime() - 60000));
  const before = fs.statSync(file).mtimeMs;
  assert.equal(writeStatus(c.boot, text), false);
  assert.equal(fs.statSync(file).mtimeMs, before, 'not touched');
  assert.equal(writeStatus(c.boot, text.replace('STARTING', 'STARTING!')), true);
});

test('the queue summary counts waiting and failed messages and finds the last delivery error', (t) => {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'relaybox-spool-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const envelope = (reason: string, code: number) => encodeEnvelope(withReason(newEnvelope({ from: 'a@b.test' }), reason, code));
  fs.writeFileSync(path.join(dir, 'emailrelay.1.1.envelope'), envelope('upstream unreachable', 421));
  fs.writeFileSync(path.join(dir, 'emailrelay.1.2.envelope.bad'), envelope('authentication failed', 535));
  fs.utimesSync(path.join(dir, 'emailrelay.1.1.envelope'), new Date(1000), new Date(1000));
  const q = summariseSpool(dir);
  assert.equal(q.waiting, 1);
  assert.equal(q.failed, 1);
  assert.equal(q.lastError, '535 authentication failed');
});

test('the status page admin password: made at first boot and shown in STATUS.txt; one on the card is imported, scrubbed, and no longer shown', (t) => {
  const c = card(t);
  configure(c);
  const r = importBootPartition(c, NOW);
  assert.equal(r.config.ok, true, r.config.lines.join('\n'));
  const kept = path.join(c.data, 'admin-password.txt');
  assert.equal(fs.statSync(kept).mode & 0o777, 0o600);
  const made = fs.readFileSync(kept, 'utf8').trim();
  assert.match(made, /^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
  const status = renderStatus({ version: 't', bootedAt: 'b' }, [r.config, r.secrets, r.adminPassword, r.network]);
  assert.ok(status.includes(`the box made this password at its first start: ${made}`), status);
  const active = path.join(c.data, 'config');
  assert.equal(fs.readlinkSync(path.join(active, 'admin-password.txt')), '../admin-password.txt');
  const conf = fs.readFileSync(path.join(active, 'relaybox.conf'), 'utf8');
  assert.match(conf, /^admin-password-file admin-password\.txt$/m);
  assert.deepEqual(validateRelayConfig(conf, active), [], 'the relay reads the imported password');

  // The next boot keeps it and still shows it.
  const again = importBootPartition(c, LATER);
  assert.equal(fs.readFileSync(kept, 'utf8').trim(), made);
  assert.match(again.adminPassword.lines.join('\n'), new RegExp(made));

  // Too short: refused, the one in use stays.
  fs.writeFileSync(path.join(c.boot, 'admin-password.txt'), 'short\r\n');
  const short = importBootPartition(c, LATER);
  assert.equal(short.adminPassword.ok, false);
  assert.match(short.adminPassword.lines.join('\n'), /shorter than 8 characters; it was not imported/);
  assert.equal(fs.readFileSync(kept, 'utf8').trim(), made);

  // The user's own password, saved by Notepad: imported, gone from the card, not in STATUS.txt.
  const own = 'my own page pw 42';
  fs.writeFileSync(path.join(c.boot, 'admin-password.txt'), `\uFEFF${own}  \r\n`);
  const mine = importBootPartition(c, LATER);
  assert.equal(mine.adminPassword.ok, true, mine.adminPassword.lines.join('\n'));
  assert.equal(fs.readFileSync(kept, 'utf8'), `${own}\n`);
  const onCard = fs.readFileSync(path.join(c.boot, 'admin-password.txt'), 'utf8');
  assert.ok(!onCard.includes(own), 'the password is gone from the card');
  assert.match(onCard, /imported into the box on 2026-11-29T09:30:00Z/);
  const text = renderStatus({ version: 't', bootedAt: 'b' }, [mine.adminPassword]);
  assert.ok(!text.includes(own) && !text.includes(made), text);
  // And the scrub note is not taken for a new password at the boot after.
  const after = importBootPartition(c, LATER);
  assert.match(after.adminPassword.lines.join('\n'), /in use: the password you put on the card earlier/);
  assert.equal(fs.readFileSync(kept, 'utf8'), `${own}\n`);
});

test('STATUS.txt names each mailbox of a page: line, signed in or waiting for the Sign in button', (t) => {
  const c = card(t);
  const secrets = path.join(c.data, 'relaybox.secrets');
  fs.writeFileSync(
    secrets,
    'client oauth-refresh scanner@contoso.com page:microsoft:contoso.com:app-1\nclient oauth-refresh fax@contoso.com page:microsoft:contoso.com:app-1 fax\nclient plain other@x.test pw3 other\n',
  );
  const spool = path.join(c.data, 'spool');
  const before = signInStatus(secrets, spool);
  assert.equal(before.ok, false);
  assert.match(before.lines.join('\n'), /mailbox scanner@contoso\.com: NOT signed in yet: open the status page .* press Sign in/);
  assert.equal(before.lines.length, 2);
  const file = pageTokenFile(path.join(spool, '.relaybox'), 'scanner@contoso.com', { provider: 'microsoft', tenant: 'contoso.com', clientId: 'app-1' });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '{}');
  const after = signInStatus(secrets, spool);
  assert.deepEqual(after.lines[0], 'mailbox scanner@contoso.com: signed in');
  assert.equal(after.ok, false, 'fax@ still waits');
});
