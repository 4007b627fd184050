// The image answers mDNS for <hostname>.local through avahi (issue 15 item 4): the package, its unit
// enabled, the relay's services announced, and systemd-resolved kept off port 5353. (The image itself
// is booted by `make image-test`.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const TOP = path.join(__dirname, '..', '..');
const read = (rel: string) => fs.readFileSync(path.join(TOP, rel), 'utf8');

test('avahi-daemon is in the image, enabled, announces SMTP and the status page; resolved leaves mDNS to it', () => {
  const pkgs = read('image/packages.list')
    .split('\n')
    .map((l) => l.trim());
  assert.ok(pkgs.includes('avahi-daemon'));
  const wants = 'image/overlay/etc/systemd/system/multi-user.target.wants/avahi-daemon.service';
  assert.equal(fs.readlinkSync(path.join(TOP, wants)), '/usr/lib/systemd/system/avahi-daemon.service');
  const services = read('image/overlay/etc/avahi/services/relaybox.service');
  assert.match(services, /<type>_smtp\._tcp<\/type>\s*<port>25<\/port>/);
  assert.match(services, /<type>_http\._tcp<\/type>\s*<port>80<\/port>/);
  // The announced ports are the card's defaults.
  const conf = read('image/boot/relaybox.conf');
  assert.match(conf, /^port 25\b/m);
  assert.match(conf, /^status-port 80\b/m);
  assert.match(read('image/overlay/etc/systemd/resolved.conf.d/relaybox.conf'), /^MulticastDNS=no$/m);
});
