import { seeded } from '../fuzz/random';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { decodeEnvelope, encodeEnvelope, EnvelopeError, newEnvelope, reasons, withReason, type Envelope } from '../../src/spool/envelope';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'envelopes');
const fixtureNames = readdirSync(FIXTURES)
  .filter((n) => n.endsWith('.envelope'))
  .sort();
const fixture = (name: string): Buffer => readFileSync(path.join(FIXTURES, name));
const X = 'X-MailRelay-';

const OLD_FORMATS = new Set(['format-2821.6.envelope', 'format-2821.4.envelope', 'format-2821.3.envelope']);

/** Builds CRLF envelope text from lines. */
const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');

function expectError(data: Buffer | string, line: number, pattern?: RegExp): EnvelopeError {
  let caught: unknown;
  try {
    decodeEnvelope(data);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof EnvelopeError, `expected an EnvelopeError, got ${String(caught)}`);
  assert.equal(caught.line, line, `wrong line in: ${caught.message}`);
  assert.match(caught.message, new RegExp(`line ${line}\\b`));
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

function replaceLine(data: Buffer, index: number, replacement: string[]): Buffer {
  const lines = data.toString('utf8').split('\r\n');
  lines.pop();
  lines.splice(index, 1, ...replacement);
  return crlf(lines);
}

test('fixtures are present', () => {
  assert.ok(fixtureNames.length >= 8, fixtureNames.join(','));
  for (const n of fixtureNames) {
    const text = fixture(n).toString('latin1');
    assert.ok(text.endsWith('\r\n'), n);
    assert.ok(!/[^\r]\n/.test(text), `${n} has a bare LF`);
  }
});

for (const name of fixtureNames) {
  test(`fixture ${name}: decode, re-encode`, () => {
    const bytes = fixture(name);
    const e = decodeEnvelope(bytes);
    const again = encodeEnvelope(e);
    if (OLD_FORMATS.has(name)) {
      assert.ok(again.toString('utf8').startsWith(`${X}Format: #2821.8\r\n`));
      assert.deepEqual(decodeEnvelope(again), e);
    } else {
      assert.equal(again.toString('utf8'), bytes.toString('utf8'));
      assert.ok(again.equals(bytes), 'byte-exact');
    }
    // string input gives the same result
    assert.deepEqual(decodeEnvelope(bytes.toString('utf8')), e);
    // a hand-edited copy with bare LF line ends and no final line end reads the same
    const lf = bytes.toString('utf8').replace(/\r\n/g, '\n').replace(/\n$/, '');
    assert.deepEqual(decodeEnvelope(Buffer.from(lf, 'utf8')), e);
  });
}

test('reference example (section 3.2) fields', () => {
  const e = decodeEnvelope(fixture('reference-example.envelope'));
  assert.deepEqual(
    e,
    newEnvelope({
      content: '8bit',
      from: 'alice@example.com',
      toLocal: ['bob'],
      toRemote: ['carol@example.net'],
      authentication: 'lan',
      client: '192.168.1.20',
    }),
  );
  assert.deepEqual(reasons(e), []);
  // building the same envelope from scratch gives the fixture's bytes
  assert.ok(encodeEnvelope(newEnvelope({ ...e })).equals(fixture('reference-example.envelope')));
});

test('failed envelope: reason pairs kept verbatim and parsed', () => {
  const e = decodeEnvelope(fixture('failed-with-reasons.envelope'));
  assert.equal(e.tail.length, 4);
  assert.equal(e.tail[3], `${X}ReasonCode:`);
  assert.deepEqual(reasons(e), [
    { reason: '550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown', code: '550' },
    { reason: 'connection refused', code: '' },
  ]);
});

test('client certificate is unfolded on read and folded on write', () => {
  const e = decodeEnvelope(fixture('client-certificate.envelope'));
  assert.ok(e.clientCertificate.startsWith('-----BEGIN CERTIFICATE-----\nMIIB'));
  assert.ok(e.clientCertificate.endsWith('\n-----END CERTIFICATE-----'));
  assert.ok(!e.clientCertificate.includes('\r'));
  assert.equal(e.clientCertificate.split('\n').length, 11);
  // a PEM with CRLF line ends and a trailing line end is trimmed and folded the same way
  const withCrlf = newEnvelope({ ...e, clientCertificate: e.clientCertificate.replace(/\n/g, '\r\n') + '\r\n' });
  assert.ok(encodeEnvelope(withCrlf).equals(fixture('client-certificate.envelope')));
  // tab continuation lines are accepted too
  const tabbed = fixture('client-certificate.envelope').toString('utf8').replace(/\r\n /g, '\r\n\t');
  assert.equal(decodeEnvelope(tabbed).clientCertificate, e.clientCertificate);
});

test('empty From (<>), optional fields and split-group tail', () => {
  const e = decodeEnvelope(fixture('empty-from.envelope'));
  assert.equal(e.from, '');
  assert.equal(e.content, 'unknown');
  assert.deepEqual(e.toLocal, ['postmaster']);
  assert.deepEqual(e.toRemote, ['erin@example.com']);
  assert.equal(e.authentication, 'mx+2Bbackup');
  assert.equal(e.client, '2001:db8::25');
  assert.equal(e.mailFromAuthIn, '<>');
  assert.equal(e.mailFromAuthOut, 'relay+3Dout');
  assert.equal(e.forwardTo, 'example.com:587');
  assert.equal(e.forwardToAddress, '198.51.100.25:587');
  assert.equal(e.clientAccountSelector, 'backup');
  assert.deepEqual(e.tail, [`${X}SplitGroupCount: 2`, `${X}SplitGroup: emailrelay.1234.1700000000.1`, `${X}SplitGroup: emailrelay.1234.1700000000.2`]);
  assert.ok(encodeEnvelope(e).toString('utf8').includes(`\r\n${X}From: \r\n`));
});

test('UTF-8 mailbox names round-trip exactly', () => {
  const e = decodeEnvelope(fixture('utf8-mailboxes.envelope'));
  assert.equal(e.from, 'josé@example.com');
  assert.deepEqual(e.toLocal, ['jürgen']);
  assert.deepEqual(e.toRemote, ['用户@example.net', 'zoë@xn--bcher-kva.example']);
  assert.equal(e.utf8MailboxNames, true);
  assert.ok(fixture('utf8-mailboxes.envelope').includes(Buffer.from('用户@example.net', 'utf8')));
});

test('older formats: fields per format, re-encoded as #2821.8', () => {
  const six = decodeEnvelope(fixture('format-2821.6.envelope'));
  assert.deepEqual(
    six,
    newEnvelope({
      content: '8bit',
      from: 'frank@example.com',
      toLocal: ['frank'],
      toRemote: ['grace@example.net'],
      authentication: 'frank',
      client: '192.168.1.30',
      mailFromAuthIn: 'frank',
      forwardTo: 'example.net',
    }),
  );
  // locals are written first, whatever order they were read in
  assert.equal(
    encodeEnvelope(six).toString('utf8'),
    crlf([
      `${X}Format: #2821.8`,
      `${X}Content: 8bit`,
      `${X}From: frank@example.com`,
      `${X}ToCount: 2`,
      `${X}To-Local: frank`,
      `${X}To-Remote: grace@example.net`,
      `${X}Authentication: frank`,
      `${X}Client: 192.168.1.30`,
      `${X}ClientCertificate: `,
      `${X}MailFromAuthIn: frank`,
      `${X}MailFromAuthOut: `,
      `${X}ForwardTo: example.net`,
      `${X}ForwardToAddress: `,
      `${X}ClientAccountSelector: `,
      `${X}Utf8MailboxNames: 0`,
      `${X}End: 1`,
    ]).toString('utf8'),
  );
  const four = decodeEnvelope(fixture('format-2821.4.envelope'));
  assert.equal(four.client, '192.168.1.31');
  assert.deepEqual(four.toRemote, ['ivan@example.net']);
  assert.ok(!encodeEnvelope(four).toString('utf8').includes('ClientName'));
  const three = decodeEnvelope(fixture('format-2821.3.envelope'));
  assert.equal(three.content, '7bit');
  assert.deepEqual(three.toRemote, ['mallory@example.net']);

  // #2821.7 and #2821.5 field lists
  const base = [`${X}Content: 8bit`, `${X}From: a@b`, `${X}ToCount: 1`, `${X}To-Remote: c@d`, `${X}Authentication: `, `${X}Client: 1.2.3.4`];
  const seven = decodeEnvelope(
    crlf([
      `${X}Format: #2821.7`,
      ...base,
      `${X}ClientCertificate: `,
      `${X}MailFromAuthIn: `,
      `${X}MailFromAuthOut: `,
      `${X}ForwardTo: x.example`,
      `${X}ForwardToAddress: 1.1.1.1:25`,
      `${X}Utf8MailboxNames: 1`,
      `${X}End: 1`,
    ]),
  );
  assert.equal(seven.utf8MailboxNames, true);
  assert.equal(seven.forwardToAddress, '1.1.1.1:25');
  const five = decodeEnvelope(
    crlf([`${X}Format: #2821.5`, ...base, `${X}ClientCertificate: `, `${X}MailFromAuthIn: <>`, `${X}MailFromAuthOut: bob`, `${X}End: 1`]),
  );
  assert.equal(five.mailFromAuthOut, 'bob');
  // a field of a newer format is an error in an older one
  expectError(
    crlf([`${X}Format: #2821.5`, ...base, `${X}ClientCertificate: `, `${X}MailFromAuthIn: `, `${X}MailFromAuthOut: `, `${X}ForwardTo: `, `${X}End: 1`]),
    11,
    /End/,
  );
  // and a missing field is an error too
  expectError(
    crlf([`${X}Format: #2821.6`, ...base, `${X}ClientCertificate: `, `${X}MailFromAuthIn: `, `${X}MailFromAuthOut: `, `${X}End: 1`]),
    11,
    /ForwardTo/,
  );
});

test('"Key:" without the space reads as empty; values are trimmed', () => {
  const text = fixture('reference-example.envelope')
    .toString('utf8')
    .replace(`${X}ForwardTo: \r\n`, `${X}ForwardTo:\r\n`)
    .replace(`${X}Client: 192.168.1.20\r\n`, `${X}Client:   192.168.1.20 \t\r\n`);
  const e = decodeEnvelope(text);
  assert.equal(e.forwardTo, '');
  assert.equal(e.client, '192.168.1.20');
  assert.ok(encodeEnvelope(e).equals(fixture('reference-example.envelope')));
});

test('tail lines lose trailing whitespace on rewrite, as in E-MailRelay', () => {
  const data = Buffer.concat([fixture('reference-example.envelope'), Buffer.from(`${X}Reason: \r\n${X}ReasonCode: 421  \r\n\r\nfree text\r\n`)]);
  const e = decodeEnvelope(data);
  assert.deepEqual(e.tail, [`${X}Reason:`, `${X}ReasonCode: 421`, '', 'free text']);
  assert.deepEqual(reasons(e), [{ reason: '', code: '421' }]);
});

test('withReason appends the E-MailRelay pair, text made printable ASCII', () => {
  const e = decodeEnvelope(fixture('reference-example.envelope'));
  const failed = withReason(e, 'bad\tthing \\ é\r\n\0', 552);
  assert.deepEqual(e.tail, [], 'input not modified');
  assert.deepEqual(failed.tail, [`${X}Reason: bad\\tthing \\\\ \\xc3\\xa9\\r\\n\\0`, `${X}ReasonCode: 552`]);
  const twice = withReason(withReason(e, 'connection refused', ''), 'filter failed', 0);
  assert.deepEqual(twice.tail, [`${X}Reason: connection refused`, `${X}ReasonCode:`, `${X}Reason: filter failed`, `${X}ReasonCode:`]);
  assert.deepEqual(reasons(twice), [
    { reason: 'connection refused', code: '' },
    { reason: 'filter failed', code: '' },
  ]);
  assert.ok(
    encodeEnvelope(failed).equals(
      Buffer.concat([fixture('reference-example.envelope'), Buffer.from(`${X}Reason: bad\\tthing \\\\ \\xc3\\xa9\\r\\n\\0\r\n${X}ReasonCode: 552\r\n`)]),
    ),
  );
  // round trip of the failed envelope
  assert.deepEqual(decodeEnvelope(encodeEnvelope(failed)), failed);
});

test('newEnvelope defaults and copies', () => {
  const locals = ['a'];
  const e = newEnvelope({ toLocal: locals });
  locals.push('b');
  assert.deepEqual(e.toLocal, ['a']);
  assert.equal(e.content, 'unknown');
  assert.equal(e.utf8MailboxNames, false);
  assert.equal(
    encodeEnvelope(newEnvelope()).toString('utf8'),
    crlf([
      `${X}Format: #2821.8`,
      `${X}Content: unknown`,
      `${X}From: `,
      `${X}ToCount: 0`,
      `${X}Authentication: `,
      `${X}Client: `,
      `${X}ClientCertificate: `,
      `${X}MailFromAuthIn: `,
      `${X}MailFromAuthOut: `,
      `${X}ForwardTo: `,
      `${X}ForwardToAddress: `,
      `${X}ClientAccountSelector: `,
      `${X}Utf8MailboxNames: 0`,
      `${X}End: 1`,
    ]).toString('utf8'),
  );
});

test('xtext fields are written normalised, as E-MailRelay does', () => {
  const e = newEnvelope({ authentication: 'joe smith', mailFromAuthIn: 'a+2bb', forwardTo: 'example.com:25', mailFromAuthOut: '<>' });
  const text = encodeEnvelope(e).toString('utf8');
  assert.ok(text.includes(`${X}Authentication: joe+20smith\r\n`));
  assert.ok(text.includes(`${X}MailFromAuthIn: a+2Bb\r\n`));
  assert.ok(text.includes(`${X}MailFromAuthOut: <>\r\n`));
  assert.ok(text.includes(`${X}ForwardTo: example.com:25\r\n`));
});

test('encode refuses line breaks it cannot write', () => {
  assert.throws(() => encodeEnvelope(newEnvelope({ toRemote: ['a@b\r\nX-MailRelay-End: 1'] })), EnvelopeError);
  assert.throws(() => encodeEnvelope(newEnvelope({ tail: ['x\ny'] })), EnvelopeError);
  // a folded value in another field is folded back
  const e = newEnvelope({ from: 'a\nb' });
  assert.equal(decodeEnvelope(encodeEnvelope(e)).from, 'a\nb');
});

// --- errors name the line ---------------------------------------------------------------------

test('error: wrong format id', () => {
  const ref = fixture('reference-example.envelope');
  expectError(replaceLine(ref, 0, [`${X}Format: #2821.9`]), 1, /unknown format id/);
  expectError(replaceLine(ref, 0, [`${X}Format: #2821.2`]), 1, /unknown format id/);
  expectError(replaceLine(ref, 0, [`X-MailRelay-Fromat: #2821.8`]), 1, /Format/);
  expectError('', 1, /Format/);
  expectError('hello world\n', 1, /Format/);
});

test('error: reordered field', () => {
  const ref = fixture('reference-example.envelope');
  // swap Authentication (line 7) and Client (line 8)
  const lines = ref.toString('utf8').split('\r\n');
  lines.pop();
  [lines[6], lines[7]] = [lines[7]!, lines[6]!];
  expectError(crlf(lines), 7, /expected "X-MailRelay-Authentication:", found "X-MailRelay-Client: 192\.168\.1\.20"/);
  // Content and From swapped
  const lines2 = ref.toString('utf8').split('\r\n');
  lines2.pop();
  [lines2[1], lines2[2]] = [lines2[2]!, lines2[1]!];
  expectError(crlf(lines2), 2, /Content/);
});

test('error: unknown field', () => {
  const ref = fixture('reference-example.envelope');
  expectError(replaceLine(ref, 8, [`${X}Colour: blue`, `${X}ClientCertificate: `]), 9, /X-MailRelay-Colour/);
  expectError(replaceLine(ref, 11, [`${X}ForwardTo: `, `${X}Extra: 1`]), 13, /ForwardToAddress/);
  // case matters, as in E-MailRelay
  expectError(replaceLine(ref, 2, [`x-mailrelay-from: alice@example.com`]), 3, /From/);
  // the space after the colon is required unless the value is empty
  expectError(replaceLine(ref, 2, [`${X}From:alice@example.com`]), 3, /From/);
});

test('error: ToCount mismatch and bad ToCount', () => {
  const ref = fixture('reference-example.envelope');
  // ToCount 3 but two To lines: line 7 (Authentication) is not a To line
  expectError(replaceLine(ref, 3, [`${X}ToCount: 3`]), 7, /recipient 3 of ToCount 3/);
  // ToCount 1 but two To lines: the second To line is where Authentication was expected
  expectError(replaceLine(ref, 3, [`${X}ToCount: 1`]), 6, /expected "X-MailRelay-Authentication:", found "X-MailRelay-To-Remote/);
  // a huge count fails at the first non-To line without reading further
  expectError(replaceLine(ref, 3, [`${X}ToCount: 4294967295`]), 7, /recipient 3/);
  expectError(replaceLine(ref, 3, [`${X}ToCount: 4294967296`]), 4, /invalid ToCount/);
  expectError(replaceLine(ref, 3, [`${X}ToCount: 99999999999999999999999999`]), 4, /invalid ToCount/);
  expectError(replaceLine(ref, 3, [`${X}ToCount: -1`]), 4, /invalid ToCount/);
  expectError(replaceLine(ref, 3, [`${X}ToCount: two`]), 4, /invalid ToCount/);
  expectError(replaceLine(ref, 3, [`${X}ToCount: `]), 4, /invalid ToCount/);
  // a To line needs "Key: " with the space
  expectError(replaceLine(ref, 4, [`${X}To-Local:`]), 5, /recipient 1/);
  expectError(replaceLine(ref, 4, [`${X}To-Elsewhere: bob`]), 5, /recipient 1/);
  // counted lines running past the end of the file
  const cut = Buffer.from(ref.toString('utf8').split('\r\n').slice(0, 5).join('\r\n') + '\r\n');
  expectError(replaceLine(cut, 3, [`${X}ToCount: 3`]), 6, /recipient 2 of ToCount 3.*end of the file/);
});

test('error: missing End', () => {
  const ref = fixture('reference-example.envelope');
  const lines = ref.toString('utf8').split('\r\n');
  lines.pop();
  expectError(crlf(lines.slice(0, 15)), 16, /End.*end of the file/);
  expectError(crlf([...lines.slice(0, 15), `${X}Reason: oops`, `${X}ReasonCode: 550`]), 16, /End/);
  // the file cut short in the middle
  expectError(crlf(lines.slice(0, 9)), 10, /MailFromAuthIn.*end of the file/);
});

test('error: invalid MailFromAuthIn/Out xtext', () => {
  const ref = fixture('reference-example.envelope');
  expectError(replaceLine(ref, 9, [`${X}MailFromAuthIn: a+zz`]), 10, /xtext/);
  expectError(replaceLine(ref, 10, [`${X}MailFromAuthOut: é`]), 11, /xtext/);
  assert.equal(decodeEnvelope(replaceLine(ref, 9, [`${X}MailFromAuthIn: +`])).mailFromAuthIn, '+');
});

test('error line numbers count continuation lines', () => {
  const cert = fixture('client-certificate.envelope');
  const e = expectError(Buffer.from(cert.toString('utf8').replace(`${X}MailFromAuthOut: `, `${X}MailFromAuth: `)), 20);
  assert.equal(e.name, 'EnvelopeError');
});

test('NUL bytes and invalid UTF-8 are data, not crashes', () => {
  const ref = fixture('reference-example.envelope');
  const e = decodeEnvelope(replaceLine(ref, 4, [`${X}To-Local: b\0b`]));
  assert.deepEqual(e.toLocal, ['b\0b']);
  const bad = Buffer.concat([
    Buffer.from(`${X}Format: #2821.8\r\n${X}Content: 8bit\r\n${X}From: `),
    Buffer.from([0xff, 0xfe, 0x80]),
    ref.subarray(ref.indexOf(`\r\n${X}ToCount`)),
  ]);
  assert.equal(decodeEnvelope(bad).from, '\ufffd\ufffd\ufffd');
});

// --- fuzz ---------------------------------------------------------------------------------------

const prng = seeded;

const INTERESTING = [
  '\r',
  '\n',
  '\r\n',
  ' ',
  '\t',
  ':',
  '+',
  '\0',
  '\xff',
  'X-MailRelay-',
  'X-MailRelay-End: 1',
  'X-MailRelay-ToCount: 4294967295',
  'X-MailRelay-To-Local: ',
  'X-MailRelay-To-Remote: ',
  '#2821.3',
  '#2821.8',
  '\r\n ',
  'é',
  '用',
];

function mutate(input: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(input);
  const steps = 1 + Math.floor(rnd() * 4);
  for (let s = 0; s < steps; s++) {
    const pos = Math.floor(rnd() * (b.length + 1));
    switch (Math.floor(rnd() * 8)) {
      case 0: // flip a byte
        if (b.length > 0) b[Math.min(pos, b.length - 1)] = Math.floor(rnd() * 256);
        break;
      case 1: // insert random bytes
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => Math.floor(rnd() * 256))), b.subarray(pos)]);
        break;
      case 2: // delete a range
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1 + Math.floor(rnd() * 40))]);
        break;
      case 3: // truncate
        b = b.subarray(0, pos);
        break;
      case 4: // insert an interesting token
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(INTERESTING[Math.floor(rnd() * INTERESTING.length)]!, 'utf8'), b.subarray(pos)]);
        break;
      case 5: {
        // duplicate or drop a line
        const lines = b.toString('latin1').split('\n');
        const i = Math.floor(rnd() * lines.length);
        if (rnd() < 0.5) lines.splice(i, 0, lines[i]!);
        else lines.splice(i, 1);
        b = Buffer.from(lines.join('\n'), 'latin1');
        break;
      }
      case 6: {
        // change the ToCount
        const n = [0, 1, 2, 3, 5, 1000, 4294967295, 4294967296][Math.floor(rnd() * 8)]!;
        b = Buffer.from(b.toString('latin1').replace(/ToCount: [^\r\n]*/, `ToCount: ${n}`), 'latin1');
        break;
      }
      default: {
        // swap two lines
        const lines = b.toString('latin1').split('\n');
        const i = Math.floor(rnd() * lines.length);
        const j = Math.floor(rnd() * lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        b = Buffer.from(lines.join('\n'), 'latin1');
      }
    }
  }
  return b;
}

