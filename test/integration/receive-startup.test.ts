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

test("--version exits 0 and prints the version; with --verbose the features in E-MailRelay's words", async () => {
  const v = await relaybox(['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^relaybox \d+\.\d+\.\d+\S*\n$/);
  const vv = await relaybox(['--version', '--verbose']);
  assert.equal(vv.code, 0, vv.stderr);
  assert.match(vv.stdout, /^relaybox \d+\.\d+\.\d+/);
  // The patterns E-MailRelay's test harness (test/Server.pm) and users' scripts look for.
  assert.match(vv.stdout, /threading:.*enabled/i);
  assert.match(vv.stdout, /^Unix domain sockets: enabled$/m);
  assert.match(vv.stdout, /^ *POP.*: enabled$/m);
  assert.match(vv.stdout, /^ *Admin.*: enabled$/m);
  assert.match(vv.stdout, /^TLS library: OpenSSL \d/m);
  assert.doesNotMatch(vv.stdout, /: yes$/m);
});

// --client-auth with a secrets file that cannot work: before, relaybox only warned and forwarded
// without AUTH, so every message failed at the provider. Each case names the file and the line.
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function expectSecretsRefused(s: Scratch, text: string | null, message: (file: string) => RegExp, extra: string[] = []): Promise<void> {
  const file = text === null ? path.join(s.dir, 'no-such.auth') : s.file(`c${Math.random().toString(36).slice(2)}.auth`, text);
  const args = [...s.safe, '--forward-to', '127.0.0.1:9', '--client-auth', file, ...extra];
  const r = await relaybox(args);
  assert.equal(r.code, 1, `exit code 1 expected for ${JSON.stringify(text)}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^relaybox: error: /);
  assert.match(r.stderr, message(escape(file)));
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'a message, not a stack trace');
}

test('--client-auth: a missing file, a misspelt type, a raw "+", bad base64, too few fields: start-up refuses, naming file and line', async (t) => {
  const s = await scratch(cleanups(t));
  await expectSecretsRefused(s, null, (f) => new RegExp(`${f}: cannot read secrets file: ENOENT`));
  await expectSecretsRefused(
    s,
    '# mine\nclient plian me@example.com pw\n',
    (f) => new RegExp(`${f}\\(2\\): invalid password type: \\[plian\\]: use plain, plain:b, md5, oauth`),
  );
  await expectSecretsRefused(
    s,
    'client plain me@example.com pa+ss\n',
    (f) => new RegExp(`${f}\\(1\\): invalid xtext encoding in fourth field: write \`\\+\` as \`\\+2B\`, a space as \`\\+20\``),
  );
  await expectSecretsRefused(s, 'client plain:b !!! cGFzcw==\n', (f) => new RegExp(`${f}\\(1\\): invalid base64 encoding in third field`));
  await expectSecretsRefused(
    s,
    'client plain me@example.com\n',
    (f) => new RegExp(`${f}\\(1\\): too few fields: write client <type> <user> <password> \\[<selector>\\]`),
  );
  await expectSecretsRefused(s, 'clinet plain me@example.com pw\n', (f) => new RegExp(`${f}\\(1\\): invalid value in first field`));
});

test('--client-auth: no client line at all starts with a warning, as E-MailRelay (issue 16)', async (t) => {
  const s = await scratch(cleanups(t));
  for (const [name, text] of [
    ['server-only.auth', 'server plain alice alicepw\n'],
    ['empty.auth', ''],
    ['comment.auth', '# empty\n'],
  ]) {
    const f = s.file(name, text);
    const r = await relaybox(['--as-client', '127.0.0.1:9', '--spool-dir', path.join(s.dir, 'spool'), '--user', 'root', '--client-auth', f]);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.match(
      r.stdout + r.stderr,
      new RegExp(`${escape(f)}: there is no \\\\?"client\\\\?" line, so relaybox forwards without authenticating, as E-MailRelay does`),
      name,
    );
  }
});

test('--client-auth: a password with a space read as a selector: start-up refuses', async (t) => {
  const s = await scratch(cleanups(t));
  const r = await relaybox([...s.safe, '--forward-to', '127.0.0.1:9', '--client-auth', s.file('space.auth', 'client plain me@example.com my secret\n')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /space\.auth\(1\): the fifth field is an account selector, and nothing sets one .*If the fifth field is part of the password, write the space as \+20/,
  );
  assert.doesNotMatch(r.stderr, /secret/, 'the fifth field may be half a password: it is not quoted');
});

test('--client-auth: valid E-MailRelay secrets files still start', async (t) => {
  const s = await scratch(cleanups(t));
  const b64 = (x: string) => Buffer.from(x).toString('base64');
  const files = [
    'client plain me@example.com my+20secret+2B1\n',
    `server plain alice alicepw\nserver none 192.168.0.0/24 lan\n# comment\nclient plain:b ${b64('me@example.com')} ${b64('pw with space')}\nclient plain:b = = direct\n`,
    'client login legacy-user legacy-pw\nclient plain other pw sel1 # a comment\n',
    `client cram-md5 md5user ${Buffer.alloc(32, 7).toString('base64')}\n`,
  ];
  for (const text of files) {
    const f = s.file(`ok${files.indexOf(text)}.auth`, text);
    // --as-client: read the (empty) spool and exit, 0 when start-up accepted everything.
    const r = await relaybox(['--as-client', '127.0.0.1:9', '--spool-dir', path.join(s.dir, 'spool'), '--user', 'root', '--client-auth', f]);
    assert.equal(r.code, 0, `${text}: ${r.stderr}`);
  }
  // Only selector lines are fine when a filter can set the ClientAccountSelector.
  const selectors = s.file('selectors.auth', 'client plain a pw sel1\nclient plain:b = = direct\n');
  const r = await relaybox([
    '--as-client',
    '127.0.0.1:9',
    '--spool-dir',
    path.join(s.dir, 'spool'),
    '--user',
    'root',
    '--client-auth',
    selectors,
    '--client-filter',
    'exit:0',
  ]);
  assert.equal(r.code, 0, r.stderr);
});
