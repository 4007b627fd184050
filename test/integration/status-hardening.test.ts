// The status page under attack (issue 14, items 1 and 11): a huge POST body, pipelined requests from a
// client that never reads, a foreign Host header (DNS rebinding), and cross-site form posts. The relay
// must stay up with bounded memory, keep serving others, and never reach the password check for a
// form that did not come from its own page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import { once } from 'node:events';
import * as path from 'node:path';
import { removeDir, rssMb, statusRelay, tempDir } from '../lib/relay';
import { runTool } from '../lib/smtp-client';
import { cleanup, filesEnding, makeMessage, sendAll, sinkFor, waitUntil } from './forward-util';

/** What the relay may grow by during an attack. */
const RSS_BOUND_MB = 50;

async function connect(port: number, defer: (fn: () => unknown) => void): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  defer(() => s.destroy());
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/**
 * Sends `head`, then body chunks (`frame` wraps each) until the relay answers or closes, or `cap`
 * bytes are written. Samples the relay's RSS after every chunk.
 */
async function streamBody(
  port: number,
  pid: number,
  defer: (fn: () => unknown) => void,
  head: string,
  frame: (c: Buffer) => Buffer,
  cap: number,
): Promise<{ answer: string; written: number; peakMb: number; gone: boolean }> {
  const s = await connect(port, defer);
  let answer = '';
  let gone = false;
  s.setEncoding('latin1');
  const answered = new Promise<void>((resolve) => {
    s.on('data', (d: string) => ((answer += d), resolve()));
    s.on('close', () => ((gone = true), resolve()));
  });
  s.write(head);
  const chunk = frame(Buffer.alloc(1 << 20, 'a'));
  let written = 0;
  let peakMb = rssMb(pid)!;
  while (written < cap && !answer && !gone) {
    written += chunk.length;
    if (!s.write(chunk)) await Promise.race([once(s, 'drain').catch(() => undefined), answered]);
    peakMb = Math.max(peakMb, rssMb(pid)!);
  }
  if (!gone && !answer && written < cap) await answered;
  return { answer, written, peakMb, gone };
}

test('a 700 MB POST /retry (declared or chunked) is refused before its body is read: the relay stays up, RSS stays bounded', async (t) => {
  const defer = cleanup(t);
  const { relay, http: port } = await statusRelay(defer, [], 'big-body-pw');
  const pid = relay.proc.pid!;
  const before = rssMb(pid)!;
  const cap = 256 * 1048576; // what the client sends at most; the relay must answer long before
  const kinds: [string, string, (c: Buffer) => Buffer][] = [
    [
      'declared',
      `POST /retry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${700 * 1048576}\r\n\r\n`,
      (c) => c,
    ],
    [
      'chunked',
      'POST /retry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n',
      (c) => Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]),
    ],
  ];
  for (const [kind, head, frame] of kinds) {
    const r = await streamBody(port, pid, defer, head, frame, cap);
    t.diagnostic(`${kind}: ${(r.written / 1048576).toFixed(0)} MiB written before the answer; RSS ${before.toFixed(1)} -> peak ${r.peakMb.toFixed(1)} MB`);
    assert.equal(relay.proc.exitCode, null, 'the relay is still running');
    assert.ok(r.peakMb - before < RSS_BOUND_MB, `${kind}: RSS grew by ${(r.peakMb - before).toFixed(1)} MB (bound ${RSS_BOUND_MB} MB)`);
    // 413, or a reset when the relay closed with the client's unread bytes in flight.
    assert.ok(
      /^HTTP\/1\.1 413 /.test(r.answer) || (r.gone && !r.answer),
      `${kind}: answered 413 or closed (got ${JSON.stringify(r.answer.slice(0, 60))} after ${r.written} bytes)`,
    );
    assert.ok(r.written < 64 * 1048576, `${kind}: the relay answered only after ${(r.written / 1048576).toFixed(0)} MiB`);
  }
  await relay.waitForCount((l) => typeof l.msg === 'string' && l.msg.startsWith('status page request refused: body larger than'), 2);

  // curl asks first (Expect: 100-continue) and is told 413 before it sends the body.
  const dir = tempDir();
  defer(() => removeDir(dir));
  const big = path.join(dir, 'big');
  truncateSync((writeFileSync(big, ''), big), 700 * 1048576); // sparse: no disk used
  const curl = await runTool('curl', [
    '-sS',
    '--max-time',
    '20',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{size_upload}',
    '-X',
    'POST',
    '-T',
    big,
    '-H',
    'Content-Type: application/x-www-form-urlencoded',
    `http://127.0.0.1:${port}/retry`,
  ]);
  assert.equal(curl.code, 0, curl.stderr);
  const [code, uploaded] = curl.stdout.split(' ');
  assert.equal(code, '413');
  assert.ok(Number(uploaded) < 1048576, `curl uploaded ${uploaded} bytes before the answer`);
  assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200, 'others are still served');
  assert.ok(rssMb(pid)! - before < RSS_BOUND_MB);
});

