import { test } from 'node:test';
import assert from 'node:assert/strict';

import { OPTIONS, OPTIONS_BY_NAME, OPTIONS_BY_SHORT } from '../../src/options/table';
import type { OptionGroup } from '../../src/options/spec';

// Every option in section 1 (1.1 to 1.9) of the E-MailRelay 2.6.1 reference,
// in table order, with the group it belongs to in relaybox (75 options).
const EMAILRELAY_OPTIONS: ReadonlyArray<readonly [string, OptionGroup]> = [
  // 1.1 Basic
  ['as-client', 'basic'],
  ['as-proxy', 'basic'],
  ['as-server', 'basic'],
  ['spool-dir', 'basic'],
  ['help', 'basic'],
  ['version', 'basic'],
  ['verbose', 'basic'],
  // 1.2 SMTP client / forwarding
  ['forward', 'client'],
  ['forward-on-disconnect', 'client'],
  ['forward-to', 'client'],
  ['forward-to-some', 'client'],
  ['forward-to-all', 'client'],
  ['poll', 'client'],
  ['immediate', 'client'],
  ['client-filter', 'client'],
  ['client-interface', 'client'],
  ['client-smtp-config', 'client'],
  ['connection-timeout', 'client'],
  ['response-timeout', 'client'],
  ['prompt-timeout', 'client'],
  // 1.3 SMTP server (--idle-timeout is listed in 1.2 but is a server setting,
  // so relaybox moves it to the head of the server group)
  ['idle-timeout', 'server'],
  ['port', 'server'],
  ['remote-clients', 'server'],
  ['interface', 'server'],
  ['address-verifier', 'server'],
  ['anonymous', 'server'],
  ['delivery-dir', 'server'],
  ['dnsbl', 'server'],
  ['domain', 'server'],
  ['filter', 'server'],
  ['filter-timeout', 'server'],
  ['server-smtp-config', 'server'],
  ['size', 'server'],
  // 1.4 POP server
  ['pop', 'pop'],
  ['pop-port', 'pop'],
  ['pop-auth', 'pop'],
  ['pop-by-name', 'pop'],
  ['pop-no-delete', 'pop'],
  // 1.5 Admin
  ['admin', 'admin'],
  ['admin-terminate', 'admin'],
  // 1.6 Authentication
  ['client-auth', 'auth'],
  ['client-auth-config', 'auth'],
  ['server-auth', 'auth'],
  ['server-auth-config', 'auth'],
  // 1.7 TLS
  ['client-tls', 'tls'],
  ['client-tls-connection', 'tls'],
  ['client-tls-required', 'tls'],
  ['client-tls-certificate', 'tls'],
  ['client-tls-verify', 'tls'],
  ['client-tls-verify-name', 'tls'],
  ['client-tls-server-name', 'tls'],
  ['server-tls', 'tls'],
  ['server-tls-connection', 'tls'],
  ['server-tls-required', 'tls'],
  ['server-tls-certificate', 'tls'],
  ['server-tls-verify', 'tls'],
  ['tls-config', 'tls'],
  // 1.8 Process
  ['dont-serve', 'process'],
  ['no-smtp', 'process'],
  ['no-daemon', 'process'],
  ['pid-file', 'process'],
  ['user', 'process'],
  ['localedir', 'process'],
  ['hidden', 'process'],
  ['show', 'process'],
  ['test', 'process'],
  // 1.9 Logging
  ['log', 'logging'],
  ['debug', 'logging'],
  ['log-file', 'logging'],
  ['log-format', 'logging'],
  ['log-time', 'logging'],
  ['log-address', 'logging'],
  ['no-syslog', 'logging'],
  ['syslog', 'logging'],
  ['close-stderr', 'logging'],
];

// Planned options: the group each must be in and the issue that implements it.
const PLANNED: ReadonlyArray<readonly [string, OptionGroup, number | undefined]> = [
  ['syslog', 'logging', undefined],
  ['localedir', 'process', undefined],
  ['test', 'process', undefined],
];

const EXTENSIONS = [
  'retry-delay',
  'retry-max-delay',
  'retry-max-age',
  'no-retry',
  'auth-failure-limit',
  'auth-failure-lockout',
  'auth-failure-delay',
  'max-connections',
  'max-connections-per-address',
  'max-recipients',
  'max-command-length',
  'command-timeout',
  'stress-timeout',
  'plaintext-auth-from-public',
  'allow-clients',
  'bare-lf-clients',
  'pam-concurrency',
  'client-tls-verify-host',
  'processes',
  'forward-on-commit',
  'forward-connections',
  'forward-from-mailbox',
  'oauth-authority',
  'oauth-google-authority',
  'admin-password-file',
  'status-port',
  'status-host-names',
  'alert-to',
  'alert-from',
  'alert-interval',
  'alert-disk-percent',
  'alert-upstream-seconds',
  'alert-expiry-days',
];

