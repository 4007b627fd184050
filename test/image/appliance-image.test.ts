// make image-test: boots the appliance image under qemu-system-aarch64 (-M virt, the image's own
// kernel and initramfs, user networking with restrict=on: the guest reaches nothing but the SMTP
// sink through one guestfwd, and the host reaches the guest's port 25 through a loopback hostfwd).
// Not part of `make test`: it needs the image (make image) and 10-30 minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { type Sink } from '../lib/sink';
import { cleanups } from '../lib/cleanup';
import { Card, EMULATION_CMDLINE, IMAGE, OUT, PASSWORD, USER, bootReport, freePort, guestfwdToSink, progress, sinkOn, subjectOf, swaks, swaksRefused, waitExit, waitForBanner } from './vm';

const DISK = path.join(OUT, 'test.img');
const card = new Card(DISK);
const mtype = (f: string) => card.read(f);
const mwrite = (f: string, text: string) => card.write(f, text);
// A device's account on the box, made from users.txt on the card and checked through PAM.
const BOX_USER = 'scanner';
const BOX_PASSWORD = 'Scan to mail 2026';
const boxLogin = (password: string) => ['--auth', 'PLAIN', '--auth-user', BOX_USER, '--auth-password', password];
const results: string[] = [];

interface Vm { qemu: ChildProcess; port: number; monitor: string }

async function boot(n: number, sinkPort: number, kernel: string, initrd: string): Promise<Vm & { banner: string; ms: number }> {
  const port = await freePort();
  const monitor = path.join(OUT, `qemu-monitor-${n}.sock`);
  fs.rmSync(monitor, { force: true });
  const args = [
    '-n', '19', 'ionice', '-c3', 'qemu-system-aarch64', '-M', 'virt', '-cpu', 'cortex-a72', '-smp', '2', '-m', '1024',
    '-display', 'none', '-serial', `file:${path.join(OUT, `console-${n}.log`)}`, '-monitor', `unix:${monitor},server,nowait`,
    '-kernel', kernel, '-initrd', initrd,
    '-append', `root=PARTUUID=52656c79-02 ro rootwait console=ttyAMA0 fsck.repair=yes ${EMULATION_CMDLINE}`,
    '-drive', `if=none,file=${DISK},format=raw,id=d0`, '-device', 'virtio-blk-pci,drive=d0',
    '-netdev', `user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:${port}-:25,${guestfwdToSink(sinkPort)}`,
    '-device', 'virtio-net-pci,netdev=n0,romfile=',
  ];
  const started = Date.now();
  const qemu = spawn('nice', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr!.on('data', (d) => { stderr += d; });
  try {
    const b = await waitForBanner(port, started, qemu);
    progress(`boot ${n}: banner after ${(b.ms / 1000).toFixed(0)} s: ${b.banner}`);
    results.push(`boot ${n}: SMTP banner ${(b.ms / 1000).toFixed(0)} s after qemu started: ${b.banner}`);
    return { qemu, port, monitor, ...b };
  } catch (e) {
    qemu.kill('SIGKILL');
    throw new Error(`${(e as Error).message}; qemu: ${stderr.trim()}; console: image/out/console-${n}.log`);
  }
}

/** A clean shutdown through the power button (pressed again every 20 s, in case the guest was not
 * listening yet); bounded, then the power is pulled. */
async function powerOff(vm: Vm): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const s = net.connect(vm.monitor, () => s.write('system_powerdown\n', () => { s.destroy(); resolve(); }));
      s.on('error', () => resolve());
    });
    if (await waitExit(vm, 20_000)) return;
  }
  progress('no power-off within 180 s: pulling the power');
  vm.qemu.kill('SIGKILL');
  await waitExit(vm, 10_000);
}

