import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';

import {
  findClientAccount,
  findServerAccount,
  findTrust,
  formatProblem,
  mustAuthenticate,
  parseInlineClientAuth,
  parseSecrets,
  readSecretsFile,
  serverAccounts,
  watchSecrets,
  type SecretsLogger,
} from '../../src/auth/secrets';
import { passwdHash } from '../../src/auth/cram';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const FOOBAR_B64 = '3pIN0aPbd5aN0S4ogKA3w2P3P9XH0hXchLP1W+adpQE=';
const FOOBAR_DOTTED = '3507327710.2524437411.674156941.3275202688.3577739107.3692417735.1542828932.27631078';
const XOAUTH = Buffer.from('user=me@example.com\x01auth=Bearer tok3n\x01\x01');

const FULL = [
  '# a comment',
  '',
  '   # indented comment',
  'server plain alice s3cret+20pw',
  `server plain:b ${b64('bob smith')} ${b64('bob pass')}`,
  `server md5 carol ${FOOBAR_B64}`,
  `server cram-md5 dave ${FOOBAR_DOTTED}`,
  `Server LOGIN erin erinpw`,
  `server apop frank ${FOOBAR_B64}`,
  `server sha1 gina ${Buffer.alloc(40, 1).toString('base64')}`,
  `server sha256 gina ${Buffer.alloc(64, 2).toString('base64')}`,
  'server none 192.168.0.0/24 localnet',
  'server none *.*.*.* anyone',
  'client plain client+40id clientpw',
  `CLIENT oauth me@example.com ${XOAUTH.toString('base64')}`,
  `client plain:b ${b64('selid')} ${b64('selpw')} sel1`,
  `client md5 md5user ${FOOBAR_B64} sel1`,
  `client oauth:b tokenuser ${XOAUTH.toString('base64')} sel2`,
  'client plain:b = = none-sel',
  'client login\tx\tx\tsel3\t',
].join('\n');

test('secrets: every line type is parsed', () => {
  const { secrets, problems } = parseSecrets(FULL, 'full.auth');
  assert.deepEqual(problems, []);

  const alice = findServerAccount(secrets, 'plain', 'alice');
  assert.equal(alice?.secret.text(), 's3cret pw');
  assert.equal(alice?.line, 4);
  assert.equal(findServerAccount(secrets, 'plain', 'bob smith')?.secret.text(), 'bob pass');
  assert.deepEqual(findServerAccount(secrets, 'md5', 'carol')?.secret.bytes(), Buffer.from(FOOBAR_B64, 'base64'));
  // dotted legacy form gives the same 32 bytes, cram-md5 is an alias of md5
  assert.deepEqual(findServerAccount(secrets, 'md5', 'dave')?.secret.bytes(), Buffer.from(FOOBAR_B64, 'base64'));
  assert.equal(findServerAccount(secrets, 'plain', 'erin')?.secret.text(), 'erinpw'); // login alias
  assert.equal(findServerAccount(secrets, 'md5', 'frank')?.secret.length, 32); // apop alias
  assert.deepEqual(
    serverAccounts(secrets, 'gina').map((a) => [a.type, a.secret.length]),
    [
      ['sha1', 40],
      ['sha256', 64],
    ],
  );
  assert.deepEqual([...secrets.serverTypes].sort(), ['md5', 'plain', 'sha1', 'sha256']);
  assert.deepEqual(serverAccounts(secrets, 'nobody'), []);
  assert.equal(findServerAccount(secrets, 'md5', 'alice'), undefined);

  assert.deepEqual(
    secrets.trust.map((t) => [t.address, t.keyword, t.line]),
    [
      ['192.168.0.0/24', 'localnet', 12],
      ['*.*.*.*', 'anyone', 13],
    ],
  );
  assert.equal(findTrust(secrets, '192.168.0.1')?.keyword, 'localnet');
  assert.equal(findTrust(secrets, '192.168.1.1')?.keyword, 'anyone');
  assert.equal(findTrust(secrets, '::1'), undefined);

  const def = findClientAccount(secrets);
  assert.ok(def);
  assert.equal(def.secrets.plain?.userId, 'client@id');
  assert.equal(def.secrets.plain?.secret.text(), 'clientpw');
  assert.equal(def.secrets.oauth?.userId, 'me@example.com');
  assert.deepEqual(def.secrets.oauth?.secret.bytes(), XOAUTH);
  assert.equal(mustAuthenticate(def), true);

  const sel1 = findClientAccount(secrets, 'sel1');
  assert.equal(sel1?.secrets.plain?.userId, 'selid');
  assert.equal(sel1?.secrets.plain?.secret.text(), 'selpw');
  assert.equal(sel1?.secrets.md5?.secret.length, 32);
  assert.equal(findClientAccount(secrets, 'sel2')?.secrets.oauth?.userId, 'tokenuser');
  assert.deepEqual(findClientAccount(secrets, 'sel2')?.secrets.oauth?.secret.bytes(), XOAUTH);

  const none = findClientAccount(secrets, 'none-sel');
  assert.ok(none);
  assert.equal(mustAuthenticate(none), false);

  assert.equal(findClientAccount(secrets, 'sel3')?.secrets.plain?.userId, 'x');
  assert.equal(findClientAccount(secrets, 'unknown'), undefined);
});

