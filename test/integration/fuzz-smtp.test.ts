// A short SMTP fuzz run (the long one is `make fuzz`): mutated sessions from test/fuzz/corpus/smtp
// against a live relay. Afterwards the relay must still serve, have logged no error, and its spool
// must hold only whole messages: every content file with a committed, readable envelope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { runSmtpFuzz } from '../fuzz/smtp-fuzz';
import { decodeEnvelope } from '../../src/spool/envelope';
import { RawSmtp, sendMessage } from '../lib/smtp-client';
import { cleanup, filesEnding, relayFor, spoolFiles, waitUntil } from './forward-util';

const SESSIONS = Number(process.env.RELAYBOX_FUZZ_SESSIONS ?? 200);
const SEED = Number(process.env.RELAYBOX_FUZZ_SEED ?? 20261128);

/** Whole messages only: no .new envelope, no content without an envelope, every envelope readable. */
export function checkSpoolWhole(spool: string): string | null {
  const files = spoolFiles(spool);
  if (files.some((f) => f.endsWith('.new') || f.endsWith('.tmp'))) return `partial files: ${files.filter((f) => /\.(new|tmp)$/.test(f)).join(' ')}`;
  for (const c of filesEnding(spool, '.content')) {
    const id = c.replace(/\.content$/, '');
    if (!files.includes(`${id}.envelope`)) return `content without an envelope: ${c}`;
  }
  for (const e of filesEnding(spool, '.envelope')) {
    try {
      decodeEnvelope(readFileSync(path.join(spool, e)));
    } catch (err) {
      return `${e}: ${(err as Error).message}`;
    }
  }
  return null;
}

test(`SMTP fuzz: ${SESSIONS} mutated sessions (seed ${SEED}); the relay keeps serving and the spool stays whole`, async (t) => {
  const defer = cleanup(t);
  const relay = await relayFor(defer, ['--idle-timeout', '2', '--size', '300000', '--server-smtp-config', 'nostrictparsing']);
  const stats = await runSmtpFuzz({ port: relay.port, sessions: SESSIONS, seed: SEED, sessionMs: 3000, concurrency: 16 });
  t.diagnostic(`seed ${SEED}: ${JSON.stringify(stats)}`);
  assert.equal(relay.proc.exitCode, null, `the relay died: ${relay.stderr}`);
  assert.ok((stats.replies['5'] ?? 0) > 0 && (stats.replies['2'] ?? 0) > 0, 'the run reached both refusals and acceptances');

  const { smtp } = await RawSmtp.open(relay.port);
  defer(() => smtp.socket.destroy());
  assert.equal((await smtp.command('EHLO probe.test')).code, 250);
  assert.equal((await sendMessage(smtp, 'probe@example.com', ['x@example.net'], Buffer.from('Subject: after fuzz\r\n\r\nstill here\r\n'))).code, 250);

  let problem: string | null = 'not checked';
  await waitUntil(() => (problem = checkSpoolWhole(relay.spool)) === null, 'a whole spool', 15000).catch(() => assert.fail(problem!));
  const errors = relay.logs.filter((l) => l.level >= 50);
  assert.deepEqual(errors, [], `error lines logged (seed ${SEED})`);
});
