import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandLine, parseConfigText, UsageError } from '../../src/options/parse';
import { buildConfig } from '../../src/config';

const cfg = (argv: string[], conf = '') => buildConfig([...parseCommandLine(argv).values, ...parseConfigText(conf, 'relaybox.conf')], '/base');

test('long, short, bundled and = forms', () => {
  const p = parseCommandLine(['--port', '2525', '-lv', '--spool-dir=/s', '-o', 'mx.example:25', 'my.conf']);
  assert.deepEqual(
    p.values.map((v) => [v.spec.name, v.value]),
    [
      ['port', '2525'],
      ['log', ''],
      ['verbose', ''],
      ['spool-dir', '/s'],
      ['forward-to', 'mx.example:25'],
    ],
  );
  assert.equal(p.configFile, 'my.conf');
});

test('config file: comments, blank lines, name=value, quotes; errors name file and line', () => {
  const v = parseConfigText('# comment\n\nport 25\nspool-dir="/var/spool/x"\nremote-clients\n', 'a.conf');
  assert.deepEqual(
    v.map((x) => [x.spec.name, x.value, x.where]),
    [
      ['port', '25', 'a.conf:3'],
      ['spool-dir', '/var/spool/x', 'a.conf:4'],
      ['remote-clients', '', 'a.conf:5'],
    ],
  );
  assert.throws(() => parseConfigText('port 25\nno-such-thing 1\n', 'a.conf'), /a\.conf:2: unknown option "no-such-thing"/);
  assert.throws(() => parseConfigText('--port 25\n', 'a.conf'), /a\.conf:1: write option names without dashes/);
  assert.throws(() => parseConfigText('remote-clients yes\n', 'a.conf'), /a\.conf:1: "remote-clients" is a switch/);
  assert.throws(() => parseConfigText('port\n', 'a.conf'), /a\.conf:1: "port" needs a value/);
});

test('options not implemented yet are refused, naming the issue', () => {
  assert.throws(
    () => cfg(['--syslog']),
    (e: Error) => e instanceof UsageError && /--syslog is not supported yet/.test(e.message),
  );
  assert.throws(() => cfg([], 'syslog\n'), /relaybox\.conf:1: --syslog is not supported yet; remove it/);
  assert.throws(() => cfg(['--show', 'tray']), /Windows option/);
});

test('E-MailRelay usage checks', () => {
  assert.throws(() => cfg(['--poll', '0', '--forward-to', 'a:25']), /--poll 0 is not allowed/);
  assert.throws(() => cfg(['--forward']), /--forward needs a server to forward to/);
  assert.throws(() => cfg(['--server-tls']), /needs --server-tls-certificate/);
  assert.throws(() => cfg(['--client-tls', '--client-tls-connection']), /not both/);
  assert.throws(() => cfg(['--as-client', 'a:25', '--forward-to', 'b:25']), /cannot be used with --as-client/);
  assert.throws(() => cfg(['--client-tls-required']), /needs --client-tls/);
  assert.throws(() => cfg(['--port', '25', '--port', '26']), /given twice/);
  assert.throws(() => cfg(['--forward-to', 'host-without-port']), /host:port/);
  assert.equal(cfg(['--forward-to', 'a.example:25@127.0.0.1:9050']).forwardTo?.kind, 'tcp');
  assert.throws(() => cfg(['--forward-to', 'graph:']), /Graph needs --client-auth with a secrets file/);
  assert.throws(() => cfg(['--forward-to', 'graph:', '--client-auth', 'plain:YQ==:Yg==']), /Graph needs --client-auth with a secrets file/);
  assert.throws(() => cfg(['--forward-to', 'graph:', '--client-auth', 'secrets', '--client-tls']), /--client-tls has no meaning with a Graph --forward-to/);
  assert.throws(() => cfg(['--forward-from-mailbox', '--forward-to', 'a:25']), /--forward-from-mailbox needs --client-auth/);
  assert.throws(() => cfg(['--oauth-authority', 'http://login.example']), /--oauth-authority must be an https URL/);
  assert.equal(cfg(['--oauth-authority', 'https://login.microsoftonline.us/']).oauthAuthority, 'https://login.microsoftonline.us');
  assert.throws(() => cfg(['--oauth-google-authority', 'http://127.0.0.1:1']), /--oauth-google-authority must be an https URL/);
  assert.equal(cfg(['--oauth-google-authority', 'https://127.0.0.1:9/']).oauthGoogleAuthority, 'https://127.0.0.1:9');
});

