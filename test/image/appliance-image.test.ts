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
import { startSink, type Sink } from '../lib/sink';
import { testPki } from '../lib/certs';
import { cleanups } from '../lib/cleanup';

const TOP = path.join(__dirname, '..', '..');
const OUT = path.join(TOP, 'image', 'out');
const VERSION = JSON.parse(fs.readFileSync(path.join(TOP, 'package.json'), 'utf8')).version as string;
const IMAGE = process.env.IMAGE ?? path.join(OUT, `relaybox-${VERSION}-arm64.img`);
const DISK = path.join(OUT, 'test.img');
const FAT = `${DISK}@@4M`; // mtools: the boot partition starts at 4 MiB
const BANNER_BOUND_MS = Number(process.env.BANNER_BOUND_S ?? 1200) * 1000;
const USER = 'printer@sink.test';
const PASSWORD = 'S3cret-pass-for-the-sink';
// A device's account on the box, made from users.txt on the card and checked through PAM.
const BOX_USER = 'scanner';
const BOX_PASSWORD = 'Scan to mail 2026';
const REPORT_BOUND_MS = 600_000;
const results: string[] = [];

function mtype(file: string): string {
  return execFileSync('mtype', ['-i', FAT, `::${file}`], { encoding: 'latin1' });
}
function mwrite(file: string, text: string): void {
  const tmp = path.join(OUT, `edit-${path.basename(file)}`);
  fs.writeFileSync(tmp, text);
  execFileSync('mcopy', ['-o', '-i', FAT, tmp, `::${file}`]);
  fs.rmSync(tmp);
}
function mlist(): string[] {
  return execFileSync('mdir', ['-b', '-i', FAT, '::'], { encoding: 'utf8' }).split('\n').map((l) => l.trim().replace(/^::\/?/, '')).filter(Boolean);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** The first line the guest's port 25 sends, once it sends one; bounded. */
async function waitForBanner(port: number, since: number, qemu: ChildProcess): Promise<{ banner: string; ms: number }> {
  const deadline = since + BANNER_BOUND_MS;
  while (Date.now() < deadline) {
    if (qemu.exitCode !== null) throw new Error(`qemu exited (${qemu.exitCode}) before the SMTP banner`);
    const line = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      let buf = '';
      const t = setTimeout(() => { s.destroy(); resolve(''); }, 5000);
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        buf += d;
        if (buf.includes('\n')) { clearTimeout(t); s.end('QUIT\r\n'); resolve(buf.split('\n')[0].trim()); }
      });
      s.on('error', () => { clearTimeout(t); resolve(''); });
      s.on('close', () => { clearTimeout(t); resolve(buf.split('\n')[0].trim()); });
    });
    if (line.startsWith('220')) return { banner: line, ms: Date.now() - since };
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error(`no SMTP banner within ${BANNER_BOUND_MS / 1000} s`);
}

interface Vm { qemu: ChildProcess; port: number; monitor: string }

