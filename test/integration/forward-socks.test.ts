// Forwarding through a SOCKS proxy: SOCKS5 through the real microsocks (Debian package) and SOCKS4a
// (E-MailRelay's host:port@socks-host:port) through a small SOCKS4a server here (no Debian package
// provides one), each with STARTTLS and with implicit TLS through the hop. The target name is sent
// to the proxy as a name (SOCKS5 DOMAINNAME, SOCKS4a 0.0.0.x + name) and resolved there: a .onion
// name that nothing here could resolve reaches the upstream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { testPki } from '../lib/certs';
import { freePort } from '../lib/relay';
import { startSocksProxy, type SocksDelivery } from '../lib/socks-proxy';
import { connectViaSocks } from '../../src/net/socks';
import { cleanup, deferredMessage, makeMessage, relayFor, sendAll, sinkFor, waitUntil } from './forward-util';
import type { Defer } from './oauth-util';

const ONION = 'relayboxtestxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion';

async function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function microsocksFor(defer: Defer, auth?: { user: string; password: string }): Promise<number> {
  const port = await freePort();
  const proc = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(port), ...(auth ? ['-u', auth.user, '-P', auth.password] : [])], { stdio: 'ignore' });
  const exited = new Promise((r) => proc.once('exit', r));
  defer(async () => {
    proc.kill('SIGTERM');
    await exited;
  });
  await waitUntil(() => canConnect(port), 'microsocks to listen', 10000);
  return port;
}

function listen(server: net.Server, host = '127.0.0.1', port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((r) => server.close(() => r()));
}

/** A TCP pass-through to `port` that keeps the first bytes the client sent (the SOCKS request). */
async function tapFor(defer: Defer, port: number): Promise<{ port: number; sent: { bytes: Buffer }[] }> {
  const sent: { bytes: Buffer }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    const first = { bytes: Buffer.alloc(0) };
    sent.push(first);
    client.on('data', (c: Buffer) => {
      if (first.bytes.length < 512) first.bytes = Buffer.concat([first.bytes, c]);
    });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  const tapPort = await listen(server);
  defer(() => closeServer(server, sockets));
  return { port: tapPort, sent };
}

/** microsocks resolves "localhost" with the system resolver; where that gives ::1, forward it too. */
async function ipv6Alias(defer: Defer, port: number): Promise<void> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = net.connect(port, '127.0.0.1');
    sockets.add(c).add(u);
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  try {
    await listen(server, '::1', port);
    defer(() => closeServer(server, sockets));
  } catch {
    // no IPv6 loopback here: nothing to alias
  }
}

/** The SOCKS5 CONNECT request in the bytes a client sent: address type and destination. */
function socks5Destination(bytes: Buffer): { atyp: number; host: string; port: number } {
  const req = bytes.subarray(2 + bytes[1]!); // after the greeting (version, n methods, methods)
  assert.equal(req[0], 5);
  assert.equal(req[1], 1, 'CONNECT');
  const atyp = req[3]!;
  if (atyp !== 3) return { atyp, host: '', port: 0 };
  const len = req[4]!;
  return { atyp, host: req.subarray(5, 5 + len).toString('latin1'), port: req.readUInt16BE(5 + len) };
}

interface Socks4aRequest {
  ip: string;
  host: string;
  port: number;
  userId: string;
}

/** A SOCKS4a server that resolves names from a table of its own (as Tor would a .onion). */
async function socks4aFor(defer: Defer, names: Map<string, number>): Promise<{ port: number; requests: Socks4aRequest[] }> {
  const requests: Socks4aRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length < 9) return;
      const userEnd = buf.indexOf(0, 8);
      if (userEnd < 0) return;
      const ip = [...buf.subarray(4, 8)].join('.');
      const socks4a = buf[4] === 0 && buf[5] === 0 && buf[6] === 0 && buf[7] !== 0;
      let host = ip;
      let rest = userEnd + 1;
      if (socks4a) {
        const hostEnd = buf.indexOf(0, userEnd + 1);
        if (hostEnd < 0) return;
        host = buf.subarray(userEnd + 1, hostEnd).toString('latin1');
        rest = hostEnd + 1;
      }
      client.removeListener('data', onData);
      const req = { ip, host, port: buf.readUInt16BE(2), userId: buf.subarray(8, userEnd).toString('latin1') };
      requests.push(req);
      const target = buf[0] === 4 && buf[1] === 1 ? names.get(`${req.host}:${req.port}`) : undefined;
      if (target === undefined) {
        client.end(Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0]));
        return;
      }
      const upstream = net.connect(target, '127.0.0.1', () => {
        client.write(Buffer.from([0, 0x5a, 0, 0, 0, 0, 0, 0]));
        if (buf.length > rest) upstream.write(buf.subarray(rest));
        client.pipe(upstream).pipe(client);
      });
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
    };
    client.on('data', onData);
  });
  const port = await listen(server);
  defer(() => closeServer(server, sockets));
  return { port, requests };
}

