// The hardware panel's words from fixed data (page, STATUS.txt, `relaybox hardware`), the Pi's
// throttling flags from real files laid out like sysfs, and the disk/mount matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Hardware } from '../../src/health/hardware';
import { mountOf, parentDisk } from '../../src/health/hardware';
import { hardwareRows } from '../../src/health/hardware-rows';
import { decodeGetThrottled, readThrottling } from '../../src/health/throttling';
import { hardwareSection } from '../../src/admin/hardware-section';

const GiB = 1024 ** 3;
const pi: Hardware = {
  board: 'Raspberry Pi 4 Model B Rev 1.4',
  socTemperatureCelsius: 51.04,
  throttling: { source: 'x', underVoltageNow: false, underVoltageSinceBoot: false, throttledNow: false, throttledSinceBoot: false },
  card: { device: '/dev/mmcblk0', sizeBytes: 32 * GiB },
  disks: [
    { role: 'spool', mount: '/var/lib/relaybox', device: '/dev/mmcblk0p3', sizeBytes: 28 * GiB, freeBytes: 27.5 * GiB, readOnly: false },
    { role: 'system', mount: '/', device: '/dev/mmcblk0p2', sizeBytes: 2 * GiB, freeBytes: 0.1 * GiB, readOnly: false },
  ],
  interfaces: [
    { name: 'lo', addresses: ['127.0.0.1', '::1'], state: 'unknown', mac: '00:00:00:00:00:00' },
    { name: 'eth0', addresses: ['192.168.1.20', 'fe80::1'], state: 'up', mac: 'dc:a6:32:00:00:01' },
    { name: 'wlan0', addresses: [], state: 'down', mac: 'dc:a6:32:00:00:02' },
  ],
  uptimeSeconds: 3 * 86400 + 5 * 3600 + 7,
  readAt: 1_000_000,
  readMs: 812,
};

const text = (h: Hardware, steady = false) => hardwareRows(h, { steady }).map((r) => `${r.problem ? '!' : ' '}${r.label}: ${r.value}`);

test('the panel in words: board, temperature, power, card, each file system, each interface, uptime', () => {
  assert.deepEqual(text(pi), [
    ' Board: Raspberry Pi 4 Model B Rev 1.4',
    ' SoC temperature: 51.0 °C',
    ' Power: no under-voltage or throttling',
    ' Card: 32.0 GiB (/dev/mmcblk0)',
    ' Mail storage free: 27.5 GiB of 28.0 GiB (/var/lib/relaybox)',
    '!System free: 102.4 MiB of 2.0 GiB (/): almost full',
    ' Network lo: 127.0.0.1, ::1',
    ' Network eth0: 192.168.1.20, fe80::1 (up)',
    ' Network wlan0: no address (down)',
    ' Up: 3 d 5 h',
  ]);
});

test('STATUS.txt leaves out what changes by the minute, but keeps a hot SoC and power problems', () => {
  const steady = text(pi, true);
  assert.ok(!steady.some((l) => /Up:|SoC temperature/.test(l)), steady.join('\n'));
  const hot = text({ ...pi, socTemperatureCelsius: 83.2, throttling: { ...pi.throttling!, underVoltageSinceBoot: true, throttledSinceBoot: true } }, true);
  assert.ok(hot.includes('!SoC temperature: 83.2 °C (hot: the Pi slows down from 80 °C)'), hot.join('\n'));
  assert.ok(hot.includes("!Power: under-voltage and throttling happened since the last start: check the power supply and the box's airflow"), hot.join('\n'));
});

test('a read-only file system (the appliance\'s root) is never "almost full"', () => {
  const ro = text({ ...pi, disks: pi.disks.map((d) => (d.role === 'system' ? { ...d, readOnly: true } : d)) });
  assert.ok(ro.includes(' System free: 102.4 MiB of 2.0 GiB (/, read-only)'), ro.join('\n'));
});

