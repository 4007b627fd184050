// Filter and verifier contracts as pure functions: the exit-code tables (E-MailRelay section 4.3),
// output line parsing, the network filter and verifier response lines, account: and mx: parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitCodeOutcome, parseFilterOutput, programResult, splitReplyCode } from '../../src/filters/result';
import { netFilterResponse } from '../../src/filters/net';
import { forwardToDomain, parseMxParams } from '../../src/filters/mx';
import { programVerdict } from '../../src/verifiers/program';
import { netVerdict } from '../../src/verifiers/net';
import { parseAccountParams } from '../../src/verifiers/account';

test('exit-code table, server and client side', () => {
  const server: [number, string, boolean][] = [
    [0, 'ok', false],
    [1, 'fail', false],
    [99, 'fail', false],
    [100, 'abandon', false],
    [101, 'ok', false],
    [102, 'abandon', true],
    [103, 'ok', true],
    [104, 'fail', true],
    [105, 'fail', false],
    [106, 'fail', false],
    [127, 'fail', false],
  ];
  for (const [code, outcome, special] of server) assert.deepEqual(exitCodeOutcome(code, 'server'), [outcome, special], `server ${code}`);
  const client: [number, string, boolean][] = [
    [0, 'ok', false],
    [50, 'fail', false],
    [100, 'abandon', false],
    [101, 'ok', false],
    [102, 'ok', true],
    [103, 'ok', false],
    [104, 'abandon', true],
    [105, 'fail', true],
    [200, 'fail', false],
  ];
  for (const [code, outcome, special] of client) assert.deepEqual(exitCodeOutcome(code, 'client'), [outcome, special], `client ${code}`);
});

test('filter output: first <<>> or [[]] line is the response, the second the reason; CR LF normalised', () => {
  assert.deepEqual(parseFilterOutput('noise\r\n<<first>>\r\n[[second]] trailing\r\n<<third>>\r\n'), { response: 'first', reason: 'second' });
  assert.deepEqual(parseFilterOutput(' <<indented is not a response>>\n<<unterminated\n'), { response: undefined, reason: undefined });
  const r = programResult(1, '<<451 4.3.0 later>>\n', 'server', 'exit code 1');
  assert.deepEqual([r.outcome, r.code, r.response, r.reason], ['fail', 451, '4.3.0 later', '451 4.3.0 later']);
  const quiet = programResult(3, '', 'server', 'exit code 3');
  assert.deepEqual([quiet.code, quiet.response, quiet.reason], [undefined, 'rejected', 'exit code 3']);
  assert.deepEqual(splitReplyCode('550'), { code: 550, text: '' });
  assert.deepEqual(splitReplyCode('250 fine'), { text: '250 fine' });
  assert.deepEqual(splitReplyCode('5501 x'), { text: '5501 x' });
});

test('network filter response lines', () => {
  assert.equal(netFilterResponse('ok').outcome, 'ok');
  assert.equal(netFilterResponse('okay whatever').outcome, 'ok');
  assert.equal(netFilterResponse('100').outcome, 'abandon');
  const r = netFilterResponse('552 too big\tsize rule');
  assert.deepEqual([r.outcome, r.code, r.response, r.reason], ['fail', 552, 'too big', 'size rule']);
  const plain = netFilterResponse('nope');
  assert.deepEqual([plain.code, plain.response, plain.reason], [undefined, 'nope', 'nope']);
});

test('verifier program verdicts', () => {
  assert.deepEqual(programVerdict(0, 'Full Name\nmbox\n', 'a@b'), { kind: 'local', fullName: 'Full Name', mailbox: 'mbox' });
  assert.deepEqual(programVerdict(1, 'x\r\nnew@c\r\n', 'a@b'), { kind: 'remote', address: 'new@c' });
  assert.deepEqual(programVerdict(1, 'x\n\n', 'a@b').kind, 'invalid', 'the empty second line is trimmed away: fewer than two lines');
  assert.deepEqual(programVerdict(2, 'bad\nwhy', 'a@b'), { kind: 'invalid', temporary: false, response: 'bad', reason: 'why' });
  assert.deepEqual(programVerdict(3, 'later', 'a@b'), { kind: 'invalid', temporary: true, response: 'later', reason: 'later' });
  assert.deepEqual(programVerdict(100, '', 'a@b'), { kind: 'abort' });
  assert.deepEqual(programVerdict(42, '', 'a@b'), { kind: 'invalid', temporary: false, response: 'mailbox unavailable', reason: 'exit code 42' });
  assert.equal(programVerdict(0, 'only one', 'a@b').kind, 'invalid');
});

test('network verifier verdicts', () => {
  assert.deepEqual(netVerdict('0|mbox|Full Name', 'a@b'), { kind: 'local', mailbox: 'mbox', fullName: 'Full Name' });
  assert.deepEqual(netVerdict('1|', 'a@b'), { kind: 'remote', address: 'a@b' });
  assert.deepEqual(netVerdict('3|busy|ldap down', 'a@b'), { kind: 'invalid', temporary: true, response: 'busy', reason: 'ldap down' });
  assert.deepEqual(netVerdict('100', 'a@b'), { kind: 'abort' });
  assert.equal(netVerdict('what', 'a@b').kind, 'invalid');
});

test('account: parameters, long and short forms', () => {
  assert.deepEqual(parseAccountParams(''), { low: 1000, high: 32767, lowercase: false, check: false, remote: false });
  assert.deepEqual(parseAccountParams('500-600;lowercase;check'), { low: 500, high: 600, lowercase: true, check: true, remote: false });
  assert.deepEqual(parseAccountParams('lc;r'), { low: 1000, high: 32767, lowercase: true, check: true, remote: true });
  assert.throws(() => parseAccountParams('whatever'), /unknown parameter "whatever"/);
});

test('mx: parameters and ForwardTo forms', () => {
  const o = parseMxParams('127.0.0.1:5353;[::1]:53;nst=2;rt=30', 60000);
  assert.deepEqual(o, { nameservers: ['127.0.0.1:5353', '[::1]:53'], perServerTimeoutMs: 2000, overallTimeoutMs: 30000 });
  assert.equal(parseMxParams('rt=30', 10000).overallTimeoutMs, 10000, 'bounded by --filter-timeout');
  assert.throws(() => parseMxParams('dns.example.com', 1000), /not a name server address/);
  assert.deepEqual(forwardToDomain('example.com'), { domain: 'example.com', port: 25 });
  assert.deepEqual(forwardToDomain('user@example.com:2525'), { domain: 'example.com', port: 2525 });
  assert.deepEqual(forwardToDomain('[IPv6:::1]:26'), { domain: '[IPv6:::1]', port: 26 });
});
