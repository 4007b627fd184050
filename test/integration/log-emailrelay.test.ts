// Issue 16: the log as E-MailRelay writes it. Text lines are the default, on stderr in the foreground
// and in --log-file; relaybox's JSON is --log-format=json. The lines scripts grep for are worded as
// E-MailRelay words them (its test harness greps the same ones), and --verbose shows the SMTP dialogue.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { testPki } from '../lib/certs';
import { cleanups } from '../lib/cleanup';
import { freePort, relayFor, removeDir, scratchDir, type RelayProcess } from '../lib/relay';
import { swaks, swaksAccepted } from '../lib/smtp-client';
import { pollUntil } from '../lib/spool-files';
import { startSink } from '../lib/sink';
import { shellScript } from '../lib/programs';
import { networkErrorWords } from '../../src/net/error-words';

const pki = testPki();
after(() => removeDir(pki.dir));

function stderrHas(relay: RelayProcess, pattern: RegExp): Promise<string> {
  return pollUntil(`${pattern} on stderr`, () => pattern.exec(relay.stderr)?.[0]);
}

test('in the foreground the log is E-MailRelay text on stderr (nothing on stdout), the dialogue as rx<</tx>> at --verbose', async (t) => {
  const defer = cleanups(t);
  const relay = await relayFor(defer, ['--verbose', '--domain', 'relay.test'], { textLog: true, readyMessage: null });
  await stderrHas(relay, /^relaybox: info: relaybox started/m);
  assert.match(relay.stderr, new RegExp(`^relaybox: info: smtp server on 127\\.0\\.0\\.1:${relay.port}$`, 'm'));
  const sent = await swaks({ port: relay.port });
  assert.ok(swaksAccepted(sent), sent.stdout);
  await stderrHas(relay, /^relaybox: info: smtp connection closed: 127\.0\.0\.1:\d+$/m);
  assert.match(relay.stderr, /^relaybox: info: smtp connection from 127\.0\.0\.1:\d+$/m);
  assert.match(relay.stderr, /^relaybox: info: rx<<: "EHLO swaks\.test"$/m);
  assert.match(relay.stderr, /^relaybox: info: rx<<: "MAIL FROM:<sender@example\.test>"$/m);
  assert.match(relay.stderr, /^relaybox: info: rx<<: \[message content not logged\]$/m);
  assert.match(relay.stderr, /^relaybox: info: tx>>: "250 message processed"$/m);
  assert.match(relay.stderr, /^relaybox: info: new envelope file \[emailrelay\.[\d.]+\]$/m);
  assert.doesNotMatch(relay.stderr, /hello from swaks/, 'message content is not logged');
  assert.equal(relay.logs.length, 0, 'nothing on stdout');
});

test('--log-file is written as E-MailRelay text by default, and as JSON with --log-format=json; no warning at a plain start', async (t) => {
  const defer = cleanups(t);
  const dir = scratchDir(defer);
  const text = path.join(dir, 'text.log');
  const relay = await relayFor(defer, ['--log-file', text], { textLog: true, readyMessage: null });
  await pollUntil('started in the text log', () => existsSync(text) && readFileSync(text, 'utf8').includes('relaybox started'));
  const lines = readFileSync(text, 'utf8').trim().split('\n');
  for (const l of lines) assert.match(l, /^relaybox: (info|debug): /);
  assert.ok(lines.includes(`relaybox: info: smtp server on 127.0.0.1:${relay.port}`), lines.join('\n'));
  assert.doesNotMatch(lines.join('\n'), /error|warning|exception/, "E-MailRelay's harness checks a plain start logs none");
  assert.equal(relay.stderr, '');

  const json = path.join(dir, 'json.log');
  await relayFor(defer, ['--log-file', json, '--log-format', 'json'], { textLog: true, readyMessage: null });
  await pollUntil('started in the JSON log', () => existsSync(json) && readFileSync(json, 'utf8').includes('relaybox started'));
  for (const l of readFileSync(json, 'utf8').trim().split('\n')) assert.equal(typeof JSON.parse(l).msg, 'string');
});

test("--log-time puts E-MailRelay's timestamp after the program name", async (t) => {
  const defer = cleanups(t);
  const relay = await relayFor(defer, ['--log-time'], { textLog: true, readyMessage: null });
  const line = await stderrHas(relay, /^relaybox: \d{8}\.\d{6}\.\d{3}: info: smtp server on .*$/m);
  assert.ok(line);
});