test('pipelined requests from a client that never reads: the relay closes the connection, RSS stays bounded', async (t) => {
  const defer = cleanup(t);
  const { relay, http: port } = await statusRelay(defer, []);
  const pid = relay.proc.pid!;
  const before = rssMb(pid)!;
  const s = await connect(port, defer);
  s.pause(); // never read
  const closed = new Promise<'closed'>((r) => s.once('close', () => r('closed')));
  const chunk = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(2000));
  let written = 0;
  let peakMb = before;
  let outcome: 'closed' | 'drain' | 'stalled' = 'drain';
  while (outcome === 'drain' && !s.destroyed && written < 32e6) {
    written += chunk.length;
    if (!s.write(chunk)) {
      let timer: NodeJS.Timeout | undefined;
      // The bound: on the base, a relay that stops reading but keeps the pages it owes never answers.
      const bound = new Promise<'stalled'>((r) => (timer = setTimeout(() => r('stalled'), 10_000)));
      outcome = await Promise.race([
        once(s, 'drain').then(
          () => 'drain' as const,
          () => 'closed' as const,
        ),
        closed,
        bound,
      ]);
      clearTimeout(timer);
    }
    peakMb = Math.max(peakMb, rssMb(pid)!);
  }
  if (outcome === 'drain' && s.destroyed) outcome = 'closed';
  t.diagnostic(`${(written / 1e6).toFixed(1)} MB of requests written; RSS ${before.toFixed(1)} -> peak ${peakMb.toFixed(1)} MB; ${outcome}`);
  assert.equal(relay.proc.exitCode, null, 'the relay is still running');
  assert.ok(peakMb - before < RSS_BOUND_MB, `RSS grew by ${(peakMb - before).toFixed(1)} MB (bound ${RSS_BOUND_MB} MB)`);
  assert.equal(outcome, 'closed', `the relay closed the connection (after ${(written / 1e6).toFixed(1)} MB)`);
  await relay.waitForLog('status page client dropped: it sends requests without reading the answers');
  assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200, 'others are still served');
});