test('secrets: a broken line is reported by number and the rest still works', () => {
  const text = [
    'server plain alice alicepw',
    'server plain bob', // 2: too few fields
    'server plain carol carolpw',
    'server plain bad+zz pw', // 4: bad xtext id
    `server plain:b !!! ${b64('x')}`, // 5: bad base64
    'server md5 dan notbase64!', // 6
    `server md5 eve ${b64('short')}`, // 7: wrong state length
    'server oauth fay xx', // 8: oauth is client-only
    'client none x y', // 9
    'client frobnicate a b', // 10: unknown type
    'relay plain a b', // 11: bad first field
    'server plain:x a b', // 12: bad decoration
    `server plain:b ${b64('')}= ${b64('pw')}`, // 13: empty id
    'client plain late latepw',
  ].join('\r\n');
  const { secrets, problems } = parseSecrets(text, 'broken.auth');
  assert.deepEqual(
    problems.map((p) => [p.line, p.level, p.fatal]),
    [2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13].map((n) => [n, 'error', false]),
  );
  assert.match(problems[0]!.message, /^too few fields: write server <type> <user> <password>$/);
  assert.match(formatProblem(problems[0]!), /^broken\.auth\(2\): too few fields/);
  assert.match(problems[1]!.message, /xtext.*third field/);
  assert.match(problems[2]!.message, /base64.*third field/);
  assert.match(problems[3]!.message, /base64.*fourth field/);
  assert.match(problems[4]!.message, /md5 hashed secret/);
  assert.equal(findServerAccount(secrets, 'plain', 'alice')?.secret.text(), 'alicepw');
  assert.equal(findServerAccount(secrets, 'plain', 'carol')?.secret.text(), 'carolpw');
  assert.equal(findClientAccount(secrets)?.secrets.plain?.secret.text(), 'latepw');
  assert.equal(secrets.server.size, 2);
});

test('secrets: duplicates are errors and the first line wins', () => {
  const text = [
    'server plain alice one',
    'server login alice two', // dup: login == plain
    `server plain:b ${b64('alice')} ${b64('three')}`, // dup: same decoded id
    `server md5 alice ${FOOBAR_B64}`, // different type: fine
    'server none 10.0.0.0/8 a',
    'server none 10.0.0.0/8 b', // dup trust address
    'client plain c1 p1',
    'client plain c2 p2', // dup (plain, '')
    'client plain c3 p3 sel', // different selector: fine
    `client oauth c4 ${b64('tok')}`, // different type, same selector: fine
    'client plain:b = = sel', // no-auth marker for an existing selector: not a duplicate
  ].join('\n');
  const { secrets, problems } = parseSecrets(text, 'dup.auth');
  assert.deepEqual(
    problems.map((p) => [p.line, p.message]),
    [
      [2, 'duplicate server secret'],
      [3, 'duplicate server secret'],
      [6, 'duplicate server trust address'],
      [8, 'duplicate client secret'],
    ],
  );
  assert.equal(findServerAccount(secrets, 'plain', 'alice')?.secret.text(), 'one');
  assert.equal(findTrust(secrets, '10.1.2.3')?.keyword, 'a');
  assert.equal(findClientAccount(secrets)?.secrets.plain?.userId, 'c1');
  assert.equal(findClientAccount(secrets, 'sel')?.secrets.plain?.userId, 'c3');
  assert.equal(mustAuthenticate(findClientAccount(secrets, 'sel')!), true);
});

