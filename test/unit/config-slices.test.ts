// Each component reads its own config slice (issue 17 step 1). These tests hold the slices to the
// option table: every supported option is read by some slice, and the shared readers word a bad value
// alike whichever slice reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPTIONS } from '../../src/options/table';
import { OptionSet, type OptionLookup } from '../../src/options/option-set';
import { parseCommandLine } from '../../src/options/parse';
import { buildConfig, readRelayConfig } from '../../src/config';
import { readSmtpConfig } from '../../src/smtp/config';
import { readForwardConfig } from '../../src/forward/config';
import { readNetConfig } from '../../src/net/config';

// Options that no slice reads, each with the place that handles it instead.
const READ_ELSEWHERE: Record<string, string> = {
  help: 'main.ts prints the help before any configuration is read',
  version: 'main.ts prints the version before any configuration is read',
  'as-server': 'config.ts expandShorthands turns it into --log --close-stderr',
  'no-syslog': 'relaybox never uses syslog, so the option has nothing to switch off',
};

/** Records every option name a reader asks about, present or not. */
function recording(values = new OptionSet([])): { lookup: OptionLookup; asked: Set<string> } {
  const asked = new Set<string>();
  const ask = <T>(name: string, answer: T): T => {
    asked.add(name);
    return answer;
  };
  const lookup: OptionLookup = {
    has: (n) => ask(n, values.has(n)),
    all: (n) => ask(n, values.all(n)),
    get: (n) => ask(n, values.get(n)),
    list: (n) => ask(n, values.list(n)),
    where: (n) => values.where(n),
  };
  return { lookup, asked };
}

test('every supported option in the table is read by a config slice, or named with the place that reads it', () => {
  const { lookup, asked } = recording();
  readRelayConfig(lookup, '/base');
  const supported = OPTIONS.filter((o) => o.support === 'yes').map((o) => o.name);
  const unread = supported.filter((n) => !asked.has(n));
  assert.deepEqual(unread.sort(), Object.keys(READ_ELSEWHERE).sort(), 'an option the table supports but no slice reads is accepted and ignored');
  const unknown = [...asked].filter((n) => !OPTIONS.some((o) => o.name === n));
  assert.deepEqual(unknown, [], 'slices ask only for options the table knows');
});

test('the recorder sees what a slice asks for (a recorder that saw nothing would pass the test above)', () => {
  const { lookup, asked } = recording();
  readSmtpConfig(lookup, { baseDir: '/base', warnings: [] });
  assert.ok(asked.has('port') && asked.has('max-recipients') && asked.has('server-auth'));
  assert.ok(!asked.has('forward-to') && !asked.has('poll'), 'the SMTP slice does not read forwarding options');
});

test('slices read alone give the documented defaults', () => {
  const none = new OptionSet([]);
  const ctx = { baseDir: '/base', warnings: [] as string[] };
  const smtp = readSmtpConfig(none, ctx);
  assert.equal(smtp.port, 25);
  assert.equal(smtp.smtpLimits.maxRecipients, 1000);
  const fwd = readForwardConfig(none, ctx);
  assert.equal(fwd.forwardTo, undefined);
  assert.equal(fwd.connectionTimeout, 40);
  assert.equal(fwd.forwardConnections, 1);
  assert.deepEqual(fwd.retry, { enabled: true, delay: 60, maxDelay: 3600, maxAge: 432000 });
  const net = readNetConfig(new OptionSet(parseCommandLine(['--domain', 'relay.example']).values), ctx);
  assert.equal(net.domain, 'relay.example');
  assert.equal(net.tls.minVersion, 'TLSv1.2');
});

test('the shared readers word a bad value the same way in every slice', () => {
  const err = (argv: string[]) => {
    try {
      buildConfig(parseCommandLine(argv).values, '/base');
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };
  // Seconds: the SMTP, forwarding and filter slices.
  assert.equal(err(['--idle-timeout', 'x']), 'command line: --idle-timeout needs a whole number of seconds greater than 0, not "x"');
  assert.equal(err(['--connection-timeout', 'x']), 'command line: --connection-timeout needs a whole number of seconds greater than 0, not "x"');
  assert.equal(err(['--filter-timeout', '0']), 'command line: --filter-timeout needs a whole number of seconds greater than 0, not "0"');
  // Whole numbers: the SMTP, POP, forwarding and admin slices.
  assert.equal(err(['--port', '70000']), 'command line: --port must be a whole number from 0 to 65535, not "70000"');
  assert.equal(err(['--pop', '--pop-auth', 'pam:', '--pop-port', 'x']), 'command line: --pop-port must be a whole number from 0 to 65535, not "x"');
  assert.equal(err(['--forward-connections', '0']), 'command line: --forward-connections must be a whole number from 1 to 64, not "0"');
  assert.equal(err(['--admin', 'x']), 'command line: --admin must be a whole number from 1 to 65535, not "x"');
});

test('checks that span slices stay in config.ts: listener options without a listener are refused', () => {
  assert.throws(() => buildConfig(parseCommandLine(['--dont-serve', '--port', '2525']).values, '/base'), /--port makes no sense with --dont-serve/);
  assert.throws(() => buildConfig(parseCommandLine(['--no-smtp', '--filter', 'x']).values, '/base'), /--filter makes no sense with --no-smtp/);
});

test("--forward-to-all, E-MailRelay's name for the default, is read: it contradicts --forward-to-some", () => {
  const argv = ['--forward-to', 'a.example:25', '--forward-to-some', '--forward-to-all'];
  assert.throws(() => buildConfig(parseCommandLine(argv).values, '/base'), /--forward-to-all .* contradicts --forward-to-some/);
  assert.equal(buildConfig(parseCommandLine(['--forward-to', 'a.example:25', '--forward-to-all']).values, '/base').forwardToSome, false);
});