async function curlStatus(url: string, host: string): Promise<number> {
  const r = await runTool('curl', ['-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: ${host}`, url]);
  assert.equal(r.code, 0, r.stderr);
  return Number(r.stdout);
}

test("Host header: only the box's names and addresses are answered, so DNS rebinding cannot read the page", async (t) => {
  const defer = cleanup(t);
  const { relay, http: port } = await statusRelay(defer, ['--domain', 'mail.example.lan', '--status-host-names', 'relaybox.example.lan,Other.Example.LAN.']);
  const url = `http://127.0.0.1:${port}/`;
  for (const host of ['attacker.example', `attacker.example:${port}`, 'relaybox.example.lan.attacker.example', '127.0.0.1.nip.io', 'example.lan']) {
    assert.equal(await curlStatus(url, host), 421, `Host: ${host} is refused`);
  }
  assert.equal(await curlStatus(`http://127.0.0.1:${port}/metrics`, 'attacker.example'), 421, '/metrics too');
  await relay.waitForLog((l) => l.msg.startsWith('status page request refused: the Host header') && l.host === 'attacker.example');
  const short = os.hostname().split('.')[0]!;
  for (const host of [
    `127.0.0.1:${port}`,
    'localhost',
    `LOCALHOST:${port}`,
    os.hostname(),
    `${short}.local`,
    'mail.example.lan',
    'relaybox.example.lan',
    `other.example.lan:${port}`,
  ]) {
    assert.equal(await curlStatus(url, host), 200, `Host: ${host} is answered`);
  }
});

interface Answer {
  status: number;
  location?: string;
}

/** A form POST with node's HTTP client, from `localAddress` (127.0.0.x) and with the headers a browser would send. */
function postForm(port: number, form: Record<string, string>, headers: Record<string, string> = {}, localAddress = '127.0.0.1'): Promise<Answer> {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        localAddress,
        method: 'POST',
        path: '/retry',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test("cross-site forms: no token, a foreign Origin or another client's token is refused before the password; ten such posts do not lock the admin out", async (t) => {
  const defer = cleanup(t);
  let refuse = true;
  const sink = await sinkFor(defer, { rcpt: (a) => (refuse && a === 'bad@example.net' ? { code: 550, text: '5.1.1 no such user' } : undefined) });
  const password = 'csrf-right-pw';
  const { relay, http: port } = await statusRelay(defer, ['--forward-to', `127.0.0.1:${sink.port}`, '--forward-on-disconnect'], password);
  await sendAll(relay.port, [makeMessage('refused', { to: ['bad@example.net'] })]);
  await waitUntil(() => filesEnding(relay.spool, '.bad').length === 1, 'a failed message');
  const id = filesEnding(relay.spool, '.bad')[0]!.replace('.envelope.bad', '');
  const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  const forms = html.match(/<form[^>]*>[\s\S]*?<\/form>/g) ?? [];
  assert.ok(forms.length >= 1);
  for (const f of forms) assert.match(f, /<input type="hidden" name="token" value="[^"]+">/, 'every form carries a token');
  const token = /name="token" value="([^"]+)"/.exec(html)![1]!;

  // What a page on another site can send: the right password even, but no token.
  let r = await postForm(port, { id, password });
  assert.equal(r.status, 403, 'no token');
  r = await postForm(port, { id, password, token: token.replace(/\.(.)/, (_, c: string) => `.${c === 'A' ? 'B' : 'A'}`) });
  assert.equal(r.status, 403, 'a forged token');
  r = await postForm(port, { id, password, token }, {}, '127.0.0.2');
  assert.equal(r.status, 403, 'a token issued to another client address');
  r = await postForm(port, { id, password, token }, { Origin: 'http://attacker.example' });
  assert.equal(r.status, 403, 'a foreign Origin');
  r = await postForm(port, { id, password, token }, { 'Sec-Fetch-Site': 'cross-site' });
  assert.equal(r.status, 403, 'the browser says cross-site');
  assert.equal(filesEnding(relay.spool, '.bad').length, 1, 'nothing retried');

  // Ten wrong passwords from an attacker's page never reach the password check.
  for (let i = 0; i < 12; i++) {
    r = await postForm(port, { id, password: `guess-${i}` }, { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' });
    assert.equal(r.status, 403);
    r = await postForm(port, { id, password: `guess-${i}` }, { Origin: 'null' });
    assert.equal(r.status, 403);
  }
  assert.ok(!relay.logs.some((l) => /wrong admin password|admin password refused/.test(l.msg)), 'the password check was never reached');

  // The real admin, with the page's form (Origin: null is what a no-referrer page sends).
  refuse = false;
  r = await postForm(port, { token, id, password }, { Origin: 'null', 'Sec-Fetch-Site': 'same-origin' });
  assert.equal(r.status, 303);
  assert.equal(r.location, `/?retried=${id}`);
  await sink.waitFor(1);
});