test('STARTTLS is logged as "tls protocol established with <peer> protocol <version> cipher <name>"', async (t) => {
  const defer = cleanups(t);
  const relay = await relayFor(defer, ['--verbose', '--domain', 'relay.test', '--server-tls', '--server-tls-certificate', pki.serverPemFile], {
    textLog: true,
    readyMessage: null,
  });
  await stderrHas(relay, /relaybox started/);
  const sent = await swaks({ port: relay.port, extra: ['--tls', '--tls-verify', '--tls-ca-path', pki.caFile] });
  assert.ok(swaksAccepted(sent), sent.stdout);
  await stderrHas(relay, /^relaybox: info: tls protocol established with 127\.0\.0\.1:\d+ protocol TLSv1\.[23] cipher \S+$/m);
});

test('a forwarding run is logged as "forwarding: [poll]", its end as "forwarding: no more messages to send", the client dialogue as tx>>/rx<<', async (t) => {
  const defer = cleanups(t);
  const sink = await startSink();
  defer(() => sink.close());
  const relay = await relayFor(defer, ['--verbose', '--forward-to', `127.0.0.1:${sink.port}`, '--poll', '1'], { textLog: true, readyMessage: null });
  await stderrHas(relay, /relaybox started/);
  const sent = await swaks({ port: relay.port });
  assert.ok(swaksAccepted(sent), sent.stdout);
  await sink.waitFor(1);
  await stderrHas(relay, /^relaybox: info: forwarding: \[poll\]$/m);
  await stderrHas(relay, /^relaybox: info: forwarding: no more messages to send/m);
  // The forwarding client's side of the dialogue, as E-MailRelay's client logs it.
  assert.match(relay.stderr, /^relaybox: info: tx>>: "MAIL FROM:<sender@example\.test>"$/m);
  assert.match(relay.stderr, /^relaybox: info: rx<<: "250 /m);
});

test("admin flush that cannot reach the upstream answers in E-MailRelay's words, not node's", async (t) => {
  const defer = cleanups(t);
  const closed = await freePort();
  const admin = await freePort();
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${closed}`, '--admin', String(admin), '--poll', '3600']);
  const sent = await swaks({ port: relay.port });
  assert.ok(swaksAccepted(sent), sent.stdout);
  const reply = await new Promise<string>((resolve, reject) => {
    const s = net.connect(admin, '127.0.0.1', () => s.write('flush\r\n'));
    let got = '';
    s.setTimeout(20000, () => {
      s.destroy();
      reject(new Error(`no flush reply: ${got}`));
    });
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\n')) {
        s.destroy();
        resolve(got.split(/\r?\n/)[0]);
      }
    });
  });
  assert.equal(reply, `error: cannot connect to 127.0.0.1:${closed}: connection refused`);
});

test('a next hop that cannot be reached is logged as "smtp connection failed: cannot connect to ...", the default one and a message\'s own', async (t) => {
  const defer = cleanups(t);
  const dir = scratchDir(defer);
  const [closed, ownClosed] = [await freePort(), await freePort()];
  const route = shellScript(
    dir,
    'route.sh',
    `grep -q '^X-MailRelay-To-Remote: routed@' "$2" && sed -i 's/^X-MailRelay-ForwardToAddress:.*\\r$/X-MailRelay-ForwardToAddress: 127.0.0.1:${ownClosed}\\r/' "$2"; exit 0`,
  );
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${closed}`, '--forward-on-disconnect', '--filter', route], {
    textLog: true,
    readyMessage: null,
  });
  await stderrHas(relay, /relaybox started/);
  for (const to of ['routed@example.test', 'plain@example.test']) assert.ok(swaksAccepted(await swaks({ port: relay.port, to: [to] })));
  for (const port of [ownClosed, closed]) {
    await stderrHas(relay, new RegExp(`^relaybox: warning: smtp connection failed: cannot connect to 127\\.0\\.0\\.1:${port}: connection refused`, 'm'));
  }
});

test("node's resolver and connect errors in E-MailRelay's words", () => {
  assert.equal(networkErrorWords('getaddrinfo ENOTFOUND dummy.invalid'), 'dns error: no such host: "dummy.invalid" (name or service not known)');
  assert.equal(
    networkErrorWords('getaddrinfo EAI_AGAIN smtp.example.com'),
    'dns error: no such host: "smtp.example.com" (temporary failure in name resolution)',
  );
  assert.equal(networkErrorWords('connect ECONNREFUSED 127.0.0.1:9'), 'cannot connect to 127.0.0.1:9: connection refused');
  assert.equal(networkErrorWords('535 5.7.8 authentication failed'), '535 5.7.8 authentication failed');
});

