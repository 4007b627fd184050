// SMTP smuggling: no byte sequence a client sends may end the upstream's DATA early or put a command
// upstream inside another message. Both readings of a bare LF are checked end to end, from the client
// through the spool to a real upstream (smtp-server as the sink):
// - a local client (bare LF ends lines): "\n.\n" ends the message, what follows is the client's next
//   command, exactly as the client's own framing says; each message is forwarded on its own;
// - a public client (only CRLF.CRLF ends DATA): the bytes stay inside the one message and are
//   dot-stuffed when forwarded, so the upstream also sees one message holding them as text.
// A public client that is left waiting after a bare-LF end-of-data line is told why (421) and logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanups, type Defer } from '../lib/cleanup';
import * as path from 'node:path';
import { writeFileSync } from 'node:fs';
import { relayFor, scratchDir } from '../lib/relay';
import { RawSmtp } from '../lib/smtp-client';
import { startSink } from '../lib/sink';
import { publicNamespace, PUBLIC, type Namespace } from '../lib/netns';
import { readAll, splitReceived } from '../lib/spool-files';

const SMUGGLE = 'MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled text\r\n';
const ENDINGS = [
  ['\\n.\\n', '\n.\n'],
  ['\\r\\n.\\n', '\r\n.\n'],
  ['\\n.\\r\\n', '\n.\r\n'],
] as const;

for (const [name, ending] of ENDINGS) {
  test(`local client, "${name}" then commands: two messages as the client framed them, each forwarded on its own`, async (t) => {
    const defer = cleanups(t);
    const sink = await startSink();
    defer(() => sink.close());
    const r = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect']);
    const { smtp } = await RawSmtp.open(r.port);
    defer(() => smtp.destroy());
    await smtp.command('EHLO local.client.test');
    smtp.write(`MAIL FROM:<dev@example.test>\r\nRCPT TO:<ops@example.net>\r\nDATA\r\nSubject: first\r\n\r\nfirst text${ending}${SMUGGLE}.\r\nQUIT\r\n`);
    assert.deepEqual(
      (await smtp.nextReplies(9, 5000)).map((x) => x.code),
      [250, 250, 354, 250, 250, 250, 354, 250, 221],
    );
    await sink.waitFor(2, 15000);
    const byFrom = new Map(sink.messages.map((m) => [m.from, m]));
    assert.equal(sink.messages.length, 2);
    assert.deepEqual(byFrom.get('dev@example.test')?.to, ['ops@example.net']);
    assert.ok(byFrom.get('dev@example.test')!.data.toString('latin1').endsWith('Subject: first\r\n\r\nfirst text\r\n'));
    assert.deepEqual(byFrom.get('evil@attacker.example')?.to, ['victim@example.net'], "the second message is the client's own, with its own envelope");
  });
}

/** Run a raw exchange inside the namespace: greeting, then the bytes, then every reply until close or ms. */
async function rawInside(ns: Namespace, port: number, payload: Buffer, ms: number): Promise<string> {
  const script = `
    const s = require('net').connect(Number(process.argv[2]), process.argv[1]);
    let out = ''; let sent = false;
    s.on('data', (d) => { out += d.toString('latin1'); if (!sent) { sent = true; s.write(Buffer.from(process.argv[3], 'base64')); } });
    const done = () => { process.stdout.write(out); process.exit(0); };
    s.on('close', done); s.on('error', done); setTimeout(done, Number(process.argv[4]));`;
  const res = await ns.run(process.execPath, ['-e', script, PUBLIC, String(port), payload.toString('base64'), String(ms)], { ms: ms + 10000 });
  assert.equal(res.code, 0, res.stderr);
  return res.stdout;
}

async function publicRelay(t: import('node:test').TestContext, defer: Defer, args: string[] = []) {
  const ns = await publicNamespace(defer);
  if (!ns) {
    t.skip('needs root and ip netns, for a client with a public address');
    return null;
  }
  const r = await relayFor(defer, ['--interface', PUBLIC, '--remote-clients', ...args], { wrapper: ns.wrapper, keepSpool: true });
  return { ns, r };
}

