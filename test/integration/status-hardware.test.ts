// The hardware panel against this machine's real values: on the status page of a running relay (read
// by a short-lived `relaybox hardware --json` process, never inside the relay), from `relaybox
// hardware`, and in STATUS.txt from `relaybox-appliance status`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUNDLE, rssMb, scratchDir, statusRelay } from '../lib/relay';
import { runTool } from '../lib/smtp-client';
import { cleanup, waitUntil } from './forward-util';

const APPLIANCE = path.resolve(__dirname, '../../dist/relaybox-appliance.js');

async function get(port: number, p: string): Promise<string> {
  const r = await runTool('curl', ['-sS', '--max-time', '60', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${p}`], { ms: 65000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n200$/, r.stdout.slice(-300));
  return r.stdout;
}

async function hardwareReads(port: number): Promise<number> {
  const m = /^relaybox_hardware_reads_total (\d+)$/m.exec(await get(port, '/metrics'));
  assert.ok(m, 'relaybox_hardware_reads_total is in /metrics');
  return Number(m[1]);
}

/** The panel's rows: <dt>label</dt><dd>value</dd> inside <section id="hardware">. */
function panel(html: string): Map<string, string> {
  const section = /<section id="hardware">([\s\S]*?)<\/section>/.exec(html);
  assert.ok(section, 'the page has a hardware section');
  assert.doesNotMatch(section[1]!, /Could not be read/);
  return new Map([...section[1]!.matchAll(/<dt>([^<]*)<\/dt><dd[^>]*>([^<]*)<\/dd>/g)].map((m) => [m[1]!, m[2]!]));
}

/** "77.8 GiB" -> bytes. */
function size(text: string): number {
  const m = /([\d.]+) (B|KiB|MiB|GiB|TiB)/.exec(text);
  assert.ok(m, `a size in ${JSON.stringify(text)}`);
  return Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(m[2]!);
}

test('status page: the hardware panel shows this machine (lo 127.0.0.1, disk sizes, uptime); systeminformation never runs in the relay', async (t) => {
  const defer = cleanup(t);
  const { relay, http } = await statusRelay(defer, []);
  assert.equal(await hardwareReads(http), 0, 'nothing read before the first page');
  const idle = rssMb(relay.proc.pid!)!;

  let rows = panel(await get(http, '/'));
  assert.equal(await hardwareReads(http), 1, 'the first page read started one reader process');
  // A read that takes over 3 s (a loaded machine) shows "Being read" first: reload until it is there.
  await waitUntil(async () => (rows = panel(await get(http, '/'))).size > 0, 'the hardware panel read', 60000);
  assert.equal(await hardwareReads(http), 1, 'the reloads waited for the same reader process');
  assert.match(rows.get('Network lo') ?? '', /(^|, )127\.0\.0\.1(,|$)/, [...rows].join('\n'));
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs ?? []) assert.ok(rows.get(`Network ${name}`)?.includes(a.address), `${name} ${a.address} on the page`);
  }
  const storage = rows.get('Mail storage free');
  assert.ok(storage, [...rows].join('\n'));
  const [free, total] = storage.split(' of ');
  assert.ok(size(total!) > 0 && size(free!) <= size(total!), storage);
  assert.match(rows.get('Up') ?? '', /^\d+ (s|min|h|d)/);
  assert.notEqual(rows.get('Up'), '0 s');
  assert.ok(os.uptime() > 0);
  assert.ok(rows.get('Board'), 'a board row');

  // A refresh storm within the cache time starts no further process.
  await Promise.all([get(http, '/'), get(http, '/'), get(http, '/')]);
  assert.equal(await hardwareReads(http), 1);
  const m = /^relaybox_hardware_library_loaded (\d)$/m.exec(await get(http, '/metrics'));
  assert.equal(m?.[1], '0', 'systeminformation was not loaded into the relay');
  const after = rssMb(relay.proc.pid!)!;
  t.diagnostic(`relay RSS: ${idle.toFixed(1)} MB idle, ${after.toFixed(1)} MB after four page reads`);
  assert.ok(after - idle < 10, `RSS grew by ${(after - idle).toFixed(1)} MB`);
});

test("relaybox hardware: the panel as text and as JSON, with this machine's values", async () => {
  const text = await runTool(process.execPath, [BUNDLE, 'hardware', os.tmpdir()], { ms: 60000 });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Network lo: (.*, )?127\.0\.0\.1(,|$| )/m);
  assert.match(text.stdout, /^Up: \d+/m);
  const json = await runTool(process.execPath, [BUNDLE, 'hardware', '--json', os.tmpdir()], { ms: 60000 });
  assert.equal(json.code, 0, json.stderr);
  const h = JSON.parse(json.stdout);
  assert.ok(h.disks.length >= 1 && h.disks.every((d: { sizeBytes: number }) => d.sizeBytes > 0), json.stdout);
  assert.ok(h.uptimeSeconds > 0);
  const bad = await runTool(process.execPath, [BUNDLE, 'hardware', '--bogus'], { ms: 30000 });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /usage: relaybox hardware/);
});

test('STATUS.txt gets a hardware section from relaybox-appliance status, without the uptime', async (t) => {
  const defer = cleanup(t);
  const boot = scratchDir(defer);
  const data = scratchDir(defer);
  const run = scratchDir(defer);
  const r = await runTool(process.execPath, [APPLIANCE, 'status', `--boot=${boot}`, `--data=${data}`, `--run=${run}`], { ms: 60000 });
  assert.equal(r.code, 0, r.stderr);
  const status = readFileSync(path.join(boot, 'STATUS.txt'), 'utf8');
  assert.match(status, /^== Hardware: OK\r$/m, status);
  assert.match(status, /^ {2}Network lo: (.*, )?127\.0\.0\.1(,|\r$| )/m, status);
  assert.match(status, /^ {2}Board: /m);
  assert.doesNotMatch(status, /^ {2}Up: /m);
});
