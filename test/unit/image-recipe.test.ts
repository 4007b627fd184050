// Quick checks of the appliance recipe and the .deb for `make test` (the image itself is built and
// booted by `make image` / `make image-test`, which take too long for CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const TOP = path.join(__dirname, '..', '..');
const read = (rel: string) => fs.readFileSync(path.join(TOP, rel), 'utf8');

test('the image and packaging scripts are valid bash/sh', () => {
  for (const f of [
    'image/rootfs.sh',
    'image/rootfs-customize.sh',
    'image/assemble.sh',
    'image/pam-addon.sh',
    'packaging/build-deb',
    'packaging/test-deb',
    'scripts/install-image-deps',
    'scripts/debian-mirror',
  ]) {
    execFileSync('bash', ['-n', path.join(TOP, f)]);
  }
  for (const f of [
    'image/overlay/usr/lib/relaybox/firstboot.sh',
    'image/overlay/usr/lib/relaybox/boot-report.sh',
    'image/overlay/usr/lib/relaybox/wait-clock.sh',
    'packaging/deb/postinst',
    'packaging/deb/prerm',
    'packaging/deb/postrm',
  ]) {
    execFileSync('sh', ['-n', path.join(TOP, f)]);
  }
});

test('the root file system has what the appliance needs, from Debian only, with no mirror named in the repository', () => {
  const pkgs = read('image/packages.list')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const p of ['raspi-firmware', 'linux-image-arm64', 'nodejs', 'systemd', 'passwd', 'login', 'e2fsprogs', 'fdisk', 'dosfstools']) {
    assert.ok(pkgs.includes(p), `image/packages.list lacks ${p}`);
  }
  for (const f of ['image/rootfs.sh', 'image/assemble.sh', 'packaging/test-deb', 'scripts/debian-mirror']) {
    assert.doesNotMatch(read(f), /https?:\/\/[a-z0-9]/i, `${f} names a host`);
  }
});

test("one disk id everywhere: raspi-firmware's root=, fstab and the MBR written by assemble.sh", () => {
  assert.match(read('image/rootfs-customize.sh'), /ROOTPART=PARTUUID=52656c79-02/);
  assert.match(read('image/assemble.sh'), /label-id: 0x52656c79/);
  const fstab = read('image/overlay/etc/fstab');
  assert.match(fstab, /^PARTUUID=52656c79-02\s+\/\s+ext4\s+ro,/m, 'the root is read-only');
  assert.match(fstab, /^PARTUUID=52656c79-03\s+\/var\/lib\/relaybox\s+ext4\s+\S*nofail/m);
  assert.match(read('image/overlay/etc/systemd/journald.conf.d/volatile.conf'), /^Storage=volatile$/m);
  assert.match(read('image/overlay/etc/systemd/system.conf.d/watchdog.conf'), /^RuntimeWatchdogSec=\d+s$/m);
  assert.match(read('image/overlay/etc/systemd/system/relaybox.service.d/appliance.conf'), /^RequiresMountsFor=\/var\/lib\/relaybox$/m);
});

test('the systemd unit runs the relay unprivileged and sandboxed', () => {
  const unit = read('packaging/relaybox.service');
  for (const line of [
    'User=relaybox',
    'AmbientCapabilities=CAP_NET_BIND_SERVICE',
    'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'PrivateTmp=yes',
    'ReadWritePaths=/var/lib/relaybox',
    'Restart=on-failure',
    'Type=notify',
    'NotifyAccess=all',
    'WatchdogSec=60s',
  ]) {
    assert.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'), `relaybox.service lacks ${line}`);
  }
});

test('make deb builds an arch-all package with the bundle, the unit, the user and the example config', (t) => {
  if (!fs.existsSync(path.join(TOP, 'dist', 'relaybox.js'))) return t.skip('dist/relaybox.js not built (make build)');
  const out = fs.mkdtempSync(path.join(tmpdir(), 'relaybox-deb-'));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const deb = execFileSync(path.join(TOP, 'packaging', 'build-deb'), [out], { encoding: 'utf8' }).trim();
  const version = JSON.parse(read('package.json')).version;
  assert.equal(path.basename(deb), `relaybox_${version}_all.deb`);
  const files = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' });
  for (const f of [
    './usr/lib/relaybox/relaybox.js',
    './usr/lib/systemd/system/relaybox.service',
    './usr/lib/sysusers.d/relaybox.conf',
    './etc/relaybox/relaybox.conf',
  ]) {
    assert.ok(files.includes(f), `the .deb lacks ${f}`);
  }
  assert.equal(execFileSync('dpkg-deb', ['-f', deb, 'Architecture'], { encoding: 'utf8' }).trim(), 'all');
  assert.match(execFileSync('dpkg-deb', ['-f', deb, 'Depends'], { encoding: 'utf8' }), /nodejs \(>= 20\)/);
});