test('fuzz: decoding mutated fixtures throws only EnvelopeError; re-encoding is stable', () => {
  const inputs = fixtureNames.map(fixture);
  const rnd = prng(0x2821);
  let decoded = 0;
  let rejected = 0;
  for (let i = 0; i < 20000; i++) {
    const data = mutate(inputs[i % inputs.length]!, rnd);
    let e: Envelope;
    try {
      e = decodeEnvelope(data);
    } catch (err) {
      if (!(err instanceof EnvelopeError)) {
        assert.fail(`iteration ${i}: non-EnvelopeError ${String(err)} for ${JSON.stringify(data.toString('latin1'))}`);
      }
      assert.ok(Number.isInteger(err.line) && err.line >= 1, `iteration ${i}: line ${err.line}`);
      rejected++;
      continue;
    }
    decoded++;
    const once = encodeEnvelope(e);
    const twice = encodeEnvelope(decodeEnvelope(once));
    assert.ok(twice.equals(once), `iteration ${i}: unstable re-encoding of ${JSON.stringify(data.toString('latin1'))}`);
  }
  assert.ok(decoded > 100 && rejected > 100, `decoded ${decoded}, rejected ${rejected}`);
});

test('fuzz: random bytes throw only EnvelopeError', () => {
  const rnd = prng(7);
  for (let i = 0; i < 2000; i++) {
    const data = Buffer.from(Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)));
    try {
      decodeEnvelope(data);
    } catch (err) {
      assert.ok(err instanceof EnvelopeError, String(err));
    }
  }
});