test('a PC or VM without sensors: no temperature or power row, an unknown board says so', () => {
  const rows = text({ ...pi, board: null, socTemperatureCelsius: null, throttling: null, card: null });
  assert.equal(rows[0], ' Board: unknown');
  assert.ok(!rows.some((l) => /SoC|Power|Card/.test(l)), rows.join('\n'));
});

test('the page section escapes what it shows and says how old the read is', () => {
  const html = hardwareSection({ ...pi, board: '<b>Pi</b>' }, pi.readAt + 12_000);
  assert.ok(html.includes('&lt;b&gt;Pi&lt;/b&gt;'));
  assert.doesNotMatch(html, /<b>/);
  assert.match(html, /Read 12 s ago \(the read took 812 ms\)/);
  assert.match(html, /<dd class="reason">102\.4 MiB of 2\.0 GiB/);
  assert.match(hardwareSection(null, 0), /Could not be read this time/);
  assert.match(hardwareSection('reading', 0), /Being read .*: reload the page/);
});

test('get_throttled: the bits of `vcgencmd get_throttled`', () => {
  assert.deepEqual(decodeGetThrottled('0\n'), {
    source: '/sys/devices/platform/soc/soc:firmware/get_throttled',
    underVoltageNow: false,
    throttledNow: false,
    underVoltageSinceBoot: false,
    throttledSinceBoot: false,
  });
  const t = decodeGetThrottled('50005');
  assert.equal(t?.underVoltageNow, true);
  assert.equal(t?.throttledNow, true);
  assert.equal(t?.underVoltageSinceBoot, true);
  assert.equal(t?.throttledSinceBoot, true);
  assert.deepEqual(decodeGetThrottled('0x80000'), { ...decodeGetThrottled('0')!, throttledSinceBoot: true });
  assert.equal(decodeGetThrottled('garbage'), null);
});

test('throttling read from files laid out like sysfs: get_throttled first, else the rpi_volt hwmon, else none', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'relaybox-sysfs-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const hwmon = path.join(root, 'hwmon');
  const getThrottled = path.join(root, 'get_throttled');
  mkdirSync(path.join(hwmon, 'hwmon0'), { recursive: true });
  writeFileSync(path.join(hwmon, 'hwmon0', 'name'), 'cpu_thermal\n');
  assert.equal(await readThrottling({ getThrottled, hwmon }), null, 'not a Pi');
  mkdirSync(path.join(hwmon, 'hwmon1'));
  writeFileSync(path.join(hwmon, 'hwmon1', 'name'), 'rpi_volt\n');
  writeFileSync(path.join(hwmon, 'hwmon1', 'in0_lcrit_alarm'), '1\n');
  assert.deepEqual(await readThrottling({ getThrottled, hwmon }), {
    source: path.join(hwmon, 'hwmon1', 'in0_lcrit_alarm'),
    underVoltageNow: true,
    underVoltageSinceBoot: null,
    throttledNow: null,
    throttledSinceBoot: null,
  });
  writeFileSync(getThrottled, '0x20000\n');
  const fw = await readThrottling({ getThrottled, hwmon });
  assert.equal(fw?.source, getThrottled);
  assert.equal(fw?.throttledSinceBoot, true);
  assert.equal(fw?.underVoltageNow, false);
});

test('the card is the disk of the root partition; a directory belongs to its longest mount', () => {
  assert.equal(parentDisk('mmcblk0p2'), 'mmcblk0');
  assert.equal(parentDisk('nvme0n1p1'), 'nvme0n1');
  assert.equal(parentDisk('sda2'), 'sda');
  assert.equal(parentDisk('vda'), 'vda');
  const mounts = [{ mount: '/' }, { mount: '/var/lib/relaybox' }, { mount: '/var/lib/relaybox-old' }, { mount: '/boot/firmware' }];
  assert.equal(mountOf(mounts, '/var/lib/relaybox/spool')?.mount, '/var/lib/relaybox');
  assert.equal(mountOf(mounts, '/var/lib/relaybox')?.mount, '/var/lib/relaybox');
  assert.equal(mountOf(mounts, '/var/lib/relayboxes')?.mount, '/');
  assert.equal(mountOf(mounts, '/tmp/x')?.mount, '/');
});
