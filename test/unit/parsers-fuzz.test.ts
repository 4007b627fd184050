// Parser fuzzing: mutated secrets files, envelopes and filter output. A parser may refuse the input
// (a reported problem or its own error class) but never throws anything else, never hangs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseSecrets } from '../../src/auth/secrets';
import { decodeEnvelope, EnvelopeError } from '../../src/spool/envelope';
import { parseFilterOutput } from '../../src/filters/result';
import { netFilterResponse } from '../../src/filters/net';
import { seeded, type Random } from '../fuzz/random';

const ROUNDS = Number(process.env.RELAYBOX_PARSER_FUZZ_ROUNDS ?? 3000);
const SEED = Number(process.env.RELAYBOX_FUZZ_SEED ?? 20261128);
const corpus = (dir: string) =>
  readdirSync(dir)
    .sort()
    .map((f) => readFileSync(path.join(dir, f), 'latin1'));
const PIECES = [
  '\0',
  '\r',
  '\n',
  ' ',
  '\t',
  ':',
  '/',
  '/0',
  '/33',
  '/129',
  '::ffff:',
  '+',
  '+2',
  '+zz',
  '=',
  '#',
  'server',
  'client',
  'none',
  'plain:b',
  'md5',
  'oauth',
  '\xff',
  '\u00e4',
  'x'.repeat(5000),
];

function mutateText(text: string, r: Random): string {
  let s = text;
  for (let k = 1 + r.int(6); k > 0; k--) {
    const at = r.int(s.length + 1);
    switch (r.int(4)) {
      case 0:
        s = s.slice(0, at) + r.pick(PIECES) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + r.int(20));
        break;
      case 2: {
        const b = r.int(s.length + 1);
        s = s.slice(0, at) + s.slice(Math.min(at, b), Math.max(at, b)) + s.slice(at);
        break;
      }
      default:
        s = s.slice(0, at) + String.fromCharCode(r.int(256)) + s.slice(at + 1);
    }
  }
  return s;
}

test(`secrets file parser: ${ROUNDS} mutated files never throw`, () => {
  const r = seeded(SEED);
  const seeds = corpus(path.join(__dirname, '../fuzz/corpus/secrets'));
  let problems = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const text = mutateText(r.pick(seeds), r);
    const parsed = parseSecrets(text, 'fuzz.secrets');
    problems += parsed.problems.length;
    for (const p of parsed.problems) assert.ok(p.line >= 1 && p.line <= text.split('\n').length + 1, `problem line ${p.line} out of range`);
  }
  assert.ok(problems > 0, 'the mutations produced some invalid lines');
});

test(`envelope decoder: ${ROUNDS} mutated envelopes give an envelope or an EnvelopeError`, () => {
  const r = seeded(SEED + 1);
  const seeds = corpus(path.join(__dirname, '../fixtures/envelopes'));
  let refused = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const text = mutateText(r.pick(seeds), r);
    try {
      decodeEnvelope(Buffer.from(text, 'latin1'));
    } catch (e) {
      assert.ok(e instanceof EnvelopeError, `unexpected ${(e as Error).stack}`);
      refused++;
    }
  }
  assert.ok(refused > 0);
});

test(`filter output and network filter responses: ${ROUNDS} random outputs never throw`, () => {
  const r = seeded(SEED + 2);
  for (let i = 0; i < ROUNDS; i++) {
    const text = mutateText('noise\r\n<<550 5.7.1 no>>\r\n[[reason]]\n', r);
    const out = parseFilterOutput(text);
    assert.ok(out.response === undefined || typeof out.response === 'string');
    const res = netFilterResponse(text.split('\n')[0]!);
    assert.ok(['ok', 'fail', 'abandon'].includes(res.outcome));
  }
});