test('the reference list itself has 75 distinct names', () => {
  assert.equal(new Set(EMAILRELAY_OPTIONS.map(([n]) => n)).size, 75);
});

test('long names are unique', () => {
  const names = OPTIONS.map((o) => o.name);
  assert.equal(new Set(names).size, names.length);
  assert.equal(OPTIONS_BY_NAME.size, OPTIONS.length);
});

test('long names have no dashes in front and no = or spaces', () => {
  for (const o of OPTIONS) assert.match(o.name, /^[a-z0-9]+(-[a-z0-9]+)*$/, o.name);
});

test('short letters are unique single characters', () => {
  const shorts = OPTIONS.flatMap((o) => (o.short === undefined ? [] : [o.short]));
  assert.equal(new Set(shorts).size, shorts.length);
  assert.equal(OPTIONS_BY_SHORT.size, shorts.length);
  for (const s of shorts) assert.equal(s.length, 1, s);
  assert.equal(OPTIONS_BY_SHORT.get('s')?.name, 'spool-dir');
  assert.equal(OPTIONS_BY_NAME.get('delivery-dir')?.short, undefined);
});

test('every E-MailRelay option is present, in its group, and is not an extension', () => {
  for (const [name, group] of EMAILRELAY_OPTIONS) {
    const o = OPTIONS_BY_NAME.get(name);
    assert.ok(o, `missing --${name}`);
    assert.equal(o.group, group, `--${name} group`);
    assert.notEqual(o.extension, true, `--${name} is not an extension`);
  }
});

test('the table has exactly the E-MailRelay options plus the extensions, in order', () => {
  assert.deepEqual(
    OPTIONS.map((o) => o.name),
    [...EMAILRELAY_OPTIONS.map(([n]) => n), ...EXTENSIONS],
  );
});

test('groups are contiguous', () => {
  const seen = new Set<OptionGroup>();
  let previous: OptionGroup | undefined;
  for (const o of OPTIONS) {
    if (o.group !== previous) {
      assert.ok(!seen.has(o.group), `group ${o.group} appears twice (at --${o.name})`);
      seen.add(o.group);
      previous = o.group;
    }
  }
});

test('planned options have the right group and issue', () => {
  for (const [name, group, issue] of PLANNED) {
    const o = OPTIONS_BY_NAME.get(name);
    assert.ok(o, `missing --${name}`);
    assert.equal(o.support, 'planned', `--${name} support`);
    assert.equal(o.group, group, `--${name} group`);
    assert.equal(o.issue, issue, `--${name} issue`);
  }
  const planned = OPTIONS.filter((o) => o.support === 'planned').map((o) => o.name);
  assert.deepEqual(new Set(planned), new Set(PLANNED.map(([n]) => n)));
});

test('windows-only options', () => {
  const windows = OPTIONS.filter((o) => o.support === 'windows').map((o) => o.name);
  assert.deepEqual(windows.sort(), ['hidden', 'show']);
});

test('issue numbers only on planned options', () => {
  for (const o of OPTIONS) if (o.issue !== undefined) assert.equal(o.support, 'planned', o.name);
});

test('optionalArg only with arg', () => {
  for (const o of OPTIONS) if (o.optionalArg) assert.ok(o.arg, `--${o.name}`);
  const optional = OPTIONS.filter((o) => o.optionalArg).map((o) => o.name);
  assert.deepEqual(optional.sort(), ['anonymous', 'syslog']);
});

test('maxCount only on the certificate options', () => {
  const limited = OPTIONS.filter((o) => o.maxCount !== undefined);
  assert.deepEqual(limited.map((o) => o.name).sort(), ['client-tls-certificate', 'server-tls-certificate']);
  for (const o of limited) assert.equal(o.maxCount, 2);
});

test('extensions', () => {
  for (const name of EXTENSIONS) {
    const o = OPTIONS_BY_NAME.get(name);
    assert.ok(o, `missing --${name}`);
    assert.equal(o.extension, true);
    assert.equal(o.group, 'relaybox');
    assert.equal(o.support, 'yes');
    assert.equal(o.short, undefined);
  }
  for (const o of OPTIONS) if (o.group === 'relaybox') assert.ok(EXTENSIONS.includes(o.name), o.name);
});

test('only --test is hidden', () => {
  assert.deepEqual(
    OPTIONS.filter((o) => o.hidden).map((o) => o.name),
    ['test'],
  );
});

test('help texts are single non-empty lines', () => {
  for (const o of OPTIONS) {
    assert.ok(o.help.trim().length > 0, o.name);
    assert.ok(!o.help.includes('\n'), o.name);
    if (o.more !== undefined) assert.ok(o.more.trim().length > 0, o.name);
  }
});
