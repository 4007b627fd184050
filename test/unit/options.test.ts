import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandLine, parseConfigText, UsageError } from '../../src/options/parse';
import { buildConfig } from '../../src/config';

const cfg = (argv: string[], conf = '') =>
  buildConfig([...parseCommandLine(argv).values, ...parseConfigText(conf, 'relaybox.conf')], '/base');

test('long, short, bundled and = forms', () => {
  const p = parseCommandLine(['--port', '2525', '-lv', '--spool-dir=/s', '-o', 'mx.example:25', 'my.conf']);
  assert.deepEqual(p.values.map((v) => [v.spec.name, v.value]), [
    ['port', '2525'], ['log', ''], ['verbose', ''], ['spool-dir', '/s'], ['forward-to', 'mx.example:25'],
  ]);
  assert.equal(p.configFile, 'my.conf');
});

test('config file: comments, blank lines, name=value, quotes; errors name file and line', () => {
  const v = parseConfigText('# comment\n\nport 25\nspool-dir="/var/spool/x"\nremote-clients\n', 'a.conf');
  assert.deepEqual(v.map((x) => [x.spec.name, x.value, x.where]), [
    ['port', '25', 'a.conf:3'], ['spool-dir', '/var/spool/x', 'a.conf:4'], ['remote-clients', '', 'a.conf:5'],
  ]);
  assert.throws(() => parseConfigText('port 25\nno-such-thing 1\n', 'a.conf'), /a\.conf:2: unknown option "no-such-thing"/);
  assert.throws(() => parseConfigText('--port 25\n', 'a.conf'), /a\.conf:1: write option names without dashes/);
  assert.throws(() => parseConfigText('remote-clients yes\n', 'a.conf'), /a\.conf:1: "remote-clients" is a switch/);
  assert.throws(() => parseConfigText('port\n', 'a.conf'), /a\.conf:1: "port" needs a value/);
});

test('options not implemented yet are refused, naming the issue', () => {
  assert.throws(() => cfg(['--admin-terminate']), (e: Error) => e instanceof UsageError && /--admin-terminate is not supported yet \(planned, issue 7\)/.test(e.message));
  assert.throws(() => cfg([], 'admin 10025\n'), /relaybox\.conf:1: --admin is not supported yet \(planned, issue 7\)/);
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
  assert.throws(() => cfg(['--forward-to', 'a.example:25@127.0.0.1:9050']), /SOCKS.*not supported yet/);
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
