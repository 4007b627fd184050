import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSubmitArgs, SubmitError } from '../../src/submit/args';
import { findSpoolDir } from '../../src/submit/command';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inputLines, readHeader, addressesIn, finalHeader } from '../../src/submit/message';

test('sendmail and emailrelay-submit options', () => {
  const a = parseSubmitArgs(['-t', '-oi', '-fcron@x.test', '-F', 'Cron Daemon', '-odq', '--spool-dir=/s', '--to', 'a@x', 'b@x', '--', '-c@x']);
  assert.equal(a.fromHeaders, true);
  assert.equal(a.dotEnds, false);
  assert.equal(a.from, 'cron@x.test');
  assert.equal(a.fullName, 'Cron Daemon');
  assert.equal(a.spoolDir, '/s');
  assert.deepEqual(a.recipients, ['a@x', 'b@x', '-c@x']);
  assert.equal(parseSubmitArgs(['-B', '8bitmime']).body, '8bit');
  for (const bad of [['-x'], ['-f'], ['-bs'], ['-B', 'binary'], ['--nope']]) {
    assert.throws(
      () => parseSubmitArgs(bad),
      (e: unknown) => e instanceof SubmitError && e.exitCode === 64,
      bad.join(' '),
    );
  }
});

async function* chunks(...parts: string[]) {
  for (const p of parts) yield Buffer.from(p);
}

test('input lines: LF or CRLF, split across chunks, a lone dot ends unless -i', async () => {
  const all = async (dotEnds: boolean) => {
    const out: string[] = [];
    for await (const l of inputLines(chunks('a\r', '\nb\n.', '\nc'), dotEnds)) out.push(l.toString());
    return out;
  };
  assert.deepEqual(await all(true), ['a', 'b']);
  assert.deepEqual(await all(false), ['a', 'b', '.', 'c']);
});

test('header: folded fields, groups, Bcc removed, missing fields added', async () => {
  const it = inputLines(chunks('To: a@x, undisclosed:;\nBcc: b@x,\n c@x\nFrom: <s@x>\nDate: today\n\nbody\n'), true);
  const { fields, separator } = await readHeader(it);
  assert.equal(separator, true);
  assert.deepEqual(addressesIn(fields, ['to', 'cc', 'bcc']), ['a@x', 'b@x', 'c@x']);
  const h = finalHeader(fields, { sender: 's@x', domain: 'box.test' }).toString();
  assert.doesNotMatch(h, /Bcc|c@x/);
  assert.match(h, /^Message-ID: <[^>]+@box\.test>\r\n/m);
  assert.equal((h.match(/^Date:/gm) ?? []).length, 1, 'an existing Date: is kept, not doubled');
  assert.equal((h.match(/^From:/gm) ?? []).length, 1);
});

test('the spool directory comes from the first default config file that exists (.deb, appliance, /etc/relaybox.conf)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'relaybox-submit-'));
  try {
    const deb = path.join(dir, 'deb.conf');
    const appliance = path.join(dir, 'appliance.conf');
    writeFileSync(appliance, 'spool-dir /var/lib/relaybox/spool\n');
    const configs = [deb, appliance, path.join(dir, 'etc.conf')];
    assert.equal(findSpoolDir(parseSubmitArgs([]), configs), '/var/lib/relaybox/spool');
    writeFileSync(deb, 'spool-dir spool\n');
    assert.equal(findSpoolDir(parseSubmitArgs([]), configs), path.join(dir, 'spool'), 'relative to the config file');
    assert.equal(findSpoolDir(parseSubmitArgs(['--spool-dir', '/x']), configs), '/x');
    assert.equal(findSpoolDir(parseSubmitArgs([]), [path.join(dir, 'none.conf')]), '/var/spool/emailrelay');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