for (const [name, ending] of ENDINGS) {
  test(`public client, "${name}" then commands inside DATA: one message, dot-stuffed upstream, no command reaches it`, async (t) => {
    const defer = cleanups(t);
    const pub = await publicRelay(t, defer);
    if (!pub) return;
    const { ns, r } = pub;
    const payload = Buffer.from(
      `EHLO public.client.test\r\nMAIL FROM:<dev@example.test>\r\nRCPT TO:<ops@example.net>\r\nDATA\r\n` +
        `Subject: one\r\n\r\nfirst text${ending}${SMUGGLE}.\r\nQUIT\r\n`,
      'latin1',
    );
    const out = await rawInside(ns, r.port, payload, 5000);
    const codes = out
      .split('\r\n')
      .filter((l) => /^\d{3} /.test(l))
      .map((l) => Number(l.slice(0, 3)));
    assert.deepEqual(codes, [220, 250, 250, 250, 354, 250, 221], out);
    await r.stop();
    const [m] = readAll(r.spool);
    const text = `Subject: one\r\n\r\nfirst text${ending}${SMUGGLE}`;
    assert.equal(splitReceived(m.content)!.rest.toString('latin1'), text, "stored byte for byte (E-MailRelay's reading)");

    // Forward the spool from outside the namespace (same files) to a real upstream.
    const sink = await startSink();
    defer(() => sink.close());
    await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward'], { spool: r.spool });
    await sink.waitFor(1, 15000);
    assert.equal(sink.messages.length, 1);
    assert.equal(sink.messages[0].from, 'dev@example.test');
    assert.deepEqual(sink.messages[0].to, ['ops@example.net']);
    const got = sink.messages[0].data.toString('latin1');
    assert.ok(got.endsWith(`Subject: one\r\n\r\nfirst text\r\n.\r\n${SMUGGLE}`), `the upstream got the lone dot as text: ${JSON.stringify(got.slice(-200))}`);
  });
}

test('public client left waiting after "\\n.\\n": 421 saying why, a warning with its address; --bare-lf-clients lets it through', async (t) => {
  const defer = cleanups(t);
  const pub = await publicRelay(t, defer, ['--idle-timeout', '2']);
  if (!pub) return;
  const { ns, r } = pub;
  const payload = Buffer.from('EHLO old.device\nMAIL FROM:<dev@example.test>\nRCPT TO:<ops@example.net>\nDATA\nSubject: x\n\nbody\n.\n', 'latin1');
  const out = await rawInside(ns, r.port, payload, 8000);
  assert.match(
    out,
    /\r\n421 4\.4\.2 \S+ message ended with a bare LF \(\\n\.\\n\): end it with CRLF\.CRLF, or allow this address in --bare-lf-clients\r\n/,
    out,
  );
  const warning = await r.waitForLog((l) => l.level === 40 && /bare LF/.test(l.msg));
  assert.equal(warning.address, PUBLIC);
  assert.match(warning.msg, /--bare-lf-clients/);
  assert.deepEqual(readAll(r.spool), [], 'nothing was stored (and nothing acknowledged)');
  await r.stop();

  const allowed = await relayFor(defer, ['--interface', PUBLIC, '--remote-clients', '--bare-lf-clients', `198.51.100.0/24`], { wrapper: ns.wrapper });
  const ok = await rawInside(ns, allowed.port, Buffer.concat([payload, Buffer.from('QUIT\n')]), 5000);
  assert.match(ok, /\r\n354 [^\r]*\r\n250 [^\r]*\r\n221 /, ok);
  assert.equal(splitReceived(readAll(allowed.spool)[0].content)!.rest.toString('latin1'), 'Subject: x\r\n\r\nbody\r\n');
});

test('a public client trusted by a "server none" line may end DATA with "\\n.\\n"', async (t) => {
  const defer = cleanups(t);
  const dir = scratchDir(defer);
  const secrets = path.join(dir, 'server.secrets');
  writeFileSync(secrets, `server none ${PUBLIC}/32 old-device\n`);
  const pub = await publicRelay(t, defer, ['--server-auth', secrets]);
  if (!pub) return;
  const { ns, r } = pub;
  const out = await rawInside(
    ns,
    r.port,
    Buffer.from('EHLO old.device\nMAIL FROM:<dev@example.test>\nRCPT TO:<ops@example.net>\nDATA\nSubject: x\n\nbody\n.\nQUIT\n'),
    5000,
  );
  assert.match(out, /\r\n354 [^\r]*\r\n250 [^\r]*\r\n221 /, out);
  const [m] = readAll(r.spool);
  assert.equal(m.envelope.authentication, 'old-device');
  assert.equal(splitReceived(m.content)!.rest.toString('latin1'), 'Subject: x\r\n\r\nbody\r\n');
});
