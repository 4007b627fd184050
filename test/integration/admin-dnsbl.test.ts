// Admin "dnsbl stop" and "dnsbl start" with a real DNSBL server: a listed public client (from a
// private network namespace, test/lib/netns.ts) is refused, served while checks are suspended, and
// refused again once they are resumed. Skipped where namespaces cannot be made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { cleanups } from '../lib/cleanup';
import { freePort, relayFor } from '../lib/relay';
import { swaksAccepted } from '../lib/smtp-client';
import { publicNamespace, spawnIn, PUBLIC, type Namespace } from '../lib/netns';

/** One admin command from inside the namespace (node:net), returning the reply before the prompt. */
async function adminIn(ns: Namespace, port: number, command: string): Promise<string> {
  const script = `
    const s = require('node:net').connect(${port}, '127.0.0.1');
    let o = '';
    setTimeout(() => { process.stderr.write('no prompt: ' + JSON.stringify(o)); process.exit(3); }, 10000);
    s.setEncoding('utf8');
    s.on('data', (d) => { o += d; if (o.includes('E-MailRelay> ')) { process.stdout.write(o.split('E-MailRelay> ')[0]); s.destroy(); process.exit(0); } });
    s.write(${JSON.stringify(command + '\r\n')});`;
  const r = await ns.run(process.execPath, ['-e', script], { ms: 15000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function swaksFrom(ns: Namespace, port: number) {
  return ns.run('swaks', [
    '--server',
    `${PUBLIC}:${port}`,
    '--from',
    'public@example.test',
    '--to',
    'someone@example.net',
    '--helo',
    'public.client.test',
    '--timeout',
    '15',
  ]);
}

test('admin dnsbl stop suspends DNSBL checks, dnsbl start resumes them', async (t) => {
  const defer = cleanups(t);
  const ns = await publicNamespace(defer);
  if (!ns) return t.skip('cannot create a network namespace here (needs root and ip netns)');
  const dns = await spawnIn(
    ns,
    defer,
    [process.execPath, '--import', 'tsx', path.join(__dirname, '../lib/dnsbl-server.ts'), '1.100.51.198.bl.test'],
    /listening (\d+)/,
  );
  const adminPort = await freePort();
  const r = await relayFor(
    defer,
    ['--interface', PUBLIC, '--remote-clients', '--dnsbl', `bl.test,1,3000,127.0.0.1:${dns.match[1]}`, '--admin', String(adminPort)],
    { wrapper: ns.wrapper },
  );

  const refused = await swaksFrom(ns, r.port);
  assert.match(refused.stdout, /^<\*\*\s+554 access denied/m, refused.stdout);
  assert.match(await adminIn(ns, adminPort, 'help'), /\bdnsbl\b/);
  assert.equal(await adminIn(ns, adminPort, 'dnsbl stop'), 'OK');
  await r.waitForLog('dnsbl checks suspended by the admin interface');
  const served = await swaksFrom(ns, r.port);
  assert.ok(swaksAccepted(served), served.stdout);
  assert.equal(await adminIn(ns, adminPort, 'dnsbl start'), 'OK');
  const again = await swaksFrom(ns, r.port);
  assert.match(again.stdout, /^<\*\*\s+554 access denied/m, again.stdout);
  assert.equal(await adminIn(ns, adminPort, 'dnsbl stop 3600'), 'OK');
  const line = await r.waitForLog((l) => l.msg === 'dnsbl checks suspended by the admin interface' && l.seconds === 3600);
  assert.ok(line);
  assert.ok(swaksAccepted(await swaksFrom(ns, r.port)));
});
