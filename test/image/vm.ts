// Shared by the image tests (make image-test, make image-test-raspi3b): the card's FAT partition through
// mtools, the SMTP banner and the guest's boot report as the host sees them, swaks, the SMTP sink,
// progress lines. Each test starts its own qemu; everything here is bounded.
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { startSink, type Sink } from '../lib/sink';
import { testPki } from '../lib/certs';

export const TOP = path.join(__dirname, '..', '..');
export const OUT = path.join(TOP, 'image', 'out');
const VERSION = JSON.parse(fs.readFileSync(path.join(TOP, 'package.json'), 'utf8')).version as string;
export const IMAGE = process.env.IMAGE ?? path.join(OUT, `relaybox-${VERSION}-arm64.img`);
export const BANNER_BOUND_MS = Number(process.env.BANNER_BOUND_S ?? 1200) * 1000;
const REPORT_BOUND_MS = 600_000;
/** Test-only kernel command line: under TCG emulation on shared cores udev, modprobe and mounts can
 * take minutes, beyond the image's own timeouts (system.conf.d/timeouts.conf, fstab) meant for a Pi. */
export const EMULATION_CMDLINE = 'systemd.default_device_timeout_sec=900 systemd.default_timeout_start_sec=900 relaybox.clock=trusted relaybox.boot-report';
/** The relay's login at the test upstream (the sink). */
export const USER = 'printer@sink.test';
export const PASSWORD = 'S3cret-pass-for-the-sink';