test('a filter is logged as E-MailRelay logs it: running, its result, "rejected by filter: [...]"', async (t) => {
  const defer = cleanups(t);
  const dir = scratchDir(defer);
  const filter = shellScript(dir, 'refuse.sh', 'echo "<<foo bar>>"; exit 3');
  const relay = await relayFor(defer, ['--verbose', '--filter', filter], { textLog: true, readyMessage: null });
  await stderrHas(relay, /relaybox started/);
  const sent = await swaks({ port: relay.port });
  assert.match(sent.stdout, /<\*\* +452 foo bar/);
  const id = (await stderrHas(relay, /^relaybox: info: filter \[[^\]]*refuse\.sh\]: \[(emailrelay\.[\d.]+)\]: running \S*refuse\.sh$/m)).match(
    /\[(emailrelay\.[\d.]+)\]/,
  )![1];
  await stderrHas(
    relay,
    new RegExp(`^relaybox: info: filter \\[[^\\]]*refuse\\.sh\\]: \\[${id.replace(/\./g, '\\.')}\\]: failed response=\\[foo bar\\] reason=\\[foo bar\\]$`, 'm'),
  );
  await stderrHas(relay, /^relaybox: info: rejected by filter: \[foo bar\]/m);
});

test('a client filter is logged as "client-filter [...]", and as "routing-filter [...]" when it runs for a message with a ForwardTo', async (t) => {
  const defer = cleanups(t);
  const dir = scratchDir(defer);
  const sink = await startSink();
  defer(() => sink.close());
  // The server filter gives messages for routed@ a ForwardTo, which makes the client filter a routing filter (gfilter.cpp).
  const route = shellScript(
    dir,
    'route.sh',
    `grep -q '^X-MailRelay-To-Remote: routed@' "$2" && sed -i 's/^X-MailRelay-ForwardTo:.*\\r$/X-MailRelay-ForwardTo: routed.example\\r/' "$2"; exit 0`,
  );
  const pass = shellScript(dir, 'pass.sh', 'exit 0');
  const relay = await relayFor(
    defer,
    ['--verbose', '--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect', '--filter', route, '--client-filter', pass],
    { textLog: true, readyMessage: null },
  );
  await stderrHas(relay, /relaybox started/);
  for (const to of ['routed@example.test', 'plain@example.test']) assert.ok(swaksAccepted(await swaks({ port: relay.port, to: [to] })));
  await sink.waitFor(2);
  const running = (type: string) => new RegExp(`^relaybox: info: ${type} \\[[^\\]]*pass\\.sh\\]: \\[emailrelay\\.[\\d.]+\\]: running \\S*pass\\.sh$`, 'gm');
  await stderrHas(relay, running('routing-filter'));
  await stderrHas(relay, running('client-filter'));
  assert.equal(relay.stderr.match(running('routing-filter'))!.length, 1);
  assert.equal(relay.stderr.match(running('client-filter'))!.length, 1);
});

test("--immediate, an upstream's refusal stands once in the log, in the reply line; the failing line keeps its code apart", async (t) => {
  const defer = cleanups(t);
  const sink = await startSink({ data: () => ({ code: 499, text: ['failed', 'for testing'] }) });
  defer(() => sink.close());
  const relay = await relayFor(defer, ['--verbose', '--forward-to', `127.0.0.1:${sink.port}`, '--immediate', '--no-retry'], {
    textLog: true,
    readyMessage: null,
  });
  await stderrHas(relay, /relaybox started/);
  await swaks({ port: relay.port });
  await stderrHas(relay, /^relaybox: info: tx>>: "499 failed for testing"$/m);
  await stderrHas(relay, /^relaybox: warning: failing envelope \[emailrelay\.[\d.]+\]: message failed .* reason=DATA: failed for testing .*code=499$/m);
  assert.equal(relay.stderr.match(/499 failed for testing/g)!.length, 1, "E-MailRelay's test suite counts it once");
});