async function boot(n: number, sinkPort: number, kernel: string, initrd: string): Promise<Vm & { banner: string; ms: number }> {
  const port = await freePort();
  const monitor = path.join(OUT, `qemu-monitor-${n}.sock`);
  fs.rmSync(monitor, { force: true });
  const bridge = `cmd:node ${path.join(__dirname, 'stdio-tcp.cjs')} 127.0.0.1 ${sinkPort}`;
  const args = [
    '-n', '19', 'ionice', '-c3', 'qemu-system-aarch64', '-M', 'virt', '-cpu', 'cortex-a72', '-smp', '2', '-m', '1024',
    '-display', 'none', '-serial', `file:${path.join(OUT, `console-${n}.log`)}`, '-monitor', `unix:${monitor},server,nowait`,
    '-kernel', kernel, '-initrd', initrd,
    '-append', 'root=PARTUUID=52656c79-02 ro rootwait console=ttyAMA0 fsck.repair=yes relaybox.clock=trusted relaybox.boot-report',
    '-drive', `if=none,file=${DISK},format=raw,id=d0`, '-device', 'virtio-blk-pci,drive=d0',
    '-netdev', `user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:${port}-:25,guestfwd=tcp:10.0.2.100:25-${bridge}`,
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

/** The guest's own account of its boot (relaybox-boot-report.service on the console): systemd-analyze
 * time, the critical chain to relaybox.service, blame, the relay's RSS. Bounded. */
async function bootReport(n: number): Promise<string> {
  const log = path.join(OUT, `console-${n}.log`);
  const deadline = Date.now() + REPORT_BOUND_MS;
  while (Date.now() < deadline) {
    const text = fs.readFileSync(log, 'latin1').replace(/\r/g, '');
    const m = /relaybox-boot-report: begin\n([\s\S]*?)relaybox-boot-report: end/.exec(text);
    if (m) {
      progress(`boot ${n}: report\n${m[1]}`);
      results.push(`boot ${n}: the guest's boot report\n${m[1]}`);
      return m[1];
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error(`no boot report on image/out/console-${n}.log within ${REPORT_BOUND_MS / 1000} s`);
}

/** Progress lines, live (the test reporter prints only at the end). */
function progress(line: string): void {
  fs.appendFileSync(path.join(OUT, 'image-test-progress.log'), `${new Date().toISOString()} ${line}\n`);
}

async function waitExit(vm: Vm, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (vm.qemu.exitCode === null && vm.qemu.signalCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
  }
  return vm.qemu.exitCode !== null || vm.qemu.signalCode !== null;
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
      if (pattern.test(execFileSync('mtype', ['-i', FAT, '::STATUS.txt'], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'] }))) return true;
    } catch {
      // the guest is writing the FAT right now
    }
    await new Promise((r) => setTimeout(r, 3000));
  }
  return false;
}

function swaks(port: number, subject: string, extra: string[] = []): string {
  return execFileSync('swaks', ['--server', '127.0.0.1', '--port', String(port), '--from', 'scanner@lan.test', '--to', 'office@example.test',
    '--header', `Subject: ${subject}`, '--body', `sent through the relaybox appliance: ${subject}`, '--timeout', '120', ...extra], { encoding: 'utf8' });
}
/** swaks expected to fail: its output (it exits non-zero). */
function swaksRefused(port: number, extra: string[]): string {
  try {
    return `accepted: ${swaks(port, 'must be refused', extra)}`;
  } catch (e) {
    return String((e as { stdout?: string }).stdout);
  }
}
const boxLogin = (password: string) => ['--auth', 'PLAIN', '--auth-user', BOX_USER, '--auth-password', password];

async function sinkOn(port?: number): Promise<Sink> {
  const pki = testPki();
  return startSink({ port, tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: USER, pass: PASSWORD } });
}

const subjectOf = (m: { data: Buffer }) => /^Subject: (.*)$/m.exec(m.data.toString('latin1'))?.[1]?.trim();

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
  const conf = mtype('relaybox.conf');
  assert.match(conf, /\r\n/, 'the templates on the card have CRLF line endings');
  // The test upstream has a test certificate, which the system's CA list does not know.
  mwrite('relaybox.conf', conf.replace(/^forward-to .*$/m, 'forward-to 10.0.2.100:25\r').replace(/^client-tls-verify <default>\r?$/m, '#client-tls-verify <default>\r'));
  mwrite('relaybox.secrets', mtype('relaybox.secrets').replace(/^client plain .*$/m, `client plain ${USER} ${PASSWORD}\r`));
  mwrite('network.conf', mtype('network.conf').replace(/^#ntp = .*$/m, 'ntp = 10.0.2.2\r'));

  const xz = `${IMAGE}.xz`;
  if (fs.existsSync(xz)) results.push(`image: ${(fs.statSync(xz).size / 1048576).toFixed(0)} MiB as .img.xz, ${(fs.statSync(IMAGE).size / 1048576).toFixed(0)} MiB raw`);
  const files = mlist();
  const kernelName = files.find((f) => /^vmlinuz-/.test(f));
  const initrdName = files.find((f) => /^initrd\.img-/.test(f));
  assert.ok(kernelName && initrdName, `kernel and initramfs on the boot partition: ${files.join(' ')}`);
  const kernel = path.join(OUT, 'test-vmlinuz');
  const initrd = path.join(OUT, 'test-initrd');
  execFileSync('mcopy', ['-o', '-i', FAT, `::${kernelName}`, kernel]);
  execFileSync('mcopy', ['-o', '-i', FAT, `::${initrdName}`, initrd]);
  if (fs.readFileSync(kernel).subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))) {
    fs.writeFileSync(kernel, execFileSync('gzip', ['-dc', kernel], { maxBuffer: 256 << 20 })); // qemu wants the raw Image
  }

  // Boot 1: first start (data partition made), mail flows to the sink.
  const vm1 = await boot(1, sink.port, kernel, initrd);
  defer(() => vm1.qemu.kill('SIGKILL'));
  const report1 = await bootReport(1);
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
  await bootReport(2);
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
