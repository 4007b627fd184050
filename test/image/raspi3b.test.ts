// make image-test-raspi3b: the same image booted the way a Raspberry Pi 3 boots it, as far as qemu goes:
// qemu-system-aarch64 -M raspi3b with the kernel, initramfs and bcm2837-rpi-3-b.dtb from the card's
// FAT partition and the kernel command line from its cmdline.txt as raspi-firmware wrote it; the card as
// qemu's SD device (padded to a power of two, as qemu requires); the console on the mini UART (ttyS1).
// Test-only additions to the command line, none of which the image carries:
//   modprobe.blacklist=bcm2835_wdt  qemu's BCM2835 watchdog model resets the machine as soon as systemd
//                                   arms it (no countdown is emulated); a real Pi's watchdog counts down.
//   EMULATION_CMDLINE (vm.ts)       longer device and start timeouts, relaybox.clock=trusted (no NTP
//                                   server is reachable), relaybox.boot-report (systemd-analyze).
// qemu has no model of the Pi 3's LAN9514 Ethernet: a usb-net device stands in. Its MAC is a globally
// administered one (the Raspberry Pi OUI b8:27:eb): with qemu's default locally administered MAC the
// kernel names a CDC Ethernet device usb0, not eth0 (cmdline.txt has net.ifnames=0), and the box's
// network file (eth* en*) does not take it, which is why earlier tries got no DHCP lease. The address is
// fixed in network.conf all the same, one uncertainty fewer. Run by make image-test after the -M virt
// test (and alone by make image-test-raspi3b): the first boot took 257 s to the banner on a busy
// 2-core machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanups } from '../lib/cleanup';
import {
  Card,
  EMULATION_CMDLINE,
  IMAGE,
  OUT,
  USER,
  bootReport,
  freePort,
  guestfwdToSink,
  progress,
  sinkOn,
  subjectOf,
  swaks,
  waitExit,
  waitForBanner,
} from './vm';

const DISK = path.join(OUT, 'test-raspi3b.img');
const BOUND_MS = Number(process.env.RASPI_BOUND_S ?? 2400) * 1000;
const TEST_ONLY_CMDLINE = `modprobe.blacklist=bcm2835_wdt ${EMULATION_CMDLINE}`;

test(
  '-M raspi3b: the card boots from the SD card with its own cmdline.txt and device tree, answers SMTP and relays a message',
  { timeout: BOUND_MS + 900_000 },
  async (t) => {
    const defer = cleanups(t);
    assert.ok(fs.existsSync(IMAGE), `${IMAGE} is missing: run make image`);
    execFileSync('cp', ['--sparse=always', IMAGE, DISK]);
    defer(() => fs.rmSync(DISK, { force: true }));
    let size = 1;
    while (size < fs.statSync(DISK).size + (512 << 20)) size *= 2; // room for the data partition; a power of two for qemu
    execFileSync('truncate', ['-s', String(size), DISK]);

    const card = new Card(DISK);
    const sink = await sinkOn();
    defer(() => sink.close());
    card.configureForSink();
    card.write(
      'network.conf',
      card
        .read('network.conf')
        .replace(/^address = dhcp\r$/m, 'address = 10.0.2.15/24\r')
        .replace(/^#gateway = .*$/m, 'gateway = 10.0.2.2\r'),
    );
    const cmdline = card.read('cmdline.txt').trim();
    assert.match(cmdline, /console=ttyS1,115200/, 'raspi-firmware put the Pi 3/4 serial console on the command line');
    assert.match(card.read('config.txt'), /^enable_uart=1\r?$/m, 'config.txt turns the UART on');
    const { kernel, initrd } = card.kernelAndInitrd('raspi3b');
    const dtb = card.copyOut('bcm2837-rpi-3-b.dtb', path.join(OUT, 'raspi3b.dtb'));

    const port = await freePort();
    const serial = path.join(OUT, 'console-raspi3b.log');
    fs.rmSync(serial, { force: true });
    const args = [
      '-n',
      '19',
      'ionice',
      '-c3',
      'qemu-system-aarch64',
      '-M',
      'raspi3b',
      '-m',
      '1G',
      '-no-reboot',
      '-display',
      'none',
      '-serial',
      `file:${path.join(OUT, 'console-raspi3b-ttyAMA0.log')}`,
      '-serial',
      `file:${serial}`,
      '-kernel',
      kernel,
      '-initrd',
      initrd,
      '-dtb',
      dtb,
      '-append',
      `${cmdline} ${TEST_ONLY_CMDLINE}`,
      '-drive',
      `if=sd,file=${DISK},format=raw`,
      '-netdev',
      `user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:${port}-10.0.2.15:25,${guestfwdToSink(sink.port)}`,
      '-device',
      'usb-net,netdev=n0,mac=b8:27:eb:00:00:01',
    ];
    const started = Date.now();
    const qemu = spawn('nice', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    qemu.stderr!.on('data', (d) => {
      stderr += d;
    });
    defer(async () => {
      qemu.kill('SIGKILL');
      await waitExit({ qemu }, 10_000);
    });
    progress(`raspi3b: qemu started; console on image/out/console-raspi3b.log; command line: ${cmdline} ${TEST_ONLY_CMDLINE}`);

    const b = await waitForBanner(port, started, qemu, BOUND_MS).catch((e: Error) => {
      throw new Error(`${e.message}; qemu: ${stderr.trim()}; console: image/out/console-raspi3b.log`);
    });
    const results = [`raspi3b: SMTP banner ${(b.ms / 1000).toFixed(0)} s after qemu started: ${b.banner}`];
    progress(results[0]);
    assert.match(swaks(port, 'through the emulated Pi 3'), /<- {2}250 /);
    await sink.waitFor(1, 900_000);
    assert.equal(subjectOf(sink.messages[0]), 'through the emulated Pi 3');
    assert.equal(sink.messages[0].user, USER);
    results.push(`raspi3b: relayed one message ${((Date.now() - started) / 1000).toFixed(0)} s after qemu started`);
    results.push(`raspi3b: the guest's boot report\n${await bootReport(serial, 'raspi3b')}`);
    fs.writeFileSync(path.join(OUT, 'image-test-raspi3b-results.txt'), results.join('\n') + '\n');
    process.stdout.write(results.join('\n') + '\n');
  },
);