test('a message that fails is logged as "failing envelope [<id>]: ..."', async (t) => {
  const defer = cleanups(t);
  const sink = await startSink({ rcpt: () => ({ code: 550, text: '5.1.1 no such user' }) });
  defer(() => sink.close());
  const relay = await relayFor(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect'], { textLog: true, readyMessage: null });
  await stderrHas(relay, /relaybox started/);
  await swaks({ port: relay.port });
  await stderrHas(relay, /^relaybox: warning: failing envelope \[emailrelay\.[\d.]+\]: message failed/m);
});

test('a client\'s failed TLS handshake is logged as "tls error: ..."', async (t) => {
  const defer = cleanups(t);
  const relay = await relayFor(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile], { textLog: true, readyMessage: null });
  await stderrHas(relay, /relaybox started/);
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(relay.port, '127.0.0.1');
    let got = '';
    s.setTimeout(10000, () => {
      s.destroy();
      reject(new Error(`no STARTTLS go-ahead: ${got}`));
    });
    s.on('data', (d) => {
      got += d.toString();
      if (/^220 .*\r\n/m.test(got) && !got.includes('STARTTLS-sent')) {
        got += 'STARTTLS-sent';
        s.write('EHLO client.test\r\nSTARTTLS\r\n');
      } else if (/^220 .*ready to start TLS|^220 2\.0\.0/im.test(got.split('STARTTLS-sent')[1] ?? '')) {
        s.end('this is not a TLS client hello\r\n\r\n');
      }
    });
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
  await stderrHas(relay, /^relaybox: warning: tls error: .*TLS handshake with a client failed/m);
  assert.doesNotMatch(relay.stderr, /tls protocol established/);
});

test('the forwarding client logs its STARTTLS as "tls protocol established with <upstream>"', async (t) => {
  const defer = cleanups(t);
  const upstream = await relayFor(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile]);
  const client = await relayFor(defer, ['--verbose', '--forward-to', `127.0.0.1:${upstream.port}`, '--client-tls', '--forward-on-disconnect'], {
    textLog: true,
    readyMessage: null,
  });
  await stderrHas(client, /relaybox started/);
  const sent = await swaks({ port: client.port });
  assert.ok(swaksAccepted(sent), sent.stdout);
  await stderrHas(client, new RegExp(`^relaybox: info: tls protocol established with 127\\.0\\.0\\.1:${upstream.port}$`, 'm'));
  await stderrHas(client, /^relaybox: info: tx>>: "STARTTLS"$/m);
});

test('implicit TLS to the upstream (--client-tls-connection) is logged as "tls protocol established with <upstream>"', async (t) => {
  const defer = cleanups(t);
  const upstream = await relayFor(defer, ['--server-tls-connection', '--server-tls-certificate', pki.serverPemFile]);
  const client = await relayFor(defer, ['--verbose', '--forward-to', `127.0.0.1:${upstream.port}`, '--client-tls-connection', '--forward-on-disconnect'], {
    textLog: true,
    readyMessage: null,
  });
  await stderrHas(client, /relaybox started/);
  assert.ok(swaksAccepted(await swaks({ port: client.port })));
  await stderrHas(client, new RegExp(`^relaybox: info: tls protocol established with 127\\.0\\.0\\.1:${upstream.port}$`, 'm'));
});

test('a certificate the forwarding client refuses is a "tls error" on both sides (the server sees the handshake abandoned)', async (t) => {
  const defer = cleanups(t);
  const upstream = await relayFor(defer, ['--server-tls', '--server-tls-certificate', pki.serverPemFile], { textLog: true, readyMessage: null });
  await stderrHas(upstream, /relaybox started/);
  // The server's own certificate is no CA: the chain cannot be verified with it.
  const client = await relayFor(
    defer,
    ['--forward-to', `127.0.0.1:${upstream.port}`, '--client-tls', '--client-tls-verify', pki.serverCertFile, '--forward-on-disconnect', '--no-retry'],
    { textLog: true, readyMessage: null },
  );
  await stderrHas(client, /relaybox started/);
  assert.ok(swaksAccepted(await swaks({ port: client.port })));
  await stderrHas(client, /^relaybox: warning: tls error: unable to verify the first certificate: TLS handshake with the upstream server failed/m);
  await stderrHas(upstream, /^relaybox: warning: tls error: the client closed the connection during the TLS handshake: TLS handshake with a client failed: /m);
  assert.doesNotMatch(upstream.stderr, /tls protocol established/);
});
