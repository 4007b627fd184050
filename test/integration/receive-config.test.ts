// A config file alone (no options on the command line) sets up a working relay: port, spool-dir,
// interface, switches, both `name value` and `name=value` forms, comments and blank lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cleanups } from '../lib/cleanup';
import { freePort, removeDir, startRelay, tempDir } from '../lib/relay';
import { swaks, swaksAccepted } from '../lib/smtp-client';
import { readAll, splitReceived } from '../lib/spool-files';

test('a config file with port, spool-dir, interface, comments and blank lines runs a relay that accepts mail', async (t) => {
  const defer = cleanups(t);
  const dir = tempDir('relaybox-config-');
  defer(() => removeDir(dir));
  const spool = path.join(dir, 'spool');
  mkdirSync(spool);
  const port = await freePort();
  const conf = path.join(dir, 'relaybox.conf');
  writeFileSync(
    conf,
    [
      '# relaybox test configuration',
      '',
      '   # an indented comment',
      `port ${port}`,
      `spool-dir=${spool}`,
      'interface\t127.0.0.1',
      '',
      'log',
      'no-daemon',
      'user root',
      'domain "config.relay.test"',
      'verbose',
      '',
    ].join('\n'),
  );

  const r = await startRelay([conf], { raw: true, port, spool });
  defer(() => r.stop());
  const listening = await r.waitForLog('listening for smtp');
  assert.equal(listening.address, '127.0.0.1');
  assert.equal(listening.port, port);

  const res = await swaks({ port, from: 'conf@example.test', to: ['x@example.net'] });
  assert.ok(swaksAccepted(res), res.stdout + res.stderr);
  assert.match(res.stdout, /^<-\s+220 config\.relay\.test /m, 'the quoted domain value is used without its quotes');
  const debug = await r.waitForLog('smtp connection');
  assert.equal(debug.level, 20, 'verbose from the config file turns on debug lines');
  const [m] = readAll(spool);
  assert.equal(m.envelope.from, 'conf@example.test');
  assert.equal(splitReceived(m.content)?.domain, 'config.relay.test');
});

test('a relative spool-dir in a config file is taken from the directory relaybox starts in', async (t) => {
  const defer = cleanups(t);
  const dir = tempDir('relaybox-config-');
  defer(() => removeDir(dir));
  const port = await freePort();
  const conf = path.join(dir, 'relative.conf');
  writeFileSync(conf, `# relative spool\nport ${port}\nspool-dir spool-here\ninterface 127.0.0.1\nlog\nno-daemon\nuser root\n`);

  const r = await startRelay([conf], { raw: true, port, spool: path.join(dir, 'spool-here'), cwd: dir });
  defer(() => r.stop());
  const res = await swaks({ port, from: 'relative@example.test' });
  assert.ok(swaksAccepted(res), res.stdout + res.stderr);
  const [m] = readAll(path.join(dir, 'spool-here'));
  assert.equal(m.envelope.from, 'relative@example.test');
});