test('secrets: 5th-field comment rule and too many fields', () => {
  const text = [
    'client plain a apw #comment here',
    'client plain b bpw sel extra field', // warning, line still used
    'server plain c cpw #not-a-selector more words',
    'server plain d dpw sel', // warning: selector ignored on server lines
    'client plain e epw sel2 # a comment only counts in the 5th field',
  ].join('\n');
  const { secrets, problems } = parseSecrets(text, 'f.auth');
  assert.deepEqual(
    problems.map((p) => [p.line, p.level, p.message]),
    [
      [2, 'warning', 'too many fields'],
      [4, 'warning', 'fifth field ignored on a server line'],
      [5, 'warning', 'too many fields'],
    ],
  );
  assert.equal(findClientAccount(secrets, '')?.secrets.plain?.userId, 'a');
  assert.equal(findClientAccount(secrets, '#comment'), undefined);
  assert.equal(findClientAccount(secrets, 'sel')?.secrets.plain?.userId, 'b');
  assert.equal(findServerAccount(secrets, 'plain', 'c')?.secret.text(), 'cpw');
  assert.equal(findServerAccount(secrets, 'plain', 'd')?.secret.text(), 'dpw');
  assert.equal(findClientAccount(secrets, 'sel2')?.secrets.plain?.userId, 'e');
});

test('secrets: blank/comment-only file and BOM', () => {
  const { secrets, problems } = parseSecrets('\uFEFF# only comments\n\n  \t\n', 'empty.auth');
  assert.deepEqual(problems, []);
  assert.equal(secrets.server.size + secrets.client.size + secrets.trust.length, 0);
  const bom = parseSecrets('\uFEFFserver plain a b\n', 'bom.auth');
  assert.deepEqual(bom.problems, []);
  assert.equal(findServerAccount(bom.secrets, 'plain', 'a')?.secret.text(), 'b');
});

test('secrets: passwords never appear in JSON.stringify or util.inspect', () => {
  const pw = 'TopSecretPassw0rd';
  const text = [
    `server plain alice ${pw}`,
    `server plain:b ${b64('bob')} ${b64(pw + 'B')}`,
    `client plain carol ${pw}C`,
    `client oauth dave ${b64(pw + 'D')}`,
    `client md5 erin ${passwdHash(pw)}`,
  ].join('\n');
  const { secrets } = parseSecrets(text, 'x.auth');
  const inline = parseInlineClientAuth(`plain:${b64('frank')}:${b64(pw + 'F')}`);
  assert.ok('account' in inline);
  const outputs = [
    JSON.stringify(secrets),
    JSON.stringify([...secrets.server.values()]),
    JSON.stringify([...secrets.client.values()]),
    JSON.stringify(inline),
    inspect(secrets, { depth: null, showHidden: true }),
    inspect(inline, { depth: null, showHidden: true }),
    String(findServerAccount(secrets, 'plain', 'alice')?.secret),
    `${findClientAccount(secrets)?.secrets.plain?.secret}`,
  ];
  const forbidden = [pw, b64(pw + 'B'), b64(pw + 'D'), passwdHash(pw), Buffer.from(pw).toString('hex')];
  for (const out of outputs) {
    for (const f of forbidden) assert.ok(!out.includes(f), `leaked in: ${out}`);
    assert.ok(!out.includes('TopSecret'), `leaked in: ${out}`);
  }
  assert.match(JSON.stringify([...secrets.server.values()]), /\[redacted\]/);
  assert.match(inspect(secrets, { depth: null }), /\[redacted\]/);
  // but the value is available to code that asks for it
  const alice = findServerAccount(secrets, 'plain', 'alice')!;
  assert.equal(alice.secret.text(), pw);
  assert.equal(alice.secret.equals(pw), true);
  assert.equal(alice.secret.equals(pw + 'x'), false);
});

test('secrets: inline --client-auth plain:<b64>:<b64>', () => {
  const ok = parseInlineClientAuth(`plain:${b64('me@x')}:${b64('p:w d')}`);
  assert.ok('account' in ok);
  assert.equal(ok.account.selector, '');
  assert.equal(ok.account.secrets.plain?.userId, 'me@x');
  assert.equal(ok.account.secrets.plain?.secret.text(), 'p:w d');
  assert.equal(mustAuthenticate(ok.account), true);
  assert.ok('error' in parseInlineClientAuth(`plain:${b64('me')}`));
  assert.ok('error' in parseInlineClientAuth(`plain:!!:${b64('pw')}`));
  assert.ok('error' in parseInlineClientAuth(`plain:${b64('me')}:`));
  assert.ok('error' in parseInlineClientAuth('/etc/emailrelay.auth'));
  const bad = parseInlineClientAuth(`plain:${b64('me')}:not*base64`);
  assert.ok('error' in bad && !bad.error.includes('not*base64'));
});

