// Start-up: bad options stop the bundle with exit code 1 and a message naming the option (and the
// config file line); --help and --version exit 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cleanups, type Defer } from '../lib/cleanup';
import { BUNDLE, freePort, removeDir, tempDir } from '../lib/relay';
import { runTool, type ToolResult } from '../lib/smtp-client';

interface Scratch {
  dir: string;
  /** Options that keep a wrongly started relay harmless: foreground, loopback, a free port, a temp spool. */
  safe: string[];
  file(name: string, text: string): string;
}

async function scratch(defer: Defer): Promise<Scratch> {
  const dir = tempDir('relaybox-startup-');
  defer(() => removeDir(dir));
  const safe = ['--no-daemon', '--port', String(await freePort()), '--interface', '127.0.0.1', '--spool-dir', path.join(dir, 'spool'), '--user', 'root'];
  return {
    dir,
    safe,
    file(name, text) {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      return f;
    },
  };
}

function relaybox(args: string[]): Promise<ToolResult> {
  return runTool(process.execPath, [BUNDLE, ...args], { ms: 10000 });
}

async function expectUsageError(args: string[], message: RegExp): Promise<void> {
  const r = await relaybox(args);
  assert.equal(r.code, 1, `exit code 1 expected for ${args.join(' ')}; stdout: ${r.stdout} stderr: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.match(r.stderr, /^relaybox: error: /);
}

test('an unknown option is named', async (t) => {
  const s = await scratch(cleanups(t));
  await expectUsageError([...s.safe, '--no-such-option'], /command line: unknown option "no-such-option"/);
  await expectUsageError([...s.safe, '-%'], /unknown option "-%"/);
});

test('an option not implemented yet is refused at start-up', async (t) => {
  const s = await scratch(cleanups(t));
  await expectUsageError([...s.safe, '--syslog'], /--syslog is not supported yet; remove it to start/);
});

test('a config file with an unknown option names <file>:<line>', async (t) => {
  const s = await scratch(cleanups(t));
  const conf = s.file('bad.conf', '# relaybox test\n\nlog\nno-such-option 12\n');
  await expectUsageError([...s.safe, conf], new RegExp(`${conf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: unknown option "no-such-option"`));
  const garbled = s.file('garbled.conf', 'log\n\n= 25\n');
  await expectUsageError([...s.safe, garbled], /garbled\.conf:3: cannot read this line/);
});

test('a dashed option name in a config file is an error at its line', async (t) => {
  const s = await scratch(cleanups(t));
  const conf = s.file('dashed.conf', 'log\n--verbose\n');
  await expectUsageError([...s.safe, conf], /dashed\.conf:2: write option names without dashes/);
});

test('a switch given a value in a config file is an error at its line', async (t) => {
  const s = await scratch(cleanups(t));
  const conf = s.file('switch.conf', '# comment\nremote-clients yes\n');
  await expectUsageError([...s.safe, conf], /switch\.conf:2: "remote-clients" is a switch and takes no value/);
});

test('--poll 0 is refused (use --forward-on-disconnect)', async (t) => {
  const s = await scratch(cleanups(t));
  await expectUsageError([...s.safe, '--forward-to', '127.0.0.1:9', '--poll', '0'], /--poll 0 is not allowed.*--forward-on-disconnect/);
});

test('--forward without a forward-to address is refused', async (t) => {
  const s = await scratch(cleanups(t));
  await expectUsageError([...s.safe, '--forward'], /--forward needs a server to forward to/);
  await expectUsageError([...s.safe, '--forward-on-disconnect'], /--forward-on-disconnect needs a server to forward to/);
});

test('--server-tls without a certificate is refused; so is an unreadable certificate file', async (t) => {
  const s = await scratch(cleanups(t));
  await expectUsageError([...s.safe, '--server-tls'], /--server-tls-certificate/);
  const missing = path.join(s.dir, 'missing.pem');
  await expectUsageError([...s.safe, '--server-tls', '--server-tls-certificate', missing], /cannot read --server-tls-certificate file/);
  const notPem = s.file('not.pem', 'hello\n');
  await expectUsageError([...s.safe, '--server-tls', '--server-tls-certificate', notPem], /holds no private key/);
});

test('an option from a config file is reported with <file>:<line>', async (t) => {
  const s = await scratch(cleanups(t));
  const conf = s.file('where.conf', 'log\n\n# forward needs forward-to\nforward\n');
  await expectUsageError([...s.safe, conf], /where\.conf:4: --forward needs a server to forward to/);
});

test('--help and --help --verbose exit 0; the verbose help says more', async () => {
  const short = await relaybox(['--help']);
  assert.equal(short.code, 0, short.stderr);
  assert.match(short.stdout, /^usage: relaybox \[options\] \[config-file\]/);
  assert.match(short.stdout, /--spool-dir/);
  const long = await relaybox(['--help', '--verbose']);
  assert.equal(long.code, 0, long.stderr);
  assert.match(long.stdout, /^usage: relaybox/);
  assert.ok(long.stdout.length > short.stdout.length, 'verbose help is longer');
  assert.match(long.stdout, /Same as --log --close-stderr/);
  assert.doesNotMatch(short.stdout, /Same as --log --close-stderr/);
  assert.equal(long.stderr, '');
});

test('--version exits 0 and prints the version; with --verbose also the TLS library', async () => {
  const v = await relaybox(['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^relaybox \d+\.\d+\.\d+\S*\n$/);
  const vv = await relaybox(['--version', '--verbose']);
  assert.equal(vv.code, 0, vv.stderr);
  assert.match(vv.stdout, /^relaybox \d+\.\d+\.\d+/);
  assert.match(vv.stdout, /^TLS library: /m);
});