/** Poll STATUS.txt in the disk image while the guest runs until it matches; bounded. */
async function waitForStatus(pattern: RegExp, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if (pattern.test(execFileSync('mtype', ['-i', card.fat, '::STATUS.txt'], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'] }))) return true;
    } catch {
      // the guest is writing the FAT right now
    }
    await new Promise((r) => setTimeout(r, 3000));
  }
  return false;
}

test('the appliance image boots, relays, applies a new relaybox.conf after a reboot, and keeps a message across a power cut', { timeout: 4 * 3600_000 }, async (t) => {
  const defer = cleanups(t);
  assert.ok(fs.existsSync(IMAGE), `${IMAGE} is missing: run make image`);
  execFileSync('cp', ['--sparse=always', IMAGE, DISK]);
  execFileSync('truncate', ['-s', '+1G', DISK]); // room for the data partition, as on a bigger card
  defer(() => fs.rmSync(DISK, { force: true }));

  // The three edits a user makes, done with mtools the way a PC would write them (CRLF).
  const sink = await sinkOn();
  let sink2: Sink | undefined;
  defer(() => sink2?.close());
  defer(() => sink.close());
  card.configureForSink();

  const xz = `${IMAGE}.xz`;
  if (fs.existsSync(xz)) results.push(`image: ${(fs.statSync(xz).size / 1048576).toFixed(0)} MiB as .img.xz, ${(fs.statSync(IMAGE).size / 1048576).toFixed(0)} MiB raw`);
  const { kernel, initrd } = card.kernelAndInitrd('test');

  // Boot 1: first start (data partition made), mail flows to the sink.
  const vm1 = await boot(1, sink.port, kernel, initrd);
  defer(() => vm1.qemu.kill('SIGKILL'));
  const report1 = await bootReport(path.join(OUT, 'console-1.log'), 'boot 1');
  results.push(`boot 1: the guest's boot report\n${report1}`);
  assert.match(report1, /VmRSS:\s+\d+ kB/, 'the relay runs and its memory is reported');
  assert.match(swaks(vm1.port, 'first message'), /<- {2}250 /);
  progress('boot 1: swaks got 250');
  await sink.waitFor(1, 600_000);
  progress('boot 1: the sink has the message');
  assert.equal(subjectOf(sink.messages[0]), 'first message');
  assert.equal(sink.messages[0].user, USER, 'the relay logged in with the imported secrets');
  assert.ok(sink.messages[0].secure, 'over STARTTLS, as the template says');
  // STATUS.txt reports the running relay (the status service runs after the relay starts).
  const reported = await waitForStatus(/listening on port 25/, 300_000);
  progress(`boot 1: STATUS.txt ${reported ? 'reports the relay' : 'NOT updated'}; powering off`);
  await powerOff(vm1);
  progress('boot 1: off');
  const secrets = mtype('relaybox.secrets');
  assert.ok(!secrets.includes(PASSWORD), 'the password is scrubbed from the card');
  assert.match(secrets, /were imported into the box on/);
  const status1 = mtype('STATUS.txt');
  assert.match(status1, /imported the new relaybox\.conf/);
  assert.match(status1, /listening on port 25: 220 /);
  assert.match(status1, /upstream 10\.0\.2\.100:25: reachable/);
  results.push(`STATUS.txt after boot 1:\n${status1.replace(/\r/g, '')}`);

  // Boot 2: a changed relaybox.conf (edited on the card) takes effect; it asks devices to log in with
  // an account on the box (PAM), made from users.txt.
  mwrite('relaybox.conf', mtype('relaybox.conf').replace(/^port 25\r$/m, 'port 25\r\ndomain second-boot.test\r\nserver-auth pam:\r'));
  mwrite('users.txt', `${mtype('users.txt')}${BOX_USER} ${BOX_PASSWORD}\r\n`);
  const vm2 = await boot(2, sink.port, kernel, initrd);
  defer(() => vm2.qemu.kill('SIGKILL'));
  assert.match(vm2.banner, /second-boot\.test/, 'the new domain from the edited relaybox.conf is in the banner');
  results.push(`boot 2: the guest's boot report\n${await bootReport(path.join(OUT, 'console-2.log'), 'boot 2')}`);
  assert.match(swaksRefused(vm2.port, boxLogin('Scan to mail 2025')), /^<\*\* +535 /m, 'a wrong password is refused by PAM');
  assert.match(swaksRefused(vm2.port, []), /^<\*\* +5\d\d /m, 'mail without logging in is refused');
  progress('boot 2: PAM refused a wrong password and a client without AUTH');

  // The power is pulled right after a 250: the upstream is down, so the message is only in the spool.
  await sink.close();
  assert.match(swaks(vm2.port, 'survives a power cut', boxLogin(BOX_PASSWORD)), /<- {2}250 /, 'the account from users.txt logs in through PAM');
  vm2.qemu.kill('SIGKILL');
  await waitExit(vm2, 10_000);
  progress('boot 2: power pulled right after the 250');

  const users = mtype('users.txt');
  assert.ok(!users.includes(BOX_PASSWORD), 'the password is scrubbed from users.txt');
  assert.match(users, /users imported into the box on \S+: scanner \(/);
  assert.match(mtype('STATUS.txt'), /== Users \(users\.txt\): OK\r\n {2}added scanner\r\n/);

  // Boot 3: the upstream is back; the message is delivered from the spool.
  sink2 = await sinkOn(sink.port);
  const vm3 = await boot(3, sink2.port, kernel, initrd);
  defer(() => vm3.qemu.kill('SIGKILL'));
  await sink2.waitFor(1, 900_000);
  progress('boot 3: the message from before the power cut arrived');
  assert.equal(subjectOf(sink2.messages[0]), 'survives a power cut');
  await powerOff(vm3);
  const status3 = mtype('STATUS.txt');
  assert.match(status3, /unchanged: running the configuration imported on/);
  results.push(`STATUS.txt after boot 3:\n${status3.replace(/\r/g, '')}`);
  fs.writeFileSync(path.join(OUT, 'image-test-results.txt'), results.join('\n') + '\n');
  process.stdout.write(results.join('\n') + '\n');
});
