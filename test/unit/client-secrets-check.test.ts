import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkClientSecretsFile, clientSecretsProblems, clientSecretsWarnings, refuseClientReread } from '../../src/auth/client-secrets-check';
import { findClientAccount, parseSecrets, watchSecrets, type SecretsLogger } from '../../src/auth/secrets';

const F = 'client.auth';
const NO_FILTER = { selectorsPossible: false };
const check = (text: string, ctx = NO_FILTER) => clientSecretsProblems(F, parseSecrets(text, F), ctx);
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('client secrets check: valid E-MailRelay files pass', () => {
  const ok = [
    'client plain me@example.com my+20secret+2B1',
    `client plain:b ${b64('me@example.com')} ${b64('pw with space')}\nclient plain:b = = direct`,
    'server plain alice alicepw\nserver none 10.0.0.0/8 lan\nclient login legacy pw',
    `client cram-md5 md5user ${Buffer.alloc(32, 1).toString('base64')}`,
    `client oauth:b me@example.com ${b64('user=me@example.com\x01auth=Bearer t\x01\x01')}`,
    'client plain me pw # a comment\nclient plain other pw sel1\nclient plain third pw sel2 # comment',
    'client plain me pw\nclient plain you pw sel1 extra words', // more than five fields: a warning only, as in E-MailRelay
  ];
  for (const text of ok) assert.deepEqual(check(text), [], text);
  // Selector lines only: fine when a filter can set ClientAccountSelector.
  assert.deepEqual(check('client plain a pw sel1\nclient plain:b = = direct', { selectorsPossible: true }), []);
});

test('client secrets check: each broken client line is named with what to write instead', () => {
  assert.deepEqual(check('# x\nclient plian me pw'), [
    `${F}(2): invalid password type: [plian]: use plain, plain:b, md5, oauth, oauth:b, oauth-ms-secret, oauth-ms-cert, oauth-google-sa or oauth-refresh`,
  ]);
  assert.match(check('client plain me pa+ss')[0]!, /^client\.auth\(1\): invalid xtext encoding in fourth field: write `\+` as `\+2B`, a space as `\+20`/);
  assert.match(check('client plain me+ pw')[0]!, /^client\.auth\(1\): invalid xtext encoding in third field: write `\+` as `\+2B`/);
  assert.match(check('client plain me pässword')[0]!, /fourth field: write `\+` as `\+2B`.*UTF-8 byte/);
  assert.match(
    check(`client plain:b ${b64('me')} not*base64`)[0]!,
    /^client\.auth\(1\): invalid base64 encoding in fourth field: with plain:b both fields are base64/,
  );
  assert.match(check('client oauth me not*base64')[0]!, /fourth field of an oauth line is the base64 of the whole XOAUTH2 initial response/);
  assert.deepEqual(check('client plain me'), [`${F}(1): too few fields: write client <type> <user> <password> [<selector>]`]);
  assert.match(check('clinet plain me pw')[0]!, /^client\.auth\(1\): invalid value in first field/);
  // Every broken client line, even when another line works.
  assert.equal(check('client plain me pw\nclient plian x y\nclient plain z a+b').length, 2);
  // Errors on server lines are the server side's business.
  assert.deepEqual(check('server plain bob\nclient plain me pw'), []);
});

test('client secrets check: no client line, and a password with a space read as the selector', () => {
  // E-MailRelay forwards without AUTH when there is no client line (its suite writes "# empty"): a warning.
  for (const text of ['server plain alice pw', '', '# empty']) {
    assert.deepEqual(check(text), [], text);
    assert.match(
      clientSecretsWarnings(F, parseSecrets(text, F))[0]!,
      /^client\.auth: there is no "client" line, so relaybox forwards without authenticating, as E-MailRelay does\. To sign in, add one such as "client plain <user> <password>"/,
    );
  }
  // The card's relaybox.secrets: a forgotten login is an error.
  const card = { selectorsPossible: false, requireClientLine: true };
  assert.match(
    check('server plain alice pw', card)[0]!,
    /^client\.auth: there is no usable "client" line, so relaybox would forward without authenticating: add one such as "client plain <user> <password>"/,
  );
  assert.match(check('', card)[0]!, /no usable "client" line/);
  // A broken client line is still an error, and no warning is added to it.
  assert.equal(check('client plian me pw').length, 1);
  assert.deepEqual(clientSecretsWarnings(F, parseSecrets('client plian me pw', F)), []);
  const space = check('# the password is "my secret"\nclient plain me@example.com my secret');
  assert.equal(space.length, 1);
  assert.match(
    space[0]!,
    /^client\.auth\(2\): the fifth field is an account selector, and nothing sets one \(there is no --filter or --client-filter\).*write the space as \+20/,
  );
  assert.doesNotMatch(space[0]!, /secret/, 'the fifth field is not quoted');
  assert.deepEqual(check('client plain me@example.com my secret', { selectorsPossible: true }), []);
  assert.match(check('client plain me@example.com my long secret')[0]!, /^client\.auth\(1\): the fifth field is an account selector/);
});

test('client secrets check: an unreadable file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relaybox-csc-'));
  try {
    const [msg] = checkClientSecretsFile(join(dir, 'missing.auth'), NO_FILTER).problems;
    assert.match(msg!, /missing\.auth: cannot read secrets file: ENOENT.*\(the file named by --client-auth\)/);
    const good = join(dir, 'good.auth');
    writeFileSync(good, 'client plain me pw\n');
    assert.deepEqual(checkClientSecretsFile(good, NO_FILTER), { problems: [], warnings: [] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('client secrets re-read: a broken version keeps the last good secrets and is logged with file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relaybox-csc-'));
  try {
    const path = join(dir, 'live.auth');
    const lines: string[] = [];
    const log: SecretsLogger = { info: (m) => lines.push(`info: ${m}`), warn: (m) => lines.push(`warn: ${m}`), error: (m) => lines.push(`error: ${m}`) };
    let clock = 0;
    let mtime = 1_000_000;
    const write = (text: string) => {
      writeFileSync(path, text);
      utimesSync(path, (mtime += 10), mtime);
      clock += 1_000;
    };
    writeFileSync(path, 'client plain me good1\n');
    const w = watchSecrets(path, () => undefined, log, { now: () => clock, refuse: refuseClientReread(path) });
    const password = () => findClientAccount(w.current())?.secrets.plain?.secret.text();
    assert.equal(password(), 'good1');

    write('client plain me bad+pw\n'); // a raw "+"
    assert.equal(password(), 'good1');
    assert.ok(
      lines.some(
        (l) => l.startsWith(`error: ${path}(1): invalid xtext encoding in fourth field: write \`+\` as \`+2B\``) && l.endsWith('keeping the previous secrets'),
      ),
      lines.join('\n'),
    );

    write('client plain me new secret\n'); // a space: the default account would be gone
    assert.equal(password(), 'good1');
    assert.ok(
      lines.some((l) => l.includes(`${path}(1): the new version has no client line without a fifth field`) && l.includes('+20')),
      lines.join('\n'),
    );
    assert.ok(!lines.some((l) => l.includes('secret') && !l.includes('secrets')), 'the password is not logged');

    write('server plain alice pw\n'); // no client line at all
    assert.equal(password(), 'good1');
    assert.ok(
      lines.some((l) => l.includes('no usable "client" line')),
      lines.join('\n'),
    );

    write('client plain me new+20secret\n'); // fixed
    assert.equal(password(), 'new secret');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