test('shorthands, defaults and the command line winning over the config file', () => {
  const c = cfg(['--as-proxy', 'smtp.example.com:587', '--port', '2525'], 'port 25\n');
  assert.equal(c.port, 2525);
  assert.equal(c.forwardOnDisconnect, true);
  assert.equal(c.daemon, true);
  assert.equal(c.log.level, 'info');
  assert.deepEqual(c.forwardTo, { kind: 'tcp', host: 'smtp.example.com', port: 587, text: 'smtp.example.com:587' });
  assert.equal(c.responseTimeout, 1800);
  assert.equal(c.idleTimeout, 1800);
  assert.equal(c.tls.minVersion, 'TLSv1.2');
  const q = cfg(['--as-client', '[::1]:25']);
  assert.equal(q.oneShot, true);
  assert.equal(q.daemon, false);
  assert.deepEqual(q.forwardTo, { kind: 'tcp', host: '::1', port: 25, text: '[::1]:25' });
});

test('server and client smtp switches', () => {
  const c = cfg(['--server-smtp-config', 'nostrictparsing,-pipelining,+smtputf8', '--client-smtp-config', 'pipelining']);
  assert.equal(c.serverSmtp.strictparsing, false);
  assert.equal(c.serverSmtp.pipelining, false);
  assert.equal(c.serverSmtp.smtputf8, true);
  assert.equal(c.serverSmtp.alabels, true);
  assert.equal(c.clientSmtp.pipelining, true);
  assert.equal(cfg(['--tls-config', 'tlsv1.0,-tlsv1.2']).tls.minVersion, 'TLSv1');
});

test('admin, status page and alert options (relaybox extensions)', () => {
  const c = cfg(['--admin', '10025', '--admin-terminate', '--status-port', '8025', '--alert-to', 'ops@example.org', '--domain', 'box.lan']);
  assert.equal(c.observe.adminPort, 10025);
  assert.equal(c.observe.adminTerminate, true);
  assert.equal(c.observe.statusPort, 8025);
  assert.equal(c.observe.adminPassword, null);
  assert.deepEqual(c.observe.alerts, {
    to: 'ops@example.org',
    from: 'relaybox@box.lan',
    intervalSeconds: 3600,
    diskPercent: 10,
    upstreamSeconds: 1800,
    expiryDays: 14,
  });
  assert.equal(cfg([]).observe.statusPort, null, 'the status page is off by default');
  assert.equal(cfg([], 'admin 10025\n').observe.adminPort, 10025);
  assert.throws(() => cfg(['--admin-terminate']), /--admin-terminate needs --admin/);
  assert.throws(() => cfg(['--admin', 'x']), /--admin must be a whole number from 1 to 65535, not "x"/);
  assert.throws(() => cfg(['--alert-interval', '60']), /--alert-interval needs --alert-to/);
  assert.throws(() => cfg(['--alert-to', 'not an address']), /--alert-to needs a mail address/);
  assert.throws(() => cfg(['--alert-to', 'a@b', '--alert-disk-percent', '101']), /--alert-disk-percent must be a whole number from 0 to 100/);
  assert.throws(() => cfg(['--admin-password-file', '/nonexistent/pw', '--admin', '1']), /cannot read the admin password file "\/nonexistent\/pw"/);
  assert.throws(() => cfg(['--admin-password-file', '/nonexistent/pw']), /--admin-password-file needs --admin or --status-port/);
  assert.throws(() => cfg(['--as-client', 'a:25', '--status-port', '8025']), /--status-port makes no sense with --dont-serve or --as-client/);
});