/** The boot partition of a disk image (it starts at 4 MiB), read and written the way a PC would. */
export class Card {
  readonly fat: string;
  constructor(disk: string) {
    this.fat = `${disk}@@4M`;
  }
  read(file: string): string {
    return execFileSync('mtype', ['-i', this.fat, `::${file}`], { encoding: 'latin1' });
  }
  write(file: string, text: string): void {
    const tmp = path.join(OUT, `edit-${path.basename(file)}`);
    fs.writeFileSync(tmp, text);
    execFileSync('mcopy', ['-o', '-i', this.fat, tmp, `::${file}`]);
    fs.rmSync(tmp);
  }
  list(): string[] {
    return execFileSync('mdir', ['-b', '-i', this.fat, '::'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().replace(/^::\/?/, ''))
      .filter(Boolean);
  }
  copyOut(file: string, to: string): string {
    execFileSync('mcopy', ['-o', '-i', this.fat, `::${file}`, to]);
    return to;
  }
  /** The kernel (unpacked: qemu wants the raw Image) and initramfs as raspi-firmware put them on the card. */
  kernelAndInitrd(prefix: string): { kernel: string; initrd: string } {
    const files = this.list();
    const kernelName = files.find((f) => /^vmlinuz-/.test(f));
    const initrdName = files.find((f) => /^initrd\.img-/.test(f));
    assert.ok(kernelName && initrdName, `kernel and initramfs on the boot partition: ${files.join(' ')}`);
    const kernel = this.copyOut(kernelName, path.join(OUT, `${prefix}-vmlinuz`));
    const initrd = this.copyOut(initrdName, path.join(OUT, `${prefix}-initrd`));
    if (
      fs
        .readFileSync(kernel)
        .subarray(0, 2)
        .equals(Buffer.from([0x1f, 0x8b]))
    ) {
      fs.writeFileSync(kernel, execFileSync('gzip', ['-dc', kernel], { maxBuffer: 256 << 20 }));
    }
    return { kernel, initrd };
  }
  /** The edits every test makes: the sink as upstream (through the guestfwd address), its login, NTP. */
  configureForSink(): void {
    const conf = this.read('relaybox.conf');
    assert.match(conf, /\r\n/, 'the templates on the card have CRLF line endings');
    // The test upstream has a test certificate, which the system's CA list does not know.
    this.write(
      'relaybox.conf',
      conf.replace(/^forward-to .*$/m, 'forward-to 10.0.2.100:25\r').replace(/^client-tls-verify <default>\r?$/m, '#client-tls-verify <default>\r'),
    );
    this.write('relaybox.secrets', this.read('relaybox.secrets').replace(/^client plain .*$/m, `client plain ${USER} ${PASSWORD}\r`));
    this.write('network.conf', this.read('network.conf').replace(/^#ntp = .*$/m, 'ntp = 10.0.2.2\r'));
  }
}

export function freePort(): Promise<number> {
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
export async function waitForBanner(port: number, since: number, qemu: ChildProcess, boundMs = BANNER_BOUND_MS): Promise<{ banner: string; ms: number }> {
  const deadline = since + boundMs;
  while (Date.now() < deadline) {
    if (qemu.exitCode !== null) throw new Error(`qemu exited (${qemu.exitCode}) before the SMTP banner`);
    const line = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      let buf = '';
      const t = setTimeout(() => {
        s.destroy();
        resolve('');
      }, 5000);
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        buf += d;
        if (buf.includes('\n')) {
          clearTimeout(t);
          s.end('QUIT\r\n');
          resolve(buf.split('\n')[0].trim());
        }
      });
      s.on('error', () => {
        clearTimeout(t);
        resolve('');
      });
      s.on('close', () => {
        clearTimeout(t);
        resolve(buf.split('\n')[0].trim());
      });
    });
    if (line.startsWith('220')) return { banner: line, ms: Date.now() - since };
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error(`no SMTP banner within ${boundMs / 1000} s`);
}

export async function waitExit(vm: { qemu: ChildProcess }, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (vm.qemu.exitCode === null && vm.qemu.signalCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
  }
  return vm.qemu.exitCode !== null || vm.qemu.signalCode !== null;
}

/** Progress lines, live (the test reporter prints only at the end). */
export function progress(line: string): void {
  fs.appendFileSync(path.join(OUT, 'image-test-progress.log'), `${new Date().toISOString()} ${line}\n`);
}

/** The guest's own account of its boot (relaybox-boot-report.service on the console): systemd-analyze
 * time, the critical chain to relaybox.service, blame, the relay's RSS. Bounded. */
export async function bootReport(consoleLog: string, what: string): Promise<string> {
  const deadline = Date.now() + REPORT_BOUND_MS;
  while (Date.now() < deadline) {
    const text = fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'utf8').replace(/\r/g, '') : '';
    const m = /relaybox-boot-report: begin\n([\s\S]*?)relaybox-boot-report: end/.exec(text);
    if (m) {
      progress(`${what}: the guest's boot report\n${m[1]}`);
      return m[1];
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error(`no boot report on ${consoleLog} within ${REPORT_BOUND_MS / 1000} s`);
}

export function swaks(port: number, subject: string, extra: string[] = []): string {
  return execFileSync(
    'swaks',
    [
      '--server',
      '127.0.0.1',
      '--port',
      String(port),
      '--from',
      'scanner@lan.test',
      '--to',
      'office@example.test',
      '--header',
      `Subject: ${subject}`,
      '--body',
      `sent through the relaybox appliance: ${subject}`,
      '--timeout',
      '120',
      ...extra,
    ],
    { encoding: 'utf8' },
  );
}

/** swaks expected to fail: its output (it exits non-zero). */
export function swaksRefused(port: number, extra: string[]): string {
  try {
    return `accepted: ${swaks(port, 'must be refused', extra)}`;
  } catch (e) {
    return String((e as { stdout?: string }).stdout);
  }
}

export function sinkOn(port?: number): Promise<Sink> {
  const pki = testPki();
  return startSink({ port, tls: { key: pki.serverKey, cert: pki.serverCert }, auth: { user: USER, pass: PASSWORD } });
}

export const subjectOf = (m: { data: Buffer }) => /^Subject: (.*)$/m.exec(m.data.toString('latin1'))?.[1]?.trim();

/** A guest address:port that reaches a port on the host's loopback: qemu's guestfwd "cmd:" runs stdio-tcp.cjs per connection. */
export const guestfwd = (guestAddress: string, guestPort: number, hostPort: number) =>
  `guestfwd=tcp:${guestAddress}:${guestPort}-cmd:node ${path.join(__dirname, 'stdio-tcp.cjs')} 127.0.0.1 ${hostPort}`;

/** The guest's upstream, 10.0.2.100:25: the sink on the host. */
export const guestfwdToSink = (sinkPort: number) => guestfwd('10.0.2.100', 25, sinkPort);

/** Where the guest reaches the token stand-in (HTTPS; the test PKI's server certificate names this address). */
export const STAND_IN_GUEST_ADDRESS = '10.0.2.101';