for (const mode of ['starttls', 'implicit'] as const) {
  const tlsArgs = mode === 'starttls' ? ['--client-tls', '--client-tls-required'] : ['--client-tls-connection'];

  test(`SOCKS5 through microsocks, ${mode === 'starttls' ? 'STARTTLS' : 'implicit TLS'} through the hop, the name resolved by the proxy`, async (t) => {
    const defer = cleanup(t);
    const pki = testPki();
    const sink = await sinkFor(defer, { tls: { key: pki.serverKey, cert: pki.serverCert, implicit: mode === 'implicit' } });
    await ipv6Alias(defer, sink.port);
    const socksPort = await microsocksFor(defer);
    const tap = await tapFor(defer, socksPort);
    const relay = await relayFor(defer, [
      '--forward-to',
      `localhost:${sink.port}@socks5://127.0.0.1:${tap.port}`,
      '--forward-on-disconnect',
      ...tlsArgs,
      '--client-tls-verify',
      pki.caFile,
      '--verbose',
    ]);
    await sendAll(relay.port, [makeMessage(`socks5-${mode}`)]);
    await sink.waitFor(1);
    assert.equal(sink.messages[0]!.secure, true, 'TLS from the relay to the upstream, through the proxy');
    const connected = await relay.waitForLog('connected to the upstream server');
    assert.match(String(connected.tls), /^TLSv1\.[23]$/);
    // The relay asked the proxy for the name (ATYP 3, DOMAINNAME), not for an address it resolved.
    assert.equal(tap.sent.length, 1);
    assert.deepEqual(socks5Destination(tap.sent[0]!.bytes), { atyp: 3, host: 'localhost', port: sink.port });
  });

  test(`SOCKS4a (E-MailRelay's host:port@socks-host:port) to a .onion name, ${mode === 'starttls' ? 'STARTTLS' : 'implicit TLS'} through the hop`, async (t) => {
    const defer = cleanup(t);
    const pki = testPki();
    const sink = await sinkFor(defer, { tls: { key: pki.serverKey, cert: pki.serverCert, implicit: mode === 'implicit' } });
    const proxy = await socks4aFor(defer, new Map([[`${ONION}:25`, sink.port]]));
    const relay = await relayFor(defer, ['--forward-to', `${ONION}:25@127.0.0.1:${proxy.port}`, '--forward-on-disconnect', ...tlsArgs, '--verbose']);
    await sendAll(relay.port, [makeMessage(`socks4a-${mode}`)]);
    await sink.waitFor(1);
    assert.equal(sink.messages[0]!.secure, true);
    assert.deepEqual(proxy.requests[0], { ip: '0.0.0.1', host: ONION, port: 25, userId: '' });
  });
}

test('SOCKS5 with a user name and password (RFC 1929, as Tor uses for stream isolation); a wrong password waits for a retry', async (t) => {
  const defer = cleanup(t);
  const sink = await sinkFor(defer);
  await ipv6Alias(defer, sink.port);
  const socksPort = await microsocksFor(defer, { user: 'relay', password: 'pr0xy-pw' });
  const good = await relayFor(defer, [
    '--forward-to',
    `localhost:${sink.port}@socks5://relay:pr0xy-pw@127.0.0.1:${socksPort}`,
    '--forward-on-disconnect',
    '--verbose',
  ]);
  await sendAll(good.port, [makeMessage('socks5-auth')]);
  await sink.waitFor(1);
  const upstream = await good.waitForLog('forwarding to the upstream server');
  assert.equal(upstream.upstream, `localhost:${sink.port}@socks5://relay:****@127.0.0.1:${socksPort}`);
  assert.ok(!(JSON.stringify(good.logs) + good.stderr).includes('pr0xy-pw'), 'the proxy password is not logged');

  const bad = await relayFor(defer, [
    '--forward-to',
    `localhost:${sink.port}@socks5://relay:wrong-pw@127.0.0.1:${socksPort}`,
    '--forward-on-disconnect',
    '--verbose',
  ]);
  await sendAll(bad.port, [makeMessage('socks5-bad-auth')]);
  const d = await deferredMessage(bad.spool);
  assert.match(d.reasons[0]!.reason, /through the SOCKS5 proxy 127\.0\.0\.1:\d+: .*Authentication failed/i);
  assert.ok(!(JSON.stringify(bad.logs) + bad.stderr).includes('wrong-pw'));
  assert.equal(sink.messages.length, 1);
});

test('a SOCKS proxy that refuses the connection: the message waits for a retry with the reason', async (t) => {
  const defer = cleanup(t);
  const proxy = await socks4aFor(defer, new Map());
  const relay = await relayFor(defer, ['--forward-to', `${ONION}:25@127.0.0.1:${proxy.port}`, '--forward-on-disconnect', '--verbose']);
  await sendAll(relay.port, [makeMessage('socks-refused')]);
  const d = await deferredMessage(relay.spool);
  assert.match(d.reasons[0]!.reason, new RegExp(`cannot connect to ${ONION.replace(/\./g, '\\.')}:25 through the SOCKS4a proxy 127\\.0\\.0\\.1:${proxy.port}`));
  assert.equal(proxy.requests[0]!.host, ONION);
});