// ---- files ----

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'relaybox-secrets-'));
}

interface CapturedLog extends SecretsLogger {
  readonly lines: string[];
}

function captureLog(): CapturedLog {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
  };
}

test('secrets: readSecretsFile reads a file and reports an unreadable one as fatal', () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'a.auth');
    writeFileSync(path, 'server plain alice pw\nbroken line\n');
    const r = readSecretsFile(path);
    assert.equal(findServerAccount(r.secrets, 'plain', 'alice')?.secret.text(), 'pw');
    assert.deepEqual(
      r.problems.map((p) => [p.file, p.line, p.fatal]),
      [[path, 2, false]],
    );
    const missing = readSecretsFile(join(dir, 'missing.auth'));
    assert.equal(missing.problems.length, 1);
    assert.equal(missing.problems[0]?.fatal, true);
    assert.equal(missing.problems[0]?.line, 0);
    assert.equal(missing.secrets.server.size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('secrets: watchSecrets re-reads on change, at most once per interval', () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'w.auth');
    writeFileSync(path, 'server plain alice one\n');
    utimesSync(path, 1_000_000, 1_000_000);
    let clock = 5_000;
    const changes: string[] = [];
    const log = captureLog();
    const w = watchSecrets(path, (s) => changes.push(findServerAccount(s, 'plain', 'alice')?.secret.text() ?? '-'), log, { now: () => clock });
    assert.equal(findServerAccount(w.current(), 'plain', 'alice')?.secret.text(), 'one');

    // change the file (same size) with an explicit new mtime
    writeFileSync(path, 'server plain alice two\n');
    utimesSync(path, 1_000_010, 1_000_010);
    // within the interval: not checked yet
    clock += 999;
    assert.equal(findServerAccount(w.current(), 'plain', 'alice')?.secret.text(), 'one');
    assert.deepEqual(changes, []);
    // interval passed: re-read
    clock += 1;
    assert.equal(findServerAccount(w.current(), 'plain', 'alice')?.secret.text(), 'two');
    assert.deepEqual(changes, ['two']);
    assert.ok(log.lines.some((l) => l.startsWith('info: re-reading secrets file')));

    // unchanged file: no re-read
    clock += 5_000;
    w.current();
    assert.deepEqual(changes, ['two']);

    // a bad line in the new version: reported, the rest used
    writeFileSync(path, 'server plain alice three\nserver plain\n');
    utimesSync(path, 1_000_020, 1_000_020);
    clock += 1_000;
    assert.equal(findServerAccount(w.current(), 'plain', 'alice')?.secret.text(), 'three');
    assert.equal(w.problems()[0]?.line, 2);
    assert.ok(log.lines.some((l) => l.includes('w.auth(2): too few fields')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('secrets: an unreadable file keeps the last good secrets and is reported once', () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'u.auth');
    writeFileSync(path, 'client plain me good\n');
    let clock = 0;
    const log = captureLog();
    let changes = 0;
    const w = watchSecrets(path, () => changes++, log, { now: () => clock });

    unlinkSync(path);
    for (let i = 0; i < 3; i++) {
      clock += 1_000;
      assert.equal(findClientAccount(w.current())?.secrets.plain?.secret.text(), 'good');
    }
    const errors = log.lines.filter((l) => l.startsWith('error:'));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /cannot read secrets file.*keeping the previous secrets/);
    assert.equal(changes, 0);

    // comes back: re-read
    writeFileSync(path, 'client plain me better\n');
    clock += 1_000;
    assert.equal(findClientAccount(w.current())?.secrets.plain?.secret.text(), 'better');
    assert.equal(changes, 1);

    // no password in any log line
    for (const l of log.lines) assert.ok(!l.includes('good') && !l.includes('better'), l);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('secrets: watchSecrets throws if the file cannot be read at startup', () => {
  const dir = tempDir();
  try {
    assert.throws(() => watchSecrets(join(dir, 'nope.auth'), () => {}, captureLog()), /cannot read secrets file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