// The proxy's reply and the server's 220 greeting in one read: the greeting belongs to the SMTP session
// and must not be lost with the handshake's buffer ("Greeting never received").
for (const version of [4, 5] as const) {
  for (const delivery of ['together', 'bytewise'] as SocksDelivery[]) {
    const name = version === 4 ? 'SOCKS4a' : 'SOCKS5';
    const how = delivery === 'together' ? "the proxy's reply and the server's greeting in one write" : "the proxy's reply one byte at a time";
    test(`${name}: ${how}`, async (t) => {
      const defer = cleanup(t);
      const sink = await sinkFor(defer);
      const proxy = await startSocksProxy({ names: new Map([[`${ONION}:25`, sink.port]]), delivery });
      defer(() => proxy.close());
      const scheme = version === 4 ? 'socks4a' : 'socks5';
      const relay = await relayFor(defer, [
        '--forward-to',
        `${ONION}:25@${scheme}://127.0.0.1:${proxy.port}`,
        '--forward-on-disconnect',
        '--prompt-timeout',
        '4',
        '--verbose',
      ]);
      await sendAll(relay.port, [makeMessage(`socks${version}-${delivery}`)]);
      await Promise.race([
        sink.waitFor(1, 20000),
        deferredMessage(relay.spool, 20000).then((d) => assert.fail(`deferred: ${d.reasons.map((r) => r.reason).join('; ')}`)),
      ]);
      assert.equal(sink.messages.length, 1);
      assert.deepEqual(
        proxy.requests.map((r) => [r.version, r.host, r.port]),
        [[version, ONION, 25]],
      );
      if (version === 5) assert.equal(proxy.requests[0]!.atyp, 3, 'the name goes to the proxy (DOMAINNAME)');
      if (delivery === 'together') assert.equal(proxy.combinedWrites, 1);
    });
  }
}

test('connectViaSocks hands over the bytes that came with the reply, for whoever reads the socket later', async (t) => {
  const defer = cleanup(t);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    sockets.add(c);
    c.on('error', () => undefined);
    c.write('220 greeting in the same segment\r\n');
  });
  const targetPort = await listen(server);
  defer(() => closeServer(server, sockets));
  for (const version of [4, 5] as const) {
    const proxy = await startSocksProxy({
      names: new Map([[`far.example:25`, targetPort]]),
      delivery: 'together',
      auth: version === 5 ? { user: 'u', password: 'p w' } : undefined,
    });
    defer(() => proxy.close());
    // --client-interface: the connection to the proxy leaves from the given local address.
    const socket = await connectViaSocks(
      { host: '127.0.0.1', port: proxy.port, version, ...(version === 5 ? { auth: { user: 'u', password: 'p w' } } : {}) },
      'far.example',
      25,
      5000,
      '127.0.0.2',
    );
    defer(() => socket.destroy());
    // A consumer that attaches its reader only a few turns of the event loop later (as nodemailer does).
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    let timer: NodeJS.Timeout | undefined;
    const first = await Promise.race([
      new Promise<Buffer>((resolve) => {
        socket.once('data', resolve);
        socket.resume(); // handed over paused, like a socket nodemailer is given (it resumes it)
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the greeting that came with the reply was lost')), 3000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(first.toString(), '220 greeting in the same segment\r\n');
    assert.equal(proxy.combinedWrites, 1);
    assert.equal(proxy.requests[0]!.user, version === 5 ? 'u' : '');
    assert.equal(proxy.requests[0]!.from, '127.0.0.2');
  }
});

test('connectViaSocks: clear errors for a wrong SOCKS5 password, a refused destination and a silent proxy', async (t) => {
  const defer = cleanup(t);
  const proxy = await startSocksProxy({ names: new Map(), delivery: 'plain', auth: { user: 'u', password: 'right' } });
  defer(() => proxy.close());
  await assert.rejects(
    connectViaSocks({ host: '127.0.0.1', port: proxy.port, version: 5, auth: { user: 'u', password: 'wrong' } }, 'x.example', 25, 5000),
    /Authentication failed: the proxy refused the user name and password/,
  );
  await assert.rejects(
    connectViaSocks({ host: '127.0.0.1', port: proxy.port, version: 5 }, 'x.example', 25, 5000),
    /proxy accepts none of the offered authentication methods/,
  );
  await assert.rejects(
    connectViaSocks({ host: '127.0.0.1', port: proxy.port, version: 5, auth: { user: 'u', password: 'right' } }, 'x.example', 25, 5000),
    /host unreachable/,
  );
  await assert.rejects(
    connectViaSocks({ host: '127.0.0.1', port: proxy.port, version: 4 }, 'x.example', 25, 5000),
    /the proxy refused or could not make the connection/,
  );
  // A proxy that accepts the connection and never answers: the time limit, named.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((c) => {
    sockets.add(c);
    c.on('error', () => undefined);
  });
  const silentPort = await listen(silent);
  defer(() => closeServer(silent, sockets));
  await assert.rejects(
    connectViaSocks({ host: '127.0.0.1', port: silentPort, version: 5 }, 'x.example', 25, 1000),
    /the proxy did not complete the connection within 1 s/,
  );
});
